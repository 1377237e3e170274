//! DlqActor: files tasks that will not run again, with their story, and marks their records.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::OwnedSemaphorePermit;

use super::family::Families;
use crate::domain::{TaskResult, TaskStatus};
use crate::envelope::QueuedTask;
use crate::ports::{DeadLetter, DeliveryId, TaskQueue};

pub enum DlqMsg {
    DeadLetter {
        /// The delivery to acknowledge with it; `None` for a task that never came off the queue.
        delivery: Option<DeliveryId>,
        letter: DeadLetter,
        /// The task, when the message could be read, to mark its record.
        task: Option<QueuedTask>,
        /// Published to whoever waits for the task.
        result: Option<TaskResult>,
        /// The consumer's in-flight slot, released once the letter is filed.
        slot: Option<OwnedSemaphorePermit>,
    },
}

#[derive(Clone, Copy, Default)]
pub struct DlqActor;

#[derive(Clone)]
pub struct DlqArgs {
    pub queue: Arc<dyn TaskQueue>,
    pub families: Families,
}

impl Actor for DlqActor {
    type Msg = DlqMsg;
    type State = DlqArgs;
    type Arguments = DlqArgs;

    async fn pre_start(&self, _myself: ActorRef<DlqMsg>, args: DlqArgs) -> Result<DlqArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<DlqMsg>,
        message: DlqMsg,
        state: &mut DlqArgs,
    ) -> Result<(), ActorProcessingErr> {
        let DlqMsg::DeadLetter {
            delivery,
            letter,
            task,
            result,
            slot,
        } = message;
        file(state, delivery, letter, task, result).await;
        drop(slot);
        Ok(())
    }
}

#[tracing::instrument(name = "dead_letter", skip_all, fields(task_id = %letter.id, reason = %letter.reason))]
async fn file(
    state: &DlqArgs,
    delivery: Option<DeliveryId>,
    letter: DeadLetter,
    task: Option<QueuedTask>,
    result: Option<TaskResult>,
) {
    tracing::warn!(task_id = %letter.id, class = %letter.class, reason = %letter.reason, "dead-lettering task");
    // The record first: whoever sees the published result finds the record agreeing with it.
    if let Some(task) = task
        && let Err(e) = state.families.record_failure(&task, TaskStatus::DeadLettered).await
    {
        tracing::warn!(task_id = %letter.id, error = %e, "could not mark the task record dead-lettered");
    }
    if let Err(e) = state
        .queue
        .dead_letter(delivery.as_ref(), &letter, result.as_ref())
        .await
    {
        // The delivery stays pending; it is reclaimed and dead-lettered again later.
        tracing::error!(task_id = %letter.id, error = %e, "could not file the dead letter");
    }
}
