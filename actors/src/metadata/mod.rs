//! The technical-metadata record family: artifacts (copybooks, manifests, record layouts …)
//! into one uniform record shape. One module per kind; pure functions, no I/O.

pub mod cobol;
pub mod record;

pub use record::{MetadataRecord, Warning};
