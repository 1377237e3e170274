//! The `task_runs` record: the start of an attempt (with duplicate and already-applied
//! checks), failed attempts, and reading a record back as a result.

use chrono::{DateTime, Utc};
use intake_actors::domain::{
    AttemptError, Fingerprint, SupplierName, TaskCounts, TaskId, TaskMeta, TaskResult, TaskStatus,
};
use intake_actors::ports::StartDecision;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

/// A row of `task_runs`, as operators and `intake` read it.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct TaskRecord {
    pub task_id: Uuid,
    pub supplier_id: Option<Uuid>,
    pub supplier_name: String,
    pub parser_type: String,
    pub source: String,
    pub source_fingerprint: Option<String>,
    pub status: String,
    pub attempt: i32,
    pub rows_seen: i64,
    pub rows_stored: i64,
    pub rows_rejected: i64,
    pub items_created: i64,
    pub items_updated: i64,
    pub items_unchanged: i64,
    pub price_changes: i64,
    pub notes: serde_json::Value,
    pub error: Option<String>,
    pub errors: serde_json::Value,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const RECORD_COLUMNS: &str = "task_id, supplier_id, supplier_name, parser_type, source, \
     source_fingerprint, status::text AS status, attempt, rows_seen, rows_stored, rows_rejected, \
     items_created, items_updated, items_unchanged, price_changes, notes, error, errors, \
     started_at, finished_at";

impl TaskRecord {
    pub fn status(&self) -> Option<TaskStatus> {
        serde_json::from_value(serde_json::Value::String(self.status.clone())).ok()
    }

    pub fn to_result(&self) -> TaskResult {
        let duration_ms = self
            .finished_at
            .map(|f| (f - self.started_at).num_milliseconds().max(0) as u64)
            .unwrap_or(0);
        TaskResult {
            task_id: TaskId::from(self.task_id),
            supplier_name: self.supplier_name.clone(),
            parser_type: self.parser_type.clone(),
            status: self.status().unwrap_or(TaskStatus::Running),
            counts: TaskCounts {
                rows_seen: self.rows_seen as u64,
                rows_stored: self.rows_stored as u64,
                rows_rejected: self.rows_rejected as u64,
                items_created: self.items_created as u64,
                items_updated: self.items_updated as u64,
                items_unchanged: self.items_unchanged as u64,
                price_changes: self.price_changes as u64,
            },
            attempt: self.attempt.max(1) as u32,
            duration_ms,
            notes: serde_json::from_value(self.notes.clone()).unwrap_or_default(),
            error: self.error.clone(),
        }
    }
}

/// Reads a task record.
pub async fn find<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    task: TaskId,
) -> Result<Option<TaskRecord>, sqlx::Error> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM task_runs WHERE task_id = $1");
    sqlx::query_as::<_, TaskRecord>(sqlx::AssertSqlSafe(sql))
        .bind(task.as_uuid())
        .fetch_optional(executor)
        .await
}

/// Finds or creates the supplier; safe against a concurrent creation of the same name.
pub async fn supplier_id(conn: &mut PgConnection, name: &SupplierName) -> Result<Uuid, sqlx::Error> {
    loop {
        let id: Option<Uuid> = sqlx::query_scalar(
            "WITH created AS (
                 INSERT INTO suppliers (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id
             )
             SELECT id FROM created UNION ALL SELECT id FROM suppliers WHERE name = $1 LIMIT 1",
        )
        .bind(name.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        // None only when another transaction created it after this statement's snapshot.
        if let Some(id) = id {
            return Ok(id);
        }
    }
}

/// Records the start of an attempt and decides whether it runs.
pub async fn start(
    pool: &PgPool,
    task: &TaskMeta,
    fingerprint: &Fingerprint,
) -> Result<StartDecision, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let supplier = supplier_id(&mut tx, &task.supplier_name).await?;

    let sql = format!("SELECT {RECORD_COLUMNS} FROM task_runs WHERE task_id = $1 FOR UPDATE");
    let existing = sqlx::query_as::<_, TaskRecord>(sqlx::AssertSqlSafe(sql))
        .bind(task.task_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(record) = existing
        && record.status().is_some_and(|s| s.is_success())
    {
        tx.commit().await?;
        return Ok(StartDecision::AlreadyApplied(record.to_result()));
    }

    let message = task
        .message
        .as_ref()
        .and_then(|m| serde_json::to_value(m).ok());
    sqlx::query(
        "INSERT INTO task_runs (task_id, supplier_id, supplier_name, parser_type, source,
                                source_fingerprint, status, attempt, message, started_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, now())
         ON CONFLICT (task_id) DO UPDATE SET
             supplier_id = EXCLUDED.supplier_id,
             source_fingerprint = EXCLUDED.source_fingerprint,
             status = 'running',
             attempt = EXCLUDED.attempt,
             message = COALESCE(EXCLUDED.message, task_runs.message),
             started_at = now(),
             finished_at = NULL,
             updated_at = now()",
    )
    .bind(task.task_id.as_uuid())
    .bind(supplier)
    .bind(task.supplier_name.as_str())
    .bind(task.parser_type.as_str())
    .bind(task.source.describe())
    .bind(fingerprint.as_str())
    .bind(task.attempt as i32)
    .bind(message)
    .execute(&mut *tx)
    .await?;

    if !task.force {
        let last: Option<(Uuid, Option<String>)> = sqlx::query_as(
            "SELECT task_id, source_fingerprint FROM task_runs
             WHERE supplier_id = $1 AND status = 'completed' AND task_id <> $2
             ORDER BY finished_at DESC LIMIT 1",
        )
        .bind(supplier)
        .bind(task.task_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((previous, Some(last))) = last
            && last == fingerprint.as_str()
        {
            let note = format!(
                "the source is identical to the last successful ingestion (task {previous}); nothing was written. Enqueue with --force to ingest it again"
            );
            let sql = format!(
                "UPDATE task_runs SET status = 'skipped_duplicate', finished_at = now(), updated_at = now(),
                        notes = jsonb_build_array($2::text)
                 WHERE task_id = $1 RETURNING {RECORD_COLUMNS}"
            );
            let record = sqlx::query_as::<_, TaskRecord>(sqlx::AssertSqlSafe(sql))
                .bind(task.task_id.as_uuid())
                .bind(note)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(StartDecision::Duplicate(record.to_result()));
        }
    }
    tx.commit().await?;
    Ok(StartDecision::Proceed)
}

/// Records a failed attempt; a task already completed is left as it is.
pub async fn record_failure(
    pool: &PgPool,
    task: &TaskMeta,
    status: TaskStatus,
    error: &AttemptError,
) -> Result<(), sqlx::Error> {
    let error_json = serde_json::to_value(error).unwrap_or(serde_json::Value::Null);
    let message = task
        .message
        .as_ref()
        .and_then(|m| serde_json::to_value(m).ok());
    let finished = status == TaskStatus::DeadLettered;
    sqlx::query(
        "INSERT INTO task_runs (task_id, supplier_id, supplier_name, parser_type, source, status,
                                attempt, error, errors, message, finished_at)
         VALUES ($1, (SELECT id FROM suppliers WHERE name = $2), $2, $3, $4, $5::task_status,
                 $6, $7, jsonb_build_array($8::jsonb), $9, CASE WHEN $10 THEN now() END)
         ON CONFLICT (task_id) DO UPDATE SET
             status = EXCLUDED.status,
             attempt = EXCLUDED.attempt,
             error = EXCLUDED.error,
             errors = task_runs.errors || EXCLUDED.errors,
             finished_at = EXCLUDED.finished_at,
             updated_at = now()
         WHERE task_runs.status NOT IN ('completed', 'skipped_duplicate')",
    )
    .bind(task.task_id.as_uuid())
    .bind(task.supplier_name.as_str())
    .bind(task.parser_type.as_str())
    .bind(task.source.describe())
    .bind(status.as_str())
    .bind(error.attempt as i32)
    .bind(&error.message)
    .bind(error_json)
    .bind(message)
    .bind(finished)
    .execute(pool)
    .await
    .map(|_| ())
}
