//! Where a run's records go. PostgreSQL applies each file's records as they come, in their own
//! statement; BigQuery takes the whole run at its end (one load, one MERGE). A run talks to
//! either through [`RunSink`].

use std::sync::Arc;

use async_trait::async_trait;
use intake_actors::metadata::{Changes, Kind, RunFigures};
use sqlx::PgPool;
use uuid::Uuid;

use super::warehouse::BigQueryRun;
use crate::bigquery::{BigQuery, BigQueryError};
use crate::store::metadata::{self as store, StoredRecord};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("database: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error(transparent)]
    BigQuery(#[from] BigQueryError),
}

/// Where runs write.
#[derive(Clone)]
pub enum Sink {
    Postgres(PgPool),
    BigQuery(Arc<BigQuery>),
}

impl Sink {
    /// A run's writer; `run` is `None` for a dry run, which writes nothing.
    pub fn begin(&self, run: Option<Uuid>) -> Box<dyn RunSink> {
        match self {
            Self::Postgres(pool) => Box::new(PgRun {
                pool: pool.clone(),
                run,
            }),
            Self::BigQuery(bigquery) => Box::new(BigQueryRun::new(bigquery.clone(), run)),
        }
    }
}

/// One error row of a run: a refused file, or a warning about one.
pub struct ErrorRow<'a> {
    pub source_name: &'a str,
    pub line: Option<u32>,
    pub class: &'a str,
    pub message: &'a str,
    pub excerpt: Option<&'a str>,
}

#[async_trait]
pub trait RunSink: Send + Sync {
    async fn open(&self, task: Option<Uuid>, kind: Kind, source: &str) -> Result<(), SinkError>;
    async fn error(&self, row: ErrorRow<'_>) -> Result<(), SinkError>;
    /// Applies (or compares) one source's records; `None` when the changes are only known
    /// once the run closes.
    async fn apply(
        &self,
        kind: Kind,
        source_name: &str,
        records: &[StoredRecord],
    ) -> Result<Option<Changes>, SinkError>;
    /// Commits the run. A sink that counts changes at the end puts them in `figures`.
    async fn close(&self, figures: &mut RunFigures) -> Result<(), SinkError>;
    /// Says the run failed, where the sink keeps open runs.
    async fn fail(&self) -> Result<(), SinkError>;
}

struct PgRun {
    pool: PgPool,
    run: Option<Uuid>,
}

#[async_trait]
impl RunSink for PgRun {
    async fn open(&self, task: Option<Uuid>, kind: Kind, source: &str) -> Result<(), SinkError> {
        if let Some(run) = self.run {
            store::start_run(&self.pool, run, task, kind, source).await?;
        }
        Ok(())
    }

    async fn error(&self, row: ErrorRow<'_>) -> Result<(), SinkError> {
        if let Some(run) = self.run {
            store::record_refusal(
                &self.pool,
                run,
                row.source_name,
                row.line,
                row.class,
                row.message,
                row.excerpt,
            )
            .await?;
        }
        Ok(())
    }

    async fn apply(
        &self,
        kind: Kind,
        source_name: &str,
        records: &[StoredRecord],
    ) -> Result<Option<Changes>, SinkError> {
        let changes = match self.run {
            Some(run) => store::apply(&self.pool, run, kind, source_name, records).await?,
            None => store::compare(&self.pool, kind, source_name, records).await?,
        };
        Ok(Some(changes))
    }

    async fn close(&self, figures: &mut RunFigures) -> Result<(), SinkError> {
        if let Some(run) = self.run {
            store::finish_run(&self.pool, run, figures).await?;
        }
        Ok(())
    }

    async fn fail(&self) -> Result<(), SinkError> {
        if let Some(run) = self.run {
            store::fail_runs(&self.pool, Some(run), None).await?;
        }
        Ok(())
    }
}
