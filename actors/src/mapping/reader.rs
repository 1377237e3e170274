//! Reads a decoder's events into chunks of data rows: finds each table's header, then skips
//! what is not an item (blank rows, category rows, the header printed again, totals) while
//! remembering the category above each item.
//!
//! A sheet may hold two tables side by side (`…, Price, , Code, Name, Price`): each is read
//! as a table of its own, a *lane* of the sheet's rows, so a key is never taken from one table
//! and a price from the other.

use std::mem;
use std::ops::ControlFlow;
use std::sync::Arc;

use super::groups::section_title;
use super::layout::{Layout, MappingOptions, column_letter, detect};
use super::record::{DataRow, RowChunk};
use super::report::table_report;
use super::variants::Variants;
use super::words::is_footer_cell;
use crate::domain::SourceConfig;
use crate::domain::report::{ReadReport, RowTally, SkippedTable};
use crate::table::{Cell, MergedRange, RawRow, TableEvent, TableSink};

/// What reading found, beyond the rows themselves.
#[derive(Debug, Clone, Default)]
pub struct ReadSummary {
    /// Data rows passed on (header, blank, category and total rows are not counted).
    pub rows_seen: u64,
    /// One layout per table read.
    pub layouts: Vec<Arc<Layout>>,
    /// The decisions, table by table.
    pub report: ReadReport,
    /// The decisions as sentences, for the task's record.
    pub notes: Vec<String>,
}

/// One table of a sheet: the whole width, or the part of it right of another table.
struct Lane {
    /// The table's first column on its sheet.
    offset: usize,
    /// Its place among the source's tables, from 1.
    table: u32,
    state: TableState,
}

enum TableState {
    Scanning {
        name: Option<String>,
        /// The sheet's merged header cells, in sheet columns.
        merged: Vec<MergedRange>,
        rows: Vec<RawRow>,
    },
    Reading(Box<Reading>),
    /// A table whose header was not recognised, or a skipped sheet: its rows are ignored.
    Skipping,
}

struct Reading {
    layout: Arc<Layout>,
    section: Option<Arc<str>>,
    chunk: Vec<DataRow>,
    variants: Variants,
    tally: RowTally,
    first_row: Option<u32>,
    last_row: Option<u32>,
}

/// A [`TableSink`] that hands out [`RowChunk`]s of at most `chunk_rows` rows.
pub struct TableReader<'a, E: FnMut(RowChunk) -> ControlFlow<()>> {
    config: &'a SourceConfig,
    options: &'a MappingOptions,
    chunk_rows: usize,
    emit: E,
    lanes: Vec<Lane>,
    /// Whether the decoder announces its tables: rows outside one are then ignored.
    announced: bool,
    tables: u32,
    sheets: usize,
    empty_sheets: usize,
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
            lanes: Vec::new(),
            announced: false,
            tables: 0,
            sheets: 0,
            empty_sheets: 0,
            stopped: false,
            summary: ReadSummary::default(),
        }
    }

    /// Ends the last table and returns the summary; an error when nothing could be read.
    pub fn finish(mut self) -> Result<ReadSummary, String> {
        self.end_sheet();
        let skipped = &self.summary.report.skipped;
        if self.summary.layouts.is_empty() {
            let why = if self.sheets == self.empty_sheets || skipped.is_empty() {
                "the source is empty".to_owned()
            } else {
                skipped.iter().map(describe_skipped).collect::<Vec<_>>().join("; ")
            };
            return Err(why);
        }
        if self.summary.rows_seen == 0 {
            self.summary.notes.push("the list has a header but no data rows".into());
        }
        for s in skipped {
            self.summary.notes.push(format!("skipped {}", describe_skipped(s)));
        }
        self.summary.report.tables.sort_by_key(|t| t.table);
        Ok(self.summary)
    }

    fn scan_limit(&self) -> usize {
        self.options.scan_rows + self.options.sample_rows
    }

    fn start_sheet(&mut self, name: Option<String>, merged: Vec<MergedRange>) {
        self.end_sheet();
        self.sheets += 1;
        self.tables += 1;
        self.lanes.push(Lane {
            offset: 0,
            table: self.tables,
            state: TableState::Scanning {
                name,
                merged,
                rows: Vec::new(),
            },
        });
    }

    /// Ends every table of the current sheet, deciding those still scanning (a table beside
    /// one may be found, and ended, on the way).
    fn end_sheet(&mut self) {
        let mut i = 0;
        while i < self.lanes.len() {
            self.end_lane(i);
            i += 1;
        }
        self.lanes.clear();
    }

    fn end_lane(&mut self, lane: usize) {
        if matches!(self.lanes[lane].state, TableState::Scanning { .. }) {
            self.decide(lane);
        }
        let offset = self.lanes[lane].offset;
        if let TableState::Reading(reading) = mem::replace(&mut self.lanes[lane].state, TableState::Skipping) {
            let Reading {
                layout,
                chunk,
                tally,
                first_row,
                last_row,
                ..
            } = *reading;
            self.flush(&layout, chunk);
            let report = table_report(&layout, offset, first_row, last_row, tally);
            self.summary.report.tables.push(report);
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

    fn feed(&mut self, lane: usize, row: RawRow) {
        let limit = self.scan_limit();
        match &mut self.lanes[lane].state {
            TableState::Scanning { rows, .. } => {
                rows.push(row);
                if rows.len() >= limit {
                    self.decide(lane);
                }
            }
            TableState::Reading(_) => self.read_row(lane, row),
            TableState::Skipping => {}
        }
    }

    /// Detects the layout from the buffered top of a table and replays its data rows.
    fn decide(&mut self, lane: usize) {
        let Lane { offset, table, .. } = self.lanes[lane];
        let TableState::Scanning { name, merged, rows } =
            mem::replace(&mut self.lanes[lane].state, TableState::Skipping)
        else {
            return;
        };
        let skip = |reason: String| SkippedTable {
            sheet: name.clone(),
            columns: (offset > 0).then(|| format!("{}:…", column_letter(offset))),
            reason,
        };
        if rows.iter().all(|r| r.non_empty() == 0) {
            if offset == 0 {
                self.empty_sheets += 1;
                self.summary.report.skipped.push(skip("it is empty".into()));
            }
            return;
        }
        let shifted: Vec<MergedRange> = merged
            .iter()
            .filter(|m| m.first_col >= offset)
            .map(|m| MergedRange {
                first_col: m.first_col - offset,
                last_col: m.last_col - offset,
                ..*m
            })
            .collect();
        let (mut layout, data_start) = match detect(name.as_deref(), &rows, &shifted, self.config, self.options) {
            Ok(found) => found,
            Err(e) => {
                self.summary.report.skipped.push(skip(e.0));
                return;
            }
        };
        layout.table = table;
        layout.shift_letters(offset);
        if let Some(earlier) = self.summary.layouts.iter().find(|l| l.same_header(&layout)) {
            layout.reuse_mapping(earlier);
        }
        let beside = self.table_beside(&layout, offset, &rows, name, merged);
        self.summary.notes.push(layout.describe());
        self.summary.notes.extend(layout.notes.iter().cloned());
        let layout = Arc::new(layout);
        self.summary.layouts.push(layout.clone());
        self.lanes[lane].state = TableState::Reading(Box::new(Reading {
            layout,
            section: None,
            chunk: Vec::with_capacity(self.chunk_rows),
            variants: Variants::default(),
            tally: RowTally::default(),
            first_row: None,
            last_row: None,
        }));
        for row in rows.into_iter().skip(data_start) {
            self.read_row(lane, row);
        }
        if let Some(beside) = beside
            && matches!(&self.lanes[beside].state, TableState::Scanning { rows, .. } if rows.len() >= self.scan_limit())
        {
            self.decide(beside);
        }
    }

    /// Opens a lane for the table right of `layout`'s, when there is one, with the rows read
    /// so far; returns its index.
    fn table_beside(
        &mut self,
        layout: &Layout,
        offset: usize,
        rows: &[RawRow],
        name: Option<String>,
        merged: Vec<MergedRange>,
    ) -> Option<usize> {
        let end = layout.table_width;
        // The first column right of the gap that holds anything.
        let start = (end..)
            .take_while(|&c| rows.iter().any(|r| r.cells.len() > c))
            .find(|&c| rows.iter().any(|r| r.cells.get(c).is_some_and(|cell| !cell.is_empty())))?;
        self.tables += 1;
        self.lanes.push(Lane {
            offset: offset + start,
            table: self.tables,
            state: TableState::Scanning {
                name,
                merged,
                rows: rows.iter().map(|r| part(r, start)).collect(),
            },
        });
        Some(self.lanes.len() - 1)
    }

    fn read_row(&mut self, lane: usize, mut row: RawRow) {
        let TableState::Reading(reading) = &mut self.lanes[lane].state else {
            return;
        };
        let Reading {
            layout,
            section,
            chunk,
            variants,
            tally,
            first_row,
            last_row,
        } = reading.as_mut();
        let cells = layout.table_cells(&row);
        if cells.iter().all(Cell::is_empty) {
            return;
        }
        if layout.is_repeated_header(&row) {
            tally.repeated_headers += 1;
            return;
        }
        if let Some(Cell::Text(text)) = cells.iter().find(|c| !c.is_empty())
            && is_footer_cell(text)
        {
            tally.footers += 1;
            return;
        }
        if let Some(title) = section_title(layout, &row) {
            tally.groups += 1;
            *section = Some(title.into());
            return;
        }
        let variant_of = variants.read(layout, &mut row.cells);
        tally.data += 1;
        tally.variants += u64::from(variant_of.is_some());
        tally.keys_derived += u64::from(layout.key_is_derived(&row.cells));
        first_row.get_or_insert(row.number.0);
        *last_row = Some(row.number.0);
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

/// The cells of a row from column `start` on.
fn part(row: &RawRow, start: usize) -> RawRow {
    RawRow {
        number: row.number,
        cells: row.cells.get(start..).map(<[Cell]>::to_vec).unwrap_or_default(),
    }
}

fn describe_skipped(s: &SkippedTable) -> String {
    let sheet = s
        .sheet
        .as_deref()
        .map_or("the table".to_owned(), |n| format!("sheet {n:?}"));
    let columns = s
        .columns
        .as_deref()
        .map_or(String::new(), |c| format!(" (columns {c})"));
    format!("{sheet}{columns}: {}", s.reason)
}

impl<E: FnMut(RowChunk) -> ControlFlow<()>> TableSink for TableReader<'_, E> {
    fn event(&mut self, event: TableEvent) -> ControlFlow<()> {
        if self.stopped {
            return ControlFlow::Break(());
        }
        match event {
            TableEvent::Skipped { name, reason } => {
                self.end_sheet();
                self.announced = true;
                self.sheets += 1;
                self.summary.report.skipped.push(SkippedTable {
                    sheet: Some(name),
                    columns: None,
                    reason,
                });
            }
            TableEvent::Table { name, merged, .. } => {
                self.announced = true;
                self.start_sheet(name, merged);
            }
            TableEvent::Row(row) => {
                if self.lanes.is_empty() && !self.announced {
                    // A decoder that does not announce tables has one.
                    self.announced = true;
                    self.start_sheet(None, Vec::new());
                }
                let lanes = self.lanes.len();
                if lanes == 1 {
                    self.feed(0, row);
                } else {
                    for lane in 0..lanes {
                        let offset = self.lanes[lane].offset;
                        self.feed(lane, part(&row, offset));
                    }
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
