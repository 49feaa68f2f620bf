//! A license's licensing policies (README, "Licensing policies"): the overflow policy and its
//! cap, the release grace period, licensed-group priorities and reserved seats; and the
//! expansions the `expand` policy made (the pending true-up). The seat engine reads them as
//! [`Rules`]; the admin API, pages and CLI change them through [`update`].

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::DbConn;
use crate::db::schema::{
    groups, license_policies, licensed_groups, licenses, seat_expansions, seat_reservations, users,
};
use crate::{Error, Result, ScimType, time};

/// What happens when an entitled user finds every seat taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overflow {
    /// The user waits in the queue (the default).
    #[default]
    Block,
    /// The user waits, and the change feed and the admin pages are told the license overflows.
    Notify,
    /// `seats` is raised, up to the cap, and the raise is recorded for the true-up.
    Expand,
}

impl Overflow {
    fn as_str(self) -> &'static str {
        match self {
            Overflow::Block => "block",
            Overflow::Notify => "notify",
            Overflow::Expand => "expand",
        }
    }

    fn parse(stored: &str) -> Overflow {
        match stored {
            "notify" => Overflow::Notify,
            "expand" => Overflow::Expand,
            _ => Overflow::Block,
        }
    }
}

/// Seats held for the members of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupReservation {
    /// The group's displayName or id (it may not be synced yet).
    pub group: String,
    pub seats: i64,
}

/// A license's policies, as the admin API shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub overflow: Overflow,
    /// The most seats `expand` may raise the license to.
    pub expand_cap: Option<i64>,
    /// How long a user who lost entitlement keeps their seat (or place in the queue).
    pub grace_minutes: i32,
    /// Every licensed group's priority (higher is served first; 0 by default).
    pub group_priorities: BTreeMap<String, i32>,
    /// userNames or ids with a seat held for them.
    pub reserved_users: Vec<String>,
    pub reserved_groups: Vec<GroupReservation>,
}

/// An admin's change of policies; absent fields stay as they are, a list given replaces the list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyUpdate {
    pub overflow: Option<Overflow>,
    pub expand_cap: Option<i64>,
    pub grace_minutes: Option<i32>,
    /// Priorities of the listed licensed groups (the others keep theirs).
    pub group_priorities: Option<BTreeMap<String, i32>>,
    pub reserved_users: Option<Vec<String>>,
    pub reserved_groups: Option<Vec<GroupReservation>>,
}

pub const MAX_GRACE_MINUTES: i32 = 7 * 24 * 60;
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i32> = -1000..=1000;
const MAX_RESERVATIONS: usize = 10_000;
const USER: &str = "user";
const GROUP: &str = "group";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = license_policies)]
struct PolicyRow {
    overflow: String,
    expand_cap: Option<i64>,
    grace_minutes: i32,
    overflowing_since: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = seat_reservations)]
struct ReservationRow {
    kind: String,
    target: String,
    seats: i64,
}

/// A reservation as the seat engine applies it: `target` resolved to a synced user or group
/// (None while it is not synced: its seats are held all the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    User {
        user_id: Option<String>,
    },
    Group {
        group_id: Option<String>,
        seats: i64,
    },
}

/// The policies as the seat engine applies them.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub overflow: Overflow,
    pub expand_cap: Option<i64>,
    pub grace_minutes: i32,
    pub overflowing_since: Option<String>,
    /// User reservations first, then group reservations in the order the admin listed them.
    pub reserved: Vec<Reserved>,
}

fn row(conn: &mut DbConn, license_id: &str) -> Result<Option<PolicyRow>> {
    Ok(license_policies::table
        .find(license_id)
        .select(PolicyRow::as_select())
        .first(conn)
        .optional()?)
}

fn reservations(conn: &mut DbConn, license_id: &str) -> Result<Vec<ReservationRow>> {
    Ok(seat_reservations::table
        .filter(seat_reservations::license_id.eq(license_id))
        .order((seat_reservations::position, seat_reservations::target))
        .select(ReservationRow::as_select())
        .load(conn)?)
}

pub fn get(conn: &mut DbConn, license_id: &str) -> Result<Policy> {
    let row = row(conn, license_id)?;
    let group_priorities = licensed_groups::table
        .filter(licensed_groups::license_id.eq(license_id))
        .select((licensed_groups::group_id, licensed_groups::priority))
        .load::<(String, i32)>(conn)?
        .into_iter()
        .collect();
    let mut policy = Policy {
        group_priorities,
        ..Policy::default()
    };
    if let Some(row) = row {
        policy.overflow = Overflow::parse(&row.overflow);
        policy.expand_cap = row.expand_cap;
        policy.grace_minutes = row.grace_minutes;
    }
    for r in reservations(conn, license_id)? {
        if r.kind == USER {
            policy.reserved_users.push(r.target);
        } else {
            policy.reserved_groups.push(GroupReservation {
                group: r.target,
                seats: r.seats,
            });
        }
    }
    Ok(policy)
}

/// The policies for one reconcile, reservations resolved against what is synced now.
pub fn rules(conn: &mut DbConn, license_id: &str) -> Result<Rules> {
    let mut rules = Rules::default();
    if let Some(row) = row(conn, license_id)? {
        rules.overflow = Overflow::parse(&row.overflow);
        rules.expand_cap = row.expand_cap;
        rules.grace_minutes = row.grace_minutes;
        rules.overflowing_since = row.overflowing_since;
    }
    let rows = reservations(conn, license_id)?;
    let (user_rows, group_rows): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.kind == USER);
    if !user_rows.is_empty() {
        let targets: Vec<&str> = user_rows.iter().map(|r| r.target.as_str()).collect();
        let found: Vec<(String, String)> = users::table
            .filter(users::license_id.eq(license_id))
            .filter(
                users::user_name_key
                    .eq_any(&targets)
                    .or(users::id.eq_any(&targets)),
            )
            .select((users::id, users::user_name_key))
            .load(conn)?;
        // A target is a user's id or userName key; looked up, not scanned (up to 10,000 each).
        let mut by_target = std::collections::HashMap::new();
        for (id, key) in &found {
            by_target.insert(key.as_str(), id);
            by_target.insert(id.as_str(), id);
        }
        for r in &user_rows {
            let user_id = by_target.get(r.target.as_str()).map(|id| (*id).clone());
            rules.reserved.push(Reserved::User { user_id });
        }
        // Two targets naming one user (their userName and their id) hold one seat.
        let mut seen = std::collections::HashSet::new();
        rules.reserved.retain(|r| match r {
            Reserved::User { user_id: Some(id) } => seen.insert(id.clone()),
            _ => true,
        });
    }
    for r in group_rows {
        let group_id = groups::table
            .filter(groups::license_id.eq(license_id))
            .filter(
                groups::display_name_key
                    .eq(&r.target)
                    .or(groups::id.eq(&r.target)),
            )
            .order(groups::created_at)
            .select(groups::id)
            .first::<String>(conn)
            .optional()?;
        rules.reserved.push(Reserved::Group {
            group_id,
            seats: r.seats,
        });
    }
    Ok(rules)
}

/// Applies an admin's change after validating all of it (nothing is written when any part is
/// wrong); the policies after it.
pub fn update(conn: &mut DbConn, license_id: &str, change: &PolicyUpdate) -> Result<Policy> {
    let seats: i64 = licenses::table
        .find(license_id)
        .select(licenses::seats)
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("license {license_id} not found")))?;
    let current = get(conn, license_id)?;
    let overflow = change.overflow.unwrap_or(current.overflow);
    let expand_cap = change.expand_cap.or(current.expand_cap);
    let grace_minutes = change.grace_minutes.unwrap_or(current.grace_minutes);
    if overflow == Overflow::Expand {
        match expand_cap {
            None => return Err(invalid("overflow 'expand' needs an expand_cap")),
            Some(cap) if cap < seats => {
                return Err(invalid(format!(
                    "expand_cap ({cap}) must be at least the license's seats ({seats})"
                )));
            }
            _ => {}
        }
    }
    if expand_cap.is_some_and(|cap| cap < 0) {
        return Err(invalid("expand_cap must be zero or more"));
    }
    if !(0..=MAX_GRACE_MINUTES).contains(&grace_minutes) {
        return Err(invalid(format!(
            "grace_minutes must be between 0 and {MAX_GRACE_MINUTES}"
        )));
    }
    if let Some(priorities) = &change.group_priorities {
        for (group, priority) in priorities {
            if !current.group_priorities.contains_key(group) {
                return Err(invalid(format!(
                    "group '{group}' is not a licensed group of this license"
                )));
            }
            if !PRIORITY_RANGE.contains(priority) {
                return Err(invalid(format!(
                    "priority of group '{group}' must be between {} and {}",
                    PRIORITY_RANGE.start(),
                    PRIORITY_RANGE.end()
                )));
            }
        }
    }
    let users = match &change.reserved_users {
        Some(list) => targets(list.iter().map(String::as_str))?,
        None => current.reserved_users.clone(),
    };
    let groups = match &change.reserved_groups {
        Some(list) => {
            let names = targets(list.iter().map(|g| g.group.as_str()))?;
            if list.iter().any(|g| g.seats < 1) {
                return Err(invalid("a reserved group needs at least 1 seat"));
            }
            names
                .into_iter()
                .zip(list)
                .map(|(group, g)| GroupReservation {
                    group,
                    seats: g.seats,
                })
                .collect()
        }
        None => current.reserved_groups.clone(),
    };
    if users.len() + groups.len() > MAX_RESERVATIONS {
        return Err(invalid(format!(
            "at most {MAX_RESERVATIONS} reservations per license"
        )));
    }
    let reserved = users.len() as i64 + groups.iter().map(|g| g.seats).sum::<i64>();
    // Only `expand` can make room beyond today's seats.
    let room = match (overflow, expand_cap) {
        (Overflow::Expand, Some(cap)) => seats.max(cap),
        _ => seats,
    };
    if reserved > room {
        return Err(invalid(format!(
            "{reserved} reserved seats exceed the license's {room} seats"
        )));
    }

    let now = time::now();
    let values = (
        license_policies::license_id.eq(license_id),
        license_policies::overflow.eq(overflow.as_str()),
        license_policies::expand_cap.eq(expand_cap),
        license_policies::grace_minutes.eq(grace_minutes),
        license_policies::updated_at.eq(&now),
    );
    let updated = diesel::update(license_policies::table.find(license_id))
        .set((
            license_policies::overflow.eq(overflow.as_str()),
            license_policies::expand_cap.eq(expand_cap),
            license_policies::grace_minutes.eq(grace_minutes),
            license_policies::updated_at.eq(&now),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(license_policies::table)
            .values(values)
            .execute(conn)?;
    }
    for (group, priority) in change.group_priorities.iter().flatten() {
        diesel::update(licensed_groups::table.find((license_id, group)))
            .set(licensed_groups::priority.eq(priority))
            .execute(conn)?;
    }
    if change.reserved_users.is_some() || change.reserved_groups.is_some() {
        diesel::delete(
            seat_reservations::table.filter(seat_reservations::license_id.eq(license_id)),
        )
        .execute(conn)?;
        let user_rows = users.iter().map(|u| (USER, u.as_str(), 1));
        let group_rows = groups.iter().map(|g| (GROUP, g.group.as_str(), g.seats));
        for (position, (kind, target, seats)) in (0..).zip(user_rows.chain(group_rows)) {
            diesel::insert_into(seat_reservations::table)
                .values((
                    seat_reservations::license_id.eq(license_id),
                    seat_reservations::kind.eq(kind),
                    seat_reservations::target.eq(target),
                    seat_reservations::seats.eq(seats),
                    seat_reservations::position.eq(position),
                    seat_reservations::created_at.eq(&now),
                ))
                .execute(conn)?;
        }
    }
    get(conn, license_id)
}

/// Reservation targets as stored: trimmed, lowercased, each once, none empty.
fn targets<'a>(given: impl Iterator<Item = &'a str>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for target in given {
        let target = target.trim().to_lowercase();
        if target.is_empty() {
            return Err(invalid("a reservation needs a userName, group or id"));
        }
        if out.contains(&target) {
            return Err(invalid(format!("'{target}' is reserved twice")));
        }
        out.push(target);
    }
    Ok(out)
}

fn invalid(detail: impl Into<String>) -> Error {
    Error::bad_request(ScimType::InvalidValue, detail)
}

/// Records (`Some`) or clears (`None`) that the license overflows; the engine calls it only on
/// a change, so a license without a policy row gets one then.
pub fn set_overflowing(conn: &mut DbConn, license_id: &str, since: Option<&str>) -> Result<()> {
    let updated = diesel::update(license_policies::table.find(license_id))
        .set(license_policies::overflowing_since.eq(since))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(license_policies::table)
            .values((
                license_policies::license_id.eq(license_id),
                license_policies::overflowing_since.eq(since),
                license_policies::updated_at.eq(time::now()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Since when a license under `notify` overflows (None: it does not, or is not under notify).
pub fn notify_banner(conn: &mut DbConn, license_id: &str) -> Result<Option<String>> {
    Ok(row(conn, license_id)?
        .filter(|r| Overflow::parse(&r.overflow) == Overflow::Notify)
        .and_then(|r| r.overflowing_since))
}

/// One raise of `seats` by the `expand` policy.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = seat_expansions)]
pub struct Expansion {
    pub id: i64,
    pub expanded_at: String,
    pub seats_from: i64,
    pub seats_to: i64,
}

/// The seats `expand` added that the vendor has not billed yet.
#[derive(Debug, Clone, Serialize)]
pub struct TrueUp {
    pub pending_seats: i64,
    pub expansions: Vec<Expansion>,
}

pub fn record_expansion(
    conn: &mut DbConn,
    license_id: &str,
    from: i64,
    to: i64,
    at: &str,
) -> Result<()> {
    diesel::update(licenses::table.find(license_id))
        .set((licenses::seats.eq(to), licenses::updated_at.eq(at)))
        .execute(conn)?;
    diesel::insert_into(seat_expansions::table)
        .values((
            seat_expansions::license_id.eq(license_id),
            seat_expansions::expanded_at.eq(at),
            seat_expansions::seats_from.eq(from),
            seat_expansions::seats_to.eq(to),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn true_up(conn: &mut DbConn, license_id: &str) -> Result<TrueUp> {
    let expansions: Vec<Expansion> = seat_expansions::table
        .filter(seat_expansions::license_id.eq(license_id))
        .filter(seat_expansions::settled_at.is_null())
        .order(seat_expansions::id)
        .select(Expansion::as_select())
        .load(conn)?;
    Ok(TrueUp {
        pending_seats: expansions.iter().map(|e| e.seats_to - e.seats_from).sum(),
        expansions,
    })
}

/// Marks the pending expansions billed; how many there were.
pub fn settle_true_up(conn: &mut DbConn, license_id: &str) -> Result<usize> {
    Ok(diesel::update(
        seat_expansions::table
            .filter(seat_expansions::license_id.eq(license_id))
            .filter(seat_expansions::settled_at.is_null()),
    )
    .set(seat_expansions::settled_at.eq(time::now()))
    .execute(conn)?)
}
