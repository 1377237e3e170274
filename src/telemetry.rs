//! Logs and traces, installed once at start.
//!
//! Logs: JSON lines (with the fields of every enclosing span, so each line inside a task
//! carries its task_id and supplier), or readable text when stderr is a terminal; the level
//! from RUST_LOG, else `[log]`. Traces: exported over OTLP/HTTP when an endpoint is configured
//! (`telemetry.otlp_endpoint`, or OTEL_EXPORTER_OTLP_ENDPOINT), off otherwise. Trace context
//! crosses the queue as a W3C `traceparent` in the task message.

use std::collections::HashMap;
use std::io::IsTerminal;

use intake_actors::ports::TaskTracing;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::settings::{LogSettings, TelemetrySettings};

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] flushes the spans still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            // A collector that is gone cannot be helped at exit.
            let _ = provider.shutdown();
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the OTLP trace exporter could not be built: {0}")]
pub struct TelemetryError(String);

/// Installs the global subscriber; logs go to stderr so stdout stays for command output.
pub fn init(log: &LogSettings, telemetry: &TelemetrySettings) -> Result<Telemetry, TelemetryError> {
    // PostgreSQL's notices ("relation … already exists, skipping") are noise at info.
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{},sqlx::postgres::notice=warn", log.level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match log.format.as_str() {
        "json" => true,
        "text" => false,
        _ => !std::io::stderr().is_terminal(),
    };

    let endpoint = Some(telemetry.otlp_endpoint.trim()).filter(|e| !e.is_empty());
    let from_env = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some_and(|v| !v.is_empty());
    let provider = if endpoint.is_some() || from_env {
        use opentelemetry_otlp::WithExportConfig;
        let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http();
        // A configured endpoint is the full traces URL; the environment variable is a base URL
        // that the exporter completes with /v1/traces itself.
        if let Some(endpoint) = endpoint {
            exporter = exporter.with_endpoint(endpoint);
        }
        let exporter = exporter.build().map_err(|e| TelemetryError(e.to_string()))?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(telemetry.service_name.clone())
            .build();
        Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build(),
        )
    } else {
        None
    };
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("intake")));

    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(false)
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
    // Already installed (a test that builds the service twice): the first one stays.
    let _ = result;
    if json {
        log_panics();
    }
    Ok(Telemetry { provider })
}

/// A panic becomes one log line like any other, so the log stays JSON lines (the default hook
/// writes free text to stderr). Panics inside a task are caught and fail that task; this line
/// says where it happened.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(panic = %message, location = %location, "panicked");
    }));
}

/// W3C trace context on task spans, through the OpenTelemetry layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContext;

impl TaskTracing for TraceContext {
    fn continue_trace(&self, span: &tracing::Span, traceparent: &str) {
        let carrier: HashMap<String, String> = [("traceparent".to_owned(), traceparent.to_owned())].into();
        let context = TraceContextPropagator::new().extract(&carrier);
        if context.span().span_context().is_valid() {
            // Without an exporter the span has no OpenTelemetry data to attach to: nothing to do.
            let _ = span.set_parent(context);
        } else {
            tracing::debug!(traceparent, "ignoring an invalid traceparent");
        }
    }

    fn traceparent(&self, span: &tracing::Span) -> Option<String> {
        current_traceparent(span)
    }
}

/// The `traceparent` of a span, if it belongs to an exported trace.
pub fn current_traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}
