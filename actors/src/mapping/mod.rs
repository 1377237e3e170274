//! From rows of cells to catalogue items: header detection, column mapping by fuzzy synonyms,
//! content inference, price reading and row validation. Pure functions, no I/O.

mod content;
mod groups;
mod header;
pub mod layout;
mod operator;
pub mod price;
pub mod reader;
#[cfg(test)]
mod reader_tests;
pub mod record;
#[cfg(test)]
mod record_tests;
#[cfg(test)]
mod remembered_tests;
pub mod report;
#[cfg(test)]
mod side_by_side_tests;
mod stats;
pub mod synonyms;
#[cfg(test)]
mod tests;
mod variants;
mod words;

pub use layout::{ColumnDecision, Layout, MappingOptions, Role};
pub use reader::{ReadSummary, TableReader};
pub use record::{DataRow, RowChunk};
pub use report::column_source;
pub use synonyms::PriceKind;
