//! Retries, dead letters, expiry and supervision, with decoders that fail on purpose.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use intake_actors::decode::csv::CsvDecoder;
use intake_actors::domain::{FailureClass, ParserType, SourceConfig, TaskStatus};
use intake_actors::ports::{DecodeError, Decoder, FetchedSource, SourceContent};
use intake_actors::table::TableSink;

use crate::helpers::{TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(60);

/// A csv decoder that fails its first `transient` calls, fails every call while `broken` is
/// set, and panics on a file containing `POISON`.
#[derive(Clone)]
struct Faulty {
    calls: Arc<Mutex<Vec<Instant>>>,
    transient: usize,
    broken: Arc<AtomicBool>,
}

impl Faulty {
    fn new(transient: usize) -> Self {
        Self {
            calls: Arc::default(),
            transient,
            broken: Arc::default(),
        }
    }

    fn calls(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().clone()
    }
}

impl Decoder for Faulty {
    fn decode(
        &self,
        source: &FetchedSource,
        config: &SourceConfig,
        sink: &mut dyn TableSink,
    ) -> Result<(), DecodeError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(Instant::now());
            calls.len()
        };
        if let SourceContent::File(file) = &source.content
            && std::fs::read_to_string(&file.path)
                .unwrap_or_default()
                .contains("POISON")
        {
            panic!("poison input");
        }
        if n <= self.transient || self.broken.load(Ordering::SeqCst) {
            return Err(DecodeError::Io("simulated I/O failure".into()));
        }
        CsvDecoder.decode(source, config, sink)
    }
}

fn registry(faulty: &Faulty) -> intake_actors::ports::DecoderRegistry {
    let mut decoders = intake::startup::decoders();
    decoders.register(ParserType::new("faulty").unwrap(), faulty.clone());
    decoders
}

const LIST: &str = "SKU,Name,Price\nA,Hammer,1\nB,Saw,2\n";

#[tokio::test]
async fn a_transient_failure_is_retried_after_growing_delays_and_completes() {
    let env = TestEnv::with(&[("INTAKE__RETRY__DELAYS_MS", "200,2000,5000")]).await;
    let faulty = Faulty::new(2);
    let worker = env.worker_with(registry(&faulty)).await;
    let message = env.message("Acme", "faulty", &env.csv("p.csv", LIST));
    env.enqueue(&message).await;

    let result = env.result(message.task_id, WAIT).await;
    assert_eq!(result.status, TaskStatus::Completed);
    assert_eq!(result.attempt, 3);
    let calls = faulty.calls();
    assert_eq!(calls.len(), 3);
    // Lower bounds hold however loaded the machine: each retry waits at least its own delay,
    // so the second (2 s) could not have been the first's (0.2 s) again.
    let first = calls[1] - calls[0];
    let second = calls[2] - calls[1];
    assert!(
        first >= Duration::from_millis(200),
        "the first retry waits its delay: {first:?}"
    );
    assert!(
        second >= Duration::from_millis(2000),
        "the second retry waits the next delay: {second:?}"
    );

    let errors: serde_json::Value = sqlx::query_scalar("SELECT errors FROM task_runs WHERE task_id = $1")
        .bind(message.task_id.as_uuid())
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(errors.as_array().map(Vec::len), Some(2), "{errors}");
    worker.stop().await;
}

#[tokio::test]
async fn a_task_that_keeps_failing_is_dead_lettered_with_its_story_and_replays() {
    let env = TestEnv::with(&[("INTAKE__RETRY__DELAYS_MS", "50")]).await;
    let faulty = Faulty::new(0);
    faulty.broken.store(true, Ordering::SeqCst);
    let worker = env.worker_with(registry(&faulty)).await;
    let message = env.message("Acme", "faulty", &env.csv("p.csv", LIST));
    env.enqueue(&message).await;

    let result = env.result(message.task_id, WAIT).await;
    assert_eq!(result.status, TaskStatus::DeadLettered);
    assert_eq!(faulty.calls().len(), 4, "one attempt and three retries");
    let letter = env
        .queue
        .dlq_show(&message.task_id.to_string())
        .await
        .unwrap()
        .expect("filed");
    assert_eq!(letter.errors.len(), 4);
    assert!(letter.errors.iter().all(|e| e.class == FailureClass::Transient));
    assert_eq!(
        letter.errors.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    let stored: serde_json::Value = serde_json::from_str(&letter.payload).unwrap();
    assert_eq!(
        stored["task_id"],
        message.task_id.to_string(),
        "the full message is kept"
    );
    let status: String = sqlx::query_scalar("SELECT status::text FROM task_runs WHERE task_id = $1")
        .bind(message.task_id.as_uuid())
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "dead_lettered");

    // Fixed on the operator's side: replaying runs it again, with a fresh retry budget.
    faulty.broken.store(false, Ordering::SeqCst);
    let replay = env
        .command()
        .args(["dlq", "replay", &message.task_id.to_string()])
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let again = env.result(message.task_id, WAIT).await;
    assert_eq!(again.status, TaskStatus::Completed);
    assert_eq!(again.counts.rows_stored, 2);
    assert!(
        env.queue
            .dlq_show(&message.task_id.to_string())
            .await
            .unwrap()
            .is_none()
    );
    worker.stop().await;
}

#[tokio::test]
async fn permanent_failures_skip_retries() {
    let env = TestEnv::new().await;
    let faulty = Faulty::new(0);
    let worker = env.worker_with(registry(&faulty)).await;

    let missing = env.message("Acme", "faulty", &env.dir.0.join("absent.csv"));
    let mut unknown = env.message("Acme", "faulty", &env.csv("p.csv", LIST));
    unknown.parser_type = ParserType::new("pdf").unwrap();
    let mut expired = env.message("Acme", "faulty", &env.csv("q.csv", LIST));
    expired.enqueued_at = chrono::Utc::now() - chrono::Duration::hours(2);
    expired.expires_at = Some(chrono::Utc::now() - chrono::Duration::hours(1));
    let outside = env.message("Acme", "csv", std::path::Path::new("/etc/passwd"));

    for m in [&missing, &unknown, &expired, &outside] {
        env.enqueue(m).await;
    }
    for (message, expected) in [
        (&missing, "source not found"),
        (&unknown, "unknown parser type \"pdf\""),
        (&expired, "expired"),
        (&outside, "access denied"),
    ] {
        let r = env.result(message.task_id, WAIT).await;
        assert_eq!(r.status, TaskStatus::DeadLettered);
        assert_eq!(r.attempt, 1, "no retries for a permanent failure");
        let error = r.error.unwrap_or_default();
        assert!(error.contains(expected), "{error}");
    }
    assert!(faulty.calls().is_empty(), "none of them reached a decoder");
    worker.stop().await;
}

#[tokio::test]
async fn a_panic_on_one_source_fails_that_task_only_and_restarts_nothing() {
    let env = TestEnv::with(&[
        ("INTAKE__RETRY__DELAYS_MS", "50"),
        ("INTAKE__PIPELINE__PARSERS__FAULTY", "2"),
        // A budget a queue of bad files would exhaust if each cost a restart.
        ("INTAKE__SUPERVISOR__MAX_RESTARTS", "2"),
    ])
    .await;
    let faulty = Faulty::new(0);
    let worker = env.worker_with(registry(&faulty)).await;

    let mut poison = Vec::new();
    let mut good = Vec::new();
    for i in 0..20 {
        let m = env.message(&format!("Supplier {i}"), "faulty", &env.csv(&format!("g{i}.csv"), LIST));
        if i % 4 == 0 {
            let p = env.message(
                "Acme",
                "faulty",
                &env.csv(&format!("poison{i}.csv"), "SKU,Name,Price\nPOISON,x,1\n"),
            );
            env.enqueue(&p).await;
            poison.push(p);
        }
        env.enqueue(&m).await;
        good.push(m);
    }
    for m in &good {
        let r = env.result(m.task_id, WAIT).await;
        assert_eq!(r.status, TaskStatus::Completed, "{r:?}");
    }
    for p in &poison {
        let r = env.result(p.task_id, WAIT).await;
        assert_eq!(r.status, TaskStatus::DeadLettered);
        let letter = env.queue.dlq_show(&p.task_id.to_string()).await.unwrap().unwrap();
        assert_eq!(
            letter.errors.len(),
            1,
            "a panic is not worth a retry: {:?}",
            letter.errors
        );
        assert!(letter.errors[0].message.contains("poison input"), "{:?}", letter.errors);
    }
    assert_eq!(env.db.count("SELECT count(*) FROM supplier_items").await, 40);
    assert_eq!(
        env.db
            .count("SELECT count(*) FROM task_runs WHERE status = 'completed'")
            .await,
        20
    );
    let metrics = intake::http::metrics().render();
    assert!(
        metrics.lines().any(|l| l == "intake_actor_restarts 0"),
        "no actor restarted:\n{metrics}"
    );
    worker.stop().await;
}

#[tokio::test]
async fn queue_stats_show_waiting_scheduled_and_dead_tasks() {
    let env = TestEnv::with(&[("INTAKE__RETRY__DELAYS_MS", "60000")]).await;
    let faulty = Faulty::new(1);
    let worker = env.worker_with(registry(&faulty)).await;
    let retried = env.message("Acme", "faulty", &env.csv("p.csv", LIST));
    env.enqueue(&retried).await;
    env.queue.enqueue_raw("garbage").await.unwrap();
    eventually(WAIT, "one scheduled retry and one dead letter", || async {
        let stats = intake_actors::ports::TaskQueue::stats(&env.queue).await.ok()?;
        (stats.scheduled_retries == 1 && stats.dead_letters == 1).then_some(())
    })
    .await;
    worker.stop().await;
    env.enqueue(&env.message("Acme", "csv", &env.csv("w.csv", LIST))).await;

    let out = env.command().args(["queue", "stats", "--json"]).output().unwrap();
    assert!(out.status.success());
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["waiting"], 1);
    assert_eq!(stats["pending"], 0);
    assert_eq!(stats["scheduled_retries"], 1);
    assert_eq!(stats["dead_letters"], 1);
    let table = env.command().args(["queue", "stats"]).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("scheduled retries  1"), "{text}");

    let unconfirmed = env.command().args(["dlq", "purge"]).output().unwrap();
    assert_eq!(unconfirmed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unconfirmed.stderr).contains("pass --yes"));
    assert_eq!(env.queue.dlq_list(10).await.unwrap().len(), 1, "nothing purged unasked");
    let purge = env.command().args(["dlq", "purge", "--yes"]).output().unwrap();
    assert!(String::from_utf8_lossy(&purge.stdout).contains("purged 1"));
}
