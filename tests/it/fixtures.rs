//! Price lists as wholesalers send them — title blocks, category rows, merged headers, Russian
//! and Ukrainian headers, Windows-1251, semicolons, locale numbers, currency signs, no header,
//! no SKU, duplicate header names, broken files, two-line headers, unlabelled columns, key and
//! description headers, subtotal rows, side-by-side tables, sheets of terms, blank keys,
//! variants — each with the mapping and the counts it must give.
use intake_actors::domain::{Field, Origin, TaskMeta, TaskStatus};
use intake_actors::mapping::Role;
use intake_actors::pipeline::Outcome;

use crate::fixture_files::write_all;
use crate::helpers::TestEnv;

enum Expect {
    /// Completes with this many rows stored, and these rows rejected for these reasons.
    Stored(u64, &'static [(u32, &'static str)]),
    /// Fails permanently with a message containing this.
    Fails(&'static str),
}

struct Fixture {
    file: &'static str,
    parser: &'static str,
    sheet: Option<&'static str>,
    /// Per table read: (field, header) pairs the mapping must contain.
    mapping: Vec<Vec<(Field, &'static str)>>,
    expect: Expect,
}

fn fixtures() -> Vec<Fixture> {
    use Field::*;
    vec![
        Fixture {
            file: "title_block_cp1251.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![
                (Sku, "Артикул"),
                (Name, "Наименование"),
                (Price, "Цена, руб."),
                (Availability, "Остаток"),
            ]],
            expect: Expect::Stored(3, &[(8, "missing_price"), (9, "price_on_request")]),
        },
        Fixture {
            file: "categories_bom.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "SKU"), (Name, "Product name"), (Price, "Unit price")]],
            expect: Expect::Stored(4, &[]),
        },
        Fixture {
            file: "currencies.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "sku"), (Name, "name"), (Price, "price")]],
            expect: Expect::Stored(
                5,
                &[(6, "negative_price"), (7, "invalid_price"), (9, "price_out_of_range")],
            ),
        },
        Fixture {
            file: "no_sku.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Name, "Наименование"), (Price, "Цена")]],
            expect: Expect::Stored(3, &[(2, "duplicate_sku")]),
        },
        Fixture {
            file: "headerless.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "column A"), (Name, "column B"), (Price, "column C")]],
            expect: Expect::Stored(4, &[]),
        },
        Fixture {
            file: "empty.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![],
            expect: Expect::Fails("the source is empty"),
        },
        Fixture {
            file: "header_only.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "SKU"), (Name, "Name"), (Price, "Price")]],
            expect: Expect::Stored(0, &[]),
        },
        Fixture {
            file: "duplicate_headers.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "SKU"), (Name, "Name"), (Price, "Price")]],
            expect: Expect::Stored(2, &[]),
        },
        Fixture {
            file: "ukrainian.tsv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![
                (Sku, "Артикул"),
                (Name, "Найменування"),
                (Price, "Ціна"),
                (Unit, "Од. вим."),
            ]],
            expect: Expect::Stored(2, &[]),
        },
        Fixture {
            file: "multiline.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "Code"), (Name, "Description"), (Price, "Price")]],
            expect: Expect::Stored(2, &[]),
        },
        Fixture {
            file: "no_price.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![],
            expect: Expect::Fails("no price column"),
        },
        Fixture {
            file: "merged_header.xlsx",
            parser: "xlsx",
            sheet: None,
            mapping: vec![vec![(Sku, "Код"), (Name, "Товар"), (Price, "Цена Опт")]],
            expect: Expect::Stored(2, &[(6, "price_on_request")]),
        },
        Fixture {
            file: "two_sheets.xlsx",
            parser: "xlsx",
            sheet: None,
            mapping: vec![
                vec![(Sku, "Артикул"), (Name, "Наименование"), (Price, "Цена")],
                vec![(Sku, "Артикул"), (Name, "Наименование"), (Price, "Цена")],
            ],
            expect: Expect::Stored(3, &[]),
        },
        Fixture {
            file: "two_sheets.xlsx",
            parser: "xlsx",
            sheet: Some("Крепёж"),
            mapping: vec![vec![(Sku, "Артикул"), (Name, "Наименование"), (Price, "Цена")]],
            expect: Expect::Stored(1, &[]),
        },
        Fixture {
            file: "secondary_price.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "SKU"), (Name, "Name"), (Price, "Price")]],
            expect: Expect::Stored(2, &[]),
        },
        Fixture {
            file: "two_line_header.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![
                (Sku, "Code"),
                (Name, "Name"),
                (Price, "Dealer price"),
                (Availability, "Free stock"),
            ]],
            expect: Expect::Stored(2, &[]),
        },
        Fixture {
            file: "unlabelled_key.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, ""), (Name, "Name"), (Price, "Price")]],
            expect: Expect::Stored(3, &[]),
        },
        Fixture {
            file: "unlabelled_name.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "Code"), (Name, ""), (Price, "Price")]],
            expect: Expect::Stored(2, &[]),
        },
        Fixture {
            file: "currency_header.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "Артикул"), (Name, "Наименование"), (Price, "€ без ПДВ")]],
            expect: Expect::Stored(2, &[]),
        },
        Fixture {
            file: "headerless_two_prices.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Name, "column A"), (Price, "column B")]],
            expect: Expect::Stored(4, &[]),
        },
        Fixture {
            file: "group_subtotals.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![
                (Sku, "SKU"),
                (Name, "Name"),
                (Price, "Price"),
                (Availability, "Qty"),
            ]],
            expect: Expect::Stored(2, &[]),
        },
        Fixture {
            file: "item_id.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "item_id"), (Name, "title"), (Price, "price")]],
            expect: Expect::Stored(5, &[]),
        },
        Fixture {
            file: "description.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "SKU"), (Name, "Product name"), (Price, "Price")]],
            expect: Expect::Stored(1, &[]),
        },
        Fixture {
            file: "equal_headers.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "Артикул"), (Name, "Наименование"), (Price, "Цена")]],
            expect: Expect::Stored(3, &[]),
        },
        Fixture {
            file: "side_by_side.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![
                vec![(Sku, "Code"), (Name, "Name"), (Price, "Price")],
                vec![(Sku, "Catalogue no"), (Name, "Name"), (Price, "Price")],
            ],
            expect: Expect::Stored(5, &[]),
        },
        Fixture {
            file: "same_header_sheets.xlsx",
            parser: "xlsx",
            sheet: None,
            mapping: vec![
                vec![(Sku, "Article"), (Name, "Name"), (Price, "Price")],
                vec![(Sku, "Article"), (Name, "Name"), (Price, "Price")],
            ],
            // Keyed on Article in both sheets: EUR, the first, gives K-1..K-3; every USD row
            // repeats one of them (row 4 too: Article K-2, not Code 3).
            expect: Expect::Stored(3, &[(2, "duplicate_sku"), (3, "duplicate_sku"), (4, "duplicate_sku")]),
        },
        Fixture {
            file: "weight_bands.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "ID"), (Name, "Описание материала"), (Price, "12-39кг")]],
            expect: Expect::Stored(2, &[]),
        },
        Fixture {
            file: "blank_keys.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "SKU"), (Name, "Name"), (Price, "Price")]],
            expect: Expect::Stored(3, &[]),
        },
        Fixture {
            file: "variants.csv",
            parser: "csv",
            sheet: None,
            mapping: vec![vec![(Sku, "handle"), (Name, "title"), (Price, "price")]],
            expect: Expect::Stored(4, &[]),
        },
        Fixture {
            file: "with_terms.xlsx",
            parser: "xlsx",
            sheet: None,
            mapping: vec![vec![(Sku, "Артикул"), (Name, "Наименование"), (Price, "Цена")]],
            expect: Expect::Stored(2, &[]),
        },
        Fixture {
            file: "with_terms.xlsx",
            parser: "xlsx",
            sheet: Some("Скидки"),
            mapping: vec![],
            expect: Expect::Fails("no price column"),
        },
        Fixture {
            file: "truncated.xlsx",
            parser: "xlsx",
            sheet: None,
            mapping: vec![],
            expect: Expect::Fails("cannot be read"),
        },
    ]
}

#[tokio::test]
async fn every_fixture_maps_and_counts_as_expected() {
    let env = TestEnv::new().await;
    write_all(&env.dir.0);
    let sources = intake::startup::sources(&env.settings).unwrap();
    let decoders = intake::startup::decoders();
    for (n, fixture) in fixtures().into_iter().enumerate() {
        let path = env.dir.0.join(fixture.file);
        let mut message = env.message(&format!("Supplier {n}"), fixture.parser, &path);
        message.source_config.sheet = fixture.sheet.map(str::to_owned);
        let label = format!("{} (sheet {:?})", fixture.file, fixture.sheet);

        let meta = TaskMeta::from_message(message.clone(), Origin::Operator);
        let preview =
            intake::preview::preview(sources.clone(), &decoders, env.settings.mapping_options(), &meta, 5).await;
        match (&fixture.expect, &preview) {
            (Expect::Fails(why), Err(failure)) => {
                assert!(failure.message.contains(why), "{label}: {}", failure.message)
            }
            (Expect::Fails(_), Ok(_)) => panic!("{label}: preview should fail"),
            (Expect::Stored(..), Err(failure)) => panic!("{label}: {}", failure.message),
            (Expect::Stored(..), Ok(preview)) => {
                let tables = &preview.decisions.tables;
                assert_eq!(tables.len(), fixture.mapping.len(), "{label}: tables read");
                for (table, expected) in tables.iter().zip(&fixture.mapping) {
                    for (field, header) in expected {
                        let column = table
                            .columns
                            .iter()
                            .find(|c| c.role == Role::Field(*field))
                            .unwrap_or_else(|| panic!("{label}: no column for {field}: {:?}", table.columns));
                        assert_eq!(column.header, *header, "{label}: {field}");
                    }
                }
            }
        }

        match (env.ingest(message.clone()).await, &fixture.expect) {
            (Outcome::Done(result), Expect::Stored(stored, rejected)) => {
                assert_eq!(result.status, TaskStatus::Completed, "{label}");
                assert_eq!(result.counts.rows_stored, *stored, "{label}: stored");
                let logged: Vec<(i32, String)> = sqlx::query_as(
                    "SELECT row_number, error_type FROM parsing_logs WHERE task_id = $1 ORDER BY row_number, error_type",
                )
                .bind(result.task_id.as_uuid())
                .fetch_all(&env.db.pool)
                .await
                .unwrap();
                let logged: Vec<(u32, &str)> = logged.iter().map(|(r, e)| (*r as u32, e.as_str())).collect();
                assert_eq!(logged, *rejected, "{label}: which rows were rejected, and why");
                assert_eq!(result.counts.rows_rejected, rejected.len() as u64, "{label}: rejected");
                let decisions = result.decisions.as_ref().expect("the result says what was decided");
                assert_eq!(
                    decisions.tables.len(),
                    fixture.mapping.len(),
                    "{label}: tables in the result"
                );
                let record = intake::store::find_task(&env.db.pool, result.task_id)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    record.to_result().decisions.as_ref(),
                    Some(decisions),
                    "{label}: the task record keeps the decisions"
                );
            }
            (Outcome::Failed(failure), Expect::Fails(why)) => {
                assert!(failure.message.contains(why), "{label}: {}", failure.message);
            }
            (other, _) => panic!("{label}: unexpected outcome {other:?}"),
        }
    }

    // What the fixtures must have stored, beyond counts.
    let value = |sku: &'static str, key: &'static str| {
        let pool = env.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, serde_json::Value>(
                "SELECT characteristics -> $2 FROM supplier_items WHERE supplier_sku = $1",
            )
            .bind(sku)
            .bind(key)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let price = |sku: &'static str| {
        let pool = env.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT current_price::text FROM supplier_items WHERE supplier_sku = $1")
                .bind(sku)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(price("A-001").await, "1234.50", "Windows-1251 with locale numbers");
    assert_eq!(price("PT-2").await, "1249.00");
    assert_eq!(value("PT-1", "category").await, "Power tools");
    assert_eq!(value("HT-1", "category").await, "Hand tools");
    assert_eq!(price("C2").await, "12.50");
    assert_eq!(value("C3", "currency").await, "BYN");
    assert_eq!(price("C7").await, "0.00", "a price of 0 is a price");
    assert_eq!(value("D1", "Color (2)").await, "blue");
    assert_eq!(value("U-1", "currency").await, "UAH");
    assert_eq!(
        price("00123").await,
        "9.50",
        "the wholesale price wins; leading zeros stay"
    );
    assert_eq!(value("00123", "Цена Розница").await, 12);
    assert_eq!(value("00123", "Поступление").await, "2026-11-04");
    assert_eq!(value("F-1", "sheet").await, "Крепёж");
    let no_sku = fixtures().iter().position(|f| f.file == "no_sku.csv").unwrap();
    let derived: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT i.supplier_sku, i.characteristics -> 'sku_source' FROM supplier_items i \
         JOIN suppliers s ON s.id = i.supplier_id WHERE s.name = $1 AND i.supplier_sku LIKE 'name:%' ORDER BY 1",
    )
    .bind(format!("Supplier {no_sku}"))
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(derived.len(), 3);
    assert_eq!(derived[1].0, "name:молоток");
    assert_eq!(derived[1].1, "derived_from_name");
    let multiline: String = sqlx::query_scalar("SELECT name FROM supplier_items WHERE supplier_sku = 'X-1'")
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(multiline, "Bolt M6,\nzinc plated");

    // Each class of "read real price lists as a careful person would".
    assert_eq!(
        value("SP-1", "Retail price").await,
        80784,
        "80784,00 in a secondary price column"
    );
    assert_eq!(value("SP-2", "Retail price").await, 100);
    assert_eq!(price("TL-1").await, "25.00", "the dealer price, not the stock");
    assert_eq!(value("TL-1", "availability").await, 10);
    assert_eq!(price("CH-1").await, "12.50");
    let headerless: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT supplier_sku, current_price::text, characteristics -> 'column C' FROM supplier_items \
         WHERE supplier_sku = 'name:тостер'",
    )
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(
        headerless,
        [("name:тостер".to_owned(), "1800.00".to_owned(), serde_json::json!(2100))]
    );
    assert_eq!(
        value("GS-1", "category").await,
        "Kitchen",
        "the group row with subtotals"
    );
    assert_eq!(price("1001").await, "3.00", "item_id is the key");
    assert_eq!(
        value("DS-1", "Description").await,
        "A kettle for the office with a long description"
    );
    assert_eq!(price("EH-1").await, "350.00");
    assert_eq!(price("Z-7").await, "3.00", "the table to the right is read on its own");
    let lamp: String = sqlx::query_scalar("SELECT name FROM supplier_items WHERE supplier_sku = 'Z-9'")
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(lamp, "Lamp", "the key with its own table's name");
    assert_eq!(value("name:claw hammer", "sku_source").await, "derived_from_name");
    assert_eq!(price("00777").await, "5.00", "the text marker is not part of the key");
    let variants: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT supplier_sku, name, current_price::text FROM supplier_items WHERE supplier_sku LIKE 'vmug%' ORDER BY 1",
    )
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    let expected = [
        ("vmug", "Mug", "3.00"),
        ("vmug~2", "Mug", "4.00"),
        ("vmug~3", "Mug", "5.00"),
    ];
    assert_eq!(
        variants,
        expected.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())),
        "variants take the parent's name"
    );
    assert_eq!(value("vmug~2", "variant_of").await, "vmug");
    assert_eq!(value("WT-1", "sheet").await, "Прайс");

    let task_error: i64 = env
        .db
        .count("SELECT count(*) FROM parsing_logs WHERE error_type = 'task_error' AND row_number IS NULL")
        .await;
    assert!(
        task_error >= 1,
        "a list without a price column is logged as a task error"
    );
}
