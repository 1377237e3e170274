//! Layouts written as tables: delimited (a header names the columns) and the fixed-column text
//! of a publication's layout pages (`Field Position  Field Title  Length  Description`).

use super::{FieldSpec, LayoutSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    Start,
    Position,
    Length,
    End,
    Type,
    Required,
    Description,
    Layout,
}

fn column(header: &str) -> Option<Column> {
    let h = header
        .trim()
        .trim_matches('"')
        .to_ascii_lowercase()
        .replace(['_', '-'], " ");
    let h = h.trim();
    Some(match h {
        "name" | "field" | "field name" | "field title" | "title" | "element" | "key" => Column::Name,
        "start" | "begin" | "from" | "start position" | "start pos" | "offset" => Column::Start,
        "position" | "field position" | "positions" | "pos" | "location" => Column::Position,
        "length" | "len" | "size" | "width" | "field length" => Column::Length,
        "end" | "to" | "stop" | "end position" | "end pos" => Column::End,
        "type" | "data type" | "format" | "datatype" => Column::Type,
        "required" | "req" | "mandatory" | "requirement" => Column::Required,
        "description" | "desc" | "general field description" | "notes" | "comment" => Column::Description,
        "record" | "layout" | "record type" | "record name" => Column::Layout,
        _ => return None,
    })
}

/// A delimited table whose header (within the first lines) names a field column, a start or a
/// position, and a length or an end. `None` when the text is not such a table.
pub fn delimited(text: &str) -> Option<Vec<LayoutSpec>> {
    let (header_at, delimiter, columns) = text.lines().enumerate().take(20).find_map(|(i, line)| {
        let delimiter = [b'\t', b',', b';', b'|']
            .into_iter()
            .max_by_key(|d| line.bytes().filter(|b| b == d).count())?;
        let columns: Vec<Option<Column>> = split(line, delimiter).iter().map(|c| column(c)).collect();
        let has = |c: Column| columns.contains(&Some(c));
        let placed = (has(Column::Start) || has(Column::Position)) && (has(Column::Length) || has(Column::End))
            || has(Column::Position) && has(Column::Length);
        (has(Column::Name) && placed).then_some((i, delimiter, columns))
    })?;
    let find = |c: Column| columns.iter().position(|x| *x == Some(c));
    let mut layouts: Vec<LayoutSpec> = Vec::new();
    // One reader for the whole table (building one is the costly part), quoted fields across
    // lines included.
    let body_start: usize = text.split_inclusive('\n').take(header_at + 1).map(str::len).sum();
    let body = &text[body_start..];
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());
    // Line numbers from byte offsets (a record's reported start may sit on the `\n` of a
    // CRLF), counted as the reader moves on.
    let (mut counted_to, mut line) = (0usize, header_at + 1);
    for record in reader.records() {
        let Ok(cells) = record else { continue };
        let mut at = cells.position().map_or(0, |p| p.byte() as usize).min(body.len());
        while body.as_bytes().get(at).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            at += 1;
        }
        line += body.as_bytes()[counted_to..at.max(counted_to)]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted_to = at.max(counted_to);
        let line = line + 1;
        let cell = |c: Column| {
            find(c)
                .and_then(|at| cells.get(at))
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let Some(name) = cell(Column::Name) else { continue };
        let line_number = u32::try_from(line).unwrap_or(u32::MAX);
        let (mut start, mut end) = (
            cell(Column::Start).and_then(|s| number(&s)),
            cell(Column::End).and_then(|s| number(&s)),
        );
        if let Some((from, to)) = cell(Column::Position).and_then(|p| position(&p)) {
            start = start.or(Some(from));
            end = end.or(to);
        }
        let layout_name = cell(Column::Layout).unwrap_or_else(|| "layout".to_owned());
        if layouts.last().is_none_or(|l| l.name != layout_name) {
            layouts.push(LayoutSpec {
                name: layout_name,
                format: "delimited",
                line_start: line_number,
                ..LayoutSpec::default()
            });
        }
        let Some(layout) = layouts.last_mut() else { continue };
        layout.line_end = line_number;
        layout.fields.push(FieldSpec {
            name,
            start,
            length: cell(Column::Length).and_then(|s| number(&s)),
            end,
            data_type: cell(Column::Type),
            requirement: cell(Column::Required),
            description: cell(Column::Description),
            line: line_number,
        });
    }
    Some(layouts)
}

fn split(line: &str, delimiter: u8) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    reader
        .records()
        .next()
        .and_then(Result::ok)
        .map(|r| r.iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok().filter(|n| *n <= super::MAX_POSITION)
}

/// `16-20`, `16 – 20`, `16`: a field's first and (if given) last position.
fn position(text: &str) -> Option<(u64, Option<u64>)> {
    let text = text.trim();
    match text.split_once(['-', '–', '—']) {
        Some((from, to)) => Some((number(from)?, Some(number(to)?))),
        None => Some((number(text)?, None)),
    }
}

/// The text of a publication's layout tables: rows that open with a position (`16-20`), then
/// the title, the length and the description, columns apart by two spaces or more; description
/// lines under a row continue it. A heading naming a record (`Record Name: Payer "A" Record`)
/// starts a layout, and so does a position that starts again at 1. `None` unless at least three
/// rows are found.
pub fn publication_text(text: &str) -> Option<Vec<LayoutSpec>> {
    let mut layouts: Vec<LayoutSpec> = Vec::new();
    let mut heading: Option<String> = None;
    let mut rows = 0;
    let mut last_end = 0u64;
    let mut continuing = false;
    for (i, line) in text.lines().enumerate() {
        let line_number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if let Some(name) = record_heading(line) {
            heading = Some(name);
            last_end = 0;
            continuing = false;
            continue;
        }
        let Some(row) = layout_row(line) else {
            // Indented text right under a row (or under its continuation) continues its
            // description; anything else ends it.
            let continuation = continuing && line.starts_with("  ") && !line.trim().is_empty();
            if continuation && let Some(field) = layouts.last_mut().and_then(|l| l.fields.last_mut()) {
                let description = field.description.get_or_insert_with(String::new);
                description.push('\n');
                description.push_str(line.trim());
            }
            continuing = continuation;
            continue;
        };
        continuing = true;
        rows += 1;
        let starts_again = row.start <= last_end && row.start == 1;
        if heading.is_some() || starts_again || layouts.is_empty() {
            let name = heading.take().unwrap_or_else(|| format!("layout{}", layouts.len() + 1));
            layouts.push(LayoutSpec {
                name,
                format: "publication_text",
                line_start: line_number,
                ..LayoutSpec::default()
            });
        }
        last_end = row.end.unwrap_or(row.start);
        let Some(layout) = layouts.last_mut() else { continue };
        layout.line_end = line_number;
        layout.fields.push(FieldSpec {
            name: row.title,
            start: Some(row.start),
            length: Some(row.length),
            end: row.end,
            data_type: None,
            requirement: None,
            description: row.description,
            line: line_number,
        });
    }
    (rows >= 3).then_some(layouts)
}

struct Row {
    start: u64,
    end: Option<u64>,
    title: String,
    length: u64,
    description: Option<String>,
}

/// `  16-20    Transmitter Control Code    5    Required. Enter …`
fn layout_row(line: &str) -> Option<Row> {
    let columns: Vec<&str> = line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    let (first, rest) = columns.split_first()?;
    let (start, end) = position(first)?;
    let (title, rest) = rest.split_first()?;
    let (length, rest) = rest.split_first()?;
    let length = number(length)?;
    if title.chars().all(|c| c.is_ascii_digit()) || length == 0 {
        return None;
    }
    Some(Row {
        start,
        end,
        title: title.to_string(),
        length,
        description: (!rest.is_empty()).then(|| rest.join(" ")),
    })
}

/// `Record Name: Transmitter "T" Record` → `T`; `Record Name: Payer "A" Record` → `A`.
fn record_heading(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("Record Name:")?.trim();
    let quoted = rest.split(['"', '“', '”']).nth(1).filter(|q| !q.trim().is_empty());
    Some(quoted.unwrap_or(rest).trim().to_owned())
}
