//! MetadataActor: runs a metadata task — its artifacts read and their records written in one
//! run through the metadata port — and reports how it ended. A run with refused files has
//! completed (each refused file is in its report); only a task that cannot run fails.

use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::completion::Completion;
use crate::domain::{TaskCounts, TaskResult, TaskStatus, TaskType};
use crate::metadata::MetadataTask;
use crate::ports::MetadataIngest;

/// A metadata task handed to its actor.
pub struct MetadataJob {
    pub task: MetadataTask,
    pub done: Completion,
}

pub enum MetadataMsg {
    Ingest(MetadataJob),
}

#[derive(Clone)]
pub struct MetadataActor;

#[derive(Clone)]
pub struct MetadataArgs {
    pub ingest: Arc<dyn MetadataIngest>,
}

impl Actor for MetadataActor {
    type Msg = MetadataMsg;
    type State = MetadataArgs;
    type Arguments = MetadataArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: MetadataArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            MetadataMsg::Ingest(job) => ingest(job, state).await,
        }
        Ok(())
    }
}

#[tracing::instrument(
    name = "metadata_run",
    skip_all,
    fields(task_id = %job.task.task_id, kind = job.task.kind.as_str(), files = tracing::field::Empty, records = tracing::field::Empty)
)]
async fn ingest(job: MetadataJob, state: &MetadataArgs) {
    let MetadataJob { task, done } = job;
    let started = Instant::now();
    let report = match state.ingest.ingest(&task).await {
        Ok(report) => report,
        Err(failure) => return done.fail(failure),
    };
    let span = tracing::Span::current();
    span.record("files", report.figures.files_seen);
    span.record("records", report.figures.records_seen);
    let error = (!report.rejected.is_empty()).then(|| {
        format!(
            "{} of {} files refused",
            report.figures.files_rejected, report.figures.files_seen
        )
    });
    done.done(TaskResult {
        task_id: task.task_id,
        supplier_name: String::new(),
        parser_type: task.kind.as_str().to_owned(),
        status: TaskStatus::Completed,
        counts: TaskCounts::default(),
        attempt: task.retry_count + 1,
        duration_ms: started.elapsed().as_millis() as u64,
        notes: Vec::new(),
        error,
        decisions: None,
        task_type: TaskType::Metadata,
        metadata: Some(Box::new(report)),
    });
}
