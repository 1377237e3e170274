//! Rows in PostgreSQL's COPY text format: tab-separated, `\N` for NULL, backslash escapes.

use std::io::Write;

use intake_actors::domain::{Item, Rejection};

/// The staging columns, in the order rows are written.
pub const STAGE_COLUMNS: &str =
    "row_number, id, sku, name, price, characteristics, error_type, error_message, row_data, source_table";

/// Appends `text` escaped for COPY: backslash, tab, newline and carriage return.
fn escaped(out: &mut Vec<u8>, text: &[u8]) {
    let mut start = 0;
    for (i, b) in text.iter().enumerate() {
        let replacement: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            // PostgreSQL text cannot hold NUL; decoders drop it, this is the last guard.
            0 => b"",
            _ => continue,
        };
        out.extend_from_slice(&text[start..i]);
        out.extend_from_slice(replacement);
        start = i + 1;
    }
    out.extend_from_slice(&text[start..]);
}

/// Encodes items and rejections into one COPY buffer, reusing `json` as scratch space.
///
/// Each item gets a time-ordered id (UUIDv7), used if it turns out to be new: ids that grow
/// keep the primary key and the price history index appending at their right edge instead of
/// splitting pages all over, which makes a first load markedly faster.
pub fn encode(out: &mut Vec<u8>, json: &mut Vec<u8>, items: &[Item], rejections: &[Rejection]) {
    let mut id = uuid::Uuid::encode_buffer();
    for item in items {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{}\t", item.row);
        out.extend_from_slice(uuid::Uuid::now_v7().hyphenated().encode_lower(&mut id).as_bytes());
        out.push(b'\t');
        escaped(out, item.sku.as_str().as_bytes());
        out.push(b'\t');
        escaped(out, item.name.as_str().as_bytes());
        let _ = write!(out, "\t{}\t", item.price);
        json.clear();
        let _ = serde_json::to_writer(&mut *json, &item.characteristics);
        escaped(out, json);
        let _ = writeln!(out, "\t\\N\t\\N\t\\N\t{}", item.table);
    }
    for rejection in rejections {
        match rejection.row {
            Some(row) => {
                let _ = write!(out, "{row}");
            }
            None => out.extend_from_slice(b"\\N"),
        }
        out.extend_from_slice(b"\t\\N\t\\N\t\\N\t\\N\t\\N\t");
        out.extend_from_slice(rejection.reason.as_str().as_bytes());
        out.push(b'\t');
        escaped(out, rejection.message.as_bytes());
        out.push(b'\t');
        match &rejection.row_data {
            Some(data) => {
                json.clear();
                let _ = serde_json::to_writer(&mut *json, data);
                escaped(out, json);
            }
            None => out.extend_from_slice(b"\\N"),
        }
        out.extend_from_slice(b"\t\\N\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use intake_actors::domain::{ItemName, Price, RejectReason, RowNumber, Sku};
    use rust_decimal::Decimal;

    #[test]
    fn special_characters_are_escaped() {
        let mut out = Vec::new();
        escaped(&mut out, b"a\\b\tc\nd\re\0f");
        assert_eq!(out, b"a\\\\b\\tc\\nd\\ref");
    }

    #[test]
    fn items_and_rejections_encode_as_rows() {
        let mut characteristics = serde_json::Map::new();
        characteristics.insert("note".into(), "tab\there \"q\"".into());
        let item = Item {
            table: 1,
            row: RowNumber(2),
            sku: Sku::new("A-1").unwrap(),
            name: ItemName::new("Hammer").unwrap(),
            price: Price::new(Decimal::new(125, 1)).unwrap(),
            characteristics,
        };
        let rejection = Rejection {
            row: Some(RowNumber(3)),
            reason: RejectReason::MissingPrice,
            message: "the price is empty".into(),
            row_data: Some(serde_json::json!({"SKU": "A-2"})),
        };
        let mut out = Vec::new();
        encode(&mut out, &mut Vec::new(), &[item], &[rejection]);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (row, rest) = lines[0].split_once('\t').unwrap();
        let (id, rest) = rest.split_once('\t').unwrap();
        assert_eq!(row, "2");
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
        assert_eq!(
            rest,
            "A-1\tHammer\t12.50\t{\"note\":\"tab\\\\there \\\\\"q\\\\\"\"}\t\\N\t\\N\t\\N\t1"
        );
        assert_eq!(
            lines[1],
            "3\t\\N\t\\N\t\\N\t\\N\t\\N\tmissing_price\tthe price is empty\t{\"SKU\":\"A-2\"}\t\\N"
        );
    }
}
