//! Where a price list is and how to read it: the source options shared by `enqueue`, `ingest`
//! and `preview`, and the parser told from the source when the operator names none.

use std::io::Read;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use intake_actors::domain::{ColumnRef, Field, ParserType, SourceConfig, SupplierName, TaskId, TaskMessage};

/// Where the price list is and how to read it.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// csv, xlsx or google_sheets; when absent, told by the file's extension (.csv, .tsv, .txt;
    /// .xlsx, .xls, .xlsb, .ods), a Google Sheets URL, or the file's first bytes.
    #[arg(long)]
    pub parser: Option<String>,
    /// A file path, an http(s) URL, or a Google Sheets URL or id.
    #[arg(long, value_name = "PATH|URL")]
    pub source: String,
    /// Read only this sheet (tab), by name or 1-based index.
    #[arg(long)]
    pub sheet: Option<String>,
    /// Map a field to a column (header text, letter or 1-based index), e.g. --map price=D.
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub map: Vec<String>,
    /// The 1-based row holding the header, when detection should not guess.
    #[arg(long)]
    pub header_row: Option<u32>,
    /// The text encoding of a csv file (detected when absent).
    #[arg(long)]
    pub encoding: Option<String>,
    /// The csv delimiter (detected when absent).
    #[arg(long)]
    pub delimiter: Option<char>,
    /// Ingest even if the source equals the supplier's last successful one, or is older than
    /// the list already applied.
    #[arg(long)]
    pub force: bool,
    /// The source is a part of the supplier's offer: items it does not list stay offered.
    #[arg(long)]
    pub partial: bool,
    /// When the supplier issued this list (2026-11-22 or an RFC 3339 time): lists of a
    /// supplier take effect in this order. Default: when the task is enqueued.
    #[arg(long, value_name = "DATE", value_parser = intake_actors::domain::parse_list_date)]
    pub list_date: Option<chrono::DateTime<Utc>>,
}

/// `path` made absolute against the working directory (without resolving links: the worker
/// resolves them under its own rules).
fn absolute(path: &str) -> String {
    match std::path::absolute(path) {
        Ok(absolute) => absolute.display().to_string(),
        Err(_) => path.to_owned(),
    }
}

impl SourceArgs {
    /// The parser the operator named, or the one the source's name or first bytes tell.
    pub fn parser(&self) -> anyhow::Result<String> {
        match &self.parser {
            Some(parser) => Ok(parser.clone()),
            None => infer_parser(&self.source).map(str::to_owned),
        }
    }

    pub fn source_config(&self) -> anyhow::Result<SourceConfig> {
        let mut config = SourceConfig {
            sheet: self.sheet.clone(),
            header_row: self.header_row,
            encoding: self.encoding.clone(),
            delimiter: self.delimiter,
            partial: self.partial,
            ..Default::default()
        };
        let is_url = self.source.starts_with("http://") || self.source.starts_with("https://");
        if self.parser()? == "google_sheets" {
            config.spreadsheet = Some(self.source.clone());
        } else if is_url {
            config.url = Some(self.source.clone());
        } else {
            // The worker may run elsewhere, in another directory: a relative path is made
            // absolute here, against the directory the command was run in.
            config.path = Some(absolute(&self.source));
        }
        for mapping in &self.map {
            let (field, column) = mapping
                .split_once('=')
                .with_context(|| format!("--map {mapping:?}: expected FIELD=COLUMN, e.g. price=D"))?;
            let field: Field = field.parse().map_err(anyhow::Error::msg)?;
            let column = ColumnRef::new(column).map_err(anyhow::Error::msg)?;
            config.column_mapping.insert(field, column);
        }
        config.validate().map_err(anyhow::Error::msg)?;
        Ok(config)
    }

    pub fn message(&self, supplier: &str, max_retries: u32) -> anyhow::Result<TaskMessage> {
        Ok(TaskMessage {
            task_id: TaskId::new(),
            parser_type: ParserType::new(&self.parser()?).map_err(anyhow::Error::from)?,
            supplier_name: SupplierName::new(supplier).map_err(|e| anyhow::anyhow!("--supplier {e}"))?,
            source_config: self.source_config()?,
            retry_count: 0,
            max_retries,
            enqueued_at: Utc::now(),
            list_date: self.list_date,
            expires_at: None,
            force: self.force,
            traceparent: None,
            errors: Vec::new(),
        })
    }
}

/// The parser a source calls for: by a Google Sheets URL, by the extension of a file or URL
/// path, else by a local file's first bytes (a zip or an OLE2 container is a workbook).
fn infer_parser(source: &str) -> anyhow::Result<&'static str> {
    if source.contains("docs.google.com/spreadsheets/") {
        return Ok("google_sheets");
    }
    let is_url = source.starts_with("http://") || source.starts_with("https://");
    let path = if is_url {
        source.split(['?', '#']).next().unwrap_or(source)
    } else {
        source
    };
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("csv" | "tsv" | "txt") => return Ok("csv"),
        Some("xlsx" | "xlsm" | "xls" | "xlsb" | "ods") => return Ok("xlsx"),
        _ => {}
    }
    if is_url {
        bail!("cannot tell the parser of {source} from its name: pass --parser csv, xlsx or google_sheets");
    }
    let mut head = [0u8; 8];
    let read = std::fs::File::open(source)
        .and_then(|mut f| f.read(&mut head))
        .with_context(|| format!("reading {source} to tell its parser (or pass --parser)"))?;
    Ok(match &head[..read] {
        [b'P', b'K', 3, 4, ..] | [0xD0, 0xCF, 0x11, 0xE0, ..] => "xlsx",
        _ => "csv",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_is_told_by_name_then_by_content() {
        assert_eq!(infer_parser("prices.CSV").unwrap(), "csv");
        assert_eq!(infer_parser("/data/Прайс.xls").unwrap(), "xlsx");
        assert_eq!(infer_parser("https://example.com/list.xlsx?token=1").unwrap(), "xlsx");
        assert_eq!(
            infer_parser("https://docs.google.com/spreadsheets/d/abc/edit#gid=0").unwrap(),
            "google_sheets"
        );
        assert!(infer_parser("https://example.com/download").is_err());
        let dir = std::env::temp_dir().join(format!("intake-infer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (zip, text) = (dir.join("export"), dir.join("export2"));
        std::fs::write(&zip, b"PK\x03\x04rest").unwrap();
        std::fs::write(&text, "SKU;Name;Price\n").unwrap();
        assert_eq!(infer_parser(zip.to_str().unwrap()).unwrap(), "xlsx");
        assert_eq!(infer_parser(text.to_str().unwrap()).unwrap(), "csv");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
