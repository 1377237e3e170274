//! The schema keeps the catalogue's rules even against SQL that bypasses intake.

use intake::store::MIGRATOR;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::TestDb;

async fn supplier(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("INSERT INTO suppliers (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn item(
    pool: &PgPool,
    supplier: Uuid,
    sku: &str,
    characteristics: serde_json::Value,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO supplier_items (supplier_id, supplier_sku, name, current_price, characteristics)
         VALUES ($1, $2, 'Item', 1.50, $3) RETURNING id",
    )
    .bind(supplier)
    .bind(sku)
    .bind(characteristics)
    .fetch_one(pool)
    .await
}

fn constraint_of(error: sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.constraint().unwrap_or_default().to_owned(),
        other => panic!("expected a database error, got {other}"),
    }
}

#[tokio::test]
async fn duplicate_supplier_sku_is_rejected() {
    let db = TestDb::migrated().await;
    let s = supplier(&db.pool, "Acme").await;
    item(&db.pool, s, "A-1", serde_json::json!({})).await.unwrap();
    let err = item(&db.pool, s, "A-1", serde_json::json!({})).await.unwrap_err();
    assert_eq!(constraint_of(err), "supplier_items_supplier_sku_key");
    // The same SKU at another supplier is another item.
    let other = supplier(&db.pool, "Other").await;
    item(&db.pool, other, "A-1", serde_json::json!({})).await.unwrap();
}

#[tokio::test]
async fn product_status_accepts_only_its_values() {
    let db = TestDb::migrated().await;
    for status in ["draft", "active", "archived"] {
        sqlx::query("INSERT INTO products (internal_sku, name, status) VALUES ($1, 'P', $2::product_status)")
            .bind(format!("P-{status}"))
            .bind(status)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let err = sqlx::query("INSERT INTO products (internal_sku, name, status) VALUES ('P-x', 'P', 'deleted')")
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid input value for enum product_status"),
        "{err}"
    );
}

#[tokio::test]
async fn deleting_a_supplier_cascades_and_deleting_a_product_sets_null() {
    let db = TestDb::migrated().await;
    let s = supplier(&db.pool, "Acme").await;
    let product: Uuid =
        sqlx::query_scalar("INSERT INTO products (internal_sku, name) VALUES ('INT-1', 'P') RETURNING id")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let i = item(&db.pool, s, "A-1", serde_json::json!({})).await.unwrap();
    sqlx::query("UPDATE supplier_items SET product_id = $1 WHERE id = $2")
        .bind(product)
        .bind(i)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO price_history (supplier_item_id, price) VALUES ($1, 1.50)")
        .bind(i)
        .execute(&db.pool)
        .await
        .unwrap();

    sqlx::query("DELETE FROM products WHERE id = $1")
        .bind(product)
        .execute(&db.pool)
        .await
        .unwrap();
    let linked: Option<Uuid> = sqlx::query_scalar("SELECT product_id FROM supplier_items WHERE id = $1")
        .bind(i)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(linked, None, "the item stays, unlinked");

    sqlx::query("DELETE FROM suppliers WHERE id = $1")
        .bind(s)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(db.count("SELECT count(*) FROM supplier_items").await, 0);
    assert_eq!(db.count("SELECT count(*) FROM price_history").await, 0);
}

#[tokio::test]
async fn categories_form_a_tree_and_prices_keep_two_decimals() {
    let db = TestDb::migrated().await;
    let root: Uuid = sqlx::query_scalar("INSERT INTO categories (name) VALUES ('Tools') RETURNING id")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO categories (name, parent_id) VALUES ('Hammers', $1)")
        .bind(root)
        .execute(&db.pool)
        .await
        .unwrap();
    let err = sqlx::query("DELETE FROM categories WHERE id = $1")
        .bind(root)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("foreign key"),
        "a parent with children is not deleted: {err}"
    );

    let s = supplier(&db.pool, "Acme").await;
    let negative = sqlx::query(
        "INSERT INTO supplier_items (supplier_id, supplier_sku, name, current_price) VALUES ($1, 'N', 'n', -1)",
    )
    .bind(s)
    .execute(&db.pool)
    .await
    .unwrap_err();
    assert!(negative.to_string().contains("check constraint"), "{negative}");
    let i = item(&db.pool, s, "R", serde_json::json!({})).await.unwrap();
    let price: String = sqlx::query_scalar("SELECT current_price::text FROM supplier_items WHERE id = $1")
        .bind(i)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(price, "1.50");
}

#[tokio::test]
async fn containment_queries_on_characteristics_use_the_gin_index() {
    let db = TestDb::migrated().await;
    let s = supplier(&db.pool, "Acme").await;
    sqlx::query(
        "INSERT INTO supplier_items (supplier_id, supplier_sku, name, current_price, characteristics)
         SELECT $1, 'SKU-' || g, 'Item ' || g, g % 100,
                jsonb_build_object('color', CASE WHEN g % 100 = 0 THEN 'red' ELSE 'grey' END, 'size', g % 7)
         FROM generate_series(1, 5000) g",
    )
    .bind(s)
    .execute(&db.pool)
    .await
    .unwrap();
    // As autovacuum would: merge the GIN pending list of the fresh inserts, gather statistics.
    sqlx::query("VACUUM ANALYZE supplier_items")
        .execute(&db.pool)
        .await
        .unwrap();

    let plan: Vec<String> =
        sqlx::query_scalar("EXPLAIN SELECT id FROM supplier_items WHERE characteristics @> '{\"color\": \"red\"}'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("supplier_items_characteristics_idx"), "plan:\n{plan}");
    let red = db
        .count("SELECT count(*) FROM supplier_items WHERE characteristics @> '{\"color\": \"red\"}'")
        .await;
    assert_eq!(red, 50);
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let db = TestDb::empty().await;
    let tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'
                  AND table_name IN ('suppliers','categories','products','supplier_items','price_history','parsing_logs','task_runs')";
    MIGRATOR.run(&db.pool).await.unwrap();
    assert_eq!(db.count(tables).await, 7);
    MIGRATOR.undo(&db.pool, 0).await.unwrap();
    assert_eq!(db.count(tables).await, 0);
    let types = db
        .count("SELECT count(*) FROM pg_type WHERE typname IN ('product_status', 'task_status')")
        .await;
    assert_eq!(types, 0, "down migrations drop the enum types too");
    MIGRATOR.run(&db.pool).await.unwrap();
    assert_eq!(db.count(tables).await, 7);
}
