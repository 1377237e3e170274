//! A task as the queue carries it: the message of one record family, named by `task_type`
//! (`price_list` when absent, so producers written before the second family keep working).
//!
//! What the runtime needs of every task — its id, attempts, retry budget, expiry, trace and
//! error history — is read through [`QueuedTask`]; what a family needs stays in its message.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::{AttemptError, TaskId, TaskMessage, TaskType};
use crate::metadata::MetadataTask;

/// One task off the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum QueuedTask {
    PriceList(TaskMessage),
    Metadata(MetadataTask),
}

impl From<TaskMessage> for QueuedTask {
    fn from(message: TaskMessage) -> Self {
        Self::PriceList(message)
    }
}

impl From<MetadataTask> for QueuedTask {
    fn from(task: MetadataTask) -> Self {
        Self::Metadata(task)
    }
}

/// Only the family's name, read before the message itself.
#[derive(Deserialize)]
struct Tag {
    #[serde(default)]
    task_type: Option<String>,
}

impl QueuedTask {
    /// Reads a payload as its family's message; the error says what is wrong with it.
    pub fn from_json(payload: &str) -> Result<Self, String> {
        let tag = serde_json::from_str::<Tag>(payload).ok().and_then(|t| t.task_type);
        match tag.as_deref() {
            // Read straight from the text, so errors keep their line and column.
            None => serde_json::from_str::<TaskMessage>(payload)
                .map(Self::PriceList)
                .map_err(|e| e.to_string()),
            Some(name) => {
                let mut value: serde_json::Value = serde_json::from_str(payload).map_err(|e| e.to_string())?;
                if let Some(object) = value.as_object_mut() {
                    object.remove("task_type");
                }
                match name {
                    "price_list" => serde_json::from_value(value).map(Self::PriceList),
                    "metadata" => serde_json::from_value(value).map(Self::Metadata),
                    other => {
                        return Err(format!(
                            "unknown task_type {:?} (known: price_list, metadata)",
                            other.chars().take(80).collect::<String>()
                        ));
                    }
                }
                .map_err(|e| e.to_string())
            }
        }
    }

    /// The payload to put on the queue. A price list is written without `task_type`, as
    /// before; every other family names itself.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            Self::PriceList(message) => serde_json::to_string(message),
            Self::Metadata(task) => {
                let mut value = serde_json::to_value(task)?;
                if let Some(object) = value.as_object_mut() {
                    object.insert("task_type".into(), TaskType::Metadata.as_str().into());
                }
                serde_json::to_string(&value)
            }
        }
    }

    pub fn task_type(&self) -> TaskType {
        match self {
            Self::PriceList(_) => TaskType::PriceList,
            Self::Metadata(_) => TaskType::Metadata,
        }
    }

    /// The supplier (a price list's; empty otherwise) and the parser type or artifact kind, as
    /// spans, logs and results name a task.
    pub fn labels(&self) -> (String, String) {
        match self {
            Self::PriceList(m) => (m.supplier_name.to_string(), m.parser_type.to_string()),
            Self::Metadata(t) => (String::new(), t.kind.as_str().to_owned()),
        }
    }

    pub fn task_id(&self) -> TaskId {
        match self {
            Self::PriceList(m) => m.task_id,
            Self::Metadata(t) => t.task_id,
        }
    }

    /// Attempts already made and failed.
    pub fn retry_count(&self) -> u32 {
        match self {
            Self::PriceList(m) => m.retry_count,
            Self::Metadata(t) => t.retry_count,
        }
    }

    /// The attempt this delivery is, counting from 1.
    pub fn attempt(&self) -> u32 {
        self.retry_count() + 1
    }

    pub fn max_retries(&self) -> u32 {
        match self {
            Self::PriceList(m) => m.max_retries,
            Self::Metadata(t) => t.max_retries,
        }
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::PriceList(m) => m.expires_at,
            Self::Metadata(t) => t.expires_at,
        }
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }

    pub fn traceparent(&self) -> Option<&str> {
        match self {
            Self::PriceList(m) => m.traceparent.as_deref(),
            Self::Metadata(t) => t.traceparent.as_deref(),
        }
    }

    pub fn set_traceparent(&mut self, traceparent: Option<String>) {
        match self {
            Self::PriceList(m) => m.traceparent = traceparent,
            Self::Metadata(t) => t.traceparent = traceparent,
        }
    }

    /// The failed attempts, oldest first.
    pub fn errors(&self) -> &[AttemptError] {
        match self {
            Self::PriceList(m) => &m.errors,
            Self::Metadata(t) => &t.errors,
        }
    }

    pub fn push_error(&mut self, error: AttemptError) {
        match self {
            Self::PriceList(m) => m.errors.push(error),
            Self::Metadata(t) => t.errors.push(error),
        }
    }

    /// Counts one more failed attempt, before the task is scheduled again.
    pub fn count_retry(&mut self) {
        match self {
            Self::PriceList(m) => m.retry_count += 1,
            Self::Metadata(t) => t.retry_count += 1,
        }
    }

    /// Ready to run again from a dead letter: a fresh retry budget and no expiry. `force`
    /// applies a price list even when it equals the supplier's last one.
    pub fn replay(&mut self, force: bool) {
        match self {
            Self::PriceList(m) => {
                m.retry_count = 0;
                m.expires_at = None;
                m.force |= force;
            }
            Self::Metadata(t) => {
                t.retry_count = 0;
                t.expires_at = None;
            }
        }
    }

    /// Checks what serde cannot: the cross-field rules of the family's schema.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::PriceList(m) => m.validate(),
            Self::Metadata(t) => t.validate(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRICE_LIST: &str = r#"{"task_id":"0192f0c1-5a5e-7c3e-8f00-000000000001","parser_type":"csv",
        "supplier_name":"Acme","source_config":{"path":"p.csv"},"enqueued_at":"2026-11-22T10:00:00Z"}"#;

    #[test]
    fn a_message_without_task_type_is_a_price_list_and_is_written_back_as_it_was() {
        let task = QueuedTask::from_json(PRICE_LIST).unwrap();
        assert_eq!(task.task_type(), TaskType::PriceList);
        let again = QueuedTask::from_json(&task.to_json().unwrap()).unwrap();
        assert_eq!(again, task);
        assert!(!task.to_json().unwrap().contains("task_type"));
    }

    #[test]
    fn task_type_picks_the_family_and_an_unknown_one_is_named() {
        let explicit = PRICE_LIST.replacen('{', r#"{"task_type":"price_list","#, 1);
        assert_eq!(
            QueuedTask::from_json(&explicit).unwrap().task_type(),
            TaskType::PriceList
        );
        let metadata = r#"{"task_type":"metadata","task_id":"0192f0c1-5a5e-7c3e-8f00-000000000002",
            "kind":"k8s","source":"/srv/manifests","enqueued_at":"2026-12-01T10:00:00Z"}"#;
        let task = QueuedTask::from_json(metadata).unwrap();
        assert_eq!(task.task_type(), TaskType::Metadata);
        assert!(task.to_json().unwrap().contains(r#""task_type":"metadata""#));
        assert_eq!(QueuedTask::from_json(&task.to_json().unwrap()).unwrap(), task);

        let unknown = PRICE_LIST.replacen('{', r#"{"task_type":"invoice","#, 1);
        assert!(QueuedTask::from_json(&unknown).unwrap_err().contains("invoice"));
        // A family's fields do not leak into another's message.
        let mixed = metadata.replacen('{', r#"{"supplier_name":"Acme","#, 1);
        assert!(QueuedTask::from_json(&mixed).unwrap_err().contains("supplier_name"));
    }

    #[test]
    fn retries_and_errors_are_counted_on_the_family_message() {
        let mut task = QueuedTask::from_json(PRICE_LIST).unwrap();
        task.count_retry();
        task.push_error(AttemptError {
            at: Utc::now(),
            attempt: 1,
            class: crate::domain::FailureClass::Transient,
            message: "timeout".into(),
        });
        assert_eq!(task.attempt(), 2);
        let QueuedTask::PriceList(message) = &task else {
            panic!("a price list")
        };
        assert_eq!((message.retry_count, message.errors.len()), (1, 1));
        task.replay(true);
        assert_eq!(task.retry_count(), 0);
    }
}
