//! Settling a task that failed: a retry scheduled while its budget lasts, otherwise a dead
//! letter with its story.

use super::super::dlq::DlqMsg;
use super::*;
use crate::domain::{AttemptError, FailureClass, TaskStatus};
use crate::ports::DeadLetter;

/// Retries a transient failure while the budget lasts; dead-letters everything else.
pub(super) async fn settle_failure(state: &mut ConsumerState, id: DeliveryId, task: InFlight, failure: TaskFailure) {
    let InFlight {
        task: mut queued,
        slot,
        span,
        ..
    } = task;
    span.record("error", failure.message.as_str());
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_message", failure.message.as_str());
    // A retry continues this trace, whether or not the producer started one.
    if queued.traceparent().is_none() {
        queued.set_traceparent(state.args.tracing.traceparent(&span));
    }
    let error = AttemptError {
        at: Utc::now(),
        attempt: queued.attempt(),
        class: failure.class,
        message: failure.message.clone(),
    };
    queued.push_error(error.clone());
    let retry = failure.class == FailureClass::Transient && queued.retry_count() < queued.max_retries();
    if !retry {
        span.record("outcome", "dead_lettered");
        metrics::counter!("intake_tasks_total", "outcome" => "dead_lettered").increment(1);
        return dead_letter_task(state, Some(id), queued, failure, slot);
    }
    span.record("outcome", "retry_scheduled");
    metrics::counter!("intake_tasks_total", "outcome" => "retry_scheduled").increment(1);

    let delays = &state.args.settings.retry_delays;
    let delay = delays
        .get(queued.retry_count() as usize)
        .or(delays.last())
        .copied()
        .unwrap_or(Duration::from_secs(1));
    queued.count_retry();
    let due = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
    let task_id = queued.task_id();
    tracing::warn!(
        %task_id,
        attempt = error.attempt,
        retry_in_ms = delay.as_millis() as u64,
        error = %failure.message,
        "task failed; retry scheduled"
    );
    if let Err(e) = state
        .args
        .families
        .record_failure(&queued, TaskStatus::RetryScheduled)
        .await
    {
        tracing::warn!(%task_id, error = %e, "could not record the failed attempt");
    }
    if let Err(e) = state.args.queue.retry_later(&id, &queued, due).await {
        tracing::error!(%task_id, error = %e, "could not schedule the retry; the delivery will be reclaimed");
    }
    drop(slot);
}

pub(super) fn dead_letter_task(
    state: &ConsumerState,
    delivery: Option<DeliveryId>,
    mut task: QueuedTask,
    failure: TaskFailure,
    slot: OwnedSemaphorePermit,
) {
    if task
        .errors()
        .last()
        .is_none_or(|e| e.message != failure.message || e.attempt != task.attempt())
    {
        task.push_error(AttemptError {
            at: Utc::now(),
            attempt: task.attempt(),
            class: failure.class,
            message: failure.message.clone(),
        });
    }
    let payload = task.to_json().unwrap_or_default();
    let (supplier_name, parser_type) = task.labels();
    let result = TaskResult {
        task_id: task.task_id(),
        supplier_name,
        parser_type,
        status: TaskStatus::DeadLettered,
        counts: Default::default(),
        attempt: task.attempt(),
        duration_ms: 0,
        notes: Vec::new(),
        error: Some(failure.message.clone()),
        decisions: None,
        task_type: task.task_type(),
        metadata: None,
    };
    let letter = DeadLetter {
        id: task.task_id().to_string(),
        reason: failure.message,
        class: failure.class,
        dead_lettered_at: Utc::now(),
        payload,
        errors: task.errors().to_vec(),
    };
    send_to_dlq(state, delivery, letter, Some(task), Some(result), slot);
}

pub(super) fn dead_letter_raw(
    state: &ConsumerState,
    delivery: Delivery,
    id: String,
    reason: String,
    slot: OwnedSemaphorePermit,
) {
    let letter = DeadLetter {
        id,
        reason: reason.clone(),
        class: FailureClass::Permanent,
        dead_lettered_at: Utc::now(),
        payload: delivery.payload,
        errors: vec![AttemptError {
            at: Utc::now(),
            attempt: 1,
            class: FailureClass::Permanent,
            message: reason,
        }],
    };
    send_to_dlq(state, Some(delivery.id), letter, None, None, slot);
}

pub(super) fn send_to_dlq(
    state: &ConsumerState,
    delivery: Option<DeliveryId>,
    letter: DeadLetter,
    task: Option<QueuedTask>,
    result: Option<TaskResult>,
    slot: OwnedSemaphorePermit,
) {
    if task.is_none() {
        metrics::counter!("intake_tasks_total", "outcome" => "malformed").increment(1);
    }
    let message = DlqMsg::DeadLetter {
        delivery,
        letter,
        task,
        result,
        slot: Some(slot),
    };
    match state.args.directory.dlq() {
        Some(dlq) => {
            if dlq.send_message(message).is_err() {
                tracing::error!("the dead-letter actor is not running; the delivery will be reclaimed");
            }
        }
        None => tracing::error!("the dead-letter actor is not running; the delivery will be reclaimed"),
    }
}

/// The task id of a message too broken to parse, if one can be read out of it.
pub(super) fn task_id_of(payload: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    let id = value.get("task_id")?.as_str()?;
    uuid::Uuid::parse_str(id).ok().map(|u| u.to_string())
}
