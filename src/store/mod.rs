//! The catalogue in PostgreSQL: connecting, migrating, and the [`Catalog`] port — task records,
//! staging a task's rows and merging them in one transaction.

mod copy_text;
mod memory;
mod merge;
pub mod metadata;
pub mod roles;
mod staging;
mod story;
mod tasks;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use intake_actors::domain::{AttemptError, Fingerprint, TaskMeta, TaskStatus};
use intake_actors::ports::{Catalog, PortError, Staging, StartDecision};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::settings::{DatabaseSettings, SecretUrl};

pub use memory::{SupplierMapping, forget as forget_mapping, show as show_mapping};
pub use staging::PgStaging;
pub use story::{PriceChange, Reject, TaskFilter, last_completed_task, price_changes, rejects_of_task, tasks};
pub use tasks::{TaskRecord, find as find_task};

/// The migrations, compiled in.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How the database's migrations compare with the ones compiled into this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration of this build is applied (newer ones may be too: they keep the old
    /// schema working, so an older release may run during a rollout).
    Current,
    /// Migrations of this build are missing: `intake migrate up` has not run.
    Behind { missing: Vec<i64> },
}

/// Reads which migrations the database has applied.
pub async fn schema_state(pool: &PgPool) -> Result<SchemaState, sqlx::Error> {
    let applied: Vec<i64> = match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(pool)
        .await
    {
        Ok(applied) => applied,
        // No migration table: nothing applied yet.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
        Err(e) => return Err(e),
    };
    let missing: Vec<i64> = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect();
    Ok(if missing.is_empty() {
        SchemaState::Current
    } else {
        SchemaState::Behind { missing }
    })
}

/// Parses the URL (an error names no password) and builds a pool that connects on first use,
/// so a worker started before its database waits for it instead of exiting.
/// Opens one connection and closes it, within `timeout`: a refused or misaddressed server is
/// reported at once with its own error, not as a pool that timed out.
pub async fn check_connection(url: &SecretUrl, timeout: Duration) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let options = PgConnectOptions::from_str(url.expose())
        .map_err(|e| sqlx::Error::Configuration(format!("DATABASE_URL {}: {e}", url.redacted()).into()))?;
    match tokio::time::timeout(timeout, sqlx::PgConnection::connect_with(&options)).await {
        Ok(connection) => connection?.close().await,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

pub fn pool(url: &SecretUrl, settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url.expose())
        .map_err(|e| sqlx::Error::Configuration(format!("DATABASE_URL {}: {e}", url.redacted()).into()))?;
    let options = options.application_name("intake");
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections.max(2))
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_lazy_with(options))
}

/// Whether an error of the database can pass: connection trouble and shutdowns (the database
/// is down), timeouts and conflicts (this call failed), or neither (the data is wrong).
pub fn classify(error: &sqlx::Error) -> PortError {
    let message = format!("database: {error}");
    let down = match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    };
    if down {
        return PortError::store_down(message);
    }
    let transient = match error {
        sqlx::Error::WorkerCrashed | sqlx::Error::Protocol(_) => true,
        // A unique violation (23505) is what two transactions racing to insert the same row
        // see; the next attempt finds the winner's row. The data itself never causes one:
        // rows are deduplicated before they are inserted.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            let class = &code[..code.len().min(2)];
            matches!(class, "40" | "53" | "55" | "57" | "58") || code == "25P03" || code == "23505"
        }),
        _ => false,
    };
    if transient {
        PortError::transient(message)
    } else {
        PortError::permanent(message)
    }
}

/// The catalogue store over one pool.
#[derive(Clone)]
pub struct PgCatalog {
    pool: PgPool,
}

impl PgCatalog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Catalog for PgCatalog {
    async fn start_task(&self, task: &TaskMeta, fingerprint: &Fingerprint) -> Result<StartDecision, PortError> {
        tasks::start(&self.pool, task, fingerprint)
            .await
            .map_err(|e| classify(&e))
    }

    async fn open_staging(&self, task: &TaskMeta) -> Result<Box<dyn Staging>, PortError> {
        let staging = PgStaging::open(self.pool.clone(), task.clone()).await?;
        Ok(Box::new(staging))
    }

    async fn record_failure(
        &self,
        task: &TaskMeta,
        status: TaskStatus,
        errors: &[AttemptError],
    ) -> Result<(), PortError> {
        tasks::record_failure(&self.pool, task, status, errors)
            .await
            .map_err(|e| classify(&e))
    }

    async fn log_task_error(&self, task: &TaskMeta, message: &str) -> Result<(), PortError> {
        sqlx::query(
            "INSERT INTO parsing_logs (task_id, supplier_id, error_type, error_message)
             VALUES ($1, (SELECT id FROM suppliers WHERE name = $2), 'task_error', $3)",
        )
        .bind(task.task_id.as_uuid())
        .bind(task.supplier_name.as_str())
        .bind(message)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| classify(&e))
    }

    async fn ping(&self) -> Result<(), PortError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}
