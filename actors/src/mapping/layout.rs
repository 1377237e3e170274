//! Finding the header of a table and deciding what each column is.
//!
//! A [`Layout`] is decided once per table from its first rows and then shared (behind an
//! `Arc`) by every chunk of that table, so the validator can turn rows into items.

use std::collections::HashMap;

use serde::Serialize;

use super::price::{PriceProblem, parse_price};
use super::synonyms::{PriceKind, is_running_number_header, normalise, score, vat_included};
use crate::domain::{ColumnRef, Field, RowNumber, SourceConfig};
use crate::table::{Cell, MergedRange, RawRow};

/// Knobs of detection, from the `[mapping]` section of the configuration.
#[derive(Debug, Clone)]
pub struct MappingOptions {
    /// Below this confidence a header is not mapped to a field.
    pub min_confidence: f64,
    /// Which price column wins when there are several, most preferred first.
    pub price_preference: Vec<PriceKind>,
    /// Whether a price with VAT is preferred over one without, when both exist.
    pub prefer_vat_included: bool,
    /// How many rows from the top may hold the title block and the header.
    pub scan_rows: usize,
    /// How many data rows are looked at to check what the header promises.
    pub sample_rows: usize,
}

impl Default for MappingOptions {
    fn default() -> Self {
        Self {
            min_confidence: 0.75,
            price_preference: vec![PriceKind::Wholesale, PriceKind::Plain, PriceKind::Retail],
            prefer_vat_included: true,
            scan_rows: 30,
            sample_rows: 50,
        }
    }
}

/// What a column is used for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Role {
    Field(Field),
    /// A price column that lost to the preferred one; kept as a characteristic.
    OtherPrice(String),
    /// `№`, `#`, `п/п`: dropped.
    RunningNumber,
    /// Kept under this key.
    Characteristic(String),
    /// Not kept (outside `characteristic_columns`, or without header and content).
    Ignored,
}

/// The decision about one column, with its confidence and the reason when it is not obvious.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnDecision {
    /// 0-based.
    pub index: usize,
    pub header: String,
    pub role: Role,
    pub confidence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How a table's rows are read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub sheet: Option<String>,
    /// The header's rows (two for a split header); `None` when the columns were inferred.
    pub header_rows: Option<(RowNumber, RowNumber)>,
    pub columns: Vec<ColumnDecision>,
    /// No SKU column: each item's key is derived from its normalised name.
    pub derive_sku: bool,
    /// Decisions an operator should know about.
    pub notes: Vec<String>,
    #[serde(skip)]
    fields: HashMap<Field, usize>,
    /// The header cells normalised, to recognise the header printed again inside the data.
    #[serde(skip)]
    header_normalised: Vec<String>,
}

impl Layout {
    pub fn column_of(&self, field: Field) -> Option<usize> {
        self.fields.get(&field).copied()
    }

    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// Whether a data row is the header printed again (once per section, say).
    pub fn is_repeated_header(&self, row: &RawRow) -> bool {
        // Cheap test first, on every row: does the first comparable cell read as its header?
        let first = row
            .cells
            .iter()
            .zip(&self.columns)
            .find(|(cell, column)| !cell.is_empty() && !column.header.is_empty());
        let same_text = |a: &str, b: &str| {
            a.trim().chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
        };
        match first {
            Some((Cell::Text(text), column)) if same_text(text, &column.header) => {}
            _ => return false,
        }
        let mut same = 0;
        let mut compared = 0;
        for (cell, header) in row.cells.iter().zip(&self.header_normalised) {
            if cell.is_empty() || header.is_empty() {
                continue;
            }
            compared += 1;
            if normalise(&cell.as_text()) == *header {
                same += 1;
            }
        }
        compared >= 2 && same * 10 >= compared * 6
    }
}

/// Why no layout could be decided for a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecognised(pub String);

/// Decides the layout of a table from its first rows.
///
/// `rows` are the table's first rows (title block, header, a sample of data), in order.
/// Returns the layout and the index in `rows` of the first data row.
pub fn detect(
    sheet: Option<&str>,
    rows: &[RawRow],
    merged: &[MergedRange],
    config: &SourceConfig,
    options: &MappingOptions,
) -> Result<(Layout, usize), Unrecognised> {
    let width = rows.iter().map(|r| r.cells.len()).max().unwrap_or(0);
    if width == 0 {
        return Err(Unrecognised("the table is empty".into()));
    }

    let header = match config.header_row {
        Some(n) => {
            let at = rows
                .iter()
                .position(|r| r.number.0 == n)
                .ok_or_else(|| Unrecognised(format!("header_row {n} is beyond the table")))?;
            let candidate = Candidate::single(rows, at, width, config, options);
            Some(candidate)
        }
        None => find_header(rows, merged, width, config, options),
    };

    let (mut layout, data_start) = match header {
        Some(c) if c.is_usable() => {
            let data_start = c.last + 1;
            let header_rows = Some((rows[c.first].number, rows[c.last].number));
            (c.into_layout(sheet, header_rows), data_start)
        }
        other => {
            // No header worth the name: look at what the columns hold instead.
            let skipped = other.map(|c| c.describe_failure()).unwrap_or_default();
            let start = rows.iter().position(|r| r.non_empty() > 0).unwrap_or(0);
            let layout = infer_from_content(sheet, &rows[start..], width, config, options)
                .map_err(|e| Unrecognised(format!("{}{skipped}", e.0)))?;
            (layout, start)
        }
    };

    let data_start = match config.data_start_row {
        Some(n) => rows.iter().position(|r| r.number.0 >= n).unwrap_or(rows.len()),
        None => data_start,
    };
    check_against_content(&mut layout, &rows[data_start.min(rows.len())..], options);
    finish(&mut layout, config)?;
    Ok((layout, data_start))
}

/// One way to read the header: which rows, which column texts, which assignment.
struct Candidate {
    first: usize,
    last: usize,
    headers: Vec<String>,
    decisions: Vec<ColumnDecision>,
    fields: HashMap<Field, usize>,
    score: f64,
}

impl Candidate {
    fn single(
        rows: &[RawRow],
        at: usize,
        width: usize,
        config: &SourceConfig,
        options: &MappingOptions,
    ) -> Self {
        let headers = (0..width)
            .map(|i| {
                rows[at]
                    .cells
                    .get(i)
                    .map(|c| c.as_text().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        Self::assign(at, at, headers, config, options)
    }

    fn assign(
        first: usize,
        last: usize,
        headers: Vec<String>,
        config: &SourceConfig,
        options: &MappingOptions,
    ) -> Self {
        let (decisions, fields) = assign_columns(&headers, config, options);
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
        let numeric = headers
            .iter()
            .filter(|h| !h.is_empty() && parse_price(&Cell::text(h.as_str())).is_ok())
            .count();
        score -= numeric as f64 * 1.5;
        // Between two readings that map the same fields, the one that names more columns
        // (a split header's sub-headers, say) explains the table better.
        score += 0.1 * headers.iter().filter(|h| !h.trim().is_empty()).count() as f64;
        Self {
            first,
            last,
            headers,
            decisions,
            fields,
            score,
        }
    }

    fn is_usable(&self) -> bool {
        self.fields.contains_key(&Field::Price) && self.fields.contains_key(&Field::Name)
    }

    fn describe_failure(&self) -> String {
        let missing: Vec<&str> = [Field::Name, Field::Price]
            .into_iter()
            .filter(|f| !self.fields.contains_key(f))
            .map(|f| f.as_str())
            .collect();
        let headers: Vec<&str> = self
            .headers
            .iter()
            .map(String::as_str)
            .filter(|h| !h.is_empty())
            .collect();
        format!(
            "; the likeliest header row ({}) has no {} column with confidence ≥ threshold: headers {:?}",
            self.first + 1,
            missing.join(" or "),
            headers
        )
    }

    fn into_layout(self, sheet: Option<&str>, header_rows: Option<(RowNumber, RowNumber)>) -> Layout {
        Layout {
            sheet: sheet.map(str::to_owned),
            header_rows,
            header_normalised: self.headers.iter().map(|h| normalise(h)).collect(),
            columns: self.decisions,
            fields: self.fields,
            derive_sku: false,
            notes: Vec::new(),
        }
    }
}

/// Tries every row near the top, alone and joined with the row below (split headers).
fn find_header(
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
            .map(|headers| Candidate::assign(at, at + 1, headers, config, options));
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

/// The texts of a header split over rows `at` and `at + 1`, when the lower row reads as
/// sub-headers: group cells (merged, or followed by empty cells) spread over their columns.
fn joined_header(
    rows: &[RawRow],
    at: usize,
    width: usize,
    merged: &[MergedRange],
) -> Option<Vec<String>> {
    let top = &rows[at];
    let bottom = &rows[at + 1];
    let text = |row: &RawRow, i: usize| row.cells.get(i).map(|c| c.as_text().into_owned());
    // Sub-headers are text; a numeric lower row is the first data row.
    let bottom_texts: Vec<String> = (0..width).filter_map(|i| text(bottom, i)).collect();
    let any_number = bottom_texts
        .iter()
        .any(|t| !t.is_empty() && parse_price(&Cell::text(t.as_str())).is_ok());
    if any_number || bottom.non_empty() == 0 {
        return None;
    }
    let mut spread_any = false;
    let mut headers = Vec::with_capacity(width);
    let mut group = String::new();
    for i in 0..width {
        let upper = text(top, i).unwrap_or_default();
        let lower = text(bottom, i).unwrap_or_default();
        let merged_group = merged.iter().find(|m| {
            m.first_row == top.number.0 && m.first_col <= i && i <= m.last_col && m.last_col > m.first_col
        });
        let upper = if !upper.is_empty() {
            group = upper.clone();
            upper
        } else if let Some(m) = merged_group {
            spread_any = true;
            text(top, m.first_col).unwrap_or_default()
        } else if !lower.is_empty() && !group.is_empty() && i > 0 && text(bottom, i - 1).is_some_and(|t| !t.is_empty()) {
            // A group header over several sub-headers, exported without merge information.
            spread_any = true;
            group.clone()
        } else {
            group.clear();
            String::new()
        };
        headers.push(match (upper.is_empty(), lower.is_empty()) {
            (false, false) => format!("{upper} {lower}"),
            (false, true) => upper,
            (true, false) => lower,
            (true, true) => String::new(),
        });
    }
    let lower_under_group = merged.iter().any(|m| m.first_row == top.number.0 && m.last_col > m.first_col);
    (spread_any || lower_under_group).then_some(headers)
}

/// Assigns fields to columns: manual overrides first, then the best fuzzy matches.
fn assign_columns(
    headers: &[String],
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

    for (field, column) in &config.column_mapping {
        if let Some(i) = resolve_column(column, headers) {
            decisions[i].role = Role::Field(*field);
            decisions[i].confidence = 1.0;
            decisions[i].note = Some("manual mapping".into());
            fields.insert(*field, i);
        }
    }

    for (i, n) in normalised.iter().enumerate() {
        if decisions[i].role == Role::Ignored && is_running_number_header(n) {
            decisions[i].role = Role::RunningNumber;
            decisions[i].confidence = 1.0;
        }
    }

    // Price columns: every column that reads as a price competes; the preference decides.
    if let std::collections::hash_map::Entry::Vacant(price_slot) = fields.entry(Field::Price) {
        let mut prices: Vec<(usize, f64)> = normalised
            .iter()
            .enumerate()
            .filter(|(i, _)| decisions[*i].role == Role::Ignored)
            .map(|(i, n)| (i, score(n, Field::Price)))
            .filter(|(i, s)| *s >= options.min_confidence && best_field(&normalised[*i]) == Some(Field::Price))
            .collect();
        prices.sort_by(|a, b| {
            price_rank(&normalised[a.0], options)
                .cmp(&price_rank(&normalised[b.0], options))
                .then(a.0.cmp(&b.0))
        });
        if let Some(&(winner, confidence)) = prices.first() {
            decisions[winner].role = Role::Field(Field::Price);
            decisions[winner].confidence = confidence;
            if prices.len() > 1 {
                decisions[winner].note = Some(format!(
                    "preferred among {} price columns",
                    prices.len()
                ));
            }
            price_slot.insert(winner);
            for &(other, confidence) in &prices[1..] {
                decisions[other].role = Role::OtherPrice(headers[other].trim().to_owned());
                decisions[other].confidence = confidence;
            }
        }
    }

    // The other fields: best pairs first, each field and column used once.
    let mut pairs: Vec<(f64, usize, Field)> = Vec::new();
    for (i, n) in normalised.iter().enumerate() {
        if decisions[i].role != Role::Ignored {
            continue;
        }
        for field in Field::ALL {
            if field == Field::Price || fields.contains_key(&field) {
                continue;
            }
            let s = score(n, field);
            if s >= options.min_confidence {
                pairs.push((s, i, field));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (s, i, field) in pairs {
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
        if let Some((field, s)) = Field::ALL
            .into_iter()
            .map(|f| (f, score(n, f)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            && s >= 0.5
        {
            decisions[i].confidence = s;
            decisions[i].note = Some(format!(
                "resembles {field} ({s:.2}) but below the threshold {:.2}",
                options.min_confidence
            ));
        }
    }
    (decisions, fields)
}

/// The field a header resembles most.
fn best_field(normalised: &str) -> Option<Field> {
    Field::ALL
        .into_iter()
        .map(|f| (f, score(normalised, f)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(f, _)| f)
}

/// Lower is preferred: the position of the price kind in the preference, then VAT.
fn price_rank(normalised: &str, options: &MappingOptions) -> (usize, u8) {
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

/// Finds the column a manual reference names: a header text first, then a letter, then an index.
pub fn resolve_column(column: &ColumnRef, headers: &[String]) -> Option<usize> {
    let wanted = normalise(column.as_str());
    if let Some(i) = headers.iter().position(|h| normalise(h) == wanted && !wanted.is_empty()) {
        return Some(i);
    }
    column
        .as_index()
        .or_else(|| column.as_letter_index())
        .filter(|&i| i < headers.len())
}

/// Without a header: the price column is the one of price-like numbers, the name the one of
/// the longest texts, the SKU a column of short distinct codes.
fn infer_from_content(
    sheet: Option<&str>,
    rows: &[RawRow],
    width: usize,
    config: &SourceConfig,
    options: &MappingOptions,
) -> Result<Layout, Unrecognised> {
    let sample: Vec<&RawRow> = rows
        .iter()
        .filter(|r| r.non_empty() >= 2)
        .take(options.sample_rows)
        .collect();
    if sample.is_empty() {
        return Err(Unrecognised("no header row and no data rows were found".into()));
    }
    let headers: Vec<String> = (0..width).map(|i| format!("column {}", column_letter(i))).collect();
    let mut decisions: Vec<ColumnDecision> = headers
        .iter()
        .enumerate()
        .map(|(index, header)| ColumnDecision {
            index,
            header: header.clone(),
            role: Role::Characteristic(header.clone()),
            confidence: 0.0,
            note: None,
        })
        .collect();
    let mut fields = HashMap::new();
    for (field, column) in &config.column_mapping {
        if let Some(i) = resolve_column(column, &headers) {
            decisions[i].role = Role::Field(*field);
            decisions[i].confidence = 1.0;
            decisions[i].note = Some("manual mapping".into());
            fields.insert(*field, i);
        }
    }

    let stats: Vec<ColumnStats> = (0..width).map(|i| ColumnStats::of(&sample, i)).collect();
    let free = |i: usize, fields: &HashMap<Field, usize>| !fields.values().any(|&c| c == i);

    if !fields.contains_key(&Field::Price) {
        // Rightmost column that is mostly prices and not a running number.
        let price = (0..width)
            .rev()
            .filter(|&i| free(i, &fields))
            .filter(|&i| stats[i].price_share >= 0.8 && !stats[i].running && stats[i].filled > 0)
            .max_by(|&a, &b| stats[a].fraction_share.total_cmp(&stats[b].fraction_share));
        if let Some(i) = price {
            decisions[i].role = Role::Field(Field::Price);
            decisions[i].confidence = stats[i].price_share;
            decisions[i].note = Some("inferred: price-like numbers".into());
            fields.insert(Field::Price, i);
        }
    }
    if !fields.contains_key(&Field::Name) {
        let name = (0..width)
            .filter(|&i| free(i, &fields))
            .filter(|&i| stats[i].text_share >= 0.8)
            .max_by(|&a, &b| stats[a].mean_len.total_cmp(&stats[b].mean_len));
        if let Some(i) = name {
            decisions[i].role = Role::Field(Field::Name);
            decisions[i].confidence = stats[i].text_share;
            decisions[i].note = Some("inferred: longest text".into());
            fields.insert(Field::Name, i);
        }
    }
    if !fields.contains_key(&Field::Sku) {
        let sku = (0..width)
            .filter(|&i| free(i, &fields))
            .filter(|&i| stats[i].distinct_share >= 0.95 && stats[i].code_share >= 0.9 && !stats[i].running)
            .min();
        if let Some(i) = sku {
            decisions[i].role = Role::Field(Field::Sku);
            decisions[i].confidence = stats[i].code_share;
            decisions[i].note = Some("inferred: short distinct codes".into());
            fields.insert(Field::Sku, i);
        }
    }
    for (i, s) in stats.iter().enumerate() {
        if s.running && free(i, &fields) {
            decisions[i].role = Role::RunningNumber;
        }
    }
    if !fields.contains_key(&Field::Price) || !fields.contains_key(&Field::Name) {
        return Err(Unrecognised(
            "no header row was recognised and no column of prices and of names could be inferred from the content"
                .into(),
        ));
    }
    let mut layout = Layout {
        sheet: sheet.map(str::to_owned),
        header_rows: None,
        header_normalised: Vec::new(),
        columns: decisions,
        fields,
        derive_sku: false,
        notes: vec!["no header row found: columns were inferred from their content".into()],
    };
    layout.notes.shrink_to_fit();
    Ok(layout)
}

/// What a sample of one column holds.
struct ColumnStats {
    filled: usize,
    price_share: f64,
    fraction_share: f64,
    text_share: f64,
    code_share: f64,
    distinct_share: f64,
    mean_len: f64,
    running: bool,
}

impl ColumnStats {
    fn of(sample: &[&RawRow], col: usize) -> Self {
        let cells: Vec<&Cell> = sample
            .iter()
            .filter_map(|r| r.cells.get(col))
            .filter(|c| !c.is_empty())
            .collect();
        let filled = cells.len();
        let share = |n: usize| if filled == 0 { 0.0 } else { n as f64 / filled as f64 };
        let texts: Vec<String> = cells.iter().map(|c| c.as_text().into_owned()).collect();
        let prices = cells.iter().filter(|c| parse_price(c).is_ok()).count();
        let fractions = cells
            .iter()
            .filter(|c| parse_price(c).is_ok_and(|p| !p.value.fract().is_zero()))
            .count();
        let text = cells
            .iter()
            .filter(|c| matches!(parse_price(c), Err(PriceProblem::NotANumber)))
            .count();
        let code = texts
            .iter()
            .filter(|t| t.chars().count() <= 32 && !t.contains(' '))
            .count();
        let mut distinct = texts.clone();
        distinct.sort();
        distinct.dedup();
        let mean_len = if filled == 0 {
            0.0
        } else {
            texts.iter().map(|t| t.chars().count()).sum::<usize>() as f64 / filled as f64
        };
        Self {
            filled,
            price_share: share(prices),
            fraction_share: share(fractions),
            text_share: share(text),
            code_share: share(code),
            distinct_share: share(distinct.len()),
            mean_len,
            running: is_running_sequence(&texts),
        }
    }
}

/// 1, 2, 3, … (allowing the odd gap): a row counter, not an SKU.
fn is_running_sequence(texts: &[String]) -> bool {
    if texts.len() < 3 {
        return false;
    }
    let numbers: Vec<i64> = texts.iter().filter_map(|t| t.trim_end_matches('.').parse().ok()).collect();
    if numbers.len() * 10 < texts.len() * 9 {
        return false;
    }
    let steps = numbers.windows(2).filter(|w| w[1] == w[0] + 1).count();
    steps * 10 >= (numbers.len() - 1) * 8 && numbers.first().is_some_and(|&n| (0..=2).contains(&n))
}

/// Checks what the header promised against the first data rows.
fn check_against_content(layout: &mut Layout, data: &[RawRow], options: &MappingOptions) {
    let sample: Vec<&RawRow> = data
        .iter()
        .filter(|r| r.non_empty() >= 2)
        .take(options.sample_rows)
        .collect();
    let Some(sku) = layout.column_of(Field::Sku) else {
        return;
    };
    if layout.columns[sku].note.as_deref() == Some("manual mapping") || sample.len() < 3 {
        return;
    }
    let stats = ColumnStats::of(&sample, sku);
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
        let header = layout.columns[sku].header.clone();
        layout.columns[sku].role = role;
        layout.columns[sku].note = Some(why.into());
        layout.fields.remove(&Field::Sku);
        layout.notes.push(format!("column {header:?} {why}"));
    }
}

/// Final touches: SKU derivation, characteristic keys, the characteristic filter.
fn finish(layout: &mut Layout, config: &SourceConfig) -> Result<(), Unrecognised> {
    if !layout.fields.contains_key(&Field::Price) {
        return Err(Unrecognised("no price column was found".into()));
    }
    if !layout.fields.contains_key(&Field::Name) {
        return Err(Unrecognised("no name column was found".into()));
    }
    if !layout.fields.contains_key(&Field::Sku) {
        layout.derive_sku = true;
        layout
            .notes
            .push("no SKU column: item keys are derived from the normalised name".into());
    }

    let headers: Vec<String> = layout.columns.iter().map(|c| c.header.clone()).collect();
    let wanted: Option<Vec<usize>> = config.characteristic_columns.as_ref().map(|cols| {
        cols.iter()
            .filter_map(|c| resolve_column(c, &headers))
            .collect()
    });
    let mut seen: HashMap<String, usize> = HashMap::new();
    for column in &mut layout.columns {
        if !matches!(column.role, Role::Ignored | Role::Characteristic(_)) {
            continue;
        }
        if wanted.as_ref().is_some_and(|w| !w.contains(&column.index)) {
            column.role = Role::Ignored;
            continue;
        }
        let base = if column.header.is_empty() {
            format!("column {}", column_letter(column.index))
        } else {
            column.header.clone()
        };
        let n = seen.entry(base.clone()).or_insert(0);
        *n += 1;
        let key = if *n == 1 { base } else { format!("{base} ({n})") };
        column.role = Role::Characteristic(key);
    }
    Ok(())
}

/// `0` → `A`, `26` → `AA`.
pub fn column_letter(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

impl Layout {
    /// A one-line summary of the mapping for the task's notes.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(sheet) = &self.sheet {
            parts.push(format!("sheet {sheet:?}"));
        }
        match self.header_rows {
            Some((a, b)) if a == b => parts.push(format!("header row {a}")),
            Some((a, b)) => parts.push(format!("header rows {a}-{b}")),
            None => parts.push("no header row".into()),
        }
        for field in Field::ALL {
            if let Some(i) = self.column_of(field) {
                let c = &self.columns[i];
                parts.push(format!(
                    "{field}={:?} ({:.2})",
                    if c.header.is_empty() { column_letter(i) } else { c.header.clone() },
                    c.confidence
                ));
            }
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(lines: &[&[&str]]) -> Vec<RawRow> {
        lines
            .iter()
            .enumerate()
            .map(|(i, cells)| RawRow {
                number: RowNumber(i as u32 + 1),
                cells: cells.iter().map(|c| Cell::text(*c)).collect(),
            })
            .collect()
    }

    fn field_header(layout: &Layout, field: Field) -> Option<String> {
        layout.column_of(field).map(|i| layout.columns[i].header.clone())
    }

    #[test]
    fn finds_header_below_a_title_block() {
        let table = rows(&[
            &["ООО Ромашка", "", ""],
            &["Прайс-лист на 01.11.2026", "", ""],
            &["", "", ""],
            &["Артикул", "Наименование", "Цена, руб."],
            &["A-1", "Молоток", "350,00"],
            &["A-2", "Отвертка", "120,50"],
            &["A-3", "Клещи", "410,00"],
        ]);
        let (layout, start) =
            detect(None, &table, &[], &SourceConfig::default(), &MappingOptions::default()).unwrap();
        assert_eq!(start, 4);
        assert_eq!(layout.header_rows, Some((RowNumber(4), RowNumber(4))));
        assert_eq!(field_header(&layout, Field::Sku).as_deref(), Some("Артикул"));
        assert_eq!(field_header(&layout, Field::Price).as_deref(), Some("Цена, руб."));
    }

    #[test]
    fn split_header_with_group_over_sub_headers() {
        let table = rows(&[
            &["Код", "Товар", "Цена", ""],
            &["", "", "Розница", "Опт"],
            &["1001", "Болт М6", "12,00", "9,50"],
            &["1002", "Гайка М6", "4,00", "3,10"],
            &["1003", "Шайба", "1,00", "0,80"],
        ]);
        let (layout, start) =
            detect(None, &table, &[], &SourceConfig::default(), &MappingOptions::default()).unwrap();
        assert_eq!(start, 2);
        assert_eq!(field_header(&layout, Field::Price).as_deref(), Some("Цена Опт"));
        assert!(layout
            .columns
            .iter()
            .any(|c| c.role == Role::OtherPrice("Цена Розница".into())));
    }

    #[test]
    fn running_number_is_not_an_sku_and_sku_is_derived() {
        let table = rows(&[
            &["№", "Наименование", "Цена"],
            &["1", "Молоток", "350"],
            &["2", "Отвертка", "120"],
            &["3", "Клещи", "410"],
        ]);
        let (layout, _) =
            detect(None, &table, &[], &SourceConfig::default(), &MappingOptions::default()).unwrap();
        assert_eq!(layout.columns[0].role, Role::RunningNumber);
        assert!(layout.derive_sku);
    }

    #[test]
    fn manual_mapping_wins() {
        let table = rows(&[
            &["Code", "Title", "Cost", "Price"],
            &["X1", "Widget", "1.00", "2.00"],
        ]);
        let mut config = SourceConfig::default();
        config
            .column_mapping
            .insert(Field::Price, ColumnRef::new("D").unwrap());
        let (layout, _) = detect(None, &table, &[], &config, &MappingOptions::default()).unwrap();
        assert_eq!(field_header(&layout, Field::Price).as_deref(), Some("Price"));
    }

    #[test]
    fn no_price_column_is_unrecognised() {
        let table = rows(&[&["Артикул", "Наименование", "Цвет"], &["1", "Молоток", "красный"]]);
        let err = detect(None, &table, &[], &SourceConfig::default(), &MappingOptions::default())
            .unwrap_err();
        assert!(err.0.contains("price"), "{}", err.0);
    }

    #[test]
    fn headerless_table_is_inferred_from_content() {
        let table = rows(&[
            &["A-100", "Молоток слесарный 500 г", "350.00"],
            &["A-101", "Отвертка крестовая PH2", "120.50"],
            &["A-102", "Клещи переставные 250 мм", "410.90"],
            &["A-103", "Рулетка 5 м", "199.99"],
        ]);
        let (layout, start) =
            detect(None, &table, &[], &SourceConfig::default(), &MappingOptions::default()).unwrap();
        assert_eq!(start, 0);
        assert_eq!(layout.column_of(Field::Price), Some(2));
        assert_eq!(layout.column_of(Field::Name), Some(1));
        assert_eq!(layout.column_of(Field::Sku), Some(0));
        assert!(layout.notes.iter().any(|n| n.contains("inferred")));
    }

    #[test]
    fn letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
    }
}
