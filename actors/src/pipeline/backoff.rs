//! Waiting out an unavailable dependency without spinning or flooding the log.

use std::time::Duration;

/// Exponential backoff with a cap; one log line per step, one when the dependency is back.
#[derive(Debug, Clone)]
pub struct Backoff {
    what: &'static str,
    initial: Duration,
    max: Duration,
    current: Option<Duration>,
}

impl Backoff {
    pub fn new(what: &'static str, initial: Duration, max: Duration) -> Self {
        Self {
            what,
            initial,
            max,
            current: None,
        }
    }

    /// The next delay after a failure, logged once.
    pub fn failed(&mut self, error: &dyn std::fmt::Display) -> Duration {
        let next = match self.current {
            None => self.initial,
            Some(d) => (d * 2).min(self.max),
        };
        self.current = Some(next);
        tracing::warn!(
            dependency = self.what,
            retry_in_ms = next.as_millis() as u64,
            error = %error,
            "{} unavailable; retrying", self.what
        );
        next
    }

    /// Resets after a success, saying so if there was an outage.
    pub fn succeeded(&mut self) {
        if self.current.take().is_some() {
            tracing::info!(dependency = self.what, "{} reachable again", self.what);
        }
    }

    pub fn is_failing(&self) -> bool {
        self.current.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new("redis", Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<u128> = (0..4).map(|_| b.failed(&"down").as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        b.succeeded();
        assert!(!b.is_failing());
        assert_eq!(b.failed(&"down").as_millis(), 100);
    }
}
