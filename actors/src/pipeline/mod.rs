//! The actors and their wiring: one supervisor over the QueueConsumer, the DlqActor and each
//! record family's actors — price lists: ParserActor (per source type) → ValidatorActor →
//! DbWriterActor; metadata: MetadataActor. The consumer hands a task to its family
//! ([`family`]) by its `task_type`.
//!
//! The flow is bounded end to end: the consumer holds at most `tasks_in_flight` tasks, and each
//! task at most `chunks_in_flight` chunks between its parser and its writer (see [`crate::flow`]).

pub mod backoff;
pub mod completion;
pub mod consumer;
pub mod directory;
pub mod dlq;
pub mod family;
pub mod metadata;
pub mod parser;
pub mod supervisor;
pub mod validator;
pub mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef, ActorStatus};
use tokio::task::JoinHandle;

pub use completion::Outcome;
pub use consumer::{ConsumerSettings, DrainReport};
pub use directory::Directory;
pub use parser::FlowSettings;
pub use supervisor::RestartBudget;

use crate::domain::{ParserType, TaskFailure, TaskMeta, TaskType};
use crate::ports::{Catalog, DecoderRegistry, MetadataIngest, SourceFetcher, TaskQueue, TaskTracing};
use consumer::{ConsumerArgs, ConsumerMsg, QueueConsumer};
use dlq::{DlqActor, DlqArgs};
use family::{Families, Family, MetadataFamily, PriceListFamily};
use metadata::{MetadataActor, MetadataArgs};
use parser::{ParserActor, ParserArgs, ParserMsg, TaskJob};
use supervisor::{ChildSpec, Supervisor, SupervisorArgs, SupervisorMsg};
use validator::ValidatorActor;
use writer::{DbWriterActor, WriterArgs};

/// The shape of the pipeline, from the configuration file.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Parser actors per source type; types not named get one.
    pub parsers: BTreeMap<String, usize>,
    pub validators: usize,
    pub writers: usize,
    pub flow: FlowSettings,
    pub restarts: RestartBudget,
    /// Rows per second each writer stages at most; `None`: no limit.
    pub max_rows_per_second: Option<u32>,
    /// Metadata tasks run at once (when the worker has the metadata port).
    pub metadata: usize,
}

/// What the pipeline talks to.
#[derive(Clone)]
pub struct Ports {
    pub catalog: Arc<dyn Catalog>,
    pub sources: Arc<dyn SourceFetcher>,
    pub decoders: DecoderRegistry,
    pub tracing: Arc<dyn TaskTracing>,
    /// Runs metadata tasks; without it they are refused as unknown.
    pub metadata: Option<Arc<dyn MetadataIngest>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("the actors could not start: {0}")]
    Spawn(String),
}

/// Looks at a running pipeline from elsewhere (a health endpoint).
#[derive(Clone)]
pub struct PipelineProbe {
    supervisor: ActorRef<SupervisorMsg>,
    directory: Directory,
    consumer: bool,
}

impl PipelineProbe {
    /// Whether the supervisor and every actor of the pipeline are running.
    pub fn is_healthy(&self) -> bool {
        self.supervisor.get_status() == ActorStatus::Running
            && self
                .directory
                .all_names(self.consumer)
                .into_iter()
                .all(|name| ractor::registry::where_is(name).is_some_and(|c| c.get_status() == ActorStatus::Running))
    }
}

/// A running pipeline.
pub struct Pipeline {
    supervisor: ActorRef<SupervisorMsg>,
    stopped: JoinHandle<()>,
    directory: Directory,
    consumer: bool,
}

impl Pipeline {
    /// Starts the parsers, validators, writers and — when a queue is given — the dead-letter
    /// actor and the queue consumer.
    pub async fn start(
        config: PipelineConfig,
        ports: Ports,
        queue: Option<(Arc<dyn TaskQueue>, ConsumerSettings)>,
    ) -> Result<Self, PipelineError> {
        let parsers: BTreeMap<ParserType, usize> = ports
            .decoders
            .parser_types()
            .map(|t| (t.clone(), config.parsers.get(t.as_str()).copied().unwrap_or(1).max(1)))
            .collect();
        let metadata_actors = if ports.metadata.is_some() {
            config.metadata.max(1)
        } else {
            0
        };
        let directory = Directory::new(parsers, config.validators, config.writers, metadata_actors);
        let flow = Arc::new(config.flow);

        let mut families: Vec<(TaskType, Arc<dyn Family>)> = vec![(
            TaskType::PriceList,
            Arc::new(PriceListFamily::new(directory.clone(), ports.catalog.clone())),
        )];
        if let Some(ingest) = &ports.metadata {
            families.push((
                TaskType::Metadata,
                Arc::new(MetadataFamily::new(directory.clone(), ingest.clone())),
            ));
        }
        let families = Families::new(families);
        let mut children = Vec::new();
        if let Some((queue, _)) = &queue {
            children.push(ChildSpec::new(
                directory.dlq_name(),
                DlqActor,
                DlqArgs {
                    queue: queue.clone(),
                    families: families.clone(),
                },
            ));
        }
        for i in 0..directory.writers() {
            children.push(ChildSpec::new(
                directory.writer_name(i),
                DbWriterActor,
                WriterArgs {
                    catalog: ports.catalog.clone(),
                    max_rows_per_second: config.max_rows_per_second,
                },
            ));
        }
        for i in 0..directory.validators() {
            children.push(ChildSpec::new(directory.validator_name(i), ValidatorActor, ()));
        }
        for (parser_type, count) in directory.parser_types() {
            let Some(decoder) = ports.decoders.get(parser_type) else {
                continue;
            };
            for i in 0..count {
                children.push(ChildSpec::new(
                    directory.parser_name(parser_type, i),
                    ParserActor,
                    ParserArgs {
                        decoder: decoder.clone(),
                        sources: ports.sources.clone(),
                        flow: flow.clone(),
                    },
                ));
            }
        }
        if let Some(ingest) = &ports.metadata {
            for i in 0..directory.metadata_actors() {
                children.push(ChildSpec::new(
                    directory.metadata_name(i),
                    MetadataActor,
                    MetadataArgs { ingest: ingest.clone() },
                ));
            }
        }
        let consumer = queue.is_some();
        if let Some((queue, settings)) = queue {
            children.push(ChildSpec::new(
                directory.consumer_name(),
                QueueConsumer,
                ConsumerArgs {
                    queue,
                    catalog: ports.catalog.clone(),
                    directory: directory.clone(),
                    settings: Arc::new(settings),
                    tracing: ports.tracing.clone(),
                    families,
                },
            ));
        }

        let (supervisor, stopped) = Actor::spawn(
            Some(directory.supervisor_name()),
            Supervisor,
            SupervisorArgs {
                children,
                budget: config.restarts,
            },
        )
        .await
        .map_err(|e| PipelineError::Spawn(e.to_string()))?;
        Ok(Self {
            supervisor,
            stopped,
            directory,
            consumer,
        })
    }

    /// Runs one task in this process, without the queue, and waits for its outcome.
    pub async fn run(&self, meta: TaskMeta) -> Outcome {
        let parser_type = meta.parser_type.clone();
        if self.directory.parser_count(&parser_type) == 0 {
            let known: Vec<String> = self.directory.parser_types().map(|(t, _)| t.to_string()).collect();
            return Outcome::Failed(TaskFailure::permanent(format!(
                "unknown parser type {:?} (known: {})",
                parser_type.as_str(),
                known.join(", ")
            )));
        }
        let refs = (
            self.directory.parser(&parser_type, 0),
            self.directory.validator(0),
            self.directory.writer(0),
        );
        let (Some(parser), Some(validator), Some(writer)) = refs else {
            return Outcome::Failed(TaskFailure::transient("the pipeline is not running"));
        };
        let (done, awaited) = completion::completion();
        let job = TaskJob {
            meta,
            validator,
            writer,
            done,
        };
        if parser.send_message(ParserMsg::Parse(job)).is_err() {
            return Outcome::Failed(TaskFailure::transient("the parser is not running"));
        }
        awaited.outcome().await
    }

    /// A handle that tells whether the pipeline runs, for health checks.
    pub fn probe(&self) -> PipelineProbe {
        PipelineProbe {
            supervisor: self.supervisor.clone(),
            directory: self.directory.clone(),
            consumer: self.consumer,
        }
    }

    /// Resolves when the pipeline stops on its own (the supervisor gave up).
    pub async fn stopped(&mut self) {
        let _ = (&mut self.stopped).await;
    }

    /// Stops taking tasks, lets those in hand finish for up to `grace` (handing the rest back to
    /// the queue), then stops every actor.
    pub async fn shutdown(mut self, grace: Duration) -> DrainReport {
        let mut report = DrainReport::default();
        if self.consumer
            && let Some(cell) = ractor::registry::where_is(self.directory.consumer_name())
        {
            let consumer: ActorRef<ConsumerMsg> = cell.into();
            let wait = grace + Duration::from_secs(10);
            match consumer
                .call(|reply| ConsumerMsg::Drain { grace, reply }, Some(wait))
                .await
            {
                Ok(ractor::rpc::CallResult::Success(r)) => report = r,
                _ => tracing::warn!("the queue consumer did not drain in time"),
            }
        }
        let timeout = Duration::from_secs(5);
        let _ = self
            .supervisor
            .call(|reply| SupervisorMsg::Shutdown { timeout, reply }, Some(timeout * 4))
            .await;
        let _ = tokio::time::timeout(timeout, &mut self.stopped).await;
        report
    }
}
