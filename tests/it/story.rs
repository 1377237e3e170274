//! The story of a supplier's lists from the command line, without SQL: the tasks, a task's
//! story, its rejected rows (also as CSV), the price changes.

use intake_actors::domain::TaskStatus;
use intake_actors::pipeline::Outcome;
use serde_json::Value;

use crate::helpers::TestEnv;

fn run(env: &TestEnv, args: &[&str]) -> (Option<i32>, String, String) {
    let out = env.command().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn tasks_rejects_and_price_changes_are_told_without_sql() {
    let env = TestEnv::new().await;
    let first = env.csv("monday.csv", "SKU,Name,Price\nK-1,Kettle,100\nK-2,Toaster,40\n");
    let second = env.csv(
        "tuesday.csv",
        "SKU,Name,Price\nK-1,Kettle,125\nK-2,Toaster,40\nK-3,\"Lamp, \"\"desk\"\"\",по запросу\n",
    );
    let mut ids = Vec::new();
    for path in [&first, &second] {
        let message = env.message("Acme", "csv", path);
        ids.push(message.task_id.to_string());
        let Outcome::Done(result) = env.ingest(message).await else {
            panic!("not stored")
        };
        assert_eq!(result.status, TaskStatus::Completed);
    }

    let (code, out, err) = run(&env, &["task", "list", "--supplier", "Acme", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    let listed: Vec<&str> = listed.iter().map(|t| t["task_id"].as_str().unwrap()).collect();
    assert_eq!(listed, [ids[1].as_str(), ids[0].as_str()], "newest first");
    let (_, out, _) = run(&env, &["task", "list", "--status", "dead_lettered", "--json"]);
    assert_eq!(out.trim(), "[]");

    let (code, out, err) = run(&env, &["task", "show", &ids[1]]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("3 seen, 2 stored, 1 rejected"), "{out}");
    assert!(out.contains("1 price changes"), "{out}");
    assert!(
        out.contains("how the source was read") && out.contains("header row 1"),
        "{out}"
    );

    let (code, out, err) = run(&env, &["rejects", "--supplier", "Acme", "--csv"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "row,error_type,message,row_data");
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[1].starts_with("4,price_on_request,"), "{out}");
    assert!(
        lines[1].contains(r#""Lamp, \""desk\"""#),
        "the row's cells, quoted: {out}"
    );

    let (code, out, err) = run(&env, &["prices", "--supplier", "Acme", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let changes: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(changes.len(), 1, "a first price is no change: {out}");
    assert_eq!(
        (
            &changes[0]["sku"],
            &changes[0]["old_price"],
            &changes[0]["new_price"],
            &changes[0]["change_percent"]
        ),
        (
            &Value::from("K-1"),
            &Value::from("100.00"),
            &Value::from("125.00"),
            &Value::from("25.00")
        )
    );
    assert_eq!(changes[0]["task_id"], Value::from(ids[1].as_str()));

    let (code, _, err) = run(&env, &["task", "list", "--status", "done"]);
    assert_eq!(code, Some(2), "a bad argument: {err}");
    assert!(err.contains("not a task status"), "{err}");
    let (code, _, err) = run(&env, &["task", "show", "00000000-0000-0000-0000-000000000000"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no task"), "{err}");
}

#[tokio::test]
async fn config_show_prints_the_effective_settings_and_names_unknown_keys() {
    let env = TestEnv::with(&[("INTAKE__PIPELINE__WRITER", "4"), ("INTAKE__PIPELINE__WRITERS", "3")]).await;
    let out = env
        .command()
        .env("DATABASE_URL", "postgres://intake:s3cr3t@db.example:5432/intake")
        .args(["config", "show"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["pipeline"]["writers"], 3);
    assert_eq!(shown["unknown_keys"], serde_json::json!(["pipeline.writer"]));
    assert!(!stdout.contains("s3cr3t"), "the password is masked: {stdout}");
    assert!(
        shown["secrets"]["DATABASE_URL"]
            .as_str()
            .unwrap()
            .contains("db.example")
    );
    assert!(
        stderr.contains("no setting is called \"pipeline.writer\"") && stderr.contains("INTAKE__PIPELINE__WRITER"),
        "{stderr}"
    );
}

#[tokio::test]
async fn version_names_the_commit_and_completions_are_printed() {
    let env = TestEnv::new().await;
    let (code, out, _) = run(&env, &["--version"]);
    assert_eq!(code, Some(0));
    let commit = out
        .split("(commit ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_default();
    assert!(!commit.is_empty(), "{out}");
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&env, &["completions", shell]);
        assert_eq!(code, Some(0), "{err}");
        assert!(
            out.contains("rejects") && out.contains("prices"),
            "{shell}: every subcommand completes"
        );
    }
}

#[tokio::test]
async fn without_a_worker_wait_says_how_to_follow_the_task_and_the_parser_is_told_by_the_file() {
    let env = TestEnv::new().await;
    let list = env.csv("list.csv", "SKU,Name,Price\nK-1,Kettle,100\n");
    let (code, out, err) = run(
        &env,
        &[
            "enqueue",
            "--supplier",
            "Acme",
            "--source",
            list.to_str().unwrap(),
            "--wait",
            "--timeout",
            "1s",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty(), "no result on stdout: {out}");
    assert!(err.contains("no worker is running"), "{err}");
    assert!(err.contains("intake task show"), "{err}");
    let queued = intake_actors::ports::TaskQueue::stats(&env.queue).await.unwrap();
    assert_eq!(queued.waiting, 1, "the task waits, parsed as csv without --parser");

    let (code, out, err) = run(&env, &["preview", "--source", list.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let preview: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(preview["rows_valid"], 1);
}
