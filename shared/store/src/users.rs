//! SCIM Users of a license. The document column holds the resource exactly as the provider sent
//! it (less `id`/`meta`); the other columns are indexed copies used by filters and licensing.

use diesel::dsl::{Eq, sql};
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::db::DbConn;
use crate::db::schema::{seats as seat_rows, users};
use crate::filter_sql;
use crate::listing::{self, ListQuery, Plan};
use crate::seats::{self, Seat};
use crate::time;
use crate::{Error, Result};
use seatflow_scim::ResourceKind;
use seatflow_scim::filter::Filter;
pub use seatflow_scim::resource::UserFields;
use seatflow_scim::resource::{self, Stored};

/// A user row; as `Insertable`/`AsChangeset` (with [`keys`]) it is what an insert and an update
/// write: `None` is NULL, and an update leaves the license and the creation time alone.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(
    table_name = users,
    treat_none_as_null = true,
    treat_none_as_default_value = false
)]
pub struct UserRow {
    pub id: String,
    #[diesel(skip_update)]
    pub license_id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub document: String,
    pub version: i64,
    #[diesel(skip_update)]
    pub created_at: String,
    pub updated_at: String,
}

impl UserRow {
    /// What the SCIM rendering needs of the row.
    pub fn stored(&self) -> Stored<'_> {
        Stored {
            id: &self.id,
            document: &self.document,
            version: self.version,
            created: &self.created_at,
            last_modified: &self.updated_at,
        }
    }
}

/// A user with its seat, if it holds one (assigned or waiting).
pub type Seated = (UserRow, Option<Seat>);

/// A user as the in-memory filter and sort evaluation sees it (`resource::filterable_user`).
pub fn filterable((row, seat): &Seated) -> Result<serde_json::Value> {
    Ok(resource::filterable_user(
        row.stored(),
        row.active,
        seat.as_ref(),
    )?)
}

/// The users with their seats.
pub fn seated(conn: &mut DbConn, license_id: &str, rows: Vec<UserRow>) -> Result<Vec<Seated>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut seats = seats::statuses(conn, license_id, &ids)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let seat = seats.remove(&row.id);
            (row, seat)
        })
        .collect())
}

/// The case-folded copy of a caseExact=false attribute that SQL filters and sorts on: folded
/// here, with the same `to_lowercase` as the in-memory evaluation, because SQL `lower()` folds
/// only ASCII on SQLite (and in PostgreSQL's C locale).
fn fold(text: &str) -> String {
    text.to_lowercase()
}

fn user_name_key(user_name: &str) -> String {
    fold(user_name)
}

fn display_name_key(display_name: Option<&String>) -> Option<String> {
    display_name.map(|name| fold(name))
}

pub fn insert(conn: &mut DbConn, license_id: &str, fields: UserFields) -> Result<UserRow> {
    let now = time::now();
    let row = UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        license_id: license_id.to_owned(),
        user_name: fields.user_name,
        external_id: fields.external_id,
        display_name: fields.display_name,
        active: fields.active,
        document: fields.document,
        version: 1,
        created_at: now.clone(),
        updated_at: now,
    };
    let written = diesel::insert_into(users::table)
        .values((&row, keys(&row)))
        .execute(conn);
    saved(written, row)
}

/// The folded copies of `row`'s names, written with it.
fn keys(
    row: &UserRow,
) -> (
    Eq<users::user_name_key, String>,
    Eq<users::display_name_key, Option<String>>,
) {
    (
        users::user_name_key.eq(user_name_key(&row.user_name)),
        users::display_name_key.eq(display_name_key(row.display_name.as_ref())),
    )
}

/// `row` once `written`; the unique index on the userName key refuses a taken one (409).
fn saved(written: QueryResult<usize>, row: UserRow) -> Result<UserRow> {
    super::unique(written, || {
        format!("a user with userName '{}' already exists", row.user_name)
    })?;
    Ok(row)
}

pub fn get(conn: &mut DbConn, license_id: &str, id: &str) -> Result<UserRow> {
    users::table
        .filter(users::license_id.eq(license_id))
        .filter(users::id.eq(id))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("User {id} not found")))
}

/// Replaces the user's fields and document, bumping its version.
pub fn update(conn: &mut DbConn, current: &UserRow, fields: UserFields) -> Result<UserRow> {
    let row = UserRow {
        user_name: fields.user_name,
        external_id: fields.external_id,
        display_name: fields.display_name,
        active: fields.active,
        document: fields.document,
        version: current.version + 1,
        updated_at: time::now(),
        ..current.clone()
    };
    let written = diesel::update(users::table.find(&row.id))
        .set((&row, keys(&row)))
        .execute(conn);
    saved(written, row)
}

/// Fills in `display_name_key` where it is missing: rows written before the column existed (or
/// by an older server during a rolling upgrade). Runs after every migration; the partial index
/// `users_display_name_unkeyed` makes it a lookup of nothing once done.
pub(crate) fn fill_display_name_keys(conn: &mut DbConn) -> Result<usize> {
    const BATCH: i64 = 500;
    let mut filled = 0;
    loop {
        let unkeyed: Vec<(String, Option<String>)> = users::table
            .filter(users::display_name.is_not_null())
            .filter(users::display_name_key.is_null())
            .select((users::id, users::display_name))
            .limit(BATCH)
            .load(conn)?;
        if unkeyed.is_empty() {
            return Ok(filled);
        }
        for (id, display_name) in unkeyed {
            diesel::update(users::table.find(&id))
                .set(users::display_name_key.eq(display_name_key(display_name.as_ref())))
                .execute(conn)?;
            filled += 1;
        }
    }
}

pub fn delete(conn: &mut DbConn, license_id: &str, id: &str) -> Result<()> {
    let deleted = diesel::delete(
        users::table
            .filter(users::license_id.eq(license_id))
            .filter(users::id.eq(id)),
    )
    .execute(conn)?;
    if deleted == 0 {
        return Err(Error::NotFound(format!("User {id} not found")));
    }
    Ok(())
}

/// The total number of matches and one page of them with their seats (see `store::listing` for
/// how; the seat extension's attributes filter and sort in SQL too).
pub fn list(
    conn: &mut DbConn,
    license_id: &str,
    query: &ListQuery<'_>,
) -> Result<(i64, Vec<Seated>)> {
    let scoped = |filter: Option<&Filter>| -> Result<_> {
        let mut q = users::table
            .filter(users::license_id.eq(license_id.to_owned()))
            .into_boxed();
        if let Some(filter) = filter {
            q = q.filter(filter_sql::predicate(ResourceKind::User, filter)?);
        }
        Ok(q)
    };
    match listing::plan(ResourceKind::User, query)? {
        Plan::Sql { filter, order } => listing::sql_page(
            conn,
            query.page,
            |c| Ok(scoped(filter.as_ref())?.count().get_result(c)?),
            |c| {
                let mut q = scoped(filter.as_ref())?;
                if let Some(order) = &order {
                    q = q.order(sql::<Text>(order));
                }
                // Each user's seat comes with it (correlated subqueries on the seats' primary
                // key): one statement per page instead of two.
                let seat = seat_rows::table
                    .filter(seat_rows::license_id.eq(users::license_id))
                    .filter(seat_rows::user_id.eq(users::id));
                let rows: Vec<(UserRow, Option<String>, Option<String>)> = q
                    .then_order_by((users::created_at, users::id))
                    .offset(query.page.offset())
                    .limit(query.page.count)
                    .select((
                        UserRow::as_select(),
                        seat.select(seat_rows::status).single_value(),
                        seat.select(seat_rows::reason).single_value(),
                    ))
                    .load(c)?;
                Ok(rows
                    .into_iter()
                    .map(|(row, status, reason)| (row, status.map(|status| (status, reason))))
                    .collect())
            },
        ),
        Plan::Scan {
            prefilter,
            residual,
        } => {
            let candidates: i64 = scoped(prefilter.as_ref())?.count().get_result(conn)?;
            listing::scan(
                ResourceKind::User,
                query,
                residual.as_ref(),
                candidates,
                |offset, limit| {
                    let rows = scoped(prefilter.as_ref())?
                        .order((users::created_at, users::id))
                        .offset(offset)
                        .limit(limit)
                        .select(UserRow::as_select())
                        .load(conn)?;
                    seated(conn, license_id, rows)
                },
                |(row, seat): &Seated| {
                    Ok(resource::filterable_user(
                        row.stored(),
                        row.active,
                        seat.as_ref(),
                    )?)
                },
            )
        }
    }
}

/// userNames of some users of a license (for the audit timeline; deleted users are absent).
pub fn user_names(
    conn: &mut DbConn,
    license_id: &str,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>> {
    Ok(standing(conn, license_id, ids)?
        .into_iter()
        .map(|(id, (name, _))| (id, name))
        .collect())
}

/// userName and `active` of some users of a license (deleted users are absent).
pub fn standing(
    conn: &mut DbConn,
    license_id: &str,
    ids: &[String],
) -> Result<std::collections::HashMap<String, (String, bool)>> {
    let mut found = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, bool)> = users::table
            .filter(users::license_id.eq(license_id))
            .filter(users::id.eq_any(chunk))
            .select((users::id, users::user_name, users::active))
            .load(conn)?;
        found.extend(
            rows.into_iter()
                .map(|(id, name, active)| (id, (name, active))),
        );
    }
    Ok(found)
}

/// The id of the user with this userName (case-insensitive), if synced.
pub fn id_by_user_name(
    conn: &mut DbConn,
    license_id: &str,
    user_name: &str,
) -> Result<Option<String>> {
    Ok(users::table
        .filter(users::license_id.eq(license_id))
        .filter(users::user_name_key.eq(user_name_key(user_name)))
        .select(users::id)
        .first(conn)
        .optional()?)
}
