//! Test harness: a real Seatflow API server on its own database (a fresh PostgreSQL database or
//! SQLite file per test, removed afterwards), and HTTP clients for its tenants and operator.
//!
//! PostgreSQL tests are never skipped: if the server at `SEATFLOW_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) cannot be reached, they fail.

pub mod admin_pages;
pub mod chaos;
pub mod license;
pub mod loadgen;
pub mod wire;

use std::path::PathBuf;

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use reqwest::{Client, Method, RequestBuilder};
use seatflow_api::Config;
use seatflow_api::server::Server;
use seatflow_store::db::{DatabaseUrl, Db};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One `#[tokio::test]` (multi-threaded, two workers, like every test here) per `name => run`,
/// where `run` is the future the test awaits; attributes (doc comments) before a name stay on it.
#[macro_export]
macro_rules! tokio_tests {
    ($($(#[$attr:meta])* $name:ident => $run:expr),* $(,)?) => {
        $(
            $(#[$attr])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $run.await
            }
        )*
    };
}

/// For each `module => variant`, a `mod module` with one test per listed
/// `async fn name(variant)`: the shared body of `both_backends!`, `all_transports!` and
/// `embedded_and_distributed!`, which differ only in their variants.
#[macro_export]
macro_rules! tests_per_variant {
    ([$($module:ident => $variant:expr),* $(,)?], $names:tt) => {
        $($crate::tests_per_variant!(@module $module, $variant, $names);)*
    };
    // One module at a time: a macro cannot repeat the names inside the repetition of modules.
    (@module $module:ident, $variant:expr, [$($name:ident),* $(,)?]) => {
        mod $module {
            $crate::tokio_tests!($($name => super::$name($variant)),*);
        }
    };
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $crate::tests_per_variant!(
            [on_sqlite => $crate::Backend::Sqlite, on_postgres => $crate::Backend::Postgres],
            [$($name),*]
        );
    };
}

pub fn postgres_admin_url() -> String {
    std::env::var("SEATFLOW_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test and is dropped with it.
pub struct TestDb {
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres { admin_url: String, name: String },
    Sqlite(PathBuf),
}

impl TestDb {
    pub fn create(backend: Backend) -> TestDb {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("seatflow_test_{unique}");
                let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
                    panic!("PostgreSQL is required for these tests ({admin_url}): {e}")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                let url = DatabaseUrl::parse(&format!("{base}/{name}")).expect("postgres url");
                TestDb {
                    url,
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("seatflow-test-{unique}.db"));
                let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display()))
                    .expect("sqlite url");
                TestDb {
                    url,
                    cleanup: Cleanup::Sqlite(path),
                }
            }
        }
    }
}

impl TestDb {
    /// Has PostgreSQL end every session on this database, as a server restart or a network cut
    /// would; returns how many there were.
    pub fn cut_connections(&self) -> i64 {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            panic!("only PostgreSQL connections can be cut");
        };
        #[derive(QueryableByName)]
        struct Cut {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            cut: i64,
        }
        let mut admin = PgConnection::establish(admin_url).expect("admin connection");
        diesel::sql_query(
            "SELECT count(pg_terminate_backend(pid)) AS cut FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Cut>(&mut admin)
        .expect("terminate sessions")
        .cut
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Postgres { admin_url, name } => {
                if let Ok(mut admin) = PgConnection::establish(admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin);
                }
            }
            Cleanup::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
        }
    }
}

pub fn amqp_url() -> String {
    std::env::var("SEATFLOW_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// A queue-name prefix of its own, so tests sharing the broker never see each other's events.
pub fn unique_amqp_prefix() -> String {
    format!("seatflow-test-{}", uuid::Uuid::new_v4().simple())
}

/// A running API server on 127.0.0.1 with a random port, with its relay or embedded worker.
pub struct TestServer {
    pub base_url: String,
    pub admin_token: String,
    pub client: Client,
    pub db: Db,
    pub config: Config,
    server: Server,
    // Declared last: dropped after the server and pool that use it.
    _test_db: TestDb,
}

/// A config for tests: the defaults, with the given database and address.
pub fn test_config(url: DatabaseUrl, public_url: String) -> Config {
    use clap::Parser;
    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        config: Config,
    }
    // Parse from an empty command line, so the defaults are the documented ones; the
    // environment is not consulted for what tests set explicitly below.
    let mut config = Defaults::parse_from(["seatflow-api"]).config;
    config.database_url = url;
    config.public_url = public_url;
    config.admin_token = None;
    config.db_pool_size = 8;
    config
}

impl TestServer {
    /// See [`TestDb::cut_connections`].
    pub fn cut_database_connections(&self) -> i64 {
        self._test_db.cut_connections()
    }

    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server after `adjust` has changed its configuration.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let test_db = TestDb::create(backend);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind test port");
        let address = listener.local_addr().expect("local addr");
        let base_url = format!("http://{address}");
        let mut config = test_config(test_db.url.clone(), base_url.clone());
        config.bind = address;
        adjust(&mut config);
        let db = Db::connect(&config.database_url, config.db_pool_size).expect("connect test db");
        seatflow_store::migrations::run(&db).expect("migrate test db");
        let admin_token = seatflow_store::token::generate();
        let server = Server::spawn(listener, db.clone(), config.clone(), admin_token.clone());
        TestServer {
            base_url,
            admin_token,
            client: Client::new(),
            db,
            config,
            server,
            _test_db: test_db,
        }
    }

    /// The license's sync health (`GET /api/v1/licenses/{id}/sync`).
    pub async fn sync(&self, license_id: &str) -> Value {
        let (status, body) = self
            .admin_get(&format!("/api/v1/licenses/{license_id}/sync"))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until every event of the license is applied (or dead); panics after `timeout`.
    pub async fn converged(&self, license_id: &str, timeout: std::time::Duration) -> Value {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let sync = self.sync(license_id).await;
            if sync["pending_events"] == 0 {
                return sync;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "licensing did not converge within {timeout:?}: {sync}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// A request to the admin API (`path` starts with `/api/v1`), as the operator.
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.admin_token)
    }

    /// Sends an admin API request with an optional JSON body, like [`Tenant::send`]; returns the
    /// status and the parsed body.
    pub async fn admin_send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.admin(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("admin request")).await
    }

    /// `GET` of an admin API path: status and body.
    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        self.admin_send(Method::GET, path, None).await
    }

    /// Makes these groups the license's licensed groups (`PUT …/licensed-groups`), which must
    /// succeed.
    pub async fn license_groups(&self, license_id: &str, group_ids: Value) {
        let path = format!("/api/v1/licenses/{license_id}/licensed-groups");
        let (status, body) = self
            .admin_send(Method::PUT, &path, Some(json!({ "group_ids": group_ids })))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Every event of the license's change feed the Events API lists now, paging through
    /// its cursor (`path` None) or the deployment's (`/api/v1/events`).
    pub async fn feed(&self, license_id: Option<&str>) -> Vec<Value> {
        let path = match license_id {
            Some(id) => format!("/api/v1/licenses/{id}/events"),
            None => "/api/v1/events".to_owned(),
        };
        let mut events = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, page) = self
                .admin_get(&format!("{path}?limit=1000&after={cursor}"))
                .await;
            assert_eq!(status, 200, "{page}");
            events.extend(page["data"].as_array().expect("data").iter().cloned());
            cursor = page["next_cursor"]
                .as_str()
                .expect("next_cursor")
                .to_owned();
            if page["has_more"] != json!(true) {
                return events;
            }
        }
    }

    /// The license's feed once `done` holds for it (polled; the sequencer and the licensing
    /// worker run asynchronously), or a panic with what it was after `timeout`.
    pub async fn feed_until(
        &self,
        license_id: &str,
        timeout: std::time::Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let events = self.feed(Some(license_id)).await;
            if done(&events) {
                return events;
            }
            if std::time::Instant::now() > deadline {
                let types: Vec<&Value> = events.iter().map(|e| &e["type"]).collect();
                panic!("the feed did not get there in {timeout:?}: {types:?}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Creates a license through the admin API and returns a client for its SCIM tenant.
    pub async fn create_license(&self, name: &str, seats: i64) -> Tenant {
        let response = self
            .admin(Method::POST, "/api/v1/licenses")
            .json(&json!({ "name": name, "seats": seats }))
            .send()
            .await
            .expect("create license");
        assert_eq!(response.status(), 201, "create license");
        let body: Value = response.json().await.expect("license json");
        Tenant {
            license_id: body["license_id"].as_str().expect("license_id").to_owned(),
            tenant_url: body["tenant_url"].as_str().expect("tenant_url").to_owned(),
            token: body["secret_token"]
                .as_str()
                .expect("secret_token")
                .to_owned(),
            token_id: body["token_id"].as_str().expect("token_id").to_owned(),
            client: self.client.clone(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A SCIM client for one tenant (license), authenticated with its secret token.
#[derive(Clone)]
pub struct Tenant {
    pub license_id: String,
    pub tenant_url: String,
    pub token: String,
    pub token_id: String,
    pub client: Client,
}

impl Tenant {
    /// A request to `tenant_url + path` (e.g. `/Users?filter=…`) with the bearer token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.tenant_url))
            .bearer_auth(&self.token)
    }

    /// Sends a request with an optional JSON body as `application/scim+json`; returns the
    /// status and the parsed body (`Value::Null` when empty).
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        read(response).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(Method::DELETE, path, None).await
    }
}

/// Status and JSON body of a response (`Value::Null` for an empty body).
pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("response body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("non-JSON body ({e}): {text}"))
    };
    (status, body)
}

/// A PATCH request body with the given operations.
pub fn patch_op(operations: Value) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": operations,
    })
}

/// The path of a workspace binary (`seatflow-api`, `seatflow-worker`), built next to the test
/// binaries (`scripts/test.sh` builds them first).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A child process killed (SIGKILL) when dropped.
pub struct ChildProcess(pub std::process::Child);

impl ChildProcess {
    /// SIGKILL, at once: the crash the pipeline must survive.
    pub fn kill_hard(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        self.0.wait().expect("wait for child")
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// The queues of one test's prefix; deleted when dropped.
pub struct TestQueues {
    pub names: Vec<String>,
    pub exchange: String,
}

impl TestQueues {
    pub fn of(config: &Config) -> TestQueues {
        let topology = seatflow_queue::rabbitmq::Topology::of(&config.worker);
        TestQueues {
            names: topology.queues(),
            exchange: topology.exchange(),
        }
    }
}

impl Drop for TestQueues {
    fn drop(&mut self) {
        let (names, exchange) = (self.names.clone(), self.exchange.clone());
        // Drop cannot await: clean up on a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
                let Ok(connection) =
                    lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
                        .await
                else {
                    return;
                };
                let Ok(channel) = connection.create_channel().await else {
                    return;
                };
                for name in names {
                    let _ = channel
                        .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                        .await;
                }
                let _ = channel
                    .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
            });
        });
        let _ = cleanup.join();
    }
}

/// Messages waiting in a queue (declared passively: it must exist).
pub async fn queue_depth(name: &str) -> u32 {
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("broker");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .queue_declare(
            name.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("queue exists")
        .message_count()
}

/// Starts `seatflow-worker` as a child process on the server's database and queue prefix.
pub fn spawn_worker(config: &Config, extra_env: &[(&str, &str)]) -> ChildProcess {
    ChildProcess(
        worker_command(config, extra_env)
            .spawn()
            .expect("start seatflow-worker"),
    )
}

/// The command `spawn_worker` runs (for tests that capture its output).
pub fn worker_command(config: &Config, extra_env: &[(&str, &str)]) -> std::process::Command {
    let mut command = std::process::Command::new(binary("seatflow-worker"));
    command
        .env_clear()
        .env("SEATFLOW_DATABASE_URL", config.database_url.as_str())
        .env("SEATFLOW_AMQP_URL", amqp_url())
        .env("SEATFLOW_AMQP_PREFIX", &config.worker.amqp_prefix)
        .env("SEATFLOW_LOG", "warn")
        .envs(extra_env.iter().copied())
        .stdout(std::process::Stdio::null());
    command
}

/// Starts `seatflow-api` as a child process and waits until it answers the admin API.
pub async fn spawn_api(
    database_url: &DatabaseUrl,
    amqp: &str,
    prefix: &str,
    admin_token: &str,
) -> (ChildProcess, String) {
    spawn_api_with(
        database_url,
        amqp,
        prefix,
        admin_token,
        &[],
        std::process::Stdio::inherit(),
    )
    .await
}

/// `spawn_api` with further environment variables and where its log (stderr) goes.
pub async fn spawn_api_with(
    database_url: &DatabaseUrl,
    amqp: &str,
    prefix: &str,
    admin_token: &str,
    extra_env: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> (ChildProcess, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = spawn_api_at(
        port,
        database_url,
        amqp,
        prefix,
        admin_token,
        extra_env,
        stderr,
    )
    .await;
    (child, format!("http://127.0.0.1:{port}"))
}

/// `spawn_api_with` on a given port (a restarted API keeps its clients' URL).
pub async fn spawn_api_at(
    port: u16,
    database_url: &DatabaseUrl,
    amqp: &str,
    prefix: &str,
    admin_token: &str,
    extra_env: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> ChildProcess {
    let base_url = format!("http://127.0.0.1:{port}");
    let child = std::process::Command::new(binary("seatflow-api"))
        .env_clear()
        .env("SEATFLOW_DATABASE_URL", database_url.as_str())
        .env("SEATFLOW_AMQP_URL", amqp)
        .env("SEATFLOW_AMQP_PREFIX", prefix)
        .env("SEATFLOW_ADMIN_TOKEN", admin_token)
        .env("SEATFLOW_BIND", format!("127.0.0.1:{port}"))
        .env("SEATFLOW_PUBLIC_URL", &base_url)
        .env("SEATFLOW_LOG", "warn")
        .envs(extra_env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start seatflow-api");
    let child = ChildProcess(child);
    let client = Client::new();
    for _ in 0..200 {
        let ready = client
            .get(format!("{base_url}/api/v1/licenses"))
            .bearer_auth(admin_token)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return child;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("seatflow-api did not start at {base_url}");
}

/// Keeps a distributed-mode test's in-process worker running and its queues alive; stops the
/// worker and deletes the queues when dropped.
pub struct Broker {
    stop: tokio::sync::watch::Sender<bool>,
    /// Told when the worker has stopped.
    stopped: std::sync::mpsc::Receiver<()>,
    pub queues: TestQueues,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        // The queues go only once the worker is gone: a worker that saw its queue deleted
        // would reconnect and declare the topology again, leaving queues behind. Waiting needs
        // another thread to run the worker meanwhile, which a current-thread runtime lacks.
        let wait = || {
            let _ = self.stopped.recv_timeout(std::time::Duration::from_secs(5));
        };
        if tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        {
            tokio::task::block_in_place(wait);
        }
    }
}

impl TestServer {
    /// A server relaying to RabbitMQ (PostgreSQL, a queue prefix of its own) plus an in-process
    /// `seatflow-worker` consumer.
    pub async fn start_distributed(adjust: impl FnOnce(&mut Config)) -> (TestServer, Broker) {
        let prefix = unique_amqp_prefix();
        let server = TestServer::start_with(Backend::Postgres, |c| {
            c.amqp_url = Some(amqp_url());
            c.worker.amqp_prefix = prefix;
            adjust(c);
        })
        .await;
        let queues = TestQueues::of(&server.config);
        let (stop, stop_seen) = tokio::sync::watch::channel(false);
        let (done, stopped) = std::sync::mpsc::channel();
        let worker = seatflow_licensing::consume_rabbitmq(
            server.db.clone(),
            server.config.worker.clone(),
            amqp_url(),
            stop_seen,
        );
        tokio::spawn(async move {
            let _ = worker.await;
            let _ = done.send(());
        });
        (
            server,
            Broker {
                stop,
                stopped,
                queues,
            },
        )
    }
}

/// Where licensing events travel in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    EmbeddedSqlite,
    EmbeddedPostgres,
    RabbitMq,
}

impl Transport {
    /// Starts a server for this transport; the broker guard is Some for RabbitMQ.
    pub async fn start(self, adjust: impl FnOnce(&mut Config)) -> (TestServer, Option<Broker>) {
        match self {
            Transport::EmbeddedSqlite => {
                (TestServer::start_with(Backend::Sqlite, adjust).await, None)
            }
            Transport::EmbeddedPostgres => (
                TestServer::start_with(Backend::Postgres, adjust).await,
                None,
            ),
            Transport::RabbitMq => {
                let (server, broker) = TestServer::start_distributed(adjust).await;
                (server, Some(broker))
            }
        }
    }
}

/// Generates two `#[tokio::test]`s for each `async fn name(transport: Transport)`: the embedded
/// default (SQLite, in-process queue) and the distributed mode (PostgreSQL + RabbitMQ).
#[macro_export]
macro_rules! embedded_and_distributed {
    ($($name:ident),* $(,)?) => {
        $crate::tests_per_variant!(
            [
                embedded_sqlite => $crate::Transport::EmbeddedSqlite,
                postgres_rabbitmq => $crate::Transport::RabbitMq,
            ],
            [$($name),*]
        );
    };
}

/// Generates one `#[tokio::test]` per transport for each `async fn name(transport: Transport)`.
#[macro_export]
macro_rules! all_transports {
    ($($name:ident),* $(,)?) => {
        $crate::tests_per_variant!(
            [
                embedded_sqlite => $crate::Transport::EmbeddedSqlite,
                embedded_postgres => $crate::Transport::EmbeddedPostgres,
                rabbitmq => $crate::Transport::RabbitMq,
            ],
            [$($name),*]
        );
    };
}
