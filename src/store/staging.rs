//! A task's rows on their way in: streamed with `COPY` into a temporary table inside one
//! transaction, then merged into the catalogue with a few set-based statements and committed
//! together with the task record. Either everything of a task is visible or nothing is.
//!
//! `COPY` borrows its connection for as long as it streams, across many actor messages, so the
//! transaction lives in a task of its own that the writer feeds through a bounded channel.

use async_trait::async_trait;
use intake_actors::domain::{Item, Rejection, TaskCounts, TaskId, TaskMeta, TaskResult, TaskStatus};
use intake_actors::pipeline::flow::Credit;
use intake_actors::ports::{ParseSummary, PortError, Staging};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::copy_text::{STAGE_COLUMNS, encode};
use super::{classify, tasks};

enum Command {
    Rows {
        items: Vec<Item>,
        rejections: Vec<Rejection>,
        credit: Credit,
    },
    Commit(ParseSummary),
}

/// The writer's handle on a task being staged.
pub struct PgStaging {
    commands: mpsc::Sender<Command>,
    /// Taken when the session's end is awaited.
    session: Option<JoinHandle<Result<TaskResult, PortError>>>,
}

impl PgStaging {
    pub async fn open(pool: PgPool, task: TaskMeta) -> Result<Self, PortError> {
        let (commands, rx) = mpsc::channel(2);
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let session = tokio::spawn(session(pool, task, rx, ready_tx));
        let mut staging = Self {
            commands,
            session: Some(session),
        };
        // Wait until COPY has started, so a database that is down fails the task right here.
        match ready.await {
            Ok(()) => Ok(staging),
            Err(_) => Err(staging.end().await.err().unwrap_or_else(|| {
                PortError::transient("staging ended before it started")
            })),
        }
    }

    /// Waits for the session to end and returns how it ended.
    async fn end(&mut self) -> Result<TaskResult, PortError> {
        match self.session.take() {
            Some(session) => match session.await {
                Ok(result) => result,
                Err(e) => Err(PortError::transient(format!("staging stopped: {e}"))),
            },
            None => Err(PortError::transient("staging already ended")),
        }
    }
}

#[async_trait]
impl Staging for PgStaging {
    async fn stage(
        &mut self,
        items: Vec<Item>,
        rejections: Vec<Rejection>,
        credit: Credit,
    ) -> Result<(), PortError> {
        let rows = Command::Rows {
            items,
            rejections,
            credit,
        };
        if self.commands.send(rows).await.is_ok() {
            return Ok(());
        }
        // The session ended early, so it failed: say why.
        match self.end().await {
            Err(e) => Err(e),
            Ok(_) => Err(PortError::transient("staging ended early")),
        }
    }

    async fn commit(mut self: Box<Self>, summary: ParseSummary) -> Result<TaskResult, PortError> {
        // A failed send means the session already ended; its result says why.
        let _ = self.commands.send(Command::Commit(summary)).await;
        self.end().await
    }
}

async fn session(
    pool: PgPool,
    task: TaskMeta,
    mut commands: mpsc::Receiver<Command>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Result<TaskResult, PortError> {
    let started = std::time::Instant::now();
    let db = |e: sqlx::Error| classify(&e);
    let mut tx = pool.begin().await.map_err(db)?;
    // Sorting and hashing a million staged rows wants more than the 4 MB default.
    sqlx::query("SET LOCAL work_mem = '64MB'")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS intake_stage (
             row_number integer,
             sku text,
             name text,
             price numeric(12, 2),
             characteristics jsonb,
             error_type text,
             error_message text,
             row_data jsonb
         ) ON COMMIT DELETE ROWS",
    )
    .execute(&mut *tx)
    .await
    .map_err(db)?;

    let mut copying = std::time::Duration::ZERO;
    let summary = {
        let copy_sql = format!("COPY intake_stage ({STAGE_COLUMNS}) FROM STDIN");
        let mut copy = tx.copy_in_raw(&copy_sql).await.map_err(db)?;
        let _ = ready.send(());
        let mut buffer = Vec::with_capacity(1 << 20);
        let mut json = Vec::with_capacity(1024);
        let summary = loop {
            match commands.recv().await {
                Some(Command::Rows {
                    items,
                    rejections,
                    credit,
                }) => {
                    buffer.clear();
                    encode(&mut buffer, &mut json, &items, &rejections);
                    drop((items, rejections));
                    let sending = std::time::Instant::now();
                    copy.send(buffer.as_slice()).await.map_err(db)?;
                    copying += sending.elapsed();
                    drop(credit);
                }
                Some(Command::Commit(summary)) => break summary,
                None => {
                    // Aborted: the transaction rolls back as it is dropped.
                    let _ = copy.abort("task aborted").await;
                    return Err(PortError::transient("task aborted"));
                }
            }
        };
        let finishing = std::time::Instant::now();
        copy.finish().await.map_err(db)?;
        copying += finishing.elapsed();
        summary
    };

    let merging = std::time::Instant::now();
    let result = merge(&mut tx, &task, summary, started).await?;
    let merge_ms = merging.elapsed().as_millis() as u64;
    let committing = std::time::Instant::now();
    tx.commit().await.map_err(db)?;
    tracing::info!(
        task_id = %task.task_id,
        copy_ms = copying.as_millis() as u64,
        merge_ms,
        commit_ms = committing.elapsed().as_millis() as u64,
        "rows merged"
    );
    Ok(result)
}

/// Applies the staged rows and completes the task record, inside the task's transaction.
async fn merge(
    tx: &mut Transaction<'static, Postgres>,
    task: &TaskMeta,
    summary: ParseSummary,
    started: std::time::Instant,
) -> Result<TaskResult, PortError> {
    let db = |e: sqlx::Error| classify(&e);
    let task_id = task.task_id.as_uuid();
    let supplier = tasks::supplier_id(tx, &task.supplier_name).await.map_err(db)?;

    // Another delivery of the same task may have committed while this one staged.
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status::text FROM task_runs WHERE task_id = $1 FOR UPDATE",
    )
    .bind(task_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    if matches!(status.as_deref(), Some("completed" | "skipped_duplicate"))
        && let Some(record) = tasks::find(&mut **tx, task.task_id).await.map_err(db)?
    {
        return Ok(record.to_result());
    }

    // Merges of one supplier's lists run one at a time; different suppliers in parallel.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('intake.supplier:' || $1::text, 0))")
        .bind(supplier)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    sqlx::query("ANALYZE intake_stage")
        .execute(&mut **tx)
        .await
        .map_err(db)?;

    // Rows that repeat an SKU: the last occurrence in the file wins, the others are logged.
    let duplicates = sqlx::query(
        "WITH repeated AS (
             SELECT sku, max(row_number) AS keep
             FROM intake_stage WHERE error_type IS NULL
             GROUP BY sku HAVING count(*) > 1
         ), superseded AS (
             DELETE FROM intake_stage s USING repeated r
             WHERE s.error_type IS NULL AND s.sku = r.sku AND s.row_number < r.keep
             RETURNING s.row_number, s.sku, s.name, s.price, s.characteristics, r.keep
         )
         INSERT INTO parsing_logs (task_id, supplier_id, error_type, error_message, row_number, row_data)
         SELECT $1, $2, 'duplicate_sku',
                format('SKU %s appears again in row %s; the later row wins', sku, keep),
                row_number,
                jsonb_build_object('sku', sku, 'name', name, 'price', price) || characteristics
         FROM superseded",
    )
    .bind(task_id)
    .bind(supplier)
    .execute(&mut **tx)
    .await
    .map_err(db)?
    .rows_affected();

    // New items are inserted; existing ones are rewritten only when something changed, so an
    // unchanged row costs a read and nothing else. A price history row marks every new price.
    let (stored, created, updated, price_changes): (i64, i64, i64, i64) = sqlx::query_as(
        "WITH src AS MATERIALIZED (
             SELECT sku, name, price, characteristics FROM intake_stage WHERE error_type IS NULL
         ), changed AS (
             SELECT cur.id, cur.current_price AS old_price, src.name, src.price, src.characteristics
             FROM src JOIN supplier_items cur
               ON cur.supplier_id = $2 AND cur.supplier_sku = src.sku
             WHERE (cur.name, cur.current_price, cur.characteristics)
                   IS DISTINCT FROM (src.name, src.price, src.characteristics)
         ), updated AS (
             UPDATE supplier_items si
             SET name = c.name, current_price = c.price, characteristics = c.characteristics,
                 updated_at = now()
             FROM changed c
             WHERE si.id = c.id
             RETURNING si.id, c.old_price, si.current_price
         ), created AS (
             INSERT INTO supplier_items (supplier_id, supplier_sku, name, current_price, characteristics)
             SELECT $2, src.sku, src.name, src.price, src.characteristics FROM src
             WHERE NOT EXISTS (
                 SELECT 1 FROM supplier_items cur
                 WHERE cur.supplier_id = $2 AND cur.supplier_sku = src.sku
             )
             RETURNING id, current_price
         ), history AS (
             INSERT INTO price_history (supplier_item_id, price, task_id)
             SELECT id, current_price, $1 FROM created
             UNION ALL
             SELECT id, current_price, $1 FROM updated WHERE old_price <> current_price
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM src), (SELECT count(*) FROM created),
                (SELECT count(*) FROM updated), (SELECT count(*) FROM history)",
    )
    .bind(task_id)
    .bind(supplier)
    .fetch_one(&mut **tx)
    .await
    .map_err(db)?;

    let rejected = sqlx::query(
        "INSERT INTO parsing_logs (task_id, supplier_id, error_type, error_message, row_number, row_data)
         SELECT $1, $2, error_type, error_message, row_number, row_data
         FROM intake_stage WHERE error_type IS NOT NULL",
    )
    .bind(task_id)
    .bind(supplier)
    .execute(&mut **tx)
    .await
    .map_err(db)?
    .rows_affected();

    let counts = TaskCounts {
        rows_seen: summary.rows_seen,
        rows_stored: stored as u64,
        rows_rejected: rejected + duplicates,
        items_created: created as u64,
        items_updated: updated as u64,
        items_unchanged: (stored - created - updated).max(0) as u64,
        price_changes: price_changes as u64,
    };
    let mut notes = summary.notes;
    if duplicates > 0 {
        notes.push(format!("{duplicates} rows repeated an SKU; the last occurrence of each was kept"));
    }
    complete(tx, task.task_id, supplier, &counts, &notes).await?;

    Ok(TaskResult {
        task_id: task.task_id,
        supplier_name: task.supplier_name.to_string(),
        parser_type: task.parser_type.to_string(),
        status: TaskStatus::Completed,
        counts,
        attempt: task.attempt,
        duration_ms: started.elapsed().as_millis() as u64,
        notes,
        error: None,
    })
}

async fn complete(
    tx: &mut Transaction<'static, Postgres>,
    task: TaskId,
    supplier: Uuid,
    counts: &TaskCounts,
    notes: &[String],
) -> Result<(), PortError> {
    sqlx::query(
        "UPDATE task_runs SET
             status = 'completed', supplier_id = $2,
             rows_seen = $3, rows_stored = $4, rows_rejected = $5,
             items_created = $6, items_updated = $7, items_unchanged = $8, price_changes = $9,
             notes = $10, error = NULL, finished_at = now(), updated_at = now()
         WHERE task_id = $1",
    )
    .bind(task.as_uuid())
    .bind(supplier)
    .bind(counts.rows_seen as i64)
    .bind(counts.rows_stored as i64)
    .bind(counts.rows_rejected as i64)
    .bind(counts.items_created as i64)
    .bind(counts.items_updated as i64)
    .bind(counts.items_unchanged as i64)
    .bind(counts.price_changes as i64)
    .bind(serde_json::to_value(notes).unwrap_or_default())
    .execute(&mut **tx)
    .await
    .map_err(|e| classify(&e))?;
    Ok(())
}
