//! Where the metadata family's records go: PostgreSQL (the default) or a BigQuery dataset.

use serde::{Deserialize, Serialize};

use super::SettingsError;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MetadataSettings {
    pub sink: SinkKind,
    /// A file whose parsing takes longer is refused (`too_slow`); the run goes on.
    pub parse_timeout_ms: u64,
}

impl MetadataSettings {
    pub fn parse_limit(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.parse_timeout_ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    Postgres,
    Bigquery,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BigQuerySettings {
    pub project: String,
    pub dataset: String,
    pub location: String,
    pub api_base_url: String,
    /// Service-account key; GOOGLE_APPLICATION_CREDENTIALS when empty.
    pub credentials_file: String,
    /// A job not done by then fails the run (transiently: it is tried again).
    pub job_timeout_ms: u64,
}

impl BigQuerySettings {
    /// Checked when the BigQuery sink is chosen, so a worker that never uses it needs none.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
        if !id(&self.project) {
            return Err(SettingsError::Invalid(format!(
                "bigquery.project {:?} is not a project id (set INTAKE__BIGQUERY__PROJECT)",
                self.project
            )));
        }
        if self.dataset.is_empty() || !self.dataset.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(SettingsError::Invalid(format!(
                "bigquery.dataset {:?} is not a dataset id (letters, digits, _; set INTAKE__BIGQUERY__DATASET)",
                self.dataset
            )));
        }
        if url::Url::parse(&self.api_base_url).is_err() {
            return Err(SettingsError::Invalid(format!(
                "bigquery.api_base_url {:?} is not a URL",
                self.api_base_url
            )));
        }
        Ok(())
    }
}
