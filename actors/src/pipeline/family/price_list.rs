//! Supplier price lists: a task goes to a parser of its source type, then a validator, then a
//! writer, each the least busy of its kind (validators take turns).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::{Family, Load, Refusal, Taken};
use crate::domain::{Origin, ParserType, TaskFailure, TaskMeta, TaskStatus};
use crate::envelope::QueuedTask;
use crate::pipeline::completion::Completion;
use crate::pipeline::directory::Directory;
use crate::pipeline::parser::{ParserMsg, TaskJob};
use crate::pipeline::writer::WriterMsg;
use crate::ports::{Catalog, PortError};

pub struct PriceListFamily {
    directory: Directory,
    catalog: Arc<dyn Catalog>,
    parsers: BTreeMap<ParserType, Load>,
    writers: Load,
    next_validator: AtomicUsize,
}

impl PriceListFamily {
    pub fn new(directory: Directory, catalog: Arc<dyn Catalog>) -> Self {
        let parsers = directory
            .parser_types()
            .map(|(t, n)| (t.clone(), Load::new(n)))
            .collect();
        let writers = Load::new(directory.writers());
        Self {
            directory,
            catalog,
            parsers,
            writers,
            next_validator: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Family for PriceListFamily {
    fn take(&self, task: &QueuedTask, done: Completion) -> Result<Taken, Refusal> {
        let QueuedTask::PriceList(message) = task else {
            return Err(Refusal::Never(TaskFailure::permanent("not a price list")));
        };
        let Some(parsers) = self.parsers.get(&message.parser_type) else {
            let known: Vec<&str> = self.parsers.keys().map(ParserType::as_str).collect();
            return Err(Refusal::Never(TaskFailure::permanent(format!(
                "unknown parser type {:?} (this worker has: {})",
                message.parser_type.as_str(),
                known.join(", ")
            ))));
        };
        let parser = parsers.least_busy();
        let writer = self.writers.least_busy();
        let validator = self.next_validator.fetch_add(1, Ordering::Relaxed) % self.directory.validators();
        let refs = (
            self.directory.parser(&message.parser_type, parser.actor()),
            self.directory.validator(validator),
            self.directory.writer(writer.actor()),
        );
        let (Some(p), Some(validator), Some(w)) = refs else {
            return Err(Refusal::NotNow);
        };
        let meta = TaskMeta::from_message(message.clone(), Origin::Queue);
        let task_id = meta.task_id;
        let job = TaskJob {
            meta,
            validator,
            writer: w,
            done,
        };
        if p.send_message(ParserMsg::Parse(job)).is_err() {
            return Err(Refusal::NotNow);
        }
        // The writer is looked up when the abort comes: a restarted one answers to its name.
        let (directory, writer_index) = (self.directory.clone(), writer.actor());
        let abort = move |reason: &str| {
            if let Some(writer) = directory.writer(writer_index) {
                let _ = writer.send_message(WriterMsg::Abort {
                    task: task_id,
                    failure: TaskFailure::transient(reason),
                    log_to_parsing_logs: false,
                    done: None,
                });
            }
        };
        Ok(Taken::new(abort, vec![parser, writer]))
    }

    async fn record_failure(&self, task: &QueuedTask, status: TaskStatus) -> Result<(), PortError> {
        let QueuedTask::PriceList(message) = task else {
            return Ok(());
        };
        let meta = TaskMeta::from_message(message.clone(), Origin::Queue);
        self.catalog.record_failure(&meta, status, &message.errors).await
    }
}
