//! The consumer's periodic work: heartbeats, touches, promoting due retries, queue figures,
//! and pausing while the catalogue store is down.

use super::*;

/// Says every `period` that this worker lives, until the consumer stops (a missed beat is
/// retried at the next one; the lifetime spans several).
pub(super) async fn heartbeat(queue: Arc<dyn TaskQueue>, period: Duration, ttl: Duration) {
    let mut beats = tokio::time::interval(period.max(Duration::from_millis(10)));
    beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        beats.tick().await;
        match queue.heartbeat(ttl).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "the heartbeat failed; retrying");
            }
            Err(_) => {}
        }
    }
}

/// Stops taking tasks until the store answers again.
pub(super) fn pause(state: &mut ConsumerState, why: &str) {
    if *state.intake.borrow() != Intake::Open {
        return;
    }
    let _ = state.intake.send(Intake::Paused);
    state.probe_store_at = Some(Instant::now() + state.store.failed(&why));
    tracing::warn!("taking no tasks until the database answers again");
}

pub(super) async fn probe_store(state: &mut ConsumerState) {
    if *state.intake.borrow() != Intake::Paused || state.probe_store_at.is_some_and(|at| Instant::now() < at) {
        return;
    }
    match state.args.catalog.ping().await {
        Ok(()) => {
            state.store.succeeded();
            state.probe_store_at = None;
            let _ = state.intake.send(Intake::Open);
            tracing::info!("taking tasks again");
        }
        Err(e) => state.probe_store_at = Some(Instant::now() + state.store.failed(&e)),
    }
}

pub(super) async fn on_tick(state: &mut ConsumerState, tick: Tick) {
    if !matches!(state.drain, DrainState::Serving) && !matches!(tick, Tick::Touch) {
        return;
    }
    if matches!(tick, Tick::ProbeStore) {
        return probe_store(state).await;
    }
    // While paused, retries wait too: they would fail the same way.
    let paused = *state.intake.borrow() == Intake::Paused;
    if paused && matches!(tick, Tick::Promote) {
        return;
    }
    // While Redis is down every tick would fail: try once per backoff step instead.
    if state.retry_ticks_at.is_some_and(|at| Instant::now() < at) {
        return;
    }
    let queue = state.args.queue.clone();
    let result = match tick {
        Tick::Touch => {
            if state.in_flight.is_empty() {
                return;
            }
            let ids: Vec<DeliveryId> = state.in_flight.keys().cloned().collect();
            queue.touch(&ids).await
        }
        Tick::Promote => queue.promote_due(Utc::now()).await.map(|_| ()),
        Tick::ProbeStore => Ok(()),
        Tick::Stats => match queue.stats().await {
            Ok(stats) => {
                metrics::gauge!("intake_queue_waiting").set(stats.waiting as f64);
                metrics::gauge!("intake_queue_pending").set(stats.pending as f64);
                metrics::gauge!("intake_queue_oldest_pending_seconds")
                    .set(stats.oldest_pending_idle_ms.unwrap_or(0) as f64 / 1000.0);
                metrics::gauge!("intake_queue_scheduled_retries").set(stats.scheduled_retries as f64);
                metrics::gauge!("intake_queue_dead_letters").set(stats.dead_letters as f64);
                tracing::info!(
                    waiting = stats.waiting,
                    pending = stats.pending,
                    oldest_pending_idle_ms = stats.oldest_pending_idle_ms,
                    scheduled_retries = stats.scheduled_retries,
                    dead_letters = stats.dead_letters,
                    in_flight_here = state.in_flight.len(),
                    "queue"
                );
                Ok(())
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => {
            state.redis.succeeded();
            state.retry_ticks_at = None;
        }
        Err(e) => state.retry_ticks_at = Some(Instant::now() + state.redis.failed(&e)),
    }
}
