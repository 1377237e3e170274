//! Where a task's failed attempts are recorded: a price list's task run in the catalogue, a
//! metadata task's run in the metadata store.

use std::sync::Arc;

use crate::domain::{Origin, TaskMeta, TaskStatus};
use crate::envelope::QueuedTask;
use crate::ports::{Catalog, MetadataIngest, PortError};

#[derive(Clone)]
pub struct TaskRecords {
    pub catalog: Arc<dyn Catalog>,
    pub metadata: Option<Arc<dyn MetadataIngest>>,
}

impl TaskRecords {
    /// Marks the task's record with its failed attempts (its error history, this one last).
    pub async fn record_failure(&self, task: &QueuedTask, status: TaskStatus) -> Result<(), PortError> {
        match task {
            QueuedTask::PriceList(message) => {
                let meta = TaskMeta::from_message(message.clone(), Origin::Queue);
                self.catalog.record_failure(&meta, status, &message.errors).await
            }
            QueuedTask::Metadata(task) => match &self.metadata {
                Some(metadata) => metadata.record_failure(task, status, &task.errors).await,
                None => Ok(()),
            },
        }
    }
}
