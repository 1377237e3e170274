//! Metadata into BigQuery, against the local stand-in of its REST API: tables created once,
//! a run loaded in one job and merged in one statement, idempotent to the row; BigQuery's
//! refusals, rate limits and failed jobs each end the way an operator can act on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use intake::bigquery::BigQuery;
use intake::metadata::{RunError, RunRequest, Sink};
use intake_actors::domain::TaskStatus;
use intake_actors::envelope::QueuedTask;
use intake_actors::metadata::{Kind, RunReport};
use serde_json::Value;

use crate::fake_bigquery::{DATASET, FakeBigQuery, PROJECT, Table};
use crate::google_auth::SERVICE_ACCOUNT;
use crate::helpers::{TestDir, TestEnv};

/// A copybook of one record and `fields` fields, the last `changed` of them wider (so the
/// others keep their offsets).
fn copybook(fields: usize, changed: usize) -> String {
    let mut text = String::from("       01  LEDGER-REC.\n");
    for i in 0..fields {
        let width = if i + changed >= fields { 12 } else { 10 };
        text.push_str(&format!("           05  FIELD-{i:05}      PIC X({width}).\n"));
    }
    text
}

struct World {
    env: TestEnv,
    fake: Arc<FakeBigQuery>,
    _keys: TestDir,
}

impl World {
    async fn new() -> Self {
        let keys = TestDir::new();
        let (fake, base, key) = FakeBigQuery::start(&keys.0).await;
        let key = key.display().to_string();
        let env = TestEnv::with(&[
            ("INTAKE__METADATA__SINK", "bigquery"),
            ("INTAKE__BIGQUERY__PROJECT", PROJECT),
            ("INTAKE__BIGQUERY__DATASET", DATASET),
            ("INTAKE__BIGQUERY__API_BASE_URL", base.as_str()),
            ("INTAKE__BIGQUERY__CREDENTIALS_FILE", key.as_str()),
            ("INTAKE__RETRY__DELAYS_MS", "50"),
        ])
        .await;
        Self { env, fake, _keys: keys }
    }

    fn sink(&self) -> Sink {
        Sink::BigQuery(Arc::new(BigQuery::new(&self.env.settings.bigquery).expect("settings")))
    }

    fn books(&self) -> PathBuf {
        let dir = self.env.dir.0.join("books");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    async fn run(&self, source: &Path) -> Result<RunReport, RunError> {
        self.run_with(source, false).await
    }

    async fn run_with(&self, source: &Path, dry_run: bool) -> Result<RunReport, RunError> {
        let request = RunRequest {
            kind: Kind::Cobol,
            source: source.to_path_buf(),
            name: None,
            recursive: false,
            include: Vec::new(),
            exclude: Vec::new(),
            copylib: Vec::new(),
            dry_run,
            task_id: None,
            confined_to: None,
            parse_limit: self.env.settings.metadata.parse_limit(),
        };
        intake::metadata::run(&self.sink(), &request, &|_, _| {}).await
    }

    fn requests(&self) -> Vec<String> {
        self.fake.seen.requests.lock().unwrap().clone()
    }

    fn live(&self) -> Vec<(String, Option<String>)> {
        self.fake
            .rows("source_metadata")
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_owned(),
                    r["deleted_at"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }
}

#[tokio::test]
async fn a_first_run_creates_the_tables_and_loads_every_record_and_a_rerun_changes_nothing() {
    let world = World::new().await;
    let books = world.books();
    std::fs::write(books.join("ledger.cpy"), copybook(40, 0)).unwrap();

    let first = world.run(&books).await.expect("the first run");
    assert_eq!(first.figures.records_seen, 41);
    assert_eq!((first.figures.changes.inserted, first.figures.changes.updated), (41, 0));
    assert_eq!(
        world.fake.table_names(),
        ["ingestion_log", "source_metadata", "source_metadata_errors"],
        "the three tables exist and the run's staging table is gone"
    );
    {
        let tables = world.fake.tables.lock().unwrap();
        let metadata: &Table = &tables["source_metadata"];
        assert_eq!(
            metadata.clustering,
            Some(serde_json::json!({"fields": ["source_kind", "source_name"]}))
        );
        assert_eq!(metadata.rows.len(), 41);
        let log = &tables["ingestion_log"].rows;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["status"], "completed");
        assert_eq!(log[0]["records_inserted"], 41);
    }
    let load_jobs = world.requests().iter().filter(|r| *r == "POST upload/jobs").count();
    assert_eq!(
        load_jobs, 2,
        "the records in one load job, the run's log row in another"
    );
    assert_eq!(
        world.fake.auth.tokens.load(Ordering::SeqCst),
        1,
        "one token serves the whole run"
    );

    let before = world.fake.rows("source_metadata");
    let again = world.run(&books).await.expect("the re-run");
    let c = again.figures.changes;
    assert_eq!((c.inserted, c.updated, c.deleted, c.unchanged), (0, 0, 0, 41));
    assert_eq!(
        world.fake.rows("source_metadata"),
        before,
        "an unchanged re-run changes no row"
    );
    assert_eq!(world.fake.rows("ingestion_log").len(), 2);
}

#[tokio::test]
async fn a_changed_copybook_updates_its_fields_and_tombstones_the_removed_ones() {
    let world = World::new().await;
    let books = world.books();
    std::fs::write(books.join("ledger.cpy"), copybook(40, 0)).unwrap();
    world.run(&books).await.expect("the first run");

    // Three fields wider, the last five gone.
    std::fs::write(books.join("ledger.cpy"), copybook(35, 3)).unwrap();
    let changed = world.run(&books).await.expect("the second run");
    let c = changed.figures.changes;
    // The record itself changed too: its length and its source span.
    assert_eq!((c.inserted, c.updated, c.deleted), (0, 4, 5), "{c:?}");
    let live = world.live();
    let gone: Vec<&str> = live
        .iter()
        .filter(|(_, deleted)| deleted.is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        gone,
        [
            "FIELD-00035",
            "FIELD-00036",
            "FIELD-00037",
            "FIELD-00038",
            "FIELD-00039"
        ]
    );
    let field = world
        .fake
        .rows("source_metadata")
        .into_iter()
        .find(|r| r["name"] == "FIELD-00033")
        .unwrap();
    assert_eq!(field["attributes"]["storage_length"], 12);
    assert_eq!(
        field["last_changed_run_id"],
        Value::from(changed.run_id.unwrap().to_string())
    );
}

#[tokio::test]
async fn a_dry_run_reads_what_is_stored_and_writes_nothing() {
    let world = World::new().await;
    let books = world.books();
    std::fs::write(books.join("ledger.cpy"), copybook(600, 0)).unwrap();

    let before_any = world
        .run_with(&books, true)
        .await
        .expect("a dry run on an empty dataset");
    assert!(world.fake.table_names().is_empty(), "a dry run creates no table");

    let first = world.run(&books).await.expect("the first run");
    assert_eq!(
        first.figures.changes, before_any.figures.changes,
        "the dry run said what the run did"
    );
    std::fs::write(books.join("ledger.cpy"), copybook(595, 3)).unwrap();
    let tables_before = world.fake.table_names();
    let rows_before = world.fake.rows("source_metadata");
    let requests_before = world.requests().len();
    let dry = world.run_with(&books, true).await.expect("the dry run");
    let c = dry.figures.changes;
    assert_eq!((c.inserted, c.deleted), (0, 5), "five fields are gone: {c:?}");
    assert!(c.updated >= 4, "three fields and the record changed: {c:?}");
    assert_eq!(
        world.fake.table_names(),
        tables_before,
        "no staging table, no new table"
    );
    assert_eq!(world.fake.rows("source_metadata"), rows_before);
    let made: Vec<String> = world.requests()[requests_before..].to_vec();
    assert!(
        made.iter()
            .all(|r| !r.starts_with("POST upload") && !r.starts_with("POST tables") && !r.starts_with("DELETE")),
        "a dry run only reads: {made:?}"
    );
    let pages = made.iter().filter(|r| *r == "GET queries/{id}").count();
    assert!(pages >= 2, "600 stored rows come in pages of 500: {pages}");

    // What the dry run said is what the run then does.
    let real = world.run(&books).await.expect("the run");
    assert_eq!(real.figures.changes, dry.figures.changes);
}

#[tokio::test]
async fn a_rate_limited_request_waits_as_bigquery_asks_and_succeeds() {
    let world = World::new().await;
    let books = world.books();
    std::fs::write(books.join("ledger.cpy"), copybook(10, 0)).unwrap();
    world.fake.knobs.busy.store(2, Ordering::SeqCst);
    let report = world.run(&books).await.expect("the run succeeds once BigQuery lets it");
    assert_eq!(world.fake.knobs.busy_answered.load(Ordering::SeqCst), 2);
    assert_eq!(report.figures.changes.inserted, 11);
    assert_eq!(world.fake.rows("source_metadata").len(), 11);
}

#[tokio::test]
async fn denied_access_names_the_account_and_what_to_grant() {
    let world = World::new().await;
    let books = world.books();
    std::fs::write(books.join("ledger.cpy"), copybook(10, 0)).unwrap();
    world.fake.knobs.deny.store(true, Ordering::SeqCst);

    let mut command = world.env.command();
    command
        .args([
            "metadata", "ingest", "--kind", "cobol", "--sink", "bigquery", "--source",
        ])
        .arg(&books);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for said in [
        SERVICE_ACCOUNT,
        "BigQuery Data Editor on dataset analytics-prod:catalogue",
        "BigQuery Job User on project analytics-prod",
        "bigquery.jobs.create",
    ] {
        assert!(stderr.contains(said), "{said:?} not in {stderr}");
    }
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert_eq!(
        errors[0].matches(SERVICE_ACCOUNT).count(),
        1,
        "said once: {}",
        errors[0]
    );
    assert!(!stderr.contains("WARN"), "nothing else to say: {stderr}");
}

#[tokio::test]
async fn a_failed_load_job_fails_the_run_with_bigquerys_reason_and_applies_nothing() {
    let world = World::new().await;
    let books = world.books();
    std::fs::write(books.join("ledger.cpy"), copybook(10, 0)).unwrap();
    world.fake.knobs.fail_load.store(true, Ordering::SeqCst);
    let error = world.run(&books).await.expect_err("the load failed").to_string();
    assert!(error.contains("invalid"), "{error}");
    assert!(error.contains("JSON table encountered too many errors"), "{error}");
    assert!(error.contains("job intake_"), "the job is named: {error}");
    assert!(world.fake.rows("source_metadata").is_empty(), "nothing was merged");
    assert!(
        !world
            .fake
            .table_names()
            .iter()
            .any(|t| t.starts_with("_intake_staging_")),
        "the staging table is dropped"
    );
    let log = world.fake.rows("ingestion_log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "failed");
}

#[tokio::test]
async fn a_run_that_died_before_its_merge_left_nothing_applied_and_the_next_run_cleans_up() {
    let world = World::new().await;
    let books = world.books();
    std::fs::write(books.join("ledger.cpy"), copybook(10, 0)).unwrap();
    world.run(&books).await.expect("a first run");
    // What a worker killed after its load and before its MERGE leaves: a staging table full
    // of rows, seven hours old, and a target table that never saw them.
    let stale = "_intake_staging_0192f0c15a5e7c3e8f00000000000001".to_owned();
    let mut rows = world.fake.rows("source_metadata");
    for row in &mut rows {
        row.insert("name".into(), "NEVER-MERGED".into());
    }
    world.fake.tables.lock().unwrap().insert(
        stale.clone(),
        Table {
            schema: serde_json::to_value(intake::bigquery::tables::staging_schema()).unwrap(),
            clustering: None,
            rows,
            created_ms: chrono::Utc::now().timestamp_millis() - 7 * 3600 * 1000,
        },
    );
    let before = world.fake.rows("source_metadata");

    let next = world.run(&books).await.expect("the next run");
    assert_eq!(next.figures.changes.unchanged, 11);
    assert!(
        !world.fake.table_names().contains(&stale),
        "the dead run's staging table is dropped"
    );
    assert_eq!(
        world.fake.rows("source_metadata"),
        before,
        "nothing of the dead run was applied"
    );
}

#[tokio::test]
async fn a_table_with_another_schema_is_a_clear_error_and_is_left_as_it_is() {
    let world = World::new().await;
    let books = world.books();
    std::fs::write(books.join("ledger.cpy"), copybook(10, 0)).unwrap();
    let foreign = serde_json::json!({"fields": [
        {"name": "id", "type": "STRING", "mode": "REQUIRED"},
        {"name": "payload", "type": "STRING", "mode": "NULLABLE"},
    ]});
    world.fake.tables.lock().unwrap().insert(
        "source_metadata".into(),
        Table {
            schema: foreign.clone(),
            clustering: None,
            rows: Vec::new(),
            created_ms: 0,
        },
    );
    let error = world.run(&books).await.expect_err("refused").to_string();
    assert!(error.contains("analytics-prod:catalogue.source_metadata"), "{error}");
    assert!(error.contains("no column semantic_path"), "{error}");
    assert!(error.contains("an extra column payload"), "{error}");
    assert_eq!(world.fake.tables.lock().unwrap()["source_metadata"].schema, foreign);
}

#[tokio::test]
async fn the_requests_of_a_run_do_not_grow_with_its_records() {
    let mut seen = Vec::new();
    for fields in [10, 5_000] {
        let world = World::new().await;
        let books = world.books();
        std::fs::write(books.join("ledger.cpy"), copybook(fields, 0)).unwrap();
        let report = world.run(&books).await.expect("a run");
        // The record's own row is cut in chunks past 16 KiB: rows, not records, are counted.
        assert_eq!(report.figures.records_seen, fields as u64 + 1);
        assert_eq!(
            world.fake.rows("source_metadata").len() as u64,
            report.figures.changes.inserted
        );
        let requests = world.requests().len();
        let bytes = world.fake.seen.bytes_up.load(Ordering::SeqCst);
        println!("{} records: {requests} requests, {bytes} bytes up", fields + 1);
        seen.push(requests);
    }
    assert_eq!(seen[0], seen[1], "as many requests for 5,001 records as for 11");
}

#[tokio::test]
async fn a_queued_metadata_task_goes_to_bigquery_and_a_denied_one_is_dead_lettered_with_what_to_grant() {
    let world = World::new().await;
    let books = world.books();
    std::fs::write(books.join("ledger.cpy"), copybook(10, 0)).unwrap();
    let worker = world.env.worker().await;
    let task = |source: &Path| crate::metadata_queue::task(Kind::Cobol, source);
    let good = task(&books);
    world
        .env
        .queue
        .enqueue_task(&QueuedTask::Metadata(good.clone()))
        .await
        .unwrap();
    let result = world.env.result(good.task_id, Duration::from_secs(60)).await;
    assert_eq!(result.status, TaskStatus::Completed, "{result:?}");
    assert_eq!(result.metadata.unwrap().figures.changes.inserted, 11);
    let log = world.fake.rows("ingestion_log");
    assert_eq!(log[0]["task_id"], Value::from(good.task_id.to_string()));

    world.fake.knobs.deny.store(true, Ordering::SeqCst);
    let denied = task(&books);
    world
        .env
        .queue
        .enqueue_task(&QueuedTask::Metadata(denied.clone()))
        .await
        .unwrap();
    let result = world.env.result(denied.task_id, Duration::from_secs(60)).await;
    assert_eq!(result.status, TaskStatus::DeadLettered);
    let letter = world
        .env
        .queue
        .dlq_show(&denied.task_id.to_string())
        .await
        .unwrap()
        .expect("filed");
    assert!(letter.reason.contains(SERVICE_ACCOUNT), "{}", letter.reason);
    assert_eq!(letter.errors.len(), 1, "a refusal is not retried");
    worker.stop().await;
}

/// The figures of `docs/performance.md`: requests and bytes for a run of 100,000 records.
/// `cargo nextest run --run-ignored only -E 'test(a_run_of_100k_records)' --success-output immediate`
#[tokio::test]
#[ignore = "a measurement: run it for docs/performance.md"]
async fn a_run_of_100k_records_goes_up_in_a_load_job_per_64_mb() {
    let world = World::new().await;
    let books = world.books();
    for book in 0..100 {
        std::fs::write(books.join(format!("ledger{book:03}.cpy")), copybook(999, 0)).unwrap();
    }
    let started = std::time::Instant::now();
    let report = world.run(&books).await.expect("a run");
    let requests = world.requests();
    let bytes = world.fake.seen.bytes_up.load(Ordering::SeqCst);
    assert_eq!(report.figures.records_seen, 100_000);
    let loads = requests.iter().filter(|r| *r == "POST upload/jobs").count();
    println!(
        "{} records, {} rows: {} requests ({loads} load jobs), {bytes} bytes up ({} per record), {:.1} s",
        report.figures.records_seen,
        report.figures.changes.inserted,
        requests.len(),
        bytes / 100_000,
        started.elapsed().as_secs_f64()
    );
    assert!(
        loads <= 1 + bytes.div_ceil(64 << 20),
        "one load job per 64 MB of records, one for the log row: {loads}"
    );
}
