//! [`TaskQueue`] on Redis: reading the stream through the consumer group, settling deliveries
//! (complete, retry later, dead-letter, hand back), heartbeats and takeover, statistics.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fred::prelude::*;
use fred::types::Expiration;
use intake_actors::domain::{AttemptError, TaskResult};
use intake_actors::envelope::QueuedTask;
use intake_actors::ports::{DeadLetter, Delivery, DeliveryId, PendingEntry, PortError, QueueStats, TaskQueue};

use super::{RedisQueue, masked_result, redis_error, scripts};
use crate::redact;

/// `[id, [field, value, …]]` entries of a stream reply; a deleted entry has no fields (`None`).
/// An entry without a `task` field gets an empty payload, and invalid UTF-8 is replaced, so
/// that every entry a producer wrote reaches the consumer and is settled — never skipped.
/// A pending delivery as an operator knows it: the task and its supplier.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingTask {
    pub task_id: Option<String>,
    pub supplier: Option<String>,
}

impl RedisQueue {
    /// How many workers of the consumer group have a live heartbeat.
    pub async fn live_workers(&self) -> Result<usize, PortError> {
        let consumers: Value = match self.client.xinfo_consumers(self.keys.tasks(), &self.group).await {
            Ok(v) => v,
            Err(e) if e.details().contains("NOGROUP") || e.details().contains("no such key") => return Ok(0),
            Err(e) => return Err(redis_error("workers", &e)),
        };
        let mut alive = 0;
        for consumer in consumers.into_array() {
            // RESP2 gives [name, n, pending, n, …]; RESP3 a map.
            let name = match consumer {
                Value::Map(map) => map
                    .inner()
                    .into_iter()
                    .find(|(k, _)| k.as_str() == Some("name"))
                    .and_then(|(_, v)| v.as_string()),
                other => {
                    let fields = other.into_array();
                    fields
                        .iter()
                        .position(|f| f.as_str().as_deref() == Some("name"))
                        .and_then(|i| fields.get(i + 1))
                        .and_then(Value::as_string)
                }
            };
            if let Some(name) = name {
                let exists: u64 = self
                    .client
                    .exists(self.keys.worker(&name))
                    .await
                    .map_err(|e| redis_error("workers", &e))?;
                alive += usize::from(exists > 0);
            }
        }
        Ok(alive)
    }

    /// The task and supplier of each pending delivery (for `queue stats`; the workers' own
    /// figures do not need them).
    pub async fn pending_tasks(&self, ids: &[DeliveryId]) -> Result<Vec<PendingTask>, PortError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let entries: Value = self
                .client
                .xrange(self.keys.tasks(), id.0.as_str(), id.0.as_str(), Some(1))
                .await
                .map_err(|e| redis_error("stats", &e))?;
            let message: serde_json::Value = stream_entries(entries)
                .into_iter()
                .next()
                .and_then(|(_, payload)| payload)
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default();
            let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
            out.push(PendingTask {
                task_id: text(&message["task_id"]),
                supplier: text(&message["supplier_name"]),
            });
        }
        Ok(out)
    }
}

fn stream_entries(entries: Value) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for entry in entries.into_array() {
        let mut parts = entry.into_array().into_iter();
        let Some(id) = parts.next().and_then(|v| v.into_string()) else {
            continue;
        };
        let payload = parts.next().filter(|f| !f.is_null()).map(|fields| {
            let fields = fields.into_array();
            fields
                .chunks(2)
                .find(|pair| pair.first().and_then(|f| f.as_str()).as_deref() == Some("task"))
                .and_then(|pair| pair.get(1).cloned())
                .map(|value| match value.into_owned_bytes() {
                    Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    None => String::new(),
                })
                .unwrap_or_default()
        });
        out.push((id, payload));
    }
    out
}

/// The entries of an XREADGROUP reply for one stream (RESP2 arrays or RESP3 maps).
fn read_reply(reply: Value) -> Vec<(String, Option<String>)> {
    match reply {
        Value::Null => Vec::new(),
        Value::Map(map) => map.inner().into_values().flat_map(stream_entries).collect(),
        other => other
            .into_array()
            .into_iter()
            .flat_map(|stream| {
                let mut parts = stream.into_array().into_iter();
                let _key = parts.next();
                parts.next().map(stream_entries).unwrap_or_default()
            })
            .collect(),
    }
}

#[async_trait]
impl TaskQueue for RedisQueue {
    async fn fetch(&self, max: usize, block: Duration) -> Result<Vec<Delivery>, PortError> {
        let read = || {
            self.reader.xreadgroup::<Value, _, _, _, _>(
                &self.group,
                &self.consumer,
                Some(max as u64),
                Some(block.as_millis() as u64),
                false,
                self.keys.tasks(),
                ">",
            )
        };
        let reply = match read().await {
            Ok(reply) => reply,
            // The stream or group is gone (a Redis without persistence restarted): recreate.
            Err(e) if e.details().contains("NOGROUP") => {
                self.ensure_group().await?;
                read().await.map_err(|e| redis_error("read", &e))?
            }
            Err(e) => return Err(redis_error("read", &e)),
        };
        Ok(read_reply(reply)
            .into_iter()
            .filter_map(|(id, payload)| {
                payload.map(|payload| Delivery {
                    id: DeliveryId(id),
                    payload,
                    deliveries: 1,
                })
            })
            .collect())
    }

    async fn reclaim(&self, min_idle: Duration, max: usize) -> Result<Vec<Delivery>, PortError> {
        let reply: Value = match self
            .client
            .xautoclaim(
                self.keys.tasks(),
                &self.group,
                &self.consumer,
                min_idle.as_millis() as u64,
                "0-0",
                Some(max as u64),
                false,
            )
            .await
        {
            Ok(reply) => reply,
            Err(e) if e.details().contains("NOGROUP") => return Ok(Vec::new()),
            Err(e) => return Err(redis_error("reclaim", &e)),
        };
        let mut parts = reply.into_array().into_iter();
        let _cursor = parts.next();
        let entries = parts.next().map(stream_entries).unwrap_or_default();
        let mut out = Vec::new();
        for (id, payload) in entries {
            let Some(payload) = payload else { continue };
            let deliveries = self.deliveries_of(&id).await;
            out.push(Delivery {
                id: DeliveryId(id),
                payload,
                deliveries,
            });
        }
        Ok(out)
    }

    async fn touch(&self, ids: &[DeliveryId]) -> Result<(), PortError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = ids.iter().map(|i| i.0.clone()).collect();
        self.client
            .xclaim::<Value, _, _, _, _>(
                self.keys.tasks(),
                &self.group,
                &self.consumer,
                0,
                ids,
                None,
                None,
                None,
                false,
                true,
            )
            .await
            .map(|_| ())
            .map_err(|e| redis_error("touch", &e))
    }

    async fn complete(&self, id: &DeliveryId, result: &TaskResult) -> Result<(), PortError> {
        let json = serde_json::to_string(&masked_result(result))
            .map_err(|e| PortError::permanent(format!("encoding the result: {e}")))?;
        self.eval(
            scripts::COMPLETE,
            vec![
                self.keys.tasks(),
                self.keys.result(&result.task_id.to_string()),
                self.keys.counters(),
            ],
            vec![
                self.group.clone(),
                id.0.clone(),
                json,
                self.result_ttl_s.to_string(),
                result.status.as_str().to_owned(),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn retry_later(&self, id: &DeliveryId, task: &QueuedTask, due: DateTime<Utc>) -> Result<(), PortError> {
        let payload = task
            .to_json()
            .map_err(|e| PortError::permanent(format!("encoding the message: {e}")))?;
        self.eval(
            scripts::RETRY_LATER,
            vec![self.keys.tasks(), self.keys.retry_due(), self.keys.retry_payload()],
            vec![
                self.group.clone(),
                id.0.clone(),
                task.task_id().to_string(),
                due.timestamp_millis().to_string(),
                payload,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn dead_letter(
        &self,
        id: Option<&DeliveryId>,
        letter: &DeadLetter,
        result: Option<&TaskResult>,
    ) -> Result<(), PortError> {
        // Shown and listed as it is filed, so masked; the message as received is sealed apart.
        let shown = DeadLetter {
            reason: redact::text(&letter.reason),
            payload: redact::payload(&letter.payload),
            errors: letter
                .errors
                .iter()
                .map(|e| AttemptError {
                    message: redact::text(&e.message),
                    ..e.clone()
                })
                .collect(),
            ..letter.clone()
        };
        let json = serde_json::to_string(&shown)
            .map_err(|e| PortError::permanent(format!("encoding the dead letter: {e}")))?;
        let result_json = match result {
            Some(r) => serde_json::to_string(&masked_result(r))
                .map_err(|e| PortError::permanent(format!("encoding the result: {e}")))?,
            None => String::new(),
        };
        self.eval(
            scripts::DEAD_LETTER,
            vec![
                self.keys.tasks(),
                self.keys.dlq(),
                self.keys.dlq_index(),
                self.keys.result(&letter.id),
                self.keys.dlq_sealed(),
            ],
            vec![
                self.group.clone(),
                id.map(|i| i.0.clone()).unwrap_or_default(),
                letter.id.clone(),
                json,
                letter.dead_lettered_at.timestamp_millis().to_string(),
                result_json,
                self.result_ttl_s.to_string(),
                letter.payload.clone(),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn heartbeat(&self, ttl: Duration) -> Result<(), PortError> {
        self.client
            .set::<Value, _, _>(
                self.keys.worker(&self.consumer),
                "alive",
                Some(Expiration::PX(ttl.as_millis().max(1) as i64)),
                None,
                false,
            )
            .await
            .map(|_| ())
            .map_err(|e| redis_error("heartbeat", &e))
    }

    async fn claim_orphans(&self, min_idle: Duration, max: usize) -> Result<Vec<Delivery>, PortError> {
        let reply = match self
            .eval(
                scripts::CLAIM_ORPHANS,
                vec![self.keys.tasks()],
                vec![
                    self.group.clone(),
                    self.consumer.clone(),
                    self.keys.worker_prefix(),
                    max.to_string(),
                    min_idle.as_millis().to_string(),
                ],
            )
            .await
        {
            Ok(reply) => reply,
            Err(e) if e.message.contains("NOGROUP") => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for pair in reply.into_array() {
            let mut parts = pair.into_array().into_iter();
            let (Some(entry), Some(count)) = (parts.next(), parts.next()) else {
                continue;
            };
            let deliveries = count.as_u64().unwrap_or(1) as u32;
            for (id, payload) in stream_entries(Value::Array(vec![entry])) {
                if let Some(payload) = payload {
                    out.push(Delivery {
                        id: DeliveryId(id),
                        payload,
                        deliveries,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn hand_back(&self, id: &DeliveryId, payload: &str) -> Result<(), PortError> {
        self.eval(
            scripts::HAND_BACK,
            vec![self.keys.tasks()],
            vec![self.group.clone(), id.0.clone(), payload.to_owned()],
        )
        .await
        .map(|_| ())
    }

    async fn promote_due(&self, now: DateTime<Utc>) -> Result<usize, PortError> {
        let moved = self
            .eval(
                scripts::PROMOTE_DUE,
                vec![self.keys.retry_due(), self.keys.retry_payload(), self.keys.tasks()],
                vec![now.timestamp_millis().to_string(), "100".into()],
            )
            .await?;
        Ok(moved.as_u64().unwrap_or(0) as usize)
    }

    async fn stats(&self) -> Result<QueueStats, PortError> {
        let err = |e: fred::error::Error| redis_error("stats", &e);
        let length: u64 = self.client.xlen(self.keys.tasks()).await.map_err(err)?;
        let pending: Value = match self
            .client
            .xpending(self.keys.tasks(), &self.group, ("-", "+", 100))
            .await
        {
            Ok(v) => v,
            Err(e) if e.details().contains("NOGROUP") => Value::Array(Vec::new()),
            Err(e) => return Err(err(e)),
        };
        let pending_entries: Vec<PendingEntry> = pending
            .into_array()
            .into_iter()
            .filter_map(|entry| {
                let parts = entry.into_array();
                Some(PendingEntry {
                    id: DeliveryId(parts.first()?.as_string()?),
                    consumer: parts.get(1)?.as_string()?,
                    idle_ms: parts.get(2)?.as_u64()?,
                    deliveries: parts.get(3)?.as_u64()?,
                })
            })
            .collect();
        let summary: Value = match self.client.xpending(self.keys.tasks(), &self.group, ()).await {
            Ok(v) => v,
            Err(e) if e.details().contains("NOGROUP") => Value::Array(vec![Value::Integer(0)]),
            Err(e) => return Err(err(e)),
        };
        let pending_count = summary
            .into_array()
            .first()
            .and_then(Value::as_u64)
            .unwrap_or(pending_entries.len() as u64);
        let scheduled: u64 = self.client.zcard(self.keys.retry_due()).await.map_err(err)?;
        let dead: u64 = self.client.hlen(self.keys.dlq()).await.map_err(err)?;
        let finished: HashMap<String, u64> = self.client.hgetall(self.keys.counters()).await.map_err(err)?;
        Ok(QueueStats {
            waiting: length.saturating_sub(pending_count),
            pending: pending_count,
            oldest_pending_idle_ms: pending_entries.iter().map(|p| p.idle_ms).max(),
            pending_entries,
            scheduled_retries: scheduled,
            dead_letters: dead,
            finished: finished.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_read_replies_are_parsed() {
        let reply = Value::Array(vec![Value::Array(vec![
            Value::from("{intake}:tasks"),
            Value::Array(vec![
                Value::Array(vec![
                    Value::from("1-0"),
                    Value::Array(vec![Value::from("task"), Value::from("{}")]),
                ]),
                Value::Array(vec![Value::from("2-0"), Value::Null]),
            ]),
        ])]);
        let entries = read_reply(reply);
        assert_eq!(entries, vec![("1-0".into(), Some("{}".into())), ("2-0".into(), None)]);
        assert!(read_reply(Value::Null).is_empty());
    }
}
