//! Rows into items: names, keys, prices, characteristics, and the reason of every rejection.

use super::layout::Layout;
use super::record::*;
use crate::domain::SourceConfig;
use crate::domain::catalog::NAME_MAX_CHARS;
use crate::domain::{ItemName, RejectReason, RowNumber};
use crate::mapping::layout::{MappingOptions, detect};
use crate::table::Cell;
use crate::table::RawRow;

fn layout(header: &[&str]) -> Layout {
    let rows = vec![RawRow {
        number: RowNumber(1),
        cells: header.iter().map(|h| Cell::text(*h)).collect(),
    }];
    detect(None, &rows, &[], &SourceConfig::default(), &MappingOptions::default())
        .unwrap()
        .0
}

fn row(cells: &[&str]) -> DataRow {
    DataRow {
        number: RowNumber(7),
        cells: cells.iter().map(|c| Cell::text(*c)).collect(),
        section: Some("Инструмент".into()),
        variant_of: None,
    }
}

#[test]
fn valid_row_becomes_an_item_with_typed_characteristics() {
    let l = layout(&["SKU", "Name", "Price", "Color", "Weight", "Code"]);
    let item = l
        .to_item(&row(&["00123", "Hammer", "12.5", "red", "0.5", "007"]))
        .unwrap();
    assert_eq!(item.sku.as_str(), "00123");
    assert_eq!(item.price.to_string(), "12.50");
    assert_eq!(item.characteristics["Color"], "red");
    assert_eq!(item.characteristics["Weight"], 0.5);
    assert_eq!(item.characteristics["Code"], "007");
    assert_eq!(item.characteristics["category"], "Инструмент");
}

#[test]
fn each_problem_has_its_reason() {
    let l = layout(&["SKU", "Name", "Price"]);
    let reason = |cells: &[&str]| l.to_item(&row(cells)).unwrap_err().reason;
    assert_eq!(reason(&["", "", "1"]), RejectReason::MissingName);
    assert_eq!(
        reason(&["A", "", ""]),
        RejectReason::MissingName,
        "no name and no price: no item"
    );
    let coded = l.to_item(&row(&["'SYMO 17.5", "", "3684,00"])).unwrap();
    assert_eq!(
        coded.name.as_str(),
        "SYMO 17.5",
        "a priced row with only its code is named by it"
    );
    assert_eq!(coded.characteristics["name_source"], "key");
    assert_eq!(reason(&["A", "Hammer", ""]), RejectReason::MissingPrice);
    assert_eq!(reason(&["A", "Hammer", "abc"]), RejectReason::InvalidPrice);
    assert_eq!(reason(&["A", "Hammer", "-1"]), RejectReason::NegativePrice);
    assert_eq!(reason(&["A", "Hammer", "99999999999"]), RejectReason::PriceOutOfRange);
    assert_eq!(reason(&["A", "Hammer", "по запросу"]), RejectReason::PriceOnRequest);
    let long = "x".repeat(300);
    assert_eq!(reason(&[&long, "Hammer", "1"]), RejectReason::InvalidSku);
}

#[test]
fn a_description_as_long_as_a_paragraph_is_shortened_and_kept_whole() {
    let l = layout(&["SKU", "Name", "Price"]);
    let paragraph = "Managed switch with 24 ports, ".repeat(40);
    let item = l.to_item(&row(&["S-24", &paragraph, "1"])).unwrap();
    assert!(item.name.as_str().chars().count() <= NAME_MAX_CHARS);
    let shown = item
        .name
        .as_str()
        .strip_suffix('…')
        .expect("an ellipsis says the name was cut");
    assert!(paragraph.starts_with(shown), "{shown}");
    assert!(paragraph[shown.len()..].starts_with(' '), "cut between words: {shown}");
    assert_eq!(item.characteristics["full_name"], paragraph.trim());
    let described = layout(&["SKU", "Name", "Description", "Price"]);
    let item = described.to_item(&row(&["S-26", "", &paragraph, "1"])).unwrap();
    assert!(item.name.as_str().starts_with("Managed switch"));
    assert_eq!(item.characteristics["name_source"], "description");
    assert_eq!(
        item.characteristics["Description"],
        paragraph.trim(),
        "kept whole under its header"
    );
    let novel = "x".repeat(LONG_NAME_MAX_CHARS + 1);
    assert_eq!(
        l.to_item(&row(&["S-25", &novel, "1"])).unwrap_err().reason,
        RejectReason::InvalidName,
        "a cell longer than any description is no name"
    );
}

#[test]
fn a_blank_key_in_a_keyed_list_is_derived_from_the_name() {
    let l = layout(&["SKU", "Name", "Price"]);
    for blank in ["", "'"] {
        let item = l.to_item(&row(&[blank, "Claw Hammer", "1"])).unwrap();
        assert_eq!(item.sku.as_str(), "name:claw hammer");
        assert_eq!(item.characteristics["sku_source"], "derived_from_name");
    }
    let keyed = l.to_item(&row(&["H-1", "Claw Hammer", "1"])).unwrap();
    assert!(!keyed.characteristics.contains_key("sku_source"));
}

#[test]
fn the_text_marker_is_not_part_of_the_key() {
    let l = layout(&["SKU", "Name", "Price"]);
    assert_eq!(
        l.to_item(&row(&["'00123", "Hammer", "1"])).unwrap().sku.as_str(),
        "00123"
    );
    assert_eq!(
        l.to_item(&row(&["O'Neil-1", "Hammer", "1"])).unwrap().sku.as_str(),
        "O'Neil-1"
    );
}

#[test]
fn rejection_keeps_the_raw_row() {
    let l = layout(&["SKU", "Name", "Price"]);
    let r = l.to_item(&row(&["A", "Hammer", ""])).unwrap_err();
    assert_eq!(r.row, Some(RowNumber(7)));
    assert_eq!(r.row_data.unwrap()["Name"], "Hammer");
}

#[test]
fn zero_is_a_price() {
    let l = layout(&["SKU", "Name", "Price"]);
    assert_eq!(l.to_item(&row(&["A", "Free", "0"])).unwrap().price.to_string(), "0.00");
}

#[test]
fn derived_skus_are_stable_across_spelling_of_case_and_spaces() {
    let a = derived_sku(&ItemName::new("Молоток  Слесарный").unwrap());
    let b = derived_sku(&ItemName::new("молоток слесарный").unwrap());
    assert_eq!(a, b);
    let long = derived_sku(&ItemName::new(&"я".repeat(500)).unwrap());
    assert!(long.as_str().chars().count() <= 255);
}

#[test]
fn a_secondary_price_keeps_its_whole_value() {
    let l = layout(&["SKU", "Name", "Price", "Retail price"]);
    for (text, expected) in [("80784,00", 80784), ("100.00", 100), ("1 234,00", 1234), ("7", 7)] {
        let item = l.to_item(&row(&["A", "Kettle", "1", text])).unwrap();
        assert_eq!(item.characteristics["Retail price"], expected, "{text}");
    }
    let item = l.to_item(&row(&["A", "Kettle", "1", "12,50"])).unwrap();
    assert_eq!(item.characteristics["Retail price"], 12.5);
}

mod properties {
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use crate::mapping::record::decimal_number;

    proptest! {
        /// Whatever its scale (`100`, `100.0`, `100.00`), a decimal becomes the same number.
        #[test]
        fn decimal_number_keeps_the_value(mantissa in -10_000_000_000_000i64..10_000_000_000_000, scale in 0u32..=4) {
            let value = Decimal::new(mantissa, scale);
            let number = decimal_number(value).expect("a JSON number");
            if value.fract().is_zero() {
                prop_assert_eq!(Decimal::from(number.as_i64().expect("an integer")), value);
            } else {
                let text = number.to_string();
                let back = text.parse::<Decimal>().or_else(|_| Decimal::from_scientific(&text)).expect("a decimal");
                prop_assert_eq!(back, value);
            }
        }
    }
}
