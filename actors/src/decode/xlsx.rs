//! Spreadsheet workbooks: .xlsx (streamed cell by cell, so a million-row sheet is never held
//! whole), .xls, .xlsb and .ods. The format is told by content, not by file name. Numeric
//! cells stay numbers and dates become dates, whatever their display format.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};

use calamine::{Data, DataRef, Range, Reader, Sheets};

use crate::domain::{RowNumber, SourceConfig};
use crate::ports::{DecodeError, Decoder, FetchedSource, SourceContent};
use crate::table::{Cell, MergedRange, RawRow, TableEvent, TableSink};

#[derive(Debug, Clone, Copy, Default)]
pub struct XlsxDecoder;

impl Decoder for XlsxDecoder {
    fn decode(
        &self,
        source: &FetchedSource,
        config: &SourceConfig,
        sink: &mut dyn TableSink,
    ) -> Result<(), DecodeError> {
        let (mut workbook, largest_part) = open(source)?;
        // Merged cells are listed after a sheet's data, so reading them reads the sheet twice:
        // worth it for the lists people lay out by hand, not for a machine export of millions
        // of rows (whose header is one plain row).
        let read_merges = largest_part <= MERGES_READ_LIMIT;
        let names = workbook.sheet_names();
        // Hidden sheets are scratch and lookup tabs: read only when the task names one.
        let hidden: Vec<String> = workbook
            .sheets_metadata()
            .iter()
            .filter(|s| s.visible != calamine::SheetVisible::Visible)
            .map(|s| s.name.clone())
            .collect();
        let chosen: Vec<(usize, String)> = match &config.sheet {
            Some(wanted) => vec![pick_sheet(&names, wanted)?],
            None => names.iter().cloned().enumerate().map(|(i, n)| (i + 1, n)).collect(),
        };
        for (index, name) in chosen {
            if config.sheet.is_none() && hidden.contains(&name) {
                let skipped = TableEvent::Skipped {
                    name,
                    reason: "the sheet is hidden (name it with `sheet` to read it)".into(),
                };
                if sink.event(skipped).is_break() {
                    break;
                }
                continue;
            }
            let flow = match &mut workbook {
                Sheets::Xlsx(xlsx) => stream_xlsx_sheet(xlsx, index, &name, read_merges, sink)?,
                other => {
                    let merged = match other {
                        Sheets::Xls(xls) => xls
                            .merge_cells_by_sheet_name(&name)
                            .map(|dims| dims.iter().map(to_merged).collect())
                            .unwrap_or_default(),
                        _ => Vec::new(),
                    };
                    let range = guarded(|| other.worksheet_range(&name))?;
                    emit_range(&range, index, &name, merged, sink)?
                }
            };
            if flow.is_break() {
                break;
            }
        }
        Ok(())
    }
}

/// A workbook's bytes, from a file or from memory.
enum Input<'a> {
    File(BufReader<File>),
    Bytes(Cursor<&'a [u8]>),
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::File(f) => f.read(buf),
            Input::Bytes(b) => b.read(buf),
        }
    }
}

impl Seek for Input<'_> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        match self {
            Input::File(f) => f.seek(pos),
            Input::Bytes(b) => b.seek(pos),
        }
    }
}

fn input(source: &FetchedSource) -> Result<Input<'_>, DecodeError> {
    Ok(match &source.content {
        SourceContent::File(file) => Input::File(BufReader::new(
            File::open(&file.path).map_err(|e| DecodeError::Io(e.to_string()))?,
        )),
        SourceContent::Bytes(bytes) => Input::Bytes(Cursor::new(bytes.as_slice())),
    })
}

/// The largest part (a sheet's XML) of an .xlsx whose merged cells are read: some 100,000 rows.
const MERGES_READ_LIMIT: u64 = 16 << 20;

/// Opens the workbook in the format its first bytes announce; with it, the size of its largest
/// part once expanded (0 for an .xls).
fn open(source: &FetchedSource) -> Result<(Sheets<Input<'_>>, u64), DecodeError> {
    let mut magic = [0u8; 8];
    let mut head = input(source)?;
    let n = head.read(&mut magic).map_err(|e| DecodeError::Io(e.to_string()))?;
    let magic = &magic[..n];
    if magic.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        let xls = input(source)?;
        return guarded(|| calamine::Xls::new(xls)).map(|xls| (Sheets::Xls(xls), 0));
    }
    if !magic.starts_with(b"PK") {
        return Err(DecodeError::Format(
            "not a workbook: the file is neither an .xlsx/.ods (zip) nor an .xls; is it a csv? (--parser csv)".into(),
        ));
    }
    let archive = input(source)?;
    let largest = super::catch_panic(|| refuse_bombs(archive)).map_err(unreadable)??;
    let xlsx = input(source)?;
    let xlsx_error = match guarded(|| calamine::Xlsx::new(xlsx)) {
        Ok(xlsx) => return Ok((Sheets::Xlsx(xlsx), largest)),
        Err(e) => e,
    };
    let ods = input(source)?;
    if let Ok(ods) = guarded(|| calamine::Ods::new(ods)) {
        return Ok((Sheets::Ods(ods), largest));
    }
    let xlsb = input(source)?;
    if let Ok(xlsb) = guarded(|| calamine::Xlsb::new(xlsb)) {
        return Ok((Sheets::Xlsb(xlsb), largest));
    }
    Err(xlsx_error)
}

/// Runs calamine (or zip) on the workbook's bytes. Third-party readers may panic on malformed
/// input: an error and a panic alike mean a damaged file, never a crashed worker.
fn guarded<T, E: std::fmt::Display>(read: impl FnOnce() -> Result<T, E>) -> Result<T, DecodeError> {
    super::catch_panic(read).map_err(unreadable)?.map_err(unreadable)
}

/// Everything a workbook may expand to. A million-row sheet is a few hundred MB of XML.
const MAX_EXPANDED_BYTES: u64 = 2 << 30;
/// Spreadsheet XML compresses some ten times, rarely fifty; deflate tops out near a thousand,
/// which is what a zip bomb does.
const MAX_RATIO: u64 = 200;

/// Checks the archive's declared sizes before anything is decompressed (the zip reader never
/// inflates past a member's declared size, so these bounds hold); returns the largest.
fn refuse_bombs(archive: Input<'_>) -> Result<u64, DecodeError> {
    let mut zip = zip::ZipArchive::new(archive).map_err(unreadable)?;
    let mut expanded: u64 = 0;
    let mut largest: u64 = 0;
    for i in 0..zip.len() {
        let member = zip.by_index_raw(i).map_err(unreadable)?;
        let (size, packed) = (member.size(), member.compressed_size().max(1));
        expanded = expanded.saturating_add(size);
        largest = largest.max(size);
        if (size > (1 << 20) && size / packed > MAX_RATIO) || expanded > MAX_EXPANDED_BYTES {
            return Err(DecodeError::Format(format!(
                "the workbook would expand to over {} MB ({} compressed {}:1): refused as a zip bomb",
                expanded >> 20,
                member.name().unwrap_or_default(),
                size / packed
            )));
        }
    }
    Ok(largest)
}

fn unreadable(e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Format(format!("the workbook cannot be read (damaged or truncated): {e}"))
}

/// A sheet by name, or by 1-based position when the name is a number no sheet has.
fn pick_sheet(names: &[String], wanted: &str) -> Result<(usize, String), DecodeError> {
    if let Some(i) = names
        .iter()
        .position(|n| n == wanted || n.trim().eq_ignore_ascii_case(wanted.trim()))
    {
        return Ok((i + 1, names[i].clone()));
    }
    if let Ok(n) = wanted.trim().parse::<usize>()
        && (1..=names.len()).contains(&n)
    {
        return Ok((n, names[n - 1].clone()));
    }
    Err(DecodeError::Format(format!(
        "no sheet {wanted:?} in the workbook (sheets: {})",
        names.join(", ")
    )))
}

fn to_merged(d: &calamine::Dimensions) -> MergedRange {
    MergedRange {
        first_row: d.start.0.saturating_add(1),
        last_row: d.end.0.saturating_add(1),
        first_col: d.start.1 as usize,
        last_col: d.end.1 as usize,
    }
}

/// Excel's column count (A to XFD). A cell past it is a damaged file, and would make a row of
/// billions of cells.
const MAX_COLUMNS: u32 = 16_384;

fn past_last_column(row: u32, col: u32) -> DecodeError {
    unreadable(format!(
        "a cell in row {} is in column {}, past the last column XFD ({MAX_COLUMNS})",
        u64::from(row) + 1,
        u64::from(col) + 1
    ))
}

/// Reads an .xlsx sheet cell by cell, handing out each row as it completes.
fn stream_xlsx_sheet<RS: Read + Seek>(
    xlsx: &mut calamine::Xlsx<RS>,
    index: usize,
    name: &str,
    read_merges: bool,
    sink: &mut dyn TableSink,
) -> Result<std::ops::ControlFlow<()>, DecodeError> {
    use std::ops::ControlFlow;
    // Merged cells are listed after the sheet's data: this reads the sheet's XML once more,
    // without its cells' values. Unreadable merges are left out; the cells tell what is wrong.
    let merged = if read_merges {
        match super::catch_panic(|| xlsx.merge_cells_by_sheet_name(name)) {
            Ok(Ok(dims)) => dims.iter().map(to_merged).collect(),
            Ok(Err(_)) => Vec::new(),
            Err(panic) => return Err(unreadable(panic)),
        }
    } else {
        Vec::new()
    };
    let mut cells = guarded(|| xlsx.worksheet_cells_reader(name))?;
    let table = TableEvent::Table {
        name: Some(name.to_owned()),
        index,
        merged,
    };
    if sink.event(table).is_break() {
        return Ok(ControlFlow::Break(()));
    }
    let mut current: Option<(u32, Vec<Cell>)> = None;
    loop {
        let next = guarded(|| cells.next_cell())?;
        let Some(cell) = next else { break };
        let (row, col) = cell.get_position();
        if col >= MAX_COLUMNS {
            return Err(past_last_column(row, col));
        }
        let value = from_data_ref(cell.get_value());
        if current.as_ref().is_some_and(|(r, _)| *r != row)
            && let Some((r, values)) = current.take()
            && emit_row(sink, r, values).is_break()
        {
            return Ok(ControlFlow::Break(()));
        }
        let (_, values) = current.get_or_insert_with(|| (row, Vec::new()));
        let col = col as usize;
        if values.len() <= col {
            values.resize(col + 1, Cell::Empty);
        }
        values[col] = value;
    }
    if let Some((r, values)) = current {
        return Ok(emit_row(sink, r, values));
    }
    Ok(ControlFlow::Continue(()))
}

fn emit_row(sink: &mut dyn TableSink, row: u32, mut cells: Vec<Cell>) -> std::ops::ControlFlow<()> {
    while cells.last().is_some_and(Cell::is_empty) {
        cells.pop();
    }
    sink.event(TableEvent::Row(RawRow {
        number: RowNumber(row.saturating_add(1)),
        cells,
    }))
}

fn emit_range(
    range: &Range<Data>,
    index: usize,
    name: &str,
    merged: Vec<MergedRange>,
    sink: &mut dyn TableSink,
) -> Result<std::ops::ControlFlow<()>, DecodeError> {
    use std::ops::ControlFlow;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    if first_col >= MAX_COLUMNS {
        return Err(past_last_column(first_row, first_col));
    }
    let table = TableEvent::Table {
        name: Some(name.to_owned()),
        index,
        merged,
    };
    if sink.event(table).is_break() {
        return Ok(ControlFlow::Break(()));
    }
    for (offset, row) in range.rows().enumerate() {
        let mut cells = vec![Cell::Empty; first_col as usize];
        cells.extend(row.iter().map(from_data));
        let number = first_row.saturating_add(u32::try_from(offset).unwrap_or(u32::MAX));
        if emit_row(sink, number, cells).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    Ok(ControlFlow::Continue(()))
}

fn from_data_ref(value: &DataRef<'_>) -> Cell {
    match value {
        DataRef::Int(i) => Cell::Number(*i as f64),
        DataRef::Float(f) => Cell::Number(*f),
        DataRef::String(s) => Cell::text(s.as_str()),
        DataRef::SharedString(s) => Cell::text(*s),
        DataRef::Bool(b) => Cell::Bool(*b),
        DataRef::DateTime(d) => date(d),
        DataRef::DateTimeIso(s) => Cell::Date(s.clone()),
        DataRef::DurationIso(s) => Cell::text(s.as_str()),
        DataRef::Error(e) => Cell::text(format!("#{e:?}")),
        DataRef::Empty => Cell::Empty,
    }
}

fn from_data(value: &Data) -> Cell {
    match value {
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::String(s) => Cell::text(s.as_str()),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(d) => date(d),
        Data::DateTimeIso(s) => Cell::Date(s.clone()),
        Data::DurationIso(s) => Cell::text(s.as_str()),
        Data::Error(e) => Cell::text(format!("#{e:?}")),
        Data::Empty => Cell::Empty,
    }
}

/// Beyond this many days from 1900 a serial is no date chrono can hold; calamine's conversion
/// would panic on the milliseconds of a serial such as -1e300.
const MAX_DATE_SERIAL: f64 = 1e11;

/// An Excel date serial as ISO 8601: a date alone when there is no time of day.
fn date(value: &calamine::ExcelDateTime) -> Cell {
    let serial = value.as_f64();
    if !serial.is_finite() || serial.abs() > MAX_DATE_SERIAL {
        return Cell::Number(serial);
    }
    match value.as_datetime() {
        Some(dt) if dt.time() == chrono::NaiveTime::MIN => Cell::Date(dt.date().to_string()),
        Some(dt) => Cell::Date(dt.format("%Y-%m-%dT%H:%M:%S").to_string()),
        None => Cell::Number(value.as_f64()),
    }
}

#[cfg(test)]
#[path = "xlsx_tests.rs"]
mod tests;
