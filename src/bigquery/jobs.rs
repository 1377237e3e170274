//! Load and query jobs: inserted under an id of the caller's (so a retried insert finds its
//! job instead of starting a second one), then polled with `jobs.get` until done.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::{BigQuery, BigQueryError, Body, ErrorItem};

/// A finished job, as `jobs.get` gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    #[serde(rename = "jobReference")]
    pub reference: JobReference,
    pub status: JobStatus,
    #[serde(default)]
    pub statistics: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobReference {
    pub job_id: String,
    #[serde(default)]
    pub location: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub state: String,
    #[serde(default)]
    error_result: Option<ErrorItem>,
}

/// What a DML statement changed (`statistics.query.dmlStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DmlStats {
    pub affected: u64,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
}

impl Job {
    pub fn dml_stats(&self) -> DmlStats {
        let query = &self.statistics["query"];
        let number = |v: &Value| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()).unwrap_or(0);
        DmlStats {
            affected: number(&query["numDmlAffectedRows"]),
            inserted: number(&query["dmlStats"]["insertedRowCount"]),
            updated: number(&query["dmlStats"]["updatedRowCount"]),
            deleted: number(&query["dmlStats"]["deletedRowCount"]),
        }
    }
}

/// A named query parameter: a string, or an array of strings.
pub enum QueryParameter {
    Text(&'static str, String),
    Texts(&'static str, Vec<String>),
}

impl QueryParameter {
    fn to_json(&self) -> Value {
        match self {
            Self::Text(name, value) => json!({
                "name": name,
                "parameterType": {"type": "STRING"},
                "parameterValue": {"value": value},
            }),
            Self::Texts(name, values) => json!({
                "name": name,
                "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
                "parameterValue": {"arrayValues": values.iter().map(|v| json!({"value": v})).collect::<Vec<_>>()},
            }),
        }
    }
}

impl BigQuery {
    fn job_reference(&self, job_id: &str) -> Value {
        json!({"projectId": self.project, "jobId": job_id, "location": self.location})
    }

    /// Appends newline-delimited JSON rows to a table in one load job (a multipart upload).
    #[tracing::instrument(name = "bigquery_load", skip(self, rows), fields(bytes = rows.len()))]
    pub async fn load(&self, job_id: &str, table: &str, rows: &[u8]) -> Result<Job, BigQueryError> {
        let job = json!({
            "jobReference": self.job_reference(job_id),
            "configuration": {"load": {
                "destinationTable": {"projectId": self.project, "datasetId": self.dataset, "tableId": table},
                "sourceFormat": "NEWLINE_DELIMITED_JSON",
                "writeDisposition": "WRITE_APPEND",
                "createDisposition": "CREATE_NEVER",
            }},
        });
        let boundary = format!("intake_{}", uuid::Uuid::new_v4().simple());
        let mut bytes = Vec::with_capacity(rows.len() + 1024);
        bytes.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{job}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        bytes.extend_from_slice(rows);
        bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.insert_job(
            job_id,
            self.upload_url(),
            Body::Multipart {
                boundary,
                bytes: bytes.into(),
            },
        )
        .await
    }

    /// Runs a GoogleSQL statement as a query job.
    #[tracing::instrument(name = "bigquery_query", skip(self, sql, parameters))]
    pub async fn query(&self, job_id: &str, sql: &str, parameters: &[QueryParameter]) -> Result<Job, BigQueryError> {
        let job = json!({
            "jobReference": self.job_reference(job_id),
            "configuration": {"query": {
                "query": sql,
                "useLegacySql": false,
                "parameterMode": "NAMED",
                "queryParameters": parameters.iter().map(QueryParameter::to_json).collect::<Vec<_>>(),
            }},
        });
        self.insert_job(job_id, self.jobs_url(""), Body::Json(job)).await
    }

    /// A finished query's result rows, as strings by column, page after page.
    pub async fn rows(&self, job: &Job) -> Result<Vec<Vec<Option<String>>>, BigQueryError> {
        let mut rows = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut url = reqwest::Url::parse(&format!(
                "{}/bigquery/v2/projects/{}/queries/{}",
                self.base, self.project, job.reference.job_id
            ))
            .map_err(|e| BigQueryError::Config(format!("bigquery.api_base_url: {e}")))?;
            url.query_pairs_mut()
                .append_pair("location", &self.location)
                .append_pair("maxResults", "50000");
            if let Some(token) = &page {
                url.query_pairs_mut().append_pair("pageToken", token);
            }
            let answer = self
                .call(
                    "jobs.getQueryResults",
                    reqwest::Method::GET,
                    url.as_str(),
                    &Body::Empty,
                    false,
                )
                .await?
                .unwrap_or_default();
            for row in answer["rows"].as_array().into_iter().flatten() {
                rows.push(
                    row["f"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|cell| cell["v"].as_str().map(str::to_owned))
                        .collect(),
                );
            }
            match answer["pageToken"].as_str() {
                Some(token) if !token.is_empty() => page = Some(token.to_owned()),
                _ => return Ok(rows),
            }
        }
    }

    async fn insert_job(&self, job_id: &str, url: String, body: Body) -> Result<Job, BigQueryError> {
        match self
            .call("jobs.insert", reqwest::Method::POST, &url, &body, false)
            .await
        {
            Ok(_) => {}
            // An earlier attempt of this very insert reached BigQuery: follow that job.
            Err(BigQueryError::Api { status: 409, .. }) => {}
            Err(e) => return Err(e),
        }
        self.wait(job_id).await
    }

    /// Polls `jobs.get` until the job is done, at most `bigquery.job_timeout_ms`.
    async fn wait(&self, job_id: &str) -> Result<Job, BigQueryError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        let url = self.jobs_url(&format!("/{job_id}?location={}", self.location));
        loop {
            let answer = self
                .call("jobs.get", reqwest::Method::GET, &url, &Body::Empty, false)
                .await?
                .unwrap_or_default();
            let job: Job = serde_json::from_value(answer)
                .map_err(|e| BigQueryError::Unavailable(format!("jobs.get answered unexpectedly: {e}")))?;
            if job.status.state == "DONE" {
                if let Some(error) = &job.status.error_result {
                    return Err(BigQueryError::Job {
                        job_id: job_id.to_owned(),
                        reason: error.reason.clone(),
                        message: error.message.clone(),
                    });
                }
                return Ok(job);
            }
            if started.elapsed() > self.job_timeout {
                return Err(BigQueryError::Unavailable(format!(
                    "job {job_id} not done after {} s",
                    self.job_timeout.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}
