//! The technical-metadata family's runs: which files a source has, one run over them, and
//! the port through which the pipeline runs queued metadata tasks.

mod files;
mod run;

use std::path::PathBuf;

use async_trait::async_trait;
use intake_actors::domain::{AttemptError, TaskFailure, TaskStatus};
use intake_actors::metadata::{MetadataTask, RunReport};
use intake_actors::ports::{MetadataIngest, PortError};
use sqlx::PgPool;

pub use run::{Progress, RunError, RunRequest, run};

use crate::store;

/// Runs queued metadata tasks over PostgreSQL, reading only inside `sources.allowed_dirs`.
pub struct PgMetadata {
    pool: PgPool,
    allowed_dirs: Vec<PathBuf>,
}

impl PgMetadata {
    pub fn new(pool: PgPool, allowed_dirs: Vec<PathBuf>) -> Self {
        Self { pool, allowed_dirs }
    }
}

#[async_trait]
impl MetadataIngest for PgMetadata {
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
        };
        match run(&self.pool, &request, &|_, _| {}).await {
            Ok(report) => Ok(report),
            Err(RunError::Request(message)) => Err(TaskFailure::permanent(message)),
            Err(RunError::Store(e)) => Err(store::classify(&e).into()),
        }
    }

    async fn record_failure(
        &self,
        task: &MetadataTask,
        _status: TaskStatus,
        _errors: &[AttemptError],
    ) -> Result<(), PortError> {
        // The run's own row says it failed; the error history travels with the task.
        store::metadata::fail_runs(&self.pool, None, Some(task.task_id.as_uuid()))
            .await
            .map(|_| ())
            .map_err(|e| store::classify(&e))
    }
}
