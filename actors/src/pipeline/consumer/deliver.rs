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
    let route = match route(state, &task) {
        Ok(route) => route,
        Err(failure) => return dead_letter_task(state, Some(delivery.id), task, failure, slot),
    };

    let span = task_span(&task, &delivery.id);
    if let Some(traceparent) = task.traceparent() {
        state.args.tracing.continue_trace(&span, traceparent);
    }
    let (done, awaited) = completion();
    // Sent inside the task's span: the actors handle the task in it.
    let dispatched = span.in_scope(|| {
        tracing::info!("task received");
        dispatch(&state.args.directory, &task, &route, done)
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
            task,
            route,
            payload: delivery.payload,
            started: Instant::now(),
            slot,
            span,
        },
    );
}

/// Picks the least busy actors of the task's family, or says why none can take it.
fn route(state: &mut ConsumerState, task: &QueuedTask) -> Result<Route, TaskFailure> {
    let directory = &state.args.directory;
    match task {
        QueuedTask::PriceList(message) => {
            let parsers = directory.parser_count(&message.parser_type);
            if parsers == 0 {
                let known: Vec<String> = directory.parser_types().map(|(t, _)| t.to_string()).collect();
                return Err(TaskFailure::permanent(format!(
                    "unknown parser type {:?} (this worker has: {})",
                    message.parser_type.as_str(),
                    known.join(", ")
                )));
            }
            let busy_parsers = state.in_flight.values().filter_map(|f| match &f.route {
                Route::PriceList { meta, parser, .. } if meta.parser_type == message.parser_type => Some(*parser),
                _ => None,
            });
            let parser = least_loaded(parsers, busy_parsers);
            let busy_writers = state.in_flight.values().filter_map(|f| match &f.route {
                Route::PriceList { writer, .. } => Some(*writer),
                Route::Metadata { .. } => None,
            });
            let writer = least_loaded(directory.writers(), busy_writers);
            let validator = state.next_validator % directory.validators();
            state.next_validator = state.next_validator.wrapping_add(1);
            Ok(Route::PriceList {
                meta: Box::new(TaskMeta::from_message(message.clone(), Origin::Queue)),
                parser,
                validator,
                writer,
            })
        }
        QueuedTask::Metadata(_) => {
            let actors = directory.metadata_actors();
            if actors == 0 {
                return Err(TaskFailure::permanent(
                    "this worker runs no metadata tasks (it has no metadata store)",
                ));
            }
            let busy = state.in_flight.values().filter_map(|f| match &f.route {
                Route::Metadata { actor } => Some(*actor),
                Route::PriceList { .. } => None,
            });
            Ok(Route::Metadata {
                actor: least_loaded(actors, busy),
            })
        }
    }
}

/// Hands the task to the first actor of its route; false when that actor is not running.
fn dispatch(directory: &Directory, task: &QueuedTask, route: &Route, done: Completion) -> bool {
    match (task, route) {
        (
            QueuedTask::PriceList(_),
            Route::PriceList {
                meta,
                parser,
                validator,
                writer,
            },
        ) => {
            match (
                directory.parser(&meta.parser_type, *parser),
                directory.validator(*validator),
                directory.writer(*writer),
            ) {
                (Some(p), Some(validator), Some(writer)) => p
                    .send_message(ParserMsg::Parse(TaskJob {
                        meta: (**meta).clone(),
                        validator,
                        writer,
                        done,
                    }))
                    .is_ok(),
                _ => false,
            }
        }
        (QueuedTask::Metadata(task), Route::Metadata { actor }) => directory.metadata(*actor).is_some_and(|a| {
            a.send_message(MetadataMsg::Ingest(MetadataJob {
                task: task.clone(),
                done,
            }))
            .is_ok()
        }),
        _ => false,
    }
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
