//! A license's seat history under `/api/v1/licenses/{id}` (operator token): who held seats at
//! an instant, on a day or in a period (JSON, or CSV for true-ups), the peak per day or month,
//! and the seat totals. The command line's `seat-history` answers the same.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use seatflow_store::db::DbConn;
use seatflow_store::seat_history::{self, Bucket, Interval, Peak, Window};
use seatflow_store::{Error, ScimType, licenses, seats, time};
use serde::{Deserialize, Serialize};

use crate::admin::licensing::{accepts_csv, csv_line, csv_response, read_license};
use crate::http::auth::Operator;
use crate::http::body::{Path, QueryParams};
use crate::http::error::ApiResult;
use crate::state::AppState;

/// Which seats to list: held at an instant (`at`), on a UTC day (`held_on`: at any moment of
/// it), or at some moment of a period (`from`, `to`: now when left out). None: held now.
#[derive(Debug, Default, Deserialize, clap::Args)]
pub struct Selection {
    /// A UTC day, YYYY-MM-DD: everyone who held a seat at any moment of it.
    #[arg(long, conflicts_with_all = ["at", "from", "to"])]
    pub held_on: Option<String>,
    /// An RFC 3339 instant: everyone who held a seat at that instant.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub at: Option<String>,
    /// The period's start (RFC 3339, or a date: its start).
    #[arg(long)]
    pub from: Option<String>,
    /// The period's end (RFC 3339, or a date: its end); now when left out.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
}

impl Selection {
    pub fn window(&self) -> seatflow_store::Result<Window> {
        match (&self.held_on, &self.at, &self.from, &self.to) {
            (None, None, None, None) => Window::at(&time::now()),
            (Some(day), None, None, None) => Window::day(day),
            (None, Some(at), None, None) => Window::at(at),
            (None, None, Some(from), to) => Window::between(from, &period_end(to.as_deref())),
            (None, None, None, Some(_)) => {
                Err(Error::bad_request(ScimType::InvalidValue, "to needs from"))
            }
            _ => Err(Error::bad_request(
                ScimType::InvalidValue,
                "give one of held_on, at, or from (with to)",
            )),
        }
    }
}

/// A period's end: as given, else now.
fn period_end(to: Option<&str>) -> String {
    to.map_or_else(time::now, str::to_owned)
}

/// One interval of a holder's.
#[derive(Debug, Serialize)]
pub struct Held {
    pub started_at: String,
    pub ended_at: Option<String>,
    pub start_reason: String,
    pub end_reason: Option<String>,
}

/// A user who held a seat in the window, with each interval during which they did.
#[derive(Debug, Serialize)]
pub struct Holder {
    pub user_id: String,
    /// Their userName when they last took a seat.
    pub user_name: String,
    pub intervals: Vec<Held>,
}

#[derive(Debug, Serialize)]
pub struct History {
    pub from: String,
    pub to: String,
    pub users: Vec<Holder>,
}

/// Groups intervals (oldest first) by user, in the order each user first took a seat.
pub fn holders(intervals: Vec<Interval>) -> Vec<Holder> {
    let mut holders: Vec<Holder> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for interval in intervals {
        let at = *index.entry(interval.user_id.clone()).or_insert_with(|| {
            holders.push(Holder {
                user_id: interval.user_id.clone(),
                user_name: String::new(),
                intervals: Vec::new(),
            });
            holders.len() - 1
        });
        let holder = &mut holders[at];
        holder.user_name = interval.user_name;
        holder.intervals.push(Held {
            started_at: interval.started_at,
            ended_at: interval.ended_at,
            start_reason: interval.start_reason,
            end_reason: interval.end_reason,
        });
    }
    holders
}

/// The intervals as CSV, one line each.
pub fn history_csv(intervals: &[Interval]) -> String {
    let mut out = String::from("user_id,user_name,started_at,ended_at,start_reason,end_reason\n");
    for i in intervals {
        let fields = [
            i.user_id.as_str(),
            i.user_name.as_str(),
            i.started_at.as_str(),
            i.ended_at.as_deref().unwrap_or_default(),
            i.start_reason.as_str(),
            i.end_reason.as_deref().unwrap_or_default(),
        ];
        csv_line(&mut out, &fields);
    }
    out
}

#[derive(Debug, Deserialize)]
pub struct Format {
    /// `json` (the default) or `csv`; `Accept: text/csv` asks for CSV too.
    pub format: Option<String>,
}

impl Format {
    fn csv(&self, headers: &HeaderMap) -> ApiResult<bool> {
        match self.format.as_deref() {
            None => Ok(accepts_csv(headers)),
            Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(_) => Err(Error::bad_request(
                ScimType::InvalidValue,
                "format must be 'json' or 'csv'",
            )
            .into()),
        }
    }
}

/// `GET …/seat-history`: the seats held in the window [`Selection`] names, as JSON grouped by
/// user, or as CSV with one line per interval.
pub async fn list(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    QueryParams(selection): QueryParams<Selection>,
    QueryParams(format): QueryParams<Format>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let csv = format.csv(&headers)?;
    let window = selection.window()?;
    let query = window.clone();
    let intervals = read_license(&state, license_id, move |c, id| {
        seat_history::held(c, id, &query)
    })
    .await?;
    if csv {
        return Ok(csv_response(history_csv(&intervals)));
    }
    Ok(Json(History {
        from: window.from,
        to: window.to,
        users: holders(intervals),
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct PeakQuery {
    /// `day` (the default) or `month`.
    pub by: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Peaks {
    pub by: &'static str,
    pub from: String,
    pub to: String,
    pub peaks: Vec<Peak>,
}

/// `GET …/seat-history/peak`: the most seats held at once in each day or month of the period
/// (widened to whole days or months).
pub async fn peak(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    QueryParams(query): QueryParams<PeakQuery>,
) -> ApiResult<Json<Peaks>> {
    let by = Bucket::parse(query.by.as_deref().unwrap_or("day"))?;
    let Some(from) = &query.from else {
        return Err(Error::bad_request(ScimType::InvalidValue, "from is required").into());
    };
    let window = Window::between(from, &period_end(query.to.as_deref()))?;
    let asked = window.clone();
    let peaks = read_license(&state, license_id, move |c, id| {
        seat_history::peaks(c, id, &asked, by)
    })
    .await?;
    Ok(Json(Peaks {
        by: by.name(),
        from: window.from,
        to: window.to,
        peaks,
    }))
}

/// A license's seats now.
#[derive(Debug, Serialize)]
pub struct Totals {
    pub seats: i64,
    pub used: i64,
    /// Seats nobody holds and no reservation holds back (0 when seats were lowered below the
    /// seats used).
    pub available: i64,
    /// Users waiting for a seat.
    pub blocked: i64,
    /// Seats held by users in their release grace period (counted in `used`).
    pub in_grace: i64,
    /// Seats held back for reservations not filled yet.
    pub reserved: i64,
}

/// `GET …/seats/totals`.
pub async fn totals(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
) -> ApiResult<Json<Totals>> {
    let totals = state
        .db
        .read(move |c| current_totals(c, &license_id))
        .await?;
    Ok(Json(totals))
}

/// The totals now (the API's and the admin pages' overview).
pub fn current_totals(conn: &mut DbConn, license_id: &str) -> seatflow_store::Result<Totals> {
    let seats = licenses::get(conn, license_id)?.seats;
    let used = seats::assigned_count(conn, license_id)?;
    let reserved = seatflow_licensing::reserved_held(conn, license_id)?;
    Ok(Totals {
        seats,
        used,
        available: (seats - used - reserved).max(0),
        blocked: seats::waiting_count(conn, license_id)?,
        in_grace: seats::in_grace_count(conn, license_id)?,
        reserved,
    })
}
