//! A supplier's lists apply once, whole, and in order: concurrent first lists, an older list
//! that comes back after a newer one, a file rewritten while it is read, a dead worker's tasks
//! taken over as soon as its heartbeat stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use intake_actors::decode::csv::CsvDecoder;
use intake_actors::domain::{ParserType, SourceConfig, TaskStatus};
use intake_actors::pipeline::Outcome;
use intake_actors::ports::{DecodeError, Decoder, DecoderRegistry, FetchedSource, SourceContent, TaskQueue};
use intake_actors::table::TableSink;

use crate::helpers::{TestEnv, eventually, price_list};

const WAIT: Duration = Duration::from_secs(90);

/// Version `version` of a list of `rows` items: prices differ between versions.
fn list(rows: usize, version: usize) -> String {
    price_list(rows, |i| {
        (
            format!("SKU-{i:06}"),
            format!("Item {i}"),
            format!("{}.{:02}", version * 1000 + i % 500, version),
        )
    })
}

/// The supplier's items and prices, by SKU.
async fn prices(env: &TestEnv) -> Vec<(String, String)> {
    sqlx::query_as("SELECT supplier_sku, current_price::text FROM supplier_items ORDER BY supplier_sku")
        .fetch_all(&env.db.pool)
        .await
        .unwrap()
}

fn expected_prices(rows: usize, version: usize) -> Vec<(String, String)> {
    (0..rows)
        .map(|i| {
            (
                format!("SKU-{i:06}"),
                format!("{}.{:02}", version * 1000 + i % 500, version),
            )
        })
        .collect()
}

#[tokio::test]
async fn two_first_lists_of_a_new_supplier_at_once_both_settle_and_the_newer_holds() {
    const ROWS: usize = 30_000;
    let env = TestEnv::new().await;
    let v1 = env.message("Fresh", "csv", &env.csv("v1.csv", &list(ROWS, 1)));
    let v2 = env.message("Fresh", "csv", &env.csv("v2.csv", &list(ROWS, 2)));
    let a = env.spawn_worker_process(&[]);
    let b = env.spawn_worker_process(&[]);
    env.enqueue(&v1).await;
    env.enqueue(&v2).await;
    let r1 = env
        .result_or_log(v1.task_id, WAIT, || format!("{}\n{}", a.log(), b.log()))
        .await;
    let r2 = env
        .result_or_log(v2.task_id, WAIT, || format!("{}\n{}", a.log(), b.log()))
        .await;
    // Whichever merged first, neither list is lost to the race.
    assert!(
        matches!(r1.status, TaskStatus::Completed | TaskStatus::Superseded),
        "{r1:?}"
    );
    assert_eq!(r2.status, TaskStatus::Completed, "{r2:?}");
    assert_eq!(TaskQueue::stats(&env.queue).await.unwrap().dead_letters, 0);
    assert_eq!(prices(&env).await, expected_prices(ROWS, 2), "the newer list holds");
}

#[tokio::test]
async fn an_older_list_after_a_newer_one_is_superseded_unless_forced() {
    let env = TestEnv::new().await;
    let worker = env.worker().await;
    let mut older = env.message("Acme", "csv", &env.csv("older.csv", &list(50, 1)));
    older.list_date = Some("2026-11-01T00:00:00Z".parse().unwrap());
    let mut newer = env.message("Acme", "csv", &env.csv("newer.csv", &list(50, 2)));
    newer.list_date = Some("2026-11-02T00:00:00Z".parse().unwrap());

    env.enqueue(&newer).await;
    assert_eq!(env.result(newer.task_id, WAIT).await.status, TaskStatus::Completed);
    let history = env.db.count("SELECT count(*) FROM price_history").await;
    env.enqueue(&older).await;
    let result = env.result(older.task_id, WAIT).await;
    assert_eq!(result.status, TaskStatus::Superseded);
    assert!(
        result.notes.iter().any(|n| n.contains("newer list")),
        "{:?}",
        result.notes
    );
    assert_eq!(
        prices(&env).await,
        expected_prices(50, 2),
        "the older list changed nothing"
    );
    assert_eq!(
        env.db.count("SELECT count(*) FROM price_history").await,
        history,
        "no price flip-flop"
    );
    let stats = env.queue.stats().await.unwrap();
    assert_eq!(stats.finished.get("superseded"), Some(&1), "counted: {stats:?}");

    // The operator may force it.
    let mut forced = older.clone();
    forced.task_id = intake_actors::domain::TaskId::new();
    forced.force = true;
    env.enqueue(&forced).await;
    assert_eq!(env.result(forced.task_id, WAIT).await.status, TaskStatus::Completed);
    assert_eq!(prices(&env).await, expected_prices(50, 1));
    worker.stop().await;
}

#[tokio::test]
async fn a_list_reclaimed_after_its_worker_died_does_not_undo_a_newer_one() {
    const ROWS: usize = 40_000;
    let env = TestEnv::new().await;
    let v1 = env.message("Acme", "csv", &env.csv("v1.csv", &list(ROWS, 1)));
    let a = env.spawn_worker_process(&[("INTAKE__DATABASE__MAX_ROWS_PER_SECOND", "10000")]);
    env.enqueue(&v1).await;
    eventually(WAIT, "v1 to be staged", || async {
        let status: Option<String> = sqlx::query_scalar("SELECT status::text FROM task_runs WHERE task_id = $1")
            .bind(v1.task_id.as_uuid())
            .fetch_optional(&env.db.pool)
            .await
            .ok()
            .flatten();
        (status.as_deref() == Some("running")).then_some(())
    })
    .await;
    a.signal("KILL");
    drop(a);

    // v2 arrives later and is applied while v1 waits to be taken over.
    let mut v2 = env.message("Acme", "csv", &env.csv("v2.csv", &list(ROWS, 2)));
    v2.max_retries = 0;
    let Outcome::Done(applied) = env.ingest(v2).await else {
        panic!("v2 applies")
    };
    assert_eq!(applied.status, TaskStatus::Completed);
    let history = env.db.count("SELECT count(*) FROM price_history").await;

    let b = env.spawn_worker_process(&[]);
    let result = env.result_or_log(v1.task_id, WAIT, || b.log()).await;
    assert_eq!(result.status, TaskStatus::Superseded, "{result:?}");
    assert_eq!(prices(&env).await, expected_prices(ROWS, 2), "the catalogue holds v2");
    assert_eq!(env.db.count("SELECT count(*) FROM price_history").await, history);
}

#[tokio::test]
async fn a_dead_workers_task_is_taken_over_when_its_heartbeat_stops() {
    let env = TestEnv::new().await;
    assert_eq!(
        env.settings.queue.visibility_timeout_ms, 60_000,
        "the backstop stays long"
    );
    let message = env.message("Acme", "csv", &env.csv("big.csv", &list(40_000, 1)));
    let a = env.spawn_worker_process(&[("INTAKE__DATABASE__MAX_ROWS_PER_SECOND", "5000")]);
    env.enqueue(&message).await;
    eventually(WAIT, "the task to start", || async {
        a.log().contains("task received").then_some(())
    })
    .await;
    // An idle worker, started after the task was taken.
    let b = env.spawn_worker_process(&[]);
    eventually(WAIT, "the second worker to start", || async {
        b.log().contains("worker started").then_some(())
    })
    .await;
    a.signal("KILL");
    let killed = Instant::now();
    drop(a);
    let result = env.result_or_log(message.task_id, WAIT, || b.log()).await;
    let recovered = killed.elapsed();
    assert_eq!(result.status, TaskStatus::Completed);
    assert!(
        b.log().contains("took over a task of a worker whose heartbeat stopped"),
        "{}",
        b.log()
    );
    // The visibility timeout (60 s) would have taken far longer; the heartbeat lapses in 5 s.
    assert!(recovered < Duration::from_secs(40), "taken over after {recovered:?}");
}

/// A csv decoder that rewrites its file once, after reading it, the way an upload landing
/// mid-task would.
#[derive(Clone)]
struct Rewriting {
    replacement: String,
    done: Arc<AtomicBool>,
}

impl Decoder for Rewriting {
    fn decode(
        &self,
        source: &FetchedSource,
        config: &SourceConfig,
        sink: &mut dyn TableSink,
    ) -> Result<(), DecodeError> {
        let outcome = CsvDecoder.decode(source, config, sink);
        if !self.done.swap(true, Ordering::SeqCst)
            && let SourceContent::File(file) = &source.content
        {
            std::fs::write(&file.path, &self.replacement).unwrap();
        }
        outcome
    }
}

#[tokio::test]
async fn a_file_rewritten_while_it_is_read_is_read_again_whole() {
    let env = TestEnv::new().await;
    let path = env.csv("list.csv", &list(100, 1));
    let mut registry = DecoderRegistry::new();
    registry.register(
        ParserType::new("csv").unwrap(),
        Rewriting {
            replacement: list(80, 2),
            done: Arc::new(AtomicBool::new(false)),
        },
    );
    let worker = env.worker_with(registry).await;
    let message = env.message("Acme", "csv", &path);
    env.enqueue(&message).await;
    let result = env.result(message.task_id, WAIT).await;
    assert_eq!(result.status, TaskStatus::Completed);
    assert_eq!(result.attempt, 2, "the mixed read was thrown away");
    assert_eq!(prices(&env).await, expected_prices(80, 2), "only the new file's rows");
    let errors: serde_json::Value = sqlx::query_scalar("SELECT errors FROM task_runs WHERE task_id = $1")
        .bind(message.task_id.as_uuid())
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert!(errors.to_string().contains("changed while it was read"), "{errors}");
    worker.stop().await;
}
