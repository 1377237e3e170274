//! YAML as the manifests need it: loaded with positions, under limits that outside data cannot
//! push past (alias expansion, nesting), and turned into JSON for attributes.

use saphyr::{MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Value};

use crate::metadata::Refusal;

/// Nodes that aliases may add in one file: a real manifest resolves a few dozen; a "billion
/// laughs" file asks for billions.
pub const ALIAS_EXPANSION_LIMIT: usize = 10_000;

/// Deepest nesting read. Real manifests stay under 20 levels; thousands of levels are an attack
/// on whoever walks the tree.
pub const MAX_DEPTH: usize = 64;

pub type Node<'a> = MarkedYaml<'a>;

/// Loads every document of `text`.
pub fn load(text: &str) -> Result<Vec<Node<'_>>, Refusal> {
    check_depth(text)?;
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    let mut loader = saphyr::YamlLoader::<Node>::default();
    loader.alias_limit(ALIAS_EXPANSION_LIMIT);
    let parsed = parser.load(&mut loader, true);
    let error = parsed.err().or_else(|| loader.error().cloned());
    if let Some(e) = error {
        let class = if e.info().contains("alias expansion") {
            "alias_expansion"
        } else {
            "yaml_syntax"
        };
        return Err(Refusal {
            class,
            line: u32::try_from(e.marker().line()).ok(),
            message: e.info().to_owned(),
        });
    }
    Ok(loader.into_documents())
}

/// Refuses text nested deeper than [`MAX_DEPTH`], by indentation or by brackets, before a parser
/// builds (and later drops, recursively) a tree that deep.
fn check_depth(text: &str) -> Result<(), Refusal> {
    let mut indents: Vec<usize> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let body = line.trim_start_matches([' ', '-']);
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        while indents.last().is_some_and(|&i| i >= indent) {
            indents.pop();
        }
        indents.push(indent);
        let mut brackets = 0usize;
        let mut deepest = 0usize;
        for c in body.chars() {
            match c {
                '[' | '{' => {
                    brackets += 1;
                    deepest = deepest.max(brackets);
                }
                ']' | '}' => brackets = brackets.saturating_sub(1),
                _ => {}
            }
        }
        // A line's dashes each open a sequence level too.
        let dashes = line[..indent].matches('-').count();
        if indents.len() + dashes + deepest > MAX_DEPTH {
            return Err(Refusal {
                class: "too_deep",
                line: u32::try_from(number + 1).ok(),
                message: format!("nested more than {MAX_DEPTH} levels"),
            });
        }
    }
    Ok(())
}

/// The node a tag wraps, or the node itself.
pub fn untag<'n, 'a>(node: &'n Node<'a>) -> &'n Node<'a> {
    match &node.data {
        YamlData::Tagged(_, inner) => untag(inner),
        _ => node,
    }
}

pub fn get<'n, 'a>(node: &'n Node<'a>, key: &str) -> Option<&'n Node<'a>> {
    let node = untag(node);
    let found = node.data.as_mapping_get(key)?;
    Some(untag(found))
}

/// The node at a path of mapping keys.
pub fn at<'n, 'a>(node: &'n Node<'a>, path: &[&str]) -> Option<&'n Node<'a>> {
    path.iter().try_fold(node, |n, key| get(n, key))
}

/// A scalar as text (numbers and booleans as they print), or `None` for collections and null.
pub fn text(node: &Node<'_>) -> Option<String> {
    match &untag(node).data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Some(i.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Representation(s, _, _) => Some(s.to_string()),
        _ => None,
    }
}

pub fn text_at(node: &Node<'_>, path: &[&str]) -> Option<String> {
    at(node, path).and_then(text)
}

pub fn items<'n, 'a>(node: Option<&'n Node<'a>>) -> &'n [Node<'a>] {
    match node.map(|n| &untag(n).data) {
        Some(YamlData::Sequence(items)) => items,
        _ => &[],
    }
}

/// A mapping's entries with text keys, in document order.
pub fn entries<'n, 'a>(node: Option<&'n Node<'a>>) -> Vec<(String, &'n Node<'a>)> {
    match node.map(|n| &untag(n).data) {
        Some(YamlData::Mapping(map)) => map.iter().filter_map(|(k, v)| Some((text(k)?, untag(v)))).collect(),
        _ => Vec::new(),
    }
}

pub fn is_null(node: &Node<'_>) -> bool {
    matches!(untag(node).data, YamlData::Value(Scalar::Null))
}

/// The node as JSON: the shape attributes keep.
pub fn to_json(node: &Node<'_>) -> Value {
    match &untag(node).data {
        YamlData::Value(Scalar::Null) => Value::Null,
        YamlData::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        YamlData::Value(Scalar::Integer(i)) => Value::from(*i),
        YamlData::Value(Scalar::FloatingPoint(f)) => {
            serde_json::Number::from_f64(f.into_inner()).map_or_else(|| Value::String(f.to_string()), Value::Number)
        }
        YamlData::Value(Scalar::String(s)) => Value::String(s.to_string()),
        YamlData::Representation(s, _, _) => Value::String(s.to_string()),
        YamlData::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        YamlData::Mapping(map) => {
            let mut object = Map::new();
            for (k, v) in map {
                let key = text(k).unwrap_or_else(|| to_json(k).to_string());
                object.insert(key, to_json(v));
            }
            Value::Object(object)
        }
        YamlData::Tagged(_, inner) => to_json(inner),
        YamlData::Alias(_) | YamlData::BadValue => Value::Null,
    }
}

/// The 1-based lines a node spans, without the blank and comment lines a block collection's end
/// marker carries past its last entry.
pub fn lines(node: &Node<'_>, source: &[&str]) -> (u32, u32) {
    let start = node.span.start.line().max(1);
    let mut end = node.span.end.line().max(start);
    // A block collection ends where the next token starts, at column 0 of a later line; a flow
    // collection ends on its closing bracket, which belongs to it.
    let closes_flow = source
        .get(end.wrapping_sub(1))
        .is_some_and(|l| l.starts_with(['}', ']']));
    if node.span.end.col() == 0 && end > start && !closes_flow {
        end -= 1;
    }
    while end > start
        && source
            .get(end - 1)
            .is_none_or(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        end -= 1;
    }
    (to_u32(start), to_u32(end))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
