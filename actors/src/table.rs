//! The common shape every decoder produces: tables (sheets) of numbered rows of cells.
//!
//! Decoders push [`TableEvent`]s into a [`TableSink`] as they read, so a million-row file is
//! never held in memory; the column mapper consumes the same events whatever the format.

use std::borrow::Cow;
use std::fmt;
use std::ops::ControlFlow;

use crate::domain::RowNumber;

/// One cell as the source typed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    /// A numeric cell of a spreadsheet, read as a number rather than through its display format.
    Number(f64),
    Bool(bool),
    /// A date or date-time cell, as ISO 8601 text.
    Date(String),
}

impl Cell {
    /// A text cell, or `Empty` when it holds only whitespace. NUL characters are dropped:
    /// no database text can hold them.
    pub fn text(s: impl Into<String>) -> Self {
        let mut s = s.into();
        if s.contains('\0') {
            s.retain(|c| c != '\0');
        }
        if s.trim().is_empty() {
            Cell::Empty
        } else {
            Cell::Text(s)
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as text: numbers without a spurious `.0`, so that SKU `123` stays `123`.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(s) => Cow::Borrowed(s.trim()),
            Cell::Number(n) => Cow::Owned(format_number(*n)),
            Cell::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Cell::Date(d) => Cow::Borrowed(d),
        }
    }
}

/// Prints a spreadsheet number the way a person typed it: integers without a fraction, others
/// with the shortest representation that reads back to the same value.
pub fn format_number(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_text())
    }
}

/// A row of a table with its position in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    pub number: RowNumber,
    pub cells: Vec<Cell>,
}

impl RawRow {
    pub fn non_empty(&self) -> usize {
        self.cells.iter().filter(|c| !c.is_empty()).count()
    }
}

/// A region of two or more header cells merged into one, as spreadsheets declare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergedRange {
    /// 1-based rows, inclusive.
    pub first_row: u32,
    pub last_row: u32,
    /// 0-based columns, inclusive.
    pub first_col: usize,
    pub last_col: usize,
}

/// What a decoder reports as it reads.
#[derive(Debug, Clone, PartialEq)]
pub enum TableEvent {
    /// A new table (sheet) starts; every row until the next `Table` belongs to it.
    Table {
        /// The sheet's name, `None` for formats without sheets (csv).
        name: Option<String>,
        /// 1-based position among the workbook's sheets.
        index: usize,
        /// Merged cells near the top of the sheet (header groups).
        merged: Vec<MergedRange>,
    },
    Row(RawRow),
    /// A table deliberately not read (a hidden sheet, say), and why.
    Skipped {
        name: String,
        reason: String,
    },
}

/// Receives a decoder's events; `Break` asks the decoder to stop early (preview, say).
pub trait TableSink {
    fn event(&mut self, event: TableEvent) -> ControlFlow<()>;
}

impl<F: FnMut(TableEvent) -> ControlFlow<()>> TableSink for F {
    fn event(&mut self, event: TableEvent) -> ControlFlow<()> {
        self(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_typed() {
        assert_eq!(Cell::Number(123.0).as_text(), "123");
        assert_eq!(Cell::Number(12.5).as_text(), "12.5");
        assert_eq!(Cell::Number(0.1 + 0.2).as_text(), "0.30000000000000004");
    }

    #[test]
    fn whitespace_text_is_empty() {
        assert!(Cell::text("  \t").is_empty());
        assert_eq!(Cell::text(" a ").as_text(), "a");
    }
}
