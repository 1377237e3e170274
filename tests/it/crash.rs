//! Faults with real processes and real servers: killed workers, SIGTERM, a database and a Redis
//! that go away and come back, a slow database. Whatever happens, every task ends exactly once.

use std::time::{Duration, Instant};

use intake_actors::domain::{TaskMessage, TaskStatus};
use intake_actors::ports::TaskQueue;

use crate::helpers::{TestEnv, eventually, price_list};
use crate::servers::{PrivatePostgres, PrivateRedis};

const WAIT: Duration = Duration::from_secs(60);

/// A list of `rows` items where every 100th row has no price.
pub(crate) fn big_list(rows: usize) -> String {
    price_list(rows, |i| {
        let price = if i % 100 == 99 {
            String::new()
        } else {
            format!("{}.{:02}", i % 5000, i % 100)
        };
        (format!("SKU-{i:07}"), format!("Item number {i}"), price)
    })
}

/// The catalogue must look exactly as after one run of `big_list(rows)`.
async fn assert_applied_once(env: &TestEnv, message: &TaskMessage, rows: usize) {
    let rejected = rows / 100;
    let stored = (rows - rejected) as i64;
    assert_eq!(env.db.count("SELECT count(*) FROM supplier_items").await, stored);
    assert_eq!(
        env.db.count("SELECT count(*) FROM price_history").await,
        stored,
        "no duplicate price history"
    );
    assert_eq!(
        env.db.count("SELECT count(*) FROM parsing_logs").await,
        rejected as i64,
        "each rejection logged once"
    );
    let (status, rows_stored): (String, i64) =
        sqlx::query_as("SELECT status::text, rows_stored FROM task_runs WHERE task_id = $1")
            .bind(message.task_id.as_uuid())
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), rows_stored),
        ("completed", stored),
        "a complete task record"
    );
}

/// Whether the task has started (its record says running).
async fn running(env: &TestEnv, message: &TaskMessage) -> bool {
    let status: Option<String> = sqlx::query_scalar("SELECT status::text FROM task_runs WHERE task_id = $1")
        .bind(message.task_id.as_uuid())
        .fetch_optional(&env.db.pool)
        .await
        .ok()
        .flatten();
    status.as_deref() == Some("running")
}

/// What the database is doing for this test right now.
pub(crate) async fn active_queries(env: &TestEnv) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT query FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()",
    )
    .bind(&env.db.name)
    .fetch_all(&env.db.pool)
    .await
    .unwrap_or_default()
}

#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// Rows are being read and copied into staging.
    Staging,
    /// Staged rows are being applied to the catalogue.
    Merging,
    /// The task is committed (and perhaps not yet acknowledged).
    Committed,
}

async fn kill_worker_at(point: KillPoint) {
    const ROWS: usize = 50_000;
    let env = TestEnv::with(&[("INTAKE__QUEUE__VISIBILITY_TIMEOUT_MS", "1500")]).await;
    let mut message = env.message("Acme", "csv", &env.csv("big.csv", &big_list(ROWS)));
    message.max_retries = 0;
    let first = env.spawn_worker_process(&[]);
    env.enqueue(&message).await;

    let task = message.task_id.as_uuid();
    eventually(WAIT, &format!("the worker to reach {point:?}"), || async {
        let reached = match point {
            KillPoint::Staging => active_queries(&env)
                .await
                .iter()
                .any(|q| q.starts_with("COPY intake_stage")),
            KillPoint::Merging => active_queries(&env)
                .await
                .iter()
                .any(|q| q.contains("INSERT INTO supplier_items")),
            KillPoint::Committed => {
                let status: Option<String> =
                    sqlx::query_scalar("SELECT status::text FROM task_runs WHERE task_id = $1")
                        .bind(task)
                        .fetch_optional(&env.db.pool)
                        .await
                        .ok()
                        .flatten();
                status.as_deref() == Some("completed")
            }
        };
        reached.then_some(())
    })
    .await;
    first.signal("KILL");
    drop(first);

    // Nothing of an unfinished attempt is visible.
    if !matches!(point, KillPoint::Committed) {
        assert_eq!(env.db.count("SELECT count(*) FROM supplier_items").await, 0);
    }

    let second = env.spawn_worker_process(&[]);
    let result = env.result_or_log(message.task_id, WAIT, || second.log()).await;
    assert_eq!(result.status, TaskStatus::Completed, "log:\n{}", second.log());
    assert_applied_once(&env, &message, ROWS).await;
    assert_eq!(
        TaskQueue::stats(&env.queue).await.unwrap().pending,
        0,
        "nothing left in progress"
    );
}

#[tokio::test]
async fn a_worker_killed_while_staging_loses_nothing() {
    kill_worker_at(KillPoint::Staging).await;
}

#[tokio::test]
async fn a_worker_killed_while_merging_loses_nothing() {
    kill_worker_at(KillPoint::Merging).await;
}

#[tokio::test]
async fn a_worker_killed_after_commit_does_not_apply_twice() {
    kill_worker_at(KillPoint::Committed).await;
}

/// Peak resident memory of a process so far, in bytes.
fn peak_rss(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

#[tokio::test]
async fn a_slow_database_slows_the_parser_instead_of_filling_memory() {
    let env = TestEnv::with(&[]).await;
    let small = env.message("Small", "csv", &env.csv("small.csv", &big_list(50_000)));
    let large_list = big_list(400_000);
    let large_bytes = large_list.len() as u64;
    let large = env.message("Large", "csv", &env.csv("large.csv", &large_list));
    drop(large_list);
    // 100,000 rows a second: the parser could go several times faster.
    let worker = env.spawn_worker_process(&[("INTAKE__DATABASE__MAX_ROWS_PER_SECOND", "100000")]);

    env.enqueue(&small).await;
    assert_eq!(env.result(small.task_id, WAIT).await.status, TaskStatus::Completed);
    let after_small = peak_rss(worker.pid()).expect("worker rss");

    let started = Instant::now();
    env.enqueue(&large).await;
    assert_eq!(env.result(large.task_id, WAIT).await.status, TaskStatus::Completed);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the throttle held the task back"
    );
    let after_large = peak_rss(worker.pid()).expect("worker rss");

    // 350,000 more rows. Held in memory they would take at least 8 cells × 40 bytes each,
    // over 100 MB. A bounded flow holds a few chunks whatever the list's length; what grows
    // is the set of SKU hashes that finds duplicates (under 30 bytes a row), and the
    // allocator's slack.
    let growth = after_large.saturating_sub(after_small);
    let held_rows = 350_000 * 8 * 40;
    assert!(
        growth < held_rows / 3,
        "peak memory grew by {} MB more for a list {} MB larger",
        growth >> 20,
        large_bytes >> 20
    );
}

#[tokio::test]
async fn sigterm_hands_back_an_unfinished_task_and_exits_zero() {
    const ROWS: usize = 60_000;
    let env = TestEnv::with(&[("INTAKE__WORKER__SHUTDOWN_GRACE_MS", "500")]).await;
    let message = env.message("Acme", "csv", &env.csv("big.csv", &big_list(ROWS)));
    let mut worker = env.spawn_worker_process(&[("INTAKE__DATABASE__MAX_ROWS_PER_SECOND", "10000")]);
    env.enqueue(&message).await;
    eventually(WAIT, "the task to start", || async {
        running(&env, &message).await.then_some(())
    })
    .await;

    let signalled = Instant::now();
    worker.signal("TERM");
    let status = worker.wait_exit(Duration::from_secs(15)).expect("the worker exits");
    assert!(status.success(), "exit status {status:?}\n{}", worker.log());
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "it exits soon after the grace period"
    );

    let stats = TaskQueue::stats(&env.queue).await.unwrap();
    assert_eq!((stats.waiting, stats.pending), (1, 0), "the task is back in the queue");
    assert_eq!(env.db.count("SELECT count(*) FROM supplier_items").await, 0);

    let _next = env.spawn_worker_process(&[]);
    assert_eq!(env.result(message.task_id, WAIT).await.status, TaskStatus::Completed);
    assert_applied_once(&env, &message, ROWS).await;
}

#[tokio::test]
async fn sigterm_lets_a_task_finish_within_the_grace_period() {
    let env = TestEnv::with(&[("INTAKE__WORKER__SHUTDOWN_GRACE_MS", "30000")]).await;
    let message = env.message("Acme", "csv", &env.csv("list.csv", &big_list(20_000)));
    let mut worker = env.spawn_worker_process(&[("INTAKE__DATABASE__MAX_ROWS_PER_SECOND", "10000")]);
    env.enqueue(&message).await;
    eventually(WAIT, "the task to start", || async {
        running(&env, &message).await.then_some(())
    })
    .await;
    worker.signal("TERM");
    let status = worker.wait_exit(Duration::from_secs(40)).expect("the worker exits");
    assert!(status.success(), "{}", worker.log());
    assert_applied_once(&env, &message, 20_000).await;
    let stats = TaskQueue::stats(&env.queue).await.unwrap();
    assert_eq!((stats.waiting, stats.pending), (0, 0));
}

#[tokio::test]
async fn a_long_task_is_not_stolen_from_a_live_worker() {
    // Touched every 0.67 s against a 2 s timeout: margins a loaded machine keeps.
    let env = TestEnv::with(&[("INTAKE__QUEUE__VISIBILITY_TIMEOUT_MS", "2000")]).await;
    let message = env.message("Acme", "csv", &env.csv("list.csv", &big_list(40_000)));
    // Each takes about four visibility timeouts to stage the list.
    let throttle = [("INTAKE__DATABASE__MAX_ROWS_PER_SECOND", "5000")];
    let a = env.spawn_worker_process(&throttle);
    let b = env.spawn_worker_process(&throttle);
    env.enqueue(&message).await;
    let result = env.result(message.task_id, WAIT).await;
    assert_eq!(result.status, TaskStatus::Completed);
    assert_eq!(result.attempt, 1);
    let logs = [a.log(), b.log()];
    let received: usize = logs.iter().map(|l| l.matches("task received").count()).sum();
    assert_eq!(received, 1, "delivered once:\n{}\n{}", logs[0], logs[1]);
    assert!(logs.iter().all(|l| !l.contains("reclaimed")), "never reclaimed");
}

#[tokio::test]
async fn the_database_goes_away_mid_task_and_the_task_completes_when_it_returns() {
    const ROWS: usize = 50_000;
    let pg = PrivatePostgres::start();
    let env = TestEnv::on(
        pg.url("postgres"),
        crate::helpers::redis_url(),
        &[("INTAKE__RETRY__DELAYS_MS", "300")],
    )
    .await;
    // One retry only: an outage that burned retries would dead-letter the task.
    let mut message = env.message("Acme", "csv", &env.csv("big.csv", &big_list(ROWS)));
    message.max_retries = 1;
    let mut second = env.message("Other", "csv", &env.csv("small.csv", "SKU,Name,Price\nA,Saw,2\n"));
    second.max_retries = 1;
    let worker = env.spawn_worker_process(&[]);
    env.enqueue(&message).await;
    eventually(WAIT, "the task to start", || async {
        running(&env, &message).await.then_some(())
    })
    .await;

    pg.stop();
    eventually(WAIT, "the worker to notice the outage", || async {
        worker
            .log()
            .contains("taking no tasks until the database answers again")
            .then_some(())
    })
    .await;
    // Queued while the worker waits: it must not start it until the database is back.
    env.enqueue(&second).await;
    // Down for longer than several backoff steps (300 ms, then doubling), seen by the worker.
    eventually(WAIT, "the worker to wait out the outage", || async {
        (worker.log().matches("database unavailable").count() >= 3).then_some(())
    })
    .await;
    pg.start_again();

    let result = env.result(message.task_id, WAIT).await;
    assert_eq!(result.status, TaskStatus::Completed, "{}", worker.log());
    assert_eq!(result.attempt, 2, "only the interrupted attempt failed");
    let other = env.result(second.task_id, WAIT).await;
    assert_eq!(other.status, TaskStatus::Completed, "{}", worker.log());
    assert_eq!(other.attempt, 1, "nothing started during the outage");
    assert_applied_once_for_supplier(&env, &message, ROWS).await;
    let errors: serde_json::Value = sqlx::query_scalar("SELECT errors FROM task_runs WHERE task_id = $1")
        .bind(message.task_id.as_uuid())
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(
        errors.as_array().map(Vec::len),
        Some(1),
        "the failure of the outage is on the record: {errors}"
    );
    assert_eq!(TaskQueue::stats(&env.queue).await.unwrap().dead_letters, 0);
    let log = worker.log();
    assert!(log.contains("taking tasks again"), "{log}");
}

/// As [`assert_applied_once`], for a test whose database holds other suppliers too.
pub(crate) async fn assert_applied_once_for_supplier(env: &TestEnv, message: &TaskMessage, rows: usize) {
    let rejected = rows / 100;
    let stored = (rows - rejected) as i64;
    let supplier = format!("(SELECT id FROM suppliers WHERE name = '{}')", message.supplier_name);
    assert_eq!(
        env.db
            .count(&format!(
                "SELECT count(*) FROM supplier_items WHERE supplier_id = {supplier}"
            ))
            .await,
        stored
    );
    assert_eq!(
        env.db
            .count(&format!(
                "SELECT count(*) FROM price_history h JOIN supplier_items i ON i.id = h.supplier_item_id WHERE i.supplier_id = {supplier}"
            ))
            .await,
        stored,
        "no duplicate price history"
    );
}

#[tokio::test]
async fn queued_and_scheduled_tasks_survive_a_redis_restart() {
    let mut redis = PrivateRedis::start();
    let env = TestEnv::on(crate::helpers::server_url(), redis.url(), &[]).await;

    // A worker processes a task, then Redis restarts under it.
    let worker = env.spawn_worker_process(&[]);
    let before = env.message("Acme", "csv", &env.csv("a.csv", "SKU,Name,Price\nA,Hammer,1\n"));
    env.enqueue(&before).await;
    assert_eq!(env.result(before.task_id, WAIT).await.status, TaskStatus::Completed);
    let mut worker = worker;
    worker.signal("TERM");
    assert!(worker.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()));

    // With no worker: two queued tasks and one retry scheduled a second from now.
    let queued: Vec<TaskMessage> = (0..2)
        .map(|i| {
            env.message(
                &format!("S{i}"),
                "csv",
                &env.csv(&format!("q{i}.csv"), "SKU,Name,Price\nA,Saw,2\n"),
            )
        })
        .collect();
    for m in &queued {
        env.enqueue(m).await;
    }
    let scheduled = env.message("S9", "csv", &env.csv("s.csv", "SKU,Name,Price\nA,Drill,3\n"));
    env.enqueue(&scheduled).await;
    // Take the last one as a worker would, and schedule its retry.
    let mut deliveries = Vec::new();
    let deadline = Instant::now() + WAIT;
    while deliveries.len() < 3 {
        assert!(Instant::now() < deadline, "the three tasks are delivered");
        deliveries.extend(env.queue.fetch(3, Duration::from_millis(200)).await.unwrap());
    }
    let last = deliveries
        .iter()
        .find(|d| d.payload.contains(&scheduled.task_id.to_string()))
        .unwrap();
    for d in deliveries.iter().filter(|d| d.id != last.id) {
        env.queue.hand_back(&d.id, &d.payload).await.unwrap();
    }
    let due = chrono::Utc::now() + chrono::Duration::seconds(1);
    env.queue
        .retry_later(&last.id, &scheduled.clone().into(), due)
        .await
        .unwrap();

    let worker = env.spawn_worker_process(&[("INTAKE__WORKER__TASKS_IN_FLIGHT", "1")]);
    eventually(WAIT, "the worker to start", || async {
        worker.log().contains("worker started").then_some(())
    })
    .await;
    redis.kill();
    // Down until the worker has seen it go, however long that takes on a busy machine.
    eventually(WAIT, "the worker to notice Redis is gone", || async {
        worker.log().contains("redis connection lost").then_some(())
    })
    .await;
    redis.start_again();

    for m in queued.iter().chain([&scheduled]) {
        let r = env.result(m.task_id, WAIT).await;
        assert_eq!(r.status, TaskStatus::Completed, "{}", worker.log());
    }
    let log = worker.log();
    let warnings = log
        .lines()
        .filter(|l| l.contains("redis unavailable") || l.contains("redis connection lost"))
        .count();
    assert!(
        warnings <= 20,
        "one line per backoff step, not a flood: {warnings} lines"
    );
    assert!(log.contains("redis reachable again"), "the recovery is logged:\n{log}");
}
