//! QueueConsumer: takes tasks off the queue, at most `tasks_in_flight` at once, hands each to a
//! parser, and settles it when its outcome returns: acknowledge, retry later, or dead-letter.
//!
//! It also keeps its deliveries alive (so no other worker reclaims a long task), reclaims the
//! deliveries of dead workers, moves due retries back onto the queue, logs the queue figures,
//! and on shutdown stops taking tasks and hands back what it cannot finish in time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::backoff::Backoff;
use super::completion::{Outcome, completion};
use super::directory::Directory;
use super::dlq::DlqMsg;
use super::parser::{ParserMsg, TaskJob};
use super::writer::WriterMsg;
use crate::domain::{AttemptError, FailureClass, Origin, TaskFailure, TaskMessage, TaskMeta, TaskResult, TaskStatus};
use crate::ports::{Catalog, DeadLetter, Delivery, DeliveryId, TaskQueue, TaskTracing};

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub tasks_in_flight: usize,
    /// How long one fetch waits for a task.
    pub fetch_block: Duration,
    /// A delivery untouched for this long belongs to a dead or stuck worker and is reclaimed:
    /// the backstop for a worker that is alive but does not move.
    pub visibility_timeout: Duration,
    /// How often this worker says it is alive.
    pub heartbeat: Duration,
    /// A worker silent for this long is dead: its deliveries are claimed at once.
    pub heartbeat_ttl: Duration,
    /// How often due retries are moved back onto the queue.
    pub promote_every: Duration,
    /// Delay before retry n (the last one repeats).
    pub retry_delays: Vec<Duration>,
    /// A delivery handed out this many times without finishing is dead-lettered: it is
    /// probably what kills the workers.
    pub max_deliveries: u32,
    /// How often the queue figures are logged.
    pub stats_every: Duration,
}

pub enum ConsumerMsg {
    Delivered(Delivery, OwnedSemaphorePermit),
    Finished {
        id: DeliveryId,
        outcome: Outcome,
    },
    Tick(Tick),
    /// Stops taking tasks; replies once every task in hand is finished or handed back.
    Drain {
        grace: Duration,
        reply: RpcReplyPort<DrainReport>,
    },
    DrainDeadline,
}

#[derive(Debug, Clone, Copy)]
pub enum Tick {
    /// Refreshes this worker's heartbeat.
    Heartbeat,
    /// Resets the idle time of the deliveries in hand.
    Touch,
    Promote,
    Stats,
    /// Asks the catalogue store whether it is back, while intake is paused.
    ProbeStore,
}

/// Whether the fetch loop takes tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intake {
    Open,
    /// The catalogue store is down: no task could succeed, so none is taken.
    Paused,
    Closed,
}

/// What a drain did with the tasks in hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub finished: usize,
    pub handed_back: usize,
}

#[derive(Clone)]
pub struct QueueConsumer;

#[derive(Clone)]
pub struct ConsumerArgs {
    pub queue: Arc<dyn TaskQueue>,
    pub catalog: Arc<dyn Catalog>,
    pub directory: Directory,
    pub settings: Arc<ConsumerSettings>,
    pub tracing: Arc<dyn TaskTracing>,
}

struct InFlight {
    message: TaskMessage,
    meta: TaskMeta,
    payload: String,
    started: Instant,
    parser: usize,
    writer: usize,
    slot: OwnedSemaphorePermit,
    /// The task's root span; every actor's work on it happens inside.
    span: tracing::Span,
}

/// The span a task runs in; its outcome fields are filled when it ends.
fn task_span(meta: &TaskMeta, delivery: &DeliveryId) -> tracing::Span {
    tracing::info_span!(
        "task",
        task_id = %meta.task_id,
        supplier = %meta.supplier_name,
        parser_type = %meta.parser_type,
        attempt = meta.attempt,
        delivery = %delivery,
        outcome = tracing::field::Empty,
        rows_seen = tracing::field::Empty,
        rows_stored = tracing::field::Empty,
        rows_rejected = tracing::field::Empty,
        error = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_message = tracing::field::Empty,
    )
}

pub struct ConsumerState {
    args: ConsumerArgs,
    in_flight: HashMap<DeliveryId, InFlight>,
    intake: watch::Sender<Intake>,
    /// The loop taking tasks off the queue; awaited on drain so no delivery is left behind.
    fetcher: Option<JoinHandle<()>>,
    /// Probes of the store while intake is paused.
    store: Backoff,
    probe_store_at: Option<Instant>,
    background: Vec<JoinHandle<()>>,
    drain: DrainState,
    next_validator: usize,
    /// Failures of the periodic Redis calls, to space them out while Redis is down.
    redis: Backoff,
    retry_ticks_at: Option<Instant>,
}

enum DrainState {
    Serving,
    Draining {
        reply: RpcReplyPort<DrainReport>,
        report: DrainReport,
    },
    /// Drained and replied; new deliveries are handed back until the consumer stops.
    Drained,
}

impl Actor for QueueConsumer {
    type Msg = ConsumerMsg;
    type State = ConsumerState;
    type Arguments = ConsumerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ConsumerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let settings = args.settings.clone();
        let slots = Arc::new(Semaphore::new(settings.tasks_in_flight.max(1)));
        let (intake, intake_rx) = watch::channel(Intake::Open);
        let fetcher = tokio::spawn(fetch_loop(
            args.queue.clone(),
            myself.clone(),
            slots.clone(),
            settings.clone(),
            intake_rx,
        ));
        let mut background = Vec::new();
        let cell = myself.get_cell();
        let every = |period: Duration, tick: Tick| {
            ractor::time::send_interval(period.max(Duration::from_millis(10)), cell.clone(), move || {
                ConsumerMsg::Tick(tick)
            })
        };
        // Alive before the first task is taken, so no other worker claims it as an orphan.
        if let Err(e) = args.queue.heartbeat(settings.heartbeat_ttl).await {
            tracing::warn!(error = %e, "the first heartbeat failed; retrying");
        }
        background.push(every(settings.heartbeat, Tick::Heartbeat));
        background.push(every(settings.visibility_timeout / 3, Tick::Touch));
        background.push(every(settings.promote_every, Tick::Promote));
        background.push(every(settings.stats_every, Tick::Stats));
        background.push(every(Duration::from_millis(250), Tick::ProbeStore));
        Ok(ConsumerState {
            args,
            in_flight: HashMap::new(),
            intake,
            fetcher: Some(fetcher),
            store: Backoff::new("database", Duration::from_millis(500), Duration::from_secs(30)),
            probe_store_at: None,
            background,
            drain: DrainState::Serving,
            next_validator: 0,
            redis: Backoff::new("redis", Duration::from_millis(250), Duration::from_secs(30)),
            retry_ticks_at: None,
        })
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        let _ = state.intake.send(Intake::Closed);
        if let Some(fetcher) = state.fetcher.take() {
            fetcher.abort();
        }
        for task in &state.background {
            task.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ConsumerMsg::Delivered(delivery, slot) => on_delivery(&myself, state, delivery, slot).await,
            ConsumerMsg::Finished { id, outcome } => on_finished(state, id, outcome).await,
            ConsumerMsg::Tick(tick) => on_tick(state, tick).await,
            ConsumerMsg::Drain { grace, reply } => {
                let _ = state.intake.send(Intake::Closed);
                // Its last fetch may still return tasks; it hands those back itself.
                if let Some(fetcher) = state.fetcher.take() {
                    let patience = state.args.settings.fetch_block + Duration::from_secs(10);
                    if tokio::time::timeout(patience, fetcher).await.is_err() {
                        tracing::warn!("the queue reader did not stop in time");
                    }
                }
                state.drain = DrainState::Draining {
                    reply,
                    report: DrainReport::default(),
                };
                if state.in_flight.is_empty() {
                    finish_drain(state);
                } else {
                    tracing::info!(
                        in_flight = state.in_flight.len(),
                        grace_ms = grace.as_millis() as u64,
                        "draining"
                    );
                    myself.send_after(grace, || ConsumerMsg::DrainDeadline);
                }
            }
            ConsumerMsg::DrainDeadline => {
                if matches!(state.drain, DrainState::Draining { .. }) {
                    hand_back_all(state).await;
                    finish_drain(state);
                }
            }
        }
        Ok(())
    }
}

/// Takes tasks while there are free slots and intake is open — first those abandoned by dead
/// workers, then new ones; each delivery carries its slot to the consumer.
async fn fetch_loop(
    queue: Arc<dyn TaskQueue>,
    consumer: ActorRef<ConsumerMsg>,
    slots: Arc<Semaphore>,
    settings: Arc<ConsumerSettings>,
    mut intake: watch::Receiver<Intake>,
) {
    let mut backoff = Backoff::new("redis", Duration::from_millis(250), Duration::from_secs(30));
    let reclaim_every = settings.visibility_timeout / 2;
    let mut next_reclaim = Instant::now();
    let mut next_orphan_check = Instant::now();
    loop {
        match intake.wait_for(|i| *i != Intake::Paused).await.map(|i| *i) {
            Ok(Intake::Open) => {}
            _ => return,
        }
        let first = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot { Ok(s) => s, Err(_) => return },
            _ = intake.changed() => continue,
        };
        if *intake.borrow() != Intake::Open {
            continue;
        }
        let mut batch = vec![first];
        while let Ok(slot) = slots.clone().try_acquire_owned() {
            batch.push(slot);
        }
        let mut fetched = Ok(Vec::new());
        // A dead worker's deliveries are taken as soon as its heartbeat lapses.
        if Instant::now() >= next_orphan_check {
            next_orphan_check = Instant::now() + settings.heartbeat;
            fetched = queue.claim_orphans(settings.heartbeat, batch.len()).await;
            for d in fetched.iter().flatten() {
                tracing::warn!(delivery = %d.id, deliveries = d.deliveries, "took over a task of a worker whose heartbeat stopped");
            }
        }
        if matches!(&fetched, Ok(d) if d.is_empty()) && Instant::now() >= next_reclaim {
            next_reclaim = Instant::now() + reclaim_every;
            fetched = queue.reclaim(settings.visibility_timeout, batch.len()).await;
            for d in fetched.iter().flatten() {
                tracing::warn!(delivery = %d.id, deliveries = d.deliveries, "reclaimed a task abandoned by a worker that stopped");
            }
        }
        // Not cancelled by a stop: a fetch cut short could lose what Redis already handed out.
        if matches!(&fetched, Ok(d) if d.is_empty()) {
            fetched = queue.fetch(batch.len(), settings.fetch_block).await;
        }
        match fetched {
            Ok(deliveries) => {
                backoff.succeeded();
                // Intake closed (a drain) or paused (the store went down) while this read was
                // under way: what it brought goes back rather than start now.
                let refused = *intake.borrow() != Intake::Open;
                for delivery in deliveries {
                    if refused {
                        if let Err(e) = queue.hand_back(&delivery.id, &delivery.payload).await {
                            tracing::warn!(delivery = %delivery.id, error = %e, "could not hand back a delivery; it will be reclaimed");
                        }
                        continue;
                    }
                    let Some(slot) = batch.pop() else { break };
                    if consumer.send_message(ConsumerMsg::Delivered(delivery, slot)).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                drop(batch);
                let wait = backoff.failed(&e);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = intake.changed() => {}
                }
            }
        }
    }
}

async fn on_delivery(
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

fn least_loaded(count: usize, busy: impl Iterator<Item = usize>) -> usize {
    let mut load = vec![0usize; count.max(1)];
    for i in busy {
        if let Some(l) = load.get_mut(i) {
            *l += 1;
        }
    }
    load.iter().enumerate().min_by_key(|(_, l)| **l).map_or(0, |(i, _)| i)
}

async fn on_finished(state: &mut ConsumerState, id: DeliveryId, outcome: Outcome) {
    let Some(task) = state.in_flight.remove(&id) else {
        return;
    };
    metrics::gauge!("intake_tasks_in_flight").decrement(1.0);
    let elapsed = task.started.elapsed();
    metrics::histogram!("intake_task_duration_seconds").record(elapsed.as_secs_f64());
    let span = task.span.clone();
    // Instrumented, not entered: an entered span held across an await would lend this task's
    // fields to whatever else runs on the thread meanwhile.
    settle(state, id, task, outcome, elapsed).instrument(span).await;
    if let DrainState::Draining { report, .. } = &mut state.drain {
        report.finished += 1;
        if state.in_flight.is_empty() {
            finish_drain(state);
        }
    }
}

/// Acknowledges, retries or dead-letters a task whose outcome came back.
async fn settle(state: &mut ConsumerState, id: DeliveryId, task: InFlight, outcome: Outcome, elapsed: Duration) {
    let span = task.span.clone();
    match outcome {
        Outcome::Done(mut result) => {
            result.duration_ms = elapsed.as_millis() as u64;
            span.record("outcome", result.status.as_str());
            span.record("rows_seen", result.counts.rows_seen);
            span.record("rows_stored", result.counts.rows_stored);
            span.record("rows_rejected", result.counts.rows_rejected);
            metrics::counter!("intake_tasks_total", "outcome" => result.status.as_str()).increment(1);
            metrics::counter!("intake_rows_stored_total").increment(result.counts.rows_stored);
            metrics::counter!("intake_rows_rejected_total").increment(result.counts.rows_rejected);
            tracing::info!(
                task_id = %result.task_id,
                supplier = %result.supplier_name,
                status = %result.status,
                rows_seen = result.counts.rows_seen,
                rows_stored = result.counts.rows_stored,
                rows_rejected = result.counts.rows_rejected,
                duration_ms = result.duration_ms,
                "task finished"
            );
            if let Err(e) = state.args.queue.complete(&id, &result).await {
                // Committed but not acknowledged: the redelivery finds it applied and acks it.
                tracing::warn!(task_id = %result.task_id, error = %e, "could not acknowledge a finished task");
            }
            drop(task.slot);
        }
        Outcome::Failed(failure) => {
            if failure.store_down {
                pause(state, &failure.message);
            }
            settle_failure(state, id, task, failure).await
        }
        Outcome::Crashed => {
            if let Some(writer) = state.args.directory.writer(task.writer) {
                let _ = writer.send_message(WriterMsg::Abort {
                    task: task.meta.task_id,
                    failure: TaskFailure::transient("aborted"),
                    log_to_parsing_logs: false,
                    done: None,
                });
            }
            let failure = TaskFailure::transient("an actor stopped while it held the task");
            settle_failure(state, id, task, failure).await;
        }
    }
}

/// Retries a transient failure while the budget lasts; dead-letters everything else.
async fn settle_failure(state: &mut ConsumerState, id: DeliveryId, task: InFlight, failure: TaskFailure) {
    let InFlight {
        mut message,
        meta,
        slot,
        span,
        ..
    } = task;
    span.record("error", failure.message.as_str());
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_message", failure.message.as_str());
    // A retry continues this trace, whether or not the producer started one.
    if message.traceparent.is_none() {
        message.traceparent = state.args.tracing.traceparent(&span);
    }
    let error = AttemptError {
        at: Utc::now(),
        attempt: message.attempt(),
        class: failure.class,
        message: failure.message.clone(),
    };
    message.errors.push(error.clone());
    let retry = failure.class == FailureClass::Transient && message.retry_count < message.max_retries;
    if !retry {
        span.record("outcome", "dead_lettered");
        metrics::counter!("intake_tasks_total", "outcome" => "dead_lettered").increment(1);
        return dead_letter_task(state, Some(id), message, meta, failure, slot);
    }
    span.record("outcome", "retry_scheduled");
    metrics::counter!("intake_tasks_total", "outcome" => "retry_scheduled").increment(1);

    let delays = &state.args.settings.retry_delays;
    let delay = delays
        .get(message.retry_count as usize)
        .or(delays.last())
        .copied()
        .unwrap_or(Duration::from_secs(1));
    message.retry_count += 1;
    let due = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
    tracing::warn!(
        task_id = %meta.task_id,
        attempt = error.attempt,
        retry_in_ms = delay.as_millis() as u64,
        error = %failure.message,
        "task failed; retry scheduled"
    );
    if let Err(e) = state
        .args
        .catalog
        .record_failure(&meta, TaskStatus::RetryScheduled, &message.errors)
        .await
    {
        tracing::warn!(task_id = %meta.task_id, error = %e, "could not record the failed attempt");
    }
    if let Err(e) = state.args.queue.retry_later(&id, &message, due).await {
        tracing::error!(task_id = %meta.task_id, error = %e, "could not schedule the retry; the delivery will be reclaimed");
    }
    drop(slot);
}

fn dead_letter_task(
    state: &ConsumerState,
    delivery: Option<DeliveryId>,
    mut message: TaskMessage,
    meta: TaskMeta,
    failure: TaskFailure,
    slot: OwnedSemaphorePermit,
) {
    if message
        .errors
        .last()
        .is_none_or(|e| e.message != failure.message || e.attempt != message.attempt())
    {
        message.errors.push(AttemptError {
            at: Utc::now(),
            attempt: message.attempt(),
            class: failure.class,
            message: failure.message.clone(),
        });
    }
    let payload = serde_json::to_string(&message).unwrap_or_default();
    let result = TaskResult {
        task_id: meta.task_id,
        supplier_name: meta.supplier_name.to_string(),
        parser_type: meta.parser_type.to_string(),
        status: TaskStatus::DeadLettered,
        counts: Default::default(),
        attempt: message.attempt(),
        duration_ms: 0,
        notes: Vec::new(),
        error: Some(failure.message.clone()),
    };
    let letter = DeadLetter {
        id: meta.task_id.to_string(),
        reason: failure.message,
        class: failure.class,
        dead_lettered_at: Utc::now(),
        payload,
        errors: message.errors,
    };
    send_to_dlq(state, delivery, letter, Some(meta), Some(result), slot);
}

fn dead_letter_raw(state: &ConsumerState, delivery: Delivery, id: String, reason: String, slot: OwnedSemaphorePermit) {
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

fn send_to_dlq(
    state: &ConsumerState,
    delivery: Option<DeliveryId>,
    letter: DeadLetter,
    task: Option<TaskMeta>,
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
fn task_id_of(payload: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    let id = value.get("task_id")?.as_str()?;
    uuid::Uuid::parse_str(id).ok().map(|u| u.to_string())
}

/// Stops taking tasks until the store answers again.
fn pause(state: &mut ConsumerState, why: &str) {
    if *state.intake.borrow() != Intake::Open {
        return;
    }
    let _ = state.intake.send(Intake::Paused);
    state.probe_store_at = Some(Instant::now() + state.store.failed(&why));
    tracing::warn!("taking no tasks until the database answers again");
}

async fn probe_store(state: &mut ConsumerState) {
    if *state.intake.borrow() != Intake::Paused || state.probe_store_at.is_some_and(|at| Instant::now() < at) {
        return;
    }
    match state.args.catalog.ping().await {
        Ok(()) => {
            state.store.succeeded();
            state.probe_store_at = None;
            let _ = state.intake.send(Intake::Open);
            tracing::info!("taking tasks again");
        }
        Err(e) => state.probe_store_at = Some(Instant::now() + state.store.failed(&e)),
    }
}

async fn on_tick(state: &mut ConsumerState, tick: Tick) {
    if !matches!(state.drain, DrainState::Serving) && !matches!(tick, Tick::Heartbeat | Tick::Touch) {
        return;
    }
    if matches!(tick, Tick::ProbeStore) {
        return probe_store(state).await;
    }
    // While paused, retries wait too: they would fail the same way.
    let paused = *state.intake.borrow() == Intake::Paused;
    if paused && matches!(tick, Tick::Promote) {
        return;
    }
    // While Redis is down every tick would fail: try once per backoff step instead.
    if state.retry_ticks_at.is_some_and(|at| Instant::now() < at) {
        return;
    }
    let queue = state.args.queue.clone();
    let result = match tick {
        Tick::Heartbeat => queue.heartbeat(state.args.settings.heartbeat_ttl).await,
        Tick::Touch => {
            if state.in_flight.is_empty() {
                return;
            }
            let ids: Vec<DeliveryId> = state.in_flight.keys().cloned().collect();
            queue.touch(&ids).await
        }
        Tick::Promote => queue.promote_due(Utc::now()).await.map(|_| ()),
        Tick::ProbeStore => Ok(()),
        Tick::Stats => match queue.stats().await {
            Ok(stats) => {
                metrics::gauge!("intake_queue_waiting").set(stats.waiting as f64);
                metrics::gauge!("intake_queue_pending").set(stats.pending as f64);
                metrics::gauge!("intake_queue_oldest_pending_seconds")
                    .set(stats.oldest_pending_idle_ms.unwrap_or(0) as f64 / 1000.0);
                metrics::gauge!("intake_queue_scheduled_retries").set(stats.scheduled_retries as f64);
                metrics::gauge!("intake_queue_dead_letters").set(stats.dead_letters as f64);
                tracing::info!(
                    waiting = stats.waiting,
                    pending = stats.pending,
                    oldest_pending_idle_ms = stats.oldest_pending_idle_ms,
                    scheduled_retries = stats.scheduled_retries,
                    dead_letters = stats.dead_letters,
                    in_flight_here = state.in_flight.len(),
                    "queue"
                );
                Ok(())
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => {
            state.redis.succeeded();
            state.retry_ticks_at = None;
        }
        Err(e) => state.retry_ticks_at = Some(Instant::now() + state.redis.failed(&e)),
    }
}

async fn hand_back_all(state: &mut ConsumerState) {
    let tasks: Vec<(DeliveryId, InFlight)> = state.in_flight.drain().collect();
    for (id, task) in tasks {
        if let Some(writer) = state.args.directory.writer(task.writer) {
            let _ = writer.send_message(WriterMsg::Abort {
                task: task.meta.task_id,
                failure: TaskFailure::transient("handed back at shutdown"),
                log_to_parsing_logs: false,
                done: None,
            });
        }
        match state.args.queue.hand_back(&id, &task.payload).await {
            Ok(()) => {
                tracing::info!(task_id = %task.meta.task_id, "handed back at shutdown");
                if let DrainState::Draining { report, .. } = &mut state.drain {
                    report.handed_back += 1;
                }
            }
            Err(e) => {
                tracing::warn!(task_id = %task.meta.task_id, error = %e, "could not hand back; it will be reclaimed")
            }
        }
    }
}

fn finish_drain(state: &mut ConsumerState) {
    if let DrainState::Draining { reply, report } = std::mem::replace(&mut state.drain, DrainState::Drained) {
        let _ = reply.send(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_loaded_prefers_idle_actors() {
        assert_eq!(least_loaded(3, [0, 0, 1].into_iter()), 2);
        assert_eq!(least_loaded(2, std::iter::empty()), 0);
        assert_eq!(least_loaded(1, [0, 0].into_iter()), 0);
    }

    #[test]
    fn task_id_is_read_from_a_broken_message_when_possible() {
        let id = "0192f0c1-5a5e-7c3e-8f00-000000000001";
        assert_eq!(
            task_id_of(&format!(r#"{{"task_id":"{id}","parser_type":7}}"#)).as_deref(),
            Some(id)
        );
        assert_eq!(task_id_of("not json"), None);
        assert_eq!(task_id_of(r#"{"task_id":"../../etc"}"#), None);
    }
}
