//! Technical metadata: a task goes to the least busy MetadataActor, which runs it through the
//! metadata port.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Family, Load, Refusal, Taken};
use crate::domain::{TaskFailure, TaskStatus};
use crate::envelope::QueuedTask;
use crate::pipeline::completion::Completion;
use crate::pipeline::directory::Directory;
use crate::pipeline::metadata::{MetadataJob, MetadataMsg};
use crate::ports::{MetadataIngest, PortError};

pub struct MetadataFamily {
    directory: Directory,
    ingest: Arc<dyn MetadataIngest>,
    actors: Load,
}

impl MetadataFamily {
    pub fn new(directory: Directory, ingest: Arc<dyn MetadataIngest>) -> Self {
        let actors = Load::new(directory.metadata_actors());
        Self {
            directory,
            ingest,
            actors,
        }
    }
}

#[async_trait]
impl Family for MetadataFamily {
    fn take(&self, task: &QueuedTask, done: Completion) -> Result<Taken, Refusal> {
        let QueuedTask::Metadata(task) = task else {
            return Err(Refusal::Never(TaskFailure::permanent("not a metadata task")));
        };
        let busy = self.actors.least_busy();
        let Some(actor) = self.directory.metadata(busy.actor()) else {
            return Err(Refusal::NotNow);
        };
        let job = MetadataJob {
            task: task.clone(),
            done,
        };
        if actor.send_message(MetadataMsg::Ingest(job)).is_err() {
            return Err(Refusal::NotNow);
        }
        // A run writes nothing half-way that outlives it: nothing to abort.
        Ok(Taken::new(|_| {}, vec![busy]))
    }

    async fn record_failure(&self, task: &QueuedTask, status: TaskStatus) -> Result<(), PortError> {
        let QueuedTask::Metadata(task) = task else {
            return Ok(());
        };
        self.ingest.record_failure(task, status, &task.errors).await
    }
}
