//! SCIM Groups of a license and their members. Membership changes cost O(changed members): the
//! member list is never loaded to apply them.

use std::collections::{BTreeSet, HashMap};

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::db::DbConn;
use crate::db::schema::{group_members, groups, users};
use crate::filter_sql;
use crate::listing::{self, ListQuery, Plan};
use crate::time;
use crate::{Error, Result};
use seatflow_scim::ResourceKind;
use seatflow_scim::filter::Filter;
use seatflow_scim::patch::{MemberChange, NewMember};
use seatflow_scim::resource::{self, Stored};
pub use seatflow_scim::resource::{GroupFields, Member};

/// A group row; as `Insertable`/`AsChangeset` (with its folded name key) it is what an insert
/// and an update write: an update leaves the license and the creation time alone.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = groups, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct GroupRow {
    pub id: String,
    #[diesel(skip_update)]
    pub license_id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub document: String,
    pub version: i64,
    #[diesel(skip_update)]
    pub created_at: String,
    pub updated_at: String,
}

impl GroupRow {
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

fn display_name_key(display_name: &str) -> String {
    display_name.to_lowercase()
}

pub fn insert(conn: &mut DbConn, license_id: &str, fields: GroupFields) -> Result<GroupRow> {
    let now = time::now();
    let row = GroupRow {
        id: uuid::Uuid::new_v4().to_string(),
        license_id: license_id.to_owned(),
        display_name: fields.display_name,
        external_id: fields.external_id,
        document: fields.document,
        version: 1,
        created_at: now.clone(),
        updated_at: now,
    };
    let written = diesel::insert_into(groups::table)
        .values((
            &row,
            groups::display_name_key.eq(display_name_key(&row.display_name)),
        ))
        .execute(conn);
    saved(written, row)
}

/// `row` once `written`; the unique index on the displayName key refuses a taken one (409).
fn saved(written: QueryResult<usize>, row: GroupRow) -> Result<GroupRow> {
    super::unique(written, || {
        format!(
            "a group with displayName '{}' already exists",
            row.display_name
        )
    })?;
    Ok(row)
}

pub fn get(conn: &mut DbConn, license_id: &str, id: &str) -> Result<GroupRow> {
    groups::table
        .filter(groups::license_id.eq(license_id))
        .filter(groups::id.eq(id))
        .select(GroupRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("Group {id} not found")))
}

/// Replaces the group's fields and document (not its members), bumping its version.
pub fn update(conn: &mut DbConn, current: &GroupRow, fields: GroupFields) -> Result<GroupRow> {
    let row = GroupRow {
        display_name: fields.display_name,
        external_id: fields.external_id,
        document: fields.document,
        version: current.version + 1,
        updated_at: time::now(),
        ..current.clone()
    };
    let key = groups::display_name_key.eq(display_name_key(&row.display_name));
    let written = diesel::update(groups::table.find(&row.id))
        .set((&row, key))
        .execute(conn);
    saved(written, row)
}

pub fn delete(conn: &mut DbConn, license_id: &str, id: &str) -> Result<()> {
    let deleted = diesel::delete(
        groups::table
            .filter(groups::license_id.eq(license_id))
            .filter(groups::id.eq(id)),
    )
    .execute(conn)?;
    if deleted == 0 {
        return Err(Error::NotFound(format!("Group {id} not found")));
    }
    Ok(())
}

/// The total number of matches and one page of them (see `store::listing` for how).
pub fn list(
    conn: &mut DbConn,
    license_id: &str,
    query: &ListQuery<'_>,
) -> Result<(i64, Vec<GroupRow>)> {
    let scoped = |filter: Option<&Filter>| -> Result<_> {
        let mut q = groups::table
            .filter(groups::license_id.eq(license_id.to_owned()))
            .into_boxed();
        if let Some(filter) = filter {
            q = q.filter(filter_sql::predicate(ResourceKind::Group, filter)?);
        }
        Ok(q)
    };
    match listing::plan(ResourceKind::Group, query)? {
        Plan::Sql { filter, order } => listing::sql_page(
            conn,
            query.page,
            |c| Ok(scoped(filter.as_ref())?.count().get_result(c)?),
            |c| {
                let mut q = scoped(filter.as_ref())?;
                if let Some(order) = &order {
                    q = q.order(sql::<Text>(order));
                }
                Ok(q.then_order_by((groups::created_at, groups::id))
                    .offset(query.page.offset())
                    .limit(query.page.count)
                    .select(GroupRow::as_select())
                    .load(c)?)
            },
        ),
        Plan::Scan {
            prefilter,
            residual,
        } => {
            let candidates: i64 = scoped(prefilter.as_ref())?.count().get_result(conn)?;
            listing::scan(
                ResourceKind::Group,
                query,
                residual.as_ref(),
                candidates,
                |offset, limit| {
                    Ok(scoped(prefilter.as_ref())?
                        .order((groups::created_at, groups::id))
                        .offset(offset)
                        .limit(limit)
                        .select(GroupRow::as_select())
                        .load(conn)?)
                },
                // Members are never evaluated here (`listing::plan` keeps them in SQL).
                |row: &GroupRow| Ok(resource::render_group(row.stored(), None, "")?),
            )
        }
    }
}

/// What a request's membership changes did to a group, net: a member removed and added again
/// by one request is in neither list (but has a new join time, so licensing looks at them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberDelta {
    pub added: BTreeSet<String>,
    pub removed: BTreeSet<String>,
    /// Everyone who joined or left at some step, sorted: what licensing must look at.
    pub touched: BTreeSet<String>,
}

impl MemberDelta {
    fn joined(&mut self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if !self.removed.remove(&id) {
                self.added.insert(id.clone());
            }
            self.touched.insert(id);
        }
    }

    fn left(&mut self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if !self.added.remove(&id) {
                self.removed.insert(id.clone());
            }
            self.touched.insert(id);
        }
    }

    /// The users whose membership changed, for licensing.
    pub fn touched(&self) -> Vec<String> {
        self.touched.iter().cloned().collect()
    }
}

/// Applies membership changes in order. Added ids that are not users of the license are skipped.
/// Returns who joined and left (whatever the size of the group, only they are listed).
pub fn apply_member_changes(
    conn: &mut DbConn,
    group: &GroupRow,
    changes: &[MemberChange],
) -> Result<MemberDelta> {
    let mut delta = MemberDelta::default();
    for change in changes {
        match change {
            MemberChange::Add(members) => {
                delta.joined(insert_members(conn, group, members, &HashMap::new())?)
            }
            MemberChange::Remove(ids) => delta.left(remove_members(conn, &group.id, Some(ids))?),
            MemberChange::RemoveAll => delta.left(remove_members(conn, &group.id, None)?),
            MemberChange::ReplaceAll(members) => {
                // Members who stay keep their join time, i.e. their place in the seat queue
                // (Okta sends the whole list with every PUT); only newcomers join now.
                let kept: HashMap<String, String> = group_members::table
                    .filter(group_members::group_id.eq(&group.id))
                    .select((group_members::user_id, group_members::joined_at))
                    .load::<(String, String)>(conn)?
                    .into_iter()
                    .collect();
                let left = remove_members(conn, &group.id, None)?;
                let joined = insert_members(conn, group, members, &kept)?;
                // Who was and stays a member changed nothing.
                let stayed: BTreeSet<String> = joined
                    .iter()
                    .filter(|id| kept.contains_key(*id))
                    .cloned()
                    .collect();
                delta.left(left.into_iter().filter(|id| !stayed.contains(id)));
                delta.joined(joined.into_iter().filter(|id| !kept.contains_key(id)));
            }
        }
    }
    Ok(delta)
}

/// Inserts the members who are users of the license; a member named in `joined` keeps that
/// join time, the others join now. Returns the ids that were not members already.
fn insert_members(
    conn: &mut DbConn,
    group: &GroupRow,
    members: &[NewMember],
    joined: &HashMap<String, String>,
) -> Result<Vec<String>> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&String> = members.iter().map(|m| &m.id).collect();
    let known: Vec<String> = users::table
        .filter(users::license_id.eq(&group.license_id))
        .filter(users::id.eq_any(&ids))
        .select(users::id)
        .load(conn)?;
    // Ids that are not users of this license are skipped, not refused: Microsoft's SCIM test
    // collection adds such members and expects success, and refusing would fail the whole PATCH
    // (and the members that do exist) over one user the provider has not created yet.
    let known: std::collections::HashSet<String> = known.into_iter().collect();
    let members: Vec<&NewMember> = members.iter().filter(|m| known.contains(&m.id)).collect();
    if members.is_empty() {
        return Ok(Vec::new());
    }
    // Join times follow the provider's order: the seat queue breaks ties by them.
    let now = time::sequence(members.len());
    let joined_at: Vec<&String> = members
        .iter()
        .zip(&now)
        .map(|(member, now)| joined.get(&member.id).unwrap_or(now))
        .collect();
    let rows: Vec<_> = members
        .iter()
        .zip(joined_at)
        .map(|(member, joined_at)| {
            (
                group_members::group_id.eq(&group.id),
                group_members::user_id.eq(&member.id),
                group_members::joined_at.eq(joined_at),
                group_members::display.eq(&member.display),
            )
        })
        .collect();
    // Re-adding an existing member is a no-op and keeps its original join time; RETURNING
    // names only the rows inserted.
    let inserted = match conn {
        DbConn::Pg(pg) => diesel::insert_into(group_members::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .returning(group_members::user_id)
            .get_results(pg)?,
        DbConn::Sqlite(lite) => diesel::insert_or_ignore_into(group_members::table)
            .values(&rows)
            .returning(group_members::user_id)
            .get_results(lite)?,
    };
    Ok(inserted)
}

/// Removes members (`ids` None: all of them); returns the ids that were members.
fn remove_members(
    conn: &mut DbConn,
    group_id: &str,
    ids: Option<&[String]>,
) -> Result<Vec<String>> {
    let scoped = group_members::table.filter(group_members::group_id.eq(group_id));
    let removed = match ids {
        Some(ids) => diesel::delete(scoped.filter(group_members::user_id.eq_any(ids)))
            .returning(group_members::user_id)
            .get_results(conn)?,
        None => diesel::delete(scoped)
            .returning(group_members::user_id)
            .get_results(conn)?,
    };
    Ok(removed)
}

/// The ids of a group's members (what a deleted licensed group's licensing must look at).
pub fn member_ids(conn: &mut DbConn, group_id: &str) -> Result<Vec<String>> {
    Ok(group_members::table
        .filter(group_members::group_id.eq(group_id))
        .select(group_members::user_id)
        .load(conn)?)
}

/// The members of each given group, in join order, with the users' display names.
pub fn members_of(conn: &mut DbConn, group_ids: &[String]) -> Result<HashMap<String, Vec<Member>>> {
    let rows: Vec<(String, String, Option<String>, Option<String>)> = group_members::table
        .inner_join(users::table)
        .filter(group_members::group_id.eq_any(group_ids))
        .order((group_members::joined_at, group_members::user_id))
        .select((
            group_members::group_id,
            users::id,
            group_members::display,
            users::display_name,
        ))
        .load(conn)?;
    let mut by_group: HashMap<String, Vec<Member>> = HashMap::new();
    for (group_id, user_id, sent, own) in rows {
        by_group.entry(group_id).or_default().push(Member {
            user_id,
            // What the provider sent with the member, else the user's own displayName.
            display_name: sent.or(own),
        });
    }
    Ok(by_group)
}

/// A synced group as the license admin picks from: with its member count and whether it is
/// licensed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncedGroup {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: i64,
    pub licensed: bool,
}

/// The license's groups, optionally those whose displayName contains `search`
/// (case-insensitive), by name.
pub fn synced(
    conn: &mut DbConn,
    license_id: &str,
    search: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Vec<SyncedGroup>> {
    use crate::db::schema::licensed_groups;
    let mut query = groups::table
        .filter(groups::license_id.eq(license_id.to_owned()))
        .into_boxed();
    if let Some(search) = search.filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", filter_sql::escape_like(&search.to_lowercase()));
        query = query.filter(groups::display_name_key.like(pattern).escape('\\'));
    }
    let rows: Vec<(String, String, Option<String>)> = query
        .order((groups::display_name_key, groups::id))
        .offset(offset)
        .limit(limit)
        .select((groups::id, groups::display_name, groups::external_id))
        .load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let counts: HashMap<String, i64> = group_members::table
        .filter(group_members::group_id.eq_any(&ids))
        .group_by(group_members::group_id)
        .select((group_members::group_id, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let licensed: Vec<String> = licensed_groups::table
        .filter(licensed_groups::license_id.eq(license_id))
        .select(licensed_groups::group_id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, display_name, external_id)| SyncedGroup {
            members: counts.get(&id).copied().unwrap_or(0),
            licensed: licensed.contains(&id),
            id,
            display_name,
            external_id,
        })
        .collect())
}
