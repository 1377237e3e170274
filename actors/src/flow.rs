//! Credits bound what one task may have in flight between its parser and its writer.
//!
//! ractor mailboxes are unbounded, so the bound is ours: a parser takes a credit before it sends
//! a chunk, and the credit travels with the chunk until the writer has staged it. A slow writer
//! therefore stops the parser after `chunks_in_flight` chunks instead of letting memory grow.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The credits of one task.
#[derive(Debug, Clone)]
pub struct CreditLine(Arc<Semaphore>);

/// The right to have one chunk in flight; dropping it returns the credit.
#[derive(Debug)]
pub struct Credit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl CreditLine {
    pub fn new(chunks_in_flight: usize) -> Self {
        Self(Arc::new(Semaphore::new(chunks_in_flight.max(1))))
    }

    /// Waits for a free credit.
    pub async fn acquire(&self) -> Credit {
        // The semaphore is never closed, so acquiring cannot fail.
        match self.0.clone().acquire_owned().await {
            Ok(permit) => Credit(Some(permit)),
            Err(_) => Credit(None),
        }
    }

    /// Credits currently out.
    pub fn in_flight(&self, chunks_in_flight: usize) -> usize {
        chunks_in_flight.max(1) - self.0.available_permits()
    }
}

impl Credit {
    /// A credit that bounds nothing, for rows staged outside the pipeline.
    pub fn unbounded() -> Self {
        Credit(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn third_credit_waits_until_one_returns() {
        let line = CreditLine::new(2);
        let a = line.acquire().await;
        let _b = line.acquire().await;
        let blocked = tokio::time::timeout(Duration::from_millis(20), line.acquire()).await;
        assert!(blocked.is_err(), "a third credit must wait");
        drop(a);
        let freed = tokio::time::timeout(Duration::from_secs(5), line.acquire()).await;
        assert!(freed.is_ok(), "a returned credit must be reusable");
    }
}
