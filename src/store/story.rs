//! What operators ask of the catalogue without SQL: the recent tasks, a task's rejected rows,
//! and the price changes a supplier's lists made.

use chrono::{DateTime, Utc};
use intake_actors::domain::TaskStatus;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::tasks::{RECORD_COLUMNS, TaskRecord};

/// Which tasks to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub supplier: Option<String>,
    pub status: Option<TaskStatus>,
    pub limit: u32,
}

/// The most recent tasks that pass the filter.
pub async fn tasks(pool: &PgPool, filter: &TaskFilter) -> Result<Vec<TaskRecord>, sqlx::Error> {
    let status = filter.status.map(|s| s.as_str());
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM task_runs
         WHERE ($1::text IS NULL OR supplier_name = $1) AND ($2::text IS NULL OR status::text = $2)
         ORDER BY started_at DESC LIMIT $3"
    );
    sqlx::query_as::<_, TaskRecord>(sqlx::AssertSqlSafe(sql))
        .bind(filter.supplier.as_deref())
        .bind(status)
        .bind(i64::from(filter.limit))
        .fetch_all(pool)
        .await
}

/// A row a task could not accept, and why.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Reject {
    pub task_id: Uuid,
    pub row_number: Option<i32>,
    pub error_type: String,
    pub error_message: String,
    pub row_data: Option<serde_json::Value>,
}

/// The rejected rows of a task, in row order.
pub async fn rejects_of_task(pool: &PgPool, task: Uuid, limit: u32) -> Result<Vec<Reject>, sqlx::Error> {
    sqlx::query_as(
        "SELECT task_id, row_number, error_type, error_message, row_data FROM parsing_logs
         WHERE task_id = $1 ORDER BY row_number NULLS FIRST, id LIMIT $2",
    )
    .bind(task)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
}

/// The last task of a supplier that completed: the one whose rejected rows an operator means
/// by "the supplier's rejects".
pub async fn last_completed_task(pool: &PgPool, supplier: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT task_id FROM task_runs WHERE supplier_name = $1 AND status = 'completed'
         ORDER BY finished_at DESC LIMIT 1",
    )
    .bind(supplier)
    .fetch_optional(pool)
    .await
}

/// One price change: an item's price before and after a list.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct PriceChange {
    pub sku: String,
    pub name: String,
    pub old_price: String,
    pub new_price: String,
    /// The change in percent of the old price; none when the old price was 0.
    pub change_percent: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub task_id: Option<Uuid>,
}

/// The price changes of a supplier's items since a time, newest first. An item's first price
/// is not a change.
pub async fn price_changes(
    pool: &PgPool,
    supplier: &str,
    since: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<PriceChange>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.supplier_sku AS sku, i.name, prev.price::text AS old_price, h.price::text AS new_price,
                round((h.price - prev.price) * 100 / NULLIF(prev.price, 0), 2)::text AS change_percent,
                h.recorded_at, h.task_id
         FROM suppliers s
         JOIN supplier_items i ON i.supplier_id = s.id
         JOIN price_history h ON h.supplier_item_id = i.id
         JOIN LATERAL (
             SELECT p.price FROM price_history p
             WHERE p.supplier_item_id = h.supplier_item_id
               AND (p.recorded_at, p.id) < (h.recorded_at, h.id)
             ORDER BY p.recorded_at DESC, p.id DESC LIMIT 1
         ) prev ON true
         WHERE s.name = $1 AND h.recorded_at >= $2
         ORDER BY h.recorded_at DESC, i.supplier_sku LIMIT $3",
    )
    .bind(supplier)
    .bind(since)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
}
