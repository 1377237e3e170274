//! Realistic price lists of any size, deterministic for a given seed: the same rows as a CSV
//! file, an .xlsx workbook, and COPY text for the reference load.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

const BRANDS: &[&str] = &[
    "Bosch",
    "Makita",
    "DeWalt",
    "Stanley",
    "Kraftool",
    "Zubr",
    "Metabo",
    "Hilti",
    "Ryobi",
    "Einhell",
    "Milwaukee",
    "Festool",
    "Knipex",
    "Wera",
    "Gedore",
    "Bahco",
    "Fiskars",
    "Irwin",
    "Tramontina",
    "Matrix",
];
const KINDS: &[&str] = &[
    "cordless drill",
    "hammer",
    "screwdriver set",
    "angle grinder",
    "tape measure",
    "spirit level",
    "hex key set",
    "utility knife",
    "drill bit set",
    "wrench",
    "pliers",
    "circular saw",
    "jigsaw",
    "sander",
    "heat gun",
    "clamp",
    "chisel set",
    "socket set",
    "multimeter",
    "ladder",
];
const COLORS: &[&str] = &[
    "red", "black", "yellow", "blue", "green", "orange", "grey", "white", "silver", "teal",
];
const MATERIALS: &[&str] = &[
    "steel",
    "aluminium",
    "plastic",
    "chrome vanadium",
    "HSS",
    "rubber",
    "fibreglass",
    "wood",
];
const COUNTRIES: &[&str] = &["DE", "JP", "US", "CN", "PL", "IT", "SE", "CH", "TW", "RU", "BY", "CZ"];

/// A small fast deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, from: &'a [&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// One item of the list.
pub struct Row {
    pub sku: String,
    pub name: String,
    /// In cents.
    pub price: u64,
    pub brand: &'static str,
    pub color: &'static str,
    pub material: &'static str,
    pub weight_g: u64,
    pub country: &'static str,
}

/// The rows of a list; `changed` of every 100 rows get a new price (the re-ingest).
pub fn rows(count: usize, changed_per_100: usize) -> impl Iterator<Item = Row> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..count).map(move |i| {
        let brand = BRANDS[i % BRANDS.len()];
        let kind = rng.pick(KINDS);
        let mut price = 100 + rng.next() % 500_000;
        // Drawn for every row, so the lists differ only in the changed prices.
        let change = 1 + rng.next() % 1000;
        if i % 100 < changed_per_100 {
            price += change;
        }
        Row {
            sku: format!("SP-{i:08}"),
            name: format!("{brand} {kind} {}", 100 + (i * 7919) % 9000),
            price,
            brand,
            color: rng.pick(COLORS),
            material: rng.pick(MATERIALS),
            weight_g: 50 + rng.next() % 5000,
            country: rng.pick(COUNTRIES),
        }
    })
}

pub const HEADER: [&str; 8] = [
    "SKU",
    "Name",
    "Price",
    "Brand",
    "Color",
    "Material",
    "Weight (kg)",
    "Country",
];

pub fn write_csv(path: &Path, count: usize, changed_per_100: usize) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(out, "{}", HEADER.join(","))?;
    for r in rows(count, changed_per_100) {
        writeln!(
            out,
            "{},{},{}.{:02},{},{},{},{}.{:03},{}",
            r.sku,
            r.name,
            r.price / 100,
            r.price % 100,
            r.brand,
            r.color,
            r.material,
            r.weight_g / 1000,
            r.weight_g % 1000,
            r.country
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// The same rows as intake stores them, in COPY text format for `supplier_items`.
pub fn copy_text(supplier: uuid::Uuid, count: usize) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut chunk = Vec::with_capacity(1 << 20);
    for r in rows(count, 0) {
        let weight = format!("{}.{:03}", r.weight_g / 1000, r.weight_g % 1000);
        let weight = weight.trim_end_matches('0').trim_end_matches('.');
        let _ = writeln!(
            chunk,
            "{supplier}\t{}\t{}\t{}.{:02}\t{{\"Brand\":\"{}\",\"Color\":\"{}\",\"Material\":\"{}\",\"Weight (kg)\":{},\"Country\":\"{}\"}}",
            r.sku,
            r.name,
            r.price / 100,
            r.price % 100,
            r.brand,
            r.color,
            r.material,
            weight,
            r.country
        );
        if chunk.len() >= 1 << 20 {
            chunks.push(std::mem::replace(&mut chunk, Vec::with_capacity(1 << 20)));
        }
    }
    chunks.push(chunk);
    chunks
}

/// The same rows as a one-sheet workbook, numbers as numeric cells, written as a stream.
pub fn write_xlsx(path: &Path, count: usize) -> anyhow::Result<u64> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(BufWriter::new(File::create(path)?));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let parts: [(&str, &str); 4] = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Price list" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
        ),
    ];
    for (name, content) in parts {
        zip.start_file(name, options)?;
        zip.write_all(content.as_bytes())?;
    }
    zip.start_file("xl/worksheets/sheet1.xml", options)?;
    zip.write_all(br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#)?;
    let text = |s: &str| format!("<c t=\"inlineStr\"><is><t>{s}</t></is></c>");
    let header: String = HEADER.iter().map(|h| text(h)).collect();
    write!(zip, "<row r=\"1\">{header}</row>")?;
    for (i, r) in rows(count, 0).enumerate() {
        write!(
            zip,
            "<row r=\"{}\">{}{}<c><v>{}.{:02}</v></c>{}{}{}<c><v>{}.{:03}</v></c>{}</row>",
            i + 2,
            text(&r.sku),
            text(&r.name),
            r.price / 100,
            r.price % 100,
            text(r.brand),
            text(r.color),
            text(r.material),
            r.weight_g / 1000,
            r.weight_g % 1000,
            text(r.country)
        )?;
    }
    zip.write_all(b"</sheetData></worksheet>")?;
    zip.finish()?;
    Ok(std::fs::metadata(path)?.len())
}
