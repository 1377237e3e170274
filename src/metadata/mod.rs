//! The technical-metadata family's runs: which files a source has, one run over them, and
//! the port through which the pipeline runs queued metadata tasks.

mod files;
mod run;
mod sink;
mod warehouse;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use intake_actors::domain::{AttemptError, TaskFailure, TaskStatus};
use intake_actors::metadata::{MetadataTask, RunReport};
use intake_actors::ports::{MetadataIngest, PortError};

pub use run::{Progress, RunError, RunRequest, run};
pub use sink::{Sink, SinkError};

use crate::store;

/// Runs queued metadata tasks into the configured sink, reading only inside
/// `sources.allowed_dirs`.
pub struct MetadataService {
    sink: Sink,
    allowed_dirs: Vec<PathBuf>,
    parse_limit: Duration,
}

impl MetadataService {
    pub fn new(sink: Sink, allowed_dirs: Vec<PathBuf>, parse_limit: Duration) -> Self {
        Self {
            sink,
            allowed_dirs,
            parse_limit,
        }
    }
}

/// A sink's failure as the queue needs it: may another attempt succeed?
pub fn failure(e: &SinkError) -> TaskFailure {
    match e {
        SinkError::Postgres(e) => store::classify(e).into(),
        SinkError::BigQuery(e) if e.is_transient() => TaskFailure::transient(e.to_string()),
        SinkError::BigQuery(e) => TaskFailure::permanent(e.to_string()),
    }
}

#[async_trait]
impl MetadataIngest for MetadataService {
    async fn ingest(&self, task: &MetadataTask) -> Result<RunReport, TaskFailure> {
        let request = RunRequest {
            kind: task.kind,
            source: PathBuf::from(&task.source),
            name: task.name.clone(),
            recursive: task.recursive,
            include: task.include.clone(),
            exclude: task.exclude.clone(),
            copylib: task.copylib.iter().map(PathBuf::from).collect(),
            dry_run: false,
            task_id: Some(task.task_id.as_uuid()),
            confined_to: Some(self.allowed_dirs.clone()),
            parse_limit: self.parse_limit,
        };
        match run(&self.sink, &request, &|_, _| {}).await {
            Ok(report) => Ok(report),
            Err(RunError::Request(message)) => Err(TaskFailure::permanent(message)),
            Err(RunError::Sink(e)) => Err(failure(&e)),
        }
    }

    async fn record_failure(
        &self,
        task: &MetadataTask,
        _status: TaskStatus,
        _errors: &[AttemptError],
    ) -> Result<(), PortError> {
        // The run's own row says it failed; the error history travels with the task. Only
        // PostgreSQL keeps runs open while they run.
        let Sink::Postgres(pool) = &self.sink else {
            return Ok(());
        };
        store::metadata::fail_runs(pool, None, Some(task.task_id.as_uuid()))
            .await
            .map(|_| ())
            .map_err(|e| store::classify(&e))
    }
}
