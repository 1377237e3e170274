//! Configuration: the built-in `config/default.toml`, an optional file on top, then
//! `INTAKE__<SECTION>__<KEY>` environment variables. Secrets (the two connection URLs) come from
//! the environment only and never print.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};

mod keys;
mod metadata;
use intake_actors::mapping::{MappingOptions, PriceKind};
use intake_actors::pipeline::{ConsumerSettings, FlowSettings, PipelineConfig, RestartBudget};
pub use metadata::{BigQuerySettings, MetadataSettings, SinkKind};
use serde::{Deserialize, Serialize};

/// The defaults, compiled in so the binary runs from any directory.
const DEFAULTS: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    pub worker: WorkerSettings,
    pub queue: QueueSettings,
    pub retry: RetrySettings,
    pub pipeline: PipelineSettings,
    pub supervisor: SupervisorSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub mapping: MappingSettings,
    pub sources: SourcesSettings,
    pub google_sheets: GoogleSheetsSettings,
    pub metadata: MetadataSettings,
    pub bigquery: BigQuerySettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
    /// Keys a file or the environment set that no setting reads (`INTAKE__PIPELINE__WRITER`):
    /// said out loud rather than ignored.
    #[serde(skip)]
    pub unknown_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WorkerSettings {
    pub tasks_in_flight: usize,
    pub shutdown_grace_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct QueueSettings {
    pub key_prefix: String,
    pub consumer_group: String,
    pub fetch_block_ms: u64,
    pub visibility_timeout_ms: u64,
    pub heartbeat_ms: u64,
    pub heartbeat_ttl_ms: u64,
    pub promote_every_ms: u64,
    pub max_deliveries: u32,
    pub result_ttl_s: u64,
    pub stats_every_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RetrySettings {
    #[serde(deserialize_with = "one_or_many")]
    pub delays_ms: Vec<u64>,
    pub max_retries: u32,
}

/// A list from the file, or from an environment variable: `1000,5000` or a lone `1000`
/// (which the environment source reads as a number, not a list).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Int(u64),
        Text(String),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<Number>),
        One(Number),
    }
    let numbers = match OneOrMany::deserialize(d)? {
        OneOrMany::Many(v) => v,
        OneOrMany::One(n) => vec![n],
    };
    let mut out = Vec::new();
    for n in numbers {
        match n {
            Number::Int(i) => out.push(i),
            Number::Text(t) => {
                for part in t.split(',').filter(|p| !p.trim().is_empty()) {
                    out.push(part.trim().parse::<u64>().map_err(serde::de::Error::custom)?);
                }
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PipelineSettings {
    pub validators: usize,
    pub writers: usize,
    pub chunk_rows: usize,
    pub chunks_in_flight: usize,
    #[serde(default)]
    pub parsers: BTreeMap<String, usize>,
    /// Metadata tasks run at once.
    #[serde(default = "one")]
    pub metadata: usize,
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SupervisorSettings {
    pub max_restarts: usize,
    pub restart_window_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    pub max_rows_per_second: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RedisSettings {
    pub connect_timeout_ms: u64,
    pub command_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MappingSettings {
    pub min_confidence: f64,
    pub price_preference: Vec<String>,
    pub prefer_vat_included: bool,
    pub scan_rows: usize,
    pub sample_rows: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SourcesSettings {
    pub allowed_dirs: Vec<PathBuf>,
    pub allowed_hosts: Vec<String>,
    pub allowed_networks: Vec<String>,
    pub http_max_bytes: u64,
    pub http_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GoogleSheetsSettings {
    pub api_base_url: String,
    pub credentials_file: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HttpSettings {
    pub bind: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LogSettings {
    pub level: String,
    pub format: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TelemetrySettings {
    pub otlp_endpoint: String,
    pub service_name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("{name} is not set; export it, e.g. {name}={example}")]
    MissingSecret { name: &'static str, example: &'static str },
}

impl From<config::ConfigError> for SettingsError {
    fn from(e: config::ConfigError) -> Self {
        SettingsError::Invalid(e.to_string())
    }
}

impl Settings {
    /// Loads the defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_with_env(file, None)
    }

    /// As [`Settings::load`], with the environment given as a map (tests).
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path.to_path_buf()).required(true));
        }
        let environment = Environment::with_prefix("INTAKE")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("retry.delays_ms")
            .with_list_parse_key("mapping.price_preference")
            .with_list_parse_key("sources.allowed_dirs")
            .with_list_parse_key("sources.allowed_hosts")
            .with_list_parse_key("sources.allowed_networks")
            .source(env);
        let built = builder.add_source(environment).build()?;
        let unknown_keys = keys::unknown(DEFAULTS, &built)?;
        let mut settings: Settings = built.try_deserialize()?;
        settings.unknown_keys = unknown_keys;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |m: &str| Err(SettingsError::Invalid(m.to_owned()));
        if self.worker.tasks_in_flight == 0 {
            return invalid("worker.tasks_in_flight must be at least 1");
        }
        if self.pipeline.writers == 0 || self.pipeline.validators == 0 {
            return invalid("pipeline.writers and pipeline.validators must be at least 1");
        }
        if self.pipeline.chunk_rows == 0 || self.pipeline.chunks_in_flight == 0 {
            return invalid("pipeline.chunk_rows and pipeline.chunks_in_flight must be at least 1");
        }
        if self.retry.delays_ms.is_empty() {
            return invalid("retry.delays_ms needs at least one delay");
        }
        if self.queue.visibility_timeout_ms < 300 {
            return invalid("queue.visibility_timeout_ms must be at least 300");
        }
        if self.queue.heartbeat_ms < 50 || self.queue.heartbeat_ttl_ms < 2 * self.queue.heartbeat_ms {
            return invalid("queue.heartbeat_ms must be at least 50 and queue.heartbeat_ttl_ms at least twice it");
        }
        if !(0.0..=1.0).contains(&self.mapping.min_confidence) {
            return invalid("mapping.min_confidence must be between 0 and 1");
        }
        for kind in &self.mapping.price_preference {
            if PriceKind::parse(kind).is_none() {
                return Err(SettingsError::Invalid(format!(
                    "mapping.price_preference: unknown kind {kind:?} (wholesale, plain, retail)"
                )));
            }
        }
        for dir in &self.sources.allowed_dirs {
            if !dir.is_absolute() {
                return Err(SettingsError::Invalid(format!(
                    "sources.allowed_dirs: {} is not an absolute path",
                    dir.display()
                )));
            }
            if dir.components().all(|c| matches!(c, std::path::Component::RootDir)) {
                return invalid("sources.allowed_dirs must not allow / (every file of the machine)");
            }
        }
        if self.queue.key_prefix.is_empty() || self.queue.key_prefix.contains(char::is_whitespace) {
            return invalid("queue.key_prefix must be a non-empty word");
        }
        if self.metadata.sink == SinkKind::Bigquery {
            self.bigquery.validate()?;
        }
        Ok(())
    }

    pub fn mapping_options(&self) -> MappingOptions {
        MappingOptions {
            min_confidence: self.mapping.min_confidence,
            price_preference: self
                .mapping
                .price_preference
                .iter()
                .filter_map(|k| PriceKind::parse(k))
                .collect(),
            prefer_vat_included: self.mapping.prefer_vat_included,
            scan_rows: self.mapping.scan_rows,
            sample_rows: self.mapping.sample_rows,
        }
    }

    pub fn pipeline_config(&self) -> PipelineConfig {
        PipelineConfig {
            parsers: self.pipeline.parsers.clone(),
            validators: self.pipeline.validators,
            writers: self.pipeline.writers,
            flow: FlowSettings {
                chunk_rows: self.pipeline.chunk_rows,
                chunks_in_flight: self.pipeline.chunks_in_flight,
                mapping: self.mapping_options(),
            },
            restarts: RestartBudget {
                max_restarts: self.supervisor.max_restarts,
                window: ms(self.supervisor.restart_window_ms),
            },
            max_rows_per_second: Some(self.database.max_rows_per_second).filter(|&n| n > 0),
            metadata: self.pipeline.metadata,
        }
    }

    pub fn consumer_settings(&self) -> ConsumerSettings {
        ConsumerSettings {
            tasks_in_flight: self.worker.tasks_in_flight,
            fetch_block: ms(self.queue.fetch_block_ms),
            visibility_timeout: ms(self.queue.visibility_timeout_ms),
            heartbeat: ms(self.queue.heartbeat_ms),
            heartbeat_ttl: ms(self.queue.heartbeat_ttl_ms),
            promote_every: ms(self.queue.promote_every_ms),
            retry_delays: self.retry.delays_ms.iter().map(|d| ms(*d)).collect(),
            max_deliveries: self.queue.max_deliveries,
            stats_every: ms(self.queue.stats_every_ms),
        }
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A connection URL that may carry a password: printed with the password masked.
#[derive(Clone)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: String) -> Self {
        Self(url)
    }

    /// The real URL, for the one place that connects with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Masks the password of `scheme://user:password@host…`; also any `password=` query value.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            let masked = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None if out.starts_with("redis") => "***".to_owned(),
                None => userinfo.to_owned(),
            };
            out.replace_range(rest_start..rest_start + at, &masked);
        }
    }
    if let Some(i) = out.find("password=") {
        let start = i + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |j| start + j);
        out.replace_range(start..end, "***");
    }
    out
}

/// The two secrets, from the environment only.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub database_url: Option<SecretUrl>,
    pub redis_url: Option<SecretUrl>,
}

impl Secrets {
    pub fn from_env() -> Self {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(SecretUrl::new)
        };
        Self {
            database_url: read("DATABASE_URL"),
            redis_url: read("REDIS_URL"),
        }
    }

    pub fn database(&self) -> Result<&SecretUrl, SettingsError> {
        self.database_url.as_ref().ok_or(SettingsError::MissingSecret {
            name: "DATABASE_URL",
            example: "postgres://postgres@127.0.0.1:5432/intake",
        })
    }

    pub fn redis(&self) -> Result<&SecretUrl, SettingsError> {
        self.redis_url.as_ref().ok_or(SettingsError::MissingSecret {
            name: "REDIS_URL",
            example: "redis://127.0.0.1:6379",
        })
    }
}

#[cfg(test)]
mod tests;
