//! The names of intake's Redis keys, all under one hash tag.

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
}
