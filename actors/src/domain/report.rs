//! What reading a source decided, table by table, in a shape a person (or a script) can read
//! without the source at hand: where each table is, which rows are its header, what each
//! column became and why, which sheets were skipped, and how many rows were group rows,
//! repeated headers, footers, variants or items with a derived key.

use serde::{Deserialize, Serialize};

use super::source::Field;

/// What a column is used for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Role {
    Field(Field),
    /// A price column that lost to the preferred one; kept as a characteristic.
    OtherPrice(String),
    /// `№`, `#`, `p/p`: dropped.
    RunningNumber,
    /// Kept under this key.
    Characteristic(String),
    /// Not kept (outside `characteristic_columns`, or without header and content).
    Ignored,
}

/// The decisions of one read, in source order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadReport {
    pub tables: Vec<TableReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedTable>,
    /// Rows whose key an earlier table, or a later row of the same table, gave again: each is
    /// logged in `parsing_logs` with both rows. Known once the list is stored.
    #[serde(default)]
    pub duplicates_collapsed: u64,
}

/// A sheet (or a table beside another) that was not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedTable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// The table's columns when it stood beside another on its sheet (`H:K`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<String>,
    pub reason: String,
}

/// One table read: its place, its header, its columns and what its rows were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableReport {
    /// Its place among the source's tables, from 1: the earlier table wins when two give the
    /// same key.
    pub table: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// From the header's first row (or the first data row) to the last data row, over the
    /// table's columns: `B4:F1200`.
    pub range: String,
    /// The header's first and last row (two for a split header); none when the columns were
    /// inferred from their content.
    pub header_rows: Option<(u32, u32)>,
    pub columns: Vec<ColumnReport>,
    /// No key column: every item's key is derived from its name.
    pub keys_from_names: bool,
    /// The earlier table with the same header whose mapping this table reuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_of: Option<u32>,
    pub rows: RowTally,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What the rows below a header turned out to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowTally {
    /// Rows passed on as items (valid or not).
    pub data: u64,
    /// Category rows: their text became the `category` of the items below them.
    pub groups: u64,
    /// The header printed again inside the data.
    pub repeated_headers: u64,
    /// Totals and notes under the table.
    pub footers: u64,
    /// Items whose key was derived from their name (no key column, or a blank key cell).
    pub keys_derived: u64,
    /// Variant rows under a parent of the same key, given a key of their own.
    pub variants: u64,
}

/// Where a column's role came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnSource {
    /// The task's own `column_mapping`.
    Override,
    /// The supplier's remembered mapping.
    Remembered,
    /// Its header text, with the column's confidence.
    Header,
    /// Its content: it had no usable header.
    Content,
}

/// One column's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnReport {
    /// The spreadsheet letter of the column in its sheet.
    pub column: String,
    pub header: String,
    pub role: Role,
    pub confidence: f64,
    pub source: ColumnSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ReadReport {
    /// The report as an operator reads it in a terminal.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for t in &self.tables {
            let sheet = t.sheet.as_deref().map_or(String::new(), |s| format!("sheet {s:?}, "));
            let header = match t.header_rows {
                Some((a, b)) if a == b => format!("header row {a}"),
                Some((a, b)) => format!("header rows {a}-{b}"),
                None => "no header row (columns inferred from their content)".into(),
            };
            let _ = writeln!(out, "table {} ({sheet}{}): {header}", t.table, t.range);
            if let Some(of) = &t.mapping_of {
                let _ = writeln!(out, "  same header as table {of}: its mapping is reused");
            }
            for c in &t.columns {
                let role = match &c.role {
                    Role::Field(f) => format!("→ {f}"),
                    Role::OtherPrice(k) => format!("→ characteristic {k:?} (another price)"),
                    Role::Characteristic(k) => format!("→ characteristic {k:?}"),
                    Role::RunningNumber => "→ dropped (running number)".into(),
                    Role::Ignored => "→ ignored".into(),
                };
                let source = match c.source {
                    ColumnSource::Override => "override".to_owned(),
                    ColumnSource::Remembered => "remembered".to_owned(),
                    ColumnSource::Header => format!("header {:.2}", c.confidence),
                    ColumnSource::Content => format!("content {:.2}", c.confidence),
                };
                let note = c.note.as_deref().map_or(String::new(), |n| format!("  [{n}]"));
                let _ = writeln!(
                    out,
                    "  {:>3} {:<30} {:<40} {source}{note}",
                    c.column,
                    format!("{:?}", c.header),
                    role
                );
            }
            if t.keys_from_names {
                let _ = writeln!(out, "  (no key column: keys derived from the normalised name)");
            }
            let r = &t.rows;
            let _ = writeln!(
                out,
                "  rows: {} data, {} group, {} repeated header, {} footer; {} keys derived, {} variants",
                r.data, r.groups, r.repeated_headers, r.footers, r.keys_derived, r.variants
            );
            for note in &t.notes {
                let _ = writeln!(out, "  note: {note}");
            }
        }
        for s in &self.skipped {
            let sheet = s
                .sheet
                .as_deref()
                .map_or("the table".to_owned(), |n| format!("sheet {n:?}"));
            let columns = s.columns.as_deref().map_or(String::new(), |c| format!(" columns {c}"));
            let _ = writeln!(out, "skipped {sheet}{columns}: {}", s.reason);
        }
        out
    }
}
