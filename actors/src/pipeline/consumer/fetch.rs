//! The loop that takes tasks off the queue while there are free slots: first those of workers
//! whose heartbeat stopped, then those abandoned past the visibility timeout, then new ones.

use super::*;

/// Takes tasks while there are free slots and intake is open — first those of workers whose
/// heartbeat stopped, then those abandoned past the visibility timeout, then new ones; each
/// delivery carries its slot to the consumer.
pub(super) async fn fetch_loop(
    queue: Arc<dyn TaskQueue>,
    consumer: ActorRef<ConsumerMsg>,
    slots: Arc<Semaphore>,
    settings: Arc<ConsumerSettings>,
    mut intake: watch::Receiver<Intake>,
) {
    let mut backoff = Backoff::new("redis", Duration::from_millis(250), Duration::from_secs(30));
    let reclaim_every = settings.visibility_timeout / 2;
    let mut next_reclaim = Instant::now();
    let mut next_orphan_check = Instant::now();
    loop {
        match intake.wait_for(|i| *i != Intake::Paused).await.map(|i| *i) {
            Ok(Intake::Open) => {}
            _ => return,
        }
        let first = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot { Ok(s) => s, Err(_) => return },
            _ = intake.changed() => continue,
        };
        if *intake.borrow() != Intake::Open {
            continue;
        }
        let mut batch = vec![first];
        while let Ok(slot) = slots.clone().try_acquire_owned() {
            batch.push(slot);
        }
        let mut fetched = Ok(Vec::new());
        // A dead worker's deliveries are taken as soon as its heartbeat lapses.
        if Instant::now() >= next_orphan_check {
            next_orphan_check = Instant::now() + settings.heartbeat;
            fetched = queue.claim_orphans(settings.heartbeat, batch.len()).await;
            for d in fetched.iter().flatten() {
                tracing::warn!(delivery = %d.id, deliveries = d.deliveries, "took over a task of a worker whose heartbeat stopped");
            }
        }
        if matches!(&fetched, Ok(d) if d.is_empty()) && Instant::now() >= next_reclaim {
            next_reclaim = Instant::now() + reclaim_every;
            fetched = queue.reclaim(settings.visibility_timeout, batch.len()).await;
            for d in fetched.iter().flatten() {
                tracing::warn!(delivery = %d.id, deliveries = d.deliveries, "reclaimed a task abandoned by a worker that stopped");
            }
        }
        // Not cancelled by a stop: a fetch cut short could lose what Redis already handed out.
        if matches!(&fetched, Ok(d) if d.is_empty()) {
            fetched = queue.fetch(batch.len(), settings.fetch_block).await;
        }
        match fetched {
            Ok(deliveries) => {
                backoff.succeeded();
                // Intake closed (a drain) or paused (the store went down) while this read was
                // under way: what it brought goes back rather than start now.
                let refused = *intake.borrow() != Intake::Open;
                for delivery in deliveries {
                    if refused {
                        if let Err(e) = queue.hand_back(&delivery.id, &delivery.payload).await {
                            tracing::warn!(delivery = %delivery.id, error = %e, "could not hand back a delivery; it will be reclaimed");
                        }
                        continue;
                    }
                    let Some(slot) = batch.pop() else { break };
                    if consumer.send_message(ConsumerMsg::Delivered(delivery, slot)).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                drop(batch);
                let wait = backoff.failed(&e);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = intake.changed() => {}
                }
            }
        }
    }
}
