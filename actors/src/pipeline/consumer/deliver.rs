//! A delivery arrives: its message is read and checked, and the task is handed to its record
//! family, inside its own span.

use super::settle::{dead_letter_raw, dead_letter_task, task_id_of};
use super::*;

pub(super) async fn on_delivery(
    myself: &ActorRef<ConsumerMsg>,
    state: &mut ConsumerState,
    delivery: Delivery,
    slot: OwnedSemaphorePermit,
) {
    if !matches!(state.drain, DrainState::Serving) {
        if let Err(e) = state.args.queue.hand_back(&delivery.id, &delivery.payload).await {
            tracing::warn!(delivery = %delivery.id, error = %e, "could not hand back a delivery; it will be reclaimed");
        }
        return;
    }
    if state.in_flight.contains_key(&delivery.id) {
        return;
    }

    let parsed = if delivery.payload.is_empty() {
        Err("malformed task message: the stream entry has no `task` field".to_owned())
    } else {
        QueuedTask::from_json(&delivery.payload).map_err(|e| format!("malformed task message: {e}"))
    };
    let task = match parsed {
        Ok(task) => task,
        Err(reason) => {
            let id = task_id_of(&delivery.payload).unwrap_or_else(|| format!("entry-{}", delivery.id));
            return dead_letter_raw(state, delivery, id, reason, slot);
        }
    };
    // A message that reads but breaks a rule has an id: it gets a task record.
    if let Err(reason) = task.validate() {
        let failure = TaskFailure::permanent(format!("invalid task message: {reason}"));
        return dead_letter_task(state, Some(delivery.id), task, failure, slot);
    }
    if delivery.deliveries > state.args.settings.max_deliveries {
        let failure = TaskFailure::permanent(format!(
            "delivered {} times without finishing: a worker stopped each time it ran this task",
            delivery.deliveries
        ));
        return dead_letter_task(state, Some(delivery.id), task, failure, slot);
    }
    if task.is_expired(Utc::now()) {
        let failure = TaskFailure::permanent(format!(
            "expired at {} before it could run",
            task.expires_at().map(|t| t.to_rfc3339()).unwrap_or_default()
        ));
        return dead_letter_task(state, Some(delivery.id), task, failure, slot);
    }
    let Some(family) = state.args.families.get(task.task_type()).cloned() else {
        let failure = TaskFailure::permanent(format!("this worker runs no {} tasks", task.task_type().as_str()));
        return dead_letter_task(state, Some(delivery.id), task, failure, slot);
    };

    let span = task_span(&task, &delivery.id);
    if let Some(traceparent) = task.traceparent() {
        state.args.tracing.continue_trace(&span, traceparent);
    }
    let (done, awaited) = completion();
    // Handed over inside the task's span: the actors handle the task in it.
    let taken = span.in_scope(|| {
        tracing::info!("task received");
        family.take(&task, done)
    });
    let taken = match taken {
        Ok(taken) => Some(taken),
        Err(Refusal::NotNow) => None,
        Err(Refusal::Never(failure)) => return dead_letter_task(state, Some(delivery.id), task, failure, slot),
    };
    metrics::gauge!("intake_tasks_in_flight").increment(1.0);

    let id = delivery.id.clone();
    let me = myself.clone();
    if taken.is_some() {
        tokio::spawn(async move {
            let outcome = awaited.outcome().await;
            let _ = me.send_message(ConsumerMsg::Finished { id, outcome });
        });
    } else {
        let _ = me.send_message(ConsumerMsg::Finished {
            id,
            outcome: Outcome::Failed(TaskFailure::transient("the pipeline is restarting")),
        });
    }
    state.in_flight.insert(
        delivery.id,
        InFlight {
            task,
            taken: taken.unwrap_or_else(|| Taken::new(|_| {}, Vec::new())),
            payload: delivery.payload,
            started: Instant::now(),
            slot,
            span,
        },
    );
}
