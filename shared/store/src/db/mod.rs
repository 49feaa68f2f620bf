//! Storage: one diesel connection type over PostgreSQL and SQLite, an r2d2 pool, migrations,
//! and the two ways to run work on it (`read`, `write`), each a single `spawn_blocking` so no
//! synchronous connection is ever held across an `.await`.

pub mod schema;
mod url;

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use url::{Backend, DEFAULT_DATABASE_URL, DatabaseUrl, UnknownScheme};

use crate::{Error, Result};

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

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

/// A pooled connection, with what the pool needs to know to keep only working ones.
pub struct Pooled {
    conn: DbConn,
    /// When it was last handed back: one that sat idle may have lost its server.
    returned: Instant,
    /// A round trip failed as if the server had gone away: the pool closes it.
    lost: bool,
}

/// A PostgreSQL connection idle this long is checked with a round trip before it is handed out.
/// Busy connections are not (that round trip cost as much as a lookup's own queries); one that
/// fails mid-request is dropped instead, so a server restart costs each of them one error.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);
/// The longest a unit of work waits for a connection, its turn (permit) included: with the
/// database down, every request is answered 503 after this, not after turns of waiting behind
/// others who wait as long.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

impl r2d2::ManageConnection for Manager {
    type Connection = Pooled;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<Pooled, Self::Error> {
        Ok(Pooled {
            conn: self.open()?,
            returned: Instant::now(),
            lost: false,
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), Self::Error> {
        pooled
            .conn
            .batch_execute("SELECT 1")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.lost || diesel::r2d2::R2D2Connection::is_broken(&mut pooled.conn)
    }
}

impl Manager {
    fn open(&self) -> Result<DbConn, diesel::ConnectionError> {
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
}

/// A connection checked out of the pool; returned to it on drop.
pub struct PooledConn(r2d2::PooledConnection<Manager>);

impl PooledConn {
    /// Marks the connection as gone if `result` says the server went away, so it is not reused.
    fn note<T>(&mut self, result: &Result<T>) {
        if matches!(result, Err(Error::Unavailable(_))) {
            self.0.lost = true;
        }
    }
}

impl Deref for PooledConn {
    type Target = DbConn;

    fn deref(&self) -> &DbConn {
        &self.0.conn
    }
}

impl DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.0.conn
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        self.0.returned = Instant::now();
    }
}

/// The connection pool. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    /// SQLite has one writer at a time; its busy handler makes waiting writers sleep and poll,
    /// unfairly, and gives up after `busy_timeout`. This process's writers queue here instead
    /// (readers are not affected: WAL), in order and without holding a thread.
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    /// One permit per pooled connection, taken before the blocking hop: callers beyond the
    /// pool's size wait here in arrival order (r2d2's own wait is not first come, first served,
    /// and it parks a blocking thread per waiter: a p99 of a second under 32 connections).
    permits: Arc<Semaphore>,
    /// Reads also wait here: a read of cached rows keeps a CPU busy end to end (this process's
    /// thread, then its PostgreSQL backend), so more of them at once than the cores can run only
    /// queue on the scheduler (32 concurrent entitlement checks on 2 cores: p99 55–180 ms with
    /// 16 at once, 7–8 ms with 8, at the same throughput). Writes wait on fsync rather than a CPU,
    /// and group commit wants many of them, so they take only a pool permit.
    readers: Arc<Semaphore>,
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
        manager.open().map_err(|e| connect_error(e.to_string()))?;
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            // Connections open on demand. Keeping idle ones topped up would have the pool's
            // thread connecting in the background, and a short-lived command (the CLI) that
            // exits during such a connect crashed in libpq's exit handlers (SIGSEGV).
            .min_idle(Some(0))
            .connection_timeout(CONNECT_WAIT)
            // `checkout` checks idle connections itself (CHECK_IDLE_AFTER).
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| connect_error(e.to_string()))?;
        Ok(Db {
            pool,
            backend: url.backend(),
            sqlite_writer: Default::default(),
            permits: Arc::new(Semaphore::new(pool_size as usize)),
            readers: Arc::new(Semaphore::new(default_read_concurrency())),
        })
    }

    /// At most `readers` reads at once (0: four per core of this machine).
    pub fn with_read_concurrency(mut self, readers: usize) -> Db {
        let readers = if readers == 0 {
            default_read_concurrency()
        } else {
            readers
        };
        self.readers = Arc::new(Semaphore::new(readers));
        self
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

    /// Runs read-only work on a pooled connection.
    pub async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        let asked = Instant::now();
        let reader = acquire(&self.readers).await?;
        let permit = acquire(&self.permits).await?;
        blocking(move || {
            let _permit = (reader, permit);
            let mut conn = db.checkout_within(CONNECT_WAIT.saturating_sub(asked.elapsed()))?;
            let result = work(&mut conn);
            conn.note(&result);
            result
        })
        .await
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
        let writer = match self.backend {
            Backend::Sqlite => Some(self.sqlite_writer.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        // SQLite's writers queue above on the file's one write lock, which is not a wait for
        // a connection.
        let asked = Instant::now();
        let permit = acquire(&self.permits).await?;
        blocking(move || {
            let _turn = (writer, permit);
            let mut conn = db.checkout_within(CONNECT_WAIT.saturating_sub(asked.elapsed()))?;
            let result = write_transaction(&mut conn, work);
            conn.note(&result);
            result
        })
        .await
    }

    /// A pooled connection for synchronous callers (CLI commands, tests). A PostgreSQL
    /// connection that sat idle is checked first (a restart of the server leaves pooled
    /// connections dead); a dead one is closed and the next one tried.
    pub fn checkout(&self) -> Result<PooledConn> {
        self.checkout_within(CONNECT_WAIT)
    }

    /// [`Db::checkout`], waiting at most `wait` for a connection.
    fn checkout_within(&self, wait: Duration) -> Result<PooledConn> {
        let unavailable = |e: String| Error::Unavailable(format!("no database connection: {e}"));
        let deadline = Instant::now() + wait;
        for _ in 0..=self.pool.max_size() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let mut pooled = self
                .pool
                .get_timeout(remaining)
                .map_err(|e| unavailable(e.to_string()))?;
            let idle = pooled.returned.elapsed() >= CHECK_IDLE_AFTER;
            if self.backend == Backend::Postgres && idle && ping(&mut pooled.conn).is_err() {
                pooled.lost = true;
                continue;
            }
            return Ok(PooledConn(pooled));
        }
        Err(unavailable("every pooled connection was dead".into()))
    }
}

/// A turn from `permits`, in arrival order.
async fn acquire(permits: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit> {
    permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| Error::Internal(format!("database permits closed: {e}")))
}

/// Four per core: enough to overlap each read's round trips between this process and the
/// database, not so many that they queue on the scheduler.
fn default_read_concurrency() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
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
