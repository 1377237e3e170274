//! The boundaries of the pipeline: what it needs from a queue, a catalogue store and the places
//! sources live, and what a decoder for a new source type must do. The service implements them
//! over Redis, PostgreSQL and HTTP; tests can implement them in memory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::report::ReadReport;
use crate::domain::{
    AttemptError, FailureClass, Field, Fingerprint, Item, ParserType, Rejection, SourceConfig, TaskFailure, TaskMeta,
    TaskResult, TaskStatus,
};
use crate::envelope::QueuedTask;
use crate::flow::Credit;
use crate::metadata::{MetadataTask, RunReport};
use crate::table::TableSink;

// ---------------------------------------------------------------------------------------------
// Errors at the boundaries

/// A failure of an adapter, already classified: the adapter knows whether its cause can pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    pub class: FailureClass,
    pub message: String,
    /// The catalogue store itself is unreachable (not just this one call failing).
    pub store_down: bool,
}

impl PortError {
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

    /// The store cannot be reached at all: transient, and a reason to stop taking tasks.
    pub fn store_down(message: impl Into<String>) -> Self {
        Self {
            store_down: true,
            ..Self::transient(message)
        }
    }
}

impl From<PortError> for TaskFailure {
    fn from(e: PortError) -> Self {
        TaskFailure {
            class: e.class,
            message: e.message,
            store_down: e.store_down,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The queue

/// The queue's own id of one delivery (a stream entry id); acknowledging uses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(pub String);

impl std::fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message handed to this worker. The payload is still raw: a producer may have sent anything.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: DeliveryId,
    pub payload: String,
    /// How many times the queue has handed this entry out, this time included.
    pub deliveries: u32,
}

/// A task that will not be run again without an operator, with its whole story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The task id, or `entry-<stream id>` for a message without a readable one.
    pub id: String,
    pub reason: String,
    pub class: FailureClass,
    pub dead_lettered_at: DateTime<Utc>,
    /// The message exactly as it was received.
    pub payload: String,
    /// The failed attempts, oldest first.
    pub errors: Vec<AttemptError>,
}

#[async_trait]
pub trait TaskQueue: Send + Sync + 'static {
    /// Up to `max` new deliveries for this worker, waiting at most `block` for the first.
    async fn fetch(&self, max: usize, block: Duration) -> Result<Vec<Delivery>, PortError>;
    /// Deliveries another worker took and has not touched for `min_idle`: it is presumed dead.
    async fn reclaim(&self, min_idle: Duration, max: usize) -> Result<Vec<Delivery>, PortError>;
    /// Tells the queue these deliveries are still being worked on, so they are not reclaimed.
    async fn touch(&self, ids: &[DeliveryId]) -> Result<(), PortError>;
    /// Says this worker is alive for `ttl`; once that lapses, others take its deliveries.
    async fn heartbeat(&self, ttl: Duration) -> Result<(), PortError>;
    /// Deliveries of workers whose heartbeat lapsed, idle for at least `min_idle`, whatever
    /// the visibility timeout.
    async fn claim_orphans(&self, min_idle: Duration, max: usize) -> Result<Vec<Delivery>, PortError>;
    /// Acknowledges a finished task and publishes its result.
    async fn complete(&self, id: &DeliveryId, result: &TaskResult) -> Result<(), PortError>;
    /// Acknowledges this delivery and schedules `task` (its retry count already raised) for `due`.
    async fn retry_later(&self, id: &DeliveryId, task: &QueuedTask, due: DateTime<Utc>) -> Result<(), PortError>;
    /// Acknowledges the delivery (if any) and files the dead letter, publishing the failure.
    async fn dead_letter(
        &self,
        id: Option<&DeliveryId>,
        letter: &DeadLetter,
        result: Option<&TaskResult>,
    ) -> Result<(), PortError>;
    /// Puts an unfinished delivery back at the end of the queue for any worker to take.
    async fn hand_back(&self, id: &DeliveryId, payload: &str) -> Result<(), PortError>;
    /// Moves scheduled retries whose time has come onto the queue; returns how many.
    async fn promote_due(&self, now: DateTime<Utc>) -> Result<usize, PortError>;
    /// The figures an operator watches.
    async fn stats(&self) -> Result<QueueStats, PortError>;
}

/// What is in the queue right now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Entries not yet delivered to any worker.
    pub waiting: u64,
    /// Entries delivered and not yet acknowledged (in progress, or held by a dead worker).
    pub pending: u64,
    /// Age of the oldest pending delivery since it was last delivered or touched.
    pub oldest_pending_idle_ms: Option<u64>,
    pub pending_entries: Vec<PendingEntry>,
    pub scheduled_retries: u64,
    pub dead_letters: u64,
    /// Tasks finished since the queue's keys were created, by final status
    /// (`completed`, `skipped_duplicate`, `superseded`, `dead_lettered` is in `dead_letters`).
    #[serde(default)]
    pub finished: std::collections::BTreeMap<String, u64>,
}

/// One delivery in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEntry {
    pub id: DeliveryId,
    pub consumer: String,
    pub idle_ms: u64,
    pub deliveries: u64,
}

// ---------------------------------------------------------------------------------------------
// The catalogue store

/// What the store says when a task attempt starts.
#[derive(Debug, Clone, PartialEq)]
pub enum StartDecision {
    /// Go ahead; the attempt is recorded as running. `remembered` is the supplier's remembered
    /// mapping (field → header text), empty when there is none.
    Proceed { remembered: BTreeMap<Field, String> },
    /// An earlier delivery of this task already committed: acknowledge, do nothing.
    AlreadyApplied(TaskResult),
    /// Nothing to apply, recorded as such: the source equals the supplier's last successful
    /// one, or a newer list of the supplier is already applied.
    Skipped(TaskResult),
}

/// A task's rows on their way into the catalogue, applied all at once by `commit`.
#[async_trait]
pub trait Staging: Send {
    /// Stages valid items and rejected rows. The credit is released once they are written.
    async fn stage(&mut self, items: Vec<Item>, rejections: Vec<Rejection>, credit: Credit) -> Result<(), PortError>;
    /// Applies everything staged in one transaction and records the task as completed.
    async fn commit(self: Box<Self>, summary: ParseSummary) -> Result<TaskResult, PortError>;
}

/// What the parser learnt about a source while reading it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParseSummary {
    pub rows_seen: u64,
    /// Human-readable decisions: header row, column mapping, inferred columns.
    pub notes: Vec<String>,
    /// The header text of each field's column in the first table read (with a header): what is
    /// remembered for the supplier when the task mapped columns by hand.
    pub mapping: BTreeMap<Field, String>,
    /// The decisions, table by table.
    pub report: ReadReport,
}

#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// Records the start of an attempt and decides whether it should run.
    async fn start_task(&self, task: &TaskMeta, fingerprint: &Fingerprint) -> Result<StartDecision, PortError>;
    /// Opens the staging area for a task's rows.
    async fn open_staging(&self, task: &TaskMeta) -> Result<Box<dyn Staging>, PortError>;
    /// Records a failed attempt (retry scheduled or dead-lettered) on the task record, with
    /// the task's whole error history, this attempt last.
    async fn record_failure(
        &self,
        task: &TaskMeta,
        status: TaskStatus,
        errors: &[AttemptError],
    ) -> Result<(), PortError>;
    /// Logs a task-level problem to parsing_logs (a row number of none).
    async fn log_task_error(&self, task: &TaskMeta, message: &str) -> Result<(), PortError>;
    /// Whether the store answers at all.
    async fn ping(&self) -> Result<(), PortError>;
}

// ---------------------------------------------------------------------------------------------
// The metadata records

/// Runs metadata tasks: reads a task's artifacts and writes their records. The service does it
/// over the file system and PostgreSQL.
#[async_trait]
pub trait MetadataIngest: Send + Sync + 'static {
    /// Reads the task's files and applies their records in one run. A file refused for its
    /// content is in the report, not an error: the error is for a task that cannot run.
    async fn ingest(&self, task: &MetadataTask) -> Result<RunReport, TaskFailure>;
    /// Records a failed attempt (retry scheduled or dead-lettered): a run it left open is
    /// closed as failed.
    async fn record_failure(
        &self,
        task: &MetadataTask,
        status: TaskStatus,
        errors: &[AttemptError],
    ) -> Result<(), PortError>;
}

// ---------------------------------------------------------------------------------------------
// Sources

/// A source made local: a file on disk or bytes in memory, with its fingerprint.
#[derive(Debug)]
pub struct FetchedSource {
    pub content: SourceContent,
    pub fingerprint: Fingerprint,
    /// A file name or URL path, used to tell formats apart (`.xls` from `.xlsx`).
    pub name_hint: String,
}

#[derive(Debug)]
pub enum SourceContent {
    File(LocalFile),
    Bytes(Vec<u8>),
}

/// A file a decoder reads; a downloaded one is removed when dropped.
#[derive(Debug)]
pub struct LocalFile {
    pub path: PathBuf,
    pub remove_on_drop: bool,
    /// The file as it was fingerprinted; the bytes decoded must be those.
    pub stamp: Option<FileStamp>,
}

/// What changes whenever a file's bytes may have: size, modification and status-change
/// times, identity. Taken when a file is fingerprinted and checked once it has been decoded,
/// so a file replaced or rewritten meanwhile is read again rather than applied as a mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    identity: (u64, u64, i64, i64),
}

impl FileStamp {
    pub fn of(path: &std::path::Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        let identity = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
        };
        #[cfg(not(unix))]
        let identity = (0, 0, 0, 0);
        Ok(Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            identity,
        })
    }
}

impl FetchedSource {
    /// Fails (transiently: the next attempt reads the new file whole) when the file was
    /// replaced or rewritten since it was fingerprinted.
    pub fn verify_unchanged(&self) -> Result<(), DecodeError> {
        let SourceContent::File(LocalFile {
            path,
            stamp: Some(stamp),
            ..
        }) = &self.content
        else {
            return Ok(());
        };
        match FileStamp::of(path) {
            Ok(now) if now == *stamp => Ok(()),
            _ => Err(DecodeError::Io(format!(
                "{} changed while it was read; it will be read again",
                path.display()
            ))),
        }
    }
}

impl Drop for LocalFile {
    fn drop(&mut self) {
        if self.remove_on_drop {
            // A leftover temporary file is harmless; there is nobody to tell.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Brings a task's source to this machine: a local file, a download, an API response.
#[async_trait]
pub trait SourceFetcher: Send + Sync + 'static {
    async fn fetch(&self, task: &TaskMeta) -> Result<FetchedSource, TaskFailure>;
}

/// Why a decoder could not read a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Reading failed midway (an I/O error): trying again may help.
    #[error("reading the source failed: {0}")]
    Io(String),
    /// The bytes are not what the parser type expects (a truncated workbook, say).
    #[error("{0}")]
    Format(String),
    /// The source reads, but is not a price list intake can use (no price column, say).
    #[error("{0}")]
    Unusable(String),
}

impl DecodeError {
    pub fn into_failure(self) -> TaskFailure {
        match &self {
            DecodeError::Io(_) => TaskFailure::transient(self.to_string()),
            DecodeError::Format(_) | DecodeError::Unusable(_) => TaskFailure::permanent(self.to_string()),
        }
    }
}

/// Turns a fetched source of one format into tables of rows. Runs on a blocking thread;
/// stops early when the sink says so.
pub trait Decoder: Send + Sync + 'static {
    fn decode(
        &self,
        source: &FetchedSource,
        config: &SourceConfig,
        sink: &mut dyn TableSink,
    ) -> Result<(), DecodeError>;
}

/// The decoders by parser type. A new source type is one more entry here.
#[derive(Clone, Default)]
pub struct DecoderRegistry {
    decoders: std::collections::BTreeMap<ParserType, std::sync::Arc<dyn Decoder>>,
}

impl DecoderRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, parser_type: ParserType, decoder: impl Decoder) -> &mut Self {
        self.decoders.insert(parser_type, std::sync::Arc::new(decoder));
        self
    }

    pub fn get(&self, parser_type: &ParserType) -> Option<std::sync::Arc<dyn Decoder>> {
        self.decoders.get(parser_type).cloned()
    }

    pub fn parser_types(&self) -> impl Iterator<Item = &ParserType> {
        self.decoders.keys()
    }
}

// ---------------------------------------------------------------------------------------------
// Tracing

/// Connects a task's span to the trace its producer started, across the queue.
pub trait TaskTracing: Send + Sync + 'static {
    /// Makes `span` continue the trace of a W3C `traceparent`; an invalid one is ignored.
    fn continue_trace(&self, span: &tracing::Span, traceparent: &str);
    /// The `traceparent` of `span`, so a retry of the task continues the same trace.
    fn traceparent(&self, span: &tracing::Span) -> Option<String>;
}

/// Spans that stay in this process (no trace export configured).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalSpans;

impl TaskTracing for LocalSpans {
    fn continue_trace(&self, _span: &tracing::Span, _traceparent: &str) {}

    fn traceparent(&self, _span: &tracing::Span) -> Option<String> {
        None
    }
}
