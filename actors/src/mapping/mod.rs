//! From rows of cells to catalogue items: header detection, column mapping by fuzzy synonyms,
//! price reading and row validation. Pure functions, no I/O.

pub mod layout;
pub mod price;
pub mod reader;
pub mod record;
pub mod synonyms;

pub use layout::{ColumnDecision, Layout, MappingOptions, Role};
pub use reader::{ReadSummary, TableReader};
pub use record::{DataRow, RowChunk};
pub use synonyms::PriceKind;
