//! intake keeps a PostgreSQL catalogue of supplier price lists current. Producers enqueue
//! tasks in Redis; workers take them off the queue and run them through a supervised actor
//! pipeline (see the `intake-actors` crate).
//!
//! This crate is the composition root: it implements the pipeline's ports over real systems
//! and wires them together.
//! - [`settings`]: configuration file, environment overrides, secrets.
//! - [`store`]: PostgreSQL — migrations, task records, COPY staging and the merge.
//! - [`queue`]: Redis — the task stream, retries, dead letters, results.
//! - [`sources`]: local files, downloads and Google Sheets.
//! - [`redact`]: secrets of source URLs masked wherever they are shown or stored.
//! - [`preview`]: how a source would be read, without side effects.
//! - [`startup`]: building a worker or a one-off ingestion from settings.
//! - [`http`]: health checks and Prometheus metrics.
//! - [`telemetry`]: logs and OpenTelemetry traces.

pub mod bigquery;
pub mod google_key;
pub mod http;
pub mod metadata;
pub mod preview;
pub mod queue;
pub mod redact;
pub mod settings;
pub mod sources;
pub mod startup;
pub mod store;
pub mod telemetry;
