//! How the runtime hands a task to its record family without knowing the family. Each family
//! registers a [`Family`] under its task type; the queue consumer asks it to take a task, and
//! the consumer and the dead-letter actor ask it to record a failed attempt. What the runtime
//! needs of every task (id, attempts, expiry, trace, error history) it reads off the envelope
//! ([`crate::envelope::QueuedTask`]).

mod metadata;
mod price_list;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

pub use metadata::MetadataFamily;
pub use price_list::PriceListFamily;

use super::completion::Completion;
use crate::domain::{TaskFailure, TaskStatus, TaskType};
use crate::envelope::QueuedTask;
use crate::ports::PortError;

/// A record family's part of the runtime.
#[async_trait]
pub trait Family: Send + Sync + 'static {
    /// Hands the task to the least busy of the family's actors; `done` is completed when the
    /// task ends (or dropped, when an actor holding it dies).
    fn take(&self, task: &QueuedTask, done: Completion) -> Result<Taken, Refusal>;
    /// Marks the task's record with a failed attempt (its error history, this one last).
    async fn record_failure(&self, task: &QueuedTask, status: TaskStatus) -> Result<(), PortError>;
}

/// Why a family did not take a task.
#[derive(Debug)]
pub enum Refusal {
    /// It can never run here (an unknown parser type, say): dead-letter it.
    Never(TaskFailure),
    /// Its actors are restarting: try again later.
    NotNow,
}

/// A task in a family's hands: what the runtime may do to it, and the load it puts on the
/// family's actors until it is dropped.
pub struct Taken {
    abort: Box<dyn Fn(&str) + Send>,
    _load: Vec<Busy>,
}

impl Taken {
    pub fn new(abort: impl Fn(&str) + Send + 'static, load: Vec<Busy>) -> Self {
        Self {
            abort: Box::new(abort),
            _load: load,
        }
    }

    /// Drops what the task left half-done (staged rows) when the runtime gives it up.
    pub fn abort(&self, reason: &str) {
        (self.abort)(reason)
    }
}

/// Tasks in hand per actor of a family, to pick the least busy.
#[derive(Debug, Clone)]
pub struct Load(Arc<Vec<AtomicUsize>>);

/// One task counted on one actor until dropped.
pub struct Busy {
    load: Load,
    actor: usize,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(n) = self.load.0.get(self.actor) {
            n.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Load {
    pub fn new(actors: usize) -> Self {
        Self(Arc::new((0..actors.max(1)).map(|_| AtomicUsize::new(0)).collect()))
    }

    /// The least busy actor (the first of equals), counted busy until the guard drops.
    pub fn least_busy(&self) -> Busy {
        let actor = self
            .0
            .iter()
            .enumerate()
            .min_by_key(|(_, n)| n.load(Ordering::SeqCst))
            .map_or(0, |(i, _)| i);
        if let Some(n) = self.0.get(actor) {
            n.fetch_add(1, Ordering::SeqCst);
        }
        Busy {
            load: self.clone(),
            actor,
        }
    }
}

impl Busy {
    pub fn actor(&self) -> usize {
        self.actor
    }
}

/// The families of a pipeline, by task type.
#[derive(Clone, Default)]
pub struct Families(Arc<BTreeMap<TaskType, Arc<dyn Family>>>);

impl Families {
    pub fn new(families: impl IntoIterator<Item = (TaskType, Arc<dyn Family>)>) -> Self {
        Self(Arc::new(families.into_iter().collect()))
    }

    pub fn get(&self, task_type: TaskType) -> Option<&Arc<dyn Family>> {
        self.0.get(&task_type)
    }

    /// Marks the task's record with a failed attempt, through its family.
    pub async fn record_failure(&self, task: &QueuedTask, status: TaskStatus) -> Result<(), PortError> {
        match self.get(task.task_type()) {
            Some(family) => family.record_failure(task, status).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_busy_actor_is_picked_and_freed_when_its_task_ends() {
        let load = Load::new(3);
        let a = load.least_busy();
        let b = load.least_busy();
        assert_eq!((a.actor(), b.actor()), (0, 1));
        drop(a);
        assert_eq!(load.least_busy().actor(), 0, "a finished task frees its actor");
        let idle = Load::new(0);
        assert_eq!(idle.least_busy().actor(), 0, "no actors reads as one");
    }
}
