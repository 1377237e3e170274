//! A supplier's remembered mapping: saved by a list mapped by hand, applied to the supplier's
//! next lists while their header still holds its texts, shown and forgotten from the CLI.

use intake_actors::domain::{ColumnRef, Field, TaskResult, TaskStatus};
use intake_actors::pipeline::Outcome;

use crate::helpers::TestEnv;

/// Runs one list of `supplier`, mapping the price to `Dealer` by hand when `map_price`.
async fn ingest(env: &TestEnv, supplier: &str, name: &str, csv: &str, map_price: bool) -> TaskResult {
    let path = env.csv(name, csv);
    let mut message = env.message(supplier, "csv", &path);
    if map_price {
        message
            .source_config
            .column_mapping
            .insert(Field::Price, ColumnRef::new("Dealer").unwrap());
    }
    let Outcome::Done(result) = env.ingest(message).await else {
        panic!("{name} was not ingested")
    };
    assert_eq!(result.status, TaskStatus::Completed, "{name}: {:?}", result.notes);
    result
}

async fn price_of(env: &TestEnv, sku: &str) -> String {
    sqlx::query_scalar("SELECT current_price::text FROM supplier_items WHERE supplier_sku = $1")
        .bind(sku)
        .fetch_one(&env.db.pool)
        .await
        .unwrap()
}

fn notes(result: &TaskResult) -> String {
    result.notes.join("\n")
}

/// Detection alone would take `Retail price`; the operator wants the dealer price.
const FIRST: &str = "Code,Name,Retail price,Dealer\nK-1,Kettle,100,80\nK-2,Toaster,200,150\nK-3,Mixer,300,250\n";
const SECOND: &str = "Code,Name,Retail price,Dealer\nK-1,Kettle,110,85\nK-2,Toaster,210,155\nK-3,Mixer,310,255\n";

#[tokio::test]
async fn a_mapping_by_hand_is_remembered_for_the_next_list() {
    let env = TestEnv::new().await;
    let first = ingest(&env, "Acme", "first.csv", FIRST, true).await;
    assert!(
        notes(&first).contains(r#"price="Dealer" (override)"#),
        "{}",
        notes(&first)
    );
    assert!(notes(&first).contains(r#"name="Name" (detected "#), "{}", notes(&first));
    assert_eq!(price_of(&env, "K-1").await, "80.00");
    let stored: serde_json::Value = sqlx::query_scalar("SELECT mapping FROM supplier_mappings")
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(
        stored,
        serde_json::json!({"sku": "Code", "name": "Name", "price": "Dealer"})
    );

    // The next list, same header, no --map: read with the remembered mapping.
    let second = ingest(&env, "Acme", "second.csv", SECOND, false).await;
    assert_eq!(price_of(&env, "K-1").await, "85.00");
    assert!(
        notes(&second).contains(r#"price="Dealer" (remembered)"#),
        "{}",
        notes(&second)
    );
    assert!(
        notes(&second).contains(r#"sku="Code" (remembered)"#),
        "{}",
        notes(&second)
    );

    // Another supplier with the same header is not concerned.
    ingest(&env, "Other", "other.csv", &SECOND.replace("K-", "O-"), false).await;
    assert_eq!(price_of(&env, "O-1").await, "110.00");
}

#[tokio::test]
async fn a_header_without_the_remembered_column_falls_back_to_detection() {
    let env = TestEnv::new().await;
    ingest(&env, "Acme", "first.csv", FIRST, true).await;
    let changed = "Code,Name,Retail price,Wholesale price\nK-1,Kettle,120,90\nK-2,Toaster,220,160\n";
    let result = ingest(&env, "Acme", "changed.csv", changed, false).await;
    let text = notes(&result);
    assert!(
        text.contains(
            r#"the remembered mapping of price ("Dealer") does not match this list's header; detected instead"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"price="Wholesale price" (detected "#), "{text}");
    assert!(text.contains(r#"sku="Code" (remembered)"#), "{text}");
    assert_eq!(price_of(&env, "K-1").await, "90.00");
    // A list read without --map keeps what was remembered.
    assert_eq!(env.db.count("SELECT count(*) FROM supplier_mappings").await, 1);
}

#[tokio::test]
async fn the_cli_shows_and_forgets_a_remembered_mapping() {
    let env = TestEnv::new().await;
    let run = |args: &[&str]| {
        let out = env.command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let none = run(&["supplier", "mapping", "show", "Acme"]);
    assert!(none.contains("no remembered mapping"), "{none}");

    ingest(&env, "Acme", "first.csv", FIRST, true).await;
    let shown: serde_json::Value =
        serde_json::from_str(&run(&["supplier", "mapping", "show", "Acme", "--json"])).unwrap();
    assert_eq!(shown["mapping"]["price"], "Dealer");
    assert_eq!(shown["supplier"], "Acme");
    let text = run(&["supplier", "mapping", "show", "Acme"]);
    assert!(text.contains("price") && text.contains("\"Dealer\""), "{text}");

    let forgot = run(&["supplier", "mapping", "forget", "Acme"]);
    assert!(forgot.contains("forgot"), "{forgot}");
    assert_eq!(env.db.count("SELECT count(*) FROM supplier_mappings").await, 0);
    let again = run(&["supplier", "mapping", "forget", "Acme"]);
    assert!(again.contains("no remembered mapping"), "{again}");

    // Forgotten: the next list is detected again, and takes the retail price.
    let result = ingest(&env, "Acme", "second.csv", SECOND, false).await;
    assert!(
        notes(&result).contains(r#"price="Retail price" (detected "#),
        "{}",
        notes(&result)
    );
    assert_eq!(price_of(&env, "K-1").await, "110.00");
}
