//! Building the service from its settings: connections, adapters, the actor pipeline.
//! The binary and the tests build it the same way.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use intake_actors::decode::standard_registry;
use intake_actors::domain::TaskMeta;
use intake_actors::pipeline::{DrainReport, Outcome, Pipeline, Ports};
use intake_actors::ports::{DecoderRegistry, SourceFetcher};
use sqlx::PgPool;

use crate::metadata::{MetadataService, Sink};
use crate::queue::RedisQueue;
use crate::settings::SinkKind;
use crate::settings::{Settings, ms};
use crate::sources::Sources;
use crate::store::PgCatalog;
use crate::telemetry::TraceContext;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Sources(#[from] crate::sources::SourcesError),
    #[error("{0}")]
    Pipeline(#[from] intake_actors::pipeline::PipelineError),
    #[error("redis: {0}")]
    Queue(String),
    #[error("{0}")]
    BigQuery(#[from] crate::bigquery::BigQueryError),
    #[error("the pipeline stopped: its supervisor gave up after too many actor restarts")]
    Escalated,
    #[error("the database lacks migrations {missing:?} of this release: run `intake migrate up` first")]
    SchemaBehind { missing: Vec<i64> },
    #[error("the health and metrics listener cannot bind {bind}: {error}")]
    Listener { bind: String, error: std::io::Error },
}

/// The decoders of this build, by parser type.
pub fn decoders() -> DecoderRegistry {
    standard_registry()
}

/// The source fetcher of this build.
pub fn sources(settings: &Settings) -> Result<Arc<dyn SourceFetcher>, StartupError> {
    let sources = Sources::new(&settings.sources, &settings.google_sheets)?;
    Ok(Arc::new(sources))
}

fn ports(settings: &Settings, pool: PgPool, decoders: DecoderRegistry) -> Result<Ports, StartupError> {
    Ok(Ports {
        catalog: Arc::new(PgCatalog::new(pool.clone())),
        sources: sources(settings)?,
        decoders,
        tracing: Arc::new(TraceContext),
        metadata: Some(Arc::new(MetadataService::new(
            metadata_sink(settings, pool)?,
            settings.sources.allowed_dirs.clone(),
            settings.metadata.parse_limit(),
        ))),
    })
}

/// Where metadata records go, as configured (`metadata.sink`).
pub fn metadata_sink(settings: &Settings, pool: PgPool) -> Result<Sink, StartupError> {
    Ok(match settings.metadata.sink {
        SinkKind::Postgres => Sink::Postgres(pool),
        SinkKind::Bigquery => Sink::BigQuery(Arc::new(crate::bigquery::BigQuery::new(&settings.bigquery)?)),
    })
}

/// A worker: the pipeline fed by the queue.
pub struct Worker {
    pipeline: Pipeline,
    queue: RedisQueue,
    grace: Duration,
    http: Option<std::net::SocketAddr>,
}

impl Worker {
    pub async fn start(
        settings: &Settings,
        pool: PgPool,
        queue: RedisQueue,
        decoders: DecoderRegistry,
    ) -> Result<Self, StartupError> {
        queue
            .ensure_group()
            .await
            .map_err(|e| StartupError::Queue(e.to_string()))?;
        check_schema(&pool).await?;
        crate::http::keep_metrics_bounded();
        let persistence = queue.persistence().await;
        crate::http::record_persistence(persistence.as_ref());
        match persistence.as_ref().map(|p| (p, p.warning())) {
            Some((_, Some(warning))) => tracing::warn!("{warning}"),
            Some((p, None)) => tracing::info!(appendfsync = %p.appendfsync, "redis keeps an append-only file"),
            None => tracing::warn!(
                "redis does not say whether it persists (CONFIG GET is not allowed); make sure it runs with --appendonly yes"
            ),
        }
        let ports = ports(settings, pool.clone(), decoders)?;
        let pipeline = Pipeline::start(
            settings.pipeline_config(),
            ports,
            Some((Arc::new(queue.clone()), settings.consumer_settings())),
        )
        .await?;
        let bind = settings.http.bind.trim();
        let http = if bind.is_empty() {
            None
        } else {
            let address = crate::http::serve(bind, pool, queue.clone(), pipeline.probe())
                .await
                .map_err(|error| StartupError::Listener {
                    bind: bind.to_owned(),
                    error,
                })?;
            Some(address)
        };
        tracing::info!(consumer = queue.consumer_name(), http = ?http, "worker started");
        Ok(Self {
            pipeline,
            queue,
            grace: ms(settings.worker.shutdown_grace_ms),
            http,
        })
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Where the health and metrics listener listens, if it does.
    pub fn http_address(&self) -> Option<std::net::SocketAddr> {
        self.http
    }

    /// Runs until `shutdown` resolves, then drains: tasks in hand finish within the grace
    /// period or go back to the queue. Fails if the supervisor gave up first.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<DrainReport, StartupError> {
        let Self {
            mut pipeline,
            queue,
            grace,
            ..
        } = self;
        tokio::select! {
            () = shutdown => {
                tracing::info!(grace_ms = grace.as_millis() as u64, "shutting down");
                let report = pipeline.shutdown(grace).await;
                queue.leave_group().await;
                tracing::info!(finished = report.finished, handed_back = report.handed_back, "stopped");
                Ok(report)
            }
            () = pipeline.stopped() => Err(StartupError::Escalated),
        }
    }
}

/// Runs one task through the pipeline in this process, without the queue.
/// Refuses a database whose schema is older than this build. A database that does not answer
/// passes: the worker waits for it, and checks nothing it cannot see.
async fn check_schema(pool: &PgPool) -> Result<(), StartupError> {
    let checked = tokio::time::timeout(Duration::from_secs(3), crate::store::schema_state(pool)).await;
    match checked {
        Ok(Ok(crate::store::SchemaState::Current)) => Ok(()),
        Ok(Ok(crate::store::SchemaState::Behind { missing })) => Err(StartupError::SchemaBehind { missing }),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the schema could not be checked; starting anyway");
            Ok(())
        }
        Err(_) => {
            tracing::warn!("the database did not answer the schema check; starting anyway");
            Ok(())
        }
    }
}

pub async fn ingest_once(
    settings: &Settings,
    pool: PgPool,
    decoders: DecoderRegistry,
    meta: TaskMeta,
) -> Result<Outcome, StartupError> {
    check_schema(&pool).await?;
    let pipeline = Pipeline::start(settings.pipeline_config(), ports(settings, pool, decoders)?, None).await?;
    let outcome = pipeline.run(meta).await;
    pipeline.shutdown(Duration::ZERO).await;
    Ok(outcome)
}
