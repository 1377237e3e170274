//! `intake metadata`: technical artifacts into the metadata record family — ingest a file or a
//! directory here (or compare it, `--dry-run`), enqueue the same for a worker, list the runs,
//! show a record.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use intake::bigquery::BigQuery;
use intake::metadata::{RunError, RunRequest, Sink};
use intake::settings::{Secrets, Settings, SinkKind};
use intake::store::metadata as store;
use intake_actors::domain::TaskId;
use intake_actors::envelope::QueuedTask;
use intake_actors::metadata::{Kind, MetadataTask, RunFigures, RunReport};

use super::QueueArgs;

#[derive(Debug, Subcommand)]
pub enum MetadataAction {
    /// Read artifacts of one kind from a file or a directory into the metadata records.
    Ingest(IngestArgs),
    /// Put the same run on the queue for a worker (its path must be inside the worker's
    /// sources.allowed_dirs).
    Enqueue(EnqueueArgs),
    /// One record, by its id or its semantic path (`cobol:account.cpy#ACCOUNT/BALANCE`).
    Show {
        /// The record's id or semantic path.
        key: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The latest runs, newest first.
    Runs {
        /// Show at most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// What a run reads.
#[derive(Debug, Args)]
pub struct Selection {
    /// The kind of artifact: cobol (copybooks), k8s (manifests, YAML or JSON), fastapi (a
    /// project directory, read statically), irs (record layouts: delimited, publication text,
    /// tables in code), mumps (FileMan data dictionaries: KIDS builds, ZWR exports of ^DD).
    #[arg(long, value_parser = parse_kind)]
    pub kind: Kind,
    /// A file, or a directory of them.
    #[arg(long, value_name = "PATH|DIR")]
    pub source: PathBuf,
    /// The source's name in semantic paths (default: each file's path relative to --source).
    #[arg(long)]
    pub name: Option<String>,
    /// Also read the directory's subdirectories (always, for a FastAPI project).
    #[arg(long)]
    pub recursive: bool,
    /// Read only files whose path under --source (or name) matches; `*`, `?`, `**`; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip files whose path under --source (or name) matches; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Where COPY members are found (NAME, NAME.cpy, NAME.cob, NAME.cbl); repeatable.
    #[arg(long, value_name = "DIR")]
    pub copylib: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Compare with what is stored and say what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where the records go: postgres or bigquery (default: metadata.sink).
    #[arg(long, value_parser = parse_sink)]
    pub sink: Option<SinkKind>,
    /// Print the run's figures as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    #[command(flatten)]
    pub selection: Selection,
    #[command(flatten)]
    pub queue: QueueArgs,
}

fn parse_sink(text: &str) -> Result<SinkKind, String> {
    match text {
        "postgres" => Ok(SinkKind::Postgres),
        "bigquery" => Ok(SinkKind::Bigquery),
        other => Err(format!("unknown sink {other:?} (postgres, bigquery)")),
    }
}

fn parse_kind(text: &str) -> Result<Kind, String> {
    Kind::parse(text).ok_or_else(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(Kind::as_str).collect();
        format!("unknown kind {text:?} (known: {})", known.join(", "))
    })
}

pub async fn run(settings: &Settings, secrets: &Secrets, action: MetadataAction) -> anyhow::Result<ExitCode> {
    let connect = || super::connect_db(settings, secrets);
    match action {
        MetadataAction::Enqueue(args) => enqueue(settings, secrets, args).await,
        MetadataAction::Ingest(args) => {
            let sink = match args.sink.unwrap_or(settings.metadata.sink) {
                SinkKind::Postgres => Sink::Postgres(connect().await?),
                SinkKind::Bigquery => Sink::BigQuery(Arc::new(
                    BigQuery::new(&settings.bigquery).map_err(|e| anyhow::anyhow!("{e}"))?,
                )),
            };
            ingest(&sink, args, settings.metadata.parse_limit()).await
        }
        MetadataAction::Show { key, json } => {
            let pool = connect().await?;
            let Some(record) = store::show(&pool, &key).await? else {
                bail!("no metadata record {key}");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                let lines = match (record.line_start, record.line_end) {
                    (Some(a), Some(b)) => format!(" (lines {a}-{b})"),
                    _ => String::new(),
                };
                println!("{}  {}", record.record_kind, record.semantic_path);
                println!("id        {}", record.id);
                println!("name      {}", record.name);
                println!("type      {}", record.data_type.as_deref().unwrap_or("-"));
                if let Some(deleted) = record.deleted_at {
                    println!(
                        "deleted   {} (gone from its source)",
                        deleted.format("%Y-%m-%d %H:%M:%S UTC")
                    );
                }
                println!("attributes {}", serde_json::to_string_pretty(&record.attributes)?);
                if let Some(content) = &record.content {
                    println!("source{lines}:\n{content}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        MetadataAction::Runs { limit, json } => {
            let pool = connect().await?;
            let runs = store::runs(&pool, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                print_runs(&runs);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn ingest(sink: &Sink, args: IngestArgs, parse_limit: Duration) -> anyhow::Result<ExitCode> {
    let s = args.selection;
    let request = RunRequest {
        kind: s.kind,
        source: s.source,
        name: s.name,
        recursive: s.recursive,
        include: s.include,
        exclude: s.exclude,
        copylib: s.copylib,
        dry_run: args.dry_run,
        task_id: None,
        confined_to: None,
        parse_limit,
    };
    let progress = TerminalProgress::new();
    let report = intake::metadata::run(sink, &request, &|figures, files| progress.show(figures, files)).await;
    progress.clear();
    let report = match report {
        Ok(report) => report,
        Err(RunError::Request(message)) => bail!(message),
        Err(RunError::Sink(e)) => return Err(e).context("writing the metadata records"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let c = report.figures.changes;
        let verb = if report.dry_run { "would be" } else { "were" };
        println!(
            "{} files, {} records: {} {verb} inserted, {} updated, {} deleted; {} unchanged",
            report.figures.files_seen, report.figures.records_seen, c.inserted, c.updated, c.deleted, c.unchanged
        );
    }
    Ok(report_exit(&report))
}

/// A run's progress on one line of stderr, redrawn at most ten times a second, when stderr
/// is a terminal (never in a pipe or a log).
struct TerminalProgress {
    started: Instant,
    last: Mutex<Option<Instant>>,
    on: bool,
}

impl TerminalProgress {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last: Mutex::new(None),
            on: std::io::stderr().is_terminal(),
        }
    }

    fn show(&self, figures: &RunFigures, files: usize) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let done = figures.files_seen as usize == files;
        if !self.on || (!done && last.is_some_and(|at| at.elapsed() < Duration::from_millis(100))) {
            return;
        }
        *last = Some(Instant::now());
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        eprint!(
            "\r\x1b[2K{}/{files} files · {} records · {} refused · {:.0} records/s",
            figures.files_seen,
            figures.records_seen,
            figures.files_rejected,
            figures.records_seen as f64 / seconds
        );
    }

    fn clear(&self) {
        if self.on && self.last.lock().is_ok_and(|last| last.is_some()) {
            eprint!("\r\x1b[2K");
        }
    }
}

/// On stderr whatever the format (stdout stays the report alone); exit 3 when a file was refused.
fn report_exit(report: &RunReport) -> ExitCode {
    for r in &report.rejected {
        let line = r.line.map(|l| format!(" line {l}")).unwrap_or_default();
        eprintln!("rejected {}{line}: {} ({})", r.source_name, r.message, r.error_class);
    }
    if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::TASK_FAILED)
    }
}

/// A path as the worker will read it: absolute, so it means the same wherever the worker runs.
fn absolute(path: &Path) -> anyhow::Result<String> {
    let path = std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    path.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not valid UTF-8", path.display()))
}

async fn enqueue(settings: &Settings, secrets: &Secrets, args: EnqueueArgs) -> anyhow::Result<ExitCode> {
    let s = args.selection;
    let enqueued_at = chrono::Utc::now();
    let task = MetadataTask {
        task_id: TaskId::new(),
        kind: s.kind,
        source: absolute(&s.source)?,
        name: s.name,
        recursive: s.recursive,
        include: s.include,
        exclude: s.exclude,
        copylib: s.copylib.iter().map(|p| absolute(p)).collect::<anyhow::Result<_>>()?,
        retry_count: 0,
        max_retries: args.queue.max_retries.unwrap_or(settings.retry.max_retries),
        enqueued_at,
        expires_at: args
            .queue
            .expires_in
            .map(|d| enqueued_at + chrono::Duration::from_std(d).unwrap_or_default()),
        traceparent: args.queue.traceparent,
        errors: Vec::new(),
    };
    task.validate().map_err(anyhow::Error::msg)?;
    let task_id = task.task_id;
    let queue = super::connect_queue(settings, secrets).await?;
    queue
        .enqueue_task(&QueuedTask::Metadata(task))
        .await
        .context("enqueueing the task")?;
    if !args.queue.wait {
        println!("{task_id}");
        return Ok(ExitCode::SUCCESS);
    }
    // stdout carries the result alone, so `--wait | jq` works; the id goes beside it.
    eprintln!("task {task_id} enqueued; waiting for its result");
    if queue.live_workers().await.unwrap_or(1) == 0 {
        eprintln!(
            "no worker is running: the task waits in the queue until one starts (`intake worker`); \
             follow it later with `intake metadata runs`"
        );
    }
    let Some(result) = queue.wait_result(task_id, args.queue.timeout).await? else {
        bail!(
            "no result for task {task_id} within {}s; it may still be queued or running: follow it with `intake metadata runs`",
            args.queue.timeout.as_secs()
        );
    };
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(match &result.metadata {
        Some(report) if result.status.is_success() => report_exit(report),
        _ => {
            if let Some(error) = &result.error {
                eprintln!("error: {error}");
            }
            ExitCode::from(super::TASK_FAILED)
        }
    })
}

/// Runs as `intake metadata runs` and `intake task show` print them, one line each.
pub(super) fn print_runs(runs: &[store::Run]) {
    for r in runs {
        let task = r.task_id.map(|t| format!("  task {t}")).unwrap_or_default();
        println!(
            "{}  {}  {:<6} {:<22} {:>4} files ({} rejected)  {:>7} records: +{} ~{} ={} -{}  {}{task}",
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.run_id,
            r.kind,
            r.status,
            r.files_seen,
            r.files_rejected,
            r.records_seen,
            r.records_inserted,
            r.records_updated,
            r.records_unchanged,
            r.records_deleted,
            r.source
        );
    }
}
