//! The containers of a workload's pod template: image, ports, environment (names and where each
//! value comes from, never a value), resources, probes, mounts.

use serde_json::{Map, Value, json};

use super::yaml::{self, Node, entries, get, items, text, text_at};
use crate::metadata::{MetadataRecord, Parsed};

/// The pod spec of an object: a Pod's own spec, a CronJob's job template's, or the pod template
/// any other workload keeps under `spec.template` (Deployments, StatefulSets, Jobs, and the
/// custom workloads that follow the same shape).
pub fn pod_spec<'n, 'a>(object: &'n Node<'a>, kind: &str) -> Option<&'n Node<'a>> {
    let spec = get(object, "spec")?;
    let pod = if kind == "Pod" {
        Some(spec)
    } else if let Some(job) = yaml::at(spec, &["jobTemplate", "spec"]) {
        yaml::at(job, &["template", "spec"])
    } else {
        yaml::at(spec, &["template", "spec"])
    }?;
    let has_containers = get(pod, "containers").is_some() || get(pod, "initContainers").is_some();
    has_containers.then_some(pod)
}

pub fn records(pod: &Node<'_>, resource: &str, lines: &[&str], parsed: &mut Parsed) {
    for (field, init) in [("initContainers", true), ("containers", false)] {
        for (index, container) in items(get(pod, field)).iter().enumerate() {
            let name = text_at(container, &["name"]).unwrap_or_else(|| format!("#{}", index + 1));
            let (line_start, line_end) = yaml::lines(container, lines);
            let image = text_at(container, &["image"]);
            let mut attributes = Map::new();
            attributes.insert("init".into(), json!(init));
            if let Some(image) = &image {
                attributes.insert("image".into(), json!(image));
                let reference = ImageReference::parse(image);
                attributes.insert("image_repository".into(), json!(reference.repository));
                if let Some(tag) = reference.tag {
                    attributes.insert("image_tag".into(), json!(tag));
                }
                if let Some(digest) = reference.digest {
                    attributes.insert("image_digest".into(), json!(digest));
                }
            }
            if let Some(policy) = text_at(container, &["imagePullPolicy"]) {
                attributes.insert("image_pull_policy".into(), json!(policy));
            }
            let ports: Vec<Value> = items(get(container, "ports")).iter().map(port).collect();
            if !ports.is_empty() {
                attributes.insert("ports".into(), Value::Array(ports));
            }
            let env: Vec<Value> = items(get(container, "env")).iter().map(variable).collect();
            if !env.is_empty() {
                attributes.insert("env".into(), Value::Array(env));
            }
            let env_from: Vec<Value> = items(get(container, "envFrom")).iter().map(env_source).collect();
            if !env_from.is_empty() {
                attributes.insert("env_from".into(), Value::Array(env_from));
            }
            if let Some(resources) = get(container, "resources") {
                attributes.insert("resources".into(), yaml::to_json(resources));
            }
            for (key, probe_name) in [
                ("livenessProbe", "liveness"),
                ("readinessProbe", "readiness"),
                ("startupProbe", "startup"),
            ] {
                if let Some(p) = get(container, key) {
                    attributes.insert(format!("{probe_name}_probe"), probe(p));
                }
            }
            let mounts: Vec<Value> = items(get(container, "volumeMounts"))
                .iter()
                .map(|m| {
                    json!({
                        "name": text_at(m, &["name"]),
                        "mount_path": text_at(m, &["mountPath"]),
                        "read_only": get(m, "readOnly").map(yaml::to_json),
                    })
                })
                .collect();
            if !mounts.is_empty() {
                attributes.insert("volume_mounts".into(), Value::Array(mounts));
            }
            let folder = if init { "initContainers" } else { "containers" };
            parsed.records.push(MetadataRecord {
                kind: "k8s.container",
                path: format!("{resource}/{folder}/{name}"),
                parent: Some(resource.to_owned()),
                name,
                data_type: image,
                attributes,
                line_start,
                line_end,
            });
        }
    }
}

fn port(node: &Node<'_>) -> Value {
    let mut p = Map::new();
    for key in ["name", "containerPort", "protocol", "hostPort"] {
        if let Some(value) = get(node, key) {
            p.insert(key.into(), yaml::to_json(value));
        }
    }
    Value::Object(p)
}

/// An environment variable: its name and where its value comes from. A literal value is not
/// kept — people do put passwords there — only that there is one.
fn variable(node: &Node<'_>) -> Value {
    let name = text_at(node, &["name"]);
    let Some(from) = get(node, "valueFrom") else {
        return json!({ "name": name, "source": "value" });
    };
    let Some((source, reference)) = entries(Some(from)).into_iter().next() else {
        return json!({ "name": name, "source": "valueFrom" });
    };
    let mut target = Map::new();
    for (key, value) in entries(Some(reference)) {
        if text(value).is_some() {
            target.insert(key, yaml::to_json(value));
        }
    }
    json!({ "name": name, "source": source, "ref": target })
}

fn env_source(node: &Node<'_>) -> Value {
    let mut entry = Map::new();
    if let Some(prefix) = text_at(node, &["prefix"]) {
        entry.insert("prefix".into(), json!(prefix));
    }
    for (key, reference) in entries(Some(node)) {
        if key != "prefix" {
            entry.insert("source".into(), json!(key));
            entry.insert("name".into(), json!(text_at(reference, &["name"])));
        }
    }
    Value::Object(entry)
}

/// How a probe checks: its handler and where it points, and its timings. An `exec` probe's
/// command is kept: it is code the image runs, not configuration that could hold a secret.
fn probe(node: &Node<'_>) -> Value {
    let mut entry = Map::new();
    for (key, value) in entries(Some(node)) {
        match key.as_str() {
            "httpGet" => {
                entry.insert("handler".into(), json!("http_get"));
                for field in ["path", "port", "scheme"] {
                    if let Some(v) = get(value, field) {
                        entry.insert(field.into(), yaml::to_json(v));
                    }
                }
            }
            "tcpSocket" => {
                entry.insert("handler".into(), json!("tcp_socket"));
                if let Some(v) = get(value, "port") {
                    entry.insert("port".into(), yaml::to_json(v));
                }
            }
            "grpc" => {
                entry.insert("handler".into(), json!("grpc"));
                if let Some(v) = get(value, "port") {
                    entry.insert("port".into(), yaml::to_json(v));
                }
            }
            "exec" => {
                entry.insert("handler".into(), json!("exec"));
                if let Some(v) = get(value, "command") {
                    entry.insert("command".into(), yaml::to_json(v));
                }
            }
            _ if text(value).is_some() => {
                entry.insert(key, yaml::to_json(value));
            }
            _ => {}
        }
    }
    Value::Object(entry)
}

/// `registry/repository:tag@sha256:digest`, split as a container runtime splits it: the tag is
/// after the last `:` of the last path segment (a registry's `:port` is not a tag).
#[derive(Debug, PartialEq, Eq)]
pub struct ImageReference<'a> {
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> ImageReference<'a> {
    pub fn parse(image: &'a str) -> Self {
        let (name, digest) = match image.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (image, None),
        };
        let last_segment = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_segment..].rfind(':') {
            Some(at) => (&name[..last_segment + at], Some(&name[last_segment + at + 1..])),
            None => (name, None),
        };
        Self {
            repository,
            tag,
            digest,
        }
    }
}
