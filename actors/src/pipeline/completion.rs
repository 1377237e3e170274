//! How a task's end travels back to whoever started it.
//!
//! A [`Completion`] moves along the pipeline with the task: the parser holds it while it reads,
//! the writer while it commits. If the actor holding it dies, the completion is dropped and the
//! waiting side learns that the task crashed — no task can vanish without an outcome.

use tokio::sync::oneshot;

use crate::domain::{TaskFailure, TaskResult};

/// How one attempt of a task ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Completed, skipped as a duplicate, or found already applied.
    Done(TaskResult),
    Failed(TaskFailure),
    /// The actor holding the task stopped before it could say.
    Crashed,
}

/// The sending half: exactly one outcome, or a crash when dropped.
#[derive(Debug)]
pub struct Completion(oneshot::Sender<Outcome>);

/// The receiving half.
#[derive(Debug)]
pub struct Awaited(oneshot::Receiver<Outcome>);

pub fn completion() -> (Completion, Awaited) {
    let (tx, rx) = oneshot::channel();
    (Completion(tx), Awaited(rx))
}

impl Completion {
    pub fn done(self, result: TaskResult) {
        // The waiting side may be gone (its worker is shutting down); the outcome is on the
        // task record either way.
        let _ = self.0.send(Outcome::Done(result));
    }

    pub fn fail(self, failure: TaskFailure) {
        let _ = self.0.send(Outcome::Failed(failure));
    }
}

impl Awaited {
    pub async fn outcome(self) -> Outcome {
        self.0.await.unwrap_or(Outcome::Crashed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropped_completion_reads_as_a_crash() {
        let (done, awaited) = completion();
        drop(done);
        assert_eq!(awaited.outcome().await, Outcome::Crashed);
    }

    #[tokio::test]
    async fn failure_arrives() {
        let (done, awaited) = completion();
        done.fail(TaskFailure::permanent("nope"));
        assert_eq!(awaited.outcome().await, Outcome::Failed(TaskFailure::permanent("nope")));
    }
}
