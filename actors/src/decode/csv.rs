//! CSV and other delimited text: encoding and delimiter detection, quoted fields with
//! newlines, ragged rows. Streams: memory does not grow with the file.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Cursor, Read};
use std::rc::Rc;

use encoding_rs::UTF_8;

use super::text::{SNIFF_BYTES, Utf8Reader, detect_encoding, encoding_for_label};
use crate::domain::{RowNumber, SourceConfig};
use crate::ports::{DecodeError, Decoder, FetchedSource, SourceContent};
use crate::table::{Cell, RawRow, TableEvent, TableSink};

/// Delimiters tried when the task does not name one, in order of preference on a tie.
const CANDIDATES: [u8; 4] = [b';', b',', b'\t', b'|'];

#[derive(Debug, Clone, Copy, Default)]
pub struct CsvDecoder;

impl Decoder for CsvDecoder {
    fn decode(
        &self,
        source: &FetchedSource,
        config: &SourceConfig,
        sink: &mut dyn TableSink,
    ) -> Result<(), DecodeError> {
        let mut input: Box<dyn Read> = match &source.content {
            SourceContent::File(file) => Box::new(BufReader::with_capacity(
                256 * 1024,
                File::open(&file.path).map_err(|e| DecodeError::Io(e.to_string()))?,
            )),
            SourceContent::Bytes(bytes) => Box::new(Cursor::new(bytes.as_slice())),
        };
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        input
            .by_ref()
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(|e| DecodeError::Io(e.to_string()))?;

        let encoding = match &config.encoding {
            Some(label) => {
                encoding_for_label(label).ok_or_else(|| DecodeError::Format(format!("unknown encoding {label:?}")))?
            }
            None => detect_encoding(&head),
        };
        let delimiter = match config.delimiter {
            Some(d) if d.is_ascii() => d as u8,
            Some(d) => return Err(DecodeError::Format(format!("delimiter {d:?} is not ASCII"))),
            None => detect_delimiter(&encoding.decode(&head).0),
        };
        let whole = Cursor::new(head).chain(input);
        let reader: Box<dyn Read> = if encoding == UTF_8 {
            // csv skips a UTF-8 BOM itself; fields are checked (lossily) one by one below.
            Box::new(whole)
        } else {
            Box::new(Utf8Reader::new(whole, encoding))
        };
        read_records(reader, delimiter, sink)
    }
}

fn read_records(reader: impl Read, delimiter: u8, sink: &mut dyn TableSink) -> Result<(), DecodeError> {
    let newlines = Rc::new(RefCell::new(VecDeque::new()));
    let reader = NewlineTracker {
        inner: reader,
        offset: 0,
        line_has_text: false,
        after_cr: false,
        newlines: newlines.clone(),
    };
    let mut line = 1u32;
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(256 * 1024)
        .from_reader(reader);
    if sink
        .event(TableEvent::Table {
            name: None,
            index: 1,
            merged: Vec::new(),
        })
        .is_break()
    {
        return Ok(());
    }
    let mut record = csv::ByteRecord::new();
    loop {
        // csv, the transcoder and encoding_rs run on the file's bytes: should any of them panic
        // on something unforeseen, the file is reported as malformed instead.
        let read = super::catch_panic(|| csv.read_byte_record(&mut record))
            .map_err(|panic| DecodeError::Format(format!("malformed csv: {panic}")))?;
        match read {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                return Err(match e.kind() {
                    csv::ErrorKind::Io(io) => DecodeError::Io(io.to_string()),
                    _ => DecodeError::Format(format!("malformed csv: {e}")),
                });
            }
        }
        // The physical line where the record starts, as an editor shows it: csv's own count
        // skips blank lines, so count the newlines before the record's first byte instead.
        let start = record.position().map_or(0, |p| p.byte());
        {
            let mut seen = newlines.borrow_mut();
            // Newlines before the record's position, then the blank lines csv skipped after it.
            while seen.front().is_some_and(|&(at, blank)| at < start || blank) {
                seen.pop_front();
                line = line.saturating_add(1);
            }
        }
        let cells = record
            .iter()
            .map(|field| match std::str::from_utf8(field) {
                Ok(text) => Cell::text(text),
                Err(_) => Cell::text(String::from_utf8_lossy(field).into_owned()),
            })
            .collect();
        let row = RawRow {
            number: RowNumber(line),
            cells,
        };
        if sink.event(TableEvent::Row(row)).is_break() {
            return Ok(());
        }
    }
}

/// Remembers where the newlines are in what csv reads, until the records pass them.
///
/// A newline is `\n`, `\r\n` or a lone `\r`, as csv and editors take them; it is placed at
/// its first byte. csv ends a record on the `\r` of `\r\n` and leaves the `\n` for the next
/// read, so the next record's position is the `\n`: the newline must count as before it.
struct NewlineTracker<R> {
    inner: R,
    offset: u64,
    /// Whether the current line has had any byte so far. csv skips only empty lines; a line
    /// of spaces is a record.
    line_has_text: bool,
    /// The last byte read was a `\r`: a `\n` now belongs to the same newline.
    after_cr: bool,
    /// Offsets of newlines, and whether the line they end was blank.
    newlines: Rc<RefCell<VecDeque<(u64, bool)>>>,
}

impl<R: Read> Read for NewlineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut seen = self.newlines.borrow_mut();
        for (i, &b) in buf.iter().take(n).enumerate() {
            let at = self.offset + i as u64;
            match b {
                b'\n' if self.after_cr => {}
                b'\n' | b'\r' => {
                    seen.push_back((at, !self.line_has_text));
                    self.line_has_text = false;
                }
                _ => self.line_has_text = true,
            }
            self.after_cr = b == b'\r';
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Picks the delimiter that splits the first lines into the most consistent number of fields.
pub fn detect_delimiter(text: &str) -> u8 {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(50).collect();
    let mut best = (b',', 0.0f64);
    for &candidate in &CANDIDATES {
        let counts: Vec<usize> = lines.iter().map(|l| count_outside_quotes(l, candidate) + 1).collect();
        let Some(mode) = mode(&counts) else { continue };
        if mode < 2 {
            continue;
        }
        let consistent = counts.iter().filter(|&&c| c == mode).count() as f64 / counts.len() as f64;
        let score = consistent * (mode as f64).ln();
        if score > best.1 + 1e-9 {
            best = (candidate, score);
        }
    }
    best.0
}

fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut quoted = false;
    let mut count = 0;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == delimiter && !quoted {
            count += 1;
        }
    }
    count
}

fn mode(values: &[usize]) -> Option<usize> {
    let mut counts = std::collections::HashMap::new();
    for v in values {
        *counts.entry(*v).or_insert(0usize) += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Fingerprint;
    use std::ops::ControlFlow;

    fn rows_of(bytes: &[u8], config: &SourceConfig) -> Vec<RawRow> {
        let source = FetchedSource {
            content: SourceContent::Bytes(bytes.to_vec()),
            fingerprint: Fingerprint::from_hex("x".into()),
            name_hint: "t.csv".into(),
        };
        let mut rows = Vec::new();
        CsvDecoder
            .decode(&source, config, &mut |e: TableEvent| {
                if let TableEvent::Row(r) = e {
                    rows.push(r);
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        rows
    }

    fn texts(row: &RawRow) -> Vec<String> {
        row.cells.iter().map(|c| c.as_text().into_owned()).collect()
    }

    #[test]
    fn delimiters_are_detected() {
        assert_eq!(detect_delimiter("a;b;c\n1;2,5;3\n"), b';');
        assert_eq!(detect_delimiter("a,b,c\n1,2,3\n"), b',');
        assert_eq!(detect_delimiter("a\tb\tc\n1\t2\t3\n"), b'\t');
        assert_eq!(detect_delimiter("a|b|c\n1|2|3\n"), b'|');
        assert_eq!(detect_delimiter("\"a;x\",b,c\n1,2,3\n"), b',');
    }

    #[test]
    fn quoted_fields_with_newlines_keep_their_line_number() {
        let rows = rows_of(
            b"sku,name,price\n1,\"two\nlines\",3\n\n4,five,6\n",
            &SourceConfig::default(),
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(texts(&rows[1]), ["1", "two\nlines", "3"]);
        assert_eq!(rows[1].number, RowNumber(2));
        assert_eq!(rows[2].number, RowNumber(5), "lines count as in an editor");
    }

    #[test]
    fn windows_1251_semicolons_and_ragged_rows() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode("Код;Товар;Цена\n1;Молоток;1 234,50\n2;Клещи\n");
        let rows = rows_of(&bytes, &SourceConfig::default());
        assert_eq!(texts(&rows[0]), ["Код", "Товар", "Цена"]);
        assert_eq!(texts(&rows[1]), ["1", "Молоток", "1 234,50"]);
        assert_eq!(rows[2].cells.len(), 2);
    }

    #[test]
    fn invalid_bytes_do_not_stop_the_read() {
        let rows = rows_of(
            b"sku,name,price\nA,\xFF\xFE\xFD,1\n",
            &SourceConfig {
                encoding: Some("utf-8".into()),
                ..Default::default()
            },
        );
        assert_eq!(rows.len(), 2);
        assert!(texts(&rows[1])[1].contains('\u{FFFD}'));
    }

    fn numbers(rows: &[RawRow]) -> Vec<u32> {
        rows.iter().map(|r| r.number.0).collect()
    }

    #[test]
    fn crlf_rows_are_numbered_like_lf_rows() {
        let rows = rows_of(b"sku,name,price\r\nA,x,1\r\nB,y,2\r\n", &SourceConfig::default());
        assert_eq!(numbers(&rows), [1, 2, 3]);
        let rows = rows_of(b"sku,name,price\r\nA,x,1\r\nB,y,2", &SourceConfig::default());
        assert_eq!(numbers(&rows), [1, 2, 3], "no newline at the end");
        let rows = rows_of(b"\xEF\xBB\xBFsku,price\r\n\r\nA,1\r\n", &SourceConfig::default());
        assert_eq!(numbers(&rows), [1, 3], "after a BOM");
    }

    #[test]
    fn crlf_with_blank_lines_and_quoted_newlines() {
        let file =
            b"\r\nsku,name,price\r\n\r\nA,\"two\r\nlines\",1\r\n\r\n\r\nB,y,2\r\n  \r\nC,\"\r\n\r\n\",3\r\nD,z,4\r\n";
        let rows = rows_of(file, &SourceConfig::default());
        assert_eq!(texts(&rows[1]), ["A", "two\r\nlines", "1"]);
        assert_eq!(texts(&rows[4]), ["C", "", "3"], "a quoted field of line breaks only");
        // A line of spaces is a record of its own, not a blank line.
        assert_eq!(numbers(&rows), [2, 4, 8, 9, 10, 13]);
    }

    #[test]
    fn lone_cr_and_mixed_line_endings() {
        let rows = rows_of(b"sku,price\rA,1\r\rB,2\nC,3\r\nD,4", &SourceConfig::default());
        assert_eq!(numbers(&rows), [1, 2, 4, 5, 6]);
    }

    #[test]
    fn crlf_rows_through_the_transcoder() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode("Код;Цена\r\n\r\nА;1\r\nБ;2\r\n");
        let rows = rows_of(
            &bytes,
            &SourceConfig {
                encoding: Some("windows-1251".into()),
                ..Default::default()
            },
        );
        assert_eq!(texts(&rows[1]), ["А", "1"]);
        assert_eq!(numbers(&rows), [1, 3, 4]);
    }

    #[test]
    fn a_binary_file_read_as_csv_is_an_error_or_rows_never_a_panic() {
        // An executable renamed .csv: a UTF-16 BOM makes it UTF-16, an odd length cuts the last
        // character off, and the transcoder used to call its finished decoder again.
        let mut file = vec![0xFF, 0xFE];
        file.extend((0..4099u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let _ = decode_any(&file, &SourceConfig::default());
        for encoding in ["shift_jis", "gb18030", "big5", "euc-kr", "windows-1251", "utf-16le"] {
            let config = SourceConfig {
                encoding: Some(encoding.into()),
                ..Default::default()
            };
            let _ = decode_any(&file, &config);
            if encoding != "utf-16le" {
                let rows = rows_of(b"a,b\r\n\x81", &config);
                assert_eq!(numbers(&rows), [1, 2], "{encoding}");
            }
        }
    }

    /// Decodes anything, keeping every event: the result must be rows or an error.
    fn decode_any(bytes: &[u8], config: &SourceConfig) -> Result<Vec<TableEvent>, DecodeError> {
        let source = FetchedSource {
            content: SourceContent::Bytes(bytes.to_vec()),
            fingerprint: Fingerprint::from_hex("x".into()),
            name_hint: "t.csv".into(),
        };
        let mut events = Vec::new();
        CsvDecoder
            .decode(&source, config, &mut |e: TableEvent| {
                events.push(e);
                ControlFlow::Continue(())
            })
            .map(|()| events)
    }

    fn increasing(events: &[TableEvent]) -> bool {
        let numbers: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                TableEvent::Row(r) => Some(r.number.0),
                TableEvent::Table { .. } | TableEvent::Skipped { .. } => None,
            })
            .collect();
        numbers.first().is_none_or(|&n| n >= 1) && numbers.windows(2).all(|w| w[0] < w[1])
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Bytes that look like csv often enough: delimiters, quotes and line endings.
        fn csvish() -> impl Strategy<Value = Vec<u8>> {
            proptest::collection::vec(
                prop_oneof![
                    4 => proptest::sample::select(b"ab1 ,;\t|\"\r\n".to_vec()),
                    1 => any::<u8>(),
                ],
                0..400,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_bytes_detected(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let result = decode_any(&bytes, &SourceConfig::default());
                prop_assert!(result.as_ref().map_or(true, |e| increasing(e)), "{result:?}");
            }

            #[test]
            fn csv_like_bytes_number_rows_in_order(bytes in csvish()) {
                let result = decode_any(&bytes, &SourceConfig::default());
                prop_assert!(result.as_ref().map_or(true, |e| increasing(e)), "{result:?}");
            }

            #[test]
            fn any_bytes_with_a_forced_encoding_and_delimiter(
                bytes in csvish(),
                encoding in proptest::sample::select(vec![
                    "utf-8", "utf-16le", "utf-16be", "windows-1251", "koi8-r", "cp866",
                    "shift_jis", "gb18030", "big5", "euc-kr", "no-such-encoding",
                ]),
                delimiter in prop_oneof![
                    Just(None),
                    proptest::sample::select(vec![',', ';', '\t', '|', '"', '\n', '\r', 'a', 'é'])
                        .prop_map(Some),
                ],
            ) {
                let config = SourceConfig {
                    encoding: Some(encoding.into()),
                    delimiter,
                    ..Default::default()
                };
                let _ = decode_any(&bytes, &config);
            }
        }
    }
}
