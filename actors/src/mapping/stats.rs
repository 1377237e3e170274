//! What a sample of one column holds: the measures content inference decides by.

use std::borrow::Cow;
use std::collections::HashSet;

use rust_decimal::Decimal;

use super::price::{PriceProblem, parse_price};
use crate::table::{Cell, RawRow};

/// The first `n` rows of `rows` that hold at least two cells: the data sample a decision looks
/// at (title lines and category rows hold one).
pub(super) fn sample(rows: &[RawRow], n: usize) -> Vec<&RawRow> {
    rows.iter().filter(|r| r.non_empty() >= 2).take(n).collect()
}

/// How many sample rows fill column `col`, and with how many distinct texts: the content that
/// decides between two columns whose headers are equally good.
pub(super) fn distinct_and_filled(sample: &[&RawRow], col: usize) -> (usize, usize) {
    let texts: Vec<Cow<'_, str>> = sample
        .iter()
        .filter_map(|r| r.cells.get(col))
        .filter(|c| !c.is_empty())
        .map(Cell::as_text)
        .collect();
    let distinct = texts.iter().map(|t| t.as_ref()).collect::<HashSet<&str>>().len();
    (distinct, texts.len())
}

/// The measures of one column over a sample of data rows.
pub(super) struct ColumnStats {
    /// Sample rows, filled or not.
    pub rows: usize,
    pub filled: usize,
    /// Shares of the filled cells: prices; prices or quotes on request; prices with a fraction;
    /// text that is no number; short texts without spaces.
    pub price_share: f64,
    pub priceish_share: f64,
    pub fraction_share: f64,
    pub text_share: f64,
    pub code_share: f64,
    pub distinct: usize,
    pub distinct_share: f64,
    pub mean_len: f64,
    /// 1, 2, 3, …: a row counter.
    pub running: bool,
    /// Integers that are codes rather than amounts (see [`is_numeric_code`]).
    pub numeric_code: bool,
}

impl ColumnStats {
    pub fn of(sample: &[&RawRow], col: usize) -> Self {
        let cells: Vec<&Cell> = sample
            .iter()
            .filter_map(|r| r.cells.get(col))
            .filter(|c| !c.is_empty())
            .collect();
        let filled = cells.len();
        let share = |n: usize| {
            if filled == 0 { 0.0 } else { n as f64 / filled as f64 }
        };
        let (mut prices, mut priceish, mut fractions, mut text) = (0, 0, 0, 0);
        for cell in &cells {
            match parse_price(cell) {
                Ok(p) => {
                    prices += 1;
                    priceish += 1;
                    if !p.value.fract().is_zero() {
                        fractions += 1;
                    }
                }
                Err(PriceProblem::OnRequest) => priceish += 1,
                Err(PriceProblem::NotANumber) => text += 1,
                Err(PriceProblem::Empty) => {}
            }
        }
        let texts: Vec<Cow<'_, str>> = cells.iter().map(|c| c.as_text()).collect();
        let code = texts
            .iter()
            .filter(|t| t.chars().count() <= 32 && !t.contains(' '))
            .count();
        let distinct = texts.iter().map(|t| t.as_ref()).collect::<HashSet<&str>>().len();
        let mean_len = if filled == 0 {
            0.0
        } else {
            texts.iter().map(|t| t.chars().count()).sum::<usize>() as f64 / filled as f64
        };
        Self {
            rows: sample.len(),
            filled,
            price_share: share(prices),
            priceish_share: share(priceish),
            fraction_share: share(fractions),
            text_share: share(text),
            code_share: share(code),
            distinct,
            distinct_share: share(distinct),
            mean_len,
            running: is_running_sequence(&texts),
            numeric_code: is_numeric_code(&texts),
        }
    }

    pub fn fill_rate(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.filled as f64 / self.rows as f64
        }
    }

    /// Mostly numbers that read as amounts: not a row counter, not numeric codes.
    pub fn price_like(&self) -> bool {
        self.filled > 0 && self.price_share >= 0.8 && !self.running && !self.numeric_code
    }

    /// Short distinct codes filling the column: an item key. Never amounts, never a counter.
    pub fn key_like(&self) -> bool {
        self.filled > 0
            && self.fill_rate() >= 0.8
            && self.distinct_share >= 0.95
            && self.code_share >= 0.9
            && !self.running
            && !self.price_like()
    }

    /// Mostly text that is no number: a name candidate.
    pub fn text_like(&self) -> bool {
        self.filled > 0 && self.text_share >= 0.8
    }
}

/// 1, 2, 3, … (allowing the odd gap): a row counter, not an SKU.
pub(super) fn is_running_sequence(texts: &[Cow<'_, str>]) -> bool {
    if texts.len() < 3 {
        return false;
    }
    let numbers: Vec<i64> = texts
        .iter()
        .filter_map(|t| t.trim_end_matches('.').parse().ok())
        .collect();
    if numbers.len() * 10 < texts.len() * 9 {
        return false;
    }
    let steps = numbers.windows(2).filter(|w| w[1] == w[0] + 1).count();
    steps * 10 >= (numbers.len() - 1) * 8 && numbers.first().is_some_and(|&n| (0..=2).contains(&n))
}

/// Integers that are codes, not amounts: one with a leading zero (`00123`), consecutive numbers
/// (`1001`, `1002`, … — prices never count up), or three or more of one length of six digits or
/// more (`100234`, `100871`).
pub(super) fn is_numeric_code(texts: &[Cow<'_, str>]) -> bool {
    if texts.is_empty()
        || !texts
            .iter()
            .all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if texts.iter().any(|t| t.len() > 1 && t.starts_with('0')) {
        return true;
    }
    let first_len = texts[0].len();
    if texts.len() >= 3 && first_len >= 6 && texts.iter().all(|t| t.len() == first_len) {
        return true;
    }
    let numbers: Vec<u64> = texts.iter().filter_map(|t| t.parse().ok()).collect();
    numbers.len() >= 3 && numbers.windows(2).filter(|w| w[1] == w[0] + 1).count() * 10 >= (numbers.len() - 1) * 8
}

/// Which of two price columns is the lower one, row by row: `Some(true)` when `a` is at most
/// `b` in nearly every row holding both (and `b` at most three times `a`: two prices of one
/// item, not a price and a quantity), `Some(false)` for the reverse, `None` when they cross,
/// are equal, or are too far apart.
pub(super) fn lower_of(sample: &[&RawRow], a: usize, b: usize) -> Option<bool> {
    let price = |row: &RawRow, col: usize| row.cells.get(col).and_then(|c| parse_price(c).ok()).map(|p| p.value);
    let three = Decimal::from(3);
    let (mut both, mut a_lower, mut b_lower, mut equal) = (0usize, 0usize, 0usize, 0usize);
    for row in sample {
        let (Some(x), Some(y)) = (price(row, a), price(row, b)) else {
            continue;
        };
        both += 1;
        if x == y {
            equal += 1;
        } else if x < y && y <= x * three {
            a_lower += 1;
        } else if y < x && x <= y * three {
            b_lower += 1;
        }
    }
    if both < 2 {
        return None;
    }
    if a_lower > 0 && (a_lower + equal) * 10 >= both * 8 {
        Some(true)
    } else if b_lower > 0 && (b_lower + equal) * 10 >= both * 8 {
        Some(false)
    } else {
        None
    }
}
