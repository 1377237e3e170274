//! Metadata tasks through the queue (`task_type: "metadata"`): a worker runs them into the same
//! records as `intake metadata ingest`, idempotently; a task it may not or cannot run is
//! dead-lettered with its reason; `intake metadata enqueue --wait` reports the run.

use std::time::Duration;

use intake_actors::domain::{TaskId, TaskStatus};
use intake_actors::envelope::QueuedTask;
use intake_actors::metadata::{Kind, MetadataTask};
use serde_json::Value;

use crate::helpers::TestEnv;
use crate::metadata::{BOOK, xmins};

/// A metadata task of `kind` for `source`, as a producer would enqueue it.
pub(crate) fn task(kind: Kind, source: &std::path::Path) -> MetadataTask {
    MetadataTask {
        task_id: TaskId::new(),
        kind,
        source: source.display().to_string(),
        name: None,
        recursive: false,
        include: Vec::new(),
        exclude: Vec::new(),
        copylib: Vec::new(),
        retry_count: 0,
        max_retries: 3,
        enqueued_at: chrono::Utc::now(),
        expires_at: None,
        traceparent: None,
        errors: Vec::new(),
    }
}

#[tokio::test]
async fn a_metadata_task_runs_from_the_queue_and_its_rerun_writes_no_row() {
    let env = TestEnv::new().await;
    let dir = env.dir.0.join("copybooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("account.cpy"), BOOK).unwrap();
    let worker = env.worker().await;

    let first = task(Kind::Cobol, &dir);
    env.queue
        .enqueue_task(&QueuedTask::Metadata(first.clone()))
        .await
        .unwrap();
    let result = env.result(first.task_id, Duration::from_secs(60)).await;
    assert_eq!(result.status, TaskStatus::Completed, "{result:?}");
    let run = result.metadata.as_ref().expect("a metadata result carries its run");
    assert_eq!(run.figures.records_seen, 7, "the record, four fields, two conditions");
    assert_eq!(run.figures.changes.inserted, 7);
    let logged: (String, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT status, task_id FROM ingestion_log WHERE run_id = $1")
            .bind(run.run_id.expect("a stored run"))
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    assert_eq!(logged, ("completed".to_owned(), Some(first.task_id.as_uuid())));
    let before = xmins(&env).await;

    let again = task(Kind::Cobol, &dir);
    env.queue
        .enqueue_task(&QueuedTask::Metadata(again.clone()))
        .await
        .unwrap();
    let result = env.result(again.task_id, Duration::from_secs(60)).await;
    let run = result.metadata.expect("a run");
    assert_eq!(
        (
            run.figures.changes.unchanged,
            run.figures.changes.inserted,
            run.figures.changes.updated
        ),
        (7, 0, 0)
    );
    assert_eq!(xmins(&env).await, before, "an unchanged re-run writes no row");

    // The task's story, without SQL: its run.
    let mut command = env.command();
    command.args(["task", "show", "--json"]).arg(first.task_id.to_string());
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let runs: Value = serde_json::from_slice(&out.stdout).expect("the runs as JSON");
    assert_eq!(runs[0]["task_id"], first.task_id.to_string());
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["records_inserted"], 7);
    worker.stop().await;
}

#[tokio::test]
async fn a_metadata_task_it_may_not_or_cannot_run_is_dead_lettered_with_its_reason() {
    let env = TestEnv::new().await;
    let inside = env.dir.0.join("books");
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::write(inside.join("account.cpy"), BOOK).unwrap();
    let worker = env.worker().await;

    // Outside sources.allowed_dirs, even through a link placed inside them.
    let outside = task(Kind::Cobol, std::path::Path::new("/etc"));
    let linked_dir = env.dir.0.join("escape");
    std::os::unix::fs::symlink("/etc", &linked_dir).unwrap();
    let linked = task(Kind::K8s, &linked_dir);
    // Inside, but no file of the kind.
    let empty = task(Kind::Mumps, &inside);
    for t in [&outside, &linked, &empty] {
        env.queue.enqueue_task(&QueuedTask::Metadata(t.clone())).await.unwrap();
    }
    for (t, reason) in [
        (&outside, "access denied"),
        (&linked, "access denied"),
        (&empty, "no mumps files"),
    ] {
        let result = env.result(t.task_id, Duration::from_secs(60)).await;
        assert_eq!(result.status, TaskStatus::DeadLettered, "{result:?}");
        let error = result.error.unwrap_or_default();
        assert!(error.contains(reason), "{reason:?} not in {error:?}");
        let letter = env
            .queue
            .dlq_show(&t.task_id.to_string())
            .await
            .unwrap()
            .expect("filed");
        assert!(letter.reason.contains(reason));
        assert_eq!(letter.errors.len(), 1, "a permanent failure is not retried");
    }

    // A message of the family that does not read is refused naming what is wrong.
    let mut raw = serde_json::to_value(task(Kind::Cobol, &inside)).unwrap();
    raw["task_type"] = "metadata".into();
    raw["kind"] = "cobal".into();
    let id = raw["task_id"].as_str().unwrap().to_owned();
    env.queue.enqueue_raw(&raw.to_string()).await.unwrap();
    let letter = crate::helpers::eventually(Duration::from_secs(30), "the malformed task is filed", || async {
        env.queue.dlq_show(&id).await.unwrap()
    })
    .await;
    assert!(letter.reason.contains("cobal"), "{}", letter.reason);

    // A dead letter is replayed as the family's message, and runs once the cause is gone.
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM ingestion_log")
            .fetch_one(&env.db.pool)
            .await
            .unwrap(),
        0,
        "nothing was read for a refused task"
    );
    std::fs::write(inside.join("dd.zwr"), b"^DD(200,0)=\"FIELD^^.01\"\n").unwrap();
    let replayed = env.queue.dlq_replay(&empty.task_id.to_string(), false).await.unwrap();
    assert!(matches!(replayed, intake::queue::Replay::Replayed), "{replayed:?}");
    let result = env.result(empty.task_id, Duration::from_secs(60)).await;
    assert_eq!(result.task_type, intake_actors::domain::TaskType::Metadata);
    assert!(result.metadata.is_some(), "{result:?}");
    worker.stop().await;
}

#[tokio::test]
async fn metadata_enqueue_waits_for_the_run_and_exits_3_when_a_file_was_refused() {
    let env = TestEnv::new().await;
    let dir = env.dir.0.join("copybooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("account.cpy"), BOOK).unwrap();
    std::fs::write(dir.join("broken.cpy"), b"\x00\x01\x02 binary \x00\x00").unwrap();
    let worker = env.worker().await;

    let mut command = env.command();
    let args = [
        "metadata",
        "enqueue",
        "--kind",
        "cobol",
        "--wait",
        "--timeout",
        "60s",
        "--source",
    ];
    command.args(args).arg(&dir);
    // Off this runtime's one thread: the worker runs on it meanwhile.
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let result: Value = serde_json::from_slice(&out.stdout).expect("stdout is the result alone");
    assert_eq!(result["task_type"], "metadata");
    assert_eq!(result["metadata"]["files_seen"], 2);
    assert_eq!(result["metadata"]["files_rejected"], 1);
    assert_eq!(result["metadata"]["changes"]["inserted"], 7);
    assert!(stderr.contains("rejected broken.cpy"), "{stderr}");
    worker.stop().await;
}
