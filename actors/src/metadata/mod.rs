//! The technical-metadata record family: artifacts (copybooks, manifests, record layouts …)
//! into one uniform record shape. One module per kind; pure functions, no I/O.

pub mod cobol;
pub mod fastapi;
pub mod irs;
pub mod k8s;
pub mod mumps;
pub mod record;
mod task;

use serde::{Deserialize, Serialize};

pub use record::{MetadataRecord, Warning};
pub use task::{Changes, MetadataTask, RejectedFile, RunFigures, RunReport};

/// The kinds of artifact the family reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Cobol,
    K8s,
    Fastapi,
    Irs,
    Mumps,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Cobol, Kind::K8s, Kind::Fastapi, Kind::Irs, Kind::Mumps];

    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Cobol => "cobol",
            Kind::K8s => "k8s",
            Kind::Fastapi => "fastapi",
            Kind::Irs => "irs",
            Kind::Mumps => "mumps",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name.trim())
    }

    /// Whether a file of a directory is one of this kind's, by its extension.
    pub fn reads(&self, file_name: &str) -> bool {
        let extension = file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        match self {
            Kind::Cobol => matches!(extension.as_deref(), Some("cpy" | "cob" | "cbl" | "copy" | "cobol")),
            Kind::K8s => matches!(extension.as_deref(), Some("yaml" | "yml" | "json")),
            Kind::Fastapi => matches!(extension.as_deref(), Some("py" | "pyi")),
            Kind::Mumps => matches!(extension.as_deref(), Some("kid" | "kids" | "zwr")),
            // Layout tables: delimited, publication text, or kept in a library's code.
            Kind::Irs => matches!(
                extension.as_deref(),
                Some("csv" | "tsv" | "txt" | "go" | "py" | "js" | "ts" | "rb" | "java" | "cs" | "kt")
            ),
        }
    }

    /// Whether the kind's files must be UTF-8 (YAML and Python say so); the mainframe kinds
    /// read any other bytes as Latin-1.
    pub fn needs_utf8(&self) -> bool {
        matches!(self, Kind::K8s | Kind::Fastapi)
    }

    /// The artifact's text: UTF-8, or any other bytes as Latin-1 (every byte a character, so
    /// nothing is lost). [`parse`] refuses non-UTF-8 bytes for the kinds that need UTF-8.
    pub fn text(&self, bytes: &[u8]) -> String {
        match std::str::from_utf8(bytes) {
            Ok(text) => text.strip_prefix('\u{feff}').unwrap_or(text).to_owned(),
            Err(_) => bytes.iter().map(|&b| b as char).collect(),
        }
    }
}

/// An artifact read: its records and what was noticed.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub records: Vec<MetadataRecord>,
    pub warnings: Vec<Warning>,
}

/// Why an artifact was refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class}: {message}")]
pub struct Refusal {
    /// `parse_error`, `binary_file`, `too_large`, …
    pub class: &'static str,
    pub line: Option<u32>,
    pub message: String,
}

/// Largest artifact read: beyond it a file is refused, not read.
pub const MAX_FILE_BYTES: usize = 64 << 20;

/// Reads one artifact of `kind` that refers to no other.
pub fn parse(kind: Kind, bytes: &[u8]) -> Result<Parsed, Refusal> {
    parse_with(kind, bytes, &cobol::NoLibrary)
}

/// Reads one artifact of `kind`; the members it copies (COBOL `COPY`) come from `library`.
pub fn parse_with(kind: Kind, bytes: &[u8], library: &dyn cobol::CopyLibrary) -> Result<Parsed, Refusal> {
    let text = readable(kind, bytes)?;
    match kind {
        Kind::K8s => k8s::parse(&text),
        Kind::Fastapi => fastapi::parse(&text),
        Kind::Mumps => mumps::parse(&text),
        Kind::Irs => irs::parse(&text),
        Kind::Cobol => cobol::parse_with(&text, library)
            .map(|book| Parsed {
                records: book.records,
                warnings: book.warnings,
            })
            .map_err(|e| Refusal {
                class: "parse_error",
                line: Some(e.line),
                message: e.message,
            }),
    }
}

/// Reads the files of one project together: a FastAPI route's full path takes the prefixes of
/// the modules that include its router. Each file gets its records or its refusal, in order.
/// The other kinds read each file on its own.
pub fn parse_project(
    kind: Kind,
    files: &[(String, Vec<u8>)],
    library: &dyn cobol::CopyLibrary,
) -> Vec<Result<Parsed, Refusal>> {
    if kind != Kind::Fastapi {
        return files
            .iter()
            .map(|(_, bytes)| parse_with(kind, bytes, library))
            .collect();
    }
    let texts: Vec<Result<String, Refusal>> = files.iter().map(|(_, bytes)| readable(kind, bytes)).collect();
    let readable_files: Vec<fastapi::SourceFile> = files
        .iter()
        .zip(&texts)
        .filter_map(|((path, _), text)| {
            Some(fastapi::SourceFile {
                path,
                text: text.as_ref().ok()?,
            })
        })
        .collect();
    let mut read = fastapi::parse_project(&readable_files).into_iter();
    texts
        .iter()
        .map(|text| match text {
            Err(refusal) => Err(refusal.clone()),
            Ok(_) => read.next().unwrap_or_else(|| Ok(Parsed::default())),
        })
        .collect()
}

/// The file's text, or why it cannot be read as one of `kind`: too large, binary, not UTF-8.
fn readable(kind: Kind, bytes: &[u8]) -> Result<String, Refusal> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Refusal {
            class: "too_large",
            line: None,
            message: format!("{} bytes, more than the {MAX_FILE_BYTES} read", bytes.len()),
        });
    }
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Err(Refusal {
            class: "binary_file",
            line: None,
            message: "the file holds NUL bytes: not text".into(),
        });
    }
    if kind.needs_utf8()
        && let Err(e) = std::str::from_utf8(bytes)
    {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(Refusal {
            class: "encoding",
            line: u32::try_from(line).ok(),
            message: format!(
                "not UTF-8 (byte {}): {} files must be UTF-8",
                e.valid_up_to(),
                kind.as_str()
            ),
        });
    }
    Ok(kind.text(bytes))
}
