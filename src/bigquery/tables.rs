//! The tables the metadata sink writes: created when missing, never altered, and refused with a
//! clear error when they hold another schema; per-run staging tables, dropped after the run.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{BigQuery, BigQueryError, Body};

/// One column as `tables.insert` takes it and `tables.get` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "nullable")]
    pub mode: String,
}

fn nullable() -> String {
    "NULLABLE".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TableSchema {
    #[serde(default)]
    pub fields: Vec<Field>,
}

fn schema(columns: &[(&str, &str, bool)]) -> TableSchema {
    TableSchema {
        fields: columns
            .iter()
            .map(|(name, kind, required)| Field {
                name: (*name).into(),
                kind: (*kind).into(),
                mode: if *required { "REQUIRED" } else { "NULLABLE" }.into(),
            })
            .collect(),
    }
}

/// The columns a run's records carry (the staging table's).
const RECORD: [(&str, &str, bool); 15] = [
    ("id", "STRING", true),
    ("semantic_path", "STRING", true),
    ("source_kind", "STRING", true),
    ("source_name", "STRING", true),
    ("parent_id", "STRING", false),
    ("record_kind", "STRING", true),
    ("name", "STRING", true),
    ("data_type", "STRING", false),
    ("attributes", "JSON", false),
    ("content", "STRING", false),
    ("chunk_index", "INT64", true),
    ("chunk_count", "INT64", true),
    ("line_start", "INT64", false),
    ("line_end", "INT64", false),
    ("content_sha256", "STRING", true),
];

pub fn staging_schema() -> TableSchema {
    schema(&RECORD)
}

pub fn source_metadata_schema() -> TableSchema {
    let mut columns = RECORD.to_vec();
    columns.extend([
        ("first_run_id", "STRING", true),
        ("last_changed_run_id", "STRING", true),
        ("deleted_at", "TIMESTAMP", false),
        ("created_at", "TIMESTAMP", true),
        ("updated_at", "TIMESTAMP", true),
    ]);
    schema(&columns)
}

pub fn errors_schema() -> TableSchema {
    schema(&[
        ("run_id", "STRING", true),
        ("source_name", "STRING", false),
        ("line", "INT64", false),
        ("error_class", "STRING", true),
        ("message", "STRING", true),
        ("excerpt", "STRING", false),
        ("created_at", "TIMESTAMP", true),
    ])
}

pub fn ingestion_log_schema() -> TableSchema {
    schema(&[
        ("run_id", "STRING", true),
        ("task_id", "STRING", false),
        ("kind", "STRING", true),
        ("source", "STRING", true),
        ("status", "STRING", true),
        ("files_seen", "INT64", true),
        ("files_ingested", "INT64", true),
        ("files_rejected", "INT64", true),
        ("bytes", "INT64", true),
        ("records_seen", "INT64", true),
        ("records_inserted", "INT64", true),
        ("records_updated", "INT64", true),
        ("records_unchanged", "INT64", true),
        ("records_deleted", "INT64", true),
        ("parser_version", "STRING", true),
        ("started_at", "TIMESTAMP", true),
        ("finished_at", "TIMESTAMP", false),
        ("duration_ms", "INT64", false),
    ])
}

/// Staging tables start with this; one per run.
pub const STAGING_PREFIX: &str = "_intake_staging_";

/// A staging table older than this belongs to a run that died: the next run drops it.
const STALE_STAGING_MS: i64 = 6 * 3600 * 1000;

impl BigQuery {
    fn table_ref(&self, table: &str) -> Value {
        json!({"projectId": self.project, "datasetId": self.dataset, "tableId": table})
    }

    /// `project.dataset.table`, quoted for GoogleSQL.
    pub fn table_path(&self, table: &str) -> String {
        format!("`{}.{}.{table}`", self.project, self.dataset)
    }

    /// Creates the table when missing; fails when it exists with another schema.
    pub async fn ensure_table(
        &self,
        table: &str,
        schema: &TableSchema,
        clustering: &[&str],
    ) -> Result<(), BigQueryError> {
        let url = self.dataset_url(&format!("/tables/{table}"));
        let found = self
            .call("tables.get", reqwest::Method::GET, &url, &Body::Empty, true)
            .await?;
        let Some(found) = found else {
            let mut body = json!({"tableReference": self.table_ref(table), "schema": schema});
            if !clustering.is_empty() {
                body["clustering"] = json!({ "fields": clustering });
            }
            let created = self
                .call(
                    "tables.insert",
                    reqwest::Method::POST,
                    &self.dataset_url("/tables"),
                    &Body::Json(body),
                    false,
                )
                .await;
            return match created {
                // Another worker created it meanwhile: check what it made.
                Err(BigQueryError::Api { status: 409, .. }) => {
                    Box::pin(self.ensure_table(table, schema, clustering)).await
                }
                other => other.map(|_| ()),
            };
        };
        let existing: TableSchema = serde_json::from_value(found["schema"].clone()).unwrap_or_default();
        match difference(schema, &existing) {
            None => Ok(()),
            Some(difference) => Err(BigQueryError::Schema {
                table: format!("{}:{}.{table}", self.project, self.dataset),
                difference,
            }),
        }
    }

    pub async fn table_exists(&self, table: &str) -> Result<bool, BigQueryError> {
        let url = self.dataset_url(&format!("/tables/{table}"));
        Ok(self
            .call("tables.get", reqwest::Method::GET, &url, &Body::Empty, true)
            .await?
            .is_some())
    }

    /// Creates a run's staging table, which BigQuery itself removes after a day.
    pub async fn create_staging(&self, table: &str) -> Result<(), BigQueryError> {
        let expires = chrono::Utc::now().timestamp_millis() + 24 * 3600 * 1000;
        let body = json!({
            "tableReference": self.table_ref(table),
            "schema": staging_schema(),
            "expirationTime": expires.to_string(),
        });
        self.call(
            "tables.insert",
            reqwest::Method::POST,
            &self.dataset_url("/tables"),
            &Body::Json(body),
            false,
        )
        .await
        .map(|_| ())
    }

    pub async fn drop_table(&self, table: &str) -> Result<(), BigQueryError> {
        let url = self.dataset_url(&format!("/tables/{table}"));
        self.call("tables.delete", reqwest::Method::DELETE, &url, &Body::Empty, true)
            .await
            .map(|_| ())
    }

    /// Drops the staging tables of runs that died between their load and their MERGE.
    pub async fn drop_stale_staging(&self) -> Result<usize, BigQueryError> {
        let url = self.dataset_url("/tables?maxResults=1000");
        let listed = self
            .call("tables.list", reqwest::Method::GET, &url, &Body::Empty, false)
            .await?
            .unwrap_or_default();
        let cutoff = chrono::Utc::now().timestamp_millis() - STALE_STAGING_MS;
        let stale: Vec<String> = listed["tables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let id = t["tableReference"]["tableId"].as_str()?;
                let created: i64 = t["creationTime"].as_str()?.parse().ok()?;
                (id.starts_with(STAGING_PREFIX) && created < cutoff).then(|| id.to_owned())
            })
            .collect();
        for table in &stale {
            tracing::info!(table, "dropping the staging table of a run that did not finish");
            self.drop_table(table).await?;
        }
        Ok(stale.len())
    }
}

/// What differs between the schema this release writes and a table's, if anything.
fn difference(wanted: &TableSchema, found: &TableSchema) -> Option<String> {
    let mut said = Vec::new();
    for field in &wanted.fields {
        match found.fields.iter().find(|f| f.name == field.name) {
            None => said.push(format!("no column {}", field.name)),
            Some(f) if f.kind != field.kind || f.mode != field.mode => said.push(format!(
                "{} is {} {}, not {} {}",
                field.name, f.mode, f.kind, field.mode, field.kind
            )),
            Some(_) => {}
        }
    }
    for f in &found.fields {
        if !wanted.fields.iter().any(|w| w.name == f.name) {
            said.push(format!("an extra column {}", f.name));
        }
    }
    (!said.is_empty()).then(|| said.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_that_differs_is_described() {
        let wanted = errors_schema();
        assert_eq!(difference(&wanted, &wanted), None);
        let mut found = wanted.clone();
        found.fields[2].kind = "STRING".into();
        found.fields.push(Field {
            name: "note".into(),
            kind: "STRING".into(),
            mode: "NULLABLE".into(),
        });
        let said = difference(&wanted, &found).unwrap();
        assert!(said.contains("line is NULLABLE STRING, not NULLABLE INT64"), "{said}");
        assert!(said.contains("an extra column note"), "{said}");
    }
}
