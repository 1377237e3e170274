//! What a task would do with a source, without touching the database or the queue: the sheets
//! and header rows found, each column's mapping with its confidence, the first rows as they
//! would be stored and the rows that would be rejected, with their reasons.

use std::ops::ControlFlow;
use std::sync::Arc;

use intake_actors::domain::{TaskFailure, TaskMeta};
use intake_actors::mapping::{ColumnDecision, MappingOptions, RowChunk, TableReader};
use intake_actors::pipeline::validator::validate;
use intake_actors::ports::{DecodeError, DecoderRegistry, SourceFetcher};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Preview {
    pub tables: Vec<TablePreview>,
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
pub struct TablePreview {
    pub sheet: Option<String>,
    /// The header's first and last row; none when the columns were inferred from content.
    pub header_rows: Option<(u32, u32)>,
    pub derive_sku: bool,
    pub columns: Vec<ColumnDecision>,
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
            tables: Vec::new(),
            rows_seen: 0,
            rows_valid: 0,
            rows_rejected: 0,
            notes: Vec::new(),
            items: Vec::new(),
            rejections: Vec::new(),
        };
        let mut layouts_seen = Vec::new();
        let mut reader = TableReader::new(&config, &options, 1000, |chunk: RowChunk| {
            if !layouts_seen.iter().any(|l| Arc::ptr_eq(l, &chunk.layout)) {
                layouts_seen.push(chunk.layout.clone());
            }
            let (items, rejections) = validate(&chunk);
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
        preview.tables = summary
            .layouts
            .iter()
            .map(|layout| TablePreview {
                sheet: layout.sheet.clone(),
                header_rows: layout.header_rows.map(|(a, b)| (a.0, b.0)),
                derive_sku: layout.derive_sku,
                columns: layout.columns.clone(),
            })
            .collect();
        Ok::<_, DecodeError>(preview)
    });
    match read.await {
        Ok(result) => result.map_err(DecodeError::into_failure),
        Err(e) => Err(TaskFailure::permanent(format!("reading the source failed: {e}"))),
    }
}

impl Preview {
    /// The preview as an operator reads it.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for table in &self.tables {
            let sheet = table
                .sheet
                .as_deref()
                .map_or(String::new(), |s| format!("sheet {s:?}, "));
            let header = match table.header_rows {
                Some((a, b)) if a == b => format!("header row {a}"),
                Some((a, b)) => format!("header rows {a}-{b}"),
                None => "no header row (columns inferred from their content)".into(),
            };
            let _ = writeln!(out, "{sheet}{header}");
            for c in &table.columns {
                let role = match &c.role {
                    intake_actors::mapping::Role::Field(f) => format!("→ {f}"),
                    intake_actors::mapping::Role::OtherPrice(k) => format!("→ characteristic {k:?} (another price)"),
                    intake_actors::mapping::Role::Characteristic(k) => format!("→ characteristic {k:?}"),
                    intake_actors::mapping::Role::RunningNumber => "→ dropped (running number)".into(),
                    intake_actors::mapping::Role::Ignored => "→ ignored".into(),
                };
                let note = c.note.as_deref().map_or(String::new(), |n| format!("  [{n}]"));
                let _ = writeln!(
                    out,
                    "  {:>3} {:<30} {:<40} {:.2}{note}",
                    intake_actors::mapping::layout::column_letter(c.index),
                    format!("{:?}", c.header),
                    role,
                    c.confidence
                );
            }
            if table.derive_sku {
                let _ = writeln!(out, "  (no SKU column: keys derived from the normalised name)");
            }
        }
        let _ = writeln!(
            out,
            "\n{} data rows: {} would be stored, {} rejected",
            self.rows_seen, self.rows_valid, self.rows_rejected
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
        for note in self.notes.iter().filter(|n| n.starts_with("skipped")) {
            let _ = writeln!(out, "\n{note}");
        }
        out
    }
}
