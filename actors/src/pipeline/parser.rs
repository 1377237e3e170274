//! ParserActor: one per source type. Fetches a task's source, asks the writer whether the task
//! should run, then streams the source through its decoder and the column mapper, chunk by
//! chunk, to a validator — never faster than the writer stages them.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;

use super::completion::Completion;
use super::validator::ValidatorMsg;
use super::writer::{Begun, WriterMsg};
use crate::domain::{Field, TaskFailure, TaskMeta};
use crate::flow::CreditLine;
use crate::mapping::{Layout, MappingOptions, RowChunk, TableReader};
use crate::ports::{DecodeError, Decoder, ParseSummary, SourceFetcher};

/// How rows move between the actors of one task.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    /// Rows per chunk message.
    pub chunk_rows: usize,
    /// Chunks of one task between its parser and its writer at most.
    pub chunks_in_flight: usize,
    pub mapping: MappingOptions,
}

/// A task handed to a parser, with the actors it goes through after.
pub struct TaskJob {
    pub meta: TaskMeta,
    pub validator: ActorRef<ValidatorMsg>,
    pub writer: ActorRef<WriterMsg>,
    pub done: Completion,
}

pub enum ParserMsg {
    Parse(TaskJob),
}

#[derive(Clone)]
pub struct ParserActor;

#[derive(Clone)]
pub struct ParserArgs {
    pub decoder: Arc<dyn Decoder>,
    pub sources: Arc<dyn SourceFetcher>,
    pub flow: Arc<FlowSettings>,
}

impl Actor for ParserActor {
    type Msg = ParserMsg;
    type State = ParserArgs;
    type Arguments = ParserArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ParserArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ParserMsg::Parse(job) => parse(job, state).await,
        }
        Ok(())
    }
}

#[tracing::instrument(
    name = "parse",
    skip_all,
    fields(task_id = %job.meta.task_id, supplier = %job.meta.supplier_name, parser_type = %job.meta.parser_type, rows = tracing::field::Empty)
)]
async fn parse(job: TaskJob, state: &ParserArgs) {
    let TaskJob {
        meta,
        validator,
        writer,
        done,
    } = job;

    let fetching = Instant::now();
    let source = match state.sources.fetch(&meta).await {
        Ok(source) => source,
        Err(failure) => return done.fail(failure),
    };
    let fetch_ms = fetching.elapsed().as_millis() as u64;

    let begun = writer
        .call(
            |reply| WriterMsg::Begin {
                meta: Box::new(meta.clone()),
                fingerprint: source.fingerprint.clone(),
                reply,
            },
            None,
        )
        .await;
    let remembered = match begun {
        Ok(CallResult::Success(Ok(Begun::Proceed { remembered }))) => remembered,
        Ok(CallResult::Success(Ok(Begun::Finished(result)))) => return done.done(*result),
        Ok(CallResult::Success(Err(failure))) => return done.fail(failure),
        _ => return done.fail(TaskFailure::transient("the database writer stopped")),
    };

    // Decoding is CPU work on a blocking thread; chunks cross to this task through a channel
    // of one slot, and each needs a credit before it moves on.
    let (tx, mut rx) = mpsc::channel::<RowChunk>(1);
    let decoder = state.decoder.clone();
    let mut config = meta.source.clone();
    config.remembered_mapping = remembered;
    let flow = state.flow.clone();
    let decoding = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        // Time spent waiting for the rest of the pipeline, as opposed to reading.
        let mut blocked = Duration::ZERO;
        let mut reader = TableReader::new(&config, &flow.mapping, flow.chunk_rows, |chunk| {
            let waiting = Instant::now();
            let sent = tx.blocking_send(chunk);
            blocked += waiting.elapsed();
            match sent {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        });
        decoder.decode(&source, &config, &mut reader)?;
        let summary = reader.finish().map_err(DecodeError::Unusable)?;
        source.verify_unchanged()?;
        Ok::<_, DecodeError>((summary, started.elapsed(), blocked))
    });

    let credits = CreditLine::new(state.flow.chunks_in_flight);
    let task = meta.task_id;
    while let Some(chunk) = rx.recv().await {
        let credit = credits.acquire().await;
        let sent = validator.send_message(ValidatorMsg::Validate {
            task,
            chunk,
            writer: writer.clone(),
            credit,
        });
        if sent.is_err() {
            drop(rx);
            let _ = decoding.await;
            return abort(
                &writer,
                &meta,
                TaskFailure::transient("the validator stopped"),
                false,
                done,
            );
        }
    }

    match decoding.await {
        Ok(Ok((summary, elapsed, blocked))) => {
            tracing::Span::current().record("rows", summary.rows_seen);
            tracing::info!(
                task_id = %task,
                rows = summary.rows_seen,
                fetch_ms,
                read_ms = elapsed.saturating_sub(blocked).as_millis() as u64,
                read_blocked_ms = blocked.as_millis() as u64,
                "source read"
            );
            let summary = Box::new(ParseSummary {
                rows_seen: summary.rows_seen,
                mapping: header_mapping(&summary.layouts),
                notes: summary.notes,
                report: summary.report,
            });
            let finish = ValidatorMsg::Finish {
                task,
                summary,
                writer: writer.clone(),
                done,
            };
            if let Err(ractor::MessagingErr::SendErr(ValidatorMsg::Finish { done, .. })) =
                validator.send_message(finish)
            {
                abort(
                    &writer,
                    &meta,
                    TaskFailure::transient("the validator stopped"),
                    false,
                    done,
                );
            }
        }
        Ok(Err(error)) => {
            let unusable = matches!(error, DecodeError::Unusable(_));
            abort(&writer, &meta, error.into_failure(), unusable, done);
        }
        // A panic while reading one source is that source's fault (a decoder met bytes it did
        // not expect): the task fails for good with the panic's message, and this actor, its
        // other tasks and the restart budget are untouched.
        Err(join) => match join.try_into_panic() {
            Ok(panic) => {
                let failure = TaskFailure::permanent(format!(
                    "reading the source failed unexpectedly: {}",
                    panic_message(panic.as_ref())
                ));
                tracing::error!(task_id = %task, error = %failure.message, "a decoder panicked");
                abort(&writer, &meta, failure, true, done);
            }
            Err(_) => abort(
                &writer,
                &meta,
                TaskFailure::transient("decoding was cancelled"),
                false,
                done,
            ),
        },
    }
}

/// The header text of each field's column in the first table read with a header.
fn header_mapping(layouts: &[Arc<Layout>]) -> BTreeMap<Field, String> {
    let Some(layout) = layouts.iter().find(|l| l.header_rows.is_some()) else {
        return BTreeMap::new();
    };
    Field::ALL
        .into_iter()
        .filter_map(|field| {
            let header = &layout.columns[layout.column_of(field)?].header;
            (!header.is_empty()).then(|| (field, header.clone()))
        })
        .collect()
}

fn abort(
    writer: &ActorRef<WriterMsg>,
    meta: &TaskMeta,
    failure: TaskFailure,
    log_to_parsing_logs: bool,
    done: Completion,
) {
    let message = WriterMsg::Abort {
        task: meta.task_id,
        failure,
        log_to_parsing_logs,
        done: Some(done),
    };
    if let Err(ractor::MessagingErr::SendErr(WriterMsg::Abort {
        failure,
        done: Some(done),
        ..
    })) = writer.send_message(message)
    {
        done.fail(failure);
    }
}

/// The text a panic was raised with.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
