//! Storage: one diesel connection type over PostgreSQL and SQLite, an r2d2 pool, migrations,
//! and the two ways to run work on it (`read`, `write`), each a single `spawn_blocking` so no
//! synchronous connection is ever held across an `.await`.

pub mod schema;
mod url;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use url::{Backend, DEFAULT_DATABASE_URL, DatabaseUrl, UnknownScheme};

use crate::error::{Error, Result};

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// Serialises concurrent `migrate` runs of several API processes on one PostgreSQL database.
const MIGRATION_LOCK_KEY: i64 = 0x5ea7_f10e;

/// Why the database could not be opened, with the URL's password hidden.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to database {url}: {cause}")]
pub struct ConnectError {
    url: DatabaseUrl,
    cause: String,
}

pub struct Manager {
    url: DatabaseUrl,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        let target = self.url.connect_target();
        match self.url.backend() {
            Backend::Postgres => PgConnection::establish(target).map(DbConn::Pg),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(target)?;
                // WAL lets readers run beside the single writer; busy_timeout makes writers queue
                // instead of failing; foreign keys are off by default in SQLite; LIKE is made case-sensitive
                // as on PostgreSQL (case-insensitive attributes are compared on lower-cased keys).
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA case_sensitive_like = ON;",
                )
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    /// A connection the server dropped (e.g. PostgreSQL restarted) is not handed out again.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// A connection checked out of the pool; returned to it on drop.
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// The connection pool. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    /// SQLite has one writer at a time; its busy handler makes waiting writers sleep and poll,
    /// unfairly, and gives up after `busy_timeout`. This process's writers queue here instead
    /// (readers are not affected: WAL).
    sqlite_writer: std::sync::Arc<std::sync::Mutex<()>>,
}

impl Db {
    /// Opens the pool after one direct connection attempt, so an unreachable database yields its
    /// real cause at once.
    pub fn connect(url: &DatabaseUrl, pool_size: u32) -> Result<Db, ConnectError> {
        let manager = Manager { url: url.clone() };
        // libpq's messages span lines; the operator gets them as one.
        let connect_error = |cause: String| ConnectError {
            url: url.clone(),
            cause: cause.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        r2d2::ManageConnection::connect(&manager).map_err(|e| connect_error(e.to_string()))?;
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            // Connections open on demand. Keeping idle ones topped up would have the pool's
            // thread connecting in the background, and a short-lived command (the CLI) that
            // exits during such a connect crashed in libpq's exit handlers (SIGSEGV).
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(5))
            // A server restart leaves pooled PostgreSQL connections dead: check each one as it
            // is handed out (one round trip), so the first requests after a restart succeed.
            // SQLite connections cannot go stale.
            .test_on_check_out(url.backend() == Backend::Postgres)
            .build(manager)
            .map_err(|e| connect_error(e.to_string()))?;
        Ok(Db {
            pool,
            backend: url.backend(),
            sqlite_writer: Default::default(),
        })
    }

    /// Open and idle connections of the pool (the pool-usage metric).
    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    pub fn pool_max(&self) -> u32 {
        self.pool.max_size()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations of this backend, then fills in columns that only the server
    /// can compute (idempotent; safe with concurrent starters).
    pub fn migrate(&self) -> Result<usize> {
        let mut conn = self.checkout()?;
        let conn = &mut *conn;
        if let DbConn::Pg(pg) = conn {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .execute(pg)?;
        }
        let applied = match conn {
            DbConn::Pg(pg) => pg.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
            DbConn::Sqlite(lite) => lite
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.len()),
        }
        .map_err(|e| Error::Internal(format!("migration failed: {e}")));
        let filled = applied
            .and_then(|applied| crate::store::users::fill_display_name_keys(conn).map(|_| applied));
        if let DbConn::Pg(pg) = conn {
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .execute(pg)?;
        }
        filled
    }

    /// Runs read-only work on a pooled connection.
    pub async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        blocking(move || work(&mut *db.checkout()?)).await
    }

    /// Runs `work` in one write transaction: everything it does commits together or not at all.
    /// Every state change goes through here, so what must commit with it (the outbox row) is
    /// added in one place.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        blocking(move || {
            let _queued = match db.backend {
                // A panicked writer rolled back; the lock itself guards nothing.
                Backend::Sqlite => Some(db.sqlite_writer.lock().unwrap_or_else(|e| e.into_inner())),
                Backend::Postgres => None,
            };
            write_transaction(&mut *db.checkout()?, work)
        })
        .await
    }

    /// A pooled connection for synchronous callers (CLI commands, tests).
    pub fn checkout(&self) -> Result<PooledConn> {
        self.pool
            .get()
            .map_err(|e| Error::Unavailable(format!("no database connection: {e}")))
    }
}

/// A round trip to the database (readiness checks).
pub fn ping(conn: &mut DbConn) -> Result<()> {
    conn.batch_execute("SELECT 1")?;
    Ok(())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("database task failed: {e}")))?
}

/// A write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write lock up
/// front: a deferred transaction that upgrades later fails with SQLITE_BUSY under concurrency.
pub fn write_transaction<T>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> Result<T>,
) -> Result<T> {
    transaction(conn, Finish::CommitOnSuccess, work)
}

/// Runs `work` in a write transaction that is always rolled back: a dry run of real code.
pub fn dry_run<T>(conn: &mut DbConn, work: impl FnOnce(&mut DbConn) -> Result<T>) -> Result<T> {
    transaction(conn, Finish::Rollback, work)
}

enum Finish {
    CommitOnSuccess,
    Rollback,
}

fn transaction<T>(
    conn: &mut DbConn,
    finish: Finish,
    work: impl FnOnce(&mut DbConn) -> Result<T>,
) -> Result<T> {
    match conn {
        DbConn::Pg(pg) => AnsiTransactionManager::begin_transaction_sql(pg, "BEGIN")?,
        DbConn::Sqlite(lite) => {
            AnsiTransactionManager::begin_transaction_sql(lite, "BEGIN IMMEDIATE")?
        }
    }
    let result = work(conn);
    let commit = result.is_ok() && matches!(finish, Finish::CommitOnSuccess);
    let ended = match (conn, commit) {
        (DbConn::Pg(pg), true) => AnsiTransactionManager::commit_transaction(pg),
        (DbConn::Pg(pg), false) => AnsiTransactionManager::rollback_transaction(pg),
        (DbConn::Sqlite(lite), true) => AnsiTransactionManager::commit_transaction(lite),
        (DbConn::Sqlite(lite), false) => AnsiTransactionManager::rollback_transaction(lite),
    };
    match (result, ended) {
        (Ok(value), Ok(())) => Ok(value),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e.into()),
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as Kind, Error as D};
        match e {
            // The server went away (or could not be reached), or a conflict that a retry resolves.
            D::DatabaseError(
                Kind::ClosedConnection | Kind::UnableToSendCommand | Kind::SerializationFailure,
                info,
            ) => Error::Unavailable(info.message().to_owned()),
            D::DatabaseError(Kind::UniqueViolation, info) => {
                Error::Conflict(format!("already exists: {}", info.message()))
            }
            other => Error::Internal(other.to_string()),
        }
    }
}
