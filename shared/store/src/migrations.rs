//! The schema's migrations, embedded per backend (`migrations/postgres`, `migrations/sqlite`),
//! and the columns only the server can fill in after them.

use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::db::{Db, DbConn};
use crate::{Error, Result, users};

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Serialises concurrent runs of several API processes on one PostgreSQL database.
const LOCK_KEY: i64 = 0x5ea7_f10e;

/// Applies pending migrations of the database's backend, then fills in columns that only the
/// server can compute; returns how many migrations ran. Idempotent; safe with concurrent starters.
pub fn run(db: &Db) -> Result<usize> {
    let mut conn = db.checkout()?;
    let conn = &mut *conn;
    if let DbConn::Pg(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_lock({LOCK_KEY})")).execute(pg)?;
    }
    let applied = match conn {
        DbConn::Pg(pg) => pg.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
        DbConn::Sqlite(lite) => lite
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len()),
    }
    .map_err(|e| Error::Internal(format!("migration failed: {e}")));
    let filled = applied.and_then(|applied| users::fill_display_name_keys(conn).map(|_| applied));
    if let DbConn::Pg(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_unlock({LOCK_KEY})")).execute(pg)?;
    }
    filled
}
