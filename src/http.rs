//! The worker's HTTP listener: `/healthz` (the process and its actors run), `/readyz` (and
//! PostgreSQL and Redis answer) and `/metrics` in the Prometheus text format.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use intake_actors::pipeline::PipelineProbe;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

use crate::queue::RedisQueue;

/// Buckets of the duration histograms, in seconds: from a small task's merge to a large list.
const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The process's metrics recorder, installed on first use.
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder already installed (tests building two workers): keep rendering ours.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Folds recorded histogram samples into their buckets every few seconds, so memory stays
/// flat when nobody scrapes `/metrics`. Started once per process.
pub fn keep_metrics_bounded() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let handle = metrics();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
    });
}

#[derive(Clone)]
struct Health {
    pool: PgPool,
    queue: RedisQueue,
    pipeline: PipelineProbe,
}

/// Serves the listener on `bind` until the process ends; returns the address it got.
pub async fn serve(
    bind: &str,
    pool: PgPool,
    queue: RedisQueue,
    pipeline: PipelineProbe,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let address = listener.local_addr()?;
    metrics();
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(Health { pool, queue, pipeline });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the health and metrics listener stopped");
        }
    });
    Ok(address)
}

async fn healthz(State(health): State<Health>) -> Response {
    if health.pipeline.is_healthy() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "actors not running\n").into_response()
    }
}

async fn readyz(State(health): State<Health>) -> Response {
    let within = |d| Duration::from_secs(d);
    let database = matches!(
        tokio::time::timeout(within(2), sqlx::query("SELECT 1").execute(&health.pool)).await,
        Ok(Ok(_))
    );
    let redis = matches!(tokio::time::timeout(within(2), health.queue.ping()).await, Ok(Ok(())));
    let actors = health.pipeline.is_healthy();
    // Not a reason to be unready (the queue works), but a risk the operator must see.
    let persistence = tokio::time::timeout(within(2), health.queue.persistence())
        .await
        .ok()
        .flatten();
    record_persistence(persistence.as_ref());
    let body = serde_json::json!({
        "database": database,
        "redis": redis,
        "actors": actors,
        "redis_persistence": persistence,
        "warnings": persistence.as_ref().and_then(|p| p.warning()).into_iter().collect::<Vec<_>>(),
    });
    let status = if database && redis && actors {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn render_metrics() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics().render(),
    )
        .into_response()
}

/// `intake_redis_appendonly`: 1 when Redis keeps an append-only file, 0 when a restart loses
/// the queue, absent when Redis does not say.
pub fn record_persistence(persistence: Option<&crate::queue::Persistence>) {
    if let Some(p) = persistence {
        metrics::gauge!("intake_redis_appendonly").set(if p.appendonly { 1.0 } else { 0.0 });
    }
}
