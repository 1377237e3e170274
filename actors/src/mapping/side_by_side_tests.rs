//! Tables side by side on one sheet: each read on its own.

use super::layout::{MappingOptions, Role};
use super::tests::{detect_default, read, rows};
use crate::domain::Field;

#[test]
fn a_header_repeated_without_a_gap_starts_a_second_table() {
    let lines: &[&[&str]] = &[
        &["Code", "Name", "Price", "Code", "Name", "Price"],
        &["A-1", "Kettle", "25", "Z-9", "Lamp", "7"],
        &["A-2", "Toaster", "40", "Z-8", "Bulb", "1"],
    ];
    let (summary, items, rejections) = read(lines, &MappingOptions::default());
    assert!(rejections.is_empty());
    let keys: Vec<(&str, &str)> = items.iter().map(|i| (i.sku.as_str(), i.name.as_str())).collect();
    assert_eq!(
        keys,
        [("A-1", "Kettle"), ("A-2", "Toaster"), ("Z-9", "Lamp"), ("Z-8", "Bulb")]
    );
    let ranges: Vec<String> = summary.unwrap().report.tables.iter().map(|t| t.range.clone()).collect();
    assert_eq!(ranges, ["A1:C3", "D1:F3"]);
}

#[test]
fn a_second_table_to_the_right_is_read_on_its_own() {
    let lines: &[&[&str]] = &[
        &["Code", "Name", "Price", "", "Catalogue no", "Name", "Price"],
        &["A-1", "Kettle", "25", "", "Z-9", "Lamp", "7"],
        &["A-2", "Toaster", "40", "", "Z-8", "Bulb", "1"],
        &["", "", "", "", "Z-7", "Shade", "3"],
    ];
    let (layout, _) = detect_default(&rows(lines)).unwrap();
    assert_eq!(layout.column_of(Field::Sku), Some(0));
    assert_eq!(layout.column_of(Field::Name), Some(1));
    assert_eq!(layout.column_of(Field::Price), Some(2));
    assert!(layout.columns[4..].iter().all(|c| c.role == Role::Ignored));
    assert!(
        layout.notes.iter().any(|n| n.contains("second table")),
        "{:?}",
        layout.notes
    );
    let (summary, items, rejections) = read(lines, &MappingOptions::default());
    let summary = summary.unwrap();
    assert_eq!(summary.rows_seen, 5, "two rows on the left, three on the right");
    let keys: Vec<(&str, &str, String)> = items
        .iter()
        .map(|i| (i.sku.as_str(), i.name.as_str(), i.price.to_string()))
        .collect();
    assert_eq!(
        keys,
        [
            ("A-1", "Kettle", "25.00".to_owned()),
            ("A-2", "Toaster", "40.00".to_owned()),
            ("Z-9", "Lamp", "7.00".to_owned()),
            ("Z-8", "Bulb", "1.00".to_owned()),
            ("Z-7", "Shade", "3.00".to_owned()),
        ],
        "each key with its own table's name and price"
    );
    assert!(rejections.is_empty());
    let ranges: Vec<&str> = summary.report.tables.iter().map(|t| t.range.as_str()).collect();
    assert_eq!(ranges, ["A1:C3", "E1:G4"]);
    assert_eq!(summary.report.tables[1].columns[0].column, "E");
    assert!(items[2].table > items[0].table, "the left table comes first");
    assert_eq!(items[0].characteristics.len(), 0, "{:?}", items[0].characteristics);
}
