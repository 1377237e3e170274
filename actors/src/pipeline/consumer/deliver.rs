//! A delivery arrives: its message is read and checked, and the task is handed to a parser with
//! the validator and writer it will go through, inside its own span.

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
        serde_json::from_str::<TaskMessage>(&delivery.payload).map_err(|e| format!("malformed task message: {e}"))
    };
    let message = match parsed {
        Ok(message) => message,
        Err(reason) => {
            let id = task_id_of(&delivery.payload).unwrap_or_else(|| format!("entry-{}", delivery.id));
            return dead_letter_raw(state, delivery, id, reason, slot);
        }
    };
    let meta = TaskMeta::from_message(message.clone(), Origin::Queue);
    // A message that reads but breaks a rule has an id and a supplier: it gets a task record.
    if let Err(reason) = message.validate() {
        let failure = TaskFailure::permanent(format!("invalid task message: {reason}"));
        return dead_letter_task(state, Some(delivery.id), message, meta, failure, slot);
    }

    if delivery.deliveries > state.args.settings.max_deliveries {
        let failure = TaskFailure::permanent(format!(
            "delivered {} times without finishing: a worker stopped each time it ran this task",
            delivery.deliveries
        ));
        return dead_letter_task(state, Some(delivery.id), message, meta, failure, slot);
    }
    if message.is_expired(Utc::now()) {
        let failure = TaskFailure::permanent(format!(
            "expired at {} before it could run",
            message.expires_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        ));
        return dead_letter_task(state, Some(delivery.id), message, meta, failure, slot);
    }

    let directory = &state.args.directory;
    let parsers = directory.parser_count(&message.parser_type);
    if parsers == 0 {
        let known: Vec<String> = directory.parser_types().map(|(t, _)| t.to_string()).collect();
        let failure = TaskFailure::permanent(format!(
            "unknown parser type {:?} (this worker has: {})",
            message.parser_type.as_str(),
            known.join(", ")
        ));
        return dead_letter_task(state, Some(delivery.id), message, meta, failure, slot);
    }
    let parser = least_loaded(
        parsers,
        state
            .in_flight
            .values()
            .filter(|f| f.meta.parser_type == meta.parser_type)
            .map(|f| f.parser),
    );
    let writer = least_loaded(directory.writers(), state.in_flight.values().map(|f| f.writer));
    let validator_index = state.next_validator % directory.validators();
    state.next_validator = state.next_validator.wrapping_add(1);

    let refs = (
        directory.parser(&message.parser_type, parser),
        directory.validator(validator_index),
        directory.writer(writer),
    );
    let span = task_span(&meta, &delivery.id);
    if let Some(traceparent) = &message.traceparent {
        state.args.tracing.continue_trace(&span, traceparent);
    }
    let (done, awaited) = completion();
    // Sent inside the task's span: the actors handle the task in it.
    let dispatched = span.in_scope(|| {
        tracing::info!("task received");
        match refs {
            (Some(p), Some(validator), Some(writer)) => p
                .send_message(ParserMsg::Parse(TaskJob {
                    meta: meta.clone(),
                    validator,
                    writer,
                    done,
                }))
                .is_ok(),
            _ => false,
        }
    });
    metrics::gauge!("intake_tasks_in_flight").increment(1.0);

    let id = delivery.id.clone();
    let me = myself.clone();
    if dispatched {
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
            message,
            meta,
            payload: delivery.payload,
            started: Instant::now(),
            parser,
            writer,
            slot,
            span,
        },
    );
}

pub(super) fn least_loaded(count: usize, busy: impl Iterator<Item = usize>) -> usize {
    let mut load = vec![0usize; count.max(1)];
    for i in busy {
        if let Some(l) = load.get_mut(i) {
            *l += 1;
        }
    }
    load.iter().enumerate().min_by_key(|(_, l)| **l).map_or(0, |(i, _)| i)
}
