//! A unit of work as it travels through the queue: its identity, the message a producer
//! enqueues, the history of its failed attempts and the outcome the pipeline reports.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::catalog::SupplierName;
use super::report::ReadReport;
use super::source::SourceConfig;
use crate::metadata::RunReport;

/// Identifies one task across retries, redeliveries, the task record and the dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(Uuid);

impl TaskId {
    /// A new, time-ordered id (UUIDv7), so task ids sort by creation.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for TaskId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl FromStr for TaskId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The name under which a source type is registered (`csv`, `xlsx`, `google_sheets`, …).
///
/// Only lowercase ASCII letters, digits and `_`, so it is safe in logs, metrics and actor names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ParserType(String);

impl ParserType {
    pub fn new(name: &str) -> Result<Self, InvalidParserType> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidParserType(name.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ParserType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::new(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ParserType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("parser type {0:?} is not a lowercase identifier ([a-z0-9_], at most 64 characters)")]
pub struct InvalidParserType(String);

/// The message a producer puts on the task stream. Its JSON Schema is `schemas/task-message.schema.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskMessage {
    pub task_id: TaskId,
    pub parser_type: ParserType,
    pub supplier_name: SupplierName,
    pub source_config: SourceConfig,
    /// Attempts already made and failed; 0 on the first delivery.
    #[serde(default)]
    pub retry_count: u32,
    /// Transient failures tolerated before the task is dead-lettered.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    pub enqueued_at: DateTime<Utc>,
    /// When the supplier issued this list (a date or a date-time), if the producer knows it.
    /// A supplier's lists take effect in this order, or in the order they were enqueued when
    /// it is absent; an older list than the one applied is recorded as superseded.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "date_or_date_time"
    )]
    pub list_date: Option<DateTime<Utc>>,
    /// A task still queued after this instant is dead-lettered as expired instead of run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Ingest even when the source is identical to the supplier's last successful one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// W3C trace context of the producer, so the ingestion continues its trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// One entry per failed attempt, oldest first; travels with retries into the dead-letter queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<AttemptError>,
}

pub const DEFAULT_MAX_RETRIES: u32 = 3;

fn default_max_retries() -> u32 {
    DEFAULT_MAX_RETRIES
}

/// Upper bound on `max_retries` a producer may ask for, so a message cannot pin a task in the
/// retry loop for ever.
pub const MAX_RETRIES_CEILING: u32 = 20;

impl TaskMessage {
    /// Checks what serde cannot: cross-field rules of the schema.
    pub fn validate(&self) -> Result<(), String> {
        validate_envelope(self.max_retries, self.enqueued_at, self.expires_at, self)?;
        self.source_config.validate()
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The attempt this delivery is, counting from 1.
    pub fn attempt(&self) -> u32 {
        self.retry_count + 1
    }

    /// Where this list stands among its supplier's lists: the producer's list date, or else
    /// when it was first enqueued (retries, hand-backs and replays keep that instant).
    pub fn list_at(&self) -> DateTime<Utc> {
        self.list_date.unwrap_or(self.enqueued_at)
    }
}

/// The rules every task message keeps, whatever its family: a bounded retry budget, an expiry
/// not before the enqueue, and no NUL character anywhere — no PostgreSQL text or JSONB value
/// can hold one, so such a message could be neither run nor recorded as it is.
pub fn validate_envelope(
    max_retries: u32,
    enqueued_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    message: &impl Serialize,
) -> Result<(), String> {
    if max_retries > MAX_RETRIES_CEILING {
        return Err(format!(
            "max_retries is {max_retries}, at most {MAX_RETRIES_CEILING} is allowed"
        ));
    }
    if expires_at.is_some_and(|at| at < enqueued_at) {
        return Err("expires_at is earlier than enqueued_at".into());
    }
    if serde_json::to_string(message).is_ok_and(|json| json.contains("\\u0000")) {
        return Err("a text field contains a NUL character (\\u0000)".into());
    }
    Ok(())
}

/// `2026-11-22` (midnight UTC) or an RFC 3339 date-time.
fn date_or_date_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(text) => parse_list_date(&text).map(Some).map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}

/// A list date as producers write it: `2026-11-22` (midnight UTC) or an RFC 3339 date-time.
pub fn parse_list_date(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
        .ok_or_else(|| format!("list_date {text:?} is neither a date (2026-11-22) nor an RFC 3339 date-time"))
}

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The world may change: a connection, a timeout, a rate limit, a crashed actor.
    Transient,
    /// The task itself is wrong: a missing source, denied access, an unknown parser, a bad message.
    Permanent,
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
        })
    }
}

/// Why a task attempt failed, as a class and one line for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{class}: {message}")]
pub struct TaskFailure {
    pub class: FailureClass,
    pub message: String,
    /// The catalogue store could not be reached: no other task can succeed either, so the
    /// worker stops taking tasks until it is back.
    #[serde(default, skip)]
    pub store_down: bool,
}

impl TaskFailure {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::Transient,
            message: message.into(),
            store_down: false,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::Permanent,
            message: message.into(),
            store_down: false,
        }
    }
}

/// One failed attempt in a task's story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptError {
    pub at: DateTime<Utc>,
    pub attempt: u32,
    pub class: FailureClass,
    pub message: String,
}

/// Counts a finished task reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    /// Data rows read from the source (header, blank and category rows excluded).
    pub rows_seen: u64,
    /// Rows that passed validation and were applied to the catalogue.
    pub rows_stored: u64,
    /// Rows logged to parsing_logs instead (invalid, or superseded by a later row with the same SKU).
    pub rows_rejected: u64,
    pub items_created: u64,
    pub items_updated: u64,
    pub items_unchanged: u64,
    pub price_changes: u64,
    /// Offered items a complete list no longer lists, now marked unavailable.
    #[serde(default)]
    pub items_disappeared: u64,
    /// Unavailable items a list lists again, offered once more.
    #[serde(default)]
    pub items_returned: u64,
}

/// The record families a task can belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    /// A supplier's price list into the catalogue.
    #[default]
    PriceList,
    /// Technical artifacts into the metadata records.
    Metadata,
}

impl TaskType {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::PriceList => "price_list",
            Self::Metadata => "metadata",
        }
    }

    pub fn is_price_list(&self) -> bool {
        *self == Self::PriceList
    }
}

/// How a task ended, as the worker prints it and as `enqueue --wait` receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    pub task_id: TaskId,
    /// The supplier of a price list; empty (and not written) for other families.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub supplier_name: String,
    /// A price list's parser type, or the kind of a metadata task's artifacts.
    pub parser_type: String,
    pub status: TaskStatus,
    #[serde(flatten)]
    pub counts: TaskCounts,
    pub attempt: u32,
    pub duration_ms: u64,
    /// What the parser decided on its own (header row, column mapping, inferred columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How the source was read, table by table: a person understands from it why a list was
    /// read as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decisions: Option<Box<ReadReport>>,
    /// The record family; written only when it is not a price list.
    #[serde(default, skip_serializing_if = "TaskType::is_price_list")]
    pub task_type: TaskType,
    /// A metadata run's figures and refused files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Box<RunReport>>,
}

/// The states of a task record. `running` and `retry_scheduled` are not final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Running,
    Completed,
    SkippedDuplicate,
    /// A newer list of the same supplier was already applied; this one changed nothing.
    Superseded,
    RetryScheduled,
    DeadLettered,
}

impl TaskStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::SkippedDuplicate => "skipped_duplicate",
            Self::Superseded => "superseded",
            Self::RetryScheduled => "retry_scheduled",
            Self::DeadLettered => "dead_lettered",
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, Self::Completed | Self::SkippedDuplicate | Self::Superseded)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_json() -> serde_json::Value {
        serde_json::json!({
            "task_id": "0192f0c1-5a5e-7c3e-8f00-000000000001",
            "parser_type": "csv",
            "supplier_name": "Acme",
            "source_config": {"path": "examples/prices.csv"},
            "enqueued_at": "2026-11-22T10:00:00Z"
        })
    }

    #[test]
    fn minimal_message_gets_defaults() {
        let msg: TaskMessage = serde_json::from_value(message_json()).unwrap();
        assert_eq!(msg.retry_count, 0);
        assert_eq!(msg.max_retries, DEFAULT_MAX_RETRIES);
        assert!(msg.errors.is_empty());
        assert!(msg.validate().is_ok());
    }

    #[test]
    fn unknown_fields_are_rejected_not_ignored() {
        let mut json = message_json();
        json["colum_mapping"] = serde_json::json!({});
        let err = serde_json::from_value::<TaskMessage>(json).unwrap_err();
        assert!(err.to_string().contains("colum_mapping"), "{err}");
    }

    #[test]
    fn parser_type_must_be_an_identifier() {
        assert!(ParserType::new("google_sheets").is_ok());
        assert!(ParserType::new("CSV").is_err());
        assert!(ParserType::new("../etc").is_err());
        assert!(ParserType::new("").is_err());
    }

    #[test]
    fn expiry_before_enqueue_is_invalid() {
        let mut json = message_json();
        json["expires_at"] = "2026-11-21T10:00:00Z".into();
        let msg: TaskMessage = serde_json::from_value(json).unwrap();
        assert!(msg.validate().is_err());
    }

    #[test]
    fn list_date_takes_a_date_or_a_date_time_and_orders_the_list() {
        let mut json = message_json();
        let msg: TaskMessage = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(
            msg.list_at(),
            msg.enqueued_at,
            "without a list date, the enqueue time orders"
        );
        json["list_date"] = "2026-11-20".into();
        let msg: TaskMessage = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(msg.list_at().to_rfc3339(), "2026-11-20T00:00:00+00:00");
        json["list_date"] = "2026-11-20T08:30:00+02:00".into();
        let msg: TaskMessage = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(msg.list_at().to_rfc3339(), "2026-11-20T06:30:00+00:00");
        json["list_date"] = "yesterday".into();
        assert!(serde_json::from_value::<TaskMessage>(json).is_err());
    }

    #[test]
    fn a_nul_character_anywhere_is_invalid() {
        let mut json = message_json();
        json["source_config"]["path"] = "a\u{0}b.csv".into();
        let msg: TaskMessage = serde_json::from_value(json).unwrap();
        assert!(msg.validate().unwrap_err().contains("NUL"));
    }

    #[test]
    fn excessive_retry_budget_is_invalid() {
        let mut json = message_json();
        json["max_retries"] = 1000.into();
        let msg: TaskMessage = serde_json::from_value(json).unwrap();
        assert!(msg.validate().unwrap_err().contains("max_retries"));
    }
}
