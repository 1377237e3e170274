//! The fast path (COPY into staging, one set-based insert or comparison) leaves the catalogue exactly
//! as a straightforward row-by-row implementation of the same rules would.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use intake_actors::decode::csv::CsvDecoder;
use intake_actors::domain::{Fingerprint, Item, SourceConfig};
use intake_actors::mapping::{MappingOptions, RowChunk, TableReader};
use intake_actors::pipeline::Outcome;
use intake_actors::pipeline::validator::validate;
use intake_actors::ports::{Decoder, FetchedSource, LocalFile, SourceContent};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestDb, TestEnv};

/// Reads a list with intake's own decoder and validator: the reference differs only in how
/// it writes.
fn read(path: &std::path::Path) -> (Vec<Item>, Vec<intake_actors::domain::Rejection>) {
    let source = FetchedSource {
        content: SourceContent::File(LocalFile {
            path: path.to_path_buf(),
            remove_on_drop: false,
            stamp: None,
        }),
        fingerprint: Fingerprint::from_hex(String::new()),
        name_hint: String::new(),
    };
    let config = SourceConfig::default();
    let options = MappingOptions::default();
    let mut chunks: Vec<RowChunk> = Vec::new();
    let mut reader = TableReader::new(&config, &options, 500, |c| {
        chunks.push(c);
        ControlFlow::Continue(())
    });
    CsvDecoder.decode(&source, &config, &mut reader).unwrap();
    reader.finish().unwrap();
    let mut items = Vec::new();
    let mut rejections = Vec::new();
    for chunk in &chunks {
        let (i, r) = validate(chunk);
        items.extend(i);
        rejections.extend(r);
    }
    (items, rejections)
}

/// The rules of FR-5, one row at a time.
async fn apply_row_by_row(pool: &PgPool, supplier_name: &str, path: &std::path::Path) {
    let (items, rejections) = read(path);
    let task = Uuid::now_v7();
    let mut tx = pool.begin().await.unwrap();
    let supplier: Uuid = sqlx::query_scalar(
        "INSERT INTO suppliers (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .bind(supplier_name)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    for r in &rejections {
        sqlx::query("INSERT INTO parsing_logs (task_id, supplier_id, error_type, error_message, row_number) VALUES ($1, $2, $3, $4, $5)")
            .bind(task)
            .bind(supplier)
            .bind(r.reason.as_str())
            .bind(&r.message)
            .bind(r.row.map(|n| n.0 as i32))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    // The last row of an SKU wins; the earlier ones are logged.
    let mut last: BTreeMap<String, &Item> = BTreeMap::new();
    for item in &items {
        if let Some(earlier) = last.insert(item.sku.to_string(), item) {
            sqlx::query("INSERT INTO parsing_logs (task_id, supplier_id, error_type, error_message, row_number) VALUES ($1, $2, 'duplicate_sku', 'superseded', $3)")
                .bind(task)
                .bind(supplier)
                .bind(earlier.row.0 as i32)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    for item in last.values() {
        let characteristics = serde_json::Value::Object(item.characteristics.clone());
        let existing: Option<(Uuid, rust_decimal::Decimal, String, serde_json::Value)> = sqlx::query_as(
            "SELECT id, current_price, name, characteristics FROM supplier_items WHERE supplier_id = $1 AND supplier_sku = $2",
        )
        .bind(supplier)
        .bind(item.sku.as_str())
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
        let price = item.price.amount();
        match existing {
            None => {
                let id: Uuid = sqlx::query_scalar(
                    "INSERT INTO supplier_items (supplier_id, supplier_sku, name, current_price, characteristics) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(supplier)
                .bind(item.sku.as_str())
                .bind(item.name.as_str())
                .bind(price)
                .bind(&characteristics)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                sqlx::query("INSERT INTO price_history (supplier_item_id, price) VALUES ($1, $2)")
                    .bind(id)
                    .bind(price)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            Some((id, old_price, old_name, old_characteristics)) => {
                if old_price != price || old_name != item.name.as_str() || old_characteristics != characteristics {
                    sqlx::query(
                        "UPDATE supplier_items SET name = $2, current_price = $3, characteristics = $4 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(item.name.as_str())
                    .bind(price)
                    .bind(&characteristics)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                }
                if old_price != price {
                    sqlx::query("INSERT INTO price_history (supplier_item_id, price) VALUES ($1, $2)")
                        .bind(id)
                        .bind(price)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                }
            }
        }
    }
    tx.commit().await.unwrap();
}

type Items = Vec<(String, String, String, serde_json::Value)>;
type History = Vec<(String, String, i64)>;
type Logs = Vec<(String, Option<i32>)>;

async fn end_state(pool: &PgPool) -> (Items, History, Logs) {
    let items = sqlx::query_as(
        "SELECT supplier_sku, name, current_price::text, characteristics FROM supplier_items ORDER BY supplier_sku",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let history = sqlx::query_as(
        "SELECT si.supplier_sku, ph.price::text, count(*) FROM price_history ph
         JOIN supplier_items si ON si.id = ph.supplier_item_id
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let logs = sqlx::query_as("SELECT error_type, row_number FROM parsing_logs ORDER BY 1, 2")
        .fetch_all(pool)
        .await
        .unwrap();
    (items, history, logs)
}

/// A list of `n` rows: every 97th row has no price, every 131st repeats an SKU from far
/// above, and `version` changes some prices, names and the set of items.
fn list(n: usize, version: usize) -> String {
    let mut out = String::from("SKU,Name,Price,Color\n");
    for i in 0..n {
        let sku = if i % 131 == 130 {
            format!("K-{:05}", i / 3)
        } else {
            format!("K-{i:05}")
        };
        if version == 2 && i % 50 == 7 {
            continue; // dropped from the second list
        }
        let mut price = format!("{}.{:02}", 10 + i % 900, i % 100);
        if version == 2 && i % 10 == 3 {
            price = format!("{}.{:02}", 11 + i % 900, i % 100);
        }
        if i % 97 == 96 {
            price = String::new();
        }
        let name = if version == 2 && i % 40 == 1 {
            format!("Renamed {i}")
        } else {
            format!("Item {i}")
        };
        out.push_str(&format!("{sku},{name},{price},{}\n", ["red", "blue"][i % 2]));
    }
    if version == 2 {
        for i in n..n + 60 {
            out.push_str(&format!("K-{i:05},New item {i},5.00,green\n"));
        }
    }
    out
}

#[tokio::test]
async fn the_fast_path_ends_where_a_row_by_row_reference_does() {
    let env = TestEnv::new().await;
    let reference = TestDb::migrated().await;
    for version in [1, 2, 2] {
        let path = env.csv(&format!("list-v{version}.csv"), &list(4000, version));
        let mut message = env.message("Acme", "csv", &path);
        message.force = true;
        let outcome = env.ingest(message).await;
        assert!(matches!(outcome, Outcome::Done(_)), "{outcome:?}");
        apply_row_by_row(&reference.pool, "Acme", &path).await;

        let (items, history, logs) = end_state(&env.db.pool).await;
        let (ref_items, ref_history, ref_logs) = end_state(&reference.pool).await;
        assert_eq!(items.len(), ref_items.len(), "version {version}: item count");
        assert_eq!(items, ref_items, "version {version}: items");
        assert_eq!(history, ref_history, "version {version}: price history");
        assert_eq!(logs, ref_logs, "version {version}: parsing logs");
    }
}
