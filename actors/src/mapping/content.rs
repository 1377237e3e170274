//! What the data says where the header does not: the columns of a table without a header,
//! the fields a header leaves unlabelled, and the header's promises checked against the first
//! data rows.

use std::collections::HashMap;

use super::header::LOST_TO_A_BETTER_COLUMN;
use super::layout::{
    ColumnDecision, Layout, MappingOptions, Role, Unrecognised, chosen_by_operator, column_letter, operator_columns,
};
use super::price::{PriceProblem, parse_price};
use super::stats::{ColumnStats, lower_of, sample};
use super::synonyms::{PriceKind, is_key_header, normalise};
use crate::domain::{Field, SourceConfig};
use crate::table::RawRow;

/// Without a header: the price is a column of price-like numbers, the name the column of the
/// longest texts, the SKU a column of short distinct codes (never amounts).
pub(super) fn infer_headerless(
    sheet: Option<&str>,
    rows: &[RawRow],
    width: usize,
    config: &SourceConfig,
    options: &MappingOptions,
) -> Result<Layout, Unrecognised> {
    let sample = sample(rows, options.sample_rows);
    if sample.is_empty() {
        return Err(Unrecognised("no header row and no data rows were found".into()));
    }
    let headers: Vec<String> = (0..width).map(|i| format!("column {}", column_letter(i))).collect();
    let mut columns: Vec<ColumnDecision> = headers
        .iter()
        .enumerate()
        .map(|(index, header)| ColumnDecision {
            index,
            header: header.clone(),
            role: Role::Ignored,
            confidence: 0.0,
            note: None,
        })
        .collect();
    let mut fields = HashMap::new();
    for (field, i, note) in operator_columns(config, &headers) {
        columns[i].role = Role::Field(field);
        columns[i].confidence = 1.0;
        columns[i].note = Some(note.into());
        fields.insert(field, i);
    }
    let mut layout = Layout::new(sheet, None, columns, fields, Vec::new(), width);
    layout
        .notes
        .push("no header row found: columns were inferred from their content".into());
    let stats: Vec<ColumnStats> = (0..width).map(|i| ColumnStats::of(&sample, i)).collect();
    infer_price(&mut layout, &stats, &sample, options, |_| true);
    infer_name(&mut layout, &stats);
    infer_key(&mut layout, &stats, |_| true);
    for (i, s) in stats.iter().enumerate() {
        if s.running && layout.columns[i].role == Role::Ignored {
            layout.columns[i].role = Role::RunningNumber;
        }
    }
    let (Some(price), Some(_)) = (layout.column_of(Field::Price), layout.column_of(Field::Name)) else {
        return Err(Unrecognised(
            "no header row was recognised and no column of prices and of names could be inferred from the content"
                .into(),
        ));
    };
    // A first row of labels over a column of prices is a header that names no price: a sheet
    // of terms or discounts (`Условие | Значение`), not a list to guess items from.
    let first = sample[0];
    let labels = first
        .cells
        .iter()
        .filter(|c| !c.is_empty())
        .all(|c| matches!(parse_price(c), Err(PriceProblem::NotANumber)) && c.as_text().chars().count() <= 40);
    let labelled_price = first
        .cells
        .get(price)
        .is_some_and(|c| matches!(parse_price(c), Err(PriceProblem::NotANumber)));
    if labels && labelled_price {
        let texts: Vec<String> = first
            .cells
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| c.as_text().into_owned())
            .collect();
        return Err(Unrecognised(format!(
            "no price column: row {} reads as a header ({texts:?}) and names none",
            first.number
        )));
    }
    Ok(layout)
}

/// Fills in what a recognised header leaves unlabelled: the price among columns without a
/// header, the name (longest texts, unlabelled columns first), the SKU among unlabelled
/// columns of short distinct codes. What the header labels is never second-guessed here.
pub(super) fn complete(layout: &mut Layout, sample: &[&RawRow], options: &MappingOptions) {
    let missing = [Field::Price, Field::Name, Field::Sku]
        .iter()
        .any(|f| layout.column_of(*f).is_none());
    if !missing || sample.is_empty() {
        return;
    }
    let stats: Vec<ColumnStats> = (0..layout.table_width).map(|i| ColumnStats::of(sample, i)).collect();
    let unlabelled: Vec<bool> = layout.columns.iter().map(|c| c.header.is_empty()).collect();
    infer_price(layout, &stats, sample, options, |i| unlabelled[i]);
    infer_name(layout, &stats);
    infer_key(layout, &stats, |i| unlabelled[i]);
}

/// `column C` for an unlabelled column, its header otherwise.
fn label(layout: &Layout, i: usize) -> String {
    let header = &layout.columns[i].header;
    if header.is_empty() {
        format!("column {}", column_letter(i))
    } else {
        header.clone()
    }
}

fn free(layout: &Layout, i: usize) -> bool {
    layout.columns[i].role == Role::Ignored
}

fn set(layout: &mut Layout, i: usize, field: Field, confidence: f64, note: String) {
    layout.columns[i].role = Role::Field(field);
    layout.columns[i].confidence = confidence;
    layout.columns[i].note = Some(note);
    layout.fields.insert(field, i);
}

/// The price among free columns of price-like numbers (`allowed` ones only).
///
/// Columns with kopecks beat whole numbers (quantities are whole). Of the two rightmost that
/// remain, when one is lower in nearly every row and the other at most three times it, the
/// lower is read as the wholesale price and the higher as the retail one, and
/// `mapping.price_preference` picks; otherwise the rightmost is the price. The other of the two
/// is kept as another price.
fn infer_price(
    layout: &mut Layout,
    stats: &[ColumnStats],
    sample: &[&RawRow],
    options: &MappingOptions,
    allowed: impl Fn(usize) -> bool,
) {
    if layout.column_of(Field::Price).is_some() {
        return;
    }
    let mut candidates: Vec<usize> = (0..stats.len())
        .filter(|&i| free(layout, i) && allowed(i) && stats[i].price_like())
        .collect();
    if candidates.iter().any(|&i| stats[i].fraction_share > 0.0) {
        candidates.retain(|&i| stats[i].fraction_share > 0.0);
    }
    let (winner, other) = match candidates[..] {
        [] => return,
        [only] => (only, None),
        [.., a, b] => {
            let rank = |kind| {
                options
                    .price_preference
                    .iter()
                    .position(|k| *k == kind)
                    .unwrap_or(usize::MAX)
            };
            let wholesale_first = rank(PriceKind::Wholesale) < rank(PriceKind::Retail);
            let retail_first = rank(PriceKind::Retail) < rank(PriceKind::Wholesale);
            match lower_of(sample, a, b) {
                Some(a_lower) if wholesale_first || retail_first => {
                    let (lower, higher) = if a_lower { (a, b) } else { (b, a) };
                    let (win, lose) = if wholesale_first {
                        (lower, higher)
                    } else {
                        (higher, lower)
                    };
                    layout.notes.push(format!(
                        "two unlabelled price columns: {} (lower, read as wholesale) and {} (higher, read as retail); {} is the price by mapping.price_preference",
                        label(layout, lower),
                        label(layout, higher),
                        label(layout, win)
                    ));
                    (win, Some(lose))
                }
                _ => (b, Some(a)),
            }
        }
    };
    let note = if layout.columns[winner].header.is_empty() || layout.header_rows.is_none() {
        "inferred: price-like numbers"
    } else {
        "inferred: price-like numbers under an unrecognised header"
    };
    set(layout, winner, Field::Price, stats[winner].price_share, note.into());
    if layout.header_rows.is_some() {
        let what = label(layout, winner);
        layout.notes.push(format!(
            "no price header: {what} was taken as the price (its price-like numbers)"
        ));
    }
    if let Some(other) = other {
        layout.columns[other].role = Role::OtherPrice(label(layout, other));
        layout.columns[other].confidence = stats[other].price_share;
        layout.columns[other].note = Some("another price".into());
    }
}

/// The name: the free column of the longest texts, filled on (nearly) every item row,
/// unlabelled columns before labelled ones, never a key header. Ties go to more distinct, then
/// fuller columns.
fn infer_name(layout: &mut Layout, stats: &[ColumnStats]) {
    if layout.column_of(Field::Name).is_some() {
        return;
    }
    // A name names every item: a column left blank on many rows with a key or a price (sizes
    // in a margin, say) is no name while another column is filled on all of them.
    let items = [Field::Price, Field::Sku]
        .into_iter()
        .filter_map(|f| layout.column_of(f))
        .map(|i| stats[i].filled)
        .max()
        .unwrap_or_else(|| stats.iter().map(|s| s.filled).max().unwrap_or(0));
    let fills = |i: usize| stats[i].filled * 10 >= items * 9;
    let best = (0..stats.len())
        .filter(|&i| free(layout, i) && stats[i].text_like() && !is_key_header(&normalise(&layout.columns[i].header)))
        .max_by(|&a, &b| {
            let unlabelled = |i: usize| layout.columns[i].header.is_empty() || layout.header_rows.is_none();
            fills(a)
                .cmp(&fills(b))
                .then(unlabelled(a).cmp(&unlabelled(b)))
                .then(stats[a].mean_len.total_cmp(&stats[b].mean_len))
                .then(stats[a].distinct.cmp(&stats[b].distinct))
                .then(stats[a].filled.cmp(&stats[b].filled))
                .then(b.cmp(&a))
        });
    let Some(i) = best else { return };
    let note = if layout.header_rows.is_none() {
        "inferred: longest text".to_owned()
    } else {
        let what = label(layout, i);
        let why = if layout.columns[i].header.is_empty() {
            "it has no header"
        } else {
            "no header names the name"
        };
        layout
            .notes
            .push(format!("{why}: {what} was taken as the name (the longest texts)"));
        format!("inferred: longest text ({why})")
    };
    set(layout, i, Field::Name, stats[i].text_share, note);
}

/// The SKU: a free column of short distinct codes that are no amounts (`allowed` ones only).
/// Ties go to more distinct, then fuller columns, then the leftmost.
fn infer_key(layout: &mut Layout, stats: &[ColumnStats], allowed: impl Fn(usize) -> bool) {
    if layout.column_of(Field::Sku).is_some() {
        return;
    }
    let best = (0..stats.len())
        .filter(|&i| free(layout, i) && allowed(i) && stats[i].key_like())
        .max_by(|&a, &b| {
            stats[a]
                .distinct
                .cmp(&stats[b].distinct)
                .then(stats[a].filled.cmp(&stats[b].filled))
                .then(b.cmp(&a))
        });
    let Some(i) = best else { return };
    if layout.header_rows.is_some() {
        let what = label(layout, i);
        layout.notes.push(format!(
            "no SKU header: {what} was taken as the SKU (short distinct codes)"
        ));
    }
    set(
        layout,
        i,
        Field::Sku,
        stats[i].code_share,
        "inferred: short distinct codes".into(),
    );
}

/// Checks what the header promised against the first data rows: a key column that holds a row
/// counter or free text is no key; a price column that holds no prices is no price.
pub(super) fn check_against_content(layout: &mut Layout, sample: &[&RawRow]) {
    if sample.len() < 3 {
        return;
    }
    if let Some(sku) = layout.column_of(Field::Sku)
        && !chosen_by_operator(&layout.columns[sku])
    {
        let stats = ColumnStats::of(sample, sku);
        let demote = if stats.running {
            Some((Role::RunningNumber, "holds a running row number, not SKUs"))
        } else if stats.code_share < 0.5 && stats.mean_len > 24.0 {
            Some((
                Role::Characteristic(layout.columns[sku].header.clone()),
                "holds free text, not SKUs",
            ))
        } else {
            None
        };
        if let Some((role, why)) = demote {
            demote_field(layout, Field::Sku, role, why);
            promote_runner_up(layout, Field::Sku, sample);
        }
    }
    if let Some(price) = layout.column_of(Field::Price)
        && !chosen_by_operator(&layout.columns[price])
    {
        let stats = ColumnStats::of(sample, price);
        if stats.filled >= 3 && stats.priceish_share < 0.5 {
            let role = Role::Characteristic(layout.columns[price].header.clone());
            demote_field(layout, Field::Price, role, "holds no prices");
            // The next price column that does hold prices takes its place.
            let next = (0..layout.columns.len()).find(|&i| {
                matches!(layout.columns[i].role, Role::OtherPrice(_))
                    && ColumnStats::of(sample, i).priceish_share >= 0.5
            });
            if let Some(i) = next {
                layout.columns[i].role = Role::Field(Field::Price);
                layout.columns[i].note = Some("the preferred price column holds no prices".into());
                layout.fields.insert(Field::Price, i);
            }
        }
    }
}

/// After a field's column was demoted, the labelled column that lost that field to it takes
/// its place when its content holds up (`id` was a row counter: `code` is the key).
fn promote_runner_up(layout: &mut Layout, field: Field, sample: &[&RawRow]) {
    let lost_to_another = format!("resembles {field} (");
    let best = (0..layout.columns.len())
        .filter(|&i| {
            let c = &layout.columns[i];
            matches!(c.role, Role::Ignored | Role::Characteristic(_))
                && c.note
                    .as_deref()
                    .is_some_and(|n| n.starts_with(&lost_to_another) && n.ends_with(LOST_TO_A_BETTER_COLUMN))
        })
        .filter(|&i| {
            let stats = ColumnStats::of(sample, i);
            !stats.running && (stats.code_share >= 0.5 || stats.mean_len <= 24.0)
        })
        .max_by(|&a, &b| {
            layout.columns[a]
                .confidence
                .total_cmp(&layout.columns[b].confidence)
                .then(b.cmp(&a))
        });
    if let Some(i) = best {
        layout.columns[i].role = Role::Field(field);
        layout.columns[i].note = Some(format!("takes the place of the demoted {field} column"));
        layout.fields.insert(field, i);
    }
}

fn demote_field(layout: &mut Layout, field: Field, role: Role, why: &str) {
    let Some(i) = layout.fields.remove(&field) else {
        return;
    };
    let header = label(layout, i);
    layout.columns[i].role = role;
    layout.columns[i].note = Some(why.into());
    layout.notes.push(format!("column {header:?} {why}"));
}
