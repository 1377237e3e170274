//! datasets.get and tables.list/insert/get/delete of the fake.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{DATASET, FakeBigQuery, PROJECT, Table, google_error, respond};

pub(super) async fn dataset(
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

pub(super) async fn list_tables(
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

pub(super) async fn insert_table(
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

pub(super) async fn get_table(
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

pub(super) async fn delete_table(
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
