//! Records as this kind writes them: prefixes as JSON, one record, paths unique in a file.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::module::Prefix;
use crate::metadata::{MetadataRecord, Parsed};

pub(super) fn prefix_json(prefix: &Prefix) -> Value {
    match prefix {
        Prefix::None => Value::Null,
        Prefix::Literal(p) => json!(p),
        Prefix::Expression(e) => json!({ "expression": e }),
    }
}

pub(super) fn record(
    kind: &'static str,
    path: String,
    parent: Option<String>,
    name: String,
    data_type: Option<String>,
    attributes: Map<String, Value>,
    (line_start, line_end): (u32, u32),
) -> MetadataRecord {
    MetadataRecord {
        kind,
        path,
        parent,
        name,
        data_type,
        attributes,
        line_start,
        line_end,
    }
}

/// Keeps the first of each value, in order.
pub(super) fn dedup(values: &mut Vec<String>) {
    let mut seen = HashSet::new();
    values.retain(|v| seen.insert(v.clone()));
}

/// Two records of one file with the same path (a route declared twice): the later gets `#2`.
pub(super) fn unique_paths(parsed: &mut Parsed) {
    let mut seen: HashMap<String, u32> = HashMap::new();
    for r in &mut parsed.records {
        let n = seen.entry(r.path.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            r.path = format!("{}#{n}", r.path);
        }
    }
}
