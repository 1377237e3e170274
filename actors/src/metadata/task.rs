//! A metadata ingestion as it travels through the queue (`task_type: "metadata"`), and the
//! figures its run reports. Its JSON Schema is `schemas/metadata-task.schema.json`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Kind;
use crate::domain::{AttemptError, DEFAULT_MAX_RETRIES, TaskId, validate_envelope};

/// Read artifacts of one kind from a file or a directory the worker can read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataTask {
    pub task_id: TaskId,
    pub kind: Kind,
    /// An absolute path on the worker, inside one of its `sources.allowed_dirs`.
    pub source: String,
    /// The source's name in semantic paths (one file only); default each file's path
    /// relative to `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recursive: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Directories where COPY members are found (absolute, inside `sources.allowed_dirs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copylib: Vec<String>,
    #[serde(default)]
    pub retry_count: u32,
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    pub enqueued_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<AttemptError>,
}

/// Bounds on a task's globs: matching costs grow with their length and number.
const MAX_GLOBS: usize = 64;
const MAX_GLOB_LEN: usize = 256;

fn default_max_retries() -> u32 {
    DEFAULT_MAX_RETRIES
}

impl MetadataTask {
    /// Checks what serde cannot: cross-field rules of the schema.
    pub fn validate(&self) -> Result<(), String> {
        validate_envelope(self.max_retries, self.enqueued_at, self.expires_at, self)?;
        for globs in [&self.include, &self.exclude] {
            if globs.len() > MAX_GLOBS || globs.iter().any(|g| g.len() > MAX_GLOB_LEN) {
                return Err(format!(
                    "include and exclude take at most {MAX_GLOBS} globs of at most {MAX_GLOB_LEN} bytes"
                ));
            }
        }
        if self.source.trim().is_empty() {
            return Err("source is empty".into());
        }
        // A relative path would be resolved against whatever directory a worker runs in.
        let relative = std::iter::once(&self.source)
            .chain(&self.copylib)
            .find(|p| !std::path::Path::new(p).is_absolute());
        if let Some(path) = relative {
            return Err(format!("{path:?} is not an absolute path"));
        }
        Ok(())
    }
}

/// What applying (or, in a dry run, comparing) records did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

impl std::ops::AddAssign for Changes {
    fn add_assign(&mut self, o: Self) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.deleted += o.deleted;
    }
}

/// The figures of a run, as `ingestion_log` keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFigures {
    pub files_seen: u32,
    pub files_ingested: u32,
    pub files_rejected: u32,
    pub bytes: u64,
    pub records_seen: u64,
    pub changes: Changes,
}

/// One file a run refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedFile {
    pub source_name: String,
    pub error_class: String,
    pub line: Option<u32>,
    pub message: String,
}

/// How a metadata run ended: what the CLI prints and what a queued task's result carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// `None` for a dry run, which records nothing.
    pub run_id: Option<uuid::Uuid>,
    pub kind: Kind,
    pub source: String,
    pub dry_run: bool,
    #[serde(flatten)]
    pub figures: RunFigures,
    pub rejected: Vec<RejectedFile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task_json() -> serde_json::Value {
        serde_json::json!({
            "task_id": "0192f0c1-5a5e-7c3e-8f00-000000000001",
            "kind": "cobol",
            "source": "/data/copybooks",
            "enqueued_at": "2026-12-01T10:00:00Z"
        })
    }

    #[test]
    fn a_minimal_task_reads_with_defaults() {
        let task: MetadataTask = serde_json::from_value(task_json()).unwrap();
        assert_eq!(task.kind, Kind::Cobol);
        assert_eq!(task.max_retries, DEFAULT_MAX_RETRIES);
        assert!(!task.recursive);
        assert!(task.validate().is_ok());
    }

    #[test]
    fn unknown_fields_kinds_and_relative_paths_are_refused() {
        let mut json = task_json();
        json["recursve"] = true.into();
        assert!(serde_json::from_value::<MetadataTask>(json).is_err());
        let mut json = task_json();
        json["kind"] = "cobal".into();
        assert!(serde_json::from_value::<MetadataTask>(json).is_err());
        let mut json = task_json();
        json["source"] = "copybooks".into();
        let task: MetadataTask = serde_json::from_value(json).unwrap();
        assert!(task.validate().unwrap_err().contains("absolute"));
        let mut json = task_json();
        json["copylib"] = serde_json::json!(["../lib"]);
        let task: MetadataTask = serde_json::from_value(json).unwrap();
        assert!(task.validate().unwrap_err().contains("../lib"));
    }
}
