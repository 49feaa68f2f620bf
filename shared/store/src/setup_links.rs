//! Setup links: a single-use, short-lived secret the vendor's operator hands the customer's IT
//! admin, which opens that one license's admin pages without an account or a key. Like admin
//! keys, the secret is 256 random bits shown once and stored only as its SHA-256 digest.

use std::ops::RangeInclusive;
use std::time::Duration;

use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConn;
use crate::db::schema::setup_links;
use crate::licenses;
use crate::{Error, Result, ScimType};
use crate::{time, token};

/// How long a link may be valid, in minutes: at least a minute, at most a day (a setup link is
/// a credential sent by e-mail or chat; it should not outlive the setup appointment).
pub const TTL_MINUTES: RangeInclusive<i64> = 1..=1440;

/// A link as listed: never the secret.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = setup_links)]
pub struct SetupLink {
    pub id: String,
    pub license_id: String,
    #[serde(skip)]
    pub token_hash: String,
    pub label: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Used,
    Expired,
    Revoked,
}

impl SetupLink {
    /// Its status at `now`; a revocation outranks the use it may have ended.
    pub fn status(&self, now: &str) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.used_at.is_some() {
            Status::Used
        } else if self.expires_at.as_str() <= now {
            Status::Expired
        } else {
            Status::Active
        }
    }
}

/// A newly issued link's secret: the only time it exists outside the IT admin's hands.
#[derive(Debug, Clone)]
pub struct IssuedSetupLink {
    pub link: SetupLink,
    pub secret: String,
}

/// Why a presented secret opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// No link has this secret.
    Unknown,
    /// The link exists but is used, expired or revoked.
    Spent(Status),
}

/// The validity of a link asked for, checked against [`TTL_MINUTES`].
pub fn ttl(minutes: i64) -> Result<Duration> {
    match u64::try_from(minutes) {
        Ok(whole) if TTL_MINUTES.contains(&minutes) => Ok(Duration::from_secs(whole * 60)),
        _ => Err(Error::bad_request(
            ScimType::InvalidValue,
            format!(
                "ttl_minutes must be between {} and {} (got {minutes})",
                TTL_MINUTES.start(),
                TTL_MINUTES.end()
            ),
        )),
    }
}

pub fn issue(
    conn: &mut DbConn,
    license_id: &str,
    ttl: Duration,
    label: Option<&str>,
) -> Result<IssuedSetupLink> {
    licenses::get(conn, license_id)?;
    let secret = token::generate();
    let link = SetupLink {
        id: uuid::Uuid::new_v4().to_string(),
        license_id: license_id.to_owned(),
        token_hash: token::hash(&secret),
        label: label
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned),
        created_at: time::now(),
        expires_at: time::after(ttl),
        used_at: None,
        revoked_at: None,
    };
    diesel::insert_into(setup_links::table)
        .values((
            setup_links::id.eq(&link.id),
            setup_links::license_id.eq(&link.license_id),
            setup_links::token_hash.eq(&link.token_hash),
            setup_links::label.eq(&link.label),
            setup_links::created_at.eq(&link.created_at),
            setup_links::expires_at.eq(&link.expires_at),
        ))
        .execute(conn)?;
    Ok(IssuedSetupLink { link, secret })
}

/// A license's links, oldest first.
pub fn list(conn: &mut DbConn, license_id: &str) -> Result<Vec<SetupLink>> {
    licenses::get(conn, license_id)?;
    Ok(setup_links::table
        .filter(setup_links::license_id.eq(license_id))
        .order((setup_links::created_at, setup_links::id))
        .select(SetupLink::as_select())
        .load(conn)?)
}

/// Revokes a link not yet revoked: unused, it opens nothing; used, its session ends.
pub fn revoke(conn: &mut DbConn, license_id: &str, link_id: &str) -> Result<()> {
    let updated = diesel::update(
        setup_links::table
            .filter(setup_links::id.eq(link_id))
            .filter(setup_links::license_id.eq(license_id))
            .filter(setup_links::revoked_at.is_null()),
    )
    .set(setup_links::revoked_at.eq(time::now()))
    .execute(conn)?;
    if updated == 0 {
        return Err(Error::NotFound(format!(
            "no unrevoked setup link {link_id} on license {license_id}"
        )));
    }
    Ok(())
}

/// The link a presented secret belongs to, whatever its status.
pub fn find(conn: &mut DbConn, secret: &str) -> Result<Option<SetupLink>> {
    Ok(setup_links::table
        .filter(setup_links::token_hash.eq(token::hash(secret)))
        .select(SetupLink::as_select())
        .first(conn)
        .optional()?)
}

/// The link a secret opens, if it is active at `now`, marked used. The check and the mark are
/// one UPDATE, so of two concurrent redemptions exactly one succeeds on either backend.
pub fn redeem(
    conn: &mut DbConn,
    secret: &str,
    now: &str,
) -> Result<std::result::Result<SetupLink, Unusable>> {
    let redeemed = diesel::update(
        setup_links::table
            .filter(setup_links::token_hash.eq(token::hash(secret)))
            .filter(setup_links::used_at.is_null())
            .filter(setup_links::revoked_at.is_null())
            .filter(setup_links::expires_at.gt(now)),
    )
    .set(setup_links::used_at.eq(now))
    .execute(conn)?;
    Ok(match (redeemed, find(conn, secret)?) {
        (1, Some(link)) => Ok(link),
        (_, Some(link)) => Err(Unusable::Spent(link.status(now))),
        (_, None) => Err(Unusable::Unknown),
    })
}

/// Whether the session a link opened may go on: the link was used and is not revoked.
pub fn session_live(conn: &mut DbConn, license_id: &str, link_id: &str) -> Result<bool> {
    let count: i64 = setup_links::table
        .filter(setup_links::id.eq(link_id))
        .filter(setup_links::license_id.eq(license_id))
        .filter(setup_links::used_at.is_not_null())
        .filter(setup_links::revoked_at.is_null())
        .count()
        .get_result(conn)?;
    Ok(count == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(used: bool, revoked: bool, expires_at: &str) -> SetupLink {
        SetupLink {
            id: "l".into(),
            license_id: "x".into(),
            token_hash: String::new(),
            label: None,
            created_at: "2026-12-04T10:00:00.000000Z".into(),
            expires_at: expires_at.into(),
            used_at: used.then(|| "2026-12-04T10:01:00.000000Z".into()),
            revoked_at: revoked.then(|| "2026-12-04T10:02:00.000000Z".into()),
        }
    }

    #[test]
    fn a_revocation_outranks_use_and_use_outranks_expiry() {
        let (now, later, earlier) = (
            "2026-12-04T10:05:00.000000Z",
            "2026-12-04T10:15:00.000000Z",
            "2026-12-04T10:04:00.000000Z",
        );
        assert_eq!(link(false, false, later).status(now), Status::Active);
        assert_eq!(link(false, false, now).status(now), Status::Expired);
        assert_eq!(link(true, false, earlier).status(now), Status::Used);
        assert_eq!(link(true, true, earlier).status(now), Status::Revoked);
    }

    #[test]
    fn the_validity_is_bounded() {
        assert_eq!(ttl(1).ok(), Some(Duration::from_secs(60)));
        assert_eq!(ttl(1440).ok(), Some(Duration::from_secs(86_400)));
        for out in [0, -1, 1441, i64::MIN] {
            assert!(ttl(out).is_err(), "{out}");
        }
    }
}
