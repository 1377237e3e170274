//! Variant rows of marketplace exports: a row with its parent's key and no name.

use std::mem;
use std::sync::Arc;

use super::layout::Layout;
use super::record::strip_text_marker;
use crate::domain::Field;
use crate::table::Cell;

/// Marketplace exports list a product's variants under it, with its key and without its name
/// (`mug, Mug, 3` then `mug, , 4`). A row with a key and no name right below rows of that key
/// takes the name of the nearest row above with the key and a name, and a key of its own:
/// `mug~2`, `mug~3`, … The buffers are reused, so reading a row allocates nothing new.
#[derive(Debug, Default)]
pub(super) struct Variants {
    /// The key and name of the last named row, and how many rows of that key were read.
    key: String,
    name: String,
    count: u32,
    active: bool,
    parent: Option<Arc<str>>,
    /// The key of the row being read.
    probe: String,
}

impl Variants {
    pub(super) fn read(&mut self, layout: &Layout, cells: &mut [Cell]) -> Option<Arc<str>> {
        if layout.derive_sku {
            return None;
        }
        let (Some(key_col), Some(name_col)) = (layout.column_of(Field::Sku), layout.column_of(Field::Name)) else {
            return None;
        };
        write_key(cells.get(key_col).unwrap_or(&Cell::Empty), &mut self.probe);
        if self.probe.is_empty() {
            return None;
        }
        let name_cell = cells.get(name_col).unwrap_or(&Cell::Empty);
        if !name_cell.is_empty() {
            mem::swap(&mut self.key, &mut self.probe);
            self.name.clear();
            self.name.push_str(&name_cell.as_text());
            self.count = 1;
            self.active = true;
            self.parent = None;
            return None;
        }
        if !self.active || self.probe != self.key {
            self.active = false;
            return None;
        }
        self.count += 1;
        let parent = self.parent.get_or_insert_with(|| Arc::from(self.key.as_str())).clone();
        cells[key_col] = Cell::Text(format!("{}~{}", self.key, self.count));
        if let Some(name) = cells.get_mut(name_col) {
            *name = Cell::Text(self.name.clone());
        }
        Some(parent)
    }
}

/// Writes a key cell's text into `out` (replacing it) as [`Cell::as_text`] would, without its
/// text marker, and without allocating once `out` is large enough.
fn write_key(cell: &Cell, out: &mut String) {
    use std::fmt::Write;
    out.clear();
    match cell {
        Cell::Text(t) => out.push_str(strip_text_marker(t)),
        Cell::Number(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 => {
            let _ = write!(out, "{}", *n as i64);
        }
        Cell::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Cell::Empty => {}
        Cell::Bool(_) | Cell::Date(_) => out.push_str(&cell.as_text()),
    }
}
