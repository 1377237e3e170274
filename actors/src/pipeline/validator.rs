//! ValidatorActor: turns each chunk of data rows into items and rejections and passes them to
//! the task's writer. Stateless, so any number of them can share the load.

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::completion::Completion;
use super::parser::panic_message;
use super::writer::WriterMsg;
use crate::domain::{Item, Rejection, TaskFailure, TaskId};
use crate::flow::Credit;
use crate::mapping::RowChunk;
use crate::ports::ParseSummary;

pub enum ValidatorMsg {
    Validate {
        task: TaskId,
        chunk: RowChunk,
        writer: ActorRef<WriterMsg>,
        credit: Credit,
    },
    /// Follows the task's last chunk through the same mailbox, so it arrives after them.
    Finish {
        task: TaskId,
        summary: Box<ParseSummary>,
        writer: ActorRef<WriterMsg>,
        done: Completion,
    },
}

#[derive(Clone, Copy, Default)]
pub struct ValidatorActor;

impl Actor for ValidatorActor {
    type Msg = ValidatorMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ValidatorMsg::Validate {
                task,
                chunk,
                writer,
                credit,
            } => {
                let started = std::time::Instant::now();
                let span = tracing::info_span!("validate", task_id = %task, rows = chunk.rows.len(), rejected = tracing::field::Empty);
                // Rows are outside data: a panic on one of them fails this task, not the actor
                // that serves every task.
                let validated =
                    span.in_scope(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| validate(&chunk))));
                drop(chunk);
                let message = match validated {
                    Ok((items, rejections)) => {
                        span.record("rejected", rejections.len());
                        WriterMsg::Stage {
                            task,
                            items,
                            rejections,
                            credit,
                            validated_in: started.elapsed(),
                        }
                    }
                    Err(panic) => {
                        let failure = TaskFailure::permanent(format!(
                            "validating the rows failed unexpectedly: {}",
                            panic_message(panic.as_ref())
                        ));
                        span.in_scope(
                            || tracing::error!(task_id = %task, error = %failure.message, "validation panicked"),
                        );
                        WriterMsg::Fail { task, failure }
                    }
                };
                // Sent inside the span, so the staging is traced under it. A stopped writer
                // fails the task when its Finish cannot be delivered either.
                let _ = span.in_scope(|| writer.send_message(message));
            }
            ValidatorMsg::Finish {
                task,
                summary,
                writer,
                done,
            } => {
                if let Err(ractor::MessagingErr::SendErr(WriterMsg::Commit { done, .. })) =
                    writer.send_message(WriterMsg::Commit { task, summary, done })
                {
                    done.fail(TaskFailure::transient("the database writer stopped"));
                }
            }
        }
        Ok(())
    }
}

/// Splits a chunk into valid items and rejected rows, keeping row order.
pub fn validate(chunk: &RowChunk) -> (Vec<Item>, Vec<Rejection>) {
    let mut items = Vec::with_capacity(chunk.rows.len());
    let mut rejections = Vec::new();
    for row in &chunk.rows {
        match chunk.layout.to_item(row) {
            Ok(item) => items.push(item),
            Err(rejection) => rejections.push(rejection),
        }
    }
    (items, rejections)
}
