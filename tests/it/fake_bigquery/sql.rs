//! The statements the metadata sink sends, executed on the fake's tables with BigQuery's
//! semantics: a dry run's read of the stored hashes (`-- intake:stored`), the plan
//! (`-- intake:plan`, one row of counts) and the MERGE (`-- intake:merge`, with `dmlStats`).
//! Any other statement is refused as an invalid query.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

use super::{Row, Table};

const STAGING_PREFIX: &str = "_intake_staging_";

/// The tables a statement names as `project.dataset.table`: (target, staging).
fn tables_of(sql: &str) -> Result<(String, String), String> {
    let names: Vec<String> = sql
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|path| path.rsplit('.').next().map(str::to_owned))
        .collect();
    let staging = names.iter().find(|n| n.starts_with(STAGING_PREFIX)).cloned();
    let target = names.iter().find(|n| !n.starts_with(STAGING_PREFIX)).cloned();
    match (target, staging) {
        (Some(t), Some(s)) => Ok((t, s)),
        _ => Err(format!("Syntax error: the statement names no table pair: {names:?}")),
    }
}

fn text<'a>(row: &'a Row, column: &str) -> Option<&'a str> {
    row.get(column).and_then(Value::as_str)
}

fn parameter<'a>(parameters: &'a HashMap<String, Value>, name: &str) -> Result<&'a Value, String> {
    parameters
        .get(name)
        .ok_or_else(|| format!("Query parameter '{name}' not found"))
}

pub fn execute(
    tables: &mut BTreeMap<String, Table>,
    sql: &str,
    parameters: &HashMap<String, Value>,
) -> Result<Value, String> {
    if sql.starts_with("-- intake:stored") {
        return stored(tables, sql, parameters);
    }
    let (target_name, staging_name) = tables_of(sql)?;
    let missing = |name: &str| format!("Not found: Table {name} was not found in location US");
    let staging: Vec<Row> = tables
        .get(&staging_name)
        .ok_or_else(|| missing(&staging_name))?
        .rows
        .clone();
    let kind = parameter(parameters, "kind")?.as_str().unwrap_or_default().to_owned();
    let sources: HashSet<String> = parameter(parameters, "sources")?
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let target = tables.get_mut(&target_name).ok_or_else(|| missing(&target_name))?;
    let staged_ids: HashSet<&str> = staging.iter().filter_map(|r| text(r, "id")).collect();
    let vanished = |row: &Row| {
        text(row, "source_kind") == Some(kind.as_str())
            && text(row, "source_name").is_some_and(|s| sources.contains(s))
            && row.get("deleted_at").is_none_or(Value::is_null)
            && text(row, "id").is_some_and(|id| !staged_ids.contains(id))
    };
    let position: HashMap<String, usize> = target
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| text(r, "id").map(|id| (id.to_owned(), i)))
        .collect();
    let changed = |old: &Row, new: &Row| {
        text(old, "content_sha256") != text(new, "content_sha256") || !old.get("deleted_at").is_none_or(Value::is_null)
    };

    if sql.starts_with("-- intake:plan") {
        let (mut inserted, mut updated, mut unchanged) = (0u64, 0u64, 0u64);
        for row in &staging {
            match text(row, "id").and_then(|id| position.get(id)) {
                None => inserted += 1,
                Some(&i) if changed(&target.rows[i], row) => updated += 1,
                Some(_) => unchanged += 1,
            }
        }
        let deleted = target.rows.iter().filter(|r| vanished(r)).count();
        return Ok(json!({
            "query": {"statementType": "SELECT", "totalBytesProcessed": "0"},
            "result_rows": [[inserted.to_string(), updated.to_string(), unchanged.to_string(), deleted.to_string()]],
        }));
    }
    if !sql.starts_with("-- intake:merge") {
        return Err("Syntax error: Unexpected statement".into());
    }
    for clause in [
        "WHEN MATCHED AND",
        "WHEN NOT MATCHED BY TARGET THEN INSERT",
        "WHEN NOT MATCHED BY SOURCE AND",
        "deleted_at = CURRENT_TIMESTAMP()",
    ] {
        if !sql.contains(clause) {
            return Err(format!("the MERGE lacks `{clause}`"));
        }
    }
    if staged_ids.len() != staging.len() {
        return Err("UPDATE/MERGE must match at most one source row for each target row".into());
    }
    let run = parameter(parameters, "run")?.clone();
    let now = Value::from(chrono::Utc::now().to_rfc3339());
    let (mut inserted, mut updated) = (0u64, 0u64);
    for i in 0..target.rows.len() {
        if vanished(&target.rows[i]) {
            let row = &mut target.rows[i];
            row.insert("deleted_at".into(), now.clone());
            row.insert("last_changed_run_id".into(), run.clone());
            row.insert("updated_at".into(), now.clone());
            updated += 1;
        }
    }
    for new in staging {
        match text(&new, "id").and_then(|id| position.get(id)).copied() {
            Some(i) if changed(&target.rows[i], &new) => {
                let row = &mut target.rows[i];
                for (column, value) in new {
                    row.insert(column, value);
                }
                row.insert("last_changed_run_id".into(), run.clone());
                row.insert("deleted_at".into(), Value::Null);
                row.insert("updated_at".into(), now.clone());
                updated += 1;
            }
            Some(_) => {}
            None => {
                let mut row = new;
                row.insert("first_run_id".into(), run.clone());
                row.insert("last_changed_run_id".into(), run.clone());
                row.insert("deleted_at".into(), Value::Null);
                row.insert("created_at".into(), now.clone());
                row.insert("updated_at".into(), now.clone());
                target.rows.push(row);
                inserted += 1;
            }
        }
    }
    Ok(json!({"query": {
        "statementType": "MERGE",
        "numDmlAffectedRows": (inserted + updated).to_string(),
        "dmlStats": {"insertedRowCount": inserted.to_string(), "updatedRowCount": updated.to_string(), "deletedRowCount": "0"},
    }}))
}

/// `SELECT id, content_sha256, deleted_at IS NOT NULL` of the rows of the given sources.
fn stored(tables: &BTreeMap<String, Table>, sql: &str, parameters: &HashMap<String, Value>) -> Result<Value, String> {
    let name = sql
        .split('`')
        .nth(1)
        .and_then(|path| path.rsplit('.').next())
        .ok_or("Syntax error: no table")?;
    let table = tables
        .get(name)
        .ok_or_else(|| format!("Not found: Table {name} was not found in location US"))?;
    let kind = parameter(parameters, "kind")?.as_str().unwrap_or_default();
    let sources: HashSet<&str> = parameter(parameters, "sources")?
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let rows: Vec<Value> = table
        .rows
        .iter()
        .filter(|r| text(r, "source_kind") == Some(kind) && text(r, "source_name").is_some_and(|s| sources.contains(s)))
        .map(|r| {
            let deleted = !r.get("deleted_at").is_none_or(Value::is_null);
            json!([r["id"], r["content_sha256"], deleted.to_string()])
        })
        .collect();
    Ok(json!({"query": {"statementType": "SELECT"}, "result_rows": rows}))
}
