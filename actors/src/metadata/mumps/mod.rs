//! VA FileMan data dictionaries (`^DD`, with `^DIC` for names and global roots), from KIDS builds
//! or ZWR exports, into `mumps.file`, `mumps.subfile` and `mumps.field` records.
//!
//! Paths: a file or subfile is its number (`850`, `850.01`: FileMan numbers are unique across a
//! system); a field is `FILE/FIELD` (`850/.01`).

mod globals;
mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{MetadataRecord, Parsed, Refusal, Warning};
use globals::{GlobalNode, Sub};
pub use types::FieldType;

/// Reads one KIDS build or ZWR export.
pub fn parse(text: &str) -> Result<Parsed, Refusal> {
    let nodes = globals::read(text).map_err(|e| Refusal {
        class: "parse_error",
        line: Some(e.line),
        message: e.message,
    })?;
    let dictionary = Dictionary::build(&nodes);
    if dictionary.files.is_empty() {
        return Err(Refusal {
            class: "no_data_dictionary",
            line: None,
            message: "no ^DD nodes: not a FileMan data dictionary (a KIDS build or a ZWR export of ^DD)".into(),
        });
    }
    Ok(dictionary.records())
}

/// FileMan numbers compare as numbers (`.01` < `1` < `10`), whatever their spelling; the value
/// is parsed once, not on every comparison.
#[derive(Debug, Clone)]
struct Number(String, f64);

impl Number {
    fn new(text: &str) -> Self {
        Number(text.to_owned(), text.parse().unwrap_or(f64::MAX))
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Number {}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.1.total_cmp(&other.1).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Default)]
struct File<'a> {
    header: Option<&'a GlobalNode>,
    name: Option<String>,
    parent: Option<String>,
    global_root: Option<String>,
    dic: Option<&'a GlobalNode>,
    fields: BTreeMap<Number, Field<'a>>,
    lines: Option<(u32, u32)>,
}

#[derive(Debug, Default)]
struct Field<'a> {
    zero: Option<&'a GlobalNode>,
    help: Option<String>,
    description: Vec<String>,
    lines: Option<(u32, u32)>,
}

fn widen(lines: &mut Option<(u32, u32)>, node: &GlobalNode) {
    *lines = Some(match *lines {
        Some((start, end)) => (start.min(node.line_start), end.max(node.line_end)),
        None => (node.line_start, node.line_end),
    });
}

struct Dictionary<'a> {
    files: BTreeMap<Number, File<'a>>,
}

impl<'a> Dictionary<'a> {
    fn build(nodes: &'a [GlobalNode]) -> Self {
        let mut files: BTreeMap<Number, File> = BTreeMap::new();
        for node in nodes.iter().filter(|n| n.global == "DD") {
            let Some(file) = node.subs.first().and_then(Sub::number) else {
                continue;
            };
            let Some(second) = node.subs.get(1) else { continue };
            // Cross-reference nodes (`^DD(FILE,"B",…)`, `"IX"`, `"GL"` …) describe indexes.
            let Some(field) = second.number() else { continue };
            let entry = files.entry(Number::new(file)).or_default();
            if field == "0" {
                widen(&mut entry.lines, node);
                match &node.subs[2..] {
                    [] => entry.header = Some(node),
                    [Sub::Text(nm), Sub::Text(name)] if nm == "NM" => entry.name = Some(name.clone()),
                    [Sub::Text(up)] if up == "UP" => entry.parent = Some(node.value.trim().to_owned()),
                    _ => {}
                }
                continue;
            }
            widen(&mut entry.lines, node);
            let f = entry.fields.entry(Number::new(field)).or_default();
            widen(&mut f.lines, node);
            match &node.subs[2..] {
                [zero] if zero.is_number("0") => f.zero = Some(node),
                [three] if three.is_number("3") => f.help = Some(node.value.clone()),
                [d, _, zero] if d.is_number("21") && zero.is_number("0") => f.description.push(node.value.clone()),
                _ => {}
            }
        }
        for node in nodes.iter().filter(|n| n.global == "DIC") {
            let (Some(file), Some(zero)) = (node.subs.first().and_then(Sub::number), node.subs.get(1)) else {
                continue;
            };
            if !zero.is_number("0") {
                continue;
            }
            let Some(entry) = files.get_mut(&Number::new(file)) else {
                continue;
            };
            match &node.subs[2..] {
                [] => entry.dic = Some(node),
                [gl] if gl.is("GL") => entry.global_root = Some(node.value.clone()),
                _ => {}
            }
        }
        // Files of which the build ships no node of their own are not files of this artifact.
        files.retain(|_, f| f.header.is_some() || !f.fields.is_empty());
        // A partial build may ship a subfile without its `UP` node: the field whose type names
        // the subfile says whose it is.
        let holders: Vec<(Number, String)> = files
            .iter()
            .flat_map(|(number, file)| {
                file.fields.values().filter_map(move |f| {
                    let code = f.zero?.value.split('^').nth(1)?;
                    Some((Number::new(types::leading_number(code)?), number.0.clone()))
                })
            })
            .collect();
        for (subfile, parent) in holders {
            if let Some(file) = files.get_mut(&subfile)
                && file.parent.is_none()
            {
                file.parent = Some(parent);
            }
        }
        Dictionary { files }
    }

    fn file_name(&self, number: &Number) -> Option<String> {
        let file = self.files.get(number)?;
        if let Some(name) = &file.name {
            return Some(name.clone());
        }
        if let Some(dic) = file.dic {
            return dic.value.split('^').next().map(str::to_owned);
        }
        // A subfile's header names it `NAME SUB-FIELD`.
        let header = file.header?.value.split('^').next()?.trim();
        Some(header.strip_suffix(" SUB-FIELD").unwrap_or(header).to_owned())
    }

    fn records(&self) -> Parsed {
        let mut parsed = Parsed::default();
        for (number, file) in &self.files {
            let (line_start, line_end) = file.lines.unwrap_or((1, 1));
            let name = self.file_name(number).unwrap_or_default();
            let mut attributes = Map::new();
            attributes.insert("number".into(), json!(number.0));
            let header = file.header.map(|h| h.value.split('^').collect::<Vec<_>>());
            if let Some(count) = header
                .as_ref()
                .and_then(|h| h.get(3))
                .and_then(|c| c.trim().parse::<u64>().ok())
            {
                attributes.insert("field_count".into(), json!(count));
            }
            if let Some(root) = &file.global_root {
                attributes.insert("global_root".into(), json!(root));
            }
            if file.header.is_none() {
                // A build may carry a few fields of a file whose dictionary it does not ship.
                attributes.insert("partial".into(), json!(true));
            }
            let kind = match &file.parent {
                Some(parent) => {
                    attributes.insert("parent_file".into(), json!(parent));
                    if let Some((field, word_processing)) = self.holder(parent, number) {
                        attributes.insert("field".into(), json!(field));
                        attributes.insert("word_processing".into(), json!(word_processing));
                    }
                    "mumps.subfile"
                }
                None => "mumps.file",
            };
            parsed.records.push(MetadataRecord {
                kind,
                path: number.0.clone(),
                parent: file.parent.clone(),
                name,
                data_type: None,
                attributes,
                line_start,
                line_end,
            });
            for (field_number, field) in &file.fields {
                match self.field_record(number, field_number, field) {
                    Some(record) => parsed.records.push(record),
                    None => parsed.warnings.push(Warning {
                        line: field.lines.map_or(line_start, |(s, _)| s),
                        message: format!(
                            "field {} of file {} has no definition (0 node)",
                            field_number.0, number.0
                        ),
                    }),
                }
            }
        }
        parsed
    }

    /// The field of `parent` whose type names `subfile`, and whether the subfile is word
    /// processing (its .01 is typed `W`).
    fn holder(&self, parent: &str, subfile: &Number) -> Option<(String, bool)> {
        let file = self.files.get(&Number::new(parent))?;
        let field = file.fields.iter().find_map(|(number, f)| {
            let kind = f.zero?.value.split('^').nth(1)?;
            (types::leading_number(kind).map(Number::new).as_ref() == Some(subfile)).then(|| number.0.clone())
        })?;
        Some((field, self.is_word_processing(subfile)))
    }

    fn is_word_processing(&self, subfile: &Number) -> bool {
        let Some(file) = self.files.get(subfile) else {
            return false;
        };
        file.fields
            .get(&Number::new(".01"))
            .and_then(|f| f.zero)
            .and_then(|z| z.value.split('^').nth(1))
            .is_some_and(|t| t.contains('W'))
    }

    fn field_record(&self, file: &Number, number: &Number, field: &Field) -> Option<MetadataRecord> {
        let zero = field.zero?;
        let pieces: Vec<&str> = zero.value.splitn(5, '^').collect();
        let name = pieces.first().copied().unwrap_or("").to_owned();
        let code = pieces.get(1).copied().unwrap_or("");
        let third = pieces.get(2).copied().unwrap_or("");
        let storage = pieces.get(3).copied().unwrap_or("");
        let transform = pieces.get(4).copied().unwrap_or("");
        let kind = FieldType::decode(code, |n| self.is_word_processing(&Number::new(n)));
        let mut attributes = Map::new();
        attributes.insert("number".into(), json!(number.0));
        attributes.insert("file".into(), json!(file.0));
        attributes.insert("type_code".into(), json!(code));
        attributes.insert("type".into(), json!(kind.name()));
        attributes.insert("required".into(), json!(code.contains('R')));
        if code.contains('I') {
            attributes.insert("uneditable".into(), json!(true));
        }
        match &kind {
            FieldType::Pointer { file } => {
                attributes.insert("pointer_file".into(), json!(file));
                attributes.insert("pointer_global".into(), json!(third));
                if code.contains('\'') {
                    attributes.insert("laygo".into(), json!(false));
                }
            }
            FieldType::SetOfCodes => {
                attributes.insert("codes".into(), Value::Object(types::set_codes(third)));
            }
            FieldType::Multiple { subfile } | FieldType::WordProcessing { subfile: Some(subfile) } => {
                attributes.insert("subfile".into(), json!(subfile));
            }
            FieldType::Numeric { width, decimals } => {
                if let Some(w) = width {
                    attributes.insert("width".into(), json!(w));
                }
                if let Some(d) = decimals {
                    attributes.insert("decimals".into(), json!(d));
                }
            }
            _ => {}
        }
        if let Some((node, piece)) = storage.split_once(';') {
            attributes.insert("storage_node".into(), json!(node));
            attributes.insert("storage_piece".into(), json!(piece));
        } else if !storage.is_empty() {
            attributes.insert("storage".into(), json!(storage));
        }
        attributes.insert("input_transform".into(), json!(!transform.trim().is_empty()));
        if let Some(help) = field.help.as_ref().filter(|h| !h.trim().is_empty()) {
            attributes.insert("help".into(), json!(help));
        }
        if !field.description.is_empty() {
            attributes.insert("description".into(), json!(field.description.join("\n")));
        }
        let (line_start, line_end) = field.lines.unwrap_or((zero.line_start, zero.line_end));
        Some(MetadataRecord {
            kind: "mumps.field",
            path: format!("{}/{}", file.0, number.0),
            parent: Some(file.0.clone()),
            name,
            data_type: Some(kind.name().to_owned()),
            attributes,
            line_start,
            line_end,
        })
    }
}
