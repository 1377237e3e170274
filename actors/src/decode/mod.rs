//! Decoders: one per source format, each turning fetched bytes into tables of rows.

pub mod csv;
pub mod sheets;
pub mod text;
pub mod xlsx;

use crate::domain::ParserType;
use crate::ports::DecoderRegistry;

/// The decoders intake ships with, under their parser type names.
pub fn standard_registry() -> DecoderRegistry {
    let mut registry = DecoderRegistry::new();
    if let Ok(csv) = ParserType::new("csv") {
        registry.register(csv, csv::CsvDecoder);
    }
    if let Ok(xlsx) = ParserType::new("xlsx") {
        registry.register(xlsx, xlsx::XlsxDecoder);
    }
    if let Ok(sheets) = ParserType::new("google_sheets") {
        registry.register(sheets, sheets::SheetsDecoder);
    }
    registry
}

/// Runs parsing code that may panic on malformed input (third-party readers), returning the
/// panic's message instead of unwinding into the caller.
pub(crate) fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        if let Some(text) = payload.downcast_ref::<&str>() {
            (*text).to_owned()
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text.clone()
        } else {
            "a panic without a message".to_owned()
        }
    })
}
