//! A supplier's remembered mapping: the header text of each field's column, saved when a task
//! mapped columns by hand (`source_config.column_mapping`) and handed to the supplier's next
//! tasks, which use it where their header still holds those texts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use intake_actors::domain::{Field, TaskId};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A remembered mapping as `intake supplier mapping show` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupplierMapping {
    pub supplier: String,
    /// Field → header text.
    pub mapping: BTreeMap<Field, String>,
    /// The task whose mapping this is.
    pub task_id: Option<Uuid>,
    pub saved_at: DateTime<Utc>,
}

/// The supplier's remembered mapping, empty when there is none (or it cannot be read: a
/// mapping stored by a newer release with a field this one does not know).
pub(super) async fn remembered(
    conn: &mut PgConnection,
    supplier: Uuid,
) -> Result<BTreeMap<Field, String>, sqlx::Error> {
    let stored: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT mapping FROM supplier_mappings WHERE supplier_id = $1")
            .bind(supplier)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(stored.and_then(|m| serde_json::from_value(m).ok()).unwrap_or_default())
}

/// Remembers `mapping` for the supplier, replacing what was remembered.
pub(super) async fn remember(
    conn: &mut PgConnection,
    supplier: Uuid,
    task: TaskId,
    mapping: &BTreeMap<Field, String>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO supplier_mappings (supplier_id, mapping, task_id, saved_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (supplier_id) DO UPDATE SET
             mapping = EXCLUDED.mapping, task_id = EXCLUDED.task_id, saved_at = now()",
    )
    .bind(supplier)
    .bind(serde_json::to_value(mapping).unwrap_or_default())
    .bind(task.as_uuid())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The supplier's remembered mapping, none when the supplier or its mapping does not exist.
pub async fn show(pool: &PgPool, supplier: &str) -> Result<Option<SupplierMapping>, sqlx::Error> {
    let row: Option<(serde_json::Value, Option<Uuid>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT m.mapping, m.task_id, m.saved_at FROM supplier_mappings m
         JOIN suppliers s ON s.id = m.supplier_id WHERE s.name = $1",
    )
    .bind(supplier)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(mapping, task_id, saved_at)| SupplierMapping {
        supplier: supplier.to_owned(),
        mapping: serde_json::from_value(mapping).unwrap_or_default(),
        task_id,
        saved_at,
    }))
}

/// Forgets the supplier's remembered mapping; whether there was one.
pub async fn forget(pool: &PgPool, supplier: &str) -> Result<bool, sqlx::Error> {
    let deleted =
        sqlx::query("DELETE FROM supplier_mappings m USING suppliers s WHERE s.id = m.supplier_id AND s.name = $1")
            .bind(supplier)
            .execute(pool)
            .await?
            .rows_affected();
    Ok(deleted > 0)
}
