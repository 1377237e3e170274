//! The task queue in Redis: a stream read through a consumer group, a sorted set of scheduled
//! retries, a hash of dead letters, and a short-lived result list per task.
//!
//! Keys (all under one hash tag, so a Redis Cluster keeps them on one node):
//! - `{prefix}:tasks` — stream; entries carry the task message in the field `task`.
//!   Acknowledged entries are deleted, so its length is waiting + pending.
//! - `{prefix}:retry:due` / `{prefix}:retry:payload` — task id → due time / message.
//! - `{prefix}:dlq` / `{prefix}:dlq:index` — task id → dead letter / time it was filed.
//! - `{prefix}:dlq:sealed` — task id → the dead-lettered message as received (with the secrets
//!   of its source URL), read only to replay it; dead letters themselves are masked.
//! - `{prefix}:result:<task id>` — the final result, for `intake enqueue --wait`.
//! - `{prefix}:counters` — tasks finished, by final status.
//! - `{prefix}:worker:<consumer>` — a worker's heartbeat; when it expires, the worker's
//!   deliveries are claimed by the others at once.

mod dead_letters;
mod scripts;

pub use dead_letters::{DeadLetterSummary, Replay};

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fred::prelude::*;
use fred::types::Expiration;
use fred::types::config::ReconnectPolicy;
use intake_actors::domain::{AttemptError, TaskId, TaskMessage, TaskResult};
use intake_actors::ports::{DeadLetter, Delivery, DeliveryId, PendingEntry, PortError, QueueStats, TaskQueue};

use crate::redact;
use crate::settings::{QueueSettings, RedisSettings, SecretUrl};

/// A result as it is published: its error text masked.
fn masked_result(result: &TaskResult) -> TaskResult {
    TaskResult {
        error: result.error.as_deref().map(redact::text),
        ..result.clone()
    }
}

/// Names of intake's Redis keys.
#[derive(Debug, Clone)]
pub struct Keys {
    tag: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            tag: format!("{{{prefix}}}"),
        }
    }

    pub fn tasks(&self) -> String {
        format!("{}:tasks", self.tag)
    }

    pub fn retry_due(&self) -> String {
        format!("{}:retry:due", self.tag)
    }

    pub fn retry_payload(&self) -> String {
        format!("{}:retry:payload", self.tag)
    }

    pub fn dlq(&self) -> String {
        format!("{}:dlq", self.tag)
    }

    pub fn dlq_index(&self) -> String {
        format!("{}:dlq:index", self.tag)
    }

    pub fn result(&self, task: &str) -> String {
        format!("{}:result:{task}", self.tag)
    }

    /// The messages of dead letters as received, for replays; never shown.
    pub fn dlq_sealed(&self) -> String {
        format!("{}:dlq:sealed", self.tag)
    }

    /// Tasks finished, by final status.
    pub fn counters(&self) -> String {
        format!("{}:counters", self.tag)
    }

    /// The heartbeat key of a worker (consumer); it expires when the worker stops beating.
    pub fn worker(&self, consumer: &str) -> String {
        format!("{}{consumer}", self.worker_prefix())
    }

    pub fn worker_prefix(&self) -> String {
        format!("{}:worker:", self.tag)
    }

    /// A pattern matching every key of this prefix.
    pub fn pattern(&self) -> String {
        format!("{}:*", self.tag)
    }
}

/// How Redis keeps its data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Persistence {
    pub appendonly: bool,
    pub appendfsync: String,
}

impl Persistence {
    /// What an operator should hear when waiting tasks and dead letters could be lost.
    pub fn warning(&self) -> Option<&'static str> {
        (!self.appendonly).then_some(
            "redis has no append-only file (appendonly no): a Redis restart loses waiting tasks, scheduled retries and dead letters; run it with --appendonly yes",
        )
    }
}

fn redis_error(context: &str, e: &fred::error::Error) -> PortError {
    use fred::error::ErrorKind;
    let message = format!("redis {context}: {e}");
    match e.kind() {
        ErrorKind::IO
        | ErrorKind::Timeout
        | ErrorKind::Canceled
        | ErrorKind::Backpressure
        | ErrorKind::Cluster
        | ErrorKind::Routing
        | ErrorKind::Unknown => PortError::transient(message),
        _ if e.details().contains("LOADING") || e.details().contains("BUSY") => PortError::transient(message),
        _ => PortError::permanent(message),
    }
}

/// The queue of one prefix, for a worker (consumer) or a producer.
#[derive(Clone)]
pub struct RedisQueue {
    client: Client,
    /// A second connection for blocking reads, which would otherwise stall every command.
    reader: Client,
    keys: Keys,
    group: String,
    consumer: String,
    result_ttl_s: u64,
}

impl RedisQueue {
    /// Connects, retrying in the background for as long as Redis is away.
    pub async fn connect(url: &SecretUrl, queue: &QueueSettings, redis: &RedisSettings) -> Result<Self, PortError> {
        let config = Config::from_url(url.expose())
            .map_err(|e| PortError::permanent(format!("REDIS_URL {}: {e}", url.redacted())))?;
        let connect_timeout = Duration::from_millis(redis.connect_timeout_ms);
        let command_timeout = Duration::from_millis(redis.command_timeout_ms);
        let build = || {
            Builder::from_config(config.clone())
                .with_connection_config(|c| {
                    c.connection_timeout = connect_timeout;
                    c.internal_command_timeout = command_timeout;
                    // Writes are idempotent, but a replay after a reconnect should still be rare.
                    c.max_command_attempts = 2;
                })
                .with_performance_config(|p| {
                    p.default_command_timeout = command_timeout;
                })
                // Never give up reconnecting: a worker outlives a Redis restart.
                .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
                .build()
        };
        let client = build().map_err(|e| redis_error("config", &e))?;
        let reader = build().map_err(|e| redis_error("config", &e))?;
        for c in [&client, &reader] {
            // The connection task keeps running (and reconnecting) on its own.
            drop(c.init().await.map_err(|e| redis_error("connect", &e))?);
        }
        // fred reconnects by itself and replays what was in flight, so an outage may show in
        // no command's result: say so from its connection events, once per event.
        drop(client.on_error(|(error, _)| async move {
            tracing::warn!(dependency = "redis", error = %error, "redis connection lost; reconnecting");
            Ok(())
        }));
        drop(client.on_reconnect(|_| async move {
            tracing::info!(dependency = "redis", "redis reachable again");
            Ok(())
        }));
        let consumer = format!(
            "{}-{}-{}",
            hostname(),
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        Ok(Self {
            client,
            reader,
            keys: Keys::new(&queue.key_prefix),
            group: queue.consumer_group.clone(),
            consumer,
            result_ttl_s: queue.result_ttl_s,
        })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn consumer_name(&self) -> &str {
        &self.consumer
    }

    pub async fn ping(&self) -> Result<(), PortError> {
        self.client
            .ping::<Value>(None)
            .await
            .map(|_| ())
            .map_err(|e| redis_error("ping", &e))
    }

    /// Creates the stream and its consumer group if missing. The group starts at the
    /// beginning, so tasks enqueued before the first worker ever ran are delivered too.
    pub async fn ensure_group(&self) -> Result<(), PortError> {
        match self
            .client
            .xgroup_create::<Value, _, _, _>(self.keys.tasks(), &self.group, "0", true)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.details().contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(redis_error("create group", &e)),
        }
    }

    /// Adds a task to the stream; returns its entry id.
    pub async fn enqueue(&self, message: &TaskMessage) -> Result<DeliveryId, PortError> {
        let payload =
            serde_json::to_string(message).map_err(|e| PortError::permanent(format!("encoding the message: {e}")))?;
        self.enqueue_raw(&payload).await
    }

    /// Adds any payload to the stream, as another producer might.
    pub async fn enqueue_raw(&self, payload: &str) -> Result<DeliveryId, PortError> {
        let id: String = self
            .client
            .xadd(self.keys.tasks(), false, None, "*", ("task", payload))
            .await
            .map_err(|e| redis_error("enqueue", &e))?;
        Ok(DeliveryId(id))
    }

    /// Waits up to `timeout` for the final result of a task.
    pub async fn wait_result(&self, task: TaskId, timeout: Duration) -> Result<Option<TaskResult>, PortError> {
        let key = self.keys.result(&task.to_string());
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            // Short blocking slices keep each command inside the client's timeout.
            let slice = left.min(Duration::from_secs(5)).as_secs_f64().max(0.01);
            let popped: Option<(String, String)> = match self.reader.blpop(&key, slice).await {
                Ok(popped) => popped,
                // fred reports BLPOP's "nothing within the timeout" as a timeout error.
                Err(e) if *e.kind() == fred::error::ErrorKind::Timeout => None,
                Err(e) => return Err(redis_error("wait", &e)),
            };
            if let Some((_, json)) = popped {
                let result =
                    serde_json::from_str(&json).map_err(|e| PortError::permanent(format!("unreadable result: {e}")))?;
                // Leave it for anyone else waiting.
                let _: Value = self
                    .client
                    .lpush(&key, json)
                    .await
                    .map_err(|e| redis_error("wait", &e))?;
                return Ok(Some(result));
            }
        }
    }

    async fn eval(&self, script: &str, keys: Vec<String>, args: Vec<String>) -> Result<Value, PortError> {
        self.client
            .eval::<Value, _, _, _>(script, keys, args)
            .await
            .map_err(|e| redis_error("script", &e))
    }

    /// Deletes every key of this prefix (tests clean up with it).
    pub async fn delete_all(&self) -> Result<(), PortError> {
        let keys: Vec<String> = self
            .client
            .custom(fred::cmd!("KEYS"), vec![self.keys.pattern()])
            .await
            .map_err(|e| redis_error("cleanup", &e))?;
        if !keys.is_empty() {
            let _: Value = self.client.del(keys).await.map_err(|e| redis_error("cleanup", &e))?;
        }
        Ok(())
    }

    /// Whether Redis keeps what it holds across a restart (`appendonly`, `appendfsync`).
    /// `None` when the server does not say (CONFIG may be renamed or forbidden).
    pub async fn persistence(&self) -> Option<Persistence> {
        let get = |name: &'static str| async move {
            let reply: Value = self.client.custom(fred::cmd!("CONFIG"), vec!["GET", name]).await.ok()?;
            let pairs = match reply {
                Value::Map(map) => map.inner().into_values().collect::<Vec<_>>(),
                other => other.into_array().into_iter().skip(1).collect(),
            };
            pairs.into_iter().next().and_then(|v| v.into_string())
        };
        Some(Persistence {
            appendonly: get("appendonly").await? == "yes",
            appendfsync: get("appendfsync").await.unwrap_or_default(),
        })
    }

    /// Removes this worker from the consumer group if it holds nothing, so the group does not
    /// collect the names of every worker that ever ran, and ends its heartbeat.
    pub async fn leave_group(&self) {
        let _: Result<Value, _> = self.client.del(self.keys.worker(&self.consumer)).await;
        let pending: Result<Value, _> = self
            .client
            .xpending(self.keys.tasks(), &self.group, ("-", "+", 1, self.consumer.clone()))
            .await;
        if let Ok(Value::Array(entries)) = pending
            && entries.is_empty()
        {
            let _: Result<Value, _> = self
                .client
                .xgroup_delconsumer(self.keys.tasks(), &self.group, &self.consumer)
                .await;
        }
    }

    pub async fn quit(&self) {
        let _ = self.client.quit().await;
        let _ = self.reader.quit().await;
    }

    async fn deliveries_of(&self, id: &str) -> u32 {
        let pending: Result<Value, _> = self.client.xpending(self.keys.tasks(), &self.group, (id, id, 1)).await;
        pending
            .ok()
            .and_then(|v| v.into_array().into_iter().next())
            .and_then(|entry| entry.into_array().get(3).and_then(Value::as_u64))
            .map_or(1, |n| n as u32)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".into())
}

/// `[id, [field, value, …]]` entries of a stream reply; a deleted entry has no fields (`None`).
/// An entry without a `task` field gets an empty payload, and invalid UTF-8 is replaced, so
/// that every entry a producer wrote reaches the consumer and is settled — never skipped.
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

    async fn retry_later(&self, id: &DeliveryId, message: &TaskMessage, due: DateTime<Utc>) -> Result<(), PortError> {
        let payload =
            serde_json::to_string(message).map_err(|e| PortError::permanent(format!("encoding the message: {e}")))?;
        self.eval(
            scripts::RETRY_LATER,
            vec![self.keys.tasks(), self.keys.retry_due(), self.keys.retry_payload()],
            vec![
                self.group.clone(),
                id.0.clone(),
                message.task_id.to_string(),
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
    fn keys_share_one_hash_tag() {
        let keys = Keys::new("intake");
        assert_eq!(keys.tasks(), "{intake}:tasks");
        assert_eq!(keys.result("t1"), "{intake}:result:t1");
        assert!(keys.dlq_index().starts_with("{intake}:"));
    }

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
