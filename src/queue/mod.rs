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
mod keys;
mod scripts;
mod task_queue;

pub use dead_letters::{DeadLetterSummary, Replay};
pub use keys::Keys;
pub use task_queue::PendingTask;

use std::time::Duration;

use fred::prelude::*;
use fred::types::config::ReconnectPolicy;
use intake_actors::domain::{TaskId, TaskMessage, TaskResult};
use intake_actors::envelope::QueuedTask;
use intake_actors::ports::{DeliveryId, PortError};

use crate::redact;
use crate::settings::{QueueSettings, RedisSettings, SecretUrl};

/// A result as it is published: its error text masked.
fn masked_result(result: &TaskResult) -> TaskResult {
    TaskResult {
        error: result.error.as_deref().map(redact::text),
        ..result.clone()
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

/// fred's error text, with an I/O error's debug form (`Os { code: 111, kind: ConnectionRefused,
/// message: "Connection refused" }`) turned into its message.
fn readable(e: &fred::error::Error) -> String {
    let details = e.details();
    match details.split_once("message: \"") {
        Some((_, rest)) if details.contains("Os {") => {
            let message = rest.split('"').next().unwrap_or(rest);
            format!("{message} ({:?})", e.kind()).replace("(IO)", "(I/O)")
        }
        _ => e.to_string(),
    }
}

fn redis_error(context: &str, e: &fred::error::Error) -> PortError {
    use fred::error::ErrorKind;
    let message = format!("redis {context}: {}", readable(e));
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

    /// Adds a price list's task to the stream; returns its entry id.
    pub async fn enqueue(&self, message: &TaskMessage) -> Result<DeliveryId, PortError> {
        self.enqueue_task(&QueuedTask::PriceList(message.clone())).await
    }

    /// Adds a task of any family to the stream; returns its entry id.
    pub async fn enqueue_task(&self, task: &QueuedTask) -> Result<DeliveryId, PortError> {
        let payload = task
            .to_json()
            .map_err(|e| PortError::permanent(format!("encoding the message: {e}")))?;
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
