//! What the seat engine tells the change feed, in the reconcile's transaction: each seat
//! decision (`seat.*`), and the license's usage crossing 80, 90 and 100 percent upward
//! (`license.usage_threshold`, once per crossing, again after falling back below).

use std::collections::HashMap;

use seatflow_feed::{EventType, NewEvent};
use seatflow_store::db::DbConn;
use seatflow_store::licenses::{self, License};
use seatflow_store::{Result, seat_history, seats};
use serde_json::{Value, json};

use crate::Decision;

/// The usage thresholds, in percent of `seats`.
pub const THRESHOLDS: [i32; 3] = [80, 90, 100];

/// userName and `active` of the users a reconcile decided about (deleted users are absent).
pub type Standing = HashMap<String, (String, bool)>;

/// Why a seat (or a place in the queue) was given up: the user was deleted or deactivated, or
/// is active but in no licensed group any more (left it, or it was deleted or unlicensed).
pub fn release_why(standing: Option<&(String, bool)>) -> &'static str {
    match standing {
        None => seat_history::USER_DELETED,
        Some((_, false)) => "user_deactivated",
        Some((_, true)) => "left_licensed_groups",
    }
}

/// A seat event about one user: `data.object` is the seat after the decision.
pub fn seat_event(
    event_type: EventType,
    user_id: &str,
    user_name: Option<&str>,
    status: &str,
    detail: Value,
) -> NewEvent {
    let mut data = json!({
        "object": { "user_id": user_id, "userName": user_name, "status": status },
    });
    if let (Value::Object(data), Value::Object(detail)) = (&mut data, detail) {
        data.extend(detail);
    }
    NewEvent::new(event_type, Some(user_id), data)
}

/// The seat a deleted user held (or their place in the queue), released with the user.
pub fn released_with_user(user_id: &str, user_name: &str, was_assigned: bool) -> NewEvent {
    let event_type = if was_assigned {
        EventType::SeatReleased
    } else {
        EventType::SeatDequeued
    };
    let why = json!({ "why": release_why(None) });
    seat_event(event_type, user_id, Some(user_name), seats::NONE, why)
}

/// One event per decision, in the order they were made (releases, then seats, then the queue).
pub(crate) fn decided(
    conn: &mut DbConn,
    license_id: &str,
    decisions: &[Decision],
    standing: &Standing,
) -> Result<Vec<NewEvent>> {
    if decisions.is_empty() {
        return Ok(Vec::new());
    }
    let positions = queue_positions(conn, license_id, decisions)?;
    let name = |id: &str| standing.get(id).map(|(name, _)| name.as_str());
    Ok(decisions
        .iter()
        .filter_map(|d| {
            let id = d.user_id.as_str();
            Some(match d.action {
                "assigned" => {
                    let event_type = if d.reason == "promoted" {
                        EventType::SeatPromoted
                    } else {
                        EventType::SeatAssigned
                    };
                    let reason = json!({ "reason": d.reason });
                    seat_event(event_type, id, name(id), seats::ASSIGNED, reason)
                }
                "blocked" => {
                    let detail = json!({
                        "reason": d.reason,
                        "queue_position": positions.get(id),
                    });
                    seat_event(EventType::SeatBlocked, id, name(id), seats::BLOCKED, detail)
                }
                "released" | "dequeued" => {
                    let event_type = if d.action == "released" {
                        EventType::SeatReleased
                    } else {
                        EventType::SeatDequeued
                    };
                    let why = json!({ "why": release_why(standing.get(id)) });
                    seat_event(event_type, id, name(id), seats::NONE, why)
                }
                // A grace period's start and end change no seat: the audit trail has them.
                _ => return None,
            })
        })
        .collect())
}

/// The 1-based queue positions of the users this reconcile blocked.
fn queue_positions(
    conn: &mut DbConn,
    license_id: &str,
    decisions: &[Decision],
) -> Result<HashMap<String, i64>> {
    let blocked: Vec<String> = decisions
        .iter()
        .filter(|d| d.action == "blocked")
        .map(|d| d.user_id.clone())
        .collect();
    if blocked.is_empty() {
        return Ok(HashMap::new());
    }
    seats::newcomer_positions(conn, license_id, &blocked)
}

/// The highest threshold `used` of `seats` reaches (0 below the first; a license without seats
/// has no thresholds).
pub fn usage_level(used: i64, seats: i64) -> i32 {
    if seats <= 0 {
        return 0;
    }
    THRESHOLDS
        .into_iter()
        .rev()
        .find(|t| used.saturating_mul(100) >= i64::from(*t).saturating_mul(seats))
        .unwrap_or(0)
}

/// The thresholds crossed upward since the last reconcile, each told once; the level reached
/// is recorded either way (so falling back re-arms a threshold).
pub(crate) fn usage(
    conn: &mut DbConn,
    license: &License,
    seats: i64,
    used: i64,
) -> Result<Vec<NewEvent>> {
    let level = usage_level(used, seats);
    if level == license.usage_level {
        return Ok(Vec::new());
    }
    licenses::set_usage_level(conn, &license.id, level)?;
    Ok(THRESHOLDS
        .into_iter()
        .filter(|t| *t > license.usage_level && *t <= level)
        .map(|threshold| {
            let data = json!({
                "threshold": threshold,
                "seats": seats,
                "seats_used": used,
                "seats_available": (seats - used).max(0),
            });
            NewEvent::new(EventType::LicenseUsageThreshold, Some(&license.id), data)
        })
        .collect())
}

/// The `notify` overflow policy's notice: users wait and no seat is free for them (told once
/// per overflow, again after the queue emptied).
pub(crate) fn overflowing(license: &License, seats: i64, used: i64, waiting: i64) -> NewEvent {
    let data = json!({
        "threshold": 100,
        "overflow": true,
        "seats": seats,
        "seats_used": used,
        "seats_available": (seats - used).max(0),
        "waiting": waiting,
    });
    NewEvent::new(EventType::LicenseUsageThreshold, Some(&license.id), data)
}

/// The seats the `expand` overflow policy raised (`license.seats_changed`, `expanded: true`).
pub(crate) fn expanded(license: &License, expansions: &[(i64, i64)]) -> Vec<NewEvent> {
    expansions
        .iter()
        .map(|(from, to)| {
            let object =
                json!({ "id": license.id, "name": license.name, "seats": to, "expanded": true });
            let previous = json!({ "seats": from }).as_object().cloned();
            NewEvent::about(
                EventType::LicenseSeatsChanged,
                &license.id,
                object,
                previous,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::usage_level;

    #[test]
    fn usage_levels_follow_the_thresholds() {
        assert_eq!(usage_level(7, 10), 0);
        assert_eq!(usage_level(8, 10), 80);
        assert_eq!(usage_level(9, 10), 90);
        assert_eq!(usage_level(10, 10), 100);
        assert_eq!(usage_level(12, 10), 100);
        assert_eq!(usage_level(4, 5), 80);
        assert_eq!(usage_level(0, 0), 0);
    }
}
