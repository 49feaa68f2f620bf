//! The license admin's licensing surface under `/api/v1/licenses/{id}` (operator token):
//! synced groups, the licensed-group selection with a dry-run impact preview, seats (JSON or
//! CSV), the audit trail, and an on-demand reconcile. Plus the product's entitlement check.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use seatflow_licensing::Impact;
use seatflow_store::audit::{self, AuditQuery, AuditRow};
use seatflow_store::db::DbConn;
use seatflow_store::groups::{self, SyncedGroup};
use seatflow_store::seats::{self, Entitlement, SeatQuery, SeatView};
use seatflow_store::{Error, ScimType};
use seatflow_store::{licensed_groups, licenses};
use serde::{Deserialize, Serialize};

use crate::commands;
use crate::http::auth::{EntitlementReader, Operator};
use crate::http::body::{JsonBody, Listing, Path, QueryParams};
use crate::http::error::ApiResult;
use crate::http::paging::Paging;
use crate::http::request_id::RequestId;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct GroupSearch {
    pub search: Option<String>,
}

pub async fn synced_groups(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    Listing { filter, paging }: Listing<GroupSearch>,
) -> ApiResult<Json<Vec<SyncedGroup>>> {
    let groups = read_license(&state, license_id, move |c, id| {
        groups::synced(
            c,
            id,
            filter.search.as_deref(),
            paging.offset(),
            paging.limit(),
        )
    })
    .await?;
    Ok(Json(groups))
}

/// Reads from one license's data; a license that does not exist is a 404 (not an empty list).
pub(crate) async fn read_license<T, F>(
    state: &AppState,
    license_id: String,
    read: F,
) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn, &str) -> seatflow_store::Result<T> + Send + 'static,
{
    let found = state
        .db
        .read(move |c| {
            licenses::get(c, &license_id)?;
            read(c, &license_id)
        })
        .await?;
    Ok(found)
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LicensedGroups {
    pub group_ids: Vec<String>,
}

pub async fn licensed_groups(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
) -> ApiResult<Json<LicensedGroups>> {
    let group_ids = read_license(&state, license_id, licensed_groups::list).await?;
    Ok(Json(LicensedGroups { group_ids }))
}

#[derive(Debug, Deserialize)]
pub struct DryRun {
    #[serde(default)]
    pub dry_run: bool,
}

/// What a selection change does (dry run) or did not do yet (it is applied asynchronously).
#[derive(Debug, Serialize)]
pub struct SelectionOutcome {
    pub group_ids: Vec<String>,
    pub dry_run: bool,
    /// The impact computed now; the real change applies it through the worker.
    pub impact: Impact,
}

/// Replaces the licensed groups. `?dry_run=true` runs the seat engine on the new selection in
/// a transaction that is rolled back and returns how many users would be assigned, blocked and
/// released; otherwise the selection is saved and licensing follows through an event.
pub async fn set_licensed_groups(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    QueryParams(mode): QueryParams<DryRun>,
    request: RequestId,
    JsonBody(selection): JsonBody<LicensedGroups>,
) -> ApiResult<Json<SelectionOutcome>> {
    Ok(Json(
        select_groups(
            &state,
            license_id,
            selection.group_ids,
            mode.dry_run,
            &request,
        )
        .await?,
    ))
}

/// The licensed-group change itself, for the admin API and the admin pages alike: the impact
/// from the real engine in a rolled-back transaction, then (unless a dry run) the selection
/// saved with its licensing event and audit entry.
pub async fn select_groups(
    state: &AppState,
    license_id: String,
    group_ids: Vec<String>,
    dry_run: bool,
    request: &RequestId,
) -> seatflow_store::Result<SelectionOutcome> {
    let preview = {
        let (license_id, group_ids) = (license_id.clone(), group_ids.clone());
        state
            .db
            .read(move |c| commands::preview_licensed_groups(c, &license_id, &group_ids))
            .await?
    };
    if !dry_run {
        let (request_id, group_ids) = (request.0.clone(), group_ids.clone());
        state
            .command(license_id, request, move |c, license_id| {
                let change =
                    commands::set_licensed_groups(c, license_id, &group_ids, Some(&request_id))?;
                Ok(((), change))
            })
            .await?;
    }
    Ok(SelectionOutcome {
        group_ids,
        dry_run,
        impact: preview,
    })
}

/// Changes a license; a change of seats or automatic promotion reconciles it (raising seats
/// promotes waiting users at once, through an event).
pub async fn update_license(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    request: RequestId,
    JsonBody(change): JsonBody<licenses::LicenseUpdate>,
) -> ApiResult<Json<licenses::License>> {
    Ok(Json(
        change_license(&state, license_id, change, &request).await?,
    ))
}

/// A license change (shared by the admin API and the admin pages).
pub async fn change_license(
    state: &AppState,
    license_id: String,
    change: licenses::LicenseUpdate,
    request: &RequestId,
) -> seatflow_store::Result<licenses::License> {
    let request_id = request.0.clone();
    state
        .command(license_id, request, move |c, license_id| {
            commands::change_license(c, license_id, &change, Some(&request_id))
        })
        .await
}

/// Reconciles the whole license now (the seed's "reprocess"): also promotes waiting users when
/// automatic promotion is off.
pub async fn reconcile(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    request: RequestId,
) -> ApiResult<StatusCode> {
    let request_id = request.0.clone();
    state
        .command(license_id, &request, move |c, license_id| {
            Ok(((), commands::reprocess(c, license_id, Some(&request_id))?))
        })
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize)]
pub struct SeatFilter {
    pub status: Option<String>,
    pub search: Option<String>,
}

impl SeatFilter {
    /// The store's query for this filter: one page, or the whole list for an export.
    fn query(self, paging: &Paging, export: bool) -> ApiResult<SeatQuery> {
        if let Some(status) = self.status.as_deref()
            && status != seats::ASSIGNED
            && status != seats::BLOCKED
        {
            return Err(Error::bad_request(
                ScimType::InvalidValue,
                "status must be 'assigned' or 'blocked'",
            )
            .into());
        }
        Ok(SeatQuery {
            status: self.status,
            search: self.search,
            offset: paging.offset(),
            limit: if export { i64::MAX } else { paging.limit() },
        })
    }
}

/// Seats with status, reason, since and queue position; `Accept: text/csv` exports them.
pub async fn seats(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    Listing { filter, paging }: Listing<SeatFilter>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let csv = accepts_csv(&headers);
    let query = filter.query(&paging, csv)?;
    let rows = read_license(&state, license_id, move |c, id| seats::list(c, id, &query)).await?;
    if csv {
        return Ok(csv_response(seats_csv(&rows)));
    }
    Ok(Json(rows).into_response())
}

/// Whether the client asks for CSV (`Accept: text/csv`).
pub(crate) fn accepts_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}

/// A CSV document as an answer.
pub(crate) fn csv_response(csv: String) -> Response {
    let mut response = csv.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    response
}

pub fn seats_csv(rows: &[SeatView]) -> String {
    let mut out = String::from("user_id,user_name,status,reason,since,queue_position\n");
    for row in rows {
        let fields = [
            row.user_id.as_str(),
            row.user_name.as_str(),
            row.status.as_str(),
            row.reason.as_deref().unwrap_or_default(),
            row.since.as_str(),
            &row.queue_position
                .map(|p| p.to_string())
                .unwrap_or_default(),
        ];
        csv_line(&mut out, &fields);
    }
    out
}

/// Appends one CSV line of `fields`.
pub(crate) fn csv_line(out: &mut String, fields: &[&str]) {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.push_str(&line.join(","));
    out.push('\n');
}

/// One CSV field: quoted when needed, and defused when a spreadsheet would run it as a
/// formula (userNames come from the customer's directory).
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[derive(Debug, Deserialize)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl AuditFilter {
    /// The store's query for this filter, one page of it.
    fn query(self, paging: &Paging) -> AuditQuery {
        AuditQuery {
            subject: self.user,
            since: self.since,
            until: self.until,
            offset: paging.offset(),
            limit: paging.limit(),
        }
    }
}

pub async fn audit_trail(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    Listing { filter, paging }: Listing<AuditFilter>,
) -> ApiResult<Json<Vec<AuditRow>>> {
    let query = filter.query(&paging);
    let rows = read_license(&state, license_id, move |c, id| audit::list(c, id, &query)).await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize)]
pub struct EmailQuery {
    pub email: String,
}

#[derive(Debug, Serialize)]
pub struct Entitlements {
    pub email: String,
    /// True when the email holds an assigned seat on at least one license.
    pub licensed: bool,
    pub licenses: Vec<Entitlement>,
}

/// The product's sign-in check: the licenses this email holds a seat on, waits on, or is
/// synced to without entitlement. Served from the userName index.
pub async fn entitlements(
    _: EntitlementReader,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<EmailQuery>,
) -> ApiResult<Json<Entitlements>> {
    let email = query.email.trim().to_owned();
    if email.is_empty() {
        return Err(Error::bad_request(ScimType::InvalidValue, "email is required").into());
    }
    let lookup = email.clone();
    let licenses = state
        .db
        .read(move |c| seats::entitlements(c, &lookup))
        .await?;
    Ok(Json(Entitlements {
        licensed: licenses.iter().any(|l| l.status == seats::ASSIGNED),
        email,
        licenses,
    }))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
