//! A task's rows on their way in: staged chunk by chunk into a temporary table inside one
//! transaction while the parser reads, then applied to the catalogue with a few set-based
//! statements and committed together with the task record. Either everything of a task is
//! visible or nothing is.
//!
//! A supplier's first list is inserted whole; a later one is compared with the catalogue in
//! one join, and only new and changed items are written.
//!
//! The transaction spans many actor messages, so it lives in a task of its own that the writer
//! feeds through a bounded channel.
//!
//! Rows are staged with `COPY`, except for a task of a single chunk, which is staged with one
//! `INSERT … SELECT FROM UNNEST(…)`: the driver does not disable Nagle's algorithm, so the two
//! consecutive writes that end a `COPY` (data, then done) wait ~40 ms for a delayed ACK —
//! nothing for a large list, most of the time of a small one. For large lists `COPY` is many
//! times faster than array inserts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use intake_actors::domain::{Item, Rejection, TaskCounts, TaskMeta, TaskResult, TaskStatus};
use intake_actors::pipeline::flow::Credit;
use intake_actors::ports::{ParseSummary, PortError, Staging};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;
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
    /// Opens a task's transaction.
    pub async fn open(pool: PgPool, task: TaskMeta) -> Result<Self, PortError> {
        let (commands, rx) = mpsc::channel(2);
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let session = tokio::spawn(session(pool, task, rx, ready_tx).in_current_span());
        let mut staging = Self {
            commands,
            session: Some(session),
        };
        // Wait until the transaction is open, so a database that is down fails the task right here.
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
    let started = Instant::now();
    let db = |e: sqlx::Error| classify(&e);
    let mut tx = pool.begin().await.map_err(db)?;
    // Hashing a million staged rows against the catalogue wants more than the 4 MB default.
    sqlx::raw_sql(
        "SET LOCAL work_mem = '256MB';
         CREATE TEMP TABLE IF NOT EXISTS intake_stage (
             row_number integer, id uuid, sku text, name text, price numeric(12, 2),
             characteristics jsonb, error_type text, error_message text, row_data jsonb,
             source_table integer
         ) ON COMMIT DELETE ROWS;",
    )
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let _ = ready.send(());

    let mut staging = Duration::ZERO;
    let mut staged_rows = 0usize;
    // SKU hashes seen so far: when none repeats, the merge skips looking for duplicates.
    let mut seen = HashSet::<u64>::new();
    let mut repeats = false;
    let mut note = |items: &[Item], rejections: &[Rejection]| {
        for item in items {
            repeats |= !seen.insert(sku_hash(item.sku.as_str()));
        }
        staged_rows += items.len() + rejections.len();
    };

    // A task of one chunk is staged in one statement; a longer one streams through COPY,
    // started when its second chunk arrives.
    let mut first: Option<(Vec<Item>, Vec<Rejection>)> = None;
    let second = loop {
        match commands.recv().await {
            Some(Command::Rows { items, rejections, credit }) => {
                note(&items, &rejections);
                drop(credit);
                match first {
                    None => first = Some((items, rejections)),
                    Some(_) => break Ok((items, rejections)),
                }
            }
            Some(Command::Commit(summary)) => break Err(summary),
            // Aborted: the transaction rolls back as it is dropped.
            None => return Err(PortError::transient("task aborted")),
        }
    };
    let summary = match second {
        Err(summary) => {
            if let Some((items, rejections)) = first.take() {
                let inserting = Instant::now();
                stage_rows(&mut tx, items, rejections).await.map_err(db)?;
                staging += inserting.elapsed();
            }
            summary
        }
        Ok(second) => {
            let sql = format!("COPY intake_stage ({STAGE_COLUMNS}) FROM STDIN");
            let mut copy = tx.copy_in_raw(&sql).await.map_err(db)?;
            let mut buffers = (Vec::with_capacity(1 << 20), Vec::with_capacity(1024));
            let sending = Instant::now();
            for (items, rejections) in first.take().into_iter().chain([second]) {
                send_chunk(&mut copy, &mut buffers, items, rejections).await.map_err(db)?;
            }
            staging += sending.elapsed();
            loop {
                match commands.recv().await {
                    Some(Command::Rows { items, rejections, credit }) => {
                        note(&items, &rejections);
                        let sending = Instant::now();
                        send_chunk(&mut copy, &mut buffers, items, rejections).await.map_err(db)?;
                        staging += sending.elapsed();
                        drop(credit);
                    }
                    Some(Command::Commit(summary)) => {
                        let finishing = Instant::now();
                        copy.finish().await.map_err(db)?;
                        staging += finishing.elapsed();
                        break summary;
                    }
                    None => {
                        let _ = copy.abort("task aborted").await;
                        return Err(PortError::transient("task aborted"));
                    }
                }
            }
        }
    };
    drop(seen);

    let merging = Instant::now();
    let result = merge(&mut tx, &task, summary, repeats, staged_rows, started).await?;
    let merge_ms = merging.elapsed().as_millis() as u64;
    let committing = Instant::now();
    tx.commit().await.map_err(db)?;
    tracing::info!(
        task_id = %task.task_id,
        stage_ms = staging.as_millis() as u64,
        merge_ms,
        commit_ms = committing.elapsed().as_millis() as u64,
        "rows merged"
    );
    Ok(result)
}

/// Encodes one chunk and streams it into a running COPY; `buffers` are reused scratch space.
async fn send_chunk(
    copy: &mut sqlx::postgres::PgCopyIn<&mut sqlx::PgConnection>,
    (buffer, json): &mut (Vec<u8>, Vec<u8>),
    items: Vec<Item>,
    rejections: Vec<Rejection>,
) -> Result<(), sqlx::Error> {
    buffer.clear();
    encode(buffer, json, &items, &rejections);
    drop((items, rejections));
    copy.send(buffer.as_slice()).await.map(|_| ())
}

/// Stages one chunk in a single statement: the rows travel as column arrays. Each item gets a
/// time-ordered id, as in [`encode`].
async fn stage_rows(
    tx: &mut Transaction<'static, Postgres>,
    items: Vec<Item>,
    rejections: Vec<Rejection>,
) -> Result<(), sqlx::Error> {
    let n = items.len() + rejections.len();
    let mut row_number: Vec<Option<i32>> = Vec::with_capacity(n);
    let mut id: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut sku: Vec<Option<String>> = Vec::with_capacity(n);
    let mut name: Vec<Option<String>> = Vec::with_capacity(n);
    let mut price: Vec<Option<rust_decimal::Decimal>> = Vec::with_capacity(n);
    let mut characteristics: Vec<Option<serde_json::Value>> = Vec::with_capacity(n);
    let mut error_type: Vec<Option<&'static str>> = Vec::with_capacity(n);
    let mut error_message: Vec<Option<String>> = Vec::with_capacity(n);
    let mut row_data: Vec<Option<serde_json::Value>> = Vec::with_capacity(n);
    let mut source_table: Vec<Option<i32>> = Vec::with_capacity(n);
    for item in items {
        row_number.push(Some(item.row.0 as i32));
        id.push(Some(Uuid::now_v7()));
        sku.push(Some(item.sku.to_string()));
        name.push(Some(item.name.to_string()));
        price.push(Some(item.price.amount()));
        characteristics.push(Some(serde_json::Value::Object(item.characteristics)));
        error_type.push(None);
        error_message.push(None);
        row_data.push(None);
        source_table.push(Some(i32::try_from(item.table).unwrap_or(i32::MAX)));
    }
    for rejection in rejections {
        row_number.push(rejection.row.map(|r| r.0 as i32));
        id.push(None);
        sku.push(None);
        name.push(None);
        price.push(None);
        characteristics.push(None);
        error_type.push(Some(rejection.reason.as_str()));
        error_message.push(Some(rejection.message));
        row_data.push(rejection.row_data);
        source_table.push(None);
    }
    sqlx::query(
        "INSERT INTO intake_stage
         SELECT * FROM UNNEST($1::int4[], $2::uuid[], $3::text[], $4::text[], $5::numeric[],
                              $6::jsonb[], $7::text[], $8::text[], $9::jsonb[], $10::int4[])",
    )
    .bind(row_number)
    .bind(id)
    .bind(sku)
    .bind(name)
    .bind(price)
    .bind(characteristics)
    .bind(error_type)
    .bind(error_message)
    .bind(row_data)
    .bind(source_table)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

fn sku_hash(sku: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(sku)
}

/// Applies the staged rows and completes the task record, inside the task's transaction.
async fn merge(
    tx: &mut Transaction<'static, Postgres>,
    task: &TaskMeta,
    summary: ParseSummary,
    repeats: bool,
    staged_rows: usize,
    started: Instant,
) -> Result<TaskResult, PortError> {
    let db = |e: sqlx::Error| classify(&e);
    let task_id = task.task_id.as_uuid();
    let supplier = tasks::supplier_id(tx, &task.supplier_name).await.map_err(db)?;

    // Lists of one supplier are applied one at a time (different suppliers in parallel). The
    // lock is taken on its own, before anything reads the catalogue: under READ COMMITTED each
    // later statement then sees what the list that held the lock committed.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('intake.supplier:' || $1::text, 0))")
        .bind(supplier)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    // Another delivery of this task may have committed while this one staged.
    let (status, first_load): (Option<String>, bool) = sqlx::query_as(
        "SELECT (SELECT status::text FROM task_runs WHERE task_id = $1 FOR UPDATE),
                NOT EXISTS (SELECT 1 FROM supplier_items WHERE supplier_id = $2)",
    )
    .bind(task_id)
    .bind(supplier)
    .fetch_one(&mut **tx)
    .await
    .map_err(db)?;
    if matches!(status.as_deref(), Some("completed" | "skipped_duplicate" | "superseded"))
        && let Some(record) = tasks::find(&mut **tx, task.task_id).await.map_err(db)?
    {
        return Ok(record.to_result());
    }
    // A newer list may have been applied while this one was read: it stays.
    if let Some(note) = tasks::superseded_by(tx, supplier, task).await.map_err(db)? {
        tracing::warn!(task_id = %task.task_id, "{note}");
        let mut record = tasks::finish_skipped(tx, task.task_id, "superseded", &note)
            .await
            .map_err(db)?;
        record.rows_seen = summary.rows_seen as i64;
        return Ok(record.to_result());
    }

    // Rows that repeat an SKU: the last occurrence in the file wins, the others are logged.
    let duplicates = if repeats {
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

    let (stored, created, updated, price_changes): (i64, i64, i64, i64) = if first_load {
        sqlx::query_as(FIRST_LOAD)
            .bind(task_id)
            .bind(supplier)
            .fetch_one(&mut **tx)
            .await
            .map_err(db)?
    } else {
        // A large comparison joins two large sets: give the planner their sizes.
        if staged_rows > 20_000 {
            sqlx::query("ANALYZE intake_stage (sku)")
                .execute(&mut **tx)
                .await
                .map_err(db)?;
        }
        sqlx::query_as(COMPARE)
            .bind(task_id)
            .bind(supplier)
            .fetch_one(&mut **tx)
            .await
            .map_err(db)?
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
    complete(tx, task, supplier, &counts, &notes).await?;

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
    task: &TaskMeta,
    supplier: Uuid,
    counts: &TaskCounts,
    notes: &[String],
) -> Result<(), PortError> {
    // The supplier's newest applied list; a forced older one does not move it back.
    sqlx::query(
        "UPDATE suppliers SET applied_task_id = $2, applied_list_at = $3, updated_at = now()
         WHERE id = $1 AND (applied_list_at IS NULL OR applied_list_at <= $3)",
    )
    .bind(supplier)
    .bind(task.task_id.as_uuid())
    .bind(task.list_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| classify(&e))?;
    sqlx::query(
        "UPDATE task_runs SET
             status = 'completed', supplier_id = $2,
             rows_seen = $3, rows_stored = $4, rows_rejected = $5,
             items_created = $6, items_updated = $7, items_unchanged = $8, price_changes = $9,
             notes = $10, error = NULL, finished_at = now(), updated_at = now()
         WHERE task_id = $1",
    )
    .bind(task.task_id.as_uuid())
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


/// A supplier's first list: every item is new, with its first price.
/// Returns (stored, created, updated, price history rows).
const FIRST_LOAD: &str = "
WITH created AS (
    INSERT INTO supplier_items (id, supplier_id, supplier_sku, name, current_price, characteristics)
    SELECT id, $2, sku, name, price, characteristics FROM intake_stage WHERE error_type IS NULL
    RETURNING id, current_price
), history AS (
    INSERT INTO price_history (supplier_item_id, price, task_id)
    SELECT id, current_price, $1 FROM created
    RETURNING 1
)
SELECT (SELECT count(*) FROM created), (SELECT count(*) FROM created), 0::bigint,
       (SELECT count(*) FROM history)";

/// Logs and removes, before a comparison, every staged row whose SKU another row repeats. One
/// row per SKU stays: within a sheet the later row (a correction further down), across sheets
/// the first sheet's (sheets that repeat the items — one per currency or price tier — list
/// the same rows, and the first is the main one). Row numbers restart on every sheet, so rows
/// are told apart by (sheet, row).
const DEDUPLICATE: &str = "
WITH ranked AS (
    SELECT ctid AS at, sku, source_table, row_number,
           coalesce(characteristics ->> 'sheet', source_table::text) AS sheet,
           first_value(source_table) OVER w AS keep_table,
           first_value(coalesce(characteristics ->> 'sheet', source_table::text)) OVER w AS keep_sheet,
           first_value(row_number) OVER w AS keep_row,
           row_number() OVER w AS rank
    FROM intake_stage WHERE error_type IS NULL
    WINDOW w AS (PARTITION BY sku ORDER BY source_table, row_number DESC)
), superseded AS (
    DELETE FROM intake_stage s USING ranked r
    WHERE s.ctid = r.at AND r.rank > 1
    RETURNING s.row_number, s.sku, s.name, s.price, s.characteristics, s.source_table,
              r.sheet, r.keep_table, r.keep_sheet, r.keep_row
)
INSERT INTO parsing_logs (task_id, supplier_id, error_type, error_message, row_number, row_data)
SELECT $1, $2, 'duplicate_sku',
       CASE WHEN source_table = keep_table
            THEN format('SKU %s appears again in row %s; the later row wins', sku, keep_row)
            ELSE format('SKU %s of sheet %s row %s is already in sheet %s row %s; the first sheet''s row wins',
                        sku, sheet, row_number, keep_sheet, keep_row) END,
       row_number,
       jsonb_build_object('sku', sku, 'name', name, 'price', price) || characteristics
FROM superseded";

/// Compares the staged list with the supplier's items in one join: new items are inserted;
/// existing ones are rewritten only when something changed, so an unchanged row costs a read
/// and nothing else. A price history row marks every new price.
/// Returns (stored, created, updated, price history rows).
const COMPARE: &str = "
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
