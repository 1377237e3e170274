//! COBOL copybooks: `cobol.record` (each 01), `cobol.field` (each data item, with its offset
//! and storage length in bytes as Cobrix computes them) and `cobol.condition` (88 levels).
//!
//! Storage follows the IBM rules: DISPLAY takes a byte per position (and one for a separate
//! sign), COMP-3 half a byte per digit plus the sign, binary 2, 4 or 8 bytes up to 18 digits,
//! COMP-1 4 and COMP-2 8. A group takes what its children take, times its OCCURS maximum.
//! Items that redefine one another share one offset, and each is as long as the longest of
//! them (as Cobrix reports them).

mod clauses;
mod copy;
mod picture;
mod source;

use serde_json::{Map, Value, json};

use super::record::{MetadataRecord, Warning};
use clauses::{ConditionValue, Item, SignPosition};
pub use copy::{CopyLibrary, NoLibrary};
pub use picture::{PictureClass, Usage};

/// A copybook read: its records, and what was noticed without refusing it.
#[derive(Debug, Clone, Default)]
pub struct Copybook {
    pub records: Vec<MetadataRecord>,
    pub warnings: Vec<Warning>,
}

/// Why a copybook was refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CopybookError {
    pub line: u32,
    pub message: String,
}

/// A data item in its tree, with its layout once computed.
struct Node {
    item: Item,
    children: Vec<usize>,
    conditions: Vec<Item>,
    offset: u32,
    /// Bytes the item takes itself, times its OCCURS maximum.
    size: u32,
    /// As Cobrix reports it: the longest of the items that redefine one another.
    reported: u32,
    usage: Usage,
}

/// Reads a copybook that copies no member.
pub fn parse(text: &str) -> Result<Copybook, CopybookError> {
    parse_with(text, &NoLibrary)
}

/// Reads a copybook, its COPY members taken from `library`.
pub fn parse_with(text: &str, library: &dyn CopyLibrary) -> Result<Copybook, CopybookError> {
    let mut warnings = Vec::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut roots: Vec<usize> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for statement in copy::expand(text, library)? {
        let item = clauses::item(&statement).map_err(|e| CopybookError {
            line: e.line,
            message: e.message,
        })?;
        match item.level {
            88 => match stack.last() {
                Some(&parent) => nodes[parent].conditions.push(item),
                None => {
                    return Err(CopybookError {
                        line: item.line_start,
                        message: "an 88 level before any data item".into(),
                    });
                }
            },
            66 => warnings.push(Warning {
                line: item.line_start,
                message: format!("66 {} (RENAMES) is not a storage item: not recorded", item.name),
            }),
            level => {
                let level = if level == 77 { 1 } else { level };
                while stack.last().is_some_and(|&top| nodes[top].item.level >= level) {
                    stack.pop();
                }
                if let Some(&parent) = stack.last()
                    && nodes[parent].item.picture.is_some()
                {
                    return Err(CopybookError {
                        line: item.line_start,
                        message: format!(
                            "{} is nested under {}, which has a PIC",
                            item.name, nodes[parent].item.name
                        ),
                    });
                }
                let index = nodes.len();
                nodes.push(Node {
                    item,
                    children: Vec::new(),
                    conditions: Vec::new(),
                    offset: 0,
                    size: 0,
                    reported: 0,
                    usage: Usage::Display,
                });
                match stack.last() {
                    Some(&parent) => nodes[parent].children.push(index),
                    None => roots.push(index),
                }
                stack.push(index);
            }
        }
    }
    if roots.is_empty() {
        return Err(CopybookError {
            line: 1,
            message: "no data item: not a copybook".into(),
        });
    }
    for &root in &roots {
        layout(&mut nodes, root, 0, Usage::Display);
        let size = nodes[root].size;
        nodes[root].reported = size;
    }
    if let Some((line, stated)) = stated_length(text) {
        let longest = roots.iter().map(|&r| nodes[r].size).max().unwrap_or(0);
        if stated != longest {
            warnings.push(Warning {
                line,
                message: format!("the copybook states a record length of {stated} bytes; its fields take {longest}"),
            });
        }
    }
    let mut records = Vec::new();
    for &root in &roots {
        emit(&nodes, root, None, &mut records);
    }
    Ok(Copybook { records, warnings })
}

/// Places `index` at `offset` and returns the bytes it takes.
fn layout(nodes: &mut [Node], index: usize, offset: u32, inherited: Usage) -> u32 {
    let usage = nodes[index].item.usage.unwrap_or(inherited);
    nodes[index].offset = offset;
    nodes[index].usage = usage;
    let times = nodes[index].item.occurs.as_ref().map_or(1, |o| o.max.max(1));
    let own = if nodes[index].children.is_empty() {
        let item = &nodes[index].item;
        let separate = item.sign.is_some_and(|(_, separate)| separate);
        picture::storage_bytes(item.picture.as_ref(), usage, separate)
    } else {
        let children = nodes[index].children.clone();
        // The items that redefine one another: where they start and the longest of them.
        let mut set: Vec<usize> = Vec::new();
        let mut set_start = offset;
        let mut set_max = 0u32;
        for child in children {
            if nodes[child].item.redefines.is_some() && !set.is_empty() {
                let size = layout(nodes, child, set_start, usage);
                set_max = set_max.max(size);
                set.push(child);
                continue;
            }
            close_set(nodes, &set, set_max);
            set_start += set_max;
            set_max = layout(nodes, child, set_start, usage);
            set = vec![child];
        }
        close_set(nodes, &set, set_max);
        set_start + set_max - offset
    };
    let size = own.saturating_mul(times);
    nodes[index].size = size;
    nodes[index].reported = size;
    size
}

fn close_set(nodes: &mut [Node], set: &[usize], longest: u32) {
    if set.len() > 1 {
        for &member in set {
            nodes[member].reported = longest;
        }
    }
}

fn data_type(node: &Node) -> &'static str {
    if !node.children.is_empty() {
        return "group";
    }
    match (node.usage, node.item.picture.as_ref().map(|p| p.class)) {
        (Usage::Float, _) => "float",
        (Usage::Double, _) => "double",
        (Usage::Pointer, _) => "pointer",
        (Usage::Packed, _) => "packed_decimal",
        (Usage::Binary, _) => "binary",
        (_, Some(PictureClass::Numeric)) => "zoned_decimal",
        (_, Some(PictureClass::NumericEdited)) => "numeric_edited",
        (_, Some(PictureClass::Alphabetic)) => "alphabetic",
        (_, Some(PictureClass::National)) => "national",
        (Usage::National, _) => "national",
        _ => "alphanumeric",
    }
}

fn emit(nodes: &[Node], index: usize, parent: Option<&str>, out: &mut Vec<MetadataRecord>) {
    let node = &nodes[index];
    let item = &node.item;
    // FILLERs are kept, told apart by their place.
    let segment = if item.filler {
        let n = out
            .iter()
            .filter(|r| r.parent.as_deref() == parent && r.name == "FILLER")
            .count();
        format!("FILLER#{}", n + 1)
    } else {
        item.name.clone()
    };
    let path = match parent {
        Some(p) => format!("{p}/{segment}"),
        None => segment,
    };
    let mut attributes = Map::new();
    attributes.insert("level".into(), json!(item.level));
    attributes.insert("offset".into(), json!(node.offset));
    attributes.insert("storage_length".into(), json!(node.reported));
    if node.reported != node.size {
        attributes.insert("own_length".into(), json!(node.size));
    }
    if !node.children.is_empty() {
        attributes.insert("group".into(), json!(true));
    }
    if item.filler {
        attributes.insert("filler".into(), json!(true));
    }
    if let Some(pic) = &item.picture_text {
        attributes.insert("pic".into(), json!(pic));
    }
    if let Some(p) = &item.picture {
        if matches!(p.class, PictureClass::Numeric | PictureClass::NumericEdited) {
            attributes.insert("digits".into(), json!(p.digits));
            attributes.insert("scale".into(), json!(p.scale));
            attributes.insert("signed".into(), json!(p.signed));
        }
        attributes.insert("usage".into(), json!(node.usage));
    }
    if let Some((position, separate)) = item.sign {
        let position = match position {
            SignPosition::Leading => "leading",
            SignPosition::Trailing => "trailing",
        };
        attributes.insert("sign_position".into(), json!(position));
        attributes.insert("sign_separate".into(), json!(separate));
    }
    if let Some(o) = &item.occurs {
        attributes.insert("occurs_min".into(), json!(o.min));
        attributes.insert("occurs_max".into(), json!(o.max));
        if let Some(on) = &o.depending_on {
            attributes.insert("depending_on".into(), json!(on));
        }
    }
    if let Some(r) = &item.redefines {
        attributes.insert("redefines".into(), json!(r));
    }
    let line_end = last_line(nodes, index);
    out.push(MetadataRecord {
        kind: if parent.is_none() {
            "cobol.record"
        } else {
            "cobol.field"
        },
        path: path.clone(),
        parent: parent.map(str::to_owned),
        name: item.name.clone(),
        data_type: Some(data_type(node).to_owned()),
        attributes,
        line_start: item.line_start,
        line_end,
    });
    for condition in &node.conditions {
        let values: Vec<Value> = condition
            .values
            .iter()
            .map(|v| match v {
                ConditionValue::One(v) => json!(unquote(v)),
                ConditionValue::Range(a, b) => json!({"from": unquote(a), "thru": unquote(b)}),
            })
            .collect();
        let mut attributes = Map::new();
        attributes.insert("values".into(), Value::Array(values));
        out.push(MetadataRecord {
            kind: "cobol.condition",
            path: format!("{path}/{}", condition.name),
            parent: Some(path.clone()),
            name: condition.name.clone(),
            data_type: None,
            attributes,
            line_start: condition.line_start,
            line_end: condition.line_end,
        });
    }
    for &child in &node.children {
        emit(nodes, child, Some(&path), out);
    }
}

/// The last line of an item and everything under it: its span in the source.
fn last_line(nodes: &[Node], index: usize) -> u32 {
    let node = &nodes[index];
    let own = node
        .conditions
        .iter()
        .map(|c| c.line_end)
        .chain([node.item.line_end])
        .max()
        .unwrap_or(node.item.line_end);
    node.children
        .iter()
        .map(|&c| last_line(nodes, c))
        .chain([own])
        .max()
        .unwrap_or(own)
}

/// A record length a comment states (`* RECORD LENGTH = 250`, `* LRECL: 80`), and its line.
fn stated_length(text: &str) -> Option<(u32, u32)> {
    const WORDS: [&str; 4] = ["RECORD LENGTH", "REC LENGTH", "LRECL", "RECORD-LENGTH"];
    text.lines().enumerate().find_map(|(i, line)| {
        let comment = line.chars().nth(6) == Some('*') || line.trim_start().starts_with("*>");
        if !comment {
            return None;
        }
        let upper = line.to_ascii_uppercase();
        let at = WORDS.iter().find_map(|w| upper.find(w).map(|at| at + w.len()))?;
        // `= 80`, `: 80`, `IS 80`: only such words between the phrase and its number.
        let tail = &upper[at..];
        let start = tail.find(|c: char| c.is_ascii_digit())?;
        if !tail[..start].chars().all(|c| " =:IS".contains(c)) {
            return None;
        }
        let digits: String = tail[start..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().map(|n| (i as u32 + 1, n))
    })
}

fn unquote(literal: &str) -> String {
    literal.trim_matches(|c| c == '\'' || c == '"').to_owned()
}

#[cfg(test)]
mod tests;
