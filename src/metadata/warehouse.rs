//! A run into BigQuery: its records loaded into a staging table of the run (in one load job,
//! or one per 64 MB while files are read, so memory stays bounded), then one query that counts
//! what will change, one MERGE (the commit point: a run killed before it leaves nothing
//! applied), the errors and the run's `ingestion_log` row loaded, the staging table dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use intake_actors::metadata::{Changes, Kind, RunFigures};
use serde::Serialize;
use serde_json::json;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::sink::{ErrorRow, RunSink, SinkError};
use crate::bigquery::{BigQuery, BigQueryError, QueryParameter, tables};
use crate::store::metadata::StoredRecord;

/// The most newline-delimited JSON one load job carries; a larger run goes up in several,
/// well under BigQuery's limits on a load job.
const LOAD_BYTES: usize = 64 << 20;

const TARGET: &str = "source_metadata";
const ERRORS: &str = "source_metadata_errors";
const LOG: &str = "ingestion_log";

const RECORD_COLUMNS: &str = "id, semantic_path, source_kind, source_name, parent_id, record_kind, name, data_type, \
     attributes, content, chunk_index, chunk_count, line_start, line_end, content_sha256";

/// A staging table's row: the record as stored, with its source, serialised without copies.
#[derive(Serialize)]
struct StagedRow<'a> {
    source_kind: &'a str,
    source_name: &'a str,
    #[serde(flatten)]
    record: &'a StoredRecord,
}

#[derive(Default)]
struct Gathered {
    task: Option<Uuid>,
    kind: Option<Kind>,
    source: String,
    started_at: Option<DateTime<Utc>>,
    /// Newline-delimited JSON rows not yet loaded into the staging table.
    rows: Vec<u8>,
    /// Sources applied in this run: their records missing from it are tombstoned.
    sources: Vec<String>,
    errors: Vec<u8>,
    /// A dry run's records: ids and hashes, to compare with what is stored.
    expected: Vec<(String, String)>,
}

pub struct BigQueryRun {
    bigquery: Arc<BigQuery>,
    run: Option<Uuid>,
    /// Names this run's jobs and staging table: a dry run's are its own too.
    jobs: Uuid,
    gathered: Mutex<Gathered>,
    /// The run's staging table, created (with the tables it merges into) at the first load.
    staging: OnceCell<String>,
    loads: AtomicUsize,
}

impl BigQueryRun {
    pub fn new(bigquery: Arc<BigQuery>, run: Option<Uuid>) -> Self {
        Self {
            bigquery,
            run,
            jobs: run.unwrap_or_else(Uuid::now_v7),
            gathered: Mutex::new(Gathered::default()),
            staging: OnceCell::new(),
            loads: AtomicUsize::new(0),
        }
    }

    fn gathered(&self) -> std::sync::MutexGuard<'_, Gathered> {
        // Poisoned only by a panic elsewhere; the rows are whole either way.
        self.gathered.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn job_id(&self, step: &str) -> String {
        format!("intake_{}_{step}", self.jobs.simple())
    }

    /// The staging table, created at the first call after the dataset and the tables are
    /// checked and the staging tables of dead runs dropped.
    async fn staging(&self) -> Result<&str, BigQueryError> {
        self.staging
            .get_or_try_init(|| async {
                let bq = &self.bigquery;
                bq.check_dataset().await?;
                bq.ensure_table(
                    TARGET,
                    &tables::source_metadata_schema(),
                    &["source_kind", "source_name"],
                )
                .await?;
                bq.ensure_table(ERRORS, &tables::errors_schema(), &[]).await?;
                bq.ensure_table(LOG, &tables::ingestion_log_schema(), &[]).await?;
                if let Err(e) = bq.drop_stale_staging().await {
                    tracing::warn!(error = %e, "could not list or drop stale staging tables");
                }
                let staging = format!("{}{}", tables::STAGING_PREFIX, self.jobs.simple());
                bq.create_staging(&staging).await?;
                Ok(staging)
            })
            .await
            .map(String::as_str)
    }

    /// Loads gathered rows into the staging table: once they pass the size of one load job
    /// while the run reads (so memory stays bounded), and what is left at the end.
    async fn flush(&self, at_least: usize) -> Result<(), BigQueryError> {
        let rows = {
            let mut gathered = self.gathered();
            if gathered.rows.len() < at_least {
                return Ok(());
            }
            std::mem::take(&mut gathered.rows)
        };
        let staging = self.staging().await?;
        if !rows.is_empty() {
            let n = self.loads.fetch_add(1, Ordering::SeqCst);
            self.bigquery
                .load(&self.job_id(&format!("stage{n}")), staging, &rows)
                .await?;
        }
        Ok(())
    }

    /// Counts what the MERGE will do, then merges.
    async fn merge(&self, kind: Kind, sources: Vec<String>) -> Result<Changes, BigQueryError> {
        let bq = &self.bigquery;
        let (target, staged) = (bq.table_path(TARGET), bq.table_path(self.staging().await?));
        let parameters = [
            QueryParameter::Text("kind", kind.as_str().to_owned()),
            QueryParameter::Texts("sources", sources),
            QueryParameter::Text("run", self.jobs.to_string()),
        ];
        let plan = bq
            .query(&self.job_id("plan"), &plan_sql(&target, &staged), &parameters)
            .await?;
        let row = bq.rows(&plan).await?.into_iter().next().unwrap_or_default();
        let count = |i: usize| row.get(i).cloned().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
        let changes = Changes {
            inserted: count(0),
            updated: count(1),
            unchanged: count(2),
            deleted: count(3),
        };
        {
            let merged = bq
                .query(&self.job_id("merge"), &merge_sql(&target, &staged), &parameters)
                .await?;
            let stats = merged.dml_stats();
            tracing::info!(
                job = %merged.reference.job_id,
                affected = stats.affected,
                inserted = stats.inserted,
                updated = stats.updated,
                "merged into source_metadata"
            );
            let expected = changes.inserted + changes.updated + changes.deleted;
            if stats.affected != expected {
                tracing::warn!(
                    affected = stats.affected,
                    expected,
                    "the MERGE changed another number of rows than counted: another run wrote these sources meanwhile"
                );
            }
        }
        Ok(changes)
    }

    /// A dry run: the run's ids and hashes compared with those stored for its sources, read
    /// by one query. Nothing is created or written.
    async fn compare(&self, kind: Kind, sources: Vec<String>) -> Result<Changes, BigQueryError> {
        let expected = std::mem::take(&mut self.gathered().expected);
        let bq = &self.bigquery;
        bq.check_dataset().await?;
        if !bq.table_exists(TARGET).await? {
            return Ok(Changes {
                inserted: expected.len() as u64,
                ..Changes::default()
            });
        }
        let parameters = [
            QueryParameter::Text("kind", kind.as_str().to_owned()),
            QueryParameter::Texts("sources", sources),
        ];
        let job = bq
            .query(&self.job_id("stored"), &stored_sql(&bq.table_path(TARGET)), &parameters)
            .await?;
        let stored = bq.rows(&job).await?;
        let known: std::collections::HashMap<&str, (&str, bool)> = stored
            .iter()
            .filter_map(|row| match &row[..] {
                [Some(id), Some(hash), deleted] => {
                    Some((id.as_str(), (hash.as_str(), deleted.as_deref() == Some("true"))))
                }
                _ => None,
            })
            .collect();
        let mut changes = Changes::default();
        let mut seen = std::collections::HashSet::with_capacity(expected.len());
        for (id, hash) in &expected {
            seen.insert(id.as_str());
            match known.get(id.as_str()) {
                None => changes.inserted += 1,
                Some((stored, deleted)) if stored != hash || *deleted => changes.updated += 1,
                Some(_) => changes.unchanged += 1,
            }
        }
        changes.deleted = known
            .iter()
            .filter(|(id, (_, deleted))| !deleted && !seen.contains(*id))
            .count() as u64;
        Ok(changes)
    }

    /// Everything after the last file: the rest staged, merged, errors and log loaded.
    async fn commit(&self, figures: &mut RunFigures) -> Result<(), BigQueryError> {
        let (kind, sources) = {
            let gathered = self.gathered();
            (gathered.kind, gathered.sources.clone())
        };
        let Some(kind) = kind else {
            return Ok(());
        };
        if self.run.is_none() {
            figures.changes = self.compare(kind, sources).await?;
            return Ok(());
        }
        self.flush(0).await?;
        figures.changes = self.merge(kind, sources).await?;
        let errors = std::mem::take(&mut self.gathered().errors);
        if !errors.is_empty() {
            self.bigquery.load(&self.job_id("errors"), ERRORS, &errors).await?;
        }
        let status = if figures.files_rejected == 0 {
            "completed"
        } else {
            "completed_with_errors"
        };
        let row = self.log_row(status, figures);
        self.bigquery.load(&self.job_id("log"), LOG, &row).await?;
        Ok(())
    }

    async fn drop_staging(&self) {
        if let Some(staging) = self.staging.get()
            && let Err(e) = self.bigquery.drop_table(staging).await
        {
            tracing::warn!(table = %staging, error = %e, "could not drop the staging table; a later run will");
        }
    }

    fn log_row(&self, status: &str, figures: &RunFigures) -> Vec<u8> {
        let gathered = self.gathered();
        let now = Utc::now();
        let started = gathered.started_at.unwrap_or(now);
        let c = figures.changes;
        let mut row = json!({
            "run_id": self.jobs.to_string(),
            "task_id": gathered.task.map(|t| t.to_string()),
            "kind": gathered.kind.map_or("", |k| k.as_str()),
            "source": gathered.source,
            "status": status,
            "files_seen": figures.files_seen,
            "files_ingested": figures.files_ingested,
            "files_rejected": figures.files_rejected,
            "bytes": figures.bytes,
            "records_seen": figures.records_seen,
            "records_inserted": c.inserted,
            "records_updated": c.updated,
            "records_unchanged": c.unchanged,
            "records_deleted": c.deleted,
            "parser_version": env!("CARGO_PKG_VERSION"),
            "started_at": started.to_rfc3339(),
            "finished_at": now.to_rfc3339(),
            "duration_ms": (now - started).num_milliseconds().max(0),
        })
        .to_string()
        .into_bytes();
        row.push(b'\n');
        row
    }
}

#[async_trait]
impl RunSink for BigQueryRun {
    async fn open(&self, task: Option<Uuid>, kind: Kind, source: &str) -> Result<(), SinkError> {
        let mut gathered = self.gathered();
        gathered.task = task;
        gathered.kind = Some(kind);
        gathered.source = source.to_owned();
        gathered.started_at = Some(Utc::now());
        Ok(())
    }

    async fn error(&self, row: ErrorRow<'_>) -> Result<(), SinkError> {
        let mut line = json!({
            "run_id": self.jobs.to_string(),
            "source_name": row.source_name,
            "line": row.line,
            "error_class": row.class,
            "message": row.message,
            "excerpt": row.excerpt,
            "created_at": Utc::now().to_rfc3339(),
        })
        .to_string()
        .into_bytes();
        line.push(b'\n');
        self.gathered().errors.extend_from_slice(&line);
        Ok(())
    }

    async fn apply(
        &self,
        kind: Kind,
        source_name: &str,
        records: &[StoredRecord],
    ) -> Result<Option<Changes>, SinkError> {
        if self.run.is_none() {
            let mut gathered = self.gathered();
            gathered
                .expected
                .extend(records.iter().map(|r| (r.id.clone(), r.content_sha256.clone())));
            gathered.sources.push(source_name.to_owned());
            return Ok(None);
        }
        let mut rows = Vec::new();
        for r in records {
            let row = StagedRow {
                source_kind: kind.as_str(),
                source_name,
                record: r,
            };
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut rows, &row);
            rows.push(b'\n');
        }
        {
            let mut gathered = self.gathered();
            gathered.rows.extend_from_slice(&rows);
            gathered.sources.push(source_name.to_owned());
        }
        self.flush(LOAD_BYTES).await?;
        Ok(None)
    }

    async fn close(&self, figures: &mut RunFigures) -> Result<(), SinkError> {
        let committed = self.commit(figures).await;
        self.drop_staging().await;
        Ok(committed?)
    }

    async fn fail(&self) -> Result<(), SinkError> {
        self.drop_staging().await;
        // Nothing was applied (the MERGE is the commit point). The failed run is logged where
        // BigQuery let the run reach its tables.
        if self.run.is_some() && self.staging.get().is_some() {
            let row = self.log_row("failed", &RunFigures::default());
            self.bigquery.load(&self.job_id("failed"), LOG, &row).await?;
        }
        Ok(())
    }
}

fn stored_sql(target: &str) -> String {
    format!(
        "-- intake:stored
SELECT id, content_sha256, deleted_at IS NOT NULL AS deleted FROM {target}
WHERE source_kind = @kind AND source_name IN UNNEST(@sources)"
    )
}

fn plan_sql(target: &str, staging: &str) -> String {
    format!(
        "-- intake:plan
SELECT
  COUNTIF(t.id IS NULL) AS inserted,
  COUNTIF(t.id IS NOT NULL AND (t.content_sha256 != s.content_sha256 OR t.deleted_at IS NOT NULL)) AS updated,
  COUNTIF(t.id IS NOT NULL AND t.content_sha256 = s.content_sha256 AND t.deleted_at IS NULL) AS unchanged,
  (SELECT COUNT(*) FROM {target} AS g
    WHERE g.source_kind = @kind AND g.source_name IN UNNEST(@sources) AND g.deleted_at IS NULL
      AND g.id NOT IN (SELECT id FROM {staging})) AS deleted
FROM {staging} AS s LEFT JOIN {target} AS t ON t.id = s.id"
    )
}

fn merge_sql(target: &str, staging: &str) -> String {
    let updates: Vec<String> = RECORD_COLUMNS
        .split(", ")
        .filter(|c| *c != "id")
        .map(|c| format!("{c} = s.{c}"))
        .collect();
    let values: Vec<String> = RECORD_COLUMNS.split(", ").map(|c| format!("s.{c}")).collect();
    format!(
        "-- intake:merge
MERGE {target} AS t
USING {staging} AS s
ON t.id = s.id
WHEN MATCHED AND (t.content_sha256 != s.content_sha256 OR t.deleted_at IS NOT NULL) THEN UPDATE SET
  {updates}, last_changed_run_id = @run, deleted_at = NULL, updated_at = CURRENT_TIMESTAMP()
WHEN NOT MATCHED BY TARGET THEN INSERT ({RECORD_COLUMNS}, first_run_id, last_changed_run_id, deleted_at, created_at, updated_at)
  VALUES ({values}, @run, @run, NULL, CURRENT_TIMESTAMP(), CURRENT_TIMESTAMP())
WHEN NOT MATCHED BY SOURCE AND t.source_kind = @kind AND t.source_name IN UNNEST(@sources) AND t.deleted_at IS NULL THEN
  UPDATE SET deleted_at = CURRENT_TIMESTAMP(), last_changed_run_id = @run, updated_at = CURRENT_TIMESTAMP()",
        updates = updates.join(", "),
        values = values.join(", ")
    )
}
