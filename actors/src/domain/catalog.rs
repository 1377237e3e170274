//! The catalogue's value types: what a valid supplier item is made of, and why a row is not one.
//!
//! Each type checks its invariant once, at construction, so the database writer never sees an
//! empty SKU, a negative price or a price with three decimals.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Longest SKU the catalogue stores, in characters (the design's `max_length=255`).
pub const SKU_MAX_CHARS: usize = 255;
/// Longest item name the catalogue stores, in characters (the design's `max_length=500`).
pub const NAME_MAX_CHARS: usize = 500;
/// Longest supplier name, in characters.
pub const SUPPLIER_NAME_MAX_CHARS: usize = 255;

/// A supplier's row id in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SupplierId(pub Uuid);

impl fmt::Display for SupplierId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Trims, then checks that a text field is non-empty, short enough and free of control characters.
fn checked_text(raw: &str, max_chars: usize) -> Result<String, TextError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(TextError::TooLong { chars, max_chars });
    }
    if text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        // Line breaks and tabs are text (a quoted csv field may hold them); other control
        // characters are the sign of a broken export.
        return Err(TextError::ControlCharacter);
    }
    Ok(text.to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("is empty")]
    Empty,
    #[error("is {chars} characters long, at most {max_chars} are allowed")]
    TooLong { chars: usize, max_chars: usize },
    #[error("contains a control character")]
    ControlCharacter,
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(raw: &str) -> Result<Self, TextError> {
                checked_text(raw, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::new(&raw).map_err(|e| {
                    serde::de::Error::custom(format!("{} {e}", stringify!($name)))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A supplier as producers name it; the catalogue finds or creates the supplier by this name.
    SupplierName,
    SUPPLIER_NAME_MAX_CHARS
);
text_type!(
    /// The supplier's own article number, unique per supplier. Always text: `00123` is not `123`.
    Sku,
    SKU_MAX_CHARS
);
text_type!(
    /// The item's name as the supplier writes it.
    ItemName,
    NAME_MAX_CHARS
);

impl Sku {
    /// A key intake derives itself (from a normalised name): already trimmed, short and
    /// free of control characters.
    pub(crate) fn derived(key: String) -> Self {
        debug_assert!(checked_text(&key, SKU_MAX_CHARS).is_ok());
        Self(key)
    }
}

/// A price in the catalogue: non-negative, two decimals, within `NUMERIC(12,2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Price(Decimal);

impl Price {
    /// The largest value `NUMERIC(12,2)` holds.
    pub const MAX: Decimal = Decimal::from_parts(3_567_587_327, 232, 0, false, 2);

    /// Rounds half away from zero to two decimals (the commercial rule: 0.125 → 0.13),
    /// then checks the range.
    pub fn new(value: Decimal) -> Result<Self, PriceError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(PriceError::Negative);
        }
        let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        if rounded > Self::MAX {
            return Err(PriceError::TooLarge);
        }
        // `-0` would print as "-0.00"; normalise it.
        let mut rounded = rounded.abs();
        rounded.rescale(2);
        Ok(Self(rounded))
    }

    pub fn amount(&self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("is negative")]
    Negative,
    #[error("exceeds 9999999999.99")]
    TooLarge,
}

/// A row's position in its source, counted from 1 as a spreadsheet shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RowNumber(pub u32);

impl fmt::Display for RowNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A validated supplier item, ready for the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The table (sheet) of the source it was read from, from 1.
    pub table: u32,
    pub row: RowNumber,
    pub sku: Sku,
    pub name: ItemName,
    pub price: Price,
    /// Every other non-empty column, keyed by its header; always a JSON object.
    pub characteristics: Map<String, Value>,
}

/// Why a row was not stored. The snake_case name is `parsing_logs.error_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    MissingSku,
    MissingName,
    MissingPrice,
    InvalidSku,
    InvalidName,
    InvalidPrice,
    NegativePrice,
    PriceOutOfRange,
    PriceOnRequest,
    /// A later row of the same task has the same SKU; the later one wins.
    DuplicateSku,
    /// The whole source could not be read as a price list (no price column, say).
    TaskError,
}

impl RejectReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::MissingSku => "missing_sku",
            Self::MissingName => "missing_name",
            Self::MissingPrice => "missing_price",
            Self::InvalidSku => "invalid_sku",
            Self::InvalidName => "invalid_name",
            Self::InvalidPrice => "invalid_price",
            Self::NegativePrice => "negative_price",
            Self::PriceOutOfRange => "price_out_of_range",
            Self::PriceOnRequest => "price_on_request",
            Self::DuplicateSku => "duplicate_sku",
            Self::TaskError => "task_error",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row that is logged to `parsing_logs` instead of stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// `None` for a task-level problem that belongs to no row.
    pub row: Option<RowNumber>,
    pub reason: RejectReason,
    pub message: String,
    /// The row as read, header → cell, so an operator can see what arrived.
    pub row_data: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn price_rounds_half_away_from_zero_to_two_decimals() {
        let p = |s: &str| Price::new(Decimal::from_str(s).unwrap()).unwrap().to_string();
        assert_eq!(p("0.125"), "0.13");
        assert_eq!(p("0.124"), "0.12");
        assert_eq!(p("12"), "12.00");
        assert_eq!(p("-0"), "0.00");
        assert_eq!(p("9999999999.99"), "9999999999.99");
    }

    #[test]
    fn price_rejects_negative_and_overflow() {
        let p = |s: &str| Price::new(Decimal::from_str(s).unwrap());
        assert_eq!(p("-0.01"), Err(PriceError::Negative));
        assert_eq!(p("10000000000"), Err(PriceError::TooLarge));
        // Rounds up past the limit.
        assert_eq!(p("9999999999.995"), Err(PriceError::TooLarge));
    }

    #[test]
    fn max_price_constant_is_numeric_12_2_limit() {
        assert_eq!(Price::MAX.to_string(), "9999999999.99");
    }

    #[test]
    fn sku_keeps_leading_zeros_and_trims() {
        assert_eq!(Sku::new("  00123 ").unwrap().as_str(), "00123");
    }

    #[test]
    fn text_checks_length_in_characters_not_bytes() {
        let cyrillic = "Ж".repeat(SKU_MAX_CHARS);
        assert!(Sku::new(&cyrillic).is_ok());
        let too_long = "Ж".repeat(SKU_MAX_CHARS + 1);
        assert!(matches!(Sku::new(&too_long), Err(TextError::TooLong { .. })));
    }

    #[test]
    fn empty_and_control_characters_are_rejected() {
        assert_eq!(ItemName::new("   "), Err(TextError::Empty));
        assert_eq!(ItemName::new("a\u{0}b"), Err(TextError::ControlCharacter));
    }
}
