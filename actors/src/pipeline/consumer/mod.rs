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

mod deliver;
mod fetch;
mod settle;
mod ticks;

use deliver::on_delivery;
use fetch::fetch_loop;
use settle::settle_failure;
#[cfg(test)]
use settle::task_id_of;
use ticks::{heartbeat, on_tick, pause};

use super::backoff::Backoff;
use super::completion::{Outcome, completion};
use super::directory::Directory;
use super::family::{Families, Refusal, Taken};
use crate::domain::{TaskFailure, TaskResult};
use crate::envelope::QueuedTask;
use crate::ports::{Catalog, Delivery, DeliveryId, TaskQueue, TaskTracing};

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
    /// The record families, by task type: where tasks go and where failures are recorded.
    pub families: Families,
}

struct InFlight {
    task: QueuedTask,
    /// The task in its family's hands.
    taken: Taken,
    payload: String,
    started: Instant,
    slot: OwnedSemaphorePermit,
    /// The task's root span; every actor's work on it happens inside.
    span: tracing::Span,
}

/// The span a task runs in; its outcome fields are filled when it ends.
fn task_span(task: &QueuedTask, delivery: &DeliveryId) -> tracing::Span {
    let (supplier, parser_type) = task.labels();
    tracing::info_span!(
        "task",
        task_id = %task.task_id(),
        task_type = task.task_type().as_str(),
        supplier = %supplier,
        parser_type = %parser_type,
        attempt = task.attempt(),
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
        // The heartbeat says the process lives, so it beats on its own task: an actor busy
        // with a slow database call must not look dead and lose its tasks to another worker.
        background.push(tokio::spawn(heartbeat(
            args.queue.clone(),
            settings.heartbeat,
            settings.heartbeat_ttl,
        )));
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
            log_finished(&result);
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
            task.taken.abort("aborted");
            let failure = TaskFailure::transient("an actor stopped while it held the task");
            settle_failure(state, id, task, failure).await;
        }
    }
}

async fn hand_back_all(state: &mut ConsumerState) {
    let tasks: Vec<(DeliveryId, InFlight)> = state.in_flight.drain().collect();
    for (id, task) in tasks {
        task.taken.abort("handed back at shutdown");
        let task_id = task.task.task_id();
        match state.args.queue.hand_back(&id, &task.payload).await {
            Ok(()) => {
                tracing::info!(%task_id, "handed back at shutdown");
                if let DrainState::Draining { report, .. } = &mut state.drain {
                    report.handed_back += 1;
                }
            }
            Err(e) => {
                tracing::warn!(%task_id, error = %e, "could not hand back; it will be reclaimed")
            }
        }
    }
}

fn log_finished(result: &TaskResult) {
    match &result.metadata {
        Some(run) => tracing::info!(
            task_id = %result.task_id,
            kind = run.kind.as_str(),
            source = %run.source,
            status = %result.status,
            files_seen = run.figures.files_seen,
            files_rejected = run.figures.files_rejected,
            records_seen = run.figures.records_seen,
            records_changed = run.figures.changes.inserted + run.figures.changes.updated + run.figures.changes.deleted,
            duration_ms = result.duration_ms,
            "task finished"
        ),
        None => tracing::info!(
            task_id = %result.task_id,
            supplier = %result.supplier_name,
            status = %result.status,
            rows_seen = result.counts.rows_seen,
            rows_stored = result.counts.rows_stored,
            rows_rejected = result.counts.rows_rejected,
            duration_ms = result.duration_ms,
            "task finished"
        ),
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
