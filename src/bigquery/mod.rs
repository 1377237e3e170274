//! A thin client of BigQuery's REST API (v2): a service-account token from the key's own
//! `token_uri`, JSON requests retried as Google asks (429, 500, 503, `rateLimitExceeded`,
//! `backendError`; `Retry-After` honoured), and errors that say what to do. Only what the
//! metadata sink uses: datasets, tables, load and query jobs.

mod jobs;
pub mod tables;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gcp_auth::TokenProvider;
use serde::Deserialize;
use serde_json::Value;

pub use jobs::{DmlStats, Job, QueryParameter};
pub use tables::{Field, TableSchema};

use crate::google_key::{LazyAccount, ServiceAccount};
use crate::settings::BigQuerySettings;

const SCOPE: &str = "https://www.googleapis.com/auth/bigquery";

/// Attempts of one request while BigQuery answers that it is busy.
const ATTEMPTS: u32 = 5;
/// The longest wait a `Retry-After` is honoured for; a longer one fails the run (transiently).
const MAX_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, thiserror::Error)]
pub enum BigQueryError {
    /// The settings or the key cannot work (permanent).
    #[error("BigQuery: {0}")]
    Config(String),
    /// BigQuery refused a request.
    #[error("BigQuery {what}: {status} {reason}: {message}")]
    Api {
        what: String,
        status: u16,
        reason: String,
        message: String,
    },
    /// The account lacks a permission; the message says which to grant.
    #[error(
        "BigQuery denied {what} to {account}: {message} — grant it BigQuery Data Editor on dataset {dataset} and BigQuery Job User on project {project}"
    )]
    Denied {
        what: String,
        account: String,
        message: String,
        dataset: String,
        project: String,
    },
    /// A job ran and failed.
    #[error("BigQuery job {job_id} failed: {reason}: {message}")]
    Job {
        job_id: String,
        reason: String,
        message: String,
    },
    /// A table holds another schema than this release writes.
    #[error("BigQuery table {table} does not have the schema this release writes ({difference}); migrate or rename it")]
    Schema { table: String, difference: String },
    /// The network, a timeout, or BigQuery busy beyond the retries.
    #[error("BigQuery {0}")]
    Unavailable(String),
}

impl BigQueryError {
    /// Whether the run may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Job { reason, .. } => {
                matches!(reason.as_str(), "backendError" | "rateLimitExceeded" | "internalError")
            }
            Self::Api { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            Self::Config(_) | Self::Denied { .. } | Self::Schema { .. } => false,
        }
    }
}

/// Google's error body: `{"error": {"code", "message", "errors": [{"reason", "message"}], "status"}}`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<ErrorItem>,
    #[serde(default)]
    status: String,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub(crate) struct ErrorItem {
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

/// A BigQuery dataset, through its REST API.
pub struct BigQuery {
    http: reqwest::Client,
    base: String,
    pub(crate) project: String,
    pub(crate) dataset: String,
    pub(crate) location: String,
    job_timeout: Duration,
    account: LazyAccount,
}

/// What a request sends.
pub(crate) enum Body {
    Empty,
    Json(Value),
    /// A multipart/related upload: the job's JSON, then the data.
    Multipart {
        boundary: String,
        bytes: bytes::Bytes,
    },
}

impl BigQuery {
    pub fn new(settings: &BigQuerySettings) -> Result<Self, BigQueryError> {
        settings.validate().map_err(|e| BigQueryError::Config(e.to_string()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| BigQueryError::Config(format!("an HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: settings.api_base_url.trim_end_matches('/').to_owned(),
            project: settings.project.clone(),
            dataset: settings.dataset.clone(),
            location: settings.location.clone(),
            job_timeout: Duration::from_millis(settings.job_timeout_ms.max(1)),
            account: LazyAccount::new(
                (!settings.credentials_file.is_empty()).then(|| PathBuf::from(&settings.credentials_file)),
                "bigquery.credentials_file",
            ),
        })
    }

    async fn account(&self) -> Result<Arc<ServiceAccount>, BigQueryError> {
        self.account.get().await.map_err(BigQueryError::Config)
    }

    /// `projects/{p}/datasets/{d}` under the API's base.
    pub(crate) fn dataset_url(&self, rest: &str) -> String {
        format!(
            "{}/bigquery/v2/projects/{}/datasets/{}{rest}",
            self.base, self.project, self.dataset
        )
    }

    pub(crate) fn jobs_url(&self, rest: &str) -> String {
        format!("{}/bigquery/v2/projects/{}/jobs{rest}", self.base, self.project)
    }

    pub(crate) fn upload_url(&self) -> String {
        format!(
            "{}/upload/bigquery/v2/projects/{}/jobs?uploadType=multipart",
            self.base, self.project
        )
    }

    /// Sends one request, retrying while BigQuery is busy; `Ok(None)` for a 404 when
    /// `missing_ok` (a table not there yet).
    pub(crate) async fn call(
        &self,
        what: &str,
        method: reqwest::Method,
        url: &str,
        body: &Body,
        missing_ok: bool,
    ) -> Result<Option<Value>, BigQueryError> {
        let account = self.account().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = account
                .provider
                .token(&[SCOPE])
                .await
                .map_err(|e| BigQueryError::Unavailable(format!("access token: {e}")))?;
            let mut request = self.http.request(method.clone(), url).bearer_auth(token.as_str());
            request = match body {
                Body::Empty => request,
                Body::Json(value) => request.json(value),
                Body::Multipart { boundary, bytes } => request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        format!("multipart/related; boundary={boundary}"),
                    )
                    // Shared, not copied, on each attempt: an upload is up to 64 MB.
                    .body(bytes.clone()),
            };
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) if attempt < ATTEMPTS && (e.is_connect() || e.is_timeout()) => {
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(BigQueryError::Unavailable(format!("{what}: {e}"))),
            };
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let bytes = response
                .bytes()
                .await
                .map_err(|e| BigQueryError::Unavailable(format!("{what}: {e}")))?;
            if status.is_success() {
                if bytes.is_empty() {
                    return Ok(Some(Value::Null));
                }
                return serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| BigQueryError::Unavailable(format!("{what} answered unexpectedly: {e}")));
            }
            if status.as_u16() == 404 && missing_ok {
                return Ok(None);
            }
            let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
            let reason = error
                .error
                .errors
                .first()
                .map(|e| e.reason.clone())
                .filter(|r| !r.is_empty())
                .unwrap_or(error.error.status.clone());
            let message = if error.error.message.is_empty() {
                String::from_utf8_lossy(&bytes).chars().take(300).collect()
            } else {
                error.error.message.clone()
            };
            let busy = matches!(status.as_u16(), 429 | 500 | 503)
                || matches!(reason.as_str(), "rateLimitExceeded" | "backendError");
            if busy {
                let wait = retry_after.unwrap_or_else(|| backoff(attempt));
                if attempt >= ATTEMPTS || wait > MAX_WAIT {
                    return Err(BigQueryError::Unavailable(format!(
                        "{what}: {status} {reason}: {message} (still busy after {attempt} attempts)"
                    )));
                }
                tracing::warn!(
                    what,
                    status = status.as_u16(),
                    reason = %reason,
                    retry_in_ms = wait.as_millis() as u64,
                    "BigQuery is busy; waiting"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            if matches!(status.as_u16(), 401 | 403) {
                return Err(BigQueryError::Denied {
                    what: what.to_owned(),
                    account: account.email.clone(),
                    message,
                    dataset: format!("{}:{}", self.project, self.dataset),
                    project: self.project.clone(),
                });
            }
            return Err(BigQueryError::Api {
                what: what.to_owned(),
                status: status.as_u16(),
                reason,
                message,
            });
        }
    }

    /// Fails clearly when the dataset is not there (it is not created: where it lives and
    /// who may read it are the owner's choices).
    pub async fn check_dataset(&self) -> Result<(), BigQueryError> {
        let url = self.dataset_url("");
        match self
            .call("datasets.get", reqwest::Method::GET, &url, &Body::Empty, true)
            .await?
        {
            Some(_) => Ok(()),
            None => Err(BigQueryError::Config(format!(
                "dataset {}:{} does not exist: create it (bq mk --location={} {}:{})",
                self.project, self.dataset, self.location, self.project, self.dataset
            ))),
        }
    }
}

/// 0.5 s, 1 s, 2 s, … before attempt n + 1.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 << attempt.saturating_sub(1).min(6))
}
