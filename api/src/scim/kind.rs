//! What the `/Users` and `/Groups` handlers share, written once over the [`Resource`] they serve:
//! their extractors, rendering and listing, and the answers to a read, a PATCH and a DELETE.
//! What really differs between the two kinds (a user's seat, a group's members, and what
//! licensing must look at after a write) stays in `users` and `groups`.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use seatflow_scim::limits::Limits;
use seatflow_scim::patch::{self, MemberChange, PatchRequest};
use seatflow_scim::resource::{self, Stored};
use seatflow_scim::version::{self, check_if_match};
use seatflow_scim::{Error, ResourceKind};
use seatflow_store::db::DbConn;
use seatflow_store::licenses::License;
use serde_json::{Map, Value};

use crate::http::auth::Tenant;
use crate::http::body::{JsonBody, Path, ScimJson};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request_id::RequestId;
use crate::scim::etag::{Bodiless, Conditions, Reply, with_preference};
use crate::scim::query::ReadQuery;
use crate::state::{AppState, Effects};

/// A stored resource as the handlers render it: its row with what the rendering needs (a user's
/// seat; a group's members, when the response includes them).
pub trait Resource: Sized + Send + 'static {
    const KIND: ResourceKind;

    /// The full representation, before `attributes`/`excludedAttributes` project it.
    fn render(&self, base: &str) -> seatflow_store::Result<Value>;
    fn stored(&self) -> Stored<'_>;
    /// One page of the license's resources matching `query`, and their total.
    fn list(
        c: &mut DbConn,
        license_id: &str,
        query: &ReadQuery,
    ) -> seatflow_store::Result<(i64, Vec<Self>)>;
    /// The version of a stored resource (404 when there is none).
    fn version(c: &mut DbConn, license_id: &str, id: &str) -> seatflow_store::Result<i64>;
    fn delete(c: &mut DbConn, license_id: &str, id: &str) -> seatflow_store::Result<()>;
}

/// What every SCIM resource handler extracts first: the tenant, the app and the request id. One
/// argument instead of three; the order is the handlers' own, and only the tenant can fail.
pub struct Scim {
    pub license: License,
    pub state: AppState,
    pub request: RequestId,
}

impl FromRequestParts<AppState> for Scim {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Tenant(license) = Tenant::from_request_parts(parts, state).await?;
        let Ok(request) = RequestId::from_request_parts(parts, state).await;
        Ok(Scim {
            license,
            state: state.clone(),
            request,
        })
    }
}

impl Scim {
    /// Runs `work` in a read transaction, given the license id.
    pub async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConn, &str) -> seatflow_store::Result<T> + Send + 'static,
    ) -> ApiResult<T> {
        let license_id = self.license.id.clone();
        Ok(self.state.db.read(move |c| work(c, &license_id)).await?)
    }

    /// Whether the license's first sync is recorded already (`scim::feed::first_sync`): its
    /// cached row says so, or this process recorded it.
    pub fn first_sync_known(&self) -> bool {
        self.license.first_synced_at.is_some()
            || self
                .state
                .first_synced
                .lock()
                .is_ok_and(|seen| seen.contains(&self.license.id))
    }

    /// After a create committed: the license's first sync is recorded.
    pub fn first_sync_recorded(&self) {
        if let Ok(mut seen) = self.state.first_synced.lock() {
            seen.insert(self.license.id.clone());
        }
    }

    /// Runs `work` as a write with what it causes (`AppState::write_with_event`).
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConn, &str) -> seatflow_store::Result<(T, Effects)> + Send + 'static,
    ) -> ApiResult<T> {
        let license_id = self.license.id.clone();
        Ok(self
            .state
            .write_with_event(license_id, &self.request, work)
            .await?)
    }
}

/// The extractors of a request to one resource (`/Users/{id}`) that reads no query parameters
/// (DELETE), in the order the handlers took them one by one.
pub type One = (Scim, Path<String>, Conditions);

/// The extractors of a request to one resource with the query parameters (GET, PUT, PATCH). The
/// query comes after the path, as it did as a separate handler argument, so a bad id wins.
pub type Target = (Scim, Path<String>, ReadQuery, Conditions);

/// A PATCH body: a JSON PatchOp within the app's limits.
pub struct Patch(pub PatchRequest);

impl FromRequest<AppState> for Patch {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let JsonBody(body) = JsonBody::<Value>::from_request(req, state).await?;
        Ok(Patch(PatchRequest::from_json(&body, &state.limits)?))
    }
}

/// The stored `document` with a PATCH's operations applied (not yet normalized), and the member
/// changes they make.
pub fn apply_patch(
    kind: ResourceKind,
    document: &str,
    patch: &PatchRequest,
    limits: &Limits,
) -> Result<(Map<String, Value>, Vec<MemberChange>), Error> {
    let mut doc = resource::stored_document(document)?;
    let changes = patch::apply(kind, &mut doc, &patch.operations, limits)?;
    Ok((doc, changes))
}

/// The resource as `attributes`/`excludedAttributes` project it.
pub fn render<R: Resource>(
    loaded: &R,
    base: &str,
    query: &ReadQuery,
) -> seatflow_store::Result<Value> {
    let mut body = loaded.render(base)?;
    resource::project(R::KIND, &mut body, &query.attributes, &query.excluded);
    Ok(body)
}

/// The resource as the answer, with its ETag and, when it was just created, its Location.
pub fn respond<R: Resource>(
    state: &AppState,
    loaded: &R,
    status: StatusCode,
    query: &ReadQuery,
) -> ApiResult<ScimJson> {
    let base = state.config.tenant_url();
    let stored = loaded.stored();
    Ok(ScimJson {
        status,
        body: render(loaded, &base, query)?,
        etag: Some(version::etag(stored.version)),
        // The endpoint is the kind's name in the plural: `/Users`, `/Groups`.
        location: (status == StatusCode::CREATED)
            .then(|| format!("{base}/{}s/{}", R::KIND.name(), stored.id)),
    })
}

/// A GET's answer: 412 when `If-Match` names another version, 304 when `If-None-Match` names
/// this one, else the resource.
pub fn read_reply<R: Resource>(
    state: &AppState,
    loaded: &R,
    query: &ReadQuery,
    conditions: &Conditions,
) -> ApiResult<Reply> {
    let version = loaded.stored().version;
    check_if_match(conditions.if_match.as_ref(), version)?;
    if conditions.not_modified(version) {
        return Ok(Reply::Empty(Bodiless {
            status: StatusCode::NOT_MODIFIED,
            version,
        }));
    }
    Ok(Reply::Resource(respond(
        state,
        loaded,
        StatusCode::OK,
        query,
    )?))
}

/// A PATCH's answer: the resource when `with_body`, else 204; with `Preference-Applied` when
/// that is what `Prefer` asked.
pub fn patch_reply<R: Resource>(
    state: &AppState,
    loaded: &R,
    query: &ReadQuery,
    conditions: &Conditions,
    with_body: bool,
) -> ApiResult<Response> {
    let reply = if with_body {
        Reply::Resource(respond(state, loaded, StatusCode::OK, query)?)
    } else {
        Reply::Empty(Bodiless {
            status: StatusCode::NO_CONTENT,
            version: loaded.stored().version,
        })
    };
    Ok(with_preference(conditions.prefer, reply))
}

/// One page of the tenant's resources matching `query`, rendered, and their total.
pub async fn search<R: Resource>(scim: &Scim, query: &ReadQuery) -> ApiResult<(i64, Vec<Value>)> {
    let base = scim.state.config.tenant_url();
    let owned = query.clone();
    let (total, found) = scim
        .read(move |c, license_id| R::list(c, license_id, &owned))
        .await?;
    let resources = found
        .iter()
        .map(|loaded| render(loaded, &base, query))
        .collect::<seatflow_store::Result<Vec<_>>>()?;
    Ok((total, resources))
}

/// A list's answer: one page of resources as a ListResponse.
pub fn list_response(resources: Vec<Value>, total: i64, query: &ReadQuery) -> ScimJson {
    ScimJson::ok(resource::list_response(
        resources,
        total,
        query.page.start_index,
    ))
}

/// A DELETE: 412 when `If-Match` names another version, 404 when there is no such resource,
/// else 204. `going` tells, before the resource goes, what its deletion causes: what licensing
/// must look at once it is gone, and the feed's events.
pub async fn delete<R: Resource>(
    (scim, Path(id), conditions): One,
    going: impl FnOnce(&mut DbConn, &str, &str) -> seatflow_store::Result<Effects> + Send + 'static,
) -> ApiResult<StatusCode> {
    scim.write(move |c, license_id| {
        if let Some(tags) = &conditions.if_match {
            check_if_match(Some(tags), R::version(c, license_id, &id)?)?;
        }
        let effects = going(c, license_id, &id)?;
        R::delete(c, license_id, &id)?;
        Ok(((), effects))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
