//! IRS fixed-width record layouts (Publication 1220's 750-byte T/A/B/C/K/F records and the
//! like) into `irs.layout` and `irs.field` records, from the three shapes they are published in:
//! a delimited table (csv/tsv: field, start, length or end, type, description), the text of a
//! publication's layout tables (`pdftotext -layout`: position, title, length, description), and
//! the key → {start, length, type, required} tables filing libraries keep in code.
//!
//! Starts are stored 1-based, as the publications count; a table in code that counts from 0
//! (its first field starts at 0) is shifted, and says so in `numbering`.

mod code;
mod table;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use super::{MetadataRecord, Parsed, Refusal, Warning};

/// Largest position or length read: a record layout is a few thousand bytes at most, and a
/// number past this is not a position (nor a risk of overflow when positions are added).
pub const MAX_POSITION: u64 = 1 << 24;

/// A field as read, before numbering is settled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSpec {
    pub name: String,
    pub start: Option<u64>,
    pub length: Option<u64>,
    pub end: Option<u64>,
    pub data_type: Option<String>,
    pub requirement: Option<String>,
    pub description: Option<String>,
    pub line: u32,
}

/// A layout as read: its fields in the order written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayoutSpec {
    pub name: String,
    pub format: &'static str,
    pub fields: Vec<FieldSpec>,
    pub line_start: u32,
    pub line_end: u32,
}

/// Reads one layout file.
pub fn parse(text: &str) -> Result<Parsed, Refusal> {
    let layouts = table::delimited(text)
        .or_else(|| table::publication_text(text))
        .unwrap_or_else(|| code::tables(text));
    if layouts.is_empty() {
        return Err(Refusal {
            class: "no_layout",
            line: None,
            message: "no record layout found: expected a table of fields with start and length (or end) — \
                      delimited, as a publication prints it, or as a table in code"
                .into(),
        });
    }
    let mut parsed = Parsed::default();
    let mut seen = std::collections::HashSet::new();
    for layout in layouts {
        if !seen.insert(layout.name.clone()) {
            parsed.warnings.push(Warning {
                line: layout.line_start,
                message: format!(
                    "layout {} is defined again here: this definition is kept out",
                    layout.name
                ),
            });
            continue;
        }
        records(layout, &mut parsed);
    }
    Ok(parsed)
}

/// A field placed: 1-based start and its length.
struct Placed {
    start: u64,
    length: u64,
}

fn records(layout: LayoutSpec, parsed: &mut Parsed) {
    // Numbering: a table whose first start is 0 counts from 0.
    let zero_based = layout.fields.iter().filter_map(|f| f.start).min() == Some(0);
    let shift = u64::from(zero_based);
    let mut next = 1u64;
    let mut placed = Vec::with_capacity(layout.fields.len());
    for field in &layout.fields {
        let start = field.start.map(|s| s + shift);
        let length = field
            .length
            .or_else(|| Some(field.end? + shift + 1).and_then(|e| e.checked_sub(start?)));
        let (Some(length), start) = (length, start.unwrap_or(next)) else {
            parsed.warnings.push(Warning {
                line: field.line,
                message: format!("{}/{}: no length or end: not placed", layout.name, field.name),
            });
            continue;
        };
        if let (Some(end), Some(s)) = (field.end, field.start)
            && field.length.is_some()
            && end + shift + 1 != s + shift + length
        {
            parsed.warnings.push(Warning {
                line: field.line,
                message: format!(
                    "{}/{}: start {} and length {length} end at {}, not at the stated {}",
                    layout.name,
                    field.name,
                    s + shift,
                    s + shift + length - 1,
                    end + shift
                ),
            });
        }
        next = start + length;
        placed.push((field, Placed { start, length }));
    }
    check_tiling(&layout, &placed, parsed);

    let record_length = placed.iter().map(|(_, p)| p.start + p.length - 1).max().unwrap_or(0);
    let mut attributes = Map::new();
    attributes.insert("fields".into(), json!(placed.len()));
    attributes.insert("record_length".into(), json!(record_length));
    attributes.insert("format".into(), json!(layout.format));
    attributes.insert(
        "numbering".into(),
        json!(if zero_based { "0-based" } else { "1-based" }),
    );
    parsed.records.push(MetadataRecord {
        kind: "irs.layout",
        path: layout.name.clone(),
        parent: None,
        name: layout.name.clone(),
        data_type: None,
        attributes,
        line_start: layout.line_start,
        line_end: layout.line_end.max(layout.line_start),
    });
    let mut names = std::collections::HashMap::new();
    for (field, at) in placed {
        let seen = names.entry(field.name.clone()).or_insert(0u32);
        *seen += 1;
        let path = if *seen == 1 {
            format!("{}/{}", layout.name, field.name)
        } else {
            format!("{}/{}#{}", layout.name, field.name, seen)
        };
        let mut attributes = Map::new();
        attributes.insert("start".into(), json!(at.start));
        attributes.insert("length".into(), json!(at.length));
        attributes.insert("end".into(), json!(at.start + at.length - 1));
        attributes.insert("offset".into(), json!(at.start - 1));
        if let Some(t) = &field.data_type {
            attributes.insert("type".into(), json!(t));
        }
        if let Some(r) = &field.requirement {
            attributes.insert("requirement".into(), json!(r));
        }
        attributes.insert(
            "required".into(),
            required(field.requirement.as_deref(), field.description.as_deref()),
        );
        if let Some(d) = &field.description {
            attributes.insert("description".into(), json!(d));
        }
        parsed.records.push(MetadataRecord {
            kind: "irs.field",
            path,
            parent: Some(layout.name.clone()),
            name: field.name.clone(),
            data_type: field.data_type.clone(),
            attributes,
            line_start: field.line,
            line_end: field.line,
        });
    }
}

/// Whether a field must be filled: from a requirement column (`Required`, `Y`, `true`), else
/// from a publication's description, which opens with "Required." when it is.
fn required(requirement: Option<&str>, description: Option<&str>) -> Value {
    if let Some(r) = requirement {
        let r = r.trim().to_ascii_lowercase();
        return json!(matches!(
            r.as_str(),
            "required" | "y" | "yes" | "true" | "r" | "mandatory"
        ));
    }
    match description {
        Some(d) if d.trim_start().to_ascii_lowercase().starts_with("required") => json!(true),
        Some(_) => json!(false),
        None => Value::Null,
    }
}

/// Gaps and overlaps between fields, in position order: kept as warnings, never refused.
fn check_tiling(layout: &LayoutSpec, placed: &[(&FieldSpec, Placed)], parsed: &mut Parsed) {
    let mut order: Vec<&(&FieldSpec, Placed)> = placed.iter().collect();
    order.sort_by_key(|(_, p)| (p.start, p.length));
    let mut covered_to = 0u64;
    let mut last = "";
    for (field, p) in order {
        if covered_to > 0 && p.start > covered_to + 1 {
            parsed.warnings.push(Warning {
                line: field.line,
                message: format!(
                    "{}: positions {}-{} belong to no field (a gap before {})",
                    layout.name,
                    covered_to + 1,
                    p.start - 1,
                    field.name
                ),
            });
        } else if p.start <= covered_to {
            parsed.warnings.push(Warning {
                line: field.line,
                message: format!(
                    "{}: {} (from {}) overlaps {} (to {covered_to})",
                    layout.name, field.name, p.start, last
                ),
            });
        }
        if p.start + p.length - 1 > covered_to {
            covered_to = p.start + p.length - 1;
            last = &field.name;
        }
    }
}
