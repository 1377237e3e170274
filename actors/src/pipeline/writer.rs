//! DbWriterActor: owns the staging of each task it was given. Records the start of an attempt,
//! stages validated rows as they arrive (releasing their credits), and on the task's last
//! message applies everything at once through the catalogue port.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::completion::Completion;
use crate::domain::{Field, Fingerprint, Item, Rejection, TaskFailure, TaskId, TaskMeta, TaskResult};
use crate::flow::Credit;
use crate::ports::{Catalog, ParseSummary, Staging, StartDecision};

/// The writer's answer to a task's first message.
#[derive(Debug)]
pub enum Begun {
    /// Stage its rows, reading the source with the supplier's remembered mapping.
    Proceed { remembered: BTreeMap<Field, String> },
    /// Nothing to do: already applied, or a duplicate source.
    Finished(Box<TaskResult>),
}

pub enum WriterMsg {
    Begin {
        // Boxed: a task's metadata dwarfs every other message.
        meta: Box<TaskMeta>,
        fingerprint: Fingerprint,
        reply: RpcReplyPort<Result<Begun, TaskFailure>>,
    },
    Stage {
        task: TaskId,
        items: Vec<Item>,
        rejections: Vec<Rejection>,
        credit: Credit,
        /// How long the validator took over these rows, for the task's profile.
        validated_in: Duration,
    },
    Commit {
        task: TaskId,
        summary: Box<ParseSummary>,
        done: Completion,
    },
    /// The task cannot succeed: its staged rows are dropped now and its commit fails with
    /// `failure`.
    Fail { task: TaskId, failure: TaskFailure },
    /// Drops the task's staged rows; `done` is failed with `failure` when given.
    Abort {
        task: TaskId,
        failure: TaskFailure,
        /// Logs the failure to parsing_logs (a list intake cannot use, say).
        log_to_parsing_logs: bool,
        done: Option<Completion>,
    },
}

#[derive(Clone, Copy, Default)]
pub struct DbWriterActor;

#[derive(Clone)]
pub struct WriterArgs {
    pub catalog: Arc<dyn Catalog>,
    /// Rows this writer stages per second at most, to spare a busy database; `None`: no limit.
    pub max_rows_per_second: Option<u32>,
}

pub struct WriterState {
    catalog: Arc<dyn Catalog>,
    sessions: HashMap<TaskId, Session>,
    max_rows_per_second: Option<u32>,
    /// When the throttle lets the next rows through.
    next_free: Instant,
}

struct Session {
    meta: TaskMeta,
    staging: Option<Box<dyn Staging>>,
    /// The first staging error; the task fails at commit.
    failure: Option<TaskFailure>,
    /// Where the task's time went, logged at commit.
    validating: Duration,
    throttled: Duration,
    staging_wait: Duration,
}

impl Actor for DbWriterActor {
    type Msg = WriterMsg;
    type State = WriterState;
    type Arguments = WriterArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: WriterArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(WriterState {
            catalog: args.catalog,
            sessions: HashMap::new(),
            max_rows_per_second: args.max_rows_per_second.filter(|&n| n > 0),
            next_free: Instant::now(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WriterMsg::Begin {
                meta,
                fingerprint,
                reply,
            } => {
                let answer = begin(state, *meta, &fingerprint).await;
                let _ = reply.send(answer);
            }
            WriterMsg::Stage {
                task,
                items,
                rejections,
                credit,
                validated_in,
            } => stage(state, task, items, rejections, credit, validated_in).await,
            WriterMsg::Commit { task, summary, done } => commit(state, task, summary, done).await,
            WriterMsg::Fail { task, failure } => {
                if let Some(session) = state.sessions.get_mut(&task) {
                    session.failure.get_or_insert(failure);
                    // Dropping the staging rolls its transaction back.
                    session.staging = None;
                }
            }
            WriterMsg::Abort {
                task,
                failure,
                log_to_parsing_logs,
                done,
            } => {
                if let Some(session) = state.sessions.remove(&task)
                    && log_to_parsing_logs
                    && let Err(e) = state.catalog.log_task_error(&session.meta, &failure.message).await
                {
                    tracing::warn!(task_id = %task, error = %e, "could not log the task error");
                }
                if let Some(done) = done {
                    done.fail(failure);
                }
            }
        }
        Ok(())
    }
}

#[tracing::instrument(name = "begin", skip_all, fields(task_id = %meta.task_id))]
async fn begin(state: &mut WriterState, meta: TaskMeta, fingerprint: &Fingerprint) -> Result<Begun, TaskFailure> {
    let remembered = match state.catalog.start_task(&meta, fingerprint).await? {
        StartDecision::Proceed { remembered } => remembered,
        StartDecision::AlreadyApplied(result) | StartDecision::Skipped(result) => {
            return Ok(Begun::Finished(Box::new(result)));
        }
    };
    let staging = state.catalog.open_staging(&meta).await?;
    state.sessions.insert(
        meta.task_id,
        Session {
            meta,
            staging: Some(staging),
            failure: None,
            validating: Duration::ZERO,
            throttled: Duration::ZERO,
            staging_wait: Duration::ZERO,
        },
    );
    Ok(Begun::Proceed { remembered })
}

#[tracing::instrument(name = "stage", skip_all, fields(task_id = %task, items = items.len(), rejected = rejections.len()))]
async fn stage(
    state: &mut WriterState,
    task: TaskId,
    items: Vec<Item>,
    rejections: Vec<Rejection>,
    credit: Credit,
    validated_in: Duration,
) {
    let Some(session) = state.sessions.get_mut(&task) else {
        // The task was aborted, or this writer restarted since it began: its commit fails.
        return;
    };
    session.validating += validated_in;
    let Some(staging) = session.staging.as_mut() else {
        return;
    };
    if let Some(rate) = state.max_rows_per_second {
        // Holding the rows (and their credit) here is what slows the parser down.
        let rows = (items.len() + rejections.len()) as f64;
        let now = Instant::now();
        let start = state.next_free.max(now);
        state.next_free = start + Duration::from_secs_f64(rows / f64::from(rate));
        tokio::time::sleep_until(start.into()).await;
        session.throttled += start.saturating_duration_since(now);
    }
    let waiting = Instant::now();
    let staged = staging.stage(items, rejections, credit).await;
    session.staging_wait += waiting.elapsed();
    metrics::histogram!("intake_db_batch_seconds", "step" => "stage").record(waiting.elapsed().as_secs_f64());
    if let Err(e) = staged {
        tracing::warn!(task_id = %task, error = %e, "staging failed");
        session.failure = Some(e.into());
        session.staging = None;
    }
}

#[tracing::instrument(name = "commit", skip_all, fields(task_id = %task))]
async fn commit(state: &mut WriterState, task: TaskId, summary: Box<ParseSummary>, done: Completion) {
    let Some(session) = state.sessions.remove(&task) else {
        return done.fail(TaskFailure::transient(
            "the task's staged rows were lost (the database writer restarted)",
        ));
    };
    tracing::info!(
        task_id = %task,
        validate_ms = session.validating.as_millis() as u64,
        throttled_ms = session.throttled.as_millis() as u64,
        stage_wait_ms = session.staging_wait.as_millis() as u64,
        "rows staged"
    );
    match (session.failure, session.staging) {
        (Some(failure), _) => done.fail(failure),
        (None, None) => done.fail(TaskFailure::transient("the task's staging was closed")),
        (None, Some(staging)) => {
            let committing = Instant::now();
            let committed = staging.commit(*summary).await;
            metrics::histogram!("intake_db_batch_seconds", "step" => "merge")
                .record(committing.elapsed().as_secs_f64());
            match committed {
                Ok(result) => done.done(result),
                Err(e) => {
                    tracing::warn!(task_id = %task, error = %e, "commit failed");
                    done.fail(e.into())
                }
            }
        }
    }
}
