//! jobs.insert (a query, or a load by multipart upload), jobs.get and jobs.getQueryResults of
//! the fake.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::{DATASET, FakeBigQuery, PROJECT, Row, Table, google_error, respond};

fn busy(fake: &FakeBigQuery) -> Option<Response> {
    let left = fake.knobs.busy.load(Ordering::SeqCst);
    if left == 0 {
        return None;
    }
    fake.knobs.busy.store(left - 1, Ordering::SeqCst);
    fake.knobs.busy_answered.fetch_add(1, Ordering::SeqCst);
    let mut response = google_error(
        StatusCode::TOO_MANY_REQUESTS,
        "rateLimitExceeded",
        "Exceeded rate limits: too many api requests per user per method for this user_method.",
    );
    response.headers_mut().insert(header::RETRY_AFTER, "1".parse().unwrap());
    Some(response)
}

/// `jobs.insert` of a query job.
pub(super) async fn insert_query(
    State(fake): State<Arc<FakeBigQuery>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = fake.admit("POST", "jobs", &headers, &project, body.len()) {
        return refused;
    }
    if let Some(busy) = busy(&fake) {
        return busy;
    }
    let Ok(job) = serde_json::from_slice::<Value>(&body) else {
        return google_error(StatusCode::BAD_REQUEST, "invalid", "Invalid JSON payload received.");
    };
    let id = job["jobReference"]["jobId"].as_str().unwrap_or("job_auto").to_owned();
    let query = &job["configuration"]["query"];
    let sql = query["query"].as_str().unwrap_or_default().to_owned();
    fake.seen.statements.lock().unwrap().push(sql.clone());
    let parameters = parameters(&query["queryParameters"]);
    let outcome = super::sql::execute(&mut fake.tables.lock().unwrap(), &sql, &parameters);
    match outcome {
        Ok(statistics) => fake.file_job(&id, job["configuration"].clone(), None, statistics),
        Err(message) => fake.file_job(
            &id,
            job["configuration"].clone(),
            Some(("invalidQuery", message)),
            json!({}),
        ),
    }
}

/// Named query parameters: a string, or an array of strings.
fn parameters(list: &Value) -> HashMap<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p["name"].as_str()?.to_owned();
            let value = &p["parameterValue"];
            let value = match value.get("arrayValues") {
                Some(array) => Value::Array(
                    array
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|v| v["value"].clone())
                        .collect(),
                ),
                None => value["value"].clone(),
            };
            Some((name, value))
        })
        .collect()
}

/// `jobs.insert` of a load job, by multipart upload: the job's JSON, then the data.
pub(super) async fn insert_load(
    State(fake): State<Arc<FakeBigQuery>>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = fake.admit("POST", "upload/jobs", &headers, &project, body.len()) {
        return refused;
    }
    if query.as_deref() != Some("uploadType=multipart") {
        return google_error(StatusCode::BAD_REQUEST, "invalid", "Media upload requires uploadType.");
    }
    if let Some(busy) = busy(&fake) {
        return busy;
    }
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("multipart/related; boundary="))
        .map(str::to_owned);
    let Some(parts) = boundary.and_then(|b| multipart(&body, &b)) else {
        return google_error(StatusCode::BAD_REQUEST, "invalid", "Malformed multipart body.");
    };
    let [config, data] = &parts[..] else {
        return google_error(StatusCode::BAD_REQUEST, "invalid", "A multipart upload has two parts.");
    };
    let Ok(job) = serde_json::from_slice::<Value>(config) else {
        return google_error(StatusCode::BAD_REQUEST, "invalid", "Invalid JSON payload received.");
    };
    let id = job["jobReference"]["jobId"].as_str().unwrap_or("job_auto").to_owned();
    let load = &job["configuration"]["load"];
    if load["sourceFormat"] != "NEWLINE_DELIMITED_JSON" {
        return google_error(StatusCode::BAD_REQUEST, "invalid", "Unsupported source format.");
    }
    let table = load["destinationTable"]["tableId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if fake.knobs.fail_load.swap(false, Ordering::SeqCst) {
        let message = "Error while reading data, error message: JSON table encountered too many errors, giving up. Rows: 1; errors: 1.".to_owned();
        return fake.file_job(&id, job["configuration"].clone(), Some(("invalid", message)), json!({}));
    }
    let outcome = load_rows(&mut fake.tables.lock().unwrap(), &table, data);
    match outcome {
        Ok(rows) => fake.file_job(
            &id,
            job["configuration"].clone(),
            None,
            json!({"load": {"outputRows": rows.to_string(), "inputFileBytes": data.len().to_string()}}),
        ),
        Err((reason, message)) => fake.file_job(&id, job["configuration"].clone(), Some((reason, message)), json!({})),
    }
}

/// The parts of a multipart body, each without its headers.
fn multipart(body: &[u8], boundary: &str) -> Option<Vec<Vec<u8>>> {
    let text = body;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = text;
    let start = find(rest, delimiter.as_bytes())?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        let end = find(rest, delimiter.as_bytes())?;
        let part = &rest[..end];
        let content = find(part, b"\r\n\r\n").map(|i| &part[i + 4..])?;
        parts.push(content.strip_suffix(b"\r\n").unwrap_or(content).to_vec());
        rest = &rest[end + delimiter.len()..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Appends newline-delimited JSON rows, checked against the table's schema as BigQuery does:
/// every REQUIRED column present, no column the table lacks.
fn load_rows(tables: &mut BTreeMap<String, Table>, table: &str, data: &[u8]) -> Result<usize, (&'static str, String)> {
    let Some(target) = tables.get_mut(table) else {
        return Err(("notFound", format!("Not found: Table {PROJECT}:{DATASET}.{table}")));
    };
    let fields: Vec<(String, bool)> = target.schema["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or_default().to_owned(),
                f["mode"] == "REQUIRED",
            )
        })
        .collect();
    let known: HashSet<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    let mut rows = Vec::new();
    for (i, line) in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        let row: Row = serde_json::from_slice(line).map_err(|e| {
            (
                "invalid",
                format!("Error while reading data, error message: row {}: {e}", i + 1),
            )
        })?;
        for (name, required) in &fields {
            if *required && row.get(name).is_none_or(Value::is_null) {
                return Err(("invalid", format!("Missing required field: {name}.")));
            }
        }
        if let Some(extra) = row.keys().find(|k| !known.contains(k.as_str())) {
            return Err(("invalid", format!("no such field: {extra}.")));
        }
        rows.push(row);
    }
    let n = rows.len();
    target.rows.extend(rows);
    Ok(n)
}

pub(super) async fn get_job(
    State(fake): State<Arc<FakeBigQuery>>,
    Path((project, job)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = fake.admit(Method::GET.as_str(), "jobs/{id}", &headers, &project, 0) {
        return refused;
    }
    let mut jobs = fake.jobs.lock().unwrap();
    let Some(found) = jobs.get_mut(&job) else {
        return google_error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("Not found: Job {PROJECT}:{job}"),
        );
    };
    if found.polls_left > 0 {
        found.polls_left -= 1;
        let mut running = found.resource.clone();
        running["status"] = json!({"state": "RUNNING"});
        return respond(StatusCode::OK, running);
    }
    respond(StatusCode::OK, found.resource.clone())
}

/// `jobs.getQueryResults`, a page of at most `maxResults` (and 500) rows at a time; `pageToken`
/// is the offset.
pub(super) async fn query_results(
    State(fake): State<Arc<FakeBigQuery>>,
    Path((project, job)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = fake.admit("GET", "queries/{id}", &headers, &project, 0) {
        return refused;
    }
    let options: HashMap<String, String> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let jobs = fake.jobs.lock().unwrap();
    let Some(found) = jobs.get(&job) else {
        return google_error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("Not found: Job {PROJECT}:{job}"),
        );
    };
    let start: usize = options.get("pageToken").and_then(|t| t.parse().ok()).unwrap_or(0);
    // BigQuery also ends a page at 10 MB whatever maxResults says: callers must follow pageToken.
    let size: usize = options
        .get("maxResults")
        .and_then(|t| t.parse().ok())
        .unwrap_or(500)
        .clamp(1, 500);
    let end = (start + size).min(found.result_rows.len());
    let rows: Vec<Value> = found.result_rows[start.min(end)..end]
        .iter()
        .map(|row| json!({"f": row.as_array().into_iter().flatten().map(|v| json!({"v": v})).collect::<Vec<_>>()}))
        .collect();
    let mut answer = json!({"kind": "bigquery#getQueryResultsResponse",
        "jobReference": {"projectId": PROJECT, "jobId": job, "location": "US"},
        "totalRows": found.result_rows.len().to_string(), "rows": rows, "jobComplete": true});
    if end < found.result_rows.len() {
        answer["pageToken"] = end.to_string().into();
    }
    respond(StatusCode::OK, answer)
}
