//! A task's rows on their way in: staged chunk by chunk into a temporary table inside one
//! transaction while the parser reads, then applied to the catalogue with a few set-based
//! statements and committed together with the task record. Either everything of a task is
//! visible or nothing is.
//!
//! A supplier's first list is inserted whole; a later one is compared with the catalogue in
//! one join, and only new and changed items are written.
//!
//! The transaction spans many actor messages, so it lives in a task of its own that the writer
//! feeds through a bounded channel.
//!
//! Rows are staged with `COPY`, except for a task of a single chunk, which is staged with one
//! `INSERT … SELECT FROM UNNEST(…)`: the driver does not disable Nagle's algorithm, so the two
//! consecutive writes that end a `COPY` (data, then done) wait ~40 ms for a delayed ACK —
//! nothing for a large list, most of the time of a small one. For large lists `COPY` is many
//! times faster than array inserts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use intake_actors::domain::{Item, Rejection, TaskMeta, TaskResult};
use intake_actors::flow::Credit;
use intake_actors::ports::{ParseSummary, PortError, Staging};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;
use uuid::Uuid;

use super::classify;
use super::copy_text::{STAGE_COLUMNS, encode};
use super::merge::merge;

enum Command {
    Rows {
        items: Vec<Item>,
        rejections: Vec<Rejection>,
        credit: Credit,
    },
    Commit(ParseSummary),
}

/// The writer's handle on a task being staged.
pub struct PgStaging {
    commands: mpsc::Sender<Command>,
    /// Taken when the session's end is awaited.
    session: Option<JoinHandle<Result<TaskResult, PortError>>>,
}

impl PgStaging {
    /// Opens a task's transaction.
    pub async fn open(pool: PgPool, task: TaskMeta) -> Result<Self, PortError> {
        let (commands, rx) = mpsc::channel(2);
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let session = tokio::spawn(session(pool, task, rx, ready_tx).in_current_span());
        let mut staging = Self {
            commands,
            session: Some(session),
        };
        // Wait until the transaction is open, so a database that is down fails the task right here.
        match ready.await {
            Ok(()) => Ok(staging),
            Err(_) => Err(staging
                .end()
                .await
                .err()
                .unwrap_or_else(|| PortError::transient("staging ended before it started"))),
        }
    }

    /// Waits for the session to end and returns how it ended.
    async fn end(&mut self) -> Result<TaskResult, PortError> {
        match self.session.take() {
            Some(session) => match session.await {
                Ok(result) => result,
                Err(e) => Err(PortError::transient(format!("staging stopped: {e}"))),
            },
            None => Err(PortError::transient("staging already ended")),
        }
    }
}

#[async_trait]
impl Staging for PgStaging {
    async fn stage(&mut self, items: Vec<Item>, rejections: Vec<Rejection>, credit: Credit) -> Result<(), PortError> {
        let rows = Command::Rows {
            items,
            rejections,
            credit,
        };
        if self.commands.send(rows).await.is_ok() {
            return Ok(());
        }
        // The session ended early, so it failed: say why.
        match self.end().await {
            Err(e) => Err(e),
            Ok(_) => Err(PortError::transient("staging ended early")),
        }
    }

    async fn commit(mut self: Box<Self>, summary: ParseSummary) -> Result<TaskResult, PortError> {
        // A failed send means the session already ended; its result says why.
        let _ = self.commands.send(Command::Commit(summary)).await;
        self.end().await
    }
}

async fn session(
    pool: PgPool,
    task: TaskMeta,
    mut commands: mpsc::Receiver<Command>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Result<TaskResult, PortError> {
    let started = Instant::now();
    let db = |e: sqlx::Error| classify(&e);
    let mut tx = pool.begin().await.map_err(db)?;
    // Hashing a million staged rows against the catalogue wants more than the 4 MB default.
    sqlx::raw_sql(
        "SET LOCAL work_mem = '256MB';
         CREATE TEMP TABLE IF NOT EXISTS intake_stage (
             row_number integer, id uuid, sku text, name text, price numeric(12, 2),
             characteristics jsonb, error_type text, error_message text, row_data jsonb,
             source_table integer
         ) ON COMMIT DELETE ROWS;",
    )
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let _ = ready.send(());

    let mut staging = Duration::ZERO;
    let mut staged_rows = 0usize;
    // SKU hashes seen so far: when none repeats, the merge skips looking for duplicates.
    let mut seen = HashSet::<u64>::new();
    let mut repeats = false;
    let mut note = |items: &[Item], rejections: &[Rejection]| {
        for item in items {
            repeats |= !seen.insert(sku_hash(item.sku.as_str()));
        }
        staged_rows += items.len() + rejections.len();
    };

    // A task of one chunk is staged in one statement; a longer one streams through COPY,
    // started when its second chunk arrives.
    let mut first: Option<(Vec<Item>, Vec<Rejection>)> = None;
    let second = loop {
        match commands.recv().await {
            Some(Command::Rows {
                items,
                rejections,
                credit,
            }) => {
                note(&items, &rejections);
                drop(credit);
                match first {
                    None => first = Some((items, rejections)),
                    Some(_) => break Ok((items, rejections)),
                }
            }
            Some(Command::Commit(summary)) => break Err(summary),
            // Aborted: the transaction rolls back as it is dropped.
            None => return Err(PortError::transient("task aborted")),
        }
    };
    let summary = match second {
        Err(summary) => {
            if let Some((items, rejections)) = first.take() {
                let inserting = Instant::now();
                stage_rows(&mut tx, items, rejections).await.map_err(db)?;
                staging += inserting.elapsed();
            }
            summary
        }
        Ok(second) => {
            let sql = format!("COPY intake_stage ({STAGE_COLUMNS}) FROM STDIN");
            let mut copy = tx.copy_in_raw(&sql).await.map_err(db)?;
            let mut buffers = (Vec::with_capacity(1 << 20), Vec::with_capacity(1024));
            let sending = Instant::now();
            for (items, rejections) in first.take().into_iter().chain([second]) {
                send_chunk(&mut copy, &mut buffers, items, rejections)
                    .await
                    .map_err(db)?;
            }
            staging += sending.elapsed();
            loop {
                match commands.recv().await {
                    Some(Command::Rows {
                        items,
                        rejections,
                        credit,
                    }) => {
                        note(&items, &rejections);
                        let sending = Instant::now();
                        send_chunk(&mut copy, &mut buffers, items, rejections)
                            .await
                            .map_err(db)?;
                        staging += sending.elapsed();
                        drop(credit);
                    }
                    Some(Command::Commit(summary)) => {
                        let finishing = Instant::now();
                        copy.finish().await.map_err(db)?;
                        staging += finishing.elapsed();
                        break summary;
                    }
                    None => {
                        let _ = copy.abort("task aborted").await;
                        return Err(PortError::transient("task aborted"));
                    }
                }
            }
        }
    };
    drop(seen);

    let merging = Instant::now();
    let result = merge(&mut tx, &task, summary, repeats, staged_rows, started).await?;
    let merge_ms = merging.elapsed().as_millis() as u64;
    let committing = Instant::now();
    tx.commit().await.map_err(db)?;
    tracing::info!(
        task_id = %task.task_id,
        stage_ms = staging.as_millis() as u64,
        merge_ms,
        commit_ms = committing.elapsed().as_millis() as u64,
        "rows merged"
    );
    Ok(result)
}

/// Encodes one chunk and streams it into a running COPY; `buffers` are reused scratch space.
async fn send_chunk(
    copy: &mut sqlx::postgres::PgCopyIn<&mut sqlx::PgConnection>,
    (buffer, json): &mut (Vec<u8>, Vec<u8>),
    items: Vec<Item>,
    rejections: Vec<Rejection>,
) -> Result<(), sqlx::Error> {
    buffer.clear();
    encode(buffer, json, &items, &rejections);
    drop((items, rejections));
    copy.send(buffer.as_slice()).await.map(|_| ())
}

/// Stages one chunk in a single statement: the rows travel as column arrays. Each item gets a
/// time-ordered id, as in [`encode`].
async fn stage_rows(
    tx: &mut Transaction<'static, Postgres>,
    items: Vec<Item>,
    rejections: Vec<Rejection>,
) -> Result<(), sqlx::Error> {
    let n = items.len() + rejections.len();
    let mut row_number: Vec<Option<i32>> = Vec::with_capacity(n);
    let mut id: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut sku: Vec<Option<String>> = Vec::with_capacity(n);
    let mut name: Vec<Option<String>> = Vec::with_capacity(n);
    let mut price: Vec<Option<rust_decimal::Decimal>> = Vec::with_capacity(n);
    let mut characteristics: Vec<Option<serde_json::Value>> = Vec::with_capacity(n);
    let mut error_type: Vec<Option<&'static str>> = Vec::with_capacity(n);
    let mut error_message: Vec<Option<String>> = Vec::with_capacity(n);
    let mut row_data: Vec<Option<serde_json::Value>> = Vec::with_capacity(n);
    let mut source_table: Vec<Option<i32>> = Vec::with_capacity(n);
    for item in items {
        row_number.push(Some(item.row.0 as i32));
        id.push(Some(Uuid::now_v7()));
        sku.push(Some(item.sku.to_string()));
        name.push(Some(item.name.to_string()));
        price.push(Some(item.price.amount()));
        characteristics.push(Some(serde_json::Value::Object(item.characteristics)));
        error_type.push(None);
        error_message.push(None);
        row_data.push(None);
        source_table.push(Some(i32::try_from(item.table).unwrap_or(i32::MAX)));
    }
    for rejection in rejections {
        row_number.push(rejection.row.map(|r| r.0 as i32));
        id.push(None);
        sku.push(None);
        name.push(None);
        price.push(None);
        characteristics.push(None);
        error_type.push(Some(rejection.reason.as_str()));
        error_message.push(Some(rejection.message));
        row_data.push(rejection.row_data);
        source_table.push(None);
    }
    sqlx::query(
        "INSERT INTO intake_stage
         SELECT * FROM UNNEST($1::int4[], $2::uuid[], $3::text[], $4::text[], $5::numeric[],
                              $6::jsonb[], $7::text[], $8::text[], $9::jsonb[], $10::int4[])",
    )
    .bind(row_number)
    .bind(id)
    .bind(sku)
    .bind(name)
    .bind(price)
    .bind(characteristics)
    .bind(error_type)
    .bind(error_message)
    .bind(row_data)
    .bind(source_table)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

fn sku_hash(sku: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(sku)
}
