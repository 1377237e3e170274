//! intake's benchmark: a plain `COPY` of a price list into the indexed `supplier_items` table,
//! and intake ingesting the same list through Redis and a worker, side by side in one run on
//! one machine — first load, re-ingest with 10% of prices changed, an .xlsx list, the latency
//! of small tasks on an idle worker, and the throughput of a stream of small tasks.
//!
//! Needs DATABASE_URL (a server URL; the database `intake_bench` is recreated for each case)
//! and REDIS_URL (keys under the prefix `intake-bench`). Run through `bench/run.sh`.

mod generate;
mod takeover;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use intake::queue::RedisQueue;
use intake::settings::{SecretUrl, Settings};
use intake::store::MIGRATOR;
use intake_actors::domain::{ParserType, SourceConfig, SupplierName, TaskId, TaskMessage, TaskResult, TaskStatus};
use serde::Serialize;
use sqlx::{Connection, PgConnection};

#[derive(Debug, Parser)]
struct Args {
    /// Sizes of the price lists, in rows.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    rows: Vec<usize>,
    /// Also ingest each list as an .xlsx workbook.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    xlsx: bool,
    /// Small tasks for the latency and throughput runs.
    #[arg(long, default_value_t = 1000)]
    tasks: usize,
    /// The intake binary under test.
    #[arg(long, default_value = "target/release/intake")]
    intake: PathBuf,
    /// Where generated lists and worker logs go.
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,
    /// Workers killed mid-task, to time how soon another takes their task over.
    #[arg(long, default_value_t = 10)]
    takeovers: usize,
    /// Write the figures as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

const DATABASE: &str = "intake_bench";
const PREFIX: &str = "intake-bench";

struct Env {
    server: String,
    redis: String,
    intake: PathBuf,
    dir: PathBuf,
}

impl Env {
    fn db_url(&self) -> String {
        let base = self.server.rsplit_once('/').map_or(self.server.as_str(), |(b, _)| b);
        format!("{base}/{DATABASE}")
    }

    /// An empty, migrated database.
    async fn fresh_database(&self) -> anyhow::Result<PgConnection> {
        let mut admin = PgConnection::connect(&self.server)
            .await
            .context("connecting to DATABASE_URL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
            .execute(&mut admin)
            .await?;
        let mut db = PgConnection::connect(&self.db_url()).await?;
        MIGRATOR.run(&mut db).await?;
        Ok(db)
    }

    fn settings(&self) -> anyhow::Result<Settings> {
        let env = [("INTAKE__QUEUE__KEY_PREFIX".to_owned(), PREFIX.to_owned())]
            .into_iter()
            .collect();
        Ok(Settings::load_with_env(None, Some(env))?)
    }

    async fn queue(&self) -> anyhow::Result<RedisQueue> {
        let settings = self.settings()?;
        let queue = RedisQueue::connect(&SecretUrl::new(self.redis.clone()), &settings.queue, &settings.redis).await?;
        queue.delete_all().await?;
        queue.ensure_group().await?;
        Ok(queue)
    }

    /// Starts `intake worker` and waits until it takes tasks.
    fn worker(&self, name: &str) -> anyhow::Result<Worker> {
        self.worker_with(name, &[])
    }

    /// As [`Env::worker`], with extra environment.
    fn worker_with(&self, name: &str, extra: &[(&str, &str)]) -> anyhow::Result<Worker> {
        let log = self.dir.join(format!("worker-{name}.log"));
        let child = Command::new(&self.intake)
            .arg("worker")
            .env("DATABASE_URL", self.db_url())
            .env("REDIS_URL", &self.redis)
            .env("INTAKE__QUEUE__KEY_PREFIX", PREFIX)
            .env("INTAKE__SOURCES__ALLOWED_DIRS", &self.dir)
            .env("INTAKE__LOG__FORMAT", "json")
            .env("INTAKE__LOG__LEVEL", "info")
            // Workers of the benchmark come and go quickly: no port to contend for.
            .env("INTAKE__HTTP__BIND", "127.0.0.1:0")
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", self.intake.display()))?;
        let worker = Worker { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !worker.log_text().contains("worker started") {
            if Instant::now() > deadline {
                bail!("the worker did not start:\n{}", worker.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(worker)
    }
}

struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Peak resident memory so far, in MB.
    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// The phase timings the worker logged for a task.
    fn phases(&self, task: TaskId) -> serde_json::Value {
        let id = task.to_string();
        let mut phases = serde_json::Map::new();
        for line in self.log_text().lines().filter(|l| l.contains(&id)) {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if let Some(fields) = entry["fields"].as_object() {
                for (k, v) in fields {
                    if k.ends_with("_ms") {
                        phases.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        serde_json::Value::Object(phases)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn message(supplier: &str, parser: &str, path: &Path, force: bool) -> anyhow::Result<TaskMessage> {
    Ok(TaskMessage {
        task_id: TaskId::new(),
        parser_type: ParserType::new(parser)?,
        supplier_name: SupplierName::new(supplier)?,
        source_config: SourceConfig {
            path: Some(path.display().to_string()),
            ..Default::default()
        },
        retry_count: 0,
        max_retries: 0,
        enqueued_at: chrono::Utc::now(),
        list_date: None,
        expires_at: None,
        force,
        traceparent: None,
        errors: Vec::new(),
    })
}

/// Enqueues a task and waits for it; returns the result and the seconds it took.
async fn run(queue: &RedisQueue, message: &TaskMessage) -> anyhow::Result<(TaskResult, f64)> {
    let started = Instant::now();
    queue.enqueue(message).await?;
    let result = queue
        .wait_result(message.task_id, Duration::from_secs(3600))
        .await?
        .context("no result")?;
    let seconds = started.elapsed().as_secs_f64();
    if result.status != TaskStatus::Completed {
        bail!("task {} ended {}: {:?}", message.task_id, result.status, result.error);
    }
    Ok((result, seconds))
}

async fn wal_lsn(db: &mut PgConnection) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
            .fetch_one(db)
            .await?,
    )
}

#[derive(Debug, Default, Serialize)]
struct SizeReport {
    rows: usize,
    csv_mb: f64,
    copy_rows_per_s: f64,
    first_load_rows_per_s: f64,
    first_load_ratio: f64,
    first_load_phases: serde_json::Value,
    reingest_rows_per_s: f64,
    reingest_ratio: f64,
    reingest_price_changes: u64,
    reingest_wal_mb: f64,
    first_load_wal_mb: f64,
    reingest_phases: serde_json::Value,
    csv_peak_rss_mb: f64,
    xlsx_mb: Option<f64>,
    xlsx_rows_per_s: Option<f64>,
    xlsx_peak_rss_mb: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    date: String,
    machine: String,
    sizes: Vec<SizeReport>,
    latency_tasks: usize,
    start_latency_ms_p50: f64,
    start_latency_ms_p99: f64,
    start_latency_ms_max: f64,
    stream_tasks_per_s: f64,
    takeover_s: Vec<f64>,
}

async fn reference_copy(env: &Env, rows: usize) -> anyhow::Result<f64> {
    let mut db = env.fresh_database().await?;
    let supplier: uuid::Uuid = sqlx::query_scalar("INSERT INTO suppliers (name) VALUES ('Reference') RETURNING id")
        .fetch_one(&mut db)
        .await?;
    let chunks = generate::copy_text(supplier, rows);
    let started = Instant::now();
    let mut copy = db
        .copy_in_raw("COPY supplier_items (supplier_id, supplier_sku, name, current_price, characteristics) FROM STDIN")
        .await?;
    for chunk in &chunks {
        copy.send(chunk.as_slice()).await?;
    }
    let copied = copy.finish().await?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(copied as usize == rows, "COPY stored {copied} of {rows} rows");
    Ok(rows as f64 / seconds)
}

async fn size(env: &Env, rows: usize, xlsx: bool) -> anyhow::Result<SizeReport> {
    let v1 = env.dir.join(format!("list-{rows}.csv"));
    let v2 = env.dir.join(format!("list-{rows}-changed.csv"));
    let csv_bytes = generate::write_csv(&v1, rows, 0)?;
    generate::write_csv(&v2, rows, 10)?;
    let mut report = SizeReport {
        rows,
        csv_mb: csv_bytes as f64 / 1e6,
        ..Default::default()
    };

    report.copy_rows_per_s = reference_copy(env, rows).await?;
    eprintln!("  plain COPY: {:.0} rows/s", report.copy_rows_per_s);

    let mut db = env.fresh_database().await?;
    let queue = env.queue().await?;
    let worker = env.worker(&format!("csv-{rows}"))?;
    let wal = wal_lsn(&mut db).await?;
    let first = message("Bench", "csv", &v1, false)?;
    let (result, seconds) = run(&queue, &first).await?;
    report.first_load_wal_mb = (wal_lsn(&mut db).await? - wal) as f64 / 1e6;
    report.first_load_rows_per_s = result.counts.rows_seen as f64 / seconds;
    report.first_load_ratio = report.first_load_rows_per_s / report.copy_rows_per_s;
    report.first_load_phases = worker.phases(first.task_id);
    eprintln!(
        "  intake first load: {:.0} rows/s ({:.2}×)",
        report.first_load_rows_per_s, report.first_load_ratio
    );

    let wal = wal_lsn(&mut db).await?;
    let second = message("Bench", "csv", &v2, false)?;
    let (result, seconds) = run(&queue, &second).await?;
    report.reingest_wal_mb = (wal_lsn(&mut db).await? - wal) as f64 / 1e6;
    report.reingest_rows_per_s = result.counts.rows_seen as f64 / seconds;
    report.reingest_ratio = report.reingest_rows_per_s / report.copy_rows_per_s;
    report.reingest_price_changes = result.counts.price_changes;
    report.reingest_phases = worker.phases(second.task_id);
    report.csv_peak_rss_mb = worker.peak_rss_mb();
    eprintln!(
        "  intake re-ingest: {:.0} rows/s ({:.2}×)",
        report.reingest_rows_per_s, report.reingest_ratio
    );
    drop(worker);

    if xlsx {
        let path = env.dir.join(format!("list-{rows}.xlsx"));
        let bytes = generate::write_xlsx(&path, rows)?;
        env.fresh_database().await?;
        let queue = env.queue().await?;
        let worker = env.worker(&format!("xlsx-{rows}"))?;
        let task = message("Bench", "xlsx", &path, false)?;
        let (result, seconds) = run(&queue, &task).await?;
        report.xlsx_mb = Some(bytes as f64 / 1e6);
        report.xlsx_rows_per_s = Some(result.counts.rows_seen as f64 / seconds);
        report.xlsx_peak_rss_mb = Some(worker.peak_rss_mb());
        eprintln!("  intake xlsx: {:.0} rows/s", result.counts.rows_seen as f64 / seconds);
    }
    Ok(report)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Small tasks one at a time on an idle worker: from enqueue to the task's start.
async fn latency(env: &Env, tasks: usize) -> anyhow::Result<Vec<f64>> {
    let mut db = env.fresh_database().await?;
    let queue = env.queue().await?;
    let files: Vec<PathBuf> = (0..tasks)
        .map(|i| {
            let path = env.dir.join(format!("small-{i}.csv"));
            std::fs::write(&path, format!("SKU,Name,Price\nL-{i},Item {i},{i}.50\n"))?;
            Ok(path)
        })
        .collect::<std::io::Result<_>>()?;
    let _worker = env.worker("latency")?;
    let mut latencies = Vec::with_capacity(tasks);
    for (i, path) in files.iter().enumerate() {
        let task = message(&format!("Latency {i}"), "csv", path, false)?;
        run(&queue, &task).await?;
        let started: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("SELECT started_at FROM task_runs WHERE task_id = $1")
                .bind(task.task_id.as_uuid())
                .fetch_one(&mut db)
                .await?;
        latencies.push((started - task.enqueued_at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Many small tasks at once: how many the worker finishes per second.
async fn stream(env: &Env, tasks: usize) -> anyhow::Result<f64> {
    env.fresh_database().await?;
    let queue = env.queue().await?;
    let mut messages = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let path = env.dir.join(format!("stream-{i}.csv"));
        let mut csv = String::from("SKU,Name,Price,Color\n");
        for r in 0..100 {
            csv.push_str(&format!("S-{r},Item {r} of {i},{}.{:02},red\n", 1 + r, i % 100));
        }
        std::fs::write(&path, csv)?;
        messages.push(message(&format!("Stream {}", i % 50), "csv", &path, true)?);
    }
    let _worker = env.worker("stream")?;
    let started = Instant::now();
    for m in &messages {
        queue.enqueue(m).await?;
    }
    for m in &messages {
        let result = queue
            .wait_result(m.task_id, Duration::from_secs(600))
            .await?
            .context("no result")?;
        anyhow::ensure!(result.status == TaskStatus::Completed, "{result:?}");
    }
    Ok(tasks as f64 / started.elapsed().as_secs_f64())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {:.0} GiB memory", mem_kb as f64 / 1_048_576.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let env = Env {
        server: std::env::var("DATABASE_URL").context("DATABASE_URL (a PostgreSQL server URL) is not set")?,
        redis: std::env::var("REDIS_URL").context("REDIS_URL is not set")?,
        intake: args.intake.clone(),
        dir,
    };
    let mut report = Report {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        machine: machine(),
        latency_tasks: args.tasks,
        ..Default::default()
    };
    for &rows in &args.rows {
        eprintln!("{rows} rows");
        report.sizes.push(size(&env, rows, args.xlsx).await?);
    }
    if args.tasks > 0 {
        let latencies = latency(&env, args.tasks).await?;
        report.start_latency_ms_p50 = percentile(&latencies, 50.0);
        report.start_latency_ms_p99 = percentile(&latencies, 99.0);
        report.start_latency_ms_max = latencies.last().copied().unwrap_or(0.0);
        report.stream_tasks_per_s = stream(&env, args.tasks).await?;
    }

    if args.takeovers > 0 {
        report.takeover_s = takeover::takeover(&env, args.takeovers).await?;
    }

    println!("intake benchmark — {} — {}", report.date, report.machine);
    println!();
    println!(
        "| rows | plain COPY rows/s | first load rows/s | ratio | re-ingest rows/s | ratio | WAL first/re-ingest MB | peak RSS MB | xlsx rows/s | xlsx peak RSS MB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in &report.sizes {
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0} / {:.0} | {:.0} | {} | {} |",
            s.rows,
            s.copy_rows_per_s,
            s.first_load_rows_per_s,
            s.first_load_ratio,
            s.reingest_rows_per_s,
            s.reingest_ratio,
            s.first_load_wal_mb,
            s.reingest_wal_mb,
            s.csv_peak_rss_mb,
            s.xlsx_rows_per_s.map_or("—".into(), |r| format!("{r:.0}")),
            s.xlsx_peak_rss_mb.map_or("—".into(), |r| format!("{r:.0}")),
        );
    }
    for s in &report.sizes {
        println!();
        println!("{} rows, first load phases (ms): {}", s.rows, s.first_load_phases);
        println!("{} rows, re-ingest phases (ms): {}", s.rows, s.reingest_phases);
    }
    if args.tasks > 0 {
        println!();
        println!(
            "{} small tasks, enqueue → start: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            report.latency_tasks, report.start_latency_ms_p50, report.start_latency_ms_p99, report.start_latency_ms_max
        );
        println!(
            "{} tasks of 100 rows at once: {:.0} tasks/s",
            args.tasks, report.stream_tasks_per_s
        );
    }
    if !report.takeover_s.is_empty() {
        println!();
        println!(
            "{} workers killed mid-task, kill → takeover: p50 {:.1} s, p99 {:.1} s, max {:.1} s",
            report.takeover_s.len(),
            percentile(&report.takeover_s, 50.0),
            percentile(&report.takeover_s, 99.0),
            report.takeover_s.last().copied().unwrap_or(0.0)
        );
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
