//! A queued task cannot reach what it should not, each tried against a real `intake worker`
//! process: internal addresses, redirects to them,
//! files outside the allowed directories; and the secrets of a source URL appear in no log,
//! table, result or dead letter.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use intake_actors::domain::{TaskMessage, TaskStatus};

use crate::helpers::{TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(60);

/// A server on `ip` that counts the requests it answers; `/internal.csv` is a price list,
/// `/to/<target>` redirects to `http://<target>/internal.csv`, anything else is 404.
async fn server(ip: &str) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new()
        .route("/internal.csv", get(|| async { "SKU,Name,Price\nX,Secret plans,1\n" }))
        .route(
            "/to/{target}",
            get(|axum::extract::Path(target): axum::extract::Path<String>| async move {
                axum::response::Redirect::temporary(&format!("http://{target}/internal.csv"))
            }),
        )
        .layer(axum::middleware::from_fn(
            move |request, next: axum::middleware::Next| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    next.run(request).await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0")).await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (address, hits)
}

fn by_url(env: &TestEnv, url: &str) -> TaskMessage {
    let mut m = env.message("Acme", "csv", std::path::Path::new("unused"));
    m.source_config.path = None;
    m.source_config.url = Some(url.to_owned());
    m.max_retries = 0;
    m
}

#[tokio::test]
async fn internal_addresses_and_redirects_to_them_are_never_reached() {
    let (internal, internal_hits) = server("127.0.0.2").await;
    let (front, front_hits) = server("127.0.0.1").await;
    // The front server is opened to tasks; the internal one is not.
    let env = TestEnv::with(&[("INTAKE__SOURCES__ALLOWED_NETWORKS", "127.0.0.1/32")]).await;
    let _worker = env.spawn_worker_process(&[]);

    let direct = by_url(&env, &format!("http://{internal}/internal.csv"));
    let closed_port = by_url(&env, "http://127.0.0.2:1/internal.csv");
    let metadata = by_url(&env, "http://169.254.169.254/latest/meta-data/");
    let by_name = by_url(
        &env,
        &format!("http://localhost:{}/internal.csv", internal.rsplit(':').next().unwrap()),
    );
    let redirected = by_url(&env, &format!("http://{front}/to/{internal}"));
    let other_host = by_url(
        &env,
        &format!("http://{front}/to/localhost:{}", front.rsplit(':').next().unwrap()),
    );
    for m in [&direct, &closed_port, &metadata, &by_name, &redirected, &other_host] {
        env.enqueue(m).await;
    }
    let mut reasons = Vec::new();
    for m in [&direct, &closed_port, &metadata, &by_name, &redirected, &other_host] {
        let r = env.result(m.task_id, WAIT).await;
        assert_eq!(r.status, TaskStatus::DeadLettered, "{r:?}");
        reasons.push(r.error.unwrap_or_default());
    }
    assert_eq!(
        internal_hits.load(Ordering::SeqCst),
        0,
        "nothing reached the internal server: {reasons:#?}"
    );
    assert_eq!(
        front_hits.load(Ordering::SeqCst),
        2,
        "the front server only answered the two redirects"
    );
    assert_eq!(env.db.count("SELECT count(*) FROM supplier_items").await, 0);
    // An open port and a closed one get the same answer.
    let strip = |r: &str| r.replace(&internal, "H").replace("127.0.0.2:1", "H");
    assert_eq!(strip(&reasons[0]), strip(&reasons[1]));
    assert!(reasons[0].contains("not public"), "{}", reasons[0]);
    assert!(
        reasons[4].contains("not public") || reasons[4].contains("another host"),
        "{}",
        reasons[4]
    );
    assert!(reasons[5].contains("another host"), "{}", reasons[5]);
}

#[tokio::test]
async fn the_secrets_of_a_source_url_appear_nowhere_but_where_a_replay_needs_them() {
    let (front, _) = server("127.0.0.1").await;
    let env = TestEnv::with(&[("INTAKE__SOURCES__ALLOWED_NETWORKS", "127.0.0.1/32")]).await;
    let worker = env.spawn_worker_process(&[("RUST_LOG", "debug")]);
    let url = format!("http://bob:pw-0f-b0b@{front}/missing.csv?token=t0ken-s3cret&x=1");
    let message = by_url(&env, &url);
    env.enqueue(&message).await;
    let result = env.result_or_log(message.task_id, WAIT, || worker.log()).await;
    assert_eq!(result.status, TaskStatus::DeadLettered);
    assert!(
        result.error.as_deref().unwrap_or_default().contains("404"),
        "{result:?}"
    );

    let record: String = sqlx::query_scalar(
        "SELECT concat_ws(' ', source, message::text, error, errors::text, notes::text) FROM task_runs WHERE task_id = $1",
    )
    .bind(message.task_id.as_uuid())
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    assert!(
        record.contains("token=***"),
        "the record shows where the secret was: {record}"
    );
    let logs: String =
        sqlx::query_scalar("SELECT coalesce(string_agg(error_message || row_data::text, ' '), '') FROM parsing_logs")
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    let shown = env
        .command()
        .args(["dlq", "show", &message.task_id.to_string()])
        .output()
        .unwrap();
    let listed = env.command().args(["dlq", "list", "--json"]).output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        summary[0]["supplier"],
        message.supplier_name.as_str(),
        "the list names the supplier"
    );
    let source = summary[0]["source"].as_str().unwrap_or_default();
    assert!(
        source.contains("/missing.csv") && source.contains("token=***"),
        "and the masked source: {source}"
    );
    let letter = env.queue.dlq_show(&message.task_id.to_string()).await.unwrap().unwrap();
    let everything = format!(
        "{}\n{record}\n{logs}\n{}\n{}\n{}\n{:?}",
        worker.log(),
        String::from_utf8_lossy(&shown.stdout),
        String::from_utf8_lossy(&listed.stdout),
        serde_json::to_string(&letter).unwrap(),
        result
    );
    for secret in ["pw-0f-b0b", "t0ken-s3cret"] {
        assert!(!everything.contains(secret), "{secret} leaked:\n{everything}");
    }

    // The replay still has the real URL.
    let replay = env
        .command()
        .args(["dlq", "replay", &message.task_id.to_string()])
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let again = eventually(WAIT, "the replayed task to end", || async {
        let letter = env.queue.dlq_show(&message.task_id.to_string()).await.ok()??;
        (letter.errors.len() >= 2).then_some(letter)
    })
    .await;
    assert!(
        again.reason.contains("404"),
        "the replay fetched the same URL: {}",
        again.reason
    );
}

#[tokio::test]
async fn a_path_outside_the_allowed_directories_gets_one_answer_whether_or_not_it_exists() {
    let env = TestEnv::new().await;
    let _worker = env.spawn_worker_process(&[]);
    let exists = env.message("Acme", "csv", std::path::Path::new("/etc/passwd"));
    let absent = env.message("Acme", "csv", std::path::Path::new("/etc/no-such-file-here"));
    let escape = env.message("Acme", "csv", &env.dir.0.join("../../../etc/hostname"));
    for m in [&exists, &absent, &escape] {
        env.enqueue(m).await;
    }
    let mut reasons = Vec::new();
    for (m, path) in [(&exists, "/etc/passwd"), (&absent, "/etc/no-such-file-here")] {
        let r = env.result(m.task_id, WAIT).await;
        assert_eq!(r.status, TaskStatus::DeadLettered);
        reasons.push(r.error.unwrap_or_default().replace(path, "P"));
    }
    assert_eq!(reasons[0], reasons[1], "existence must not show");
    assert!(reasons[0].contains("access denied"), "{}", reasons[0]);
    assert!(
        env.result(escape.task_id, WAIT)
            .await
            .error
            .unwrap_or_default()
            .contains("access denied")
    );
}

#[tokio::test]
async fn the_configuration_refuses_to_open_the_whole_filesystem() {
    let refused = |dirs: &str| {
        let env = [("INTAKE__SOURCES__ALLOWED_DIRS".to_owned(), dirs.to_owned())]
            .into_iter()
            .collect();
        intake::settings::Settings::load_with_env(None, Some(env))
            .unwrap_err()
            .to_string()
    };
    assert!(refused("/").contains("must not allow /"));
    assert!(refused("relative/dir").contains("not an absolute path"));
    let defaults = intake::settings::Settings::load_with_env(None, Some(Default::default())).unwrap();
    assert!(
        defaults.sources.allowed_dirs.is_empty(),
        "nothing is readable by default"
    );
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    assert!(dockerfile.contains("WORKDIR /data") && dockerfile.contains("INTAKE__SOURCES__ALLOWED_DIRS=/data"));
}

#[tokio::test]
async fn a_message_with_a_nul_character_is_refused_and_recorded() {
    let env = TestEnv::new().await;
    let _worker = env.spawn_worker_process(&[]);
    let mut message = env.message("Acme", "csv", &env.csv("ok.csv", "SKU,Name,Price\nA,B,1\n"));
    message.source_config.sheet = Some("Sheet\u{0}1".into());
    env.queue
        .enqueue_raw(&serde_json::to_string(&message).unwrap())
        .await
        .unwrap();
    let result = env.result(message.task_id, WAIT).await;
    assert_eq!(result.status, TaskStatus::DeadLettered);
    assert!(
        result.error.as_deref().unwrap_or_default().contains("NUL"),
        "{result:?}"
    );
    let status: String = sqlx::query_scalar("SELECT status::text FROM task_runs WHERE task_id = $1")
        .bind(message.task_id.as_uuid())
        .fetch_one(&env.db.pool)
        .await
        .expect("the refused task has a record");
    assert_eq!(status, "dead_lettered");
}
