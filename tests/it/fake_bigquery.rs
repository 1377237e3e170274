//! A local stand-in for BigQuery's REST API v2, answering with the shapes of Google's
//! documentation: datasets.get, tables.get/insert/delete/list, jobs.insert (a query, or a load
//! by multipart upload), jobs.get, jobs.getQueryResults, and Google's error body
//! `{"error": {"code", "message", "errors": [{"reason", "message"}], "status"}}`. Tables live
//! in memory; the two statements the sink sends (its plan count and its MERGE, marked
//! `-- intake:plan` / `-- intake:merge`) are executed on them, anything else is refused as
//! BigQuery refuses a bad query.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::google_auth::{self, TokenEndpoint, json as respond};

pub const PROJECT: &str = "analytics-prod";
pub const DATASET: &str = "catalogue";

pub type Row = Map<String, Value>;

pub struct Table {
    pub schema: Value,
    pub clustering: Option<Value>,
    pub rows: Vec<Row>,
    pub created_ms: i64,
}

struct FakeJob {
    resource: Value,
    /// `jobs.get` answers RUNNING this many more times before DONE, as a real job takes time.
    polls_left: usize,
    result_rows: Vec<Value>,
}

/// What a test can make BigQuery do, and what it saw.
#[derive(Default)]
pub struct Knobs {
    /// The next this many `jobs.insert` answer 429 rateLimitExceeded with `Retry-After: 1`.
    pub busy: AtomicUsize,
    pub busy_answered: AtomicUsize,
    /// Every API request answers 403 accessDenied.
    pub deny: AtomicBool,
    /// The next load job ends with an `errorResult` (reason `invalid`).
    pub fail_load: AtomicBool,
}

#[derive(Default)]
pub struct Seen {
    /// Method and path of every API request (the token endpoint aside), in order.
    pub requests: Mutex<Vec<String>>,
    pub bytes_up: AtomicUsize,
    /// Every statement of every query job.
    pub statements: Mutex<Vec<String>>,
}

pub struct FakeBigQuery {
    pub auth: Arc<TokenEndpoint>,
    pub tables: Mutex<BTreeMap<String, Table>>,
    jobs: Mutex<HashMap<String, FakeJob>>,
    pub knobs: Knobs,
    pub seen: Seen,
}

fn google_error(status: StatusCode, reason: &str, message: &str) -> Response {
    let name = match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        429 => "RESOURCE_EXHAUSTED",
        _ => "INTERNAL",
    };
    respond(
        status,
        json!({"error": {"code": status.as_u16(), "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}], "status": name}}),
    )
}

impl FakeBigQuery {
    /// Starts the fake and writes a service-account key for it into `dir`; returns the base URL.
    pub async fn start(dir: &std::path::Path) -> (Arc<Self>, String, std::path::PathBuf) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (auth, key) = TokenEndpoint::start(addr, dir, "https://www.googleapis.com/auth/bigquery");
        let fake = Arc::new(Self {
            auth: auth.clone(),
            tables: Mutex::new(BTreeMap::new()),
            jobs: Mutex::new(HashMap::new()),
            knobs: Knobs::default(),
            seen: Seen::default(),
        });
        let app = Router::new()
            .route("/bigquery/v2/projects/{project}/datasets/{dataset}", get(dataset))
            .route(
                "/bigquery/v2/projects/{project}/datasets/{dataset}/tables",
                get(list_tables).post(insert_table),
            )
            .route(
                "/bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table}",
                get(get_table).delete(delete_table),
            )
            .route("/bigquery/v2/projects/{project}/jobs", post(insert_query))
            .route("/upload/bigquery/v2/projects/{project}/jobs", post(insert_load))
            .route("/bigquery/v2/projects/{project}/jobs/{job}", get(get_job))
            .route("/bigquery/v2/projects/{project}/queries/{job}", get(query_results))
            .with_state(fake.clone())
            .merge(google_auth::router(auth))
            // Uploads of a large run are far above axum's 2 MB default.
            .layer(axum::extract::DefaultBodyLimit::max(1 << 30));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (fake, format!("http://{addr}"), key)
    }

    pub fn rows(&self, table: &str) -> Vec<Row> {
        self.tables
            .lock()
            .unwrap()
            .get(table)
            .map(|t| t.rows.clone())
            .unwrap_or_default()
    }

    pub fn table_names(&self) -> Vec<String> {
        self.tables.lock().unwrap().keys().cloned().collect()
    }

    /// Checks the token and the project, records the request; a response to send instead when
    /// the request is refused.
    fn admit(&self, method: &str, path: &str, headers: &HeaderMap, project: &str, bytes: usize) -> Option<Response> {
        self.seen.requests.lock().unwrap().push(format!("{method} {path}"));
        self.seen.bytes_up.fetch_add(bytes, Ordering::SeqCst);
        if !google_auth::bearer_ok(headers) {
            return Some(google_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Request had invalid authentication credentials.",
            ));
        }
        if self.knobs.deny.load(Ordering::SeqCst) {
            return Some(google_error(
                StatusCode::FORBIDDEN,
                "accessDenied",
                &format!(
                    "Access Denied: Project {project}: User does not have bigquery.jobs.create permission in project {project}."
                ),
            ));
        }
        if project != PROJECT {
            return Some(google_error(
                StatusCode::NOT_FOUND,
                "notFound",
                &format!("Not found: Project {project}"),
            ));
        }
        None
    }

    fn table_resource(&self, name: &str, table: &Table) -> Value {
        let mut resource = json!({
            "kind": "bigquery#table",
            "id": format!("{PROJECT}:{DATASET}.{name}"),
            "tableReference": {"projectId": PROJECT, "datasetId": DATASET, "tableId": name},
            "schema": table.schema,
            "numRows": table.rows.len().to_string(),
            "creationTime": table.created_ms.to_string(),
            "type": "TABLE",
            "location": "US",
        });
        if let Some(clustering) = &table.clustering {
            resource["clustering"] = clustering.clone();
        }
        resource
    }

    /// Files a job: DONE after one RUNNING poll, with `error` as its errorResult if any.
    fn file_job(&self, id: &str, configuration: Value, error: Option<(&str, String)>, statistics: Value) -> Response {
        let mut status = json!({"state": "DONE"});
        if let Some((reason, message)) = &error {
            status["errorResult"] = json!({"reason": reason, "message": message});
            status["errors"] = json!([{"reason": reason, "message": message}]);
        }
        let now = chrono::Utc::now().timestamp_millis().to_string();
        let mut stats = json!({"creationTime": now, "startTime": now, "endTime": now});
        if let (Some(s), Some(extra)) = (stats.as_object_mut(), statistics.as_object()) {
            // The result rows are kept for jobs.getQueryResults, not shown in the job.
            s.extend(extra.clone().into_iter().filter(|(k, _)| k != "result_rows"));
        }
        let resource = json!({
            "kind": "bigquery#job",
            "id": format!("{PROJECT}:US.{id}"),
            "jobReference": {"projectId": PROJECT, "jobId": id, "location": "US"},
            "configuration": configuration,
            "status": status,
            "statistics": stats,
            "user_email": crate::google_auth::SERVICE_ACCOUNT,
        });
        let mut jobs = self.jobs.lock().unwrap();
        if jobs.contains_key(id) {
            return google_error(
                StatusCode::CONFLICT,
                "duplicate",
                &format!("Already Exists: Job {PROJECT}:US.{id}"),
            );
        }
        let mut pending = resource.clone();
        pending["status"] = json!({"state": "RUNNING"});
        let result_rows = statistics["result_rows"].as_array().cloned().unwrap_or_default();
        jobs.insert(
            id.to_owned(),
            FakeJob {
                resource,
                polls_left: 1,
                result_rows,
            },
        );
        respond(StatusCode::OK, pending)
    }
}

async fn dataset(
    State(fake): State<Arc<FakeBigQuery>>,
    Path((project, dataset)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = fake.admit("GET", &format!("datasets/{dataset}"), &headers, &project, 0) {
        return refused;
    }
    if dataset != DATASET {
        return google_error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("Not found: Dataset {project}:{dataset}"),
        );
    }
    respond(
        StatusCode::OK,
        json!({"kind": "bigquery#dataset", "id": format!("{PROJECT}:{DATASET}"),
            "datasetReference": {"projectId": PROJECT, "datasetId": DATASET}, "location": "US"}),
    )
}

async fn list_tables(
    State(fake): State<Arc<FakeBigQuery>>,
    Path((project, _dataset)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = fake.admit("GET", "tables", &headers, &project, 0) {
        return refused;
    }
    let tables = fake.tables.lock().unwrap();
    let listed: Vec<Value> = tables
        .iter()
        .map(|(name, t)| {
            json!({"kind": "bigquery#table", "id": format!("{PROJECT}:{DATASET}.{name}"),
                "tableReference": {"projectId": PROJECT, "datasetId": DATASET, "tableId": name},
                "type": "TABLE", "creationTime": t.created_ms.to_string()})
        })
        .collect();
    respond(
        StatusCode::OK,
        json!({"kind": "bigquery#tableList", "tables": listed, "totalItems": tables.len()}),
    )
}

async fn insert_table(
    State(fake): State<Arc<FakeBigQuery>>,
    Path((project, _dataset)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = fake.admit("POST", "tables", &headers, &project, body.len()) {
        return refused;
    }
    let Ok(resource) = serde_json::from_slice::<Value>(&body) else {
        return google_error(StatusCode::BAD_REQUEST, "invalid", "Invalid JSON payload received.");
    };
    let Some(name) = resource["tableReference"]["tableId"].as_str() else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "Missing required field: tableReference.",
        );
    };
    let mut tables = fake.tables.lock().unwrap();
    if tables.contains_key(name) {
        return google_error(
            StatusCode::CONFLICT,
            "duplicate",
            &format!("Already Exists: Table {PROJECT}:{DATASET}.{name}"),
        );
    }
    let table = Table {
        schema: resource["schema"].clone(),
        clustering: resource.get("clustering").cloned(),
        rows: Vec::new(),
        created_ms: chrono::Utc::now().timestamp_millis(),
    };
    let answer = fake.table_resource(name, &table);
    tables.insert(name.to_owned(), table);
    respond(StatusCode::OK, answer)
}

async fn get_table(
    State(fake): State<Arc<FakeBigQuery>>,
    Path((project, _dataset, table)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = fake.admit("GET", &format!("tables/{table}"), &headers, &project, 0) {
        return refused;
    }
    let tables = fake.tables.lock().unwrap();
    match tables.get(&table) {
        Some(t) => respond(StatusCode::OK, fake.table_resource(&table, t)),
        None => google_error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("Not found: Table {PROJECT}:{DATASET}.{table}"),
        ),
    }
}

async fn delete_table(
    State(fake): State<Arc<FakeBigQuery>>,
    Path((project, _dataset, table)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = fake.admit("DELETE", &format!("tables/{table}"), &headers, &project, 0) {
        return refused;
    }
    match fake.tables.lock().unwrap().remove(&table) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => google_error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("Not found: Table {PROJECT}:{DATASET}.{table}"),
        ),
    }
}

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
async fn insert_query(
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
    let outcome = crate::fake_bigquery_sql::execute(&mut fake.tables.lock().unwrap(), &sql, &parameters);
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
async fn insert_load(
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

async fn get_job(
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
async fn query_results(
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
