//! A local stand-in for BigQuery's REST API v2, answering with the shapes of Google's
//! documentation: datasets.get, tables.get/insert/delete/list, jobs.insert (a query, or a load
//! by multipart upload), jobs.get, jobs.getQueryResults, and Google's error body
//! `{"error": {"code", "message", "errors": [{"reason", "message"}], "status"}}`. Tables live
//! in memory; the statements the sink sends are executed on them (`sql.rs`), anything else is
//! refused as BigQuery refuses a bad query.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::google_auth::{self, TokenEndpoint, json as respond};

mod jobs;
mod sql;
mod tables;

use jobs::{get_job, insert_load, insert_query, query_results};
use tables::{dataset, delete_table, get_table, insert_table, list_tables};

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
