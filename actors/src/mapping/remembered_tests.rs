//! The supplier's remembered mapping in detection: found by header text, yielding to the task's
//! own overrides, and ignored with a note when the header no longer holds it.

use super::layout::*;
use super::tests::rows;
use crate::domain::{ColumnRef, Field, SourceConfig};
use crate::table::RawRow;

fn remembering(pairs: &[(Field, &str)]) -> SourceConfig {
    SourceConfig {
        remembered_mapping: pairs.iter().map(|(f, h)| (*f, (*h).to_owned())).collect(),
        ..SourceConfig::default()
    }
}

fn detect_with(table: &[RawRow], config: &SourceConfig) -> Layout {
    detect(None, table, &[], config, &MappingOptions::default()).unwrap().0
}

#[test]
fn a_remembered_header_is_found_where_it_moved() {
    let table = rows(&[
        &["Дилер", "Код", "Товар", "Цена розница"],
        &["80", "K-1", "Чайник", "100"],
        &["150", "K-2", "Тостер", "200"],
    ]);
    let layout = detect_with(&table, &remembering(&[(Field::Price, "дилер")]));
    assert_eq!(layout.column_of(Field::Price), Some(0));
    assert_eq!(layout.columns[0].note.as_deref(), Some("remembered mapping"));
    let line = layout.describe();
    assert!(line.contains(r#"price="Дилер" (remembered)"#), "{line}");
    assert!(line.contains(r#"sku="Код" (detected "#), "{line}");
    assert!(
        layout.notes.iter().all(|n| !n.contains("remembered")),
        "{:?}",
        layout.notes
    );
}

#[test]
fn the_tasks_own_mapping_wins_over_the_remembered_one() {
    let table = rows(&[&["Code", "Name", "Cost", "Dealer"], &["X1", "Widget", "1.00", "2.00"]]);
    let mut config = remembering(&[(Field::Price, "Dealer")]);
    config.column_mapping.insert(Field::Price, ColumnRef::new("C").unwrap());
    let layout = detect_with(&table, &config);
    assert_eq!(layout.column_of(Field::Price), Some(2));
    assert!(
        layout.describe().contains(r#"price="Cost" (override)"#),
        "{}",
        layout.describe()
    );
    assert!(
        layout.notes.iter().all(|n| !n.contains("remembered")),
        "{:?}",
        layout.notes
    );
}

#[test]
fn a_remembered_header_no_longer_there_is_detected_with_a_note() {
    let table = rows(&[&["Code", "Name", "Price"], &["X1", "Widget", "2.00"]]);
    let layout = detect_with(&table, &remembering(&[(Field::Price, "Dealer"), (Field::Sku, "Code")]));
    assert_eq!(layout.column_of(Field::Price), Some(2));
    assert_eq!(
        layout.notes,
        [r#"the remembered mapping of price ("Dealer") does not match this list's header; detected instead"#]
    );
    assert!(
        layout.describe().contains(r#"sku="Code" (remembered)"#),
        "{}",
        layout.describe()
    );
}
