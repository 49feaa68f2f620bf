//! `/Groups`: create, read, list, replace, patch and delete a tenant's groups. Members are
//! loaded only when the response includes them (Entra always excludes them).

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use seatflow_licensing::Change;
use seatflow_scim::ResourceKind;
use seatflow_scim::patch::MemberChange;
use seatflow_scim::resource::{self, Stored};
use seatflow_scim::version::check_if_match;
use seatflow_store::Result;
use seatflow_store::db::DbConn;
use seatflow_store::groups::{self, GroupRow, Member};
use seatflow_store::licensed_groups;
use serde_json::Value;

use crate::http::body::{JsonBody, Path, ScimJson};
use crate::http::error::ApiResult;
use crate::http::limits;
use crate::scim::etag::{Reply, Return};
use crate::scim::feed;
use crate::scim::kind::{
    self, One, Patch, Resource, Scim, Target, apply_patch, list_response, patch_reply, read_reply,
    respond,
};
use crate::scim::query::ReadQuery;
use crate::state::Effects;

/// A group row with its members when the response needs them.
pub type WithMembers = (GroupRow, Option<Vec<Member>>);

impl Resource for WithMembers {
    const KIND: ResourceKind = ResourceKind::Group;

    fn render(&self, base: &str) -> Result<Value> {
        let (row, members) = self;
        Ok(resource::render_group(
            row.stored(),
            members.as_deref(),
            base,
        )?)
    }

    fn stored(&self) -> Stored<'_> {
        self.0.stored()
    }

    /// Members are read for the whole page at once, and only when the response includes them.
    fn list(c: &mut DbConn, license_id: &str, query: &ReadQuery) -> Result<(i64, Vec<Self>)> {
        let wanted = query.wants("members");
        let (total, rows) = groups::list(c, license_id, &query.list_query())?;
        let mut members = if wanted {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            groups::members_of(c, &ids)?
        } else {
            HashMap::new()
        };
        let loaded = rows
            .into_iter()
            .map(|row| {
                let m = wanted.then(|| members.remove(&row.id).unwrap_or_default());
                (row, m)
            })
            .collect();
        Ok((total, loaded))
    }

    fn version(c: &mut DbConn, license_id: &str, id: &str) -> Result<i64> {
        Ok(groups::get(c, license_id, id)?.version)
    }

    fn delete(c: &mut DbConn, license_id: &str, id: &str) -> Result<()> {
        groups::delete(c, license_id, id)
    }
}

fn load_members(c: &mut DbConn, row: GroupRow, wanted: bool) -> Result<WithMembers> {
    if !wanted {
        return Ok((row, None));
    }
    let members = groups::members_of(c, std::slice::from_ref(&row.id))?
        .remove(&row.id)
        .unwrap_or_default();
    Ok((row, Some(members)))
}

pub async fn create(
    scim: Scim,
    query: ReadQuery,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let wanted = query.wants("members");
    let (fields, members) = resource::group_fields(body)?;
    let members = [MemberChange::Add(members)];
    limits::check_members(&members, scim.state.config.max_members_per_request)?;
    let (base, known) = (scim.state.config.tenant_url(), scim.first_sync_known());
    let loaded = scim
        .write(move |c, license_id| {
            let row = groups::insert(c, license_id, fields)?;
            let delta = groups::apply_member_changes(c, &row, &members)?;
            let mut events: Vec<_> = feed::first_sync(c, license_id, known, "Group", &row.id)?
                .into_iter()
                .collect();
            events.extend(feed::group_created(&row, &delta, &base)?);
            // A new group is licensed by nobody yet: its members' seats cannot move.
            let effects = Effects::new(Change::default(), events);
            Ok((load_members(c, row, wanted)?, effects))
        })
        .await?;
    scim.first_sync_recorded();
    respond(&scim.state, &loaded, StatusCode::CREATED, &query)
}

pub async fn get((scim, Path(id), query, conditions): Target) -> ApiResult<Reply> {
    let wanted = query.wants("members");
    let if_none_match = conditions.clone();
    let loaded = scim
        .read(move |c, license_id| {
            let row = groups::get(c, license_id, &id)?;
            // A 304 needs no members.
            let wanted = wanted && !if_none_match.not_modified(row.version);
            load_members(c, row, wanted)
        })
        .await?;
    read_reply(&scim.state, &loaded, &query, &conditions)
}

pub async fn list(scim: Scim, query: ReadQuery) -> ApiResult<ScimJson> {
    let (total, resources) = kind::search::<WithMembers>(&scim, &query).await?;
    Ok(list_response(resources, total, &query))
}

/// PUT replaces the group, members included (Okta's way of setting membership); members it
/// keeps may not change their immutable `$ref` or `type` (400 `mutability`).
pub async fn replace(
    (scim, Path(id), query, conditions): Target,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let wanted = query.wants("members");
    let (fields, members) = resource::group_fields(body)?;
    let members = [MemberChange::ReplaceAll(members)];
    let state = &scim.state;
    limits::check_members(&members, state.config.max_members_per_request)?;
    let base = state.config.tenant_url();
    let loaded = scim
        .write(move |c, license_id| {
            let current = groups::get(c, license_id, &id)?;
            check_if_match(conditions.if_match.as_ref(), current.version)?;
            if let [MemberChange::ReplaceAll(replacement)] = &members {
                let kept = groups::members_of(c, std::slice::from_ref(&current.id))?
                    .remove(&current.id)
                    .unwrap_or_default();
                resource::check_kept_members(&kept, replacement)?;
            }
            let row = groups::update(c, &current, fields)?;
            let delta = groups::apply_member_changes(c, &row, &members)?;
            let events = feed::group_changed(&current, &row, &delta, &base)?;
            let effects = Effects::new(Change::members(&id, delta.touched()), events);
            Ok((load_members(c, row, wanted)?, effects))
        })
        .await?;
    respond(state, &loaded, StatusCode::OK, &query)
}

/// Answers 204 (Entra's guidance; the cost does not depend on the group's size) unless the
/// request asks for the group with `attributes`, `excludedAttributes` or
/// `Prefer: return=representation`.
pub async fn patch(
    (scim, Path(id), query, conditions): Target,
    Patch(patch): Patch,
) -> ApiResult<Response> {
    let state = &scim.state;
    let (limits, max_members) = (state.limits, state.config.max_members_per_request);
    let with_body = conditions.patch_returns_body(&query, Return::Minimal);
    let wanted = with_body && query.wants("members");
    let if_match = conditions.if_match.clone();
    let base = state.config.tenant_url();
    let loaded = scim
        .write(move |c, license_id| {
            let current = groups::get(c, license_id, &id)?;
            check_if_match(if_match.as_ref(), current.version)?;
            let (doc, changes) =
                apply_patch(ResourceKind::Group, &current.document, &patch, &limits)?;
            limits::check_members(&changes, max_members)?;
            let doc = resource::normalize(ResourceKind::Group, doc)?;
            let fields = resource::group_fields_from_doc(doc)?;
            if fields.document == current.document && changes.is_empty() {
                return Ok((load_members(c, current, wanted)?, Effects::default()));
            }
            let delta = groups::apply_member_changes(c, &current, &changes)?;
            let row = groups::update(c, &current, fields)?;
            let events = feed::group_changed(&current, &row, &delta, &base)?;
            let effects = Effects::new(Change::members(&id, delta.touched()), events);
            Ok((load_members(c, row, wanted)?, effects))
        })
        .await?;
    patch_reply(state, &loaded, &query, &conditions, with_body)
}

pub async fn delete(one: One) -> ApiResult<StatusCode> {
    kind::delete::<WithMembers>(one, |c, license_id, id| {
        let row = groups::get(c, license_id, id)?;
        // A licensed group's members may lose their seats with it; nobody else's can move.
        let licensed = licensed_groups::list(c, license_id)?.contains(&id.to_owned());
        let members = if licensed {
            groups::member_ids(c, id)?
        } else {
            Vec::new()
        };
        Ok(Effects::new(
            Change::users(members),
            vec![feed::group_deleted(&row)],
        ))
    })
    .await
}
