//! Tests of the workbook decoder: merged cells, and damaged files of every kind.

use std::io::Write;
use std::ops::ControlFlow;

use super::*;
use crate::domain::Fingerprint;

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;
const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const RELS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
const DOC_RELS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// A one-sheet workbook `Прайс` with the given `<sheetData>` rows and merged ranges; style 1 is
/// a date. Stored (not deflated) parts let byte flips reach the XML itself.
fn workbook(rows: &str, merged: &[&str], deflated: bool) -> Vec<u8> {
    let merge_cells = if merged.is_empty() {
        String::new()
    } else {
        let cells: String = merged.iter().map(|m| format!(r#"<mergeCell ref="{m}"/>"#)).collect();
        format!(r#"<mergeCells count="{}">{cells}</mergeCells>"#, merged.len())
    };
    let parts = [
        (
            "[Content_Types].xml",
            format!(
                r#"{HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#
            ),
        ),
        (
            "_rels/.rels",
            format!(
                r#"{HEAD}<Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
            ),
        ),
        (
            "xl/workbook.xml",
            format!(
                r#"{HEAD}<workbook xmlns="{MAIN}" xmlns:r="{DOC_RELS}"><sheets><sheet name="Прайс" sheetId="1" r:id="rId1"/></sheets></workbook>"#
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            format!(
                r#"{HEAD}<Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{DOC_RELS}/sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId3" Type="{DOC_RELS}/styles" Target="styles.xml"/></Relationships>"#
            ),
        ),
        (
            "xl/sharedStrings.xml",
            format!(
                r#"{HEAD}<sst xmlns="{MAIN}" count="3" uniqueCount="3"><si><t>Артикул</t></si><si><t>Цена</t></si><si><t>Молоток</t></si></sst>"#
            ),
        ),
        (
            "xl/styles.xml",
            format!(
                r#"{HEAD}<styleSheet xmlns="{MAIN}"><fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>"#
            ),
        ),
        (
            "xl/worksheets/sheet1.xml",
            format!(r#"{HEAD}<worksheet xmlns="{MAIN}"><sheetData>{rows}</sheetData>{merge_cells}</worksheet>"#),
        ),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflated {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, content) in parts {
        zip.start_file(name, options).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A title merged over three columns, a header, two rows of data (a text, a number, a date).
const ROWS: &str = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>Прайс-лист</t></is></c></row><row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" t="s"><v>1</v></c><c r="C2" t="inlineStr"><is><t>Дата</t></is></c></row><row r="3"><c r="A3" t="s"><v>2</v></c><c r="B3"><v>350.5</v></c><c r="C3" s="1"><v>45000</v></c></row><row r="5"><c r="B5" t="b"><v>1</v></c></row>"#;

fn valid(deflated: bool) -> Vec<u8> {
    workbook(ROWS, &["A1:C1", "B2:B3"], deflated)
}

fn decode_any(bytes: &[u8], config: &SourceConfig) -> Result<Vec<TableEvent>, DecodeError> {
    let source = FetchedSource {
        content: SourceContent::Bytes(bytes.to_vec()),
        fingerprint: Fingerprint::from_hex("x".into()),
        name_hint: "t.xlsx".into(),
    };
    let mut events = Vec::new();
    XlsxDecoder
        .decode(&source, config, &mut |e: TableEvent| {
            events.push(e);
            ControlFlow::Continue(())
        })
        .map(|()| events)
}

fn rows(events: &[TableEvent]) -> Vec<&RawRow> {
    events
        .iter()
        .filter_map(|e| match e {
            TableEvent::Row(r) => Some(r),
            TableEvent::Table { .. } | TableEvent::Skipped { .. } => None,
        })
        .collect()
}

/// Damage is reported as a damaged or unrecognised workbook: never a panic, never I/O.
fn rows_or_a_format_error(bytes: &[u8]) -> Result<(), String> {
    match decode_any(bytes, &SourceConfig::default()) {
        Ok(_) | Err(DecodeError::Format(_)) => Ok(()),
        Err(other) => Err(format!("{other:?}")),
    }
}

#[test]
fn a_valid_workbook_reads_with_its_merged_cells() {
    for deflated in [false, true] {
        let events = decode_any(&valid(deflated), &SourceConfig::default()).unwrap();
        let TableEvent::Table { name, index, merged } = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!((name.as_deref(), *index), (Some("Прайс"), 1));
        assert_eq!(
            merged,
            &[
                MergedRange {
                    first_row: 1,
                    last_row: 1,
                    first_col: 0,
                    last_col: 2
                },
                MergedRange {
                    first_row: 2,
                    last_row: 3,
                    first_col: 1,
                    last_col: 1
                },
            ]
        );
        let rows = rows(&events);
        assert_eq!(rows.iter().map(|r| r.number.0).collect::<Vec<_>>(), [1, 2, 3, 5]);
        assert_eq!(rows[1].cells[0], Cell::text("Артикул"));
        assert_eq!(rows[2].cells[1], Cell::Number(350.5));
        assert_eq!(rows[2].cells[2], Cell::Date("2023-03-15".into()));
        assert_eq!(rows[3].cells, [Cell::Empty, Cell::Bool(true)]);
    }
}

#[test]
fn a_sheet_without_merged_cells_has_none() {
    let events = decode_any(&workbook(ROWS, &[], true), &SourceConfig::default()).unwrap();
    assert!(matches!(&events[0], TableEvent::Table { merged, .. } if merged.is_empty()));
}

#[test]
fn every_truncation_is_rows_or_an_error() {
    for deflated in [false, true] {
        let whole = valid(deflated);
        for len in 0..whole.len() {
            let result = rows_or_a_format_error(&whole[..len]);
            assert!(result.is_ok(), "{len} of {} bytes: {result:?}", whole.len());
        }
    }
}

#[test]
fn a_cell_past_the_last_column_is_an_error() {
    for at in ["XFE1", "ZZZZ1"] {
        let xml = format!(r#"<row r="1"><c r="A1"><v>1</v></c><c r="{at}"><v>1</v></c></row>"#);
        let error = decode_any(&workbook(&xml, &[], true), &SourceConfig::default()).unwrap_err();
        assert!(
            matches!(&error, DecodeError::Format(m) if m.starts_with("the workbook cannot be read (damaged or truncated): ")),
            "{error:?}"
        );
    }
    let xml = r#"<row r="1"><c r="XFD1"><v>1</v></c></row>"#;
    let events = decode_any(&workbook(xml, &[], true), &SourceConfig::default()).unwrap();
    assert_eq!(rows(&events)[0].cells.len(), 16_384, "the last column is a column");
    // A longer name overflows calamine's arithmetic: a panic with overflow checks, a wrapped
    // column without.
    let xml = r#"<row r="1"><c r="ZZZZZZZZZZ1"><v>1</v></c><c r="A99999999999"><v>1</v></c></row>"#;
    let result = rows_or_a_format_error(&workbook(xml, &[], true));
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn a_reversed_merged_range_does_not_panic() {
    // calamine subtracts the start from the end: with overflow checks (debug builds) it panics.
    let result = decode_any(&workbook(ROWS, &["C3:A1"], true), &SourceConfig::default());
    match result {
        Ok(events) => assert_eq!(rows(&events).len(), 4),
        Err(DecodeError::Format(m)) => {
            assert!(
                m.starts_with("the workbook cannot be read (damaged or truncated): "),
                "{m}"
            )
        }
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn date_serials_no_calendar_holds_stay_numbers() {
    use calamine::{ExcelDateTime, ExcelDateTimeType};
    for serial in [-1e300, 1e300, f64::NAN, -1e12] {
        let cell = date(&ExcelDateTime::new(serial, ExcelDateTimeType::DateTime, false));
        assert!(matches!(cell, Cell::Number(_)), "{serial}: {cell:?}");
    }
    let xml = r#"<row r="1"><c r="A1" s="1"><v>-1e300</v></c><c r="B1" s="1"><v>1e300</v></c></row>"#;
    let events = decode_any(&workbook(xml, &[], true), &SourceConfig::default()).unwrap();
    assert_eq!(rows(&events)[0].cells, [Cell::Number(-1e300), Cell::Number(1e300)]);
}

#[test]
fn not_a_workbook_keeps_its_message() {
    let error = decode_any(b"sku,price\n", &SourceConfig::default()).unwrap_err();
    assert!(matches!(error, DecodeError::Format(m) if m.starts_with("not a workbook")));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const MAGICS: [&[u8]; 3] = [b"", b"PK\x03\x04", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_bytes_are_a_workbook_or_an_error(
            magic in 0..MAGICS.len(),
            tail in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut bytes = MAGICS[magic].to_vec();
            bytes.extend(tail);
            let result = rows_or_a_format_error(&bytes);
            prop_assert!(result.is_ok(), "{result:?}");
        }

        #[test]
        fn damaged_workbooks_are_rows_or_an_error(
            deflated in any::<bool>(),
            flips in proptest::collection::vec((any::<proptest::sample::Index>(), 1..=255u8), 1..6),
            cut in proptest::option::of(any::<proptest::sample::Index>()),
        ) {
            let mut bytes = valid(deflated);
            for (at, mask) in flips {
                let at = at.index(bytes.len());
                bytes[at] ^= mask;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len()));
            }
            let result = rows_or_a_format_error(&bytes);
            prop_assert!(result.is_ok(), "{result:?}");
        }

        #[test]
        fn damaged_sheet_xml_is_rows_or_an_error(
            flips in proptest::collection::vec(
                (any::<proptest::sample::Index>(), proptest::sample::select(b"<>/\"=:0129AZ \x00\xFF".to_vec())),
                1..4,
            ),
        ) {
            // Damage inside the XML only, so the zip still opens and calamine parses it.
            let mut xml = ROWS.as_bytes().to_vec();
            for (at, byte) in flips {
                let at = at.index(xml.len());
                xml[at] = byte;
            }
            let xml = String::from_utf8_lossy(&xml);
            let result = rows_or_a_format_error(&workbook(&xml, &["A1:C1", "B2:B3"], true));
            prop_assert!(result.is_ok(), "{result:?}");
        }
    }
}

/// `bytes` with every part passed through `edit` (name, text) and zipped again.
fn rewritten(bytes: &[u8], edit: impl Fn(&str, String) -> String) -> Vec<u8> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut part = archive.by_index(i).unwrap();
        let name = part.name().unwrap().into_owned();
        let mut text = String::new();
        part.read_to_string(&mut text).unwrap();
        out.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(edit(&name, text).as_bytes()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

#[test]
fn a_hidden_sheet_is_skipped_unless_named() {
    let hidden = rewritten(&valid(true), |name, text| {
        if name == "xl/workbook.xml" {
            text.replace(r#"sheetId="1""#, r#"sheetId="1" state="hidden""#)
        } else {
            text
        }
    });
    let events = decode_any(&hidden, &SourceConfig::default()).unwrap();
    assert!(
        matches!(&events[..], [TableEvent::Skipped { name, reason }] if name == "Прайс" && reason.contains("hidden")),
        "{events:?}"
    );
    let named = SourceConfig {
        sheet: Some("Прайс".into()),
        ..Default::default()
    };
    assert!(
        !rows(&decode_any(&hidden, &named).unwrap()).is_empty(),
        "a named hidden sheet is read"
    );
}
