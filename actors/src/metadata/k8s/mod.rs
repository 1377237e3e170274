//! Kubernetes manifests (YAML or JSON, one or many documents) into records: `k8s.resource` for
//! every object, `k8s.container` for each container of a workload's pod template.
//!
//! A resource's path is `Kind/name`, or `Kind/namespace/name` when the manifest names a
//! namespace: neither kinds nor object names may hold a `/`, so the two never collide.

mod containers;
mod yaml;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use super::{MetadataRecord, Parsed, Refusal, Warning};
use yaml::{Node, entries, get, items, text_at};

pub use yaml::{ALIAS_EXPANSION_LIMIT, MAX_DEPTH};

/// Reads one manifest file.
pub fn parse(source: &str) -> Result<Parsed, Refusal> {
    if let Some(line) = helm_template_line(source) {
        return Err(Refusal {
            class: "helm_template",
            line: Some(line),
            message: "a Helm template ({{ … }} outside YAML strings): render it (helm template) and ingest the output"
                .into(),
        });
    }
    let documents = yaml::load(source)?;
    let lines: Vec<&str> = source.lines().collect();
    let mut parsed = Parsed::default();
    let mut seen = std::collections::HashSet::new();
    let mut manifests = 0usize;
    let mut others = Vec::new();
    for (index, document) in documents.iter().enumerate() {
        if yaml::is_null(document) {
            continue;
        }
        let mut objects = Vec::new();
        expand(document, &mut objects);
        if objects.is_empty() {
            let (line, _) = yaml::lines(document, &lines);
            others.push(Warning {
                line,
                message: format!(
                    "document {} is not a Kubernetes object (no apiVersion and kind)",
                    index + 1
                ),
            });
            continue;
        }
        for object in objects {
            manifests += 1;
            let before = parsed.records.len();
            resource(object, index + 1, &lines, &mut parsed);
            let path = &parsed.records[before].path;
            if !seen.insert(path.clone()) {
                let line = parsed.records[before].line_start;
                parsed.warnings.push(Warning {
                    line,
                    message: format!("{path} is defined again here: this definition is kept out"),
                });
                parsed.records.truncate(before);
            }
        }
    }
    if manifests == 0 {
        return Err(Refusal {
            class: "not_a_manifest",
            line: others.first().map(|w| w.line),
            message: "valid YAML, but no document is a Kubernetes object (apiVersion and kind)".into(),
        });
    }
    parsed.warnings.extend(others);
    parsed.warnings.sort_by_key(|w| w.line);
    Ok(parsed)
}

/// The objects a document holds: itself, or the items of a `List` (`kind: List`, `PodList`, …).
fn expand<'n, 'a>(document: &'n Node<'a>, into: &mut Vec<&'n Node<'a>>) {
    let kind = text_at(document, &["kind"]);
    if kind.is_none() || text_at(document, &["apiVersion"]).is_none() {
        return;
    }
    let list = kind.as_deref().is_some_and(|k| k.ends_with("List")) && get(document, "items").is_some();
    if list {
        for item in items(get(document, "items")) {
            expand(item, into);
        }
    } else {
        into.push(document);
    }
}

fn resource(object: &Node<'_>, document: usize, lines: &[&str], parsed: &mut Parsed) {
    let api_version = text_at(object, &["apiVersion"]).unwrap_or_default();
    let kind = text_at(object, &["kind"]).unwrap_or_default();
    let namespace = text_at(object, &["metadata", "namespace"]).filter(|n| !n.is_empty());
    let (name, generated) = match text_at(object, &["metadata", "name"]).filter(|n| !n.is_empty()) {
        Some(name) => (name, false),
        None => match text_at(object, &["metadata", "generateName"]) {
            Some(prefix) => (format!("{prefix}*"), true),
            None => (format!("#{document}"), true),
        },
    };
    let path = match &namespace {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    };
    let (line_start, line_end) = yaml::lines(object, lines);
    if generated && !name.ends_with('*') {
        parsed.warnings.push(Warning {
            line: line_start,
            message: format!("{kind} in document {document} has no metadata.name: named by its document"),
        });
    }

    let mut attributes = Map::new();
    let (group, version) = match api_version.rsplit_once('/') {
        Some((group, version)) => (group.to_owned(), version.to_owned()),
        None => (String::new(), api_version.clone()),
    };
    attributes.insert("api_version".into(), json!(api_version));
    attributes.insert("group".into(), json!(group));
    attributes.insert("version".into(), json!(version));
    attributes.insert("kind".into(), json!(kind));
    if let Some(ns) = &namespace {
        attributes.insert("namespace".into(), json!(ns));
    }
    attributes.insert("document".into(), json!(document));
    let metadata = get(object, "metadata");
    if let Some(labels) = metadata.and_then(|m| get(m, "labels")) {
        attributes.insert("labels".into(), yaml::to_json(labels));
    }
    let annotation_keys: Vec<String> = entries(metadata.and_then(|m| get(m, "annotations")))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    if !annotation_keys.is_empty() {
        attributes.insert("annotation_keys".into(), json!(annotation_keys));
    }
    let spec = get(object, "spec");
    if let Some(replicas) = spec.and_then(|s| get(s, "replicas")) {
        attributes.insert("replicas".into(), yaml::to_json(replicas));
    }
    if let Some(selector) = spec.and_then(|s| get(s, "selector")) {
        attributes.insert("selector".into(), yaml::to_json(selector));
    }
    match kind.as_str() {
        "Service" => service(spec, &mut attributes),
        "CustomResourceDefinition" => crd(spec, &mut attributes),
        "ConfigMap" | "Secret" => {
            // Keys only: a Secret's values are secrets, and a ConfigMap's may be whole files.
            for field in ["data", "stringData", "binaryData"] {
                let keys: Vec<String> = entries(get(object, field)).into_iter().map(|(k, _)| k).collect();
                if !keys.is_empty() {
                    attributes.insert(format!("{field}_keys"), json!(keys));
                }
            }
            if let Some(kind) = text_at(object, &["type"]) {
                attributes.insert("type".into(), json!(kind));
            }
        }
        _ => {}
    }

    parsed.records.push(MetadataRecord {
        kind: "k8s.resource",
        path: path.clone(),
        parent: None,
        name,
        data_type: Some(kind.clone()),
        attributes,
        line_start,
        line_end,
    });
    if let Some(pod) = containers::pod_spec(object, &kind) {
        containers::records(pod, &path, lines, parsed);
    }
}

fn service(spec: Option<&Node<'_>>, attributes: &mut Map<String, Value>) {
    let Some(spec) = spec else { return };
    if let Some(kind) = text_at(spec, &["type"]) {
        attributes.insert("service_type".into(), json!(kind));
    }
    let ports: Vec<Value> = items(get(spec, "ports"))
        .iter()
        .map(|port| {
            let mut p = Map::new();
            for key in ["name", "protocol", "port", "targetPort", "nodePort", "appProtocol"] {
                if let Some(value) = get(port, key) {
                    p.insert(key.into(), yaml::to_json(value));
                }
            }
            Value::Object(p)
        })
        .collect();
    if !ports.is_empty() {
        attributes.insert("ports".into(), Value::Array(ports));
    }
}

fn crd(spec: Option<&Node<'_>>, attributes: &mut Map<String, Value>) {
    let Some(spec) = spec else { return };
    if let Some(group) = text_at(spec, &["group"]) {
        attributes.insert("crd_group".into(), json!(group));
    }
    if let Some(scope) = text_at(spec, &["scope"]) {
        attributes.insert("crd_scope".into(), json!(scope));
    }
    if let Some(names) = get(spec, "names") {
        attributes.insert("crd_names".into(), yaml::to_json(names));
    }
    // v1 lists versions; v1beta1 may name a single `version`.
    let mut versions: Vec<Value> = items(get(spec, "versions"))
        .iter()
        .filter_map(|v| {
            let name = text_at(v, &["name"])?;
            let mut entry = Map::new();
            entry.insert("name".into(), json!(name));
            for flag in ["served", "storage", "deprecated"] {
                if let Some(value) = get(v, flag) {
                    entry.insert(flag.into(), yaml::to_json(value));
                }
            }
            Some(Value::Object(entry))
        })
        .collect();
    if versions.is_empty()
        && let Some(version) = text_at(spec, &["version"])
    {
        versions.push(json!({ "name": version }));
    }
    if !versions.is_empty() {
        attributes.insert("crd_versions".into(), Value::Array(versions));
    }
}

/// The first line holding a template action where YAML would see syntax: a value or a line that
/// begins with `{{`. Inside a string — quoted, plain (`summary: {{ $labels.pod }} is down` after
/// other words, as alerting rules write), or a block scalar (a ConfigMap embedding a template) —
/// `{{` is text, not a template of this file.
fn helm_template_line(source: &str) -> Option<u32> {
    if !source.contains("{{") {
        return None;
    }
    let mut block_indent: Option<usize> = None;
    for (number, line) in source.lines().enumerate() {
        let body = line.trim_start();
        let indent = line.len() - body.len();
        if let Some(parent) = block_indent {
            if body.is_empty() || indent > parent {
                continue;
            }
            block_indent = None;
        }
        if body.starts_with('#') {
            continue;
        }
        let value = plain_value(body);
        if value.starts_with("{{") {
            return u32::try_from(number + 1).ok();
        }
        let trimmed = value.split(" #").next().unwrap_or("").trim_end();
        if trimmed.starts_with(['|', '>']) && trimmed.len() <= 3 {
            block_indent = Some(indent);
        }
    }
    None
}

/// What follows a line's sequence dashes and mapping key: the value as written.
fn plain_value(body: &str) -> &str {
    let mut rest = body;
    loop {
        let stripped = rest.strip_prefix("- ").map(str::trim_start);
        match stripped {
            Some(s) => rest = s,
            None => break,
        }
    }
    if rest.starts_with(['"', '\'', '{', '[']) {
        return rest;
    }
    match rest.find(": ") {
        Some(at) => rest[at + 2..].trim_start(),
        None => rest.strip_suffix(':').map_or(rest, |_| ""),
    }
}
