//! What `docs/parsers.md` promises about sources and options, each on a small list: encodings,
//! the csv overrides, mapping by header text, letter and index, the price preference, booleans,
//! and a sheet chosen by its position.

use intake_actors::domain::{ColumnRef, Field, TaskMessage, TaskStatus};
use intake_actors::pipeline::Outcome;
use serde_json::{Value, json};

use crate::helpers::TestEnv;
use crate::workbook::{self, SheetSpec, X};

async fn stored(env: &TestEnv, message: TaskMessage) -> u64 {
    match env.ingest(message).await {
        Outcome::Done(result) if result.status == TaskStatus::Completed => result.counts.rows_stored,
        other => panic!("not stored: {other:?}"),
    }
}

/// (name, price, characteristics) of a supplier's item.
async fn item(env: &TestEnv, supplier: &str, sku: &str) -> (String, String, Value) {
    sqlx::query_as(
        "SELECT i.name, i.current_price::text, i.characteristics FROM supplier_items i
         JOIN suppliers s ON s.id = i.supplier_id WHERE s.name = $1 AND i.supplier_sku = $2",
    )
    .bind(supplier)
    .bind(sku)
    .fetch_one(&env.db.pool)
    .await
    .unwrap_or_else(|e| panic!("{supplier} {sku}: {e}"))
}

#[tokio::test]
async fn the_csv_overrides_read_what_detection_would_not() {
    let env = TestEnv::new().await;
    // KOI8-R named by the task, a `|` delimiter, a header on row 3 and a units row to skip.
    let text = "Прайс на 01.12\n\nАртикул|Наименование|Цена\nшт|—|руб\nK-1|Чайник|1 250,50\nK-2|Тостер|990\n";
    let (bytes, _, _) = encoding_rs::KOI8_R.encode(text);
    let path = env.dir.0.join("koi8.csv");
    std::fs::write(&path, &bytes).unwrap();
    let mut message = env.message("Overrides", "csv", &path);
    message.source_config.encoding = Some("koi8-r".into());
    message.source_config.delimiter = Some('|');
    message.source_config.header_row = Some(3);
    message.source_config.data_start_row = Some(5);
    assert_eq!(stored(&env, message).await, 2);
    assert_eq!(
        env.db.count("SELECT count(*) FROM parsing_logs").await,
        0,
        "the units row before data_start_row is not read"
    );
    let (name, price, _) = item(&env, "Overrides", "K-1").await;
    assert_eq!((name.as_str(), price.as_str()), ("Чайник", "1250.50"));
}

#[tokio::test]
async fn columns_are_mapped_by_header_text_letter_and_index() {
    let env = TestEnv::new().await;
    // Nothing here is a header detection would map: every field comes from the task.
    let path = env.csv("plain.csv", "c1,c2,c3,c4\nZ-1,Widget,7,9.50\nZ-2,Gadget,8,12\n");
    for (n, (sku, name, price)) in [("c1", "B", "4"), ("A", "c2", "D"), ("1", "2", "c4")]
        .into_iter()
        .enumerate()
    {
        let supplier = format!("Mapped {n}");
        let mut message = env.message(&supplier, "csv", &path);
        let mapping = &mut message.source_config.column_mapping;
        mapping.insert(Field::Sku, ColumnRef::new(sku).unwrap());
        mapping.insert(Field::Name, ColumnRef::new(name).unwrap());
        mapping.insert(Field::Price, ColumnRef::new(price).unwrap());
        assert_eq!(stored(&env, message).await, 2, "{supplier}");
        let (name, price, characteristics) = item(&env, &supplier, "Z-1").await;
        assert_eq!((name.as_str(), price.as_str()), ("Widget", "9.50"), "{supplier}");
        assert_eq!(
            characteristics["c3"],
            json!(7),
            "{supplier}: the unmapped column is kept"
        );
    }
}

#[tokio::test]
async fn the_price_preference_picks_among_labelled_prices() {
    let list = "Артикул,Наименование,Цена розница,Цена опт без НДС,Цена опт с НДС\nP-1,Чайник,1500,1000,1200\n";
    // Default: wholesale, then with VAT.
    let env = TestEnv::new().await;
    let path = env.csv("prices.csv", list);
    stored(&env, env.message("Default", "csv", &path)).await;
    let (_, price, other) = item(&env, "Default", "P-1").await;
    assert_eq!(price, "1200.00", "wholesale with VAT");
    assert_eq!(other["Цена розница"], json!(1500), "the other prices are kept");
    assert_eq!(other["Цена опт без НДС"], json!(1000));

    let env = TestEnv::with(&[
        ("INTAKE__MAPPING__PRICE_PREFERENCE", "retail,plain,wholesale"),
        ("INTAKE__MAPPING__PREFER_VAT_INCLUDED", "false"),
    ])
    .await;
    let path = env.csv("prices.csv", list);
    stored(&env, env.message("Retail", "csv", &path)).await;
    assert_eq!(item(&env, "Retail", "P-1").await.1, "1500.00", "retail first");

    let env = TestEnv::with(&[("INTAKE__MAPPING__PREFER_VAT_INCLUDED", "false")]).await;
    let path = env.csv("prices.csv", list);
    stored(&env, env.message("Net", "csv", &path)).await;
    assert_eq!(item(&env, "Net", "P-1").await.1, "1000.00", "wholesale without VAT");
}

#[tokio::test]
async fn booleans_are_typed_in_characteristics() {
    let env = TestEnv::new().await;
    let path = env.csv(
        "flags.csv",
        "SKU,Name,Price,Hit,Новинка,Code\nB-1,Kettle,5,yes,да,007\nB-2,Toaster,6,no,нет,12\n",
    );
    stored(&env, env.message("Flags", "csv", &path)).await;
    let (_, _, c) = item(&env, "Flags", "B-1").await;
    assert_eq!(
        (&c["Hit"], &c["Новинка"], &c["Code"]),
        (&json!(true), &json!(true), &json!("007"))
    );
    let (_, _, c) = item(&env, "Flags", "B-2").await;
    assert_eq!(
        (&c["Hit"], &c["Новинка"], &c["Code"]),
        (&json!(false), &json!(false), &json!(12))
    );
}

#[tokio::test]
async fn a_sheet_is_chosen_by_its_position() {
    let env = TestEnv::new().await;
    let path = env.dir.0.join("two.xlsx");
    let sheet = |name, price| SheetSpec {
        name,
        rows: vec![
            vec![X::Text("SKU"), X::Text("Name"), X::Text("Price")],
            vec![X::Text("S-1"), X::Text("Saw"), X::Num(price)],
        ],
        merged: vec![],
    };
    workbook::write(&path, &[sheet("EUR", 10.0), sheet("USD", 11.0)]);
    let mut message = env.message("Second", "xlsx", &path);
    message.source_config.sheet = Some("2".into());
    assert_eq!(stored(&env, message).await, 1);
    let (_, price, c) = item(&env, "Second", "S-1").await;
    assert_eq!(price, "11.00", "the second sheet's price");
    assert_ne!(c.get("sheet"), Some(&json!("EUR")));
}
