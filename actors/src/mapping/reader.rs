//! Reads a decoder's events into chunks of data rows: finds each table's header, then skips
//! what is not an item (blank rows, category rows, the header printed again, totals) while
//! remembering the category above each item.

use std::mem;
use std::ops::ControlFlow;
use std::sync::Arc;

use super::layout::{Layout, MappingOptions, detect};
use super::record::{DataRow, RowChunk, strip_text_marker};
use super::synonyms::is_footer_cell;
use crate::domain::{Field, SourceConfig};
use crate::mapping::price::parse_price;
use crate::table::{Cell, MergedRange, RawRow, TableEvent, TableSink};

/// What reading found, beyond the rows themselves.
#[derive(Debug, Clone, Default)]
pub struct ReadSummary {
    /// Data rows passed on (header, blank, category and total rows are not counted).
    pub rows_seen: u64,
    /// One layout per table read.
    pub layouts: Vec<Arc<Layout>>,
    /// Tables skipped and why.
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
}

enum TableState {
    Scanning {
        name: Option<String>,
        merged: Vec<MergedRange>,
        rows: Vec<RawRow>,
    },
    Reading {
        layout: Arc<Layout>,
        section: Option<Arc<str>>,
        chunk: Vec<DataRow>,
        variants: Variants,
    },
    /// A sheet whose header was not recognised: its rows are ignored.
    Skipping,
}

/// A [`TableSink`] that hands out [`RowChunk`]s of at most `chunk_rows` rows.
pub struct TableReader<'a, E: FnMut(RowChunk) -> ControlFlow<()>> {
    config: &'a SourceConfig,
    options: &'a MappingOptions,
    chunk_rows: usize,
    emit: E,
    state: Option<TableState>,
    tables: usize,
    empty_tables: usize,
    stopped: bool,
    summary: ReadSummary,
}

impl<'a, E: FnMut(RowChunk) -> ControlFlow<()>> TableReader<'a, E> {
    pub fn new(config: &'a SourceConfig, options: &'a MappingOptions, chunk_rows: usize, emit: E) -> Self {
        Self {
            config,
            options,
            chunk_rows: chunk_rows.max(1),
            emit,
            state: None,
            tables: 0,
            empty_tables: 0,
            stopped: false,
            summary: ReadSummary::default(),
        }
    }

    /// Ends the last table and returns the summary; an error when nothing could be read.
    pub fn finish(mut self) -> Result<ReadSummary, String> {
        self.end_table();
        if self.summary.layouts.is_empty() {
            let why = if self.tables == self.empty_tables || self.summary.skipped.is_empty() {
                "the source is empty".to_owned()
            } else {
                self.summary.skipped.join("; ")
            };
            return Err(why);
        }
        if self.summary.rows_seen == 0 {
            self.summary.notes.push("the list has a header but no data rows".into());
        }
        for skipped in &self.summary.skipped {
            self.summary.notes.push(format!("skipped {skipped}"));
        }
        Ok(self.summary)
    }

    fn scan_limit(&self) -> usize {
        self.options.scan_rows + self.options.sample_rows
    }

    fn end_table(&mut self) {
        match self.state.take() {
            Some(TableState::Scanning { name, merged, rows }) => {
                self.decide(name, merged, rows);
                self.end_table();
            }
            Some(TableState::Reading { chunk, layout, .. }) => {
                self.flush(&layout, chunk);
            }
            Some(TableState::Skipping) | None => {}
        }
    }

    fn flush(&mut self, layout: &Arc<Layout>, rows: Vec<DataRow>) {
        if rows.is_empty() || self.stopped {
            return;
        }
        let chunk = RowChunk {
            layout: layout.clone(),
            rows,
        };
        if (self.emit)(chunk).is_break() {
            self.stopped = true;
        }
    }

    /// Detects the layout from the buffered top of a table and replays its data rows.
    fn decide(&mut self, name: Option<String>, merged: Vec<MergedRange>, rows: Vec<RawRow>) {
        let label = name
            .as_ref()
            .map_or_else(|| "the table".to_owned(), |n| format!("sheet {n:?}"));
        if rows.iter().all(|r| r.non_empty() == 0) {
            self.empty_tables += 1;
            self.summary.skipped.push(format!("{label}: it is empty"));
            self.state = Some(TableState::Skipping);
            return;
        }
        match detect(name.as_deref(), &rows, &merged, self.config, self.options) {
            Ok((mut layout, data_start)) => {
                layout.table = u32::try_from(self.tables).unwrap_or(u32::MAX);
                self.summary.notes.push(layout.describe());
                self.summary.notes.extend(layout.notes.iter().cloned());
                let layout = Arc::new(layout);
                self.summary.layouts.push(layout.clone());
                self.state = Some(TableState::Reading {
                    layout,
                    section: None,
                    chunk: Vec::with_capacity(self.chunk_rows),
                    variants: Variants::default(),
                });
                for row in rows.into_iter().skip(data_start) {
                    self.read_row(row);
                }
            }
            Err(e) => {
                self.summary.skipped.push(format!("{label}: {}", e.0));
                self.state = Some(TableState::Skipping);
            }
        }
    }

    fn read_row(&mut self, mut row: RawRow) {
        let Some(TableState::Reading {
            layout,
            section,
            chunk,
            variants,
        }) = &mut self.state
        else {
            return;
        };
        let cells = layout.table_cells(&row);
        if cells.iter().all(Cell::is_empty) || layout.is_repeated_header(&row) {
            return;
        }
        let footer = match cells.iter().find(|c| !c.is_empty()) {
            Some(Cell::Text(text)) => is_footer_cell(text),
            _ => false,
        };
        if footer {
            return;
        }
        if let Some(title) = section_title(layout, &row) {
            *section = Some(title.into());
            return;
        }
        let variant_of = variants.read(layout, &mut row.cells);
        self.summary.rows_seen += 1;
        chunk.push(DataRow {
            number: row.number,
            cells: row.cells,
            section: section.clone(),
            variant_of,
        });
        if chunk.len() >= self.chunk_rows {
            let rows = mem::replace(chunk, Vec::with_capacity(self.chunk_rows));
            let layout = layout.clone();
            self.flush(&layout, rows);
        }
    }
}

/// The text of a category row: one or two text cells, no price, no SKU-like code; or a name
/// without a price or a key whose other cells are subtotal numbers (`Kitchen, 30, , 900` under
/// `Name, Qty, Price, Total`).
fn section_title(layout: &Layout, row: &RawRow) -> Option<String> {
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

/// Marketplace exports list a product's variants under it, with its key and without its name
/// (`mug, Mug, 3` then `mug, , 4`). A row with a key and no name right below rows of that key
/// takes the name of the nearest row above with the key and a name, and a key of its own:
/// `mug~2`, `mug~3`, … The buffers are reused, so reading a row allocates nothing new.
#[derive(Debug, Default)]
struct Variants {
    /// The key and name of the last named row, and how many rows of that key were read.
    key: String,
    name: String,
    count: u32,
    active: bool,
    parent: Option<Arc<str>>,
    /// The key of the row being read.
    probe: String,
}

impl Variants {
    fn read(&mut self, layout: &Layout, cells: &mut [Cell]) -> Option<Arc<str>> {
        if layout.derive_sku {
            return None;
        }
        let (Some(key_col), Some(name_col)) = (layout.column_of(Field::Sku), layout.column_of(Field::Name)) else {
            return None;
        };
        write_key(cells.get(key_col).unwrap_or(&Cell::Empty), &mut self.probe);
        if self.probe.is_empty() {
            return None;
        }
        let name_cell = cells.get(name_col).unwrap_or(&Cell::Empty);
        if !name_cell.is_empty() {
            mem::swap(&mut self.key, &mut self.probe);
            self.name.clear();
            self.name.push_str(&name_cell.as_text());
            self.count = 1;
            self.active = true;
            self.parent = None;
            return None;
        }
        if !self.active || self.probe != self.key {
            self.active = false;
            return None;
        }
        self.count += 1;
        let parent = self.parent.get_or_insert_with(|| Arc::from(self.key.as_str())).clone();
        cells[key_col] = Cell::Text(format!("{}~{}", self.key, self.count));
        if let Some(name) = cells.get_mut(name_col) {
            *name = Cell::Text(self.name.clone());
        }
        Some(parent)
    }
}

/// Writes a key cell's text into `out` (replacing it) as [`Cell::as_text`] would, without its
/// text marker, and without allocating once `out` is large enough.
fn write_key(cell: &Cell, out: &mut String) {
    use std::fmt::Write;
    out.clear();
    match cell {
        Cell::Text(t) => out.push_str(strip_text_marker(t)),
        Cell::Number(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 => {
            let _ = write!(out, "{}", *n as i64);
        }
        Cell::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Cell::Empty => {}
        Cell::Bool(_) | Cell::Date(_) => out.push_str(&cell.as_text()),
    }
}

impl<E: FnMut(RowChunk) -> ControlFlow<()>> TableSink for TableReader<'_, E> {
    fn event(&mut self, event: TableEvent) -> ControlFlow<()> {
        if self.stopped {
            return ControlFlow::Break(());
        }
        match event {
            TableEvent::Skipped { name, reason } => {
                self.end_table();
                self.tables += 1;
                self.summary.skipped.push(format!("sheet {name:?}: {reason}"));
                self.state = Some(TableState::Skipping);
            }
            TableEvent::Table { name, merged, .. } => {
                self.end_table();
                self.tables += 1;
                self.state = Some(TableState::Scanning {
                    name,
                    merged,
                    rows: Vec::new(),
                });
            }
            TableEvent::Row(row) => {
                if self.state.is_none() {
                    // A decoder that does not announce tables has one.
                    self.tables += 1;
                    self.state = Some(TableState::Scanning {
                        name: None,
                        merged: Vec::new(),
                        rows: Vec::new(),
                    });
                }
                let limit = self.scan_limit();
                match &mut self.state {
                    Some(TableState::Scanning { rows, .. }) => {
                        rows.push(row);
                        if rows.len() >= limit
                            && let Some(TableState::Scanning { name, merged, rows }) = self.state.take()
                        {
                            self.decide(name, merged, rows);
                        }
                    }
                    Some(TableState::Reading { .. }) => self.read_row(row),
                    Some(TableState::Skipping) | None => {}
                }
            }
        }
        if self.stopped {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RowNumber;

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
}
