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
