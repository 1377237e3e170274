//! The columns an operator chose: the task's own `column_mapping` and the supplier's remembered
//! mapping. They come before detection, and content checks leave them alone.

use super::layout::{ColumnDecision, Layout};
use super::synonyms::normalise;
use crate::domain::{ColumnRef, Field, SourceConfig};

/// The note of a column the task's own `column_mapping` names.
pub(super) const OVERRIDE: &str = "manual mapping";
/// The note of a column the supplier's remembered mapping names.
pub(super) const REMEMBERED: &str = "remembered mapping";

/// Whether an operator chose this column (an override or a remembered mapping): content checks
/// leave it alone.
pub(super) fn chosen_by_operator(column: &ColumnDecision) -> bool {
    matches!(column.note.as_deref(), Some(OVERRIDE | REMEMBERED))
}

/// The columns an operator chose, as (field, column, note): the task's overrides, then the
/// supplier's remembered mapping for the fields the task leaves out, found by header text only
/// and never on a column already taken.
pub(super) fn operator_columns(config: &SourceConfig, headers: &[String]) -> Vec<(Field, usize, &'static str)> {
    let mut chosen: Vec<(Field, usize, &'static str)> = config
        .column_mapping
        .iter()
        .filter_map(|(field, column)| Some((*field, resolve_column(column, headers)?, OVERRIDE)))
        .collect();
    for (field, text) in &config.remembered_mapping {
        if config.column_mapping.contains_key(field) {
            continue;
        }
        let wanted = normalise(text);
        let found = headers
            .iter()
            .position(|h| !wanted.is_empty() && normalise(h) == wanted)
            .filter(|i| chosen.iter().all(|c| c.1 != *i));
        if let Some(i) = found {
            chosen.push((*field, i, REMEMBERED));
        }
    }
    chosen
}

/// Notes the remembered fields this table could not use: their header text is not in it.
pub(super) fn note_unmatched_remembered(layout: &mut Layout, config: &SourceConfig) {
    for (field, text) in &config.remembered_mapping {
        let used = layout
            .column_of(*field)
            .is_some_and(|i| layout.columns[i].note.as_deref() == Some(REMEMBERED));
        if !used && !config.column_mapping.contains_key(field) {
            layout.notes.push(format!(
                "the remembered mapping of {field} ({text:?}) does not match this list's header; detected instead"
            ));
        }
    }
}

/// Finds the column a manual reference names: a header text first, then a letter, then an index.
pub fn resolve_column(column: &ColumnRef, headers: &[String]) -> Option<usize> {
    let wanted = normalise(column.as_str());
    if let Some(i) = headers
        .iter()
        .position(|h| normalise(h) == wanted && !wanted.is_empty())
    {
        return Some(i);
    }
    column
        .as_index()
        .or_else(|| column.as_letter_index())
        .filter(|&i| i < headers.len())
}
