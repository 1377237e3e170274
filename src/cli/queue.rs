//! Commands on the queue: dead letters and the queue's figures.

use std::process::ExitCode;

use anyhow::bail;
use chrono::Utc;
use intake_actors::ports::TaskQueue;

use intake::queue::Replay;
use intake::settings::{Secrets, Settings};

use super::{DlqAction, QueueAction, connect_queue};

pub(super) async fn dlq(settings: &Settings, secrets: &Secrets, action: DlqAction) -> anyhow::Result<ExitCode> {
    let queue = connect_queue(settings, secrets).await?;
    match action {
        DlqAction::List { limit, json } => {
            let letters = queue.dlq_list(limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
            } else if letters.is_empty() {
                println!("no dead letters");
            } else {
                println!(
                    "{:<36}  {:>7}  {:<20} {:<9} {:>8}  reason / source",
                    "id", "age", "supplier", "class", "attempts"
                );
                let now = Utc::now();
                for l in letters {
                    println!(
                        "{:<36}  {:>7}  {:<20} {:<9} {:>8}  {}",
                        l.id,
                        age(now - l.dead_lettered_at),
                        l.supplier.as_deref().unwrap_or("?"),
                        l.class,
                        l.attempts,
                        l.reason
                    );
                    if let Some(source) = &l.source {
                        println!("{:<36}  {:>7}  {:<20} {:<9} {:>8}  {source}", "", "", "", "", "");
                    }
                }
            }
        }
        DlqAction::Show { id } => match queue.dlq_show(&id).await? {
            Some(letter) => {
                let mut value = serde_json::to_value(&letter)?;
                // Show the message as JSON, not as an escaped string, when it is JSON.
                if let Ok(message) = serde_json::from_str::<serde_json::Value>(&letter.payload) {
                    value["payload"] = message;
                }
                println!("{}", serde_json::to_string_pretty(&value)?);
            }
            None => bail!("no dead letter {id}"),
        },
        DlqAction::Replay { id, all, force } => {
            let ids = if all {
                queue.dlq_ids().await?
            } else {
                id.into_iter().collect()
            };
            let mut failed = false;
            for id in ids {
                match queue.dlq_replay(&id, force).await? {
                    Replay::Replayed => println!("replayed {id}"),
                    Replay::NotFound => {
                        eprintln!("error: no dead letter {id}");
                        failed = true;
                    }
                    Replay::Unreadable(why) => {
                        eprintln!("error: {id} cannot be replayed, its message is unreadable: {why}");
                        failed = true;
                    }
                }
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
        DlqAction::Purge { older_than, yes } => {
            let what = match older_than {
                Some(d) => format!("purging the dead letters older than {}", humantime(d)),
                None => "purging every dead letter".to_owned(),
            };
            super::confirm(&what, yes)?;
            let cutoff = older_than.map(|d| Utc::now() - chrono::Duration::from_std(d).unwrap_or_default());
            let removed = queue.dlq_purge(cutoff).await?;
            println!("purged {removed} dead letters");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn queue(settings: &Settings, secrets: &Secrets, action: QueueAction) -> anyhow::Result<ExitCode> {
    let queue = connect_queue(settings, secrets).await?;
    match action {
        QueueAction::Stats { json } => {
            let stats = queue.stats().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                println!("waiting            {}", stats.waiting);
                println!("pending            {}", stats.pending);
                println!("scheduled retries  {}", stats.scheduled_retries);
                println!("dead letters       {}", stats.dead_letters);
                for (status, count) in &stats.finished {
                    println!("{:<18} {count}", status.replace('_', " "));
                }
                match queue.persistence().await {
                    Some(p) => match p.warning() {
                        Some(warning) => println!("\nwarning: {warning}"),
                        None => println!("redis persistence  appendonly, appendfsync {}", p.appendfsync),
                    },
                    None => println!("redis persistence  unknown (CONFIG GET is not allowed)"),
                }
                if !stats.pending_entries.is_empty() {
                    let ids: Vec<_> = stats.pending_entries.iter().map(|p| p.id.clone()).collect();
                    let named = queue.pending_tasks(&ids).await?;
                    println!();
                    println!(
                        "{:<36}  {:<20} {:<32} {:>9} {:>10}",
                        "task in progress", "supplier", "worker", "idle (s)", "deliveries"
                    );
                    for (p, task) in stats.pending_entries.iter().zip(&named) {
                        println!(
                            "{:<36}  {:<20} {:<32} {:>9.1} {:>10}",
                            task.task_id.as_deref().unwrap_or(p.id.0.as_str()),
                            task.supplier.as_deref().unwrap_or("?"),
                            p.consumer,
                            p.idle_ms as f64 / 1000.0,
                            p.deliveries
                        );
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `7d`, `12h`, `30m`, `45s`: a duration as it was probably typed.
fn humantime(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// How long ago, to the largest unit: `45s`, `12m`, `3h`, `9d`.
fn age(elapsed: chrono::Duration) -> String {
    let s = elapsed.num_seconds().max(0);
    match s {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
