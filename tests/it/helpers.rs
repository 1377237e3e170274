//! What every integration test needs: a database of its own, a Redis key prefix of its own, a
//! directory for its files, settings pointing at them, and ways to run a worker in this process
//! or as a real `intake` process. Everything is removed when the test ends.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use intake::queue::RedisQueue;
use intake::settings::{SecretUrl, Settings};
use intake::startup::{self, Worker};
use intake::store::MIGRATOR;
use intake_actors::domain::{
    Origin, ParserType, SourceConfig, SupplierName, TaskId, TaskMessage, TaskMeta, TaskResult,
};
use intake_actors::pipeline::{DrainReport, Outcome};
use intake_actors::ports::DecoderRegistry;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(i) => &base[..authority_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// A database created for one test and dropped after it.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
    server: String,
}

impl TestDb {
    /// A fresh database with every migration applied.
    pub async fn migrated() -> Self {
        let db = Self::empty().await;
        MIGRATOR.run(&db.pool).await.expect("migrations apply");
        db
    }

    /// A fresh database without any table.
    pub async fn empty() -> Self {
        Self::empty_on(server_url()).await
    }

    /// A fresh database with every migration applied, on the given server.
    pub async fn migrated_on(server: String) -> Self {
        let db = Self::empty_on(server).await;
        MIGRATOR.run(&db.pool).await.expect("migrations apply");
        db
    }

    /// A fresh database without any table, on the default server.
    pub async fn empty_on_server() -> Self {
        Self::empty_on(server_url()).await
    }

    async fn empty_on(server: String) -> Self {
        let name = format!("intake_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server).await.expect("PostgreSQL is reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("test database is created");
        let url = with_database(&server, &name);
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .connect(&url)
            .await
            .expect("test database accepts connections");
        Self {
            name,
            url,
            pool,
            server,
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs inside the test's runtime; the cleanup needs one of its own. The pool is
        // left alone (it belongs to the test's runtime): FORCE ends its connections.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&server).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A directory for one test's files.
pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("intake-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).expect("fixture is written");
        path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One test's world: a database, a key prefix, a directory, settings that use them.
pub struct TestEnv {
    pub db: TestDb,
    pub dir: TestDir,
    /// Environment overrides, the way a process would receive them.
    pub overrides: HashMap<String, String>,
    pub settings: Settings,
    pub queue: RedisQueue,
    pub redis_url: String,
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::with(&[]).await
    }

    /// With extra `INTAKE__…` overrides on top of the test defaults.
    pub async fn with(extra: &[(&str, &str)]) -> Self {
        Self::on(server_url(), redis_url(), extra).await
    }

    /// On the given PostgreSQL server and Redis.
    pub async fn on(server: String, redis_url: String, extra: &[(&str, &str)]) -> Self {
        let db = TestDb::migrated_on(server).await;
        let dir = TestDir::new();
        let prefix = format!("intake-test-{}", uuid::Uuid::new_v4().simple());
        let mut overrides: HashMap<String, String> = [
            ("INTAKE__QUEUE__KEY_PREFIX", prefix.as_str()),
            ("INTAKE__QUEUE__FETCH_BLOCK_MS", "200"),
            ("INTAKE__QUEUE__PROMOTE_EVERY_MS", "20"),
            ("INTAKE__QUEUE__STATS_EVERY_MS", "60000"),
            ("INTAKE__RETRY__DELAYS_MS", "100,500,2500"),
            ("INTAKE__WORKER__SHUTDOWN_GRACE_MS", "10000"),
            ("INTAKE__DATABASE__MAX_CONNECTIONS", "6"),
            ("INTAKE__SOURCES__ALLOWED_DIRS", dir.0.to_str().expect("utf-8 temp dir")),
            ("INTAKE__LOG__LEVEL", "warn"),
            // Workers of parallel tests must not contend for one port.
            ("INTAKE__HTTP__BIND", "127.0.0.1:0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            overrides.insert((*k).to_owned(), (*v).to_owned());
        }
        let settings = Settings::load_with_env(None, Some(overrides.clone())).expect("test settings");
        let queue = RedisQueue::connect(&SecretUrl::new(redis_url.clone()), &settings.queue, &settings.redis)
            .await
            .expect("Redis is reachable");
        queue.ensure_group().await.expect("group");
        Self {
            db,
            dir,
            overrides,
            settings,
            queue,
            redis_url,
        }
    }

    pub fn csv(&self, name: &str, content: &str) -> PathBuf {
        self.dir.write(name, content)
    }

    /// A task message for a file of this test.
    pub fn message(&self, supplier: &str, parser: &str, path: &Path) -> TaskMessage {
        TaskMessage {
            task_id: TaskId::new(),
            parser_type: ParserType::new(parser).expect("parser type"),
            supplier_name: SupplierName::new(supplier).expect("supplier"),
            source_config: SourceConfig {
                path: Some(path.display().to_string()),
                ..Default::default()
            },
            retry_count: 0,
            max_retries: 3,
            enqueued_at: chrono::Utc::now(),
            list_date: None,
            expires_at: None,
            force: false,
            traceparent: None,
            errors: Vec::new(),
        }
    }

    pub async fn enqueue(&self, message: &TaskMessage) {
        self.queue.enqueue(message).await.expect("enqueued");
    }

    /// Waits for a task's final result, showing `log` if there is none.
    pub async fn result_or_log(&self, task: TaskId, timeout: Duration, log: impl Fn() -> String) -> TaskResult {
        match self.queue.wait_result(task, timeout).await.expect("redis answers") {
            Some(result) => result,
            None => panic!("no result for {task} within {timeout:?}; worker log:\n{}", log()),
        }
    }

    /// Waits for a task's final result.
    pub async fn result(&self, task: TaskId, timeout: Duration) -> TaskResult {
        self.queue
            .wait_result(task, timeout)
            .await
            .expect("redis answers")
            .unwrap_or_else(|| panic!("no result for {task} within {timeout:?}"))
    }

    /// Starts a worker in this process with the standard decoders.
    pub async fn worker(&self) -> RunningWorker {
        self.worker_with(startup::decoders()).await
    }

    /// Starts a worker in this process with the given decoders.
    pub async fn worker_with(&self, decoders: DecoderRegistry) -> RunningWorker {
        let worker = self.started_worker(decoders).await;
        self.run_worker(worker)
    }

    /// A worker with the standard decoders, started but not yet consuming, so a test can ask
    /// it things (its HTTP address) first.
    pub async fn worker_started(&self) -> Worker {
        self.started_worker(startup::decoders()).await
    }

    async fn started_worker(&self, decoders: DecoderRegistry) -> Worker {
        let pool = intake::store::pool(&SecretUrl::new(self.db.url.clone()), &self.settings.database).expect("pool");
        let queue = RedisQueue::connect(
            &SecretUrl::new(self.redis_url.clone()),
            &self.settings.queue,
            &self.settings.redis,
        )
        .await
        .expect("redis");
        Worker::start(&self.settings, pool, queue, decoders)
            .await
            .expect("worker starts")
    }

    /// Runs a started worker until the returned handle stops it.
    pub fn run_worker(&self, worker: Worker) -> RunningWorker {
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(worker.run_until(async move {
            let _ = stopped.await;
        }));
        RunningWorker {
            stop: Some(stop),
            handle,
        }
    }

    /// Runs one task in this process without the queue.
    pub async fn ingest(&self, message: TaskMessage) -> Outcome {
        let pool = intake::store::pool(&SecretUrl::new(self.db.url.clone()), &self.settings.database).expect("pool");
        let meta = TaskMeta::from_message(message, Origin::Operator);
        startup::ingest_once(&self.settings, pool, startup::decoders(), meta)
            .await
            .expect("pipeline starts")
    }

    /// An `intake` command with this test's database, Redis and settings.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_intake"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.db.url)
            .env("REDIS_URL", &self.redis_url)
            .envs(&self.overrides)
            .stdin(Stdio::null());
        command
    }

    /// Starts `intake worker` as a process of its own.
    pub fn spawn_worker_process(&self, extra_env: &[(&str, &str)]) -> WorkerProcess {
        let log = self.dir.0.join(format!("worker-{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = self
            .command()
            .arg("worker")
            .env("INTAKE__LOG__LEVEL", "info")
            .env("INTAKE__LOG__FORMAT", "json")
            .envs(extra_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("intake worker starts");
        WorkerProcess { child, log }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // The test's clients live on the test's runtime, which is busy dropping this: clean up
        // through a connection of a runtime of its own.
        let settings = self.settings.clone();
        let redis = self.redis_url.clone();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                let url = SecretUrl::new(redis);
                if let Ok(queue) = RedisQueue::connect(&url, &settings.queue, &settings.redis).await {
                    let _ = queue.delete_all().await;
                    queue.quit().await;
                }
            });
        })
        .join();
    }
}

/// A worker running in this process.
pub struct RunningWorker {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<DrainReport, intake::startup::StartupError>>,
}

impl RunningWorker {
    pub async fn stop(mut self) -> DrainReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.handle)
            .await
            .expect("worker task")
            .expect("worker stops cleanly")
    }
}

impl Drop for RunningWorker {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// `intake worker` as a child process, killed if the test forgets it.
pub struct WorkerProcess {
    pub child: Child,
    pub log: PathBuf,
}

impl WorkerProcess {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit; `None` if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A price list of `rows` items; `row` decides each (sku, name, price) — an empty price is
/// written as is.
pub fn price_list(rows: usize, row: impl Fn(usize) -> (String, String, String)) -> String {
    let mut out = String::from("SKU,Name,Price,Color,Weight\n");
    for i in 0..rows {
        let (sku, name, price) = row(i);
        let color = ["red", "green", "blue", "black"][i % 4];
        out.push_str(&format!("{sku},\"{name}\",{price},{color},{}.{}\n", i % 7, i % 10));
    }
    out
}

/// A corpus of real files published in public repositories, kept under `tests/corpus/`
/// (`tests/corpus/SOURCES.md` says where each comes from and under which licence).
pub fn corpus_dir(part: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(part)
}
