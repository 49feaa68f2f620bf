//! The authentication epoch: a counter that moves whenever a token may have lost its access (a
//! token revoked or reset, a license changed), in the transaction that made the change. API
//! processes cache resolved tokens and drop their caches when it moves.

use diesel::prelude::*;

use crate::Result;
use crate::db::DbConn;
use crate::db::schema::auth_epoch;

pub fn current(conn: &mut DbConn) -> Result<i64> {
    Ok(auth_epoch::table
        .find(1)
        .select(auth_epoch::epoch)
        .first(conn)?)
}

pub(crate) fn bump(conn: &mut DbConn) -> Result<()> {
    diesel::update(auth_epoch::table.find(1))
        .set(auth_epoch::epoch.eq(auth_epoch::epoch + 1))
        .execute(conn)?;
    Ok(())
}
