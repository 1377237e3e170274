//! Google Sheets against a local stand-in for Google: a token endpoint that checks the
//! service account's signed JWT, and the Sheets API v4 answering with the shapes of Google's
//! documentation (spreadsheets.get, spreadsheets.values.batchGet, error bodies).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use intake_actors::domain::{SourceConfig, TaskStatus};

use crate::google_auth::{self, SERVICE_ACCOUNT, TokenEndpoint, error, json};
use crate::helpers::TestEnv;
const SHEET_ID: &str = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";
const PRIVATE_ID: &str = "1PrivateSheetPrivateSheetPrivateSheet0000";
const BUSY_ID: &str = "1BusySheetBusySheetBusySheetBusySheet00000";

/// What the fake Google saw.
#[derive(Default)]
struct Seen {
    api_calls: AtomicUsize,
    busy_answered: AtomicUsize,
    /// When each request for the busy spreadsheet arrived.
    busy_at: Mutex<Vec<std::time::Instant>>,
    bad_tokens: AtomicUsize,
    paths: Mutex<Vec<String>>,
}

struct Google {
    auth: Arc<TokenEndpoint>,
    seen: Seen,
}

fn authorised(google: &Google, headers: &HeaderMap) -> bool {
    let ok = google_auth::bearer_ok(headers);
    if !ok {
        google.seen.bad_tokens.fetch_add(1, Ordering::SeqCst);
    }
    ok
}

/// `GET /v4/spreadsheets/{id}` and `GET /v4/spreadsheets/{id}/values:batchGet`.
async fn spreadsheet(
    State(google): State<Arc<Google>>,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    google.seen.api_calls.fetch_add(1, Ordering::SeqCst);
    google.seen.paths.lock().unwrap().push(rest.clone());
    if !authorised(&google, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            401,
            "Request had invalid authentication credentials.",
            "UNAUTHENTICATED",
        );
    }
    let (id, values) = match rest.strip_suffix("/values:batchGet") {
        Some(id) => (id.to_owned(), true),
        None => (rest.clone(), false),
    };
    match id.as_str() {
        PRIVATE_ID => {
            return error(
                StatusCode::FORBIDDEN,
                403,
                "The caller does not have permission",
                "PERMISSION_DENIED",
            );
        }
        BUSY_ID
            if {
                google.seen.busy_at.lock().unwrap().push(std::time::Instant::now());
                google.seen.busy_answered.fetch_add(1, Ordering::SeqCst) == 0
            } =>
        {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                429,
                "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user'",
                "RESOURCE_EXHAUSTED",
            );
            // Longer than the client's own first backoff (1 s), so the wait shows whose it was.
            response.headers_mut().insert(header::RETRY_AFTER, "3".parse().unwrap());
            return response;
        }
        SHEET_ID | BUSY_ID => {}
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                404,
                "Requested entity was not found.",
                "NOT_FOUND",
            );
        }
    }
    if !values {
        return json(
            StatusCode::OK,
            serde_json::json!({
                "sheets": [
                    {"properties": {"sheetId": 0, "title": "Прайс", "index": 0, "sheetType": "GRID",
                                    "gridProperties": {"rowCount": 1000, "columnCount": 26}},
                     "merges": [{"sheetId": 0, "startRowIndex": 1, "endRowIndex": 2, "startColumnIndex": 3, "endColumnIndex": 5}]},
                    {"properties": {"sheetId": 7, "title": "Notes", "index": 1, "sheetType": "GRID",
                                    "gridProperties": {"rowCount": 1000, "columnCount": 26}}},
                    {"properties": {"sheetId": 9, "title": "Lookup", "index": 2, "sheetType": "GRID", "hidden": true,
                                    "gridProperties": {"rowCount": 1000, "columnCount": 26}}}
                ]
            }),
        );
    }
    let ranges: Vec<String> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "ranges")
        .map(|(_, v)| v.into_owned())
        .collect();
    google.seen.paths.lock().unwrap().extend(ranges.iter().cloned());
    let value_ranges: Vec<serde_json::Value> = ranges
        .iter()
        .map(|range| {
            if range.starts_with("'Прайс'") {
                // A title row, a split header with a merged group, a category row, ragged rows
                // (trailing empty cells omitted), an empty row, numbers as numbers.
                serde_json::json!({
                    "range": "'Прайс'!A1:F12",
                    "majorDimension": "ROWS",
                    "values": [
                        ["Прайс-лист ООО «Ромашка» на 01.12.2026"],
                        ["Артикул", "Наименование", "Ед. изм.", "Цена"],
                        ["", "", "", "Розница", "Опт"],
                        ["Молотки"],
                        ["00123", "Молоток слесарный 500 г", "шт", 450, 380.5],
                        ["00124", "Молоток-гвоздодёр", "шт", 620, 540],
                        [],
                        ["Отвёртки"],
                        ["00200", "Отвёртка PH2", "шт", 120, "по запросу"],
                        ["00201", "Отвёртка SL5", "шт", 115, 99.9],
                        ["00202", "Набор отвёрток", "набор"]
                    ]
                })
            } else if range.starts_with("'Lookup'") {
                serde_json::json!({"range": "'Lookup'!A1:C3", "majorDimension": "ROWS",
                                   "values": [["SKU", "Name", "Price"], ["L-1", "Old code", 1], ["L-2", "Older code", 2]]})
            } else {
                serde_json::json!({"range": "'Notes'!A1:A2", "majorDimension": "ROWS", "values": [["Звоните: +7 495 000-00-00"]]})
            }
        })
        .collect();
    json(
        StatusCode::OK,
        serde_json::json!({"spreadsheetId": id, "valueRanges": value_ranges}),
    )
}

/// Starts the fake Google and writes a service-account key that points at it.
async fn fake_google(dir: &std::path::Path) -> (Arc<Google>, SocketAddr, std::path::PathBuf) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (auth, key_file) = TokenEndpoint::start(addr, dir, "https://www.googleapis.com/auth/spreadsheets.readonly");
    let google = Arc::new(Google {
        auth: auth.clone(),
        seen: Seen::default(),
    });
    let app = Router::new()
        .route("/v4/spreadsheets/{*rest}", get(spreadsheet))
        .with_state(google.clone())
        .merge(google_auth::router(auth));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (google, addr, key_file)
}

async fn env_with_google() -> (TestEnv, Arc<Google>) {
    let dir = crate::helpers::TestDir::new();
    let (google, addr, key) = fake_google(&dir.0).await;
    let base = format!("http://{addr}");
    let key = key.display().to_string();
    let env = TestEnv::with(&[
        ("INTAKE__GOOGLE_SHEETS__API_BASE_URL", base.as_str()),
        ("INTAKE__GOOGLE_SHEETS__CREDENTIALS_FILE", key.as_str()),
        ("INTAKE__RETRY__DELAYS_MS", "50"),
    ])
    .await;
    std::mem::forget(dir); // the key must outlive the env; the temp dir is small
    (env, google)
}

fn sheet_message(env: &TestEnv, spreadsheet: &str, sheet: Option<&str>) -> intake_actors::domain::TaskMessage {
    let mut message = env.message("Ромашка", "google_sheets", std::path::Path::new("unused"));
    message.source_config = SourceConfig {
        spreadsheet: Some(spreadsheet.to_owned()),
        sheet: sheet.map(str::to_owned),
        ..Default::default()
    };
    message
}

#[tokio::test]
async fn a_shared_sheet_is_read_with_two_api_calls_and_mapped() {
    let (env, google) = env_with_google().await;
    let worker = env.worker().await;
    let url = format!("https://docs.google.com/spreadsheets/d/{SHEET_ID}/edit#gid=0");
    let message = sheet_message(&env, &url, None);
    env.enqueue(&message).await;
    let result = env.result(message.task_id, Duration::from_secs(60)).await;

    assert_eq!(result.status, TaskStatus::Completed, "{result:?}");
    assert_eq!(
        (result.counts.rows_stored, result.counts.rows_rejected),
        (3, 2),
        "{result:?}"
    );
    assert_eq!(
        google.seen.api_calls.load(Ordering::SeqCst),
        2,
        "metadata and one batchGet"
    );
    assert_eq!(google.auth.tokens.load(Ordering::SeqCst), 1);
    assert_eq!(google.seen.bad_tokens.load(Ordering::SeqCst), 0);

    let (price, characteristics): (String, serde_json::Value) =
        sqlx::query_as("SELECT current_price::text, characteristics FROM supplier_items WHERE supplier_sku = '00123'")
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    // The wholesale price wins; the retail one is kept; the category row and sheet are noted.
    assert_eq!(price, "380.50");
    assert_eq!(characteristics["Цена Розница"], 450);
    assert_eq!(characteristics["category"], "Молотки");
    assert_eq!(characteristics["sheet"], "Прайс");
    assert_eq!(characteristics["unit"], "шт");
    let reasons: Vec<(i32, String)> = sqlx::query_as("SELECT row_number, error_type FROM parsing_logs ORDER BY 1")
        .fetch_all(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(
        reasons,
        [(9, "price_on_request".to_owned()), (11, "missing_price".to_owned())]
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_rate_limited_read_waits_as_google_asks_and_succeeds() {
    let (env, google) = env_with_google().await;
    let worker = env.worker().await;
    let message = sheet_message(&env, BUSY_ID, Some("Прайс"));
    env.enqueue(&message).await;
    let result = env.result(message.task_id, Duration::from_secs(60)).await;
    assert_eq!(result.status, TaskStatus::Completed, "{result:?}");
    assert_eq!(result.attempt, 1, "waited within the attempt, as Retry-After said");
    assert_eq!(
        google.seen.busy_answered.load(Ordering::SeqCst),
        3,
        "429, then metadata, then values"
    );
    let at = google.seen.busy_at.lock().unwrap().clone();
    let waited = at[1] - at[0];
    assert!(
        waited >= Duration::from_secs(3),
        "Retry-After: 3 was honoured, waited {waited:?}"
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_sheet_not_shared_is_dead_lettered_with_what_to_do() {
    let (env, google) = env_with_google().await;
    let worker = env.worker().await;
    let private = sheet_message(&env, PRIVATE_ID, None);
    let missing = sheet_message(&env, "1MissingMissingMissingMissingMissing00000", None);
    env.enqueue(&private).await;
    env.enqueue(&missing).await;

    let denied = env.result(private.task_id, Duration::from_secs(60)).await;
    assert_eq!(denied.status, TaskStatus::DeadLettered);
    assert_eq!(denied.attempt, 1, "permanent: no retries");
    let error = denied.error.unwrap_or_default();
    assert!(error.contains(&format!("share it with {SERVICE_ACCOUNT}")), "{error}");

    let not_found = env.result(missing.task_id, Duration::from_secs(60)).await;
    assert_eq!(not_found.status, TaskStatus::DeadLettered);
    assert!(not_found.error.unwrap_or_default().contains("not found"));
    assert_eq!(google.seen.bad_tokens.load(Ordering::SeqCst), 0);
    worker.stop().await;
}

#[tokio::test]
async fn hidden_tabs_are_read_only_when_named_and_a_tab_link_reads_that_tab() {
    let (env, google) = env_with_google().await;
    let worker = env.worker().await;
    let whole = sheet_message(&env, SHEET_ID, None);
    env.enqueue(&whole).await;
    let result = env.result(whole.task_id, Duration::from_secs(60)).await;
    assert_eq!(result.status, TaskStatus::Completed, "{result:?}");
    assert_eq!(result.counts.rows_stored, 3, "only the visible price list: {result:?}");
    assert!(
        result
            .notes
            .iter()
            .any(|n| n.contains("Lookup") && n.contains("hidden")),
        "{:?}",
        result.notes
    );
    let asked = google.seen.paths.lock().unwrap().clone();
    assert!(!asked.iter().any(|p| p.contains("Lookup")), "{asked:?}");

    let named = sheet_message(&env, SHEET_ID, Some("Lookup"));
    env.enqueue(&named).await;
    let result = env.result(named.task_id, Duration::from_secs(60)).await;
    assert_eq!(
        (result.status, result.counts.rows_stored),
        (TaskStatus::Completed, 2),
        "{result:?}"
    );

    let tab = sheet_message(
        &env,
        &format!("https://docs.google.com/spreadsheets/d/{SHEET_ID}/edit#gid=9"),
        None,
    );
    env.enqueue(&tab).await;
    let result = env.result(tab.task_id, Duration::from_secs(60)).await;
    assert_eq!(result.counts.rows_stored, 2, "the linked tab alone: {result:?}");
    worker.stop().await;
}
