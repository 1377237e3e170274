//! Applying a task's staged rows to the catalogue, inside the task's transaction: duplicates
//! logged, new items inserted, changed ones updated, unchanged ones untouched, items the list
//! no longer offers marked unavailable, rejections logged, and the task record completed.

use std::time::Instant;

use intake_actors::domain::report::ReadReport;
use intake_actors::domain::{TaskCounts, TaskMeta, TaskResult, TaskStatus, TaskType};
use intake_actors::ports::{ParseSummary, PortError};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{classify, memory, tasks};

/// Applies the staged rows and completes the task record, inside the task's transaction.
pub(super) async fn merge(
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
    if matches!(
        status.as_deref(),
        Some("completed" | "skipped_duplicate" | "superseded")
    ) && let Some(record) = tasks::find(&mut **tx, task.task_id).await.map_err(db)?
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

    let (stored, created, updated, price_changes, returned): (i64, i64, i64, i64, i64) = if first_load {
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

    // A complete list is the supplier's whole offer: what it no longer lists is no longer
    // offered. A list read in part (one sheet, or marked partial) says nothing of the rest, and
    // a list with no valid row at all is more likely broken than empty.
    let whole = !task.source.reads_part();
    let disappeared = if !first_load && whole && stored > 0 {
        sqlx::query(DISAPPEARED)
            .bind(supplier)
            .execute(&mut **tx)
            .await
            .map_err(db)?
            .rows_affected()
    } else {
        0
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
        items_disappeared: disappeared,
        items_returned: returned as u64,
    };
    let mut decisions = summary.report;
    decisions.duplicates_collapsed = duplicates;
    let mut notes = summary.notes;
    if !whole {
        notes.push("a part of the source was read: items it does not list were not marked unavailable".into());
    }
    if duplicates > 0 {
        notes.push(format!(
            "{duplicates} rows repeated an SKU: within a table the last occurrence was kept, across tables the first table's; each is in the rejected rows with both references"
        ));
    }
    // A list mapped by hand teaches the supplier's mapping: its next lists are read with it.
    if !task.source.column_mapping.is_empty() && !summary.mapping.is_empty() {
        memory::remember(tx, supplier, task.task_id, &summary.mapping)
            .await
            .map_err(db)?;
        notes.push("the column mapping was remembered for the supplier's next lists".into());
    }
    complete(tx, task, supplier, &counts, &notes, &decisions).await?;

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
        decisions: Some(Box::new(decisions)),
        task_type: TaskType::PriceList,
        metadata: None,
    })
}

async fn complete(
    tx: &mut Transaction<'static, Postgres>,
    task: &TaskMeta,
    supplier: Uuid,
    counts: &TaskCounts,
    notes: &[String],
    decisions: &ReadReport,
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
             notes = $10, items_disappeared = $11, items_returned = $12, decisions = $13,
             error = NULL, finished_at = now(), updated_at = now()
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
    .bind(counts.items_disappeared as i64)
    .bind(counts.items_returned as i64)
    .bind(serde_json::to_value(decisions).unwrap_or_default())
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
       (SELECT count(*) FROM history), 0::bigint";

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
/// existing ones are rewritten only when something changed (or they come back after being
/// unavailable), so an unchanged row costs a read and nothing else. A price history row marks
/// every new price.
/// Returns (stored, created, updated, price history rows, returned).
const COMPARE: &str = "
WITH diff AS MATERIALIZED (
    SELECT src.id AS new_id, cur.id AS cur_id, cur.current_price AS old_price,
           cur.available AS was_available, src.sku, src.name, src.price, src.characteristics
    FROM intake_stage src LEFT JOIN supplier_items cur
      ON cur.supplier_id = $2 AND cur.supplier_sku = src.sku
    WHERE src.error_type IS NULL
      AND (cur.id IS NULL
           OR NOT cur.available
           OR (cur.name, cur.current_price, cur.characteristics)
              IS DISTINCT FROM (src.name, src.price, src.characteristics))
), updated AS (
    UPDATE supplier_items si
    SET name = d.name, current_price = d.price, characteristics = d.characteristics,
        available = true, unavailable_since = NULL, updated_at = now()
    FROM diff d
    WHERE d.cur_id IS NOT NULL AND si.id = d.cur_id
    RETURNING si.id, d.old_price, si.current_price, d.was_available
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
       (SELECT count(*) FROM updated), (SELECT count(*) FROM history),
       (SELECT count(*) FROM updated WHERE NOT was_available)";

/// Marks unavailable the supplier's offered items that a complete list no longer lists. They
/// stay, with their history, and come back when a later list lists them again.
const DISAPPEARED: &str = "
UPDATE supplier_items si
SET available = false, unavailable_since = now(), updated_at = now()
WHERE si.supplier_id = $1 AND si.available
  AND NOT EXISTS (SELECT 1 FROM intake_stage s WHERE s.error_type IS NULL AND s.sku = si.supplier_sku)";
