//! Finding the header of a table — one row, or two when the lower one finishes the labels of
//! the upper — and mapping its labelled columns to fields by their synonyms.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::layout::{ColumnDecision, MappingOptions, Role, operator_columns};
use super::price::parse_price;
use super::stats::{distinct_and_filled, sample};
use super::synonyms::{PriceKind, is_running_number_header, normalise, score, vat_included};
use super::words::{is_currency_or_tax_note, is_quantity_band};
use crate::domain::{Field, SourceConfig};
use crate::table::{Cell, MergedRange, RawRow};

/// The confidence of a header that is only a currency or a tax note (`€ без ПДВ`) as a price.
const CURRENCY_NOTE_AS_PRICE: f64 = 0.8;

/// One way to read the header: which rows, which column texts, which assignment.
pub(super) struct Candidate {
    pub first: usize,
    pub last: usize,
    pub headers: Vec<String>,
    pub decisions: Vec<ColumnDecision>,
    pub fields: HashMap<Field, usize>,
    pub score: f64,
    /// Where a second table starts, right of an empty column: it is read as a table of its own.
    pub table_end: Option<usize>,
}

impl Candidate {
    pub fn single(rows: &[RawRow], at: usize, width: usize, config: &SourceConfig, options: &MappingOptions) -> Self {
        let headers = (0..width)
            .map(|i| {
                rows[at]
                    .cells
                    .get(i)
                    .map(|c| c.as_text().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        Self::assign(rows, at, at, headers, config, options)
    }

    fn assign(
        rows: &[RawRow],
        first: usize,
        last: usize,
        headers: Vec<String>,
        config: &SourceConfig,
        options: &MappingOptions,
    ) -> Self {
        let data = sample(&rows[last + 1..], options.sample_rows);
        let table_end = if config.column_mapping.is_empty() {
            second_table_start(&headers, &data, options)
        } else {
            None
        };
        let used = table_end.unwrap_or(headers.len());
        let (mut decisions, fields) = assign_columns(&headers[..used], &data, config, options);
        for (index, header) in headers.iter().enumerate().skip(used) {
            let header = header.trim().to_owned();
            decisions.push(ColumnDecision {
                index,
                note: (!header.is_empty()).then(|| "another table, right of an empty column: read on its own".into()),
                header,
                role: Role::Ignored,
                confidence: 0.0,
            });
        }
        let mut score = 0.0;
        for (field, &col) in &fields {
            let weight = match field {
                Field::Price => 3.0,
                Field::Name => 2.0,
                Field::Sku => 1.5,
                _ => 0.5,
            };
            score += weight * decisions[col].confidence;
        }
        // A header is text; a row of numbers that happens to fuzzily match is data.
        let numeric = headers[..used]
            .iter()
            .filter(|h| !h.is_empty() && parse_price(&Cell::text(h.as_str())).is_ok())
            .count();
        score -= numeric as f64 * 1.5;
        // Between two readings that map the same fields, the one that names more columns
        // (a split header's sub-headers, say) explains the table better.
        score += 0.1 * headers[..used].iter().filter(|h| !h.trim().is_empty()).count() as f64;
        Self {
            first,
            last,
            headers,
            decisions,
            fields,
            score,
            table_end,
        }
    }

    /// Whether this reading is a header at all: it labels a price, a name or a key, and is not
    /// data. (A row that only resembles a unit or a stock label is left to content inference,
    /// which also recognises a row of labels over a sheet of terms.)
    pub fn is_header(&self) -> bool {
        [Field::Price, Field::Name, Field::Sku]
            .iter()
            .any(|f| self.fields.contains_key(f))
            && self.score > 0.0
    }
}

/// Tries every row near the top, alone and joined with the row below (split headers).
pub(super) fn find_header(
    rows: &[RawRow],
    merged: &[MergedRange],
    width: usize,
    config: &SourceConfig,
    options: &MappingOptions,
) -> Option<Candidate> {
    let mut best: Option<Candidate> = None;
    let limit = rows.len().min(options.scan_rows);
    for at in 0..limit {
        if rows[at].non_empty() < 2 {
            continue;
        }
        let single = Candidate::single(rows, at, width, config, options);
        let joined = (at + 1 < rows.len())
            .then(|| joined_header(rows, at, width, merged))
            .flatten()
            .map(|headers| Candidate::assign(rows, at, at + 1, headers, config, options));
        for candidate in std::iter::once(single).chain(joined) {
            let better = match &best {
                None => true,
                Some(b) => candidate.score > b.score + 1e-9,
            };
            if better {
                best = Some(candidate);
            }
        }
    }
    best
}

/// The texts of a header split over rows `at` and `at + 1`, when the lower row can finish the
/// upper one's labels: it is all text, and each of its cells stands under a filled upper cell
/// (`Dealer` over `price`) or under a group spread over several columns (merged, or followed by
/// empty cells: `Цена` over `Розница`, `Опт`). Whether the joined reading beats the upper row
/// alone is for the scores to say.
fn joined_header(rows: &[RawRow], at: usize, width: usize, merged: &[MergedRange]) -> Option<Vec<String>> {
    let top = &rows[at];
    let bottom = &rows[at + 1];
    // Sub-headers are text; a lower row with a number, a date or a price is the first data row.
    let data_like = |c: &Cell| match c {
        Cell::Empty => false,
        Cell::Text(_) => parse_price(c).is_ok(),
        Cell::Number(_) | Cell::Bool(_) | Cell::Date(_) => true,
    };
    if bottom.non_empty() == 0 || bottom.cells.iter().any(data_like) {
        return None;
    }
    let text = |row: &RawRow, i: usize| row.cells.get(i).map(|c| c.as_text().into_owned()).unwrap_or_default();
    let mut headers = Vec::with_capacity(width);
    let mut group = String::new();
    for i in 0..width {
        let upper = text(top, i);
        let lower = text(bottom, i);
        let merged_group = merged
            .iter()
            .find(|m| m.first_row == top.number.0 && m.first_col <= i && i <= m.last_col && m.last_col > m.first_col);
        let upper = if !upper.is_empty() {
            group.clone_from(&upper);
            upper
        } else if let Some(m) = merged_group {
            text(top, m.first_col)
        } else if !lower.is_empty() && !group.is_empty() && i > 0 && !text(bottom, i - 1).is_empty() {
            // A group header over several sub-headers, exported without merge information.
            group.clone()
        } else {
            group.clear();
            String::new()
        };
        if upper.is_empty() && !lower.is_empty() {
            // Text under no label: a category, a title or data, not the end of a label.
            return None;
        }
        headers.push(match (upper.is_empty(), lower.is_empty()) {
            (false, false) => format!("{upper} {lower}"),
            (false, true) => upper,
            (true, _) => String::new(),
        });
    }
    Some(headers)
}

/// Where a second table starts in a header row: after an empty column (empty in the data too)
/// when the columns right of it label a price and a key or name again while the left ones
/// label a price or a name (`…, Price, , Catalogue no, Name, Price`).
fn second_table_start(headers: &[String], data: &[&RawRow], options: &MappingOptions) -> Option<usize> {
    gap_table_start(headers, data, options).or_else(|| repeated_header_start(headers))
}

/// Where the header starts again without a gap (`Code, Name, Price, Code, Name, Price`): the
/// first column from which at least two labels repeat the labels of the first columns.
fn repeated_header_start(headers: &[String]) -> Option<usize> {
    let labels: Vec<String> = headers.iter().map(|h| normalise(h)).collect();
    let first = labels.iter().position(|l| !l.is_empty())?;
    (first + 2..labels.len()).find(|&g| {
        let same = labels[g..]
            .iter()
            .zip(&labels[first..g])
            .take_while(|(a, b)| !a.is_empty() && a == b)
            .count();
        same >= 2
    })
}

fn gap_table_start(headers: &[String], data: &[&RawRow], options: &MappingOptions) -> Option<usize> {
    let interior_gap = headers
        .iter()
        .enumerate()
        .skip(1)
        .any(|(g, h)| h.trim().is_empty() && headers[..g].iter().any(|h| !h.trim().is_empty()));
    if !interior_gap {
        return None;
    }
    let labels: Vec<(bool, bool)> = headers
        .iter()
        .map(|h| {
            let n = normalise(h);
            let price = price_score(h, &n) >= options.min_confidence;
            let item =
                score(&n, Field::Name) >= options.min_confidence || score(&n, Field::Sku) >= options.min_confidence;
            (price, item)
        })
        .collect();
    (1..headers.len()).find(|&g| {
        if !headers[g].trim().is_empty() {
            return false;
        }
        let left_names = labels[..g].iter().any(|&(p, n)| p || n);
        let right_price = labels[g + 1..].iter().any(|&(p, _)| p);
        let right_item = labels[g + 1..].iter().any(|&(p, n)| n && !p);
        let filled = data
            .iter()
            .filter(|r| r.cells.get(g).is_some_and(|c| !c.is_empty()))
            .count();
        left_names && right_price && right_item && filled * 10 <= data.len()
    })
}

/// The end of the note of a column that lost its field to a better one.
pub(super) const LOST_TO_A_BETTER_COLUMN: &str = "which a better column holds";

/// How confident we are that a header names a price: its synonyms, or a header that is only a
/// currency or a tax note.
pub(super) fn price_score(raw: &str, normalised: &str) -> f64 {
    let s = score(normalised, Field::Price);
    if s < CURRENCY_NOTE_AS_PRICE && (is_currency_or_tax_note(raw) || is_quantity_band(raw)) {
        CURRENCY_NOTE_AS_PRICE
    } else {
        s
    }
}

/// Assigns fields to columns: overrides and remembered columns first, then the best fuzzy matches. Equally
/// good headers for one field are told apart by their data: more distinct values, then more
/// filled cells, and only then the leftmost.
pub(super) fn assign_columns(
    headers: &[String],
    data: &[&RawRow],
    config: &SourceConfig,
    options: &MappingOptions,
) -> (Vec<ColumnDecision>, HashMap<Field, usize>) {
    let normalised: Vec<String> = headers.iter().map(|h| normalise(h)).collect();
    let mut decisions: Vec<ColumnDecision> = headers
        .iter()
        .enumerate()
        .map(|(index, header)| ColumnDecision {
            index,
            header: header.trim().to_owned(),
            role: Role::Ignored,
            confidence: 0.0,
            note: None,
        })
        .collect();
    let mut fields = HashMap::new();

    for (field, i, note) in operator_columns(config, headers) {
        decisions[i].role = Role::Field(field);
        decisions[i].confidence = 1.0;
        decisions[i].note = Some(note.into());
        fields.insert(field, i);
    }

    for (i, n) in normalised.iter().enumerate() {
        if decisions[i].role == Role::Ignored && is_running_number_header(n) {
            decisions[i].role = Role::RunningNumber;
            decisions[i].confidence = 1.0;
        }
    }

    let scores: Vec<[f64; 7]> = headers
        .iter()
        .zip(&normalised)
        .map(|(raw, n)| {
            Field::ALL.map(|f| {
                if f == Field::Price {
                    price_score(raw, n)
                } else {
                    score(n, f)
                }
            })
        })
        .collect();
    let field_index = |f: Field| Field::ALL.iter().position(|&x| x == f).unwrap_or(0);
    // The field a header resembles most (on a tie, the later in `Field::ALL`).
    let best_field = |i: usize| {
        Field::ALL
            .into_iter()
            .max_by(|a, b| scores[i][field_index(*a)].total_cmp(&scores[i][field_index(*b)]))
    };
    let mut content: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut content_of = |i: usize| *content.entry(i).or_insert_with(|| distinct_and_filled(data, i));

    // Price columns: every column that reads as a price competes; the preference decides.
    if let Entry::Vacant(price_slot) = fields.entry(Field::Price) {
        let price = field_index(Field::Price);
        let mut prices: Vec<(usize, f64, (usize, u8), usize)> = (0..headers.len())
            .filter(|&i| decisions[i].role == Role::Ignored)
            .map(|i| (i, scores[i][price], price_rank(&normalised[i], options), 0))
            .filter(|&(i, s, ..)| s >= options.min_confidence && best_field(i) == Some(Field::Price))
            .collect();
        if prices.len() > 1 {
            for p in &mut prices {
                p.3 = content_of(p.0).1;
            }
        }
        // A column empty in the sample loses to any with content (a wholesale column left blank
        // beside the retail prices); then the preferred kind, VAT as preferred, the fuller
        // column, the leftmost.
        let sampled = !data.is_empty();
        prices.sort_by_key(|&(i, _, rank, filled)| (sampled && filled == 0, rank, std::cmp::Reverse(filled), i));
        if let Some(&(winner, confidence, ..)) = prices.first() {
            decisions[winner].role = Role::Field(Field::Price);
            decisions[winner].confidence = confidence;
            if prices.len() > 1 {
                decisions[winner].note = Some(format!("preferred among {} price columns", prices.len()));
            }
            price_slot.insert(winner);
            for &(other, confidence, ..) in &prices[1..] {
                decisions[other].role = Role::OtherPrice(headers[other].trim().to_owned());
                decisions[other].confidence = confidence;
            }
        }
    }

    // The other fields: best pairs first, each field and column used once.
    let mut pairs: Vec<(f64, (usize, usize), usize, Field)> = Vec::new();
    for i in 0..headers.len() {
        if decisions[i].role != Role::Ignored {
            continue;
        }
        for field in Field::ALL {
            if field == Field::Price || fields.contains_key(&field) {
                continue;
            }
            let s = scores[i][field_index(field)];
            if s >= options.min_confidence {
                pairs.push((s, (0, 0), i, field));
            }
        }
    }
    let tie = pairs
        .iter()
        .enumerate()
        .any(|(n, a)| pairs[n + 1..].iter().any(|b| a.3 == b.3 && (a.0 - b.0).abs() < 1e-9));
    if tie {
        for pair in &mut pairs {
            pair.1 = content_of(pair.2);
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    for (s, _, i, field) in pairs {
        if fields.contains_key(&field) || decisions[i].role != Role::Ignored {
            continue;
        }
        decisions[i].role = Role::Field(field);
        decisions[i].confidence = s;
        fields.insert(field, i);
    }

    // Headers that matched a field only weakly say so, to explain why they were not used.
    for (i, n) in normalised.iter().enumerate() {
        if decisions[i].role != Role::Ignored || n.is_empty() {
            continue;
        }
        if let Some(field) = best_field(i) {
            let s = scores[i][field_index(field)];
            if s >= 0.5 {
                decisions[i].confidence = s;
                decisions[i].note = Some(if s >= options.min_confidence {
                    format!("resembles {field} ({s:.2}), {LOST_TO_A_BETTER_COLUMN}")
                } else {
                    format!(
                        "resembles {field} ({s:.2}) but below the threshold {:.2}",
                        options.min_confidence
                    )
                });
            }
        }
    }
    (decisions, fields)
}

/// Lower is preferred: the position of the price kind in the preference, then VAT.
pub(super) fn price_rank(normalised: &str, options: &MappingOptions) -> (usize, u8) {
    let kind = PriceKind::of(normalised);
    let kind_rank = options
        .price_preference
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(options.price_preference.len());
    let vat_rank = match (vat_included(normalised), options.prefer_vat_included) {
        (Some(v), prefer) if v == prefer => 0,
        (None, _) => 1,
        _ => 2,
    };
    (kind_rank, vat_rank)
}
