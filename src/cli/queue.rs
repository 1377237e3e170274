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
                    "{:<38} {:<20} {:<9} {:>8}  reason",
                    "id", "dead-lettered (UTC)", "class", "attempts"
                );
                for l in letters {
                    println!(
                        "{:<38} {:<20} {:<9} {:>8}  {}",
                        l.id,
                        l.dead_lettered_at.format("%Y-%m-%d %H:%M:%S"),
                        l.class,
                        l.attempts,
                        l.reason
                    );
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
        DlqAction::Purge { older_than } => {
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
                    println!();
                    println!(
                        "{:<24} {:<40} {:>10} {:>10}",
                        "pending entry", "consumer", "idle (s)", "deliveries"
                    );
                    for p in &stats.pending_entries {
                        println!(
                            "{:<24} {:<40} {:>10.1} {:>10}",
                            p.id,
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
