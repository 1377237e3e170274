//! Detection and reading, table by table: what a careful person would map and keep.

use std::ops::ControlFlow;

use super::layout::*;
use super::reader::{ReadSummary, TableReader};
use super::record::RowChunk;
use super::synonyms::PriceKind;
use crate::domain::{ColumnRef, Field, Item, Rejection, RowNumber, SourceConfig};
use crate::table::{Cell, RawRow, TableEvent, TableSink};

pub(super) fn rows(lines: &[&[&str]]) -> Vec<RawRow> {
    lines
        .iter()
        .enumerate()
        .map(|(i, cells)| RawRow {
            number: RowNumber(i as u32 + 1),
            cells: cells.iter().map(|c| Cell::text(*c)).collect(),
        })
        .collect()
}

fn field_header(layout: &Layout, field: Field) -> Option<String> {
    layout.column_of(field).map(|i| layout.columns[i].header.clone())
}

#[test]
fn finds_header_below_a_title_block() {
    let table = rows(&[
        &["ООО Ромашка", "", ""],
        &["Прайс-лист на 01.11.2026", "", ""],
        &["", "", ""],
        &["Артикул", "Наименование", "Цена, руб."],
        &["A-1", "Молоток", "350,00"],
        &["A-2", "Отвертка", "120,50"],
        &["A-3", "Клещи", "410,00"],
    ]);
    let (layout, start) = detect(None, &table, &[], &SourceConfig::default(), &MappingOptions::default()).unwrap();
    assert_eq!(start, 4);
    assert_eq!(layout.header_rows, Some((RowNumber(4), RowNumber(4))));
    assert_eq!(field_header(&layout, Field::Sku).as_deref(), Some("Артикул"));
    assert_eq!(field_header(&layout, Field::Price).as_deref(), Some("Цена, руб."));
}

#[test]
fn split_header_with_group_over_sub_headers() {
    let table = rows(&[
        &["Код", "Товар", "Цена", ""],
        &["", "", "Розница", "Опт"],
        &["1001", "Болт М6", "12,00", "9,50"],
        &["1002", "Гайка М6", "4,00", "3,10"],
        &["1003", "Шайба", "1,00", "0,80"],
    ]);
    let (layout, start) = detect(None, &table, &[], &SourceConfig::default(), &MappingOptions::default()).unwrap();
    assert_eq!(start, 2);
    assert_eq!(field_header(&layout, Field::Price).as_deref(), Some("Цена Опт"));
    assert!(
        layout
            .columns
            .iter()
            .any(|c| c.role == Role::OtherPrice("Цена Розница".into()))
    );
}

#[test]
fn running_number_is_not_an_sku_and_sku_is_derived() {
    let table = rows(&[
        &["№", "Наименование", "Цена"],
        &["1", "Молоток", "350"],
        &["2", "Отвертка", "120"],
        &["3", "Клещи", "410"],
    ]);
    let (layout, _) = detect(None, &table, &[], &SourceConfig::default(), &MappingOptions::default()).unwrap();
    assert_eq!(layout.columns[0].role, Role::RunningNumber);
    assert!(layout.derive_sku);
}

#[test]
fn manual_mapping_wins() {
    let table = rows(&[&["Code", "Title", "Cost", "Price"], &["X1", "Widget", "1.00", "2.00"]]);
    let mut config = SourceConfig::default();
    config.column_mapping.insert(Field::Price, ColumnRef::new("D").unwrap());
    let (layout, _) = detect(None, &table, &[], &config, &MappingOptions::default()).unwrap();
    assert_eq!(field_header(&layout, Field::Price).as_deref(), Some("Price"));
}

#[test]
fn no_price_column_is_unrecognised() {
    let table = rows(&[&["Артикул", "Наименование", "Цвет"], &["1", "Молоток", "красный"]]);
    let err = detect(None, &table, &[], &SourceConfig::default(), &MappingOptions::default()).unwrap_err();
    assert!(err.0.contains("price"), "{}", err.0);
}

#[test]
fn headerless_table_is_inferred_from_content() {
    let table = rows(&[
        &["A-100", "Молоток слесарный 500 г", "350.00"],
        &["A-101", "Отвертка крестовая PH2", "120.50"],
        &["A-102", "Клещи переставные 250 мм", "410.90"],
        &["A-103", "Рулетка 5 м", "199.99"],
    ]);
    let (layout, start) = detect(None, &table, &[], &SourceConfig::default(), &MappingOptions::default()).unwrap();
    assert_eq!(start, 0);
    assert_eq!(layout.column_of(Field::Price), Some(2));
    assert_eq!(layout.column_of(Field::Name), Some(1));
    assert_eq!(layout.column_of(Field::Sku), Some(0));
    assert!(layout.notes.iter().any(|n| n.contains("inferred")));
}

#[test]
fn letters() {
    assert_eq!(column_letter(0), "A");
    assert_eq!(column_letter(25), "Z");
    assert_eq!(column_letter(26), "AA");
    assert_eq!(column_letter(27), "AB");
}

pub(super) fn detect_default(table: &[RawRow]) -> Result<(Layout, usize), Unrecognised> {
    detect(None, table, &[], &SourceConfig::default(), &MappingOptions::default())
}

/// Reads a table through the reader and the validator, as the pipeline does.
pub(super) fn read(
    lines: &[&[&str]],
    options: &MappingOptions,
) -> (Result<ReadSummary, String>, Vec<Item>, Vec<Rejection>) {
    let config = SourceConfig::default();
    let mut chunks: Vec<RowChunk> = Vec::new();
    let mut reader = TableReader::new(&config, options, 100, |c| {
        chunks.push(c);
        ControlFlow::Continue(())
    });
    for row in rows(lines) {
        let _ = reader.event(TableEvent::Row(row));
    }
    let summary = reader.finish();
    let mut items = Vec::new();
    let mut rejections = Vec::new();
    for chunk in &chunks {
        for row in &chunk.rows {
            match chunk.layout.to_item(row) {
                Ok(item) => items.push(item),
                Err(r) => rejections.push(r),
            }
        }
    }
    (summary, items, rejections)
}

fn item<'a>(items: &'a [Item], sku: &str) -> &'a Item {
    items.iter().find(|i| i.sku.as_str() == sku).unwrap_or_else(|| {
        panic!(
            "no item {sku}: {:?}",
            items.iter().map(|i| i.sku.as_str()).collect::<Vec<_>>()
        )
    })
}

#[test]
fn a_lower_header_line_finishes_the_labels_above_it() {
    let table = rows(&[
        &["Code", "Name", "Free stock", "Dealer"],
        &["", "", "", "price"],
        &["A-1", "Kettle", "10", "25"],
        &["A-2", "Toaster", "5", "40"],
    ]);
    let (layout, start) = detect_default(&table).unwrap();
    assert_eq!(start, 2);
    assert_eq!(layout.header_rows, Some((RowNumber(1), RowNumber(2))));
    assert_eq!(field_header(&layout, Field::Price).as_deref(), Some("Dealer price"));
    assert_eq!(
        field_header(&layout, Field::Availability).as_deref(),
        Some("Free stock")
    );
    let (_, items, _) = read(
        &[
            &["Code", "Name", "Free stock", "Dealer"],
            &["", "", "", "price"],
            &["A-1", "Kettle", "10", "25"],
        ],
        &MappingOptions::default(),
    );
    assert_eq!(item(&items, "A-1").price.to_string(), "25.00");
    assert!(!item(&items, "A-1").characteristics.contains_key("category"));
}

#[test]
fn an_unlabelled_key_column_is_found_among_the_labelled_ones() {
    let table = rows(&[
        &["", "Name", "Price"],
        &["A-1", "Kettle electric", "25"],
        &["A-2", "Toaster", "40"],
        &["A-3", "Mixer", "30"],
    ]);
    let (layout, _) = detect_default(&table).unwrap();
    assert_eq!(layout.column_of(Field::Sku), Some(0));
    assert!(!layout.derive_sku);
    assert_eq!(field_header(&layout, Field::Name).as_deref(), Some("Name"));
    assert!(
        layout.notes.iter().any(|n| n.contains("column A was taken as the SKU")),
        "{:?}",
        layout.notes
    );
}

#[test]
fn an_unlabelled_name_column_is_the_longest_free_text() {
    let table = rows(&[
        &["Code", "", "", "Price"],
        &["A-1", "Kettle electric 2 l", "new", "25"],
        &["A-2", "Toaster with two slots", "", "40"],
        &["A-3", "Mixer 300 W", "sale", "30"],
    ]);
    let (layout, _) = detect_default(&table).unwrap();
    assert_eq!(layout.column_of(Field::Name), Some(1));
    assert_eq!(field_header(&layout, Field::Sku).as_deref(), Some("Code"));
    assert_eq!(field_header(&layout, Field::Price).as_deref(), Some("Price"));
}

#[test]
fn a_header_of_only_a_currency_or_a_tax_note_is_a_price() {
    for note in ["€ без ПДВ", "$ excl. VAT", "руб. с НДС"] {
        let table = rows(&[
            &["Артикул", "Наименование", note],
            &["A-1", "Молоток", "350"],
            &["A-2", "Клещи", "410"],
        ]);
        let (layout, _) = detect_default(&table).unwrap();
        assert_eq!(field_header(&layout, Field::Price).as_deref(), Some(note));
    }
}

#[test]
fn no_header_and_two_prices_the_preference_picks_and_no_sku_is_taken_from_amounts() {
    let lines: &[&[&str]] = &[
        &["Kettle electric", "2500", "3000"],
        &["Toaster", "1800", "2100"],
        &["Mixer", "900", "1100"],
        &["Blender", "1500", "1900"],
    ];
    let (layout, _) = detect_default(&rows(lines)).unwrap();
    assert_eq!(
        layout.column_of(Field::Price),
        Some(1),
        "the lower, wholesale price by default"
    );
    assert_eq!(layout.columns[2].role, Role::OtherPrice("column C".into()));
    assert_eq!(layout.column_of(Field::Sku), None, "prices are no SKUs");
    assert!(layout.derive_sku);

    let retail = MappingOptions {
        price_preference: vec![PriceKind::Retail, PriceKind::Plain, PriceKind::Wholesale],
        ..MappingOptions::default()
    };
    let (layout, _) = detect(None, &rows(lines), &[], &SourceConfig::default(), &retail).unwrap();
    assert_eq!(layout.column_of(Field::Price), Some(2));
    let (_, items, _) = read(lines, &MappingOptions::default());
    assert_eq!(items[0].price.to_string(), "2500.00");
    assert_eq!(items[0].characteristics["column C"], 3000);
}

#[test]
fn a_name_with_subtotals_and_no_price_is_a_group_row() {
    let (summary, items, rejections) = read(
        &[
            &["Name", "Qty", "Price", "Total"],
            &["Kitchen", "30", "", "900"],
            &["Kettle", "10", "25", "250"],
            &["Toaster", "20", "30", "600"],
            &["Bathroom", "", "", "100"],
            &["Towel", "10", "10", "100"],
            &["Soap", "5", "", ""],
        ],
        &MappingOptions::default(),
    );
    assert_eq!(summary.unwrap().rows_seen, 4);
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].characteristics["category"], "Kitchen");
    assert_eq!(items[2].characteristics["category"], "Bathroom");
    assert_eq!(
        rejections.len(),
        1,
        "an item with a quantity and no price is still an item"
    );
}

#[test]
fn key_headers_are_skus_never_names() {
    for header in [
        "item_id",
        "id",
        "Product ID",
        "handle",
        "Номенклатурный номер",
        "Код товара",
        "Каталожный номер",
        "Supplier code",
    ] {
        let table = rows(&[
            &[header, "Title", "Price"],
            &["K-1", "Mug", "3"],
            &["K-2", "Mug", "4"],
            &["K-3", "Cup", "2"],
        ]);
        let (layout, _) = detect_default(&table).unwrap();
        assert_eq!(layout.column_of(Field::Sku), Some(0), "{header}");
        assert_eq!(layout.column_of(Field::Name), Some(1), "{header}");
        assert!(!layout.derive_sku, "{header}");
    }
}

#[test]
fn a_description_is_a_characteristic_beside_a_name() {
    for name in ["Name", "Название", "Наименование", "Product name", "Title"] {
        for description in ["Description", "Описание", "Item_Desc"] {
            let table = rows(&[
                &["SKU", description, name, "Price"],
                &["A", "A long text that describes the kettle at length", "Kettle", "3"],
            ]);
            let (layout, _) = detect_default(&table).unwrap();
            assert_eq!(layout.column_of(Field::Name), Some(2), "{description} / {name}");
            assert_eq!(layout.columns[1].role, Role::Characteristic(description.into()));
        }
    }
    let table = rows(&[&["SKU", "Item_Desc", "Price"], &["A", "Kettle", "3"]]);
    assert_eq!(
        detect_default(&table).unwrap().0.column_of(Field::Name),
        Some(1),
        "no name: the description is"
    );
}

#[test]
fn derived_keys_that_collapse_rows_are_noted() {
    let table = rows(&[
        &["Name", "Price"],
        &["Mug", "3"],
        &["Mug", "4"],
        &["Mug", "5"],
        &["Cup", "2"],
    ]);
    let (layout, _) = detect_default(&table).unwrap();
    assert!(layout.derive_sku);
    assert!(
        layout.notes.iter().any(|n| n.contains("derived keys collapse")),
        "{:?}",
        layout.notes
    );
}

#[test]
fn equally_good_headers_are_told_apart_by_their_content() {
    let table = rows(&[
        &["Код", "Артикул", "Наименование", "Цена"],
        &["10", "A-1", "Молоток", "350"],
        &["10", "A-2", "Клещи", "410"],
        &["", "A-3", "Отвертка", "120"],
    ]);
    let (layout, _) = detect_default(&table).unwrap();
    assert_eq!(field_header(&layout, Field::Sku).as_deref(), Some("Артикул"));
}

#[test]
fn a_sheet_of_discounts_or_terms_is_no_price_list() {
    let discounts = rows(&[
        &["Ценовая группа", "Скидка, %"],
        &["PG1", "30"],
        &["PG2", "25"],
        &["PG3", "20"],
        &["PG4", "15"],
    ]);
    let err = detect_default(&discounts).unwrap_err();
    assert!(err.0.contains("no price column"), "{}", err.0);
    let terms = rows(&[
        &["Условие", "Значение"],
        &["Минимальный заказ", "5000"],
        &["Отсрочка, дней", "30"],
        &["Доставка от", "10000"],
        &["Скидка за объём", "5"],
    ]);
    let err = detect_default(&terms).unwrap_err();
    assert!(err.0.contains("no price column"), "{}", err.0);
}

#[test]
fn variants_take_the_parent_name_and_keys_of_their_own() {
    let (_, items, rejections) = read(
        &[
            &["handle", "title", "price"],
            &["mug", "Mug", "3"],
            &["mug", "", "4"],
            &["'mug", "", "5"],
            &["cup", "Cup", "2"],
            &["plate", "", "1"],
        ],
        &MappingOptions::default(),
    );
    let keys: Vec<&str> = items.iter().map(|i| i.sku.as_str()).collect();
    assert_eq!(keys, ["mug", "mug~2", "mug~3", "cup", "plate"]);
    assert_eq!(item(&items, "mug~2").name.as_str(), "Mug");
    assert_eq!(item(&items, "mug~3").price.to_string(), "5.00");
    assert_eq!(item(&items, "mug~2").characteristics["variant_of"], "mug");
    assert!(!item(&items, "mug").characteristics.contains_key("variant_of"));
    assert!(rejections.is_empty());
    let plate = item(&items, "plate");
    assert_eq!(
        (plate.name.as_str(), &plate.characteristics["name_source"]),
        ("plate", &serde_json::json!("key")),
        "a priced nameless row under another key is named by its key"
    );
}

#[test]
fn blank_keys_in_a_keyed_list_are_derived_from_names() {
    let (_, items, rejections) = read(
        &[
            &["SKU", "Name", "Price"],
            &["A-1", "Hammer", "3"],
            &["", "Claw hammer", "4"],
            &["A-3", "Saw", "5"],
        ],
        &MappingOptions::default(),
    );
    assert!(rejections.is_empty());
    let derived = item(&items, "name:claw hammer");
    assert_eq!(derived.characteristics["sku_source"], "derived_from_name");
}

#[test]
fn a_price_column_without_prices_gives_way_to_one_with_prices() {
    let table = rows(&[
        &["SKU", "Name", "Price group", "Retail price"],
        &["A-1", "Kettle", "PG1", "25"],
        &["A-2", "Toaster", "PG2", "40"],
        &["A-3", "Mixer", "PG1", "30"],
    ]);
    let (layout, _) = detect_default(&table).unwrap();
    assert_eq!(field_header(&layout, Field::Price).as_deref(), Some("Retail price"));
    assert_eq!(layout.columns[2].role, Role::Characteristic("Price group".into()));
}

#[test]
fn a_first_row_resembling_only_a_stock_label_is_data() {
    let table = rows(&[
        &["A-5", "Рулетка 5 м", "по запросу", "в наличии"],
        &["A-6", "Молоток слесарный", "350.00", "в наличии"],
        &["A-7", "Клещи переставные", "410.90", "нет"],
        &["A-8", "Отвертка крестовая", "120.50", "в наличии"],
        &["A-9", "Уровень 60 см", "199.99", "нет"],
    ]);
    let (layout, start) = detect_default(&table).unwrap();
    assert_eq!((layout.header_rows, start), (None, 0));
    assert_eq!(layout.column_of(Field::Price), Some(2));
}
