//! A task's rows on their way in: streamed with `COPY` into temporary tables inside one
//! transaction, applied to the catalogue with a few set-based statements and committed together
//! with the task record. Either everything of a task is visible or nothing is.
//!
//! Two plans, chosen when the first batch of rows is ready:
//! - **first load** (the supplier has no items yet): each batch (`pipeline.batch_bytes` of encoded rows) is
//!   inserted as soon as it is staged, while the next batch is being read, so the database and
//!   the parser work at the same time;
//! - **compare** (the supplier has items): everything is staged, then compared with the
//!   catalogue in one join; only new and changed items are written.
//!
//! `COPY` borrows its connection for as long as it streams, across many actor messages, so the
//! transaction lives in a task of its own that the writer feeds through a bounded channel.

use std::collections::HashMap;
use std::time::{Duration, Instant};

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
    /// Opens a task's transaction; rows gather in batches of `batch_bytes` of COPY text.
    pub async fn open(pool: PgPool, task: TaskMeta, batch_bytes: usize) -> Result<Self, PortError> {
        let (commands, rx) = mpsc::channel(2);
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let session = tokio::spawn(session(pool, task, batch_bytes.max(1), rx, ready_tx));
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

/// What arrived while a batch was being merged, kept for after it.
enum Received {
    Commit(ParseSummary),
    Closed,
}

/// How the staged rows reach the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    FirstLoad,
    Compare,
}

/// The session's state apart from its transaction.
struct Batches {
    task: TaskMeta,
    supplier: Uuid,
    plan: Option<Plan>,
    /// Set when another delivery of this task has already committed it.
    applied: Option<TaskResult>,
    /// SKU hash → the batch it was last seen in: duplicates are found without the database.
    seen: HashMap<u64, u32>,
    batch: u32,
    /// Whether the current batch repeats an SKU of its own, or of an earlier batch.
    repeats_in_batch: bool,
    repeats_across: bool,
    repeats: bool,
    pending: Vec<u8>,
    /// Encoded rows gathered before they are staged (and, on a first load, inserted): enough
    /// that a statement's fixed costs vanish, few enough to bound the worker's memory.
    batch_bytes: usize,
    json: Vec<u8>,
    created: u64,
    history: u64,
    copying: Duration,
    merging: Duration,
}

impl Batches {
    fn add(&mut self, items: &[Item], rejections: &[Rejection]) {
        for item in items {
            match self.seen.insert(sku_hash(item.sku.as_str()), self.batch) {
                Some(b) if b == self.batch => self.repeats_in_batch = true,
                Some(_) => self.repeats_across = true,
                None => {}
            }
        }
        encode(&mut self.pending, &mut self.json, self.batch, items, rejections);
    }
}

async fn session(
    pool: PgPool,
    task: TaskMeta,
    batch_bytes: usize,
    mut commands: mpsc::Receiver<Command>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Result<TaskResult, PortError> {
    let started = Instant::now();
    let db = |e: sqlx::Error| classify(&e);
    let mut tx = pool.begin().await.map_err(db)?;
    // Hashing a million staged rows against the catalogue wants more than the 4 MB default.
    sqlx::query("SET LOCAL work_mem = '256MB'")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    for table in ["intake_stage", "intake_batch"] {
        let ddl = format!(
            "CREATE TEMP TABLE IF NOT EXISTS {table} (
                 row_number integer, batch integer, id uuid, sku text, name text,
                 price numeric(12, 2), characteristics jsonb,
                 error_type text, error_message text, row_data jsonb
             ) ON COMMIT DELETE ROWS"
        );
        sqlx::query(sqlx::AssertSqlSafe(ddl)).execute(&mut *tx).await.map_err(db)?;
    }
    let supplier = tasks::supplier_id(&mut tx, &task.supplier_name).await.map_err(db)?;
    let _ = ready.send(());

    let mut state = Batches {
        task,
        supplier,
        plan: None,
        applied: None,
        seen: HashMap::new(),
        batch: 0,
        repeats_in_batch: false,
        repeats_across: false,
        repeats: false,
        pending: Vec::with_capacity(batch_bytes.min(64 << 20) + (1 << 20)),
        batch_bytes,
        json: Vec::with_capacity(1024),
        created: 0,
        history: 0,
        copying: Duration::ZERO,
        merging: Duration::ZERO,
    };
    let mut stashed: Option<Received> = None;
    let summary = loop {
        let command = match stashed.take() {
            Some(Received::Commit(summary)) => break summary,
            Some(Received::Closed) => return Err(PortError::transient("task aborted")),
            None => commands.recv().await,
        };
        match command {
            Some(Command::Rows {
                items,
                rejections,
                credit,
            }) => {
                if state.applied.is_none() {
                    state.add(&items, &rejections);
                }
                drop((items, rejections, credit));
                if state.pending.len() >= state.batch_bytes {
                    stashed = flush(&mut tx, &mut state, Some(&mut commands)).await?;
                }
            }
            Some(Command::Commit(summary)) => break summary,
            // Aborted: the transaction rolls back as it is dropped.
            None => return Err(PortError::transient("task aborted")),
        }
    };
    flush(&mut tx, &mut state, None).await?;

    let merging = Instant::now();
    let result = finish(&mut tx, &mut state, summary, started).await?;
    state.merging += merging.elapsed();
    let committing = Instant::now();
    tx.commit().await.map_err(db)?;
    tracing::info!(
        task_id = %state.task.task_id,
        copy_ms = state.copying.as_millis() as u64,
        merge_ms = state.merging.as_millis() as u64,
        commit_ms = committing.elapsed().as_millis() as u64,
        "rows merged"
    );
    Ok(result)
}

fn sku_hash(sku: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(sku)
}

/// Chooses the plan, once: locks the task record and the supplier, and finds out whether
/// another delivery already applied this task.
async fn decide(tx: &mut Transaction<'static, Postgres>, state: &mut Batches) -> Result<Plan, PortError> {
    if let Some(plan) = state.plan {
        return Ok(plan);
    }
    let db = |e: sqlx::Error| classify(&e);
    // Another delivery of the same task may have committed while this one read its source.
    let status: Option<String> = sqlx::query_scalar("SELECT status::text FROM task_runs WHERE task_id = $1 FOR UPDATE")
        .bind(state.task.task_id.as_uuid())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    if matches!(status.as_deref(), Some("completed" | "skipped_duplicate"))
        && let Some(record) = tasks::find(&mut **tx, state.task.task_id).await.map_err(db)?
    {
        state.applied = Some(record.to_result());
        state.pending.clear();
    }
    // Lists of one supplier are applied one at a time; different suppliers in parallel.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('intake.supplier:' || $1::text, 0))")
        .bind(state.supplier)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    let first_load: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM supplier_items WHERE supplier_id = $1)")
        .bind(state.supplier)
        .fetch_one(&mut **tx)
        .await
        .map_err(db)?;
    let plan = if first_load { Plan::FirstLoad } else { Plan::Compare };
    state.plan = Some(plan);
    Ok(plan)
}

/// Stages the pending rows and, on a first load, inserts them. While the insert runs, more
/// rows are read from `commands` (when given) into the next batch.
async fn flush(
    tx: &mut Transaction<'static, Postgres>,
    state: &mut Batches,
    commands: Option<&mut mpsc::Receiver<Command>>,
) -> Result<Option<Received>, PortError> {
    let db = |e: sqlx::Error| classify(&e);
    let plan = decide(tx, state).await?;
    if state.applied.is_some() || state.pending.is_empty() {
        state.pending.clear();
        return Ok(None);
    }
    let target = match plan {
        Plan::FirstLoad => "intake_batch",
        Plan::Compare => "intake_stage",
    };
    let copying = Instant::now();
    let copy_sql = format!("COPY {target} ({STAGE_COLUMNS}) FROM STDIN");
    let mut copy = tx.copy_in_raw(&copy_sql).await.map_err(db)?;
    copy.send(state.pending.as_slice()).await.map_err(db)?;
    copy.finish().await.map_err(db)?;
    state.copying += copying.elapsed();
    state.pending.clear();
    let (in_batch, across) = (state.repeats_in_batch, state.repeats_across);
    state.repeats |= in_batch || across;
    state.repeats_in_batch = false;
    state.repeats_across = false;
    state.batch += 1;
    if plan == Plan::Compare {
        return Ok(None);
    }

    let merging = Instant::now();
    let sql = if in_batch || across { INSERT_BATCH_WITH_REPEATS } else { INSERT_BATCH };
    let insert = sqlx::query_as::<_, (i64, i64)>(sql)
        .bind(state.task.task_id.as_uuid())
        .bind(state.supplier)
        .fetch_one(&mut **tx);
    let mut stashed = None;
    let (created, history) = match commands {
        None => insert.await.map_err(db)?,
        Some(commands) => {
            tokio::pin!(insert);
            loop {
                tokio::select! {
                    biased;
                    done = &mut insert => break done.map_err(db)?,
                    command = commands.recv(), if stashed.is_none() && state.pending.len() < state.batch_bytes => {
                        match command {
                            Some(Command::Rows { items, rejections, credit }) => {
                                state.add(&items, &rejections);
                                drop((items, rejections, credit));
                            }
                            Some(Command::Commit(summary)) => stashed = Some(Received::Commit(summary)),
                            None => stashed = Some(Received::Closed),
                        }
                    }
                }
            }
        }
    };
    state.created += created as u64;
    state.history += history as u64;
    // Rejections, and every row when SKUs repeat (to log the superseded ones), are kept.
    sqlx::query(
        "INSERT INTO intake_stage SELECT * FROM intake_batch WHERE error_type IS NOT NULL OR $1",
    )
    .bind(state.repeats)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    sqlx::query("TRUNCATE intake_batch").execute(&mut **tx).await.map_err(db)?;
    state.merging += merging.elapsed();
    Ok(stashed)
}

/// Applies what remains and completes the task record, inside the task's transaction.
async fn finish(
    tx: &mut Transaction<'static, Postgres>,
    state: &mut Batches,
    summary: ParseSummary,
    started: Instant,
) -> Result<TaskResult, PortError> {
    let db = |e: sqlx::Error| classify(&e);
    if let Some(result) = state.applied.take() {
        return Ok(result);
    }
    let task_id = state.task.task_id.as_uuid();
    let supplier = state.supplier;
    let plan = decide(tx, state).await?;

    let (stored, created, updated, price_changes, duplicates) = match plan {
        Plan::FirstLoad => {
            let duplicates = if state.repeats {
                sqlx::query(LOG_SUPERSEDED)
                    .bind(task_id)
                    .bind(supplier)
                    .execute(&mut **tx)
                    .await
                    .map_err(db)?
                    .rows_affected()
            } else {
                0
            };
            (state.created as i64, state.created as i64, 0, state.history as i64, duplicates)
        }
        Plan::Compare => {
            let duplicates = if state.repeats {
                sqlx::query(DEDUPLICATE)
                    .bind(task_id)
                    .bind(supplier)
                    .execute(&mut **tx)
                    .await
                    .map_err(db)?
                    .rows_affected()
            } else {
                0
            };
            // The comparison joins two large sets: give the planner their sizes.
            sqlx::query("ANALYZE intake_stage (sku)").execute(&mut **tx).await.map_err(db)?;
            let (stored, created, updated, changes): (i64, i64, i64, i64) = sqlx::query_as(MERGE)
                .bind(task_id)
                .bind(supplier)
                .fetch_one(&mut **tx)
                .await
                .map_err(db)?;
            (stored, created, updated, changes, duplicates)
        }
    };

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
    complete(tx, state.task.task_id, supplier, &counts, &notes).await?;

    Ok(TaskResult {
        task_id: state.task.task_id,
        supplier_name: state.task.supplier_name.to_string(),
        parser_type: state.task.parser_type.to_string(),
        status: TaskStatus::Completed,
        counts,
        attempt: state.task.attempt,
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


/// A first load's batch with no SKU repeated: every row is a new item with its first price.
/// Returns (items created, price history rows).
const INSERT_BATCH: &str = "
WITH created AS (
    INSERT INTO supplier_items (id, supplier_id, supplier_sku, name, current_price, characteristics)
    SELECT id, $2, sku, name, price, characteristics FROM intake_batch WHERE error_type IS NULL
    RETURNING id, current_price
), history AS (
    INSERT INTO price_history (supplier_item_id, price, task_id)
    SELECT id, current_price, $1 FROM created
    RETURNING 1
)
SELECT (SELECT count(*) FROM created), (SELECT count(*) FROM history)";

/// A first load's batch that repeats SKUs, of its own or of earlier batches: the last row of
/// each SKU wins; an item this task already created takes the new values, and its one price
/// history row the new price.
const INSERT_BATCH_WITH_REPEATS: &str = "
WITH src AS (
    SELECT DISTINCT ON (sku) id, sku, name, price, characteristics
    FROM intake_batch WHERE error_type IS NULL
    ORDER BY sku, row_number DESC
), upserted AS (
    INSERT INTO supplier_items (id, supplier_id, supplier_sku, name, current_price, characteristics)
    SELECT id, $2, sku, name, price, characteristics FROM src
    ON CONFLICT (supplier_id, supplier_sku) DO UPDATE
    SET name = EXCLUDED.name, current_price = EXCLUDED.current_price,
        characteristics = EXCLUDED.characteristics, updated_at = now()
    RETURNING id, current_price, (xmax = 0) AS inserted
), history AS (
    INSERT INTO price_history (supplier_item_id, price, task_id)
    SELECT id, current_price, $1 FROM upserted WHERE inserted
    RETURNING 1
), corrected AS (
    UPDATE price_history ph SET price = u.current_price
    FROM upserted u
    WHERE NOT u.inserted AND ph.supplier_item_id = u.id AND ph.task_id = $1
    RETURNING 1
)
SELECT (SELECT count(*) FROM upserted WHERE inserted), (SELECT count(*) FROM history)";

/// Logs, after a first load, every row whose SKU a later row repeated.
const LOG_SUPERSEDED: &str = "
WITH repeated AS (
    SELECT sku, max(row_number) AS keep
    FROM intake_stage WHERE error_type IS NULL
    GROUP BY sku HAVING count(*) > 1
)
INSERT INTO parsing_logs (task_id, supplier_id, error_type, error_message, row_number, row_data)
SELECT $1, $2, 'duplicate_sku',
       format('SKU %s appears again in row %s; the later row wins', s.sku, r.keep),
       s.row_number,
       jsonb_build_object('sku', s.sku, 'name', s.name, 'price', s.price) || s.characteristics
FROM intake_stage s JOIN repeated r ON r.sku = s.sku
WHERE s.error_type IS NULL AND s.row_number < r.keep";

/// Logs and removes, before a comparison, every staged row whose SKU a later row repeats.
const DEDUPLICATE: &str = "
WITH repeated AS (
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
FROM superseded";

/// Compares the staged list with the supplier's items in one join: new items are inserted;
/// existing ones are rewritten only when something changed, so an unchanged row costs a read
/// and nothing else. A price history row marks every new price.
/// Returns (stored, created, updated, price history rows).
const MERGE: &str = "
WITH diff AS MATERIALIZED (
    SELECT src.id AS new_id, cur.id AS cur_id, cur.current_price AS old_price,
           src.sku, src.name, src.price, src.characteristics
    FROM intake_stage src LEFT JOIN supplier_items cur
      ON cur.supplier_id = $2 AND cur.supplier_sku = src.sku
    WHERE src.error_type IS NULL
      AND (cur.id IS NULL
           OR (cur.name, cur.current_price, cur.characteristics)
              IS DISTINCT FROM (src.name, src.price, src.characteristics))
), updated AS (
    UPDATE supplier_items si
    SET name = d.name, current_price = d.price, characteristics = d.characteristics,
        updated_at = now()
    FROM diff d
    WHERE d.cur_id IS NOT NULL AND si.id = d.cur_id
    RETURNING si.id, d.old_price, si.current_price
), created AS (
    INSERT INTO supplier_items (id, supplier_id, supplier_sku, name, current_price, characteristics)
    SELECT new_id, $2, sku, name, price, characteristics FROM diff WHERE cur_id IS NULL
    RETURNING id, current_price
), history AS (
    INSERT INTO price_history (supplier_item_id, price, task_id)
    SELECT id, current_price, $1 FROM created
    UNION ALL
    SELECT id, current_price, $1 FROM updated WHERE old_price <> current_price
    RETURNING 1
)
SELECT (SELECT count(*) FROM intake_stage WHERE error_type IS NULL), (SELECT count(*) FROM created),
       (SELECT count(*) FROM updated), (SELECT count(*) FROM history)";
