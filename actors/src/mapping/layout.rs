//! Finding the header of a table and deciding what each column is.
//!
//! A [`Layout`] is decided once per table from its first rows and then shared (behind an
//! `Arc`) by every chunk of that table, so the validator can turn rows into items.
//!
//! The rule is the one a careful person follows: keep what the header labels, guess from the
//! data only what it does not. The work is split by role: [`super::header`] finds the header
//! and maps its labels, [`super::content`] infers the rest from the data and checks the labels
//! against it, [`super::stats`] measures a column's sample.

use std::collections::HashMap;

use serde::Serialize;

use super::content;
use super::header::{Candidate, find_header};
pub use super::operator::resolve_column;
pub(super) use super::operator::{
    OVERRIDE, REMEMBERED, chosen_by_operator, note_unmatched_remembered, operator_columns,
};
use super::stats::sample;
use super::synonyms::{PriceKind, is_description_header, normalise};
use super::words::is_subtotal_header;
pub use crate::domain::report::Role;
use crate::domain::{Field, RowNumber, SourceConfig};
use crate::table::{Cell, MergedRange, RawRow};

/// Knobs of detection, from the `[mapping]` section of the configuration.
#[derive(Debug, Clone)]
pub struct MappingOptions {
    /// Below this confidence a header is not mapped to a field.
    pub min_confidence: f64,
    /// Which price column wins when there are several, most preferred first.
    pub price_preference: Vec<PriceKind>,
    /// Whether a price with VAT is preferred over one without, when both exist.
    pub prefer_vat_included: bool,
    /// How many rows from the top may hold the title block and the header.
    pub scan_rows: usize,
    /// How many data rows are looked at to check what the header promises.
    pub sample_rows: usize,
}

impl Default for MappingOptions {
    fn default() -> Self {
        Self {
            min_confidence: 0.75,
            price_preference: vec![PriceKind::Wholesale, PriceKind::Plain, PriceKind::Retail],
            prefer_vat_included: true,
            scan_rows: 30,
            sample_rows: 50,
        }
    }
}

/// The decision about one column, with its confidence and the reason when it is not obvious.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnDecision {
    /// 0-based.
    pub index: usize,
    pub header: String,
    pub role: Role,
    pub confidence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How a table's rows are read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub sheet: Option<String>,
    /// The header's rows (two for a split header); `None` when the columns were inferred.
    pub header_rows: Option<(RowNumber, RowNumber)>,
    pub columns: Vec<ColumnDecision>,
    /// No SKU column: each item's key is derived from its normalised name.
    pub derive_sku: bool,
    /// Decisions an operator should know about.
    pub notes: Vec<String>,
    #[serde(skip)]
    pub(super) fields: HashMap<Field, usize>,
    /// The header cells normalised, to recognise the header printed again inside the data.
    #[serde(skip)]
    header_normalised: Vec<String>,
    /// How many columns, from the left, belong to this table; those right of them belong to
    /// another table beside it, read on its own.
    #[serde(skip)]
    pub(super) table_width: usize,
    /// Subtotal columns (`Total`, `Сумма`): a row with a name, no price and numbers only in
    /// these (and in quantities) is a group row.
    #[serde(skip)]
    pub(super) subtotals: Vec<usize>,
    /// This table's place among the source's tables (sheets), from 1: with the row number, it
    /// orders every row of a workbook, whose row numbers restart on each sheet.
    pub table: u32,
    /// The earlier table with the same header whose mapping this one took.
    pub mapping_of: Option<u32>,
    /// A description column kept as a characteristic: the name of a row whose name is blank.
    #[serde(skip)]
    pub(super) name_fallback: Option<usize>,
}

impl Layout {
    pub(super) fn new(
        sheet: Option<&str>,
        header_rows: Option<(RowNumber, RowNumber)>,
        columns: Vec<ColumnDecision>,
        fields: HashMap<Field, usize>,
        header_normalised: Vec<String>,
        table_width: usize,
    ) -> Self {
        Self {
            sheet: sheet.map(str::to_owned),
            header_rows,
            columns,
            derive_sku: false,
            notes: Vec::new(),
            fields,
            header_normalised,
            table_width,
            subtotals: Vec::new(),
            table: 1,
            mapping_of: None,
            name_fallback: None,
        }
    }

    pub fn column_of(&self, field: Field) -> Option<usize> {
        self.fields.get(&field).copied()
    }

    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// The cells of a row that belong to this table (not to a table beside it).
    pub fn table_cells<'r>(&self, row: &'r RawRow) -> &'r [Cell] {
        &row.cells[..row.cells.len().min(self.table_width)]
    }

    /// Whether `other` was read under the same header: the same labels in the same columns.
    pub(super) fn same_header(&self, other: &Layout) -> bool {
        self.header_rows.is_some()
            && other.header_rows.is_some()
            && self.header_normalised == other.header_normalised
            && self.header_normalised.iter().any(|h| !h.is_empty())
    }

    /// Takes the mapping of an `earlier` table with the same header: sheets that repeat one
    /// table (one per currency, per brand) are read alike, with the key chosen on the first,
    /// whatever a sheet's own sample would suggest.
    pub(super) fn reuse_mapping(&mut self, earlier: &Layout) {
        self.columns.clone_from(&earlier.columns);
        self.fields.clone_from(&earlier.fields);
        self.derive_sku = earlier.derive_sku;
        self.notes.clone_from(&earlier.notes);
        self.table_width = earlier.table_width;
        self.subtotals.clone_from(&earlier.subtotals);
        self.name_fallback = earlier.name_fallback;
        self.mapping_of = Some(earlier.mapping_of.unwrap_or(earlier.table));
    }

    /// Names the characteristics of unlabelled columns by their letter on the sheet, for a
    /// table that starts `offset` columns right of the sheet's first.
    pub(super) fn shift_letters(&mut self, offset: usize) {
        if offset == 0 {
            return;
        }
        for column in &mut self.columns {
            if let Role::Characteristic(key) = &mut column.role
                && *key == format!("column {}", column_letter(column.index))
            {
                *key = format!("column {}", column_letter(column.index + offset));
            }
        }
    }

    /// Whether the item of a row gets a key derived from its name: the table has no key
    /// column, or the row's key cell is blank.
    pub fn key_is_derived(&self, cells: &[Cell]) -> bool {
        if self.derive_sku {
            return true;
        }
        match self.column_of(Field::Sku).and_then(|i| cells.get(i)) {
            None | Some(Cell::Empty) => true,
            Some(Cell::Text(t)) => super::record::strip_text_marker(t).trim().is_empty(),
            Some(_) => false,
        }
    }

    /// Subtotal columns, see [`Layout::subtotals`].
    pub fn is_subtotal_column(&self, index: usize) -> bool {
        self.subtotals.contains(&index)
    }

    /// Whether a data row is the header printed again (once per section, say).
    pub fn is_repeated_header(&self, row: &RawRow) -> bool {
        // Cheap test first, on every row: does the first comparable cell read as its header?
        let first = row
            .cells
            .iter()
            .zip(&self.columns)
            .find(|(cell, column)| !cell.is_empty() && !column.header.is_empty());
        let same_text = |a: &str, b: &str| {
            a.trim()
                .chars()
                .flat_map(char::to_lowercase)
                .eq(b.chars().flat_map(char::to_lowercase))
        };
        match first {
            Some((Cell::Text(text), column)) if same_text(text, &column.header) => {}
            _ => return false,
        }
        let mut same = 0;
        let mut compared = 0;
        for (cell, header) in row.cells.iter().zip(&self.header_normalised) {
            if cell.is_empty() || header.is_empty() {
                continue;
            }
            compared += 1;
            if normalise(&cell.as_text()) == *header {
                same += 1;
            }
        }
        compared >= 2 && same * 10 >= compared * 6
    }
}

/// Why no layout could be decided for a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecognised(pub String);

/// Decides the layout of a table from its first rows.
///
/// `rows` are the table's first rows (title block, header, a sample of data), in order.
/// Returns the layout and the index in `rows` of the first data row.
pub fn detect(
    sheet: Option<&str>,
    rows: &[RawRow],
    merged: &[MergedRange],
    config: &SourceConfig,
    options: &MappingOptions,
) -> Result<(Layout, usize), Unrecognised> {
    let width = rows.iter().map(|r| r.cells.len()).max().unwrap_or(0);
    if width == 0 {
        return Err(Unrecognised("the table is empty".into()));
    }

    let header = match config.header_row {
        Some(n) => {
            let at = rows
                .iter()
                .position(|r| r.number.0 == n)
                .ok_or_else(|| Unrecognised(format!("header_row {n} is beyond the table")))?;
            Some(Candidate::single(rows, at, width, config, options))
        }
        None => find_header(rows, merged, width, config, options).filter(Candidate::is_header),
    };

    let (mut layout, data_start) = match header {
        Some(c) => {
            let header_rows = Some((rows[c.first].number, rows[c.last].number));
            let data_start = c.last + 1;
            (into_layout(c, sheet, header_rows), data_start)
        }
        None => {
            // No header worth the name: look at what the columns hold instead.
            let start = rows.iter().position(|r| r.non_empty() > 0).unwrap_or(0);
            let layout = content::infer_headerless(sheet, &rows[start..], width, config, options)?;
            (layout, start)
        }
    };

    let data_start = match config.data_start_row {
        Some(n) => rows.iter().position(|r| r.number.0 >= n).unwrap_or(rows.len()),
        None => data_start,
    };
    let data = sample(&rows[data_start.min(rows.len())..], options.sample_rows);
    content::check_against_content(&mut layout, &data);
    if layout.header_rows.is_some() {
        content::complete(&mut layout, &data, options);
    }
    note_unmatched_remembered(&mut layout, config);
    finish(&mut layout, &data, config)?;
    Ok((layout, data_start))
}

fn into_layout(c: Candidate, sheet: Option<&str>, header_rows: Option<(RowNumber, RowNumber)>) -> Layout {
    let width = c.headers.len();
    let table_width = c.table_end.unwrap_or(width);
    let header_normalised = c.headers.iter().map(|h| normalise(h)).collect();
    let mut layout = Layout::new(
        sheet,
        header_rows,
        c.decisions,
        c.fields,
        header_normalised,
        table_width,
    );
    if table_width < width {
        let right: Vec<&str> = c.headers[table_width..]
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .collect();
        layout.notes.push(format!(
            "a second table stands right of column {} ({right:?}): it is read as a table of its own",
            column_letter(table_width - 1)
        ));
    }
    layout
}

/// Final touches: the fields every list needs, SKU derivation, characteristic keys, the
/// characteristic filter, subtotal columns.
fn finish(layout: &mut Layout, data: &[&RawRow], config: &SourceConfig) -> Result<(), Unrecognised> {
    let labels = || -> String {
        let headers: Vec<&str> = layout.columns[..layout.table_width]
            .iter()
            .map(|c| c.header.as_str())
            .filter(|h| !h.is_empty())
            .collect();
        match layout.header_rows {
            Some((a, _)) => format!(": the header (row {a}) labels {headers:?}"),
            None => String::new(),
        }
    };
    if !layout.fields.contains_key(&Field::Price) {
        return Err(Unrecognised(format!("no price column was found{}", labels())));
    }
    if !layout.fields.contains_key(&Field::Name) {
        return Err(Unrecognised(format!("no name column was found{}", labels())));
    }
    if !layout.fields.contains_key(&Field::Sku) {
        layout.derive_sku = true;
        layout
            .notes
            .push("no SKU column: item keys are derived from the normalised name".into());
        if let Some(note) = collapse_note(layout, data) {
            layout.notes.push(note);
        }
    }

    let headers: Vec<String> = layout.columns.iter().map(|c| c.header.clone()).collect();
    let wanted: Option<Vec<usize>> = config
        .characteristic_columns
        .as_ref()
        .map(|cols| cols.iter().filter_map(|c| resolve_column(c, &headers)).collect());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let table_width = layout.table_width;
    for column in &mut layout.columns {
        if column.index >= table_width || !matches!(column.role, Role::Ignored | Role::Characteristic(_)) {
            continue;
        }
        if wanted.as_ref().is_some_and(|w| !w.contains(&column.index)) {
            column.role = Role::Ignored;
            continue;
        }
        let base = if column.header.is_empty() {
            format!("column {}", column_letter(column.index))
        } else {
            column.header.clone()
        };
        let n = seen.entry(base.clone()).or_insert(0);
        *n += 1;
        let key = if *n == 1 { base } else { format!("{base} ({n})") };
        column.role = Role::Characteristic(key);
    }
    layout.name_fallback = layout.columns[..table_width]
        .iter()
        .find(|c| matches!(c.role, Role::Characteristic(_)) && is_description_header(&normalise(&c.header)))
        .map(|c| c.index);
    layout.subtotals = layout.columns[..table_width]
        .iter()
        .filter(|c| {
            matches!(c.role, Role::Characteristic(_) | Role::OtherPrice(_) | Role::Ignored)
                && is_subtotal_header(&normalise(&c.header))
        })
        .map(|c| c.index)
        .collect();
    Ok(())
}

/// When keys derived from names would merge many of the sampled rows, a note that says so:
/// rows of one name count as duplicates, and only the last is kept.
fn collapse_note(layout: &Layout, data: &[&RawRow]) -> Option<String> {
    let name = layout.column_of(Field::Name)?;
    let names: Vec<String> = data
        .iter()
        .filter_map(|r| r.cells.get(name))
        .filter(|c| !c.is_empty())
        .map(|c| normalise(&c.as_text()))
        .collect();
    let mut distinct = names.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let repeated = names.len() - distinct.len();
    (repeated >= 2 && repeated * 5 >= names.len()).then(|| {
        format!(
            "derived keys collapse rows: {repeated} of the first {} items repeat a name, so rows of one name count as duplicates and only the last is kept; map an SKU column (source_config.column_mapping) to keep them apart",
            names.len()
        )
    })
}

/// Where a mapped column came from, for [`Layout::describe`].
fn origin(column: &ColumnDecision) -> String {
    match column.note.as_deref() {
        Some(OVERRIDE) => "override".into(),
        Some(REMEMBERED) => "remembered".into(),
        Some(note) if note.starts_with("inferred") => "inferred".into(),
        _ => format!("detected {:.2}", column.confidence),
    }
}

/// `0` → `A`, `26` → `AA`.
pub fn column_letter(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

impl Layout {
    /// A one-line summary of the mapping for the task's notes.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(sheet) = &self.sheet {
            parts.push(format!("sheet {sheet:?}"));
        }
        match self.header_rows {
            Some((a, b)) if a == b => parts.push(format!("header row {a}")),
            Some((a, b)) => parts.push(format!("header rows {a}-{b}")),
            None => parts.push("no header row".into()),
        }
        for field in Field::ALL {
            if let Some(i) = self.column_of(field) {
                let c = &self.columns[i];
                parts.push(format!(
                    "{field}={:?} ({})",
                    if c.header.is_empty() {
                        column_letter(i)
                    } else {
                        c.header.clone()
                    },
                    origin(c)
                ));
            }
        }
        parts.join(", ")
    }
}
