//! The technical-metadata family in PostgreSQL: runs (`ingestion_log`), records
//! (`source_metadata`, idempotent to the row by content hash) and refused artifacts
//! (`source_metadata_errors`).

use intake_actors::metadata::{Kind, MetadataRecord};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// A record as stored: its id and hash computed, its source span attached.
#[derive(Debug, Clone, Serialize)]
pub struct StoredRecord {
    pub id: String,
    pub semantic_path: String,
    pub parent_id: Option<String>,
    pub record_kind: String,
    pub name: String,
    pub data_type: Option<String>,
    pub attributes: serde_json::Value,
    pub content: String,
    /// A record whose source span is longer than [`CHUNK_BYTES`] is stored as several rows,
    /// split between lines: this row's place among them.
    pub chunk_index: i32,
    pub chunk_count: i32,
    pub line_start: i32,
    pub line_end: i32,
    pub content_sha256: String,
}

/// Content above this size is split between lines into chunks of at most this size (a single
/// longer line stays whole): rows stay small enough to read, index and embed.
pub const CHUNK_BYTES: usize = 16 * 1024;

fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// `<kind>:<source name>#<path inside the artifact>`.
pub fn semantic_path(kind: Kind, source_name: &str, path: &str) -> String {
    format!("{}:{source_name}#{path}", kind.as_str())
}

/// The records of one artifact as they are stored: ids from their semantic paths, content
/// from their source lines, a hash of everything a change would show in.
pub fn prepare(kind: Kind, source_name: &str, text: &str, records: Vec<MetadataRecord>) -> Vec<StoredRecord> {
    let lines: Vec<&str> = text.lines().collect();
    // Parents come before their children: their ids are known when a child needs one.
    let mut ids: std::collections::HashMap<String, String> = std::collections::HashMap::with_capacity(records.len());
    let mut stored = Vec::with_capacity(records.len());
    for mut r in records {
        let semantic = semantic_path(kind, source_name, &r.path);
        let id = hex_sha256(semantic.as_bytes());
        let parent = r.parent.as_deref().map(|p| match ids.get(p) {
            Some(id) => id.clone(),
            None => hex_sha256(semantic_path(kind, source_name, p).as_bytes()),
        });
        let from = (r.line_start.max(1) as usize - 1).min(lines.len());
        let to = (r.line_end as usize).clamp(from, lines.len());
        let chunks = chunks(&lines[from..to]);
        let total = chunks.len();
        let count = i32::try_from(total).unwrap_or(i32::MAX);
        for (index, (offset, chunk)) in chunks.into_iter().enumerate() {
            let content = chunk.join("\n");
            let first_line = from + offset + 1;
            let last_line = (first_line + chunk.len()).saturating_sub(1).max(first_line);
            // Chunk 0 is the record (its id is what children and `show` find); the others
            // follow it under `…~chunk2`, `…~chunk3`.
            let (chunk_id, chunk_path) = if index == 0 {
                (id.clone(), semantic.clone())
            } else {
                let path = format!("{semantic}~chunk{}", index + 1);
                (hex_sha256(path.as_bytes()), path)
            };
            let lines_of_chunk = if count == 1 {
                (r.line_start, r.line_end)
            } else {
                (to_u32(first_line), to_u32(last_line))
            };
            let content_sha256 = content_hash(&r, &content, lines_of_chunk);
            // The last chunk (most often the only one) takes the record's values, not copies.
            let last = index + 1 == total;
            stored.push(StoredRecord {
                id: chunk_id,
                semantic_path: chunk_path,
                parent_id: parent.clone(),
                record_kind: r.kind.to_owned(),
                name: if last {
                    std::mem::take(&mut r.name)
                } else {
                    r.name.clone()
                },
                data_type: if last { r.data_type.take() } else { r.data_type.clone() },
                attributes: serde_json::Value::Object(if last {
                    std::mem::take(&mut r.attributes)
                } else {
                    r.attributes.clone()
                }),
                content_sha256,
                content,
                chunk_index: i32::try_from(index).unwrap_or(i32::MAX),
                chunk_count: count,
                line_start: i32::try_from(lines_of_chunk.0).unwrap_or(i32::MAX),
                line_end: i32::try_from(lines_of_chunk.1).unwrap_or(i32::MAX),
            });
        }
        ids.insert(r.path, id);
    }
    stored
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A span's lines in chunks of at most [`CHUNK_BYTES`], each with its offset in the span.
fn chunks<'a>(lines: &'a [&'a str]) -> Vec<(usize, &'a [&'a str])> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, line) in lines.iter().enumerate() {
        if i > start && size + line.len() + 1 > CHUNK_BYTES {
            out.push((start, &lines[start..i]));
            (start, size) = (i, 0);
        }
        size += line.len() + 1;
    }
    out.push((start, &lines[start..]));
    out
}

/// The hash of everything a change to a record would show in, serialised straight into the
/// hasher (attribute keys in order: serde_json maps are sorted), so equal records hash equal.
fn content_hash(r: &MetadataRecord, content: &str, lines: (u32, u32)) -> String {
    #[derive(Serialize)]
    struct Normal<'a> {
        record_kind: &'a str,
        name: &'a str,
        data_type: Option<&'a str>,
        parent: Option<&'a str>,
        attributes: &'a serde_json::Map<String, serde_json::Value>,
        content: &'a str,
        lines: (u32, u32),
    }
    struct Hasher(Sha256);
    impl std::io::Write for Hasher {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hasher = Hasher(Sha256::new());
    let normal = Normal {
        record_kind: r.kind,
        name: &r.name,
        data_type: r.data_type.as_deref(),
        parent: r.parent.as_deref(),
        attributes: &r.attributes,
        content,
        lines,
    };
    // Writing into a hasher cannot fail.
    let _ = serde_json::to_writer(&mut hasher, &normal);
    hex(&hasher.0.finalize())
}

pub use intake_actors::metadata::{Changes, RunFigures};

/// Opens a run's `ingestion_log` row; `task` is the queued task it belongs to, if any.
pub async fn start_run(
    pool: &PgPool,
    run: Uuid,
    task: Option<Uuid>,
    kind: Kind,
    source: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ingestion_log (run_id, task_id, kind, source, status, parser_version)
         VALUES ($1, $2, $3, $4, 'running', $5)",
    )
    .bind(run)
    .bind(task)
    .bind(kind.as_str())
    .bind(source)
    .bind(env!("CARGO_PKG_VERSION"))
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn finish_run(pool: &PgPool, run: Uuid, figures: &RunFigures) -> Result<(), sqlx::Error> {
    let status = if figures.files_rejected == 0 {
        "completed"
    } else {
        "completed_with_errors"
    };
    sqlx::query(
        "UPDATE ingestion_log SET status = $2, files_seen = $3, files_ingested = $4, files_rejected = $5,
             bytes = $6, records_seen = $7, records_inserted = $8, records_updated = $9,
             records_unchanged = $10, records_deleted = $11, finished_at = now(),
             duration_ms = (extract(epoch FROM now() - started_at) * 1000)::bigint
         WHERE run_id = $1",
    )
    .bind(run)
    .bind(status)
    .bind(figures.files_seen as i32)
    .bind(figures.files_ingested as i32)
    .bind(figures.files_rejected as i32)
    .bind(figures.bytes as i64)
    .bind(figures.records_seen as i64)
    .bind(figures.changes.inserted as i64)
    .bind(figures.changes.updated as i64)
    .bind(figures.changes.unchanged as i64)
    .bind(figures.changes.deleted as i64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Closes the runs of a task (or one run) that are still open as failed: an attempt that
/// broke off, or one whose worker died.
pub async fn fail_runs(pool: &PgPool, run: Option<Uuid>, task: Option<Uuid>) -> Result<u64, sqlx::Error> {
    let closed = sqlx::query(
        "UPDATE ingestion_log SET status = 'failed', finished_at = now(),
             duration_ms = (extract(epoch FROM now() - started_at) * 1000)::bigint
         WHERE status = 'running' AND (run_id = $1 OR task_id = $2)",
    )
    .bind(run)
    .bind(task)
    .execute(pool)
    .await?;
    Ok(closed.rows_affected())
}

pub async fn record_refusal(
    pool: &PgPool,
    run: Uuid,
    source_name: &str,
    line: Option<u32>,
    class: &str,
    message: &str,
    excerpt: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO source_metadata_errors (run_id, source_name, line, error_class, message, excerpt)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(run)
    .bind(source_name)
    .bind(line.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
    .bind(class)
    .bind(message)
    .bind(excerpt)
    .execute(pool)
    .await?;
    Ok(())
}

/// How one artifact's records compare with what is stored for its source.
struct Plan<'a> {
    write: Vec<&'a StoredRecord>,
    vanished: Vec<String>,
    changes: Changes,
}

async fn plan<'a>(
    executor: impl sqlx::PgExecutor<'_>,
    kind: Kind,
    source_name: &str,
    records: &'a [StoredRecord],
) -> Result<Plan<'a>, sqlx::Error> {
    let stored: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT id, content_sha256, deleted_at IS NOT NULL FROM source_metadata WHERE source_kind = $1 AND source_name = $2",
    )
    .bind(kind.as_str())
    .bind(source_name)
    .fetch_all(executor)
    .await?;
    let known: std::collections::HashMap<&str, (&str, bool)> = stored
        .iter()
        .map(|(id, h, d)| (id.as_str(), (h.as_str(), *d)))
        .collect();
    let mut plan = Plan {
        write: Vec::new(),
        vanished: Vec::new(),
        changes: Changes::default(),
    };
    let mut seen = std::collections::HashSet::with_capacity(records.len());
    for r in records {
        seen.insert(r.id.as_str());
        match known.get(r.id.as_str()) {
            None => {
                plan.changes.inserted += 1;
                plan.write.push(r);
            }
            Some((hash, deleted)) if *hash != r.content_sha256 || *deleted => {
                plan.changes.updated += 1;
                plan.write.push(r);
            }
            Some(_) => plan.changes.unchanged += 1,
        }
    }
    plan.vanished = stored
        .iter()
        .filter(|(id, _, deleted)| !deleted && !seen.contains(id.as_str()))
        .map(|(id, _, _)| id.clone())
        .collect();
    plan.changes.deleted = plan.vanished.len() as u64;
    Ok(plan)
}

/// Applies one artifact's records in one transaction: new ids inserted, changed hashes
/// updated, unchanged rows not touched at all (not even locked), and the source's records that
/// vanished tombstoned. Runs of one source take turns.
pub async fn apply(
    pool: &PgPool,
    run: Uuid,
    kind: Kind,
    source_name: &str,
    records: &[StoredRecord],
) -> Result<Changes, sqlx::Error> {
    // Most re-runs change nothing: one read outside any transaction says so, and then nothing
    // is locked or written. A source with changes is planned again under its lock, as another
    // run may have written it meanwhile.
    let unlocked = plan(pool, kind, source_name, records).await?;
    if unlocked.write.is_empty() && unlocked.vanished.is_empty() {
        return Ok(unlocked.changes);
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("metadata:{}:{source_name}", kind.as_str()))
        .execute(&mut *tx)
        .await?;
    let plan = plan(&mut *tx, kind, source_name, records).await?;
    if !plan.write.is_empty() {
        let w = &plan.write;
        let col = |f: fn(&StoredRecord) -> String| w.iter().map(|r| f(r)).collect::<Vec<String>>();
        sqlx::query(
            "INSERT INTO source_metadata (id, semantic_path, source_kind, source_name, parent_id, record_kind,
                 name, data_type, attributes, content, line_start, line_end, content_sha256,
                 first_run_id, last_changed_run_id, chunk_index, chunk_count)
             SELECT id, semantic_path, $1, $2, parent_id, record_kind, name, data_type, attributes, content,
                    line_start, line_end, content_sha256, $14, $14, chunk_index, chunk_count
             FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                         $9::jsonb[], $10::text[], $11::int[], $12::int[], $13::text[], $15::int[], $16::int[])
                 AS t(id, semantic_path, parent_id, record_kind, name, data_type, attributes, content,
                      line_start, line_end, content_sha256, chunk_index, chunk_count)
             ON CONFLICT (id) DO UPDATE SET
                 parent_id = EXCLUDED.parent_id, record_kind = EXCLUDED.record_kind, name = EXCLUDED.name,
                 data_type = EXCLUDED.data_type, attributes = EXCLUDED.attributes, content = EXCLUDED.content,
                 line_start = EXCLUDED.line_start, line_end = EXCLUDED.line_end,
                 chunk_index = EXCLUDED.chunk_index, chunk_count = EXCLUDED.chunk_count,
                 content_sha256 = EXCLUDED.content_sha256, last_changed_run_id = EXCLUDED.last_changed_run_id,
                 deleted_at = NULL, updated_at = now()",
        )
        .bind(kind.as_str())
        .bind(source_name)
        .bind(col(|r| r.id.clone()))
        .bind(col(|r| r.semantic_path.clone()))
        .bind(w.iter().map(|r| r.parent_id.clone()).collect::<Vec<Option<String>>>())
        .bind(col(|r| r.record_kind.clone()))
        .bind(col(|r| r.name.clone()))
        .bind(w.iter().map(|r| r.data_type.clone()).collect::<Vec<Option<String>>>())
        .bind(
            w.iter()
                .map(|r| r.attributes.clone())
                .collect::<Vec<serde_json::Value>>(),
        )
        .bind(col(|r| r.content.clone()))
        .bind(w.iter().map(|r| r.line_start).collect::<Vec<i32>>())
        .bind(w.iter().map(|r| r.line_end).collect::<Vec<i32>>())
        .bind(col(|r| r.content_sha256.clone()))
        .bind(run)
        .bind(w.iter().map(|r| r.chunk_index).collect::<Vec<i32>>())
        .bind(w.iter().map(|r| r.chunk_count).collect::<Vec<i32>>())
        .execute(&mut *tx)
        .await?;
    }
    if !plan.vanished.is_empty() {
        sqlx::query(
            "UPDATE source_metadata SET deleted_at = now(), updated_at = now(), last_changed_run_id = $2
             WHERE id = ANY($1)",
        )
        .bind(&plan.vanished)
        .bind(run)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(plan.changes)
}

/// What applying would do, without writing: compared with the stored hashes.
pub async fn compare(
    pool: &PgPool,
    kind: Kind,
    source_name: &str,
    records: &[StoredRecord],
) -> Result<Changes, sqlx::Error> {
    Ok(plan(pool, kind, source_name, records).await?.changes)
}

/// One run, as `intake metadata runs` lists it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Run {
    pub run_id: Uuid,
    /// The queued task the run belongs to, if any.
    pub task_id: Option<Uuid>,
    pub kind: String,
    pub source: String,
    pub status: String,
    pub files_seen: i32,
    pub files_rejected: i32,
    pub records_seen: i64,
    pub records_inserted: i64,
    pub records_updated: i64,
    pub records_unchanged: i64,
    pub records_deleted: i64,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub duration_ms: Option<i64>,
}

const RUN_COLUMNS: &str = "run_id, task_id, kind, source, status, files_seen, files_rejected, records_seen,
     records_inserted, records_updated, records_unchanged, records_deleted, started_at, duration_ms";

pub async fn runs(pool: &PgPool, limit: u32) -> Result<Vec<Run>, sqlx::Error> {
    // Only this file's constants go into the text.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM ingestion_log ORDER BY started_at DESC LIMIT $1"
    )))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
}

/// The runs of one queued task (one per attempt that started), oldest first.
pub async fn runs_of_task(pool: &PgPool, task: Uuid) -> Result<Vec<Run>, sqlx::Error> {
    // Only this file's constants go into the text.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM ingestion_log WHERE task_id = $1 ORDER BY started_at"
    )))
    .bind(task)
    .fetch_all(pool)
    .await
}

/// One stored record, as `intake metadata show` prints it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Shown {
    pub id: String,
    pub semantic_path: String,
    pub source_kind: String,
    pub source_name: String,
    pub parent_id: Option<String>,
    pub record_kind: String,
    pub name: String,
    pub data_type: Option<String>,
    pub attributes: serde_json::Value,
    pub content: Option<String>,
    pub line_start: Option<i32>,
    pub line_end: Option<i32>,
    pub content_sha256: String,
    pub first_run_id: Uuid,
    pub last_changed_run_id: Uuid,
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A record by its id or its semantic path.
pub async fn show(pool: &PgPool, key: &str) -> Result<Option<Shown>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, semantic_path, source_kind, source_name, parent_id, record_kind, name, data_type, attributes,
                content, line_start, line_end, content_sha256, first_run_id, last_changed_run_id, deleted_at
         FROM source_metadata WHERE id = $1 OR semantic_path = $1",
    )
    .bind(key)
    .fetch_optional(pool)
    .await
}
