//! The dead letters as operators handle them: listed, shown (masked), replayed from their
//! sealed message, purged.

use chrono::{DateTime, Utc};
use fred::prelude::*;
use intake_actors::envelope::QueuedTask;
use intake_actors::ports::{DeadLetter, PortError};

use super::{RedisQueue, redis_error, scripts};

/// One dead letter, as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetterSummary {
    pub id: String,
    pub dead_lettered_at: DateTime<Utc>,
    pub class: String,
    pub attempts: usize,
    pub reason: String,
    /// The supplier and the source the message names (masked), when it could be read.
    pub supplier: Option<String>,
    pub source: Option<String>,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    Replayed,
    NotFound,
    /// The message could not be read: replaying it would only dead-letter it again.
    Unreadable(String),
}

impl RedisQueue {
    pub async fn dlq_list(&self, limit: usize) -> Result<Vec<DeadLetterSummary>, PortError> {
        let ids: Vec<String> = self
            .client
            .zrange(self.keys.dlq_index(), 0, limit as i64 - 1, None, false, None, false)
            .await
            .map_err(|e| redis_error("dlq", &e))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(letter) = self.dlq_show(&id).await? {
                let message: serde_json::Value = serde_json::from_str(&letter.payload).unwrap_or_default();
                let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
                let config = &message["source_config"];
                out.push(DeadLetterSummary {
                    supplier: text(&message["supplier_name"]),
                    source: text(&config["path"])
                        .or_else(|| text(&config["url"]))
                        .or_else(|| text(&config["spreadsheet"])),
                    id: letter.id,
                    dead_lettered_at: letter.dead_lettered_at,
                    class: letter.class.to_string(),
                    attempts: letter.errors.len(),
                    reason: letter.reason,
                });
            }
        }
        Ok(out)
    }

    pub async fn dlq_show(&self, id: &str) -> Result<Option<DeadLetter>, PortError> {
        let json: Option<String> = self
            .client
            .hget(self.keys.dlq(), id)
            .await
            .map_err(|e| redis_error("dlq", &e))?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| PortError::permanent(format!("unreadable dead letter {id}: {e}")))
        })
        .transpose()
    }

    pub async fn dlq_ids(&self) -> Result<Vec<String>, PortError> {
        self.client
            .zrange(self.keys.dlq_index(), 0, -1, None, false, None, false)
            .await
            .map_err(|e| redis_error("dlq", &e))
    }

    /// Puts a dead letter back on the queue with a fresh retry budget and no expiry. It keeps
    /// its place among its supplier's lists (its enqueue time and list date), so a list older
    /// than the one applied since is superseded — unless `force`.
    pub async fn dlq_replay(&self, id: &str, force: bool) -> Result<Replay, PortError> {
        let Some(letter) = self.dlq_show(id).await? else {
            return Ok(Replay::NotFound);
        };
        let sealed: Option<String> = self
            .client
            .hget(self.keys.dlq_sealed(), id)
            .await
            .map_err(|e| redis_error("dlq", &e))?;
        let mut task = match QueuedTask::from_json(sealed.as_deref().unwrap_or(&letter.payload)) {
            Ok(task) => task,
            Err(e) => return Ok(Replay::Unreadable(e)),
        };
        task.replay(force);
        let payload = task
            .to_json()
            .map_err(|e| PortError::permanent(format!("encoding the message: {e}")))?;
        let replayed = self
            .eval(
                scripts::REPLAY,
                vec![
                    self.keys.dlq(),
                    self.keys.dlq_index(),
                    self.keys.tasks(),
                    self.keys.result(id),
                    self.keys.dlq_sealed(),
                ],
                vec![id.to_owned(), payload],
            )
            .await?;
        Ok(if replayed.as_u64() == Some(1) {
            Replay::Replayed
        } else {
            Replay::NotFound
        })
    }

    /// Removes dead letters filed before `cutoff` (all of them without one).
    pub async fn dlq_purge(&self, cutoff: Option<DateTime<Utc>>) -> Result<u64, PortError> {
        let cutoff = cutoff.map_or(i64::MAX, |c| c.timestamp_millis());
        let removed = self
            .eval(
                scripts::PURGE,
                vec![self.keys.dlq(), self.keys.dlq_index(), self.keys.dlq_sealed()],
                vec![cutoff.to_string()],
            )
            .await?;
        Ok(removed.as_u64().unwrap_or(0))
    }
}
