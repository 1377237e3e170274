//! Rows that are not items but tell something about the items below them: category rows,
//! with or without subtotals.

use super::layout::Layout;
use crate::domain::Field;
use crate::mapping::price::parse_price;
use crate::table::{Cell, RawRow};

/// The text of a category row: one or two text cells, no price, no SKU-like code; or a name
/// without a price or a key whose other cells are subtotal numbers (`Kitchen, 30, , 900` under
/// `Name, Qty, Price, Total`).
pub(super) fn section_title(layout: &Layout, row: &RawRow) -> Option<String> {
    let cells = layout.table_cells(row);
    let cell = |field| layout.column_of(field).and_then(|i| cells.get(i));
    if cell(Field::Price).is_some_and(|c| !c.is_empty()) {
        return None;
    }
    let filled = |field| cell(field).filter(|c| !c.is_empty());
    let non_empty = cells.iter().filter(|c| !c.is_empty()).count();
    if let Some(title) = group_with_subtotals(layout, cells) {
        return Some(title);
    }
    if non_empty > 2 {
        return None;
    }
    if let Some(sku) = filled(Field::Sku) {
        let text = sku.as_text();
        let code_like = !text.contains(' ') && text.chars().any(|c| c.is_ascii_digit());
        // A code and a name side by side are an item whatever the code looks like.
        if code_like || filled(Field::Name).is_some() {
            return None;
        }
    }
    let texts: Vec<String> = cells
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| c.as_text().trim().to_owned())
        .collect();
    let all_words = texts
        .iter()
        .all(|t| t.chars().any(char::is_alphabetic) && parse_price(&Cell::text(t.as_str())).is_err());
    all_words.then(|| texts.join(" "))
}

/// A group row with subtotals: a name, no key, no price, and besides the name only numbers,
/// at least one of them in a subtotal column.
fn group_with_subtotals(layout: &Layout, cells: &[Cell]) -> Option<String> {
    if layout.subtotals.is_empty() {
        return None;
    }
    let name = layout.column_of(Field::Name)?;
    let key = layout.column_of(Field::Sku);
    let title = cells.get(name).filter(|c| matches!(c, Cell::Text(_)))?;
    let mut subtotal = false;
    for (i, c) in cells.iter().enumerate() {
        if i == name || c.is_empty() {
            continue;
        }
        if Some(i) == key || parse_price(c).is_err() {
            return None;
        }
        subtotal |= layout.is_subtotal_column(i);
    }
    subtotal.then(|| title.as_text().into_owned())
}
