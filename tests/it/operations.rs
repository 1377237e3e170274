//! What an operator relies on: health and metrics, one trace per task continuing the
//! producer's, logs that name the task, least-privilege roles, hostile input that cannot hurt,
//! and deployment files that say what the code does.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use intake_actors::domain::TaskStatus;
use intake_actors::ports::TaskQueue;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::helpers::{TestDb, TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn health_and_metrics_are_served_while_the_worker_runs() {
    let env = TestEnv::with(&[("INTAKE__HTTP__BIND", "127.0.0.1:0")]).await;
    let worker = env.worker_started().await;
    let address = worker.http_address().expect("the listener runs");
    let running = env.run_worker(worker);
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{address}/{path}")).send();

    assert_eq!(get("healthz").await.unwrap().status(), 200);
    let ready = get("readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
    let checks: serde_json::Value = ready.json().await.unwrap();
    for check in ["database", "redis", "actors"] {
        assert_eq!(checks[check], true, "{checks}");
    }
    // The test Redis keeps nothing on disk: ready, with the risk said out loud.
    assert_eq!(checks["redis_persistence"]["appendonly"], false, "{checks}");
    assert!(
        checks["warnings"][0]
            .as_str()
            .unwrap_or_default()
            .contains("appendonly"),
        "{checks}"
    );

    let message = env.message("Acme", "csv", &env.csv("p.csv", "SKU,Name,Price\nA,Hammer,1\nB,Saw,\n"));
    env.enqueue(&message).await;
    assert_eq!(env.result(message.task_id, WAIT).await.status, TaskStatus::Completed);
    let metrics = get("metrics").await.unwrap().text().await.unwrap();
    for expected in [
        "intake_tasks_total{outcome=\"completed\"} 1",
        "intake_rows_stored_total 1",
        "intake_rows_rejected_total 1",
        "intake_task_duration_seconds_bucket",
        "intake_db_batch_seconds_bucket{step=\"merge\"",
        "intake_actor_restarts 0",
        "intake_redis_appendonly 0",
    ] {
        assert!(metrics.contains(expected), "{expected} missing from:\n{metrics}");
    }
    running.stop().await;
}

#[tokio::test]
async fn intake_health_exits_zero_only_when_a_worker_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let env = TestEnv::with(&[("INTAKE__HTTP__BIND", bind.as_str())]).await;
    let before = env.command().arg("health").output().unwrap();
    assert_eq!(before.status.code(), Some(1), "no worker yet");

    let worker = env.spawn_worker_process(&[]);
    eventually(WAIT, "the worker to answer", || async {
        env.command()
            .arg("health")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| ())
    })
    .await;
    let ready = env.command().args(["health", "--ready"]).output().unwrap();
    assert!(
        ready.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&ready.stderr),
        worker.log()
    );
    // The test Redis keeps nothing on disk: the worker says so at start and on every check.
    assert!(String::from_utf8_lossy(&ready.stderr).contains("warning: redis has no append-only file"));
    assert!(
        worker.log().contains("redis has no append-only file"),
        "{}",
        worker.log()
    );
}

/// An OTLP/HTTP collector that keeps what it receives.
async fn collector() -> (String, Arc<Mutex<Vec<ExportTraceServiceRequest>>>) {
    let received: Arc<Mutex<Vec<ExportTraceServiceRequest>>> = Arc::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(store): State<Arc<Mutex<Vec<ExportTraceServiceRequest>>>>, body: Bytes| async move {
                    if let Ok(request) = ExportTraceServiceRequest::decode(body) {
                        store.lock().unwrap().push(request);
                    }
                    ""
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/v1/traces"), received)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// Multi-threaded: the collector must answer while the test blocks waiting for the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_one_trace_under_the_producers_span() {
    let (endpoint, received) = collector().await;
    let env = TestEnv::new().await;
    let mut worker = env.spawn_worker_process(&[("INTAKE__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str())]);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let producer_span = "00f067aa0ba902b7";
    let mut message = env.message(
        "Acme",
        "csv",
        &env.csv("p.csv", "SKU,Name,Price\nA,Hammer,1\nB,Saw,2\n"),
    );
    message.traceparent = Some(format!("00-{trace_id}-{producer_span}-01"));
    env.enqueue(&message).await;
    assert_eq!(env.result(message.task_id, WAIT).await.status, TaskStatus::Completed);
    worker.signal("TERM");
    assert!(
        worker.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()),
        "{}",
        worker.log()
    );

    let spans: Vec<_> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| r.resource_spans.iter())
        .flat_map(|r| r.scope_spans.iter())
        .flat_map(|s| s.spans.iter().cloned())
        .collect();
    let task_id = message.task_id.to_string();
    let attribute = |span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str| {
        span.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.as_ref())
            .and_then(|v| match &v.value {
                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => Some(s.clone()),
                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(i)) => Some(i.to_string()),
                _ => None,
            })
    };
    let task = spans
        .iter()
        .find(|s| s.name == "task" && attribute(s, "task_id").as_deref() == Some(task_id.as_str()))
        .unwrap_or_else(|| {
            panic!(
                "no task span among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(hex(&task.trace_id), trace_id, "the producer's trace continues");
    assert_eq!(hex(&task.parent_span_id), producer_span, "under the producer's span");
    assert_eq!(attribute(task, "supplier").as_deref(), Some("Acme"));
    assert_eq!(attribute(task, "parser_type").as_deref(), Some("csv"));
    assert_eq!(attribute(task, "outcome").as_deref(), Some("completed"));
    assert_eq!(attribute(task, "rows_stored").as_deref(), Some("2"));

    // The rest of the tree: every span of the task in the same trace, each under its parent.
    let in_trace: Vec<_> = spans.iter().filter(|s| hex(&s.trace_id) == trace_id).collect();
    let by_name = |name: &str| {
        in_trace
            .iter()
            .find(|s| s.name == name)
            .copied()
            .unwrap_or_else(|| panic!("no {name} span"))
    };
    let parse = by_name("parse");
    assert_eq!(parse.parent_span_id, task.span_id, "parse is under task");
    for child in ["begin", "validate", "commit"] {
        assert_eq!(by_name(child).parent_span_id, parse.span_id, "{child} is under parse");
    }
    assert_eq!(
        by_name("stage").parent_span_id,
        by_name("validate").span_id,
        "stage is under validate"
    );
}

#[tokio::test]
async fn every_log_line_of_a_task_names_it() {
    let env = TestEnv::new().await;
    let worker = env.spawn_worker_process(&[]);
    let message = env.message("Acme Логи", "csv", &env.csv("p.csv", "SKU,Name,Price\nA,Hammer,1\n"));
    env.enqueue(&message).await;
    env.result(message.task_id, WAIT).await;
    let id = message.task_id.to_string();
    let log = worker.log();
    let lines: Vec<serde_json::Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!lines.is_empty(), "JSON lines expected:\n{log}");
    let inside: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| {
            ["source read", "rows staged", "rows merged"].contains(&l["fields"]["message"].as_str().unwrap_or(""))
        })
        .collect();
    assert_eq!(inside.len(), 3, "{log}");
    for line in inside {
        let spans = line["spans"].as_array().expect("the enclosing spans are listed");
        let task = spans
            .iter()
            .find(|s| s["name"] == "task")
            .expect("inside the task span");
        assert_eq!(task["task_id"], id.as_str());
        assert_eq!(task["supplier"], "Acme Логи");
    }
}

#[tokio::test]
async fn passwords_in_connection_urls_never_reach_the_log() {
    let env = TestEnv::new().await;
    // Local connections are trusted, so a password in the URL is accepted and ignored.
    let url = env
        .db
        .url
        .replacen("postgres://postgres@", "postgres://postgres:pa55-w0rd-secret@", 1);
    let worker = env.spawn_worker_process(&[("DATABASE_URL", url.as_str()), ("RUST_LOG", "debug")]);
    let message = env.message("Acme", "csv", &env.dir.0.join("absent.csv"));
    env.enqueue(&message).await;
    env.result(message.task_id, WAIT).await;
    let bad = env
        .command()
        .env("DATABASE_URL", "postgres://intake:pa55-w0rd-secret@127.0.0.1:1/intake")
        .args(["migrate", "status"])
        .output()
        .unwrap();
    let everything = format!("{}{}", worker.log(), String::from_utf8_lossy(&bad.stderr));
    assert!(
        !everything.contains("pa55-w0rd-secret"),
        "a password was printed:\n{everything}"
    );
}

#[tokio::test]
async fn a_worker_refuses_a_database_without_its_migrations() {
    let env = TestEnv::new().await;
    let bare = TestDb::empty_on_server().await;
    let out = env
        .command()
        .env("DATABASE_URL", &bare.url)
        .arg("worker")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("run `intake migrate up` first"), "{stderr}");
}

/// Writes a raw command to Redis, bytes and all, as a careless producer might.
fn raw_redis(args: &[&[u8]]) {
    let address = crate::helpers::redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let mut command = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        command.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        command.extend_from_slice(arg);
        command.extend_from_slice(b"\r\n");
    }
    stream.write_all(&command).unwrap();
    let mut reply = [0u8; 64];
    let _ = std::io::Read::read(&mut stream, &mut reply);
}

#[tokio::test]
async fn hostile_messages_and_files_get_a_reason_and_hurt_nothing() {
    let env = TestEnv::new().await;
    let worker = env.worker().await;
    let stream = env.queue.keys().tasks();

    // Messages.
    let mut huge_name = env.message("x", "csv", &env.csv("ok0.csv", "SKU,Name,Price\nA,B,1\n"));
    huge_name.supplier_name = intake_actors::domain::SupplierName::new("ok").unwrap();
    let mut huge = serde_json::to_value(&huge_name).unwrap();
    huge["supplier_name"] = "S".repeat(1 << 20).into();
    env.queue.enqueue_raw(&huge.to_string()).await.unwrap();
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    env.queue
        .enqueue_raw(&format!(
            r#"{{"task_id":"0192f0c1-5a5e-7c3e-8f00-0000000000aa","source_config":{nested}}}"#
        ))
        .await
        .unwrap();
    raw_redis(&[b"XADD", stream.as_bytes(), b"*", b"task", b"{\"task_id\":\"\xff\xfe\"}"]);
    raw_redis(&[b"XADD", stream.as_bytes(), b"*", b"other", b"field"]);

    // Files and paths.
    let traversal = env.message(
        "Acme",
        "csv",
        std::path::Path::new(&format!("{}/../../../../etc/passwd", env.dir.0.display())),
    );
    let bomb_path = env.dir.0.join("bomb.xlsx");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&bomb_path).unwrap());
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            zip.write_all(&zeros).unwrap();
        }
        zip.finish().unwrap();
    }
    let bomb = env.message("Acme", "xlsx", &bomb_path);
    let long_field = "x".repeat(2 << 20);
    let big_row = env.message(
        "Acme",
        "csv",
        &env.csv("big-field.csv", &format!("SKU,Name,Price\nA,{long_field},1\nB,Saw,2\n")),
    );
    let invalid_utf8 = {
        let path = env.dir.0.join("bytes.csv");
        std::fs::write(&path, b"SKU,Name,Price\nA,\xff\xfe\xfd hammer,1\n").unwrap();
        env.message("Acme", "csv", &path)
    };
    let good = env.message("Good", "csv", &env.csv("good.csv", "SKU,Name,Price\nG,Good,3\n"));
    for m in [&traversal, &bomb, &big_row, &invalid_utf8, &good] {
        env.enqueue(m).await;
    }

    assert_eq!(env.result(good.task_id, WAIT).await.status, TaskStatus::Completed);
    let env = &env;
    let reason = |id| async move { env.result(id, WAIT).await.error.unwrap_or_default() };
    let traversal_reason = reason(traversal.task_id).await;
    assert!(traversal_reason.contains("access denied"), "{traversal_reason}");
    let bomb_reason = reason(bomb.task_id).await;
    assert!(bomb_reason.contains("zip bomb"), "{bomb_reason}");
    let big = env.result(big_row.task_id, WAIT).await;
    assert_eq!((big.counts.rows_stored, big.counts.rows_rejected), (1, 1));
    let logged: serde_json::Value =
        sqlx::query_scalar("SELECT row_data FROM parsing_logs WHERE error_type = 'invalid_name'")
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    assert!(logged.to_string().len() < 5000, "a hostile cell is clipped in the log");
    assert_eq!(env.result(invalid_utf8.task_id, WAIT).await.counts.rows_stored, 1);

    // Four malformed messages, each dead-lettered with why.
    let letters = eventually(WAIT, "the malformed messages to be dead-lettered", || async {
        let letters = env.queue.dlq_list(100).await.ok()?;
        (letters.len() >= 6).then_some(letters)
    })
    .await;
    let reasons: Vec<&str> = letters.iter().map(|l| l.reason.as_str()).collect();
    assert!(reasons.iter().any(|r| r.contains("SupplierName")), "{reasons:?}");
    // Typed all the way down: deep nesting stops at the first level that is not what it should be.
    assert!(
        reasons.iter().any(|r| r.contains("invalid type: sequence")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("no `task` field")), "{reasons:?}");
    assert!(
        reasons.iter().filter(|r| r.contains("malformed")).count() >= 3,
        "{reasons:?}"
    );
    let stats = env.queue.stats().await.unwrap();
    assert_eq!((stats.waiting, stats.pending), (0, 0), "every entry was settled");
    worker.stop().await;
}

#[test]
fn the_deployment_files_name_what_the_code_reads() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |file: &str| std::fs::read_to_string(format!("{root}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));

    let compose: serde_yaml::Value =
        serde_yaml::from_str(&read("docker-compose.yml")).expect("the compose file parses");
    let services = compose["services"].as_mapping().expect("services");
    for name in [
        "postgres",
        "redis",
        "jaeger",
        "roles",
        "migrate",
        "worker",
        "prometheus",
    ] {
        assert!(services.contains_key(name), "service {name}");
    }
    assert!(
        compose["services"]["postgres"]["image"]
            .as_str()
            .unwrap()
            .starts_with("postgres:16")
    );
    assert!(compose["services"]["postgres"]["healthcheck"].is_mapping());
    let redis_command = serde_yaml::to_string(&compose["services"]["redis"]["command"]).unwrap();
    assert!(redis_command.contains("--appendonly") && redis_command.contains("--requirepass"));
    assert!(compose["services"]["worker"]["deploy"]["replicas"].is_string());
    let worker_env = serde_yaml::to_string(&compose["services"]["worker"]["environment"]).unwrap();
    assert!(
        worker_env.contains("intake_worker:"),
        "the worker connects as the worker role"
    );

    let env_example = read(".env.example");
    let compose_text = read("docker-compose.yml");
    let mut referenced: Vec<String> = compose_text
        .split("${")
        .skip(1)
        .map(|rest| {
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    // What the code itself reads from the environment.
    referenced.extend(
        [
            "DATABASE_URL",
            "REDIS_URL",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "RUST_LOG",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "INTAKE_MIGRATOR_PASSWORD",
            "INTAKE_WORKER_PASSWORD",
        ]
        .map(str::to_owned),
    );
    // Every configuration key, as its INTAKE__ variable.
    let defaults = config::Config::builder()
        .add_source(config::File::from_str(
            &read("config/default.toml"),
            config::FileFormat::Toml,
        ))
        .build()
        .unwrap();
    let table: std::collections::HashMap<String, config::Value> = defaults.try_deserialize().unwrap();
    for (section, value) in table {
        for (key, inner) in value.into_table().unwrap() {
            match inner.clone().into_table() {
                Ok(nested) => referenced.extend(
                    nested
                        .keys()
                        .map(|k| format!("INTAKE__{}__{}__{}", section, key, k).to_uppercase()),
                ),
                Err(_) => referenced.push(format!("INTAKE__{section}__{key}").to_uppercase()),
            }
        }
    }
    for variable in referenced.iter().filter(|v| !v.is_empty()) {
        assert!(
            env_example.contains(&format!("{variable}=")),
            ".env.example lacks {variable}"
        );
    }
    for source in [
        "src/settings/mod.rs",
        "build.rs",
        "src/telemetry.rs",
        "src/sources/google.rs",
        "src/cli.rs",
    ] {
        for read_var in read(source).split("env::var(\"").skip(1) {
            let name = read_var.split('"').next().unwrap();
            assert!(
                env_example.contains(&format!("{name}=")),
                "{source} reads {name}, absent from .env.example"
            );
        }
    }

    let dockerfile = read("Dockerfile");
    let build = "cargo build --release --locked --bin intake";
    assert!(
        dockerfile.contains(build) && dockerfile.contains("COPY --from=build /intake /usr/local/bin/intake"),
        "the image builds as the project does"
    );
    assert!(
        read("scripts/run.sh").contains(build),
        "the same build command as scripts/run.sh"
    );
    assert!(
        dockerfile.contains("USER intake") && dockerfile.contains("HEALTHCHECK") && dockerfile.contains("\"health\"")
    );
}
