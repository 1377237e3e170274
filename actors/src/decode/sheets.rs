//! Google Sheets values, as the Sheets API returns them (`values:batchGet` with
//! `UNFORMATTED_VALUE`): ragged rows of JSON numbers, strings and booleans. The fetcher wraps
//! them, with each sheet's title, range and merged cells, into one [`SpreadsheetValues`].

use serde::{Deserialize, Serialize};

use crate::domain::{RowNumber, SourceConfig};
use crate::ports::{DecodeError, Decoder, FetchedSource, SourceContent};
use crate::table::{Cell, MergedRange, RawRow, TableEvent, TableSink};

/// What the fetcher hands over: every wanted sheet of one spreadsheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpreadsheetValues {
    pub spreadsheet_id: String,
    pub sheets: Vec<SheetValues>,
    /// Sheets not fetched (hidden ones), with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SheetValues {
    pub title: String,
    /// 1-based position in the spreadsheet.
    pub index: usize,
    /// The A1 range the values start at, as the API reported it (`'Прайс'!A1:F20`).
    pub range: String,
    /// Merged cells: [start row, end row, start column, end column], 0-based, ends exclusive.
    #[serde(default)]
    pub merges: Vec<[u32; 4]>,
    /// Rows of cells; trailing empty cells and rows are omitted by the API.
    #[serde(default)]
    pub values: Vec<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SheetsDecoder;

impl Decoder for SheetsDecoder {
    fn decode(
        &self,
        source: &FetchedSource,
        _config: &SourceConfig,
        sink: &mut dyn TableSink,
    ) -> Result<(), DecodeError> {
        let SourceContent::Bytes(bytes) = &source.content else {
            return Err(DecodeError::Format(
                "google_sheets reads a spreadsheet (source_config.spreadsheet), not a file".into(),
            ));
        };
        let document: SpreadsheetValues = serde_json::from_slice(bytes)
            .map_err(|e| DecodeError::Format(format!("unexpected Sheets API values: {e}")))?;
        for (name, reason) in document.skipped {
            if sink.event(TableEvent::Skipped { name, reason }).is_break() {
                return Ok(());
            }
        }
        for sheet in document.sheets {
            let (first_row, first_col) = range_start(&sheet.range);
            let merged = sheet
                .merges
                .iter()
                .filter(|[r0, r1, c0, c1]| r1 > r0 && c1 > c0)
                .map(|&[r0, r1, c0, c1]| MergedRange {
                    first_row: r0 + 1,
                    last_row: r1,
                    first_col: c0 as usize,
                    last_col: c1 as usize - 1,
                })
                .collect();
            let table = TableEvent::Table {
                name: Some(sheet.title),
                index: sheet.index,
                merged,
            };
            if sink.event(table).is_break() {
                return Ok(());
            }
            for (offset, values) in sheet.values.into_iter().enumerate() {
                let mut cells = vec![Cell::Empty; first_col];
                cells.extend(values.into_iter().map(cell));
                let row = RawRow {
                    number: RowNumber(first_row.saturating_add(u32::try_from(offset).unwrap_or(u32::MAX))),
                    cells,
                };
                if sink.event(TableEvent::Row(row)).is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

fn cell(value: serde_json::Value) -> Cell {
    match value {
        serde_json::Value::Null => Cell::Empty,
        serde_json::Value::Bool(b) => Cell::Bool(b),
        serde_json::Value::Number(n) => n.as_f64().map_or(Cell::Empty, Cell::Number),
        serde_json::Value::String(s) => Cell::text(s),
        other => Cell::text(other.to_string()),
    }
}

/// The 1-based row and 0-based column where an A1 range starts: `'S'!B3:F9` → (3, 1).
fn range_start(range: &str) -> (u32, usize) {
    // Without `!` the range is a sheet name alone: its values start at A1.
    let Some((_, cells)) = range.rsplit_once('!') else {
        return (1, 0);
    };
    let start = cells.split(':').next().unwrap_or("");
    let letters: String = start.chars().take_while(char::is_ascii_alphabetic).collect();
    if letters.len() > 3 {
        return (1, 0);
    }
    let digits: String = start
        .chars()
        .skip(letters.len())
        .take_while(char::is_ascii_digit)
        .collect();
    let column = letters
        .bytes()
        .fold(0usize, |n, b| n * 26 + usize::from(b.to_ascii_uppercase() - b'A' + 1))
        .saturating_sub(1);
    (digits.parse().unwrap_or(1).max(1), column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Fingerprint;
    use std::ops::ControlFlow;

    #[test]
    fn ranges_give_their_first_cell() {
        assert_eq!(range_start("'Прайс'!A1:F20"), (1, 0));
        assert_eq!(range_start("Sheet1!B3:F9"), (3, 1));
        assert_eq!(range_start("'It''s'!AA10"), (10, 26));
        assert_eq!(range_start("garbage"), (1, 0));
    }

    #[test]
    fn ragged_rows_and_typed_cells() {
        let doc = SpreadsheetValues {
            spreadsheet_id: "x".into(),
            skipped: Vec::new(),
            sheets: vec![SheetValues {
                title: "Прайс".into(),
                index: 1,
                range: "'Прайс'!A2:D9".into(),
                merges: vec![[1, 2, 2, 4]],
                values: vec![
                    vec!["SKU".into(), "Name".into(), "Price".into()],
                    vec![],
                    vec!["A".into(), "Hammer".into(), 12.5.into(), true.into()],
                ],
            }],
        };
        let source = FetchedSource {
            content: SourceContent::Bytes(serde_json::to_vec(&doc).unwrap()),
            fingerprint: Fingerprint::from_hex("x".into()),
            name_hint: String::new(),
        };
        let mut events = Vec::new();
        SheetsDecoder
            .decode(&source, &SourceConfig::default(), &mut |e: TableEvent| {
                events.push(e);
                ControlFlow::Continue(())
            })
            .unwrap();
        let TableEvent::Table { merged, .. } = &events[0] else {
            panic!()
        };
        assert_eq!(
            merged[0],
            MergedRange {
                first_row: 2,
                last_row: 2,
                first_col: 2,
                last_col: 3
            }
        );
        let TableEvent::Row(last) = &events[3] else { panic!() };
        assert_eq!(last.number, RowNumber(4));
        assert_eq!(last.cells[2], Cell::Number(12.5));
        assert_eq!(last.cells[3], Cell::Bool(true));
    }

    fn decode_any(bytes: Vec<u8>) -> Result<Vec<TableEvent>, DecodeError> {
        let source = FetchedSource {
            content: SourceContent::Bytes(bytes),
            fingerprint: Fingerprint::from_hex("x".into()),
            name_hint: String::new(),
        };
        let mut events = Vec::new();
        SheetsDecoder
            .decode(&source, &SourceConfig::default(), &mut |e: TableEvent| {
                events.push(e);
                ControlFlow::Continue(())
            })
            .map(|()| events)
    }

    #[test]
    fn rows_at_the_last_row_number_do_not_overflow() {
        let doc = serde_json::json!({
            "spreadsheet_id": "x",
            "sheets": [{"title": "S", "index": 1, "range": "S!ZZZ4294967295:A1",
                        "merges": [[4294967295u32, 0, 5, 4], [0, 4294967295u32, 0, 4294967295u32]],
                        "values": [["a"], ["b"], [1e308, null, {"x": [1]}]]}]
        });
        let events = decode_any(serde_json::to_vec(&doc).unwrap()).unwrap();
        let TableEvent::Row(last) = &events[3] else {
            panic!("{events:?}")
        };
        assert_eq!(last.number, RowNumber(u32::MAX));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn value() -> impl Strategy<Value = serde_json::Value> {
            prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                ".{0,8}".prop_map(serde_json::Value::from),
                Just(serde_json::json!({"a": [1, "b"]})),
            ]
        }

        fn sheet() -> impl Strategy<Value = SheetValues> {
            (
                ".{0,6}",
                any::<usize>(),
                prop_oneof![
                    ".{0,12}",
                    "[A-Za-z]{0,5}![A-Za-z]{0,5}[0-9]{0,12}(:[A-Z]{1,3}[0-9]{1,3})?"
                ],
                proptest::collection::vec(any::<[u32; 4]>(), 0..4),
                proptest::collection::vec(proptest::collection::vec(value(), 0..5), 0..5),
            )
                .prop_map(|(title, index, range, merges, values)| SheetValues {
                    title,
                    index,
                    range,
                    merges,
                    values,
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_bytes_are_values_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                let _ = decode_any(bytes);
            }

            #[test]
            fn any_sheets_decode(sheets in proptest::collection::vec(sheet(), 0..3)) {
                let doc = SpreadsheetValues { spreadsheet_id: "x".into(), sheets, skipped: Vec::new() };
                let events = decode_any(serde_json::to_vec(&doc).unwrap());
                prop_assert!(events.is_ok(), "{events:?}");
            }

            #[test]
            fn any_json_prefix_is_values_or_an_error(
                sheets in proptest::collection::vec(sheet(), 0..2),
                cut in any::<proptest::sample::Index>(),
                flip in any::<(proptest::sample::Index, u8)>(),
            ) {
                let doc = SpreadsheetValues { spreadsheet_id: "x".into(), sheets, skipped: Vec::new() };
                let mut bytes = serde_json::to_vec(&doc).unwrap();
                let at = flip.0.index(bytes.len());
                bytes[at] ^= flip.1;
                bytes.truncate(cut.index(bytes.len() + 1));
                let _ = decode_any(bytes);
            }
        }
    }
}
