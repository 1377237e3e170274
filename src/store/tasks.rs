//! The `task_runs` record: the start of an attempt (with duplicate and already-applied
//! checks), failed attempts, and reading a record back as a result.

use chrono::{DateTime, Utc};
use intake_actors::domain::{
    AttemptError, Fingerprint, SupplierName, TaskCounts, TaskId, TaskMeta, TaskResult, TaskStatus, TaskType,
};
use intake_actors::ports::StartDecision;
use sqlx::{FromRow, PgConnection, PgPool};

use crate::redact;
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
    pub items_disappeared: i64,
    pub items_returned: i64,
    pub notes: serde_json::Value,
    pub decisions: Option<serde_json::Value>,
    pub error: Option<String>,
    pub errors: serde_json::Value,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub(super) const RECORD_COLUMNS: &str = "task_id, supplier_id, supplier_name, parser_type, source, \
     source_fingerprint, status::text AS status, attempt, rows_seen, rows_stored, rows_rejected, \
     items_created, items_updated, items_unchanged, price_changes, items_disappeared, items_returned, \
     notes, error, errors, decisions, \
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
                items_disappeared: self.items_disappeared as u64,
                items_returned: self.items_returned as u64,
            },
            attempt: self.attempt.max(1) as u32,
            duration_ms,
            notes: serde_json::from_value(self.notes.clone()).unwrap_or_default(),
            error: self.error.clone(),
            decisions: self.decisions.clone().and_then(|d| serde_json::from_value(d).ok()),
            task_type: TaskType::PriceList,
            metadata: None,
        }
    }
}

/// Reads a task record.
pub async fn find<'e>(executor: impl sqlx::PgExecutor<'e>, task: TaskId) -> Result<Option<TaskRecord>, sqlx::Error> {
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
pub async fn start(pool: &PgPool, task: &TaskMeta, fingerprint: &Fingerprint) -> Result<StartDecision, sqlx::Error> {
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

    sqlx::query(
        "INSERT INTO task_runs (task_id, supplier_id, supplier_name, parser_type, source,
                                source_fingerprint, status, attempt, message, list_at, errors, started_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $10, now())
         ON CONFLICT (task_id) DO UPDATE SET
             supplier_id = EXCLUDED.supplier_id,
             source_fingerprint = EXCLUDED.source_fingerprint,
             status = 'running',
             attempt = EXCLUDED.attempt,
             message = COALESCE(EXCLUDED.message, task_runs.message),
             list_at = EXCLUDED.list_at,
             -- The message carries every failed attempt, those that could not be recorded
             -- while the database was away included.
             errors = CASE WHEN jsonb_array_length(EXCLUDED.errors) > jsonb_array_length(task_runs.errors)
                           THEN EXCLUDED.errors ELSE task_runs.errors END,
             started_at = now(),
             finished_at = NULL,
             updated_at = now()",
    )
    .bind(task.task_id.as_uuid())
    .bind(supplier)
    .bind(task.supplier_name.as_str())
    .bind(task.parser_type.as_str())
    .bind(redact::source(&task.source))
    .bind(fingerprint.as_str())
    .bind(task.attempt as i32)
    .bind(stored_message(task))
    .bind(task.list_at)
    .bind(history(task.message.as_ref().map_or(&[][..], |m| &m.errors)))
    .execute(&mut *tx)
    .await?;

    if let Some(note) = superseded_by(&mut tx, supplier, task).await? {
        let record = finish_skipped(&mut tx, task.task_id, "superseded", &note).await?;
        tx.commit().await?;
        return Ok(StartDecision::Skipped(record.to_result()));
    }

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
            let record = finish_skipped(&mut tx, task.task_id, "skipped_duplicate", &note).await?;
            tx.commit().await?;
            return Ok(StartDecision::Skipped(record.to_result()));
        }
    }
    let remembered = super::memory::remembered(&mut tx, supplier).await?;
    tx.commit().await?;
    Ok(StartDecision::Proceed { remembered })
}

/// Whether a newer list of the supplier is already applied, and if so the note that says so.
/// A forced task is never superseded.
pub async fn superseded_by(
    conn: &mut PgConnection,
    supplier: Uuid,
    task: &TaskMeta,
) -> Result<Option<String>, sqlx::Error> {
    if task.force {
        return Ok(None);
    }
    let applied: Option<(Option<DateTime<Utc>>, Option<Uuid>)> =
        sqlx::query_as("SELECT applied_list_at, applied_task_id FROM suppliers WHERE id = $1")
            .bind(supplier)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match applied {
        Some((Some(applied_at), applied_task)) if applied_at > task.list_at => Some(format!(
            "a newer list of this supplier (of {}, task {}) is already applied; this list (of {}) changed nothing. Enqueue or replay it with --force to apply it anyway",
            applied_at.to_rfc3339(),
            applied_task.map(|t| t.to_string()).unwrap_or_else(|| "?".into()),
            task.list_at.to_rfc3339()
        )),
        _ => None,
    })
}

/// Ends a task that applies nothing, with the note that says why.
pub async fn finish_skipped(
    conn: &mut PgConnection,
    task: TaskId,
    status: &str,
    note: &str,
) -> Result<TaskRecord, sqlx::Error> {
    let sql = format!(
        "UPDATE task_runs SET status = $2::task_status, finished_at = now(), updated_at = now(),
                notes = jsonb_build_array($3::text), error = NULL
         WHERE task_id = $1 RETURNING {RECORD_COLUMNS}"
    );
    sqlx::query_as::<_, TaskRecord>(sqlx::AssertSqlSafe(sql))
        .bind(task.as_uuid())
        .bind(status)
        .bind(note)
        .fetch_one(&mut *conn)
        .await
}

/// A task's failed attempts as its record keeps them: error texts masked.
fn history(errors: &[AttemptError]) -> serde_json::Value {
    let shown: Vec<AttemptError> = errors
        .iter()
        .map(|e| AttemptError {
            message: redact::text(&e.message),
            ..e.clone()
        })
        .collect();
    serde_json::to_value(shown).unwrap_or_else(|_| serde_json::json!([]))
}

/// The message as the task record keeps it: secrets of source URLs masked.
/// NUL characters, which a message refused for them still carries, are dropped: no JSONB
/// value can hold one.
fn stored_message(task: &TaskMeta) -> Option<serde_json::Value> {
    let json = serde_json::to_string(&redact::message(task.message.as_ref()?)).ok()?;
    serde_json::from_str(&json.replace("\\u0000", "")).ok()
}

/// Records a failed attempt with the task's whole error history (attempts that failed while
/// the database was away included); a task already finished for good is left as it is.
pub async fn record_failure(
    pool: &PgPool,
    task: &TaskMeta,
    status: TaskStatus,
    errors: &[AttemptError],
) -> Result<(), sqlx::Error> {
    let Some(last) = errors.last() else {
        return Ok(());
    };
    let errors_json = history(errors);
    let finished = status == TaskStatus::DeadLettered;
    sqlx::query(
        "INSERT INTO task_runs (task_id, supplier_id, supplier_name, parser_type, source, status,
                                attempt, error, errors, message, list_at, finished_at)
         VALUES ($1, (SELECT id FROM suppliers WHERE name = $2), $2, $3, $4, $5::task_status,
                 $6, $7, $8, $9, $10, CASE WHEN $11 THEN now() END)
         ON CONFLICT (task_id) DO UPDATE SET
             status = EXCLUDED.status,
             attempt = EXCLUDED.attempt,
             error = EXCLUDED.error,
             errors = CASE WHEN jsonb_array_length(EXCLUDED.errors) >= jsonb_array_length(task_runs.errors)
                           THEN EXCLUDED.errors ELSE task_runs.errors || jsonb_build_array(EXCLUDED.errors -> -1) END,
             finished_at = EXCLUDED.finished_at,
             updated_at = now()
         WHERE task_runs.status NOT IN ('completed', 'skipped_duplicate', 'superseded')",
    )
    .bind(task.task_id.as_uuid())
    .bind(task.supplier_name.as_str())
    .bind(task.parser_type.as_str())
    .bind(redact::source(&task.source))
    .bind(status.as_str())
    .bind(last.attempt as i32)
    .bind(redact::text(&last.message))
    .bind(errors_json)
    .bind(stored_message(task))
    .bind(task.list_at)
    .bind(finished)
    .execute(pool)
    .await
    .map(|_| ())
}
