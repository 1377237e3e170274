//! The story of tasks without SQL: `intake task show|list`, `intake rejects`, `intake prices`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use intake::settings::{Secrets, Settings};
use intake::store::{self, TaskFilter, TaskRecord};
use intake_actors::domain::report::ReadReport;
use intake_actors::domain::{TaskId, TaskStatus};

#[derive(Debug, Subcommand)]
pub enum TaskAction {
    /// One task's story: source, status, attempts, timings, counts, errors and how its source
    /// was read.
    Show {
        /// The task's id.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Recent tasks, newest first.
    List {
        /// Only this supplier's tasks.
        #[arg(long)]
        supplier: Option<String>,
        /// Only tasks in this state: running, completed, skipped_duplicate, superseded,
        /// retry_scheduled or dead_lettered.
        #[arg(long, value_parser = parse_status)]
        status: Option<TaskStatus>,
        /// Show at most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Whose rejected rows to show.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RejectsOf {
    /// One task's.
    #[arg(long)]
    pub task: Option<String>,
    /// The supplier's last completed task's.
    #[arg(long)]
    pub supplier: Option<String>,
}

#[derive(Debug, Args)]
pub struct RejectsArgs {
    #[command(flatten)]
    pub of: RejectsOf,
    /// Show at most this many.
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
    /// Print CSV (row, error type, message, the row's cells as JSON), like a reject file.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PricesArgs {
    /// The supplier's name.
    #[arg(long)]
    pub supplier: String,
    /// Changes since this date or time (2026-11-22, an RFC 3339 time); default: the last 30 days.
    #[arg(long, value_name = "DATE", value_parser = intake_actors::domain::parse_list_date)]
    pub since: Option<DateTime<Utc>>,
    /// Show at most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_status(text: &str) -> Result<TaskStatus, String> {
    serde_json::from_value(serde_json::Value::String(text.trim().to_owned())).map_err(|_| {
        format!(
            "{text:?} is not a task status (running, completed, skipped_duplicate, superseded, retry_scheduled, dead_lettered)"
        )
    })
}

fn task_id(text: &str) -> anyhow::Result<TaskId> {
    text.parse().with_context(|| format!("{text:?} is not a task id"))
}

pub async fn task(settings: &Settings, secrets: &Secrets, action: TaskAction) -> anyhow::Result<ExitCode> {
    let pool = super::connect_db(settings, secrets).await?;
    match action {
        TaskAction::Show { id, json } => {
            let task = task_id(&id)?;
            let Some(record) = store::find_task(&pool, task).await? else {
                // A metadata task's story is its runs.
                let runs = store::metadata::runs_of_task(&pool, task.as_uuid()).await?;
                if runs.is_empty() {
                    bail!("no task {id} on record");
                }
                if json {
                    println!("{}", serde_json::to_string_pretty(&runs)?);
                } else {
                    super::metadata::print_runs(&runs);
                }
                return Ok(ExitCode::SUCCESS);
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                print!("{}", render_task(&record));
            }
        }
        TaskAction::List {
            supplier,
            status,
            limit,
            json,
        } => {
            let filter = TaskFilter {
                supplier,
                status,
                limit,
            };
            let records = store::tasks(&pool, &filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&records)?);
            } else if records.is_empty() {
                eprintln!("no tasks on record");
            } else {
                println!(
                    "{:<36}  {:<19}  {:<17}  {:>8} {:>8} {:>8}  supplier",
                    "task", "started (UTC)", "status", "stored", "rejected", "changed"
                );
                for r in &records {
                    println!(
                        "{:<36}  {:<19}  {:<17}  {:>8} {:>8} {:>8}  {}",
                        r.task_id,
                        r.started_at.format("%Y-%m-%d %H:%M:%S"),
                        r.status,
                        r.rows_stored,
                        r.rows_rejected,
                        r.price_changes,
                        r.supplier_name
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A task record as an operator reads it in a terminal.
pub fn render_task(r: &TaskRecord) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "task      {}", r.task_id);
    let _ = writeln!(out, "supplier  {}", r.supplier_name);
    let _ = writeln!(out, "source    {} ({})", r.source, r.parser_type);
    let _ = writeln!(out, "status    {} (attempt {})", r.status, r.attempt);
    let finished = r.finished_at.map_or("-".to_owned(), |f| {
        format!(
            "{} UTC, {:.1} s",
            f.format("%Y-%m-%d %H:%M:%S"),
            (f - r.started_at).num_milliseconds() as f64 / 1000.0
        )
    });
    let _ = writeln!(out, "started   {} UTC", r.started_at.format("%Y-%m-%d %H:%M:%S"));
    let _ = writeln!(out, "finished  {finished}");
    let _ = writeln!(
        out,
        "rows      {} seen, {} stored, {} rejected",
        r.rows_seen, r.rows_stored, r.rows_rejected
    );
    let _ = writeln!(
        out,
        "items     {} new, {} changed, {} unchanged; {} price changes; {} disappeared, {} returned",
        r.items_created, r.items_updated, r.items_unchanged, r.price_changes, r.items_disappeared, r.items_returned
    );
    if let Some(error) = &r.error {
        let _ = writeln!(out, "error     {error}");
    }
    if let Some(errors) = r.errors.as_array().filter(|e| !e.is_empty()) {
        let _ = writeln!(out, "attempts that failed:");
        for e in errors {
            let text = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let attempt = e.get("attempt").and_then(|v| v.as_u64()).unwrap_or(0);
            let _ = writeln!(
                out,
                "  {} #{attempt} {}: {}",
                text("at"),
                text("class"),
                text("message")
            );
        }
    }
    if let Some(decisions) = r
        .decisions
        .clone()
        .and_then(|d| serde_json::from_value::<ReadReport>(d).ok())
    {
        let _ = writeln!(out, "\nhow the source was read:");
        out.push_str(&decisions.render());
    }
    out
}

pub async fn rejects(settings: &Settings, secrets: &Secrets, args: RejectsArgs) -> anyhow::Result<ExitCode> {
    let pool = super::connect_db(settings, secrets).await?;
    let task = match (&args.of.task, &args.of.supplier) {
        (Some(id), _) => task_id(id)?.as_uuid(),
        (None, Some(name)) => match store::last_completed_task(&pool, name).await? {
            Some(task) => task,
            None => bail!("supplier {name:?} has no completed task"),
        },
        (None, None) => bail!("name a --task or a --supplier"),
    };
    let rows = store::rejects_of_task(&pool, task, args.limit).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if args.csv {
        println!("row,error_type,message,row_data");
        for r in &rows {
            let data = r.row_data.as_ref().map(|d| d.to_string()).unwrap_or_default();
            let row = r.row_number.map(|n| n.to_string()).unwrap_or_default();
            println!(
                "{row},{},{},{}",
                csv_field(&r.error_type),
                csv_field(&r.error_message),
                csv_field(&data)
            );
        }
    } else if rows.is_empty() {
        eprintln!("task {task} rejected no rows");
    } else {
        eprintln!("rejected rows of task {task}:");
        for r in &rows {
            let row = r.row_number.map_or("-".to_owned(), |n| n.to_string());
            println!("  row {row:>6}  {:<18} {}", r.error_type, r.error_message);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A CSV field, quoted when it must be (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

pub async fn prices(settings: &Settings, secrets: &Secrets, args: PricesArgs) -> anyhow::Result<ExitCode> {
    let pool = super::connect_db(settings, secrets).await?;
    let since = args.since.unwrap_or_else(|| Utc::now() - chrono::Duration::days(30));
    let changes = store::price_changes(&pool, &args.supplier, since, args.limit).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&changes)?);
    } else if changes.is_empty() {
        eprintln!(
            "no price of {:?} changed since {}",
            args.supplier,
            since.format("%Y-%m-%d %H:%M UTC")
        );
    } else {
        for c in &changes {
            let percent = c.change_percent.as_deref().map_or("-".to_owned(), |p| format!("{p}%"));
            println!(
                "{}  {:<20} {:>12} → {:<12} {:>9}  {}",
                c.recorded_at.format("%Y-%m-%d %H:%M"),
                c.sku,
                c.old_price,
                c.new_price,
                percent,
                c.name
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_field("missing_price"), "missing_price");
        assert_eq!(
            csv_field("cannot read \"abc\", sorry"),
            "\"cannot read \"\"abc\"\", sorry\""
        );
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn statuses_parse_by_their_names() {
        assert_eq!(parse_status("dead_lettered"), Ok(TaskStatus::DeadLettered));
        assert!(parse_status("done").unwrap_err().contains("not a task status"));
    }
}
