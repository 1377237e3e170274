//! Writes small .xlsx workbooks for the fixtures: text, numbers, dates and merged cells, the
//! way Excel stores them (shared strings, numeric cells with a date style).

use std::io::Write;
use std::path::Path;

/// A cell of a fixture sheet.
#[derive(Clone)]
pub enum X {
    Empty,
    Text(&'static str),
    Num(f64),
    /// An Excel date serial shown with a date format.
    Date(f64),
}

pub struct SheetSpec {
    pub name: &'static str,
    pub rows: Vec<Vec<X>>,
    /// Merged ranges in A1 notation, e.g. "D2:E2".
    pub merged: Vec<&'static str>,
}

fn column(i: usize) -> String {
    let mut i = i;
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn write(path: &Path, sheets: &[SheetSpec]) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut strings: Vec<&'static str> = Vec::new();
    let index = |s: &'static str, strings: &mut Vec<&'static str>| {
        strings.iter().position(|x| *x == s).unwrap_or_else(|| {
            strings.push(s);
            strings.len() - 1
        })
    };

    let mut sheet_xml = Vec::new();
    for sheet in sheets {
        let mut xml = String::from(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
        );
        for (r, row) in sheet.rows.iter().enumerate() {
            xml.push_str(&format!("<row r=\"{}\">", r + 1));
            for (c, cell) in row.iter().enumerate() {
                let at = format!("{}{}", column(c), r + 1);
                match cell {
                    X::Empty => {}
                    X::Text(t) => xml.push_str(&format!("<c r=\"{at}\" t=\"s\"><v>{}</v></c>", index(t, &mut strings))),
                    X::Num(n) => xml.push_str(&format!("<c r=\"{at}\"><v>{n}</v></c>")),
                    X::Date(n) => xml.push_str(&format!("<c r=\"{at}\" s=\"1\"><v>{n}</v></c>")),
                }
            }
            xml.push_str("</row>");
        }
        xml.push_str("</sheetData>");
        if !sheet.merged.is_empty() {
            xml.push_str(&format!("<mergeCells count=\"{}\">", sheet.merged.len()));
            for m in &sheet.merged {
                xml.push_str(&format!("<mergeCell ref=\"{m}\"/>"));
            }
            xml.push_str("</mergeCells>");
        }
        xml.push_str("</worksheet>");
        sheet_xml.push(xml);
    }

    let mut types = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>"#,
    );
    let mut workbook = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#,
    );
    let mut rels = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    for (i, sheet) in sheets.iter().enumerate() {
        types.push_str(&format!(r#"<Override PartName="/xl/worksheets/sheet{}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#, i + 1));
        workbook.push_str(&format!(
            r#"<sheet name="{}" sheetId="{}" r:id="rId{}"/>"#,
            escape(sheet.name),
            i + 1,
            i + 1
        ));
        rels.push_str(&format!(r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{}.xml"/>"#, i + 1, i + 1));
    }
    let n = sheets.len();
    rels.push_str(&format!(r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#, n + 1, n + 2));
    types.push_str("</Types>");
    workbook.push_str("</sheets></workbook>");
    let shared: String = strings
        .iter()
        .map(|s| format!("<si><t>{}</t></si>", escape(s)))
        .collect();
    let shared = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{0}" uniqueCount="{0}">{shared}</sst>"#,
        strings.len()
    );
    // Style 1 is a date (number format 14, m/d/yyyy), so calamine reads those cells as dates.
    let styles = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>"#;

    let parts: Vec<(String, String)> = [
        ("[Content_Types].xml".to_owned(), types),
        ("_rels/.rels".to_owned(), r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_owned()),
        ("xl/workbook.xml".to_owned(), workbook),
        ("xl/_rels/workbook.xml.rels".to_owned(), rels),
        ("xl/sharedStrings.xml".to_owned(), shared),
        ("xl/styles.xml".to_owned(), styles.to_owned()),
    ]
    .into_iter()
    .chain(sheet_xml.into_iter().enumerate().map(|(i, x)| (format!("xl/worksheets/sheet{}.xml", i + 1), x)))
    .collect();
    for (name, content) in parts {
        zip.start_file(name, options).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}
