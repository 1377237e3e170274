//! The types every part of intake speaks: tasks, sources and catalogue values.

pub mod catalog;
pub mod report;
pub mod source;
pub mod task;

pub use catalog::{
    Item, ItemName, Price, PriceError, RejectReason, Rejection, RowNumber, Sku, SupplierId, SupplierName, TextError,
};
pub use source::{ColumnRef, Field, SourceConfig};
pub use task::{
    AttemptError, DEFAULT_MAX_RETRIES, FailureClass, MAX_RETRIES_CEILING, ParserType, TaskCounts, TaskFailure, TaskId,
    TaskMessage, TaskResult, TaskStatus, TaskType, parse_list_date, validate_envelope,
};

use std::fmt;

/// Where a task came from, which decides how far its source paths are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A message from the queue: local paths are confined to the configured directories.
    Queue,
    /// An operator's own command line (`intake ingest`, `intake preview`): paths are theirs.
    Operator,
}

/// A content hash of a source and the options it is read with: equal fingerprints mean an
/// ingestion would change nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Wraps a lowercase hex digest.
    pub fn from_hex(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the pipeline knows of a task while it runs it.
#[derive(Debug, Clone)]
pub struct TaskMeta {
    pub task_id: TaskId,
    pub supplier_name: SupplierName,
    pub parser_type: ParserType,
    /// Counts from 1.
    pub attempt: u32,
    pub force: bool,
    /// Where this list stands among its supplier's lists (see [`TaskMessage::list_at`]).
    pub list_at: chrono::DateTime<chrono::Utc>,
    pub origin: Origin,
    pub source: SourceConfig,
    /// The message as enqueued, kept on the task record.
    pub message: Option<TaskMessage>,
}

impl TaskMeta {
    pub fn from_message(message: TaskMessage, origin: Origin) -> Self {
        Self {
            task_id: message.task_id,
            supplier_name: message.supplier_name.clone(),
            parser_type: message.parser_type.clone(),
            attempt: message.attempt(),
            force: message.force,
            list_at: message.list_at(),
            origin,
            source: message.source_config.clone(),
            message: Some(message),
        }
    }
}
