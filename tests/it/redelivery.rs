//! Deliveries that repeat: a task delivered again after it committed, two deliveries of one
//! task at once, and a task that kills every worker that runs it.

use std::time::Duration;

use intake_actors::domain::TaskStatus;
use intake_actors::ports::TaskQueue;

use crate::crash::{active_queries, assert_applied_once_for_supplier, big_list};
use crate::helpers::{TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_committed_task_delivered_again_is_acknowledged_and_changes_nothing() {
    let env = TestEnv::new().await;
    let worker = env.worker().await;
    let message = env.message("Acme", "csv", &env.csv("list.csv", &big_list(1_000)));
    env.enqueue(&message).await;
    let first = env.result(message.task_id, WAIT).await;
    assert_eq!(first.status, TaskStatus::Completed);
    let before = catalogue_counts(&env).await;

    // The same task again, as a redelivery after a lost acknowledgement would bring it.
    let key = env.queue.keys().result(&message.task_id.to_string());
    redis_del(&env, &key).await;
    env.enqueue(&message).await;
    let again = env.result(message.task_id, WAIT).await;
    assert_eq!(again.status, TaskStatus::Completed, "the stored result is returned");
    assert_eq!(again.counts, first.counts);
    assert_eq!(catalogue_counts(&env).await, before, "nothing applied twice");
    let stats = TaskQueue::stats(&env.queue).await.unwrap();
    assert_eq!((stats.waiting, stats.pending), (0, 0), "acknowledged");
    worker.stop().await;

    // Two deliveries of one task at once, on two workers.
    let racing = env.message("Racer", "csv", &env.csv("race.csv", &big_list(20_000)));
    env.enqueue(&racing).await;
    env.enqueue(&racing).await;
    let a = env.spawn_worker_process(&[]);
    let b = env.spawn_worker_process(&[]);
    eventually(WAIT, "both deliveries to be settled", || async {
        let stats = TaskQueue::stats(&env.queue).await.ok()?;
        (stats.waiting == 0 && stats.pending == 0).then_some(())
    })
    .await;
    assert_eq!(
        env.result(racing.task_id, WAIT).await.status,
        TaskStatus::Completed,
        "{}\n{}",
        a.log(),
        b.log()
    );
    assert_applied_once_for_supplier(&env, &racing, 20_000).await;
}

async fn catalogue_counts(env: &TestEnv) -> (i64, i64, i64) {
    (
        env.db.count("SELECT count(*) FROM supplier_items").await,
        env.db.count("SELECT count(*) FROM price_history").await,
        env.db.count("SELECT count(*) FROM parsing_logs").await,
    )
}

async fn redis_del(env: &TestEnv, key: &str) {
    let mut stream = tokio::net::TcpStream::connect(env.redis_url.trim_start_matches("redis://").trim_end_matches('/'))
        .await
        .unwrap();
    let command = format!("*2\r\n$3\r\nDEL\r\n${}\r\n{key}\r\n", key.len());
    tokio::io::AsyncWriteExt::write_all(&mut stream, command.as_bytes())
        .await
        .unwrap();
    let mut reply = [0u8; 16];
    let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut reply).await;
}

#[tokio::test]
async fn a_task_that_kills_every_worker_that_runs_it_is_dead_lettered_after_max_deliveries() {
    let env = TestEnv::with(&[
        ("INTAKE__QUEUE__MAX_DELIVERIES", "2"),
        ("INTAKE__QUEUE__HEARTBEAT_MS", "200"),
        ("INTAKE__QUEUE__HEARTBEAT_TTL_MS", "1000"),
    ])
    .await;
    let message = env.message("Acme", "csv", &env.csv("big.csv", &big_list(40_000)));
    env.enqueue(&message).await;
    for delivery in 1..=2 {
        let worker = env.spawn_worker_process(&[("INTAKE__DATABASE__MAX_ROWS_PER_SECOND", "10000")]);
        eventually(WAIT, &format!("delivery {delivery} to be staging"), || async {
            active_queries(&env)
                .await
                .iter()
                .any(|q| q.starts_with("COPY intake_stage"))
                .then_some(())
        })
        .await;
        worker.signal("KILL");
        drop(worker);
        eventually(WAIT, "the killed worker's connections to close", || async {
            active_queries(&env).await.is_empty().then_some(())
        })
        .await;
    }
    let last = env.spawn_worker_process(&[]);
    let result = env.result_or_log(message.task_id, WAIT, || last.log()).await;
    assert_eq!(result.status, TaskStatus::DeadLettered);
    assert!(
        result
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("delivered 3 times"),
        "{result:?}"
    );
    assert_eq!(env.db.count("SELECT count(*) FROM supplier_items").await, 0);
}
