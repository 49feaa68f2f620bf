//! `/Users`: create, read, list, replace, patch and delete a tenant's users.

use axum::http::StatusCode;
use axum::response::Response;
use seatflow_licensing::Change;
use seatflow_licensing::events::released_with_user;
use seatflow_scim::ResourceKind;
use seatflow_scim::resource::{self, Stored};
use seatflow_scim::version::check_if_match;
use seatflow_store::Result;
use seatflow_store::audit::{self, Actor, Entry};
use seatflow_store::db::DbConn;
use seatflow_store::users::{self, Seated, UserRow};
use seatflow_store::{seat_history, seats, time};
use serde_json::{Value, json};

use crate::http::body::{JsonBody, Path, ScimJson};
use crate::http::error::ApiResult;
use crate::scim::etag::{Reply, Return};
use crate::scim::kind::{
    self, One, Patch, Resource, Scim, Target, apply_patch, list_response, patch_reply, read_reply,
    respond,
};
use crate::scim::query::ReadQuery;
use crate::scim::{activity, feed};
use crate::state::Effects;

/// A user is rendered with its seat (or the lack of one).
impl Resource for Seated {
    const KIND: ResourceKind = ResourceKind::User;

    fn render(&self, base: &str) -> Result<Value> {
        Ok(resource::render_seated(
            self.0.stored(),
            self.1.as_ref(),
            base,
        )?)
    }

    fn stored(&self) -> Stored<'_> {
        self.0.stored()
    }

    fn list(c: &mut DbConn, license_id: &str, query: &ReadQuery) -> Result<(i64, Vec<Self>)> {
        users::list(c, license_id, &query.list_query())
    }

    fn version(c: &mut DbConn, license_id: &str, id: &str) -> Result<i64> {
        Ok(users::get(c, license_id, id)?.version)
    }

    fn delete(c: &mut DbConn, license_id: &str, id: &str) -> Result<()> {
        users::delete(c, license_id, id)
    }
}

fn seated(c: &mut DbConn, row: UserRow) -> Result<Seated> {
    let seat = seats::statuses(c, &row.license_id, std::slice::from_ref(&row.id))?.remove(&row.id);
    Ok((row, seat))
}

/// What an update causes: for licensing, only a change of `active` can move a seat (a rename,
/// new e-mails or names cannot); for the feed, the user's event.
fn updated(before: &UserRow, after: &UserRow, base: &str) -> Result<Effects> {
    let change = if before.active == after.active {
        Change::default()
    } else {
        Change::user(&after.id)
    };
    let events = feed::user_changed(before, after, base)?;
    Ok(Effects::new(change, events.into_iter().collect()))
}

pub async fn create(
    scim: Scim,
    query: ReadQuery,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let fields = resource::user_fields(body)?;
    let (base, known) = (scim.state.config.tenant_url(), scim.first_sync_known());
    let row = scim
        .write(move |c, license_id| {
            let row = users::insert(c, license_id, fields)?;
            let mut events: Vec<_> = feed::first_sync(c, license_id, known, "User", &row.id)?
                .into_iter()
                .collect();
            events.push(feed::user_created(&row, &base)?);
            // A new user is in no group yet: no seat can move, so licensing has no work.
            Ok(((row, None), Effects::new(Change::default(), events)))
        })
        .await?;
    scim.first_sync_recorded();
    respond(&scim.state, &row, StatusCode::CREATED, &query)
}

pub async fn get((scim, Path(id), query, conditions): Target) -> ApiResult<Reply> {
    let row = scim
        .read(move |c, license_id| {
            let row = users::get(c, license_id, &id)?;
            seated(c, row)
        })
        .await?;
    read_reply(&scim.state, &row, &query, &conditions)
}

pub async fn list(scim: Scim, query: ReadQuery) -> ApiResult<ScimJson> {
    let (total, resources) = kind::search::<Seated>(&scim, &query).await?;
    if activity::is_test_connection(query.filter.as_ref(), total) {
        activity::record_test_connection(&scim.state.db, scim.license.id, scim.request.0).await;
    }
    Ok(list_response(resources, total, &query))
}

/// PUT replaces the user: what the body lacks is removed, `id`/`meta` stay the server's, and a
/// body without `userName` is 400.
pub async fn replace(
    (scim, Path(id), query, conditions): Target,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let fields = resource::user_fields(body)?;
    let base = scim.state.config.tenant_url();
    let row = scim
        .write(move |c, license_id| {
            let current = users::get(c, license_id, &id)?;
            check_if_match(conditions.if_match.as_ref(), current.version)?;
            let row = users::update(c, &current, fields)?;
            let effects = updated(&current, &row, &base)?;
            Ok((seated(c, row)?, effects))
        })
        .await?;
    respond(&scim.state, &row, StatusCode::OK, &query)
}

/// Answers 200 with the updated user (Okta reads it; RFC 7644 §3.5.2), projected by
/// `attributes`/`excludedAttributes`; 204 only when the client asks `Prefer: return=minimal`.
pub async fn patch(
    (scim, Path(id), query, conditions): Target,
    Patch(patch): Patch,
) -> ApiResult<Response> {
    let limits = scim.state.limits;
    let if_match = conditions.if_match.clone();
    let base = scim.state.config.tenant_url();
    let row = scim
        .write(move |c, license_id| {
            let current = users::get(c, license_id, &id)?;
            check_if_match(if_match.as_ref(), current.version)?;
            let (doc, _) = apply_patch(ResourceKind::User, &current.document, &patch, &limits)?;
            let doc = resource::normalize(ResourceKind::User, doc)?;
            let fields = resource::user_fields_from_doc(doc)?;
            if fields.document == current.document {
                return Ok((seated(c, current)?, Effects::default()));
            }
            let row = users::update(c, &current, fields)?;
            let effects = updated(&current, &row, &base)?;
            Ok((seated(c, row)?, effects))
        })
        .await?;
    let with_body = conditions.patch_returns_body(&query, Return::Representation);
    patch_reply(&scim.state, &row, &query, &conditions, with_body)
}

pub async fn delete(one: One) -> ApiResult<StatusCode> {
    let request_id = one.0.request.0.clone();
    kind::delete::<Seated>(one, move |c, license_id, id| {
        let row = users::get(c, license_id, id)?;
        let mut events = vec![feed::user_deleted(&row)];
        // A user without a seat row (not entitled) frees nothing when it goes; one with a row
        // gives it up with the user (the row goes with it).
        let change = match seats::locked_for_deletion(c, license_id, id)? {
            Some(seat) => {
                let was_assigned = seat.status == seats::ASSIGNED;
                events.push(released_with_user(id, &row.user_name, was_assigned));
                given_up_with_user(c, license_id, id, was_assigned, &request_id)?;
                Change::user(id)
            }
            None => Change::default(),
        };
        Ok(Effects::new(change, events))
    })
    .await
}

/// The seat (or place in the queue) a deleted user gives up without the seat engine, recorded
/// as the engine records its decisions: audited, and a held seat's history row closed (the
/// seat row goes with the user).
fn given_up_with_user(
    c: &mut DbConn,
    license_id: &str,
    id: &str,
    was_assigned: bool,
    request_id: &str,
) -> Result<()> {
    let now = time::now();
    let entry = Entry {
        actor: Actor::Scim,
        action: if was_assigned { "released" } else { "dequeued" },
        subject: Some(id),
        detail: json!({ "reason": seat_history::USER_DELETED }),
        request_id: Some(request_id),
    };
    audit::record_at(c, license_id, &[entry], &now)?;
    if was_assigned {
        seat_history::close(c, license_id, &[(id, seat_history::USER_DELETED)], &now)?;
    }
    Ok(())
}
