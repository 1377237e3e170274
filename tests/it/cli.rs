//! The `intake` binary as operators use it: real processes, exit codes, one-line errors.

use std::time::Duration;

use intake_actors::domain::TaskStatus;

use crate::helpers::TestEnv;

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[tokio::test]
async fn a_worker_process_completes_a_task_and_exits_zero_on_sigterm() {
    let env = TestEnv::new().await;
    let mut worker = env.spawn_worker_process(&[]);
    let message = env.message(
        "Acme",
        "csv",
        &env.csv("p.csv", "SKU,Name,Price\nA,Hammer,1\nB,Saw,2\n"),
    );
    env.enqueue(&message).await;
    let result = env.result(message.task_id, Duration::from_secs(60)).await;
    assert_eq!(result.status, TaskStatus::Completed, "{}", worker.log());
    assert_eq!(result.counts.rows_stored, 2);

    worker.signal("TERM");
    let status = worker
        .wait_exit(Duration::from_secs(20))
        .expect("the worker exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}; log:\n{}", worker.log());
}

#[tokio::test]
async fn enqueue_wait_prints_the_result_and_exits_nonzero_when_the_task_fails() {
    let env = TestEnv::new().await;
    let _worker = env.spawn_worker_process(&[]);
    let path = env.csv("p.csv", "SKU,Name,Price\nA,Hammer,1\n");

    let ok = env
        .command()
        .args([
            "enqueue",
            "--supplier",
            "Acme",
            "--parser",
            "csv",
            "--wait",
            "--timeout",
            "60s",
            "--source",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr_of(&ok));
    // The JSON result is the only thing on stdout.
    let result: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("stdout is one JSON document");
    assert_eq!(result["status"], "completed");
    assert!(
        stderr_of(&ok).contains(result["task_id"].as_str().unwrap()),
        "the id is said on stderr"
    );
    assert_eq!(result["rows_stored"], 1);

    let missing = env
        .command()
        .args([
            "enqueue",
            "--supplier",
            "Acme",
            "--parser",
            "csv",
            "--wait",
            "--timeout",
            "60s",
            "--source",
        ])
        .arg(env.dir.0.join("absent.csv"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(3), "{}", stderr_of(&missing));
    let stdout = String::from_utf8_lossy(&missing.stdout);
    assert!(
        stdout.contains("dead_lettered") && stdout.contains("source not found"),
        "{stdout}"
    );
}

#[tokio::test]
async fn user_errors_print_one_line_and_exit_nonzero() {
    let env = TestEnv::new().await;

    let missing = env
        .command()
        .args([
            "ingest",
            "--supplier",
            "Acme",
            "--parser",
            "csv",
            "--source",
            "/nonexistent/prices.csv",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(3));
    let err = stderr_of(&missing);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("source not found: /nonexistent/prices.csv"), "{err}");

    let unreachable = env
        .command()
        .env("DATABASE_URL", "postgres://intake:hunter2@127.0.0.1:1/intake")
        .args(["ingest", "--supplier", "Acme", "--parser", "csv", "--source", "x.csv"])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(1));
    let err = stderr_of(&unreachable);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    assert!(
        err.contains("Connection refused"),
        "the server's own answer, not a pool timeout: {err}"
    );
    assert!(!err.contains("hunter2"), "the password must not be printed: {err}");

    let no_redis = env
        .command()
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .args(["dlq", "list"])
        .output()
        .unwrap();
    let err = stderr_of(&no_redis);
    assert_eq!((no_redis.status.code(), err.lines().count()), (Some(1), 1), "{err}");
    assert!(
        err.contains("Connection refused") && !err.contains("Os {"),
        "one readable line, no debug text: {err}"
    );

    let unknown_field = env
        .command()
        .args([
            "enqueue",
            "--supplier",
            "Acme",
            "--parser",
            "csv",
            "--source",
            "x.csv",
            "--map",
            "colour=B",
        ])
        .output()
        .unwrap();
    assert_eq!(unknown_field.status.code(), Some(1));
    assert!(
        stderr_of(&unknown_field).contains("unknown field \"colour\""),
        "{}",
        stderr_of(&unknown_field)
    );

    let bad_flag = env.command().args(["worker", "--no-such-flag"]).output().unwrap();
    assert_eq!(bad_flag.status.code(), Some(2));
    assert!(!stderr_of(&bad_flag).contains("panicked"));
}

#[tokio::test]
async fn a_relative_source_path_is_queued_absolute() {
    let env = TestEnv::new().await;
    env.csv("relative.csv", "SKU,Name,Price\nA,Hammer,1\n");
    let out = env
        .command()
        .current_dir(&env.dir.0)
        .args([
            "enqueue",
            "--supplier",
            "Acme",
            "--parser",
            "csv",
            "--source",
            "relative.csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let worker = env.spawn_worker_process(&[]);
    let id: intake_actors::domain::TaskId = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let result = env.result_or_log(id, Duration::from_secs(60), || worker.log()).await;
    assert_eq!(
        result.status,
        intake_actors::domain::TaskStatus::Completed,
        "{result:?}"
    );
}
