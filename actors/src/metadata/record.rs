//! The one shape every kind of technical metadata becomes: a record with a kind, a path inside
//! its artifact, a parent, a name, a data type, free attributes, and the source lines it came
//! from. Ids, hashes and runs are the store's business.

use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetadataRecord {
    /// `cobol.record`, `cobol.field`, `k8s.resource`, …
    pub kind: &'static str,
    /// The record's place inside its artifact, unique there (`CUSTOMER/ADDRESS/ZIP`).
    pub path: String,
    /// The path of the record it belongs to.
    pub parent: Option<String>,
    pub name: String,
    pub data_type: Option<String>,
    pub attributes: Map<String, Value>,
    /// The source lines it came from (1-based, inclusive).
    pub line_start: u32,
    pub line_end: u32,
}

/// A problem in an artifact that its records do not hide: kept beside them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub line: u32,
    pub message: String,
}
