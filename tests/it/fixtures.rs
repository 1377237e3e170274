//! Price lists as wholesalers send them — title blocks, category rows, merged headers, Russian
//! and Ukrainian headers, Windows-1251, semicolons, locale numbers, currency signs, no header,
//! no SKU, duplicate header names, broken files, two-line headers, unlabelled columns, key and
//! description headers, subtotal rows, side-by-side tables, sheets of terms, blank keys,
//! variants — each with the mapping and the counts it must give.

use std::path::{Path, PathBuf};

use intake_actors::domain::{Field, Origin, TaskMeta, TaskStatus};
use intake_actors::mapping::Role;
use intake_actors::pipeline::Outcome;

use crate::helpers::TestEnv;
use crate::workbook::{SheetSpec, X, write};

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

fn csv(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes every fixture into `dir`.
fn write_all(dir: &Path) {
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(
        "ООО \"Инструмент-Опт\";;;\r\nПрайс-лист от 01.11.2026;;;\r\n;;;\r\n\
         Артикул;Наименование;Цена, руб.;Остаток\r\n\
         A-001;Молоток слесарный 500 г;1 234,50;12\r\n\
         A-002;Отвертка крестовая PH2;89,90;150\r\n\
         A-003;Клещи переставные;\"2 345,00\";0\r\n\
         A-004;Уровень 60 см;;5\r\n\
         A-005;Рулетка 5 м;по запросу;3\r\n",
    );
    std::fs::write(dir.join("title_block_cp1251.csv"), cp1251).unwrap();
    csv(
        dir,
        "categories_bom.csv",
        "\u{feff}SKU,Product name,Unit price,Color\n\
         Power tools,,,\n\
         PT-1,Cordless drill 18V,129.99,blue\n\
         PT-2,Angle grinder,\"1,249.00\",green\n\
         SKU,Product name,Unit price,Color\n\
         Hand tools,,,\n\
         HT-1,Claw hammer,19.5,red\n\
         HT-2,Screwdriver set,$24.90,black\n\
         Total,,1423.39,\n",
    );
    csv(
        dir,
        "currencies.csv",
        "sku,name,price\nC1,Item one,$12.99\nC2,Item two,\"12,5 руб.\"\nC3,Item three,12.00 BYN\n\
         C4,Item four,\"€ 9,99\"\nC5,Item five,-5\nC6,Item six,abc\nC7,Item seven,0\nC8,Item eight,99999999999\n",
    );
    csv(
        dir,
        "no_sku.csv",
        "№,Наименование,Цена\n1,Молоток,350\n2,Отвертка,120\n3,Клещи,410\n4,молоток ,360\n",
    );
    csv(
        dir,
        "headerless.csv",
        "A-100,Молоток слесарный 500 г,350.00\nA-101,Отвертка крестовая PH2,120.50\n\
         A-102,Клещи переставные 250 мм,410.90\nA-103,Рулетка 5 м,199.99\n",
    );
    csv(dir, "empty.csv", "");
    csv(dir, "header_only.csv", "SKU,Name,Price\n");
    csv(
        dir,
        "duplicate_headers.csv",
        "SKU,Name,Price,Color,Color\nD1,Mug,3.50,white,blue\nD2,Cup,2.00,red,\n",
    );
    csv(
        dir,
        "ukrainian.tsv",
        "Артикул\tНайменування\tЦіна\tОд. вим.\nU-1\tМолоток\t150,00 грн\tшт\nU-2\tКліщі\t230,00 грн\tшт\n",
    );
    csv(
        dir,
        "multiline.csv",
        "Code|Description|Price\n\"X-1\"|\"Bolt M6,\nzinc plated\"|0.15\nX-2|Nut M6|0.05\n",
    );
    csv(dir, "no_price.csv", "SKU,Name,Color\nN1,Widget,red\nN2,Gadget,blue\n");

    // Read as a careful person would (each class of the issue, one fixture).
    csv(
        dir,
        "secondary_price.csv",
        "SKU;Name;Price;Retail price\nSP-1;Kettle;70000,00;80784,00\nSP-2;Toaster;90.00;100.00\n",
    );
    csv(
        dir,
        "two_line_header.csv",
        "Code,Name,Free stock,Dealer\n,,,price\nTL-1,Kettle,10,25\nTL-2,Toaster,5,40\n",
    );
    csv(
        dir,
        "unlabelled_key.csv",
        ",Name,Price\nUK-1,Kettle electric,25\nUK-2,Toaster,40\nUK-3,Mixer,30\n",
    );
    csv(
        dir,
        "unlabelled_name.csv",
        "Code,,Price\nUN-1,Kettle electric 2 l,25\nUN-2,Toaster with two slots,40\n",
    );
    csv(
        dir,
        "currency_header.csv",
        "Артикул;Наименование;€ без ПДВ\nCH-1;Молоток;12,50\nCH-2;Клещи;7,10\n",
    );
    csv(
        dir,
        "headerless_two_prices.csv",
        "Чайник электрический,2500,3000\nТостер,1800,2100\nМиксер,900,1100\nБлендер,1500,1900\n",
    );
    csv(
        dir,
        "group_subtotals.csv",
        "SKU,Name,Qty,Price,Total\n,Kitchen,30,,900\nGS-1,Kettle,10,25,250\nGS-2,Toaster,20,30,600\n",
    );
    csv(
        dir,
        "item_id.csv",
        "item_id,title,price\n1001,Mug,3\n1002,Mug,4\n1003,Mug,5\n1004,Cup,2\n1005,Plate,1\n",
    );
    csv(
        dir,
        "description.csv",
        "SKU,Description,Product name,Price\nDS-1,A kettle for the office with a long description,Kettle,25\n",
    );
    csv(
        dir,
        "equal_headers.csv",
        "Код,Артикул,Наименование,Цена\n10,EH-1,Молоток,350\n10,EH-2,Клещи,410\n,EH-3,Отвертка,120\n",
    );
    csv(
        dir,
        "side_by_side.csv",
        "Code,Name,Price,,Catalogue no,Name,Price\nSB-1,Kettle,25,,Z-9,Lamp,7\nSB-2,Toaster,40,,Z-8,Bulb,1\n,,,,Z-7,Shade,3\n",
    );
    csv(
        dir,
        "blank_keys.csv",
        "SKU,Name,Price\nBK-1,Hammer,3\n,Claw hammer,4\n'00777,Saw,5\n",
    );
    csv(
        dir,
        "variants.csv",
        "handle,title,price\nvmug,Mug,3\nvmug,,4\nvmug,,5\nvcup,Cup,2\n",
    );
    write(
        &dir.join("with_terms.xlsx"),
        &[
            SheetSpec {
                name: "Прайс",
                rows: vec![
                    vec![
                        X::Text("Артикул"),
                        X::Text("Наименование"),
                        X::Text("Ценовая группа"),
                        X::Text("Цена"),
                    ],
                    vec![X::Text("WT-1"), X::Text("Молоток"), X::Text("PG1"), X::Num(350.0)],
                    vec![X::Text("WT-2"), X::Text("Клещи"), X::Text("PG2"), X::Num(410.0)],
                ],
                merged: vec![],
            },
            SheetSpec {
                name: "Скидки",
                rows: vec![
                    vec![X::Text("Ценовая группа"), X::Text("Скидка, %")],
                    vec![X::Text("PG1"), X::Num(30.0)],
                    vec![X::Text("PG2"), X::Num(25.0)],
                    vec![X::Text("PG3"), X::Num(20.0)],
                    vec![X::Text("PG4"), X::Num(15.0)],
                ],
                merged: vec![],
            },
            SheetSpec {
                name: "Условия",
                rows: vec![
                    vec![X::Text("Условие"), X::Text("Значение")],
                    vec![X::Text("Минимальный заказ"), X::Num(5000.0)],
                    vec![X::Text("Отсрочка, дней"), X::Num(30.0)],
                    vec![X::Text("Доставка бесплатно от"), X::Num(10000.0)],
                    vec![X::Text("Скидка за объём, %"), X::Num(5.0)],
                ],
                merged: vec![],
            },
        ],
    );

    let merged = SheetSpec {
        name: "Прайс",
        rows: vec![
            vec![X::Text("Прайс-лист ООО «Ромашка»")],
            vec![
                X::Text("Код"),
                X::Text("Товар"),
                X::Text("Поступление"),
                X::Text("Цена"),
                X::Empty,
            ],
            vec![X::Empty, X::Empty, X::Empty, X::Text("Розница"), X::Text("Опт")],
            vec![
                X::Text("00123"),
                X::Text("Болт М6"),
                X::Date(46330.0),
                X::Num(12.0),
                X::Num(9.5),
            ],
            vec![
                X::Text("00124"),
                X::Text("Гайка М6"),
                X::Date(46331.0),
                X::Num(4.0),
                X::Num(3.1),
            ],
            vec![
                X::Num(125.0),
                X::Text("Шайба"),
                X::Empty,
                X::Num(1.0),
                X::Text("по запросу"),
            ],
        ],
        merged: vec!["D2:E2", "A2:A3", "B2:B3"],
    };
    write(&dir.join("merged_header.xlsx"), std::slice::from_ref(&merged));
    let full = std::fs::read(dir.join("merged_header.xlsx")).unwrap();
    std::fs::write(dir.join("truncated.xlsx"), &full[..full.len() / 2]).unwrap();
    write(
        &dir.join("two_sheets.xlsx"),
        &[
            SheetSpec {
                name: "Инструмент",
                rows: vec![
                    vec![X::Text("Артикул"), X::Text("Наименование"), X::Text("Цена")],
                    vec![X::Text("T-1"), X::Text("Молоток"), X::Num(350.0)],
                    vec![X::Text("T-2"), X::Text("Клещи"), X::Num(410.9)],
                ],
                merged: vec![],
            },
            SheetSpec {
                name: "Крепёж",
                rows: vec![
                    vec![X::Text("Артикул"), X::Text("Наименование"), X::Text("Цена")],
                    vec![X::Text("F-1"), X::Text("Болт"), X::Num(1.2)],
                ],
                merged: vec![],
            },
            SheetSpec {
                name: "Контакты",
                rows: vec![vec![X::Text("Звоните: +7 495 000-00-00")]],
                merged: vec![],
            },
        ],
    );
    // Alone, the second sheet would key on "Code" (its "Article" repeats); it keeps the
    // first sheet's key column.
    let sheet = |name, codes: [f64; 3], articles: [&'static str; 3]| SheetSpec {
        name,
        rows: std::iter::once(vec![
            X::Text("Code"),
            X::Text("Article"),
            X::Text("Name"),
            X::Text("Price"),
        ])
        .chain((0..3).map(|i| {
            vec![
                X::Num(codes[i]),
                X::Text(articles[i]),
                X::Text(["Kettle", "Toaster", "Lamp"][i]),
                X::Num(10.0 + i as f64),
            ]
        }))
        .collect(),
        merged: vec![],
    };
    write(
        &dir.join("same_header_sheets.xlsx"),
        &[
            sheet("EUR", [1.0, 1.0, 2.0], ["K-1", "K-2", "K-3"]),
            sheet("USD", [1.0, 2.0, 3.0], ["K-1", "K-2", "K-2"]),
        ],
    );
    csv(
        dir,
        "weight_bands.csv",
        "ID;Описание материала;12-39кг;40-199кг;от 200кг\n64;Лак акриловый;235;220;210\n65;Тонер;1260;1250;1240\n",
    );
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

#[tokio::test]
async fn preview_shows_the_mapping_and_the_rejections_without_writing() {
    let env = TestEnv::new().await;
    let path = env.csv(
        "list.csv",
        "Code,Title,Cost,Price\nX1,Widget,1.00,2.00\nX2,Gadget,1.50,по запросу\n",
    );
    let out = env
        .command()
        .args(["preview", "--parser", "csv", "--json", "--map", "price=D", "--source"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let preview: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let price = preview["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"]["value"] == "price")
        .expect("a price column");
    assert_eq!(price["header"], "Price", "the manual mapping wins over detection");
    assert_eq!(price["source"], "override");
    assert_eq!(price["column"], "D");
    assert_eq!(preview["items"][0]["price"], "2.00");
    assert_eq!(preview["rejections"][0]["error_type"], "price_on_request");
    assert_eq!(preview["rejections"][0]["row"], 3);

    let text = env
        .command()
        .args(["preview", "--parser", "csv", "--source"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("header row 1") && text.contains("→ price"), "{text}");
    assert_eq!(
        env.db.count("SELECT count(*) FROM task_runs").await,
        0,
        "preview writes nothing"
    );
}

#[tokio::test]
async fn a_list_over_http_is_downloaded_within_its_limits() {
    use axum::Router;
    use axum::routing::get;
    let big = "SKU,Name,Price\n".to_owned() + &"B1,Big,1.00\n".repeat(10_000);
    let app = Router::new()
        .route(
            "/prices.csv",
            get(|| async { "SKU,Name,Price\nH1,Hammer,12.50\nH2,Saw,\n" }),
        )
        .route("/big.csv", get(move || async move { big }))
        .route("/gone.csv", get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }))
        .route(
            "/busy.csv",
            get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "later") }),
        )
        .route(
            "/moved.csv",
            get(|| async { axum::response::Redirect::temporary("/prices.csv") }),
        )
        .route(
            "/escape.csv",
            get(|| async { axum::response::Redirect::temporary("file:///etc/passwd") }),
        )
        .route(
            "/slow.csv",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                "SKU,Name,Price\n"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let env = TestEnv::with(&[
        ("INTAKE__SOURCES__HTTP_MAX_BYTES", "50000"),
        ("INTAKE__SOURCES__HTTP_TIMEOUT_MS", "1000"),
        // The test's server is on loopback, which downloads may not reach unless opened.
        ("INTAKE__SOURCES__ALLOWED_NETWORKS", "127.0.0.1/32"),
    ])
    .await;
    let by_url = |file: &str| {
        let mut m = env.message("Remote", "csv", Path::new("unused"));
        m.source_config.path = None;
        m.source_config.url = Some(format!("http://{addr}/{file}"));
        m
    };

    let Outcome::Done(result) = env.ingest(by_url("prices.csv")).await else {
        panic!("download failed")
    };
    assert_eq!((result.counts.rows_stored, result.counts.rows_rejected), (1, 1));
    let Outcome::Failed(too_big) = env.ingest(by_url("big.csv")).await else {
        panic!("no size limit")
    };
    assert!(
        too_big.message.contains("larger than the 50000 byte limit"),
        "{}",
        too_big.message
    );
    assert_eq!(too_big.class, intake_actors::domain::FailureClass::Permanent);
    let Outcome::Failed(gone) = env.ingest(by_url("gone.csv")).await else {
        panic!()
    };
    assert_eq!(gone.class, intake_actors::domain::FailureClass::Permanent);
    assert!(gone.message.contains("404"), "{}", gone.message);
    let Outcome::Failed(busy) = env.ingest(by_url("busy.csv")).await else {
        panic!()
    };
    assert_eq!(
        busy.class,
        intake_actors::domain::FailureClass::Transient,
        "503 is worth retrying"
    );

    let mut moved = by_url("moved.csv");
    moved.supplier_name = intake_actors::domain::SupplierName::new("Moved").unwrap();
    let Outcome::Done(moved) = env.ingest(moved).await else {
        panic!("a same-scheme redirect is followed")
    };
    assert_eq!(moved.counts.rows_stored, 1);
    let Outcome::Failed(escape) = env.ingest(by_url("escape.csv")).await else {
        panic!("followed a redirect to file:")
    };
    assert!(escape.message.contains("another scheme"), "{}", escape.message);
    assert_eq!(escape.class, intake_actors::domain::FailureClass::Permanent);
    let Outcome::Failed(slow) = env.ingest(by_url("slow.csv")).await else {
        panic!("no timeout")
    };
    assert_eq!(
        slow.class,
        intake_actors::domain::FailureClass::Transient,
        "a timeout is worth retrying"
    );
}
