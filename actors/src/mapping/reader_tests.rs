//! The reader on tables and workbooks: what is an item, what is not, what is reported.

use std::ops::ControlFlow;

use super::layout::MappingOptions;
use super::reader::{ReadSummary, TableReader};
use super::record::{DataRow, RowChunk};
use crate::domain::SourceConfig;
use crate::domain::report::ColumnSource;
use crate::domain::{Field, RowNumber};
use crate::table::{Cell, RawRow, TableEvent, TableSink};

fn feed(lines: &[&[&str]], chunk_rows: usize) -> (Vec<RowChunk>, Result<ReadSummary, String>) {
    let config = SourceConfig::default();
    let options = MappingOptions::default();
    let mut chunks = Vec::new();
    let mut reader = TableReader::new(&config, &options, chunk_rows, |c| {
        chunks.push(c);
        ControlFlow::Continue(())
    });
    for (i, cells) in lines.iter().enumerate() {
        let _ = reader.event(TableEvent::Row(RawRow {
            number: RowNumber(i as u32 + 1),
            cells: cells.iter().map(|c| Cell::text(*c)).collect(),
        }));
    }
    let summary = reader.finish();
    (chunks, summary)
}

#[test]
fn categories_repeated_headers_and_totals_are_not_items() {
    let (chunks, summary) = feed(
        &[
            &["Артикул", "Наименование", "Цена"],
            &["Инструмент", "", ""],
            &["A-1", "Молоток", "350"],
            &["A-2", "Отвертка", "120"],
            &["Артикул", "Наименование", "Цена"],
            &["Крепёж", "", ""],
            &["B-1", "Болт", "5"],
            &["", "", ""],
            &["Итого", "", "475"],
        ],
        2,
    );
    let rows: Vec<&DataRow> = chunks.iter().flat_map(|c| &c.rows).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(summary.unwrap().rows_seen, 3);
    assert_eq!(rows[0].section.as_deref(), Some("Инструмент"));
    assert_eq!(rows[2].section.as_deref(), Some("Крепёж"));
    assert_eq!(chunks.len(), 2, "chunks hold at most chunk_rows rows");
}

#[test]
fn item_without_price_is_not_mistaken_for_a_category() {
    let (chunks, _) = feed(
        &[
            &["Артикул", "Наименование", "Цена"],
            &["A-1", "Молоток", ""],
            &["A-2", "Клещи", "1"],
        ],
        10,
    );
    assert_eq!(chunks[0].rows.len(), 2);
}

#[test]
fn a_code_and_a_name_without_price_are_an_item() {
    let (chunks, _) = feed(
        &[
            &["SKU", "Name", "Price"],
            &["B", "Saw", ""],
            &["Tools", "", ""],
            &["C", "Axe", "2"],
        ],
        10,
    );
    let rows: Vec<&DataRow> = chunks.iter().flat_map(|c| &c.rows).collect();
    assert_eq!(rows.len(), 2, "B is an item, Tools a category");
    assert_eq!(rows[1].section.as_deref(), Some("Tools"));
}

#[test]
fn empty_source_is_an_error() {
    let (_, summary) = feed(&[], 10);
    assert_eq!(summary.unwrap_err(), "the source is empty");
}

#[test]
fn header_without_rows_is_noted() {
    let (chunks, summary) = feed(&[&["SKU", "Name", "Price"]], 10);
    assert!(chunks.is_empty());
    let summary = summary.unwrap();
    assert_eq!(summary.rows_seen, 0);
    assert!(summary.notes.iter().any(|n| n.contains("no data rows")));
}

/// Feeds sheets (name, rows) as a workbook decoder announces them.
fn feed_sheets(sheets: &[(&str, &[&[&str]])]) -> (Vec<RowChunk>, ReadSummary) {
    let config = SourceConfig::default();
    let options = MappingOptions::default();
    let mut chunks = Vec::new();
    let mut reader = TableReader::new(&config, &options, 100, |c| {
        chunks.push(c);
        ControlFlow::Continue(())
    });
    for (index, (name, lines)) in sheets.iter().enumerate() {
        let _ = reader.event(TableEvent::Table {
            name: Some((*name).to_owned()),
            index: index + 1,
            merged: Vec::new(),
        });
        for (i, cells) in lines.iter().enumerate() {
            let _ = reader.event(TableEvent::Row(RawRow {
                number: RowNumber(i as u32 + 1),
                cells: cells.iter().map(|c| Cell::text(*c)).collect(),
            }));
        }
    }
    let summary = reader.finish().expect("a table is read");
    (chunks, summary)
}

#[test]
fn sheets_with_one_header_share_the_first_sheets_mapping() {
    // Alone, the second sheet would take "Code" as its key (its "Article" repeats); read
    // after the first, it keeps the first sheet's key column.
    let (chunks, summary) = feed_sheets(&[
        (
            "EUR",
            &[
                &["Code", "Article", "Name", "Price"],
                &["1", "K-1", "Kettle", "25"],
                &["1", "K-2", "Toaster", "40"],
                &["2", "K-3", "Lamp", "7"],
            ],
        ),
        (
            "USD",
            &[
                &["Code", "Article", "Name", "Price"],
                &["1", "K-1", "Kettle", "27"],
                &["2", "K-2", "Toaster", "43"],
                &["3", "K-3", "Lamp", "8"],
            ],
        ),
    ]);
    let key = |t: usize| {
        summary.layouts[t]
            .column_of(Field::Sku)
            .map(|i| summary.layouts[t].columns[i].header.clone())
    };
    assert_eq!(key(0).as_deref(), Some("Article"));
    assert_eq!(key(1), key(0));
    assert_eq!(summary.report.tables[1].mapping_of, Some(1));
    assert_eq!(summary.report.tables[0].mapping_of, None);
    assert_eq!(chunks.iter().map(|c| c.rows.len()).sum::<usize>(), 6);
}

#[test]
fn the_report_tallies_what_each_row_was() {
    let (_, summary) = feed_sheets(&[
        (
            "Прайс",
            &[
                &["Прайс-лист ООО Ромашка", "", ""],
                &["Артикул", "Наименование", "Цена"],
                &["Инструмент", "", ""],
                &["A-1", "Молоток", "350"],
                &["", "Клещи", "120"],
                &["Артикул", "Наименование", "Цена"],
                &["Крепёж", "", ""],
                &["B-1", "Болт", "5"],
                &["Итого", "", "475"],
            ],
        ),
        ("Пустой", &[&["", ""]]),
    ]);
    let table = &summary.report.tables[0];
    assert_eq!(table.sheet.as_deref(), Some("Прайс"));
    assert_eq!(table.range, "A2:C8");
    assert_eq!(table.header_rows, Some((2, 2)));
    assert_eq!(
        (
            table.rows.data,
            table.rows.groups,
            table.rows.repeated_headers,
            table.rows.footers
        ),
        (3, 2, 1, 1)
    );
    assert_eq!(table.rows.keys_derived, 1, "the blank key of Клещи");
    let sources: Vec<ColumnSource> = table.columns.iter().map(|c| c.source).collect();
    assert_eq!(sources, [ColumnSource::Header; 3]);
    assert_eq!(summary.report.skipped.len(), 1);
    assert_eq!(summary.report.skipped[0].sheet.as_deref(), Some("Пустой"));
    assert!(summary.report.skipped[0].reason.contains("empty"));
    let json = serde_json::to_value(&summary.report).unwrap();
    assert_eq!(
        json["tables"][0]["columns"][2]["role"],
        serde_json::json!({"kind": "field", "value": "price"})
    );
    assert_eq!(json["tables"][0]["columns"][2]["source"], "header");
}
