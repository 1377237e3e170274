//! Turning one data row into a catalogue item, or into the precise reason it is not one.

use std::sync::Arc;

use serde_json::{Map, Number, Value};

use super::layout::{Layout, Role, column_letter};
use super::price::{PriceProblem, parse_price};
use super::synonyms::normalise;
use crate::domain::catalog::NAME_MAX_CHARS;
use crate::domain::{Field, Item, ItemName, Price, PriceError, RejectReason, Rejection, RowNumber, Sku, TextError};
use crate::table::Cell;

/// A data row on its way from the parser to the validator.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRow {
    pub number: RowNumber,
    pub cells: Vec<Cell>,
    /// The category row above it, if any.
    pub section: Option<Arc<str>>,
    /// For a variant row (same key as the row above, no name of its own): the parent's key.
    /// The reader has already given the row the parent's name and a key of its own.
    pub variant_of: Option<Arc<str>>,
}

/// Rows of one table, all read with the same layout.
#[derive(Debug, Clone)]
pub struct RowChunk {
    pub layout: Arc<Layout>,
    pub rows: Vec<DataRow>,
}

impl Layout {
    /// Validates a row against the catalogue's rules.
    pub fn to_item(&self, row: &DataRow) -> Result<Item, Rejection> {
        let reject = |reason: RejectReason, message: String| Rejection {
            row: Some(row.number),
            reason,
            message,
            row_data: Some(self.row_data(row)),
        };
        let cell = |field: Field| {
            self.column_of(field)
                .and_then(|i| row.cells.get(i))
                .unwrap_or(&Cell::Empty)
        };

        let mut name_text = cell(Field::Name).as_text();
        let mut name_source = None;
        if name_text.is_empty()
            && let Some(description) = self
                .name_fallback
                .and_then(|i| row.cells.get(i))
                .filter(|c| !c.is_empty())
        {
            // A blank name beside a description: the description names the item.
            name_text = description.as_text();
            name_source = Some("description");
        }
        if name_text.is_empty() && !self.derive_sku && !cell(Field::Price).is_empty() {
            // A priced row with only its code (`SYMO 17.5-3-M; 3684,00; EUR`): the supplier sells
            // it, and the code is the only name it has.
            let key = cell(Field::Sku).as_text();
            let key = strip_text_marker(&key).trim();
            if !key.is_empty() {
                name_text = key.to_owned().into();
                name_source = Some("key");
            }
        }
        let mut full_name = None;
        let name = match ItemName::new(&name_text) {
            Ok(name) => name,
            Err(TextError::Empty) => {
                return Err(reject(RejectReason::MissingName, "the name is empty".into()));
            }
            // A name column that holds whole descriptions: the name is their beginning, and
            // the whole text is kept beside it.
            Err(TextError::TooLong { chars, .. }) if chars <= LONG_NAME_MAX_CHARS => {
                full_name = Some(name_text.trim().to_owned());
                ItemName::new(&shorten(&name_text, NAME_MAX_CHARS))
                    .map_err(|e| reject(RejectReason::InvalidName, format!("the name {e}")))?
            }
            Err(e) => return Err(reject(RejectReason::InvalidName, format!("the name {e}"))),
        };

        // A keyed list's row with a blank key gets a key from its name, as a list without keys.
        let (sku, derived) = if self.derive_sku {
            (derived_sku(&name), true)
        } else {
            let text = cell(Field::Sku).as_text();
            match Sku::new(strip_text_marker(&text)) {
                Ok(sku) => (sku, false),
                Err(TextError::Empty) => (derived_sku(&name), true),
                Err(e) => return Err(reject(RejectReason::InvalidSku, format!("the SKU {e}"))),
            }
        };

        let price_cell = cell(Field::Price);
        let parsed = match parse_price(price_cell) {
            Ok(parsed) => parsed,
            Err(PriceProblem::Empty) => {
                return Err(reject(RejectReason::MissingPrice, "the price is empty".into()));
            }
            Err(PriceProblem::OnRequest) => {
                return Err(reject(
                    RejectReason::PriceOnRequest,
                    format!("price on request ({:?})", clip(&price_cell.as_text(), QUOTED_CHARS)),
                ));
            }
            Err(PriceProblem::NotANumber) => {
                return Err(reject(
                    RejectReason::InvalidPrice,
                    format!("cannot read {:?} as a price", clip(&price_cell.as_text(), QUOTED_CHARS)),
                ));
            }
        };
        let price = match Price::new(parsed.value) {
            Ok(price) => price,
            Err(PriceError::Negative) => {
                return Err(reject(
                    RejectReason::NegativePrice,
                    format!("the price {:?} is negative", clip(&price_cell.as_text(), QUOTED_CHARS)),
                ));
            }
            Err(PriceError::TooLarge) => {
                return Err(reject(
                    RejectReason::PriceOutOfRange,
                    format!(
                        "the price {:?} exceeds 9999999999.99",
                        clip(&price_cell.as_text(), QUOTED_CHARS)
                    ),
                ));
            }
        };

        let mut characteristics = self.characteristics(row);
        if let Some(currency) = parsed.currency {
            characteristics
                .entry("currency")
                .or_insert_with(|| Value::String(currency.into()));
        }
        if derived {
            characteristics.insert("sku_source".into(), Value::String("derived_from_name".into()));
        }
        if let Some(source) = name_source {
            characteristics.insert("name_source".into(), Value::String(source.into()));
        }
        if let Some(full) = full_name.filter(|_| name_source.is_none()) {
            characteristics.insert("full_name".into(), Value::String(full));
        }
        if let Some(parent) = &row.variant_of {
            characteristics.insert("variant_of".into(), Value::String(parent.to_string()));
        }
        Ok(Item {
            table: self.table,
            row: row.number,
            sku,
            name,
            price,
            characteristics,
        })
    }

    fn characteristics(&self, row: &DataRow) -> Map<String, Value> {
        let mut out = Map::new();
        for column in &self.columns {
            let Some(cell) = row.cells.get(column.index) else {
                continue;
            };
            if cell.is_empty() {
                continue;
            }
            match &column.role {
                Role::Characteristic(key) => {
                    out.insert(key.clone(), typed(cell));
                }
                Role::OtherPrice(key) => {
                    let value = parse_price(cell)
                        .ok()
                        .and_then(|p| decimal_number(p.value))
                        .map(Value::Number)
                        .unwrap_or_else(|| typed(cell));
                    out.insert(key.clone(), value);
                }
                Role::Field(field @ (Field::Currency | Field::Unit | Field::Category)) => {
                    out.insert(field.as_str().into(), Value::String(cell.as_text().into_owned()));
                }
                Role::Field(Field::Availability) => {
                    out.insert("availability".into(), typed(cell));
                }
                Role::Field(_) | Role::RunningNumber | Role::Ignored => {}
            }
        }
        if let Some(section) = &row.section {
            out.entry("category")
                .or_insert_with(|| Value::String(section.to_string()));
        }
        if let Some(sheet) = &self.sheet {
            out.insert("sheet".into(), Value::String(sheet.clone()));
        }
        out
    }

    /// The row as read, header → text, for parsing_logs.
    pub fn row_data(&self, row: &DataRow) -> Value {
        let mut out = Map::new();
        for (i, cell) in row.cells.iter().enumerate() {
            if cell.is_empty() {
                continue;
            }
            let key = self
                .columns
                .get(i)
                .map(|c| c.header.clone())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| format!("column {}", column_letter(i)));
            let key = if out.contains_key(&key) {
                format!("{key} ({})", column_letter(i))
            } else {
                key
            };
            out.insert(key, Value::String(clip(&cell.as_text(), ROW_DATA_CELL_CHARS)));
        }
        Value::Object(out)
    }
}

/// The longest cell text kept in a rejected row's log entry; a hostile file cannot bloat the log.
const ROW_DATA_CELL_CHARS: usize = 1000;
/// The longest cell text quoted in an error message.
const QUOTED_CHARS: usize = 80;

/// `text` cut to `max` characters, with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// A key without the leading `'` a spreadsheet uses to mark a cell as text (`'00123`).
pub(super) fn strip_text_marker(text: &str) -> &str {
    let text = text.trim();
    text.strip_prefix('\'').map_or(text, str::trim_start)
}

/// The key of an item whose list has no SKU column: its normalised name, so the next list
/// from the same supplier finds the same item.
/// Longest name cell read as a name (shortened to [`NAME_MAX_CHARS`], the whole kept as
/// `full_name`): a description of a few paragraphs. Longer cells are no name.
pub const LONG_NAME_MAX_CHARS: usize = 5_000;

/// The text cut at a word boundary to at most `max` characters, an ellipsis included.
fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(i) if i * 2 > cut.len() => &cut[..i],
        _ => cut.as_str(),
    };
    format!(
        "{}…",
        at_word.trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == ';')
    )
}

pub(super) fn derived_sku(name: &ItemName) -> Sku {
    let normalised = normalise(name.as_str());
    let key = if normalised.chars().count() <= 240 {
        normalised
    } else {
        // Keep it within the SKU limit yet distinct for long names that share a beginning.
        let head: String = normalised.chars().take(220).collect();
        format!("{head}~{:016x}", fnv1a(normalised.as_bytes()))
    };
    Sku::derived(format!("name:{key}"))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A decimal as a JSON number: an integer when it has no fraction (`450`, not `450.0`).
///
/// `trunc()` returns a value of scale 0, so the integer is read from it directly: dividing its
/// mantissa by the original scale turned `80784,00` into `807`.
pub(super) fn decimal_number(value: rust_decimal::Decimal) -> Option<Number> {
    if value.fract().is_zero() {
        i64::try_from(value.trunc()).ok().map(Number::from)
    } else {
        value.to_string().parse::<f64>().ok().and_then(Number::from_f64)
    }
}

/// A characteristic value typed as a number, a boolean or a string.
pub fn typed(cell: &Cell) -> Value {
    match cell {
        Cell::Number(n) => {
            if n.fract() == 0.0 && n.abs() < 9e15 {
                Value::Number(Number::from(*n as i64))
            } else {
                Number::from_f64(*n).map_or(Value::Null, Value::Number)
            }
        }
        Cell::Bool(b) => Value::Bool(*b),
        Cell::Empty => Value::Null,
        Cell::Date(d) => Value::String(d.clone()),
        Cell::Text(t) => typed_text(t.trim()),
    }
}

fn typed_text(t: &str) -> Value {
    // The longest of these words is six bytes; longer texts need no lowercasing.
    if t.len() <= 6 {
        match t.to_lowercase().as_str() {
            "true" | "yes" | "да" | "так" => return Value::Bool(true),
            "false" | "no" | "нет" | "ні" => return Value::Bool(false),
            _ => {}
        }
    }
    if is_plain_number(t) {
        if let Ok(i) = t.parse::<i64>() {
            return Value::Number(Number::from(i));
        }
        if let Some(n) = t.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(t.to_owned())
}

/// `12`, `-3`, `0.5`; not `007` (a code), not `1e5`, not `1,5`.
fn is_plain_number(t: &str) -> bool {
    let digits = t.strip_prefix('-').unwrap_or(t);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && (int == "0" || !int.starts_with('0'))
        && int.len() <= 15
        && frac.is_none_or(|f| !f.is_empty() && f.len() <= 6 && f.bytes().all(|b| b.is_ascii_digit()))
}
