//! What a task would do with a source, without touching the database or the queue: the sheets
//! and header rows found, each column's mapping with its confidence, the first rows as they
//! would be stored and the rows that would be rejected, with their reasons.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use intake_actors::domain::report::ReadReport;
use intake_actors::domain::{TaskFailure, TaskMeta};
use intake_actors::mapping::{MappingOptions, RowChunk, TableReader};
use intake_actors::pipeline::validator::validate;
use intake_actors::ports::{DecodeError, DecoderRegistry, SourceFetcher};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Preview {
    /// Every table read and every sheet skipped, with what was decided.
    #[serde(flatten)]
    pub decisions: ReadReport,
    pub rows_seen: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
    pub notes: Vec<String>,
    /// The first valid rows, as the catalogue would store them.
    pub items: Vec<ItemPreview>,
    /// The first rejected rows, with their reasons.
    pub rejections: Vec<RejectionPreview>,
}

#[derive(Debug, Serialize)]
pub struct ItemPreview {
    pub row: u32,
    pub sku: String,
    pub name: String,
    pub price: String,
    pub characteristics: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct RejectionPreview {
    pub row: Option<u32>,
    pub error_type: &'static str,
    pub message: String,
}

/// Fetches and reads the task's source as a worker would, keeping `shown` examples of each kind.
pub async fn preview(
    sources: Arc<dyn SourceFetcher>,
    decoders: &DecoderRegistry,
    options: MappingOptions,
    task: &TaskMeta,
    shown: usize,
) -> Result<Preview, TaskFailure> {
    let decoder = decoders.get(&task.parser_type).ok_or_else(|| {
        let known: Vec<String> = decoders.parser_types().map(|t| t.to_string()).collect();
        TaskFailure::permanent(format!(
            "unknown parser type {:?} (known: {})",
            task.parser_type.as_str(),
            known.join(", ")
        ))
    })?;
    let source = sources.fetch(task).await?;
    let config = task.source.clone();
    let read = tokio::task::spawn_blocking(move || {
        let mut preview = Preview {
            decisions: ReadReport::default(),
            rows_seen: 0,
            rows_valid: 0,
            rows_rejected: 0,
            notes: Vec::new(),
            items: Vec::new(),
            rejections: Vec::new(),
        };
        // The keys seen, as 64-bit hashes (a million keys in 16 MB; a collision among them is
        // a one in ten million chance), to count the rows the store would collapse.
        let mut keys = HashSet::new();
        let mut duplicates = 0u64;
        let mut reader = TableReader::new(&config, &options, 1000, |chunk: RowChunk| {
            let (items, rejections) = validate(&chunk);
            duplicates += items.iter().filter(|i| !keys.insert(key_hash(i.sku.as_str()))).count() as u64;
            preview.rows_valid += items.len() as u64;
            preview.rows_rejected += rejections.len() as u64;
            for item in items.into_iter().take(shown.saturating_sub(preview.items.len())) {
                preview.items.push(ItemPreview {
                    row: item.row.0,
                    sku: item.sku.to_string(),
                    name: item.name.to_string(),
                    price: item.price.to_string(),
                    characteristics: item.characteristics,
                });
            }
            for r in rejections
                .into_iter()
                .take(shown.saturating_sub(preview.rejections.len()))
            {
                preview.rejections.push(RejectionPreview {
                    row: r.row.map(|n| n.0),
                    error_type: r.reason.as_str(),
                    message: r.message,
                });
            }
            ControlFlow::Continue(())
        });
        decoder.decode(&source, &config, &mut reader)?;
        let summary = reader.finish().map_err(DecodeError::Unusable)?;
        preview.rows_seen = summary.rows_seen;
        preview.notes = summary.notes;
        preview.decisions = summary.report;
        preview.decisions.duplicates_collapsed = duplicates;
        preview.rows_valid -= duplicates;
        Ok::<_, DecodeError>(preview)
    });
    match read.await {
        Ok(result) => result.map_err(DecodeError::into_failure),
        Err(e) => Err(TaskFailure::permanent(format!("reading the source failed: {e}"))),
    }
}

fn key_hash(key: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

impl Preview {
    /// The preview as an operator reads it.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        out.push_str(&self.decisions.render());
        let _ = writeln!(
            out,
            "\n{} data rows: {} would be stored, {} rejected, {} repeat a key seen before",
            self.rows_seen, self.rows_valid, self.rows_rejected, self.decisions.duplicates_collapsed
        );
        if !self.items.is_empty() {
            let _ = writeln!(out, "\nfirst rows as stored:");
            for i in &self.items {
                let _ = writeln!(
                    out,
                    "  row {:>6}  {:<20} {:>14}  {}  {}",
                    i.row,
                    i.sku,
                    i.price,
                    i.name,
                    serde_json::Value::Object(i.characteristics.clone())
                );
            }
        }
        if !self.rejections.is_empty() {
            let _ = writeln!(out, "\nrejected rows:");
            for r in &self.rejections {
                let row = r.row.map_or("-".to_owned(), |n| n.to_string());
                let _ = writeln!(out, "  row {row:>6}  {:<18} {}", r.error_type, r.message);
            }
        }
        out
    }
}
