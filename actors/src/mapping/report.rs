//! A table's decisions as the task reports them: a [`TableReport`] from its [`Layout`].

use super::layout::{ColumnDecision, Layout, OVERRIDE, REMEMBERED, column_letter};
use crate::domain::report::{ColumnReport, ColumnSource, RowTally, TableReport};

/// Where a column's role came from.
pub fn column_source(column: &ColumnDecision) -> ColumnSource {
    match column.note.as_deref() {
        Some(OVERRIDE) => ColumnSource::Override,
        Some(REMEMBERED) => ColumnSource::Remembered,
        Some(note) if note.starts_with("inferred") => ColumnSource::Content,
        _ if column.header.trim().is_empty() => ColumnSource::Content,
        _ => ColumnSource::Header,
    }
}

/// The report of a table read with `layout`, whose columns start at `offset` on its sheet,
/// with data from `first_row` to `last_row`.
pub(super) fn table_report(
    layout: &Layout,
    offset: usize,
    first_row: Option<u32>,
    last_row: Option<u32>,
    rows: RowTally,
) -> TableReport {
    let width = layout.table_width.clamp(1, layout.columns.len().max(1));
    let top = layout.header_rows.map(|(a, _)| a.0).or(first_row).unwrap_or(1);
    let bottom = last_row.or(layout.header_rows.map(|(_, b)| b.0)).unwrap_or(top);
    let range = format!(
        "{}{top}:{}{bottom}",
        column_letter(offset),
        column_letter(offset + width - 1)
    );
    let columns = layout.columns[..layout.table_width.min(layout.columns.len())]
        .iter()
        .map(|c| ColumnReport {
            column: column_letter(offset + c.index),
            header: c.header.clone(),
            role: c.role.clone(),
            // Two decimals say all a confidence says, and survive a JSON round trip.
            confidence: (c.confidence * 100.0).round() / 100.0,
            source: column_source(c),
            note: c.note.clone().filter(|n| n != OVERRIDE && n != REMEMBERED),
        })
        .collect();
    TableReport {
        table: layout.table,
        sheet: layout.sheet.clone(),
        range,
        header_rows: layout.header_rows.map(|(a, b)| (a.0, b.0)),
        columns,
        keys_from_names: layout.derive_sku,
        mapping_of: layout.mapping_of,
        rows,
        notes: layout.notes.clone(),
    }
}
