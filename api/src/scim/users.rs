//! `/Users`: create, read, list, replace, patch and delete a tenant's users.

use axum::http::StatusCode;
use axum::response::Response;
use seatflow_licensing::Change;
use seatflow_scim::ResourceKind;
use seatflow_scim::resource::{self, Stored};
use seatflow_scim::version::check_if_match;
use seatflow_store::Result;
use seatflow_store::db::DbConn;
use seatflow_store::seats;
use seatflow_store::users::{self, Seated, UserRow};
use serde_json::Value;

use crate::http::body::{JsonBody, Path, ScimJson};
use crate::http::error::ApiResult;
use crate::scim::activity;
use crate::scim::etag::{Reply, Return};
use crate::scim::kind::{
    self, One, Patch, Resource, Scim, Target, apply_patch, list_response, patch_reply, read_reply,
    respond,
};
use crate::scim::query::ReadQuery;

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

/// What an update changes for licensing: only `active` can move a seat (a rename, new e-mails
/// or names cannot).
fn seat_change(before: &UserRow, after: &UserRow) -> Change {
    if before.active == after.active {
        Change::default()
    } else {
        Change::user(&after.id)
    }
}

pub async fn create(
    scim: Scim,
    query: ReadQuery,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let fields = resource::user_fields(body)?;
    let row = scim
        .write(move |c, license_id| {
            let row = users::insert(c, license_id, fields)?;
            // A new user is in no group yet: no seat can move, so licensing has no work.
            Ok(((row, None), Change::default()))
        })
        .await?;
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
        activity::record_test_connection(&scim.state.db, scim.license.id);
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
    let row = scim
        .write(move |c, license_id| {
            let current = users::get(c, license_id, &id)?;
            check_if_match(conditions.if_match.as_ref(), current.version)?;
            let row = users::update(c, &current, fields)?;
            let change = seat_change(&current, &row);
            Ok((seated(c, row)?, change))
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
    let row = scim
        .write(move |c, license_id| {
            let current = users::get(c, license_id, &id)?;
            check_if_match(if_match.as_ref(), current.version)?;
            let (doc, _) = apply_patch(ResourceKind::User, &current.document, &patch, &limits)?;
            let doc = resource::normalize(ResourceKind::User, doc)?;
            let fields = resource::user_fields_from_doc(doc)?;
            if fields.document == current.document {
                return Ok((seated(c, current)?, Change::default()));
            }
            let row = users::update(c, &current, fields)?;
            let change = seat_change(&current, &row);
            Ok((seated(c, row)?, change))
        })
        .await?;
    let with_body = conditions.patch_returns_body(&query, Return::Representation);
    patch_reply(&scim.state, &row, &query, &conditions, with_body)
}

pub async fn delete(one: One) -> ApiResult<StatusCode> {
    kind::delete::<Seated>(one, |c, license_id, id| {
        // A user without a seat row (not entitled) frees nothing when it goes.
        let had_seat = !seats::rows_for(c, license_id, &[id.to_owned()])?.is_empty();
        Ok(if had_seat {
            Change::user(id)
        } else {
            Change::default()
        })
    })
    .await
}
