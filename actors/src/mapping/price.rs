//! Reading a price the way suppliers write it: `1234.5`, `1 234,50`, `1,234.50`, `1.234,50`,
//! `$12.99`, `12,5 руб.`, `12.00 BYN`, `€ 9,99`.
//!
//! The rules, in order:
//! 1. Text that asks for a quote (`по запросу`, `on request`, `call`, `—`) is not a price.
//! 2. Currency signs and codes before or after the number are removed and reported.
//! 3. Spaces, no-break spaces and apostrophes between digits are thousands separators.
//! 4. With both `.` and `,` present, the one that comes last is the decimal separator.
//!    With only one kind: several occurrences are thousands separators; a single `,` followed by
//!    exactly three digits is a thousands separator (`1,234`); any other single one is decimal.
//! 5. A leading `-` or accounting parentheses make it negative, which the validator rejects.
//! 6. The value is rounded half away from zero to two decimals by [`crate::domain::Price`].

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::table::Cell;

/// Why a cell is not a price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceProblem {
    Empty,
    OnRequest,
    NotANumber,
}

/// Currency signs and codes, and the ISO code each stands for. Longer spellings come first so
/// that `руб.` is removed whole rather than leaving a dot behind.
const CURRENCIES: &[(&str, &str)] = &[
    ("рублей", "RUB"),
    ("руб.", "RUB"),
    ("руб", "RUB"),
    ("р.", "RUB"),
    ("₽", "RUB"),
    ("rub", "RUB"),
    ("грн.", "UAH"),
    ("грн", "UAH"),
    ("₴", "UAH"),
    ("uah", "UAH"),
    ("бел. руб.", "BYN"),
    ("byn", "BYN"),
    ("byr", "BYN"),
    ("тенге", "KZT"),
    ("₸", "KZT"),
    ("kzt", "KZT"),
    ("usd", "USD"),
    ("us$", "USD"),
    ("$", "USD"),
    ("eur", "EUR"),
    ("€", "EUR"),
    ("gbp", "GBP"),
    ("£", "GBP"),
    ("pln", "PLN"),
    ("zł", "PLN"),
    ("cny", "CNY"),
    ("¥", "CNY"),
    ("р", "RUB"),
];

/// Words that stand where a price would when the supplier quotes on request.
const ON_REQUEST: &[&str] = &[
    "по запросу",
    "по запиту",
    "под заказ",
    "договорная",
    "договірна",
    "on request",
    "upon request",
    "price on request",
    "call",
    "call for price",
    "n/a",
    "tbd",
    "—",
    "–",
    "-",
    "--",
    "?",
];

/// A price read from a cell, with the currency its text named, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPrice {
    pub value: Decimal,
    pub currency: Option<&'static str>,
}

pub fn parse_price(cell: &Cell) -> Result<ParsedPrice, PriceProblem> {
    match cell {
        Cell::Empty => Err(PriceProblem::Empty),
        Cell::Number(n) if n.is_finite() => {
            // Through the shortest decimal text that reads back to the same float, so 1.005
            // stays 1.005 instead of 1.00499999….
            Decimal::from_str(&format!("{n}"))
                .or_else(|_| Decimal::from_scientific(&format!("{n:e}")))
                .map(|value| ParsedPrice { value, currency: None })
                .map_err(|_| PriceProblem::NotANumber)
        }
        Cell::Number(_) | Cell::Bool(_) | Cell::Date(_) => Err(PriceProblem::NotANumber),
        Cell::Text(text) => parse_price_text(text),
    }
}

pub fn parse_price_text(text: &str) -> Result<ParsedPrice, PriceProblem> {
    let trimmed = text.trim();
    // Most prices are plain `1234` or `1234.50`: read them without any rewriting.
    let mut dots = 0;
    let plain = !trimmed.is_empty()
        && trimmed.bytes().all(|b| {
            dots += usize::from(b == b'.');
            b.is_ascii_digit() || b == b'.'
        })
        && dots <= 1
        && trimmed.as_bytes()[0] != b'.';
    if plain && let Ok(value) = Decimal::from_str(trimmed) {
        return Ok(ParsedPrice { value, currency: None });
    }
    let lowered = trimmed.to_lowercase();
    if lowered.is_empty() {
        return Err(PriceProblem::Empty);
    }
    if ON_REQUEST.contains(&lowered.as_str()) || lowered.starts_with("по запрос") {
        return Err(PriceProblem::OnRequest);
    }

    let (mut body, currency) = strip_currency(&lowered);
    body = body.trim().to_owned();

    let mut negative = false;
    if body.starts_with('(') && body.ends_with(')') && body.len() > 2 {
        negative = true;
        body = body[1..body.len() - 1].trim().to_owned();
    }
    if let Some(rest) = body.strip_prefix(['-', '−']) {
        negative = true;
        body = rest.trim().to_owned();
    }
    if let Some(rest) = body.strip_prefix('+') {
        body = rest.trim().to_owned();
    }

    let number = normalise_separators(&body).ok_or(PriceProblem::NotANumber)?;
    let mut value = Decimal::from_str(&number).map_err(|_| PriceProblem::NotANumber)?;
    if negative {
        value.set_sign_negative(true);
    }
    Ok(ParsedPrice { value, currency })
}

/// Removes one currency sign or code from either end.
fn strip_currency(text: &str) -> (String, Option<&'static str>) {
    for (sign, code) in CURRENCIES {
        if let Some(rest) = text.strip_suffix(sign) {
            // A code glued to a letter is part of a word, not a currency ("abcusd").
            if sign.chars().all(|c| c.is_alphabetic() || c == '.')
                && rest.chars().last().is_some_and(|c| c.is_alphabetic())
            {
                continue;
            }
            return (rest.to_owned(), Some(code));
        }
        if let Some(rest) = text.strip_prefix(sign) {
            if sign.chars().all(|c| c.is_alphabetic() || c == '.')
                && rest.chars().next().is_some_and(|c| c.is_alphabetic())
            {
                continue;
            }
            return (rest.to_owned(), Some(code));
        }
    }
    (text.to_owned(), None)
}

/// Rewrites `1 234,50` / `1.234,50` / `1,234.50` as `1234.50`; `None` if it is not a number.
fn normalise_separators(body: &str) -> Option<String> {
    // Thousands separators that are never decimal separators.
    let compact: String = body
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}' | '\'' | '’'))
        .collect();
    if compact.is_empty() {
        return None;
    }
    if !compact.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',') {
        return None;
    }
    if !compact.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }

    let dots = compact.matches('.').count();
    let commas = compact.matches(',').count();
    let normalised = match (dots, commas) {
        (0, 0) => compact,
        (_, 0) if dots > 1 => compact.replace('.', ""),
        (_, 0) => compact,
        (0, _) if commas > 1 => compact.replace(',', ""),
        (0, _) => {
            let after = compact.len() - compact.find(',').map_or(0, |i| i + 1);
            if after == 3 && !compact.starts_with(',') {
                compact.replace(',', "")
            } else {
                compact.replace(',', ".")
            }
        }
        _ => {
            let last_dot = compact.rfind('.')?;
            let last_comma = compact.rfind(',')?;
            if last_comma > last_dot {
                // 1.234,50
                if commas > 1 {
                    return None;
                }
                compact.replace('.', "").replace(',', ".")
            } else {
                // 1,234.50
                if dots > 1 {
                    return None;
                }
                compact.replace(',', "")
            }
        }
    };
    Some(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> String {
        parse_price_text(text)
            .unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
            .value
            .to_string()
    }

    #[test]
    fn locale_formats() {
        assert_eq!(value("1234.5"), "1234.5");
        assert_eq!(value("1 234,50"), "1234.50");
        assert_eq!(value("1\u{a0}234,50"), "1234.50");
        assert_eq!(value("1,234.50"), "1234.50");
        assert_eq!(value("1.234,50"), "1234.50");
        assert_eq!(value("1.234.567"), "1234567");
        assert_eq!(value("1,234"), "1234");
        assert_eq!(value("12,5"), "12.5");
        assert_eq!(value("0"), "0");
        assert_eq!(value("1'234.50"), "1234.50");
    }

    #[test]
    fn currency_signs_and_codes() {
        let p = parse_price_text("$12.99").unwrap();
        assert_eq!((p.value.to_string().as_str(), p.currency), ("12.99", Some("USD")));
        let p = parse_price_text("12,5 руб.").unwrap();
        assert_eq!((p.value.to_string().as_str(), p.currency), ("12.5", Some("RUB")));
        let p = parse_price_text("12.00 BYN").unwrap();
        assert_eq!((p.value.to_string().as_str(), p.currency), ("12.00", Some("BYN")));
        let p = parse_price_text("€ 9,99").unwrap();
        assert_eq!((p.value.to_string().as_str(), p.currency), ("9.99", Some("EUR")));
        let p = parse_price_text("150 грн").unwrap();
        assert_eq!(p.currency, Some("UAH"));
    }

    #[test]
    fn quotes_on_request_are_not_prices() {
        for text in ["по запросу", "По запиту", "on request", "Call", "—"] {
            assert_eq!(parse_price_text(text), Err(PriceProblem::OnRequest), "{text}");
        }
    }

    #[test]
    fn garbage_is_not_a_number() {
        for text in ["abc", "12abc", "1.2.3,4,5", "..", "1,2,3.4.5", "12 кг"] {
            assert_eq!(parse_price_text(text), Err(PriceProblem::NotANumber), "{text}");
        }
    }

    #[test]
    fn negatives_are_read_as_negative() {
        assert!(parse_price_text("-5").unwrap().value.is_sign_negative());
        assert!(parse_price_text("(5.00)").unwrap().value.is_sign_negative());
    }

    #[test]
    fn numeric_cells_keep_the_typed_digits() {
        let p = parse_price(&Cell::Number(1.005)).unwrap();
        assert_eq!(p.value.to_string(), "1.005");
        let p = parse_price(&Cell::Number(1234.56)).unwrap();
        assert_eq!(p.value.to_string(), "1234.56");
        assert_eq!(parse_price(&Cell::Number(f64::NAN)), Err(PriceProblem::NotANumber));
    }

    /// Every format the module comment accepts, generated from a decimal and read back.
    mod round_trip {
        use proptest::prelude::*;

        use super::*;

        /// `1234567` grouped by thousands with `sep`: `1 234 567`.
        fn grouped(int: u64, sep: &str) -> String {
            let digits = int.to_string();
            let mut out = String::with_capacity(digits.len() * 2);
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    out.push_str(sep);
                }
                out.push(c);
            }
            out
        }

        /// The value written every way suppliers write it (always with two decimals where
        /// thousands separators are used: `1.234` alone reads as one point two three four).
        fn spellings(int: u64, cents: u32) -> Vec<String> {
            let mut out = vec![format!("{int}.{cents:02}")];
            if cents == 0 {
                out.push(int.to_string());
            } else if cents.is_multiple_of(10) {
                out.push(format!("{int}.{}", cents / 10));
                out.push(format!("{int},{}", cents / 10));
            }
            for (thousands, decimal) in [
                (" ", ","),
                ("\u{a0}", ","),
                ("\u{202f}", ","),
                (",", "."),
                (".", ","),
                ("'", "."),
                ("\u{2019}", "."),
                ("", ","),
            ] {
                let number = format!("{}{decimal}{cents:02}", grouped(int, thousands));
                for currency in ["", "$", "€ ", "£"] {
                    out.push(format!("{currency}{number}"));
                }
                for currency in [" руб.", " USD", " €", " грн", "₽", " BYN"] {
                    out.push(format!("{number}{currency}"));
                }
            }
            out
        }

        proptest! {
            #[test]
            fn every_accepted_format_reads_back_the_same_value(
                int in prop_oneof![0u64..1000, 1000u64..1_000_000, 1_000_000u64..10_000_000_000],
                cents in 0u32..100,
            ) {
                let expected = Decimal::new((int * 100 + u64::from(cents)) as i64, 2);
                for text in spellings(int, cents) {
                    let parsed = parse_price_text(&text);
                    prop_assert!(parsed.is_ok(), "{:?}: {:?}", text, parsed);
                    prop_assert_eq!(parsed.unwrap().value, expected, "{:?}", text);
                }
            }

            #[test]
            fn numeric_cells_read_back_the_same_value(int in 0u64..10_000_000_000, cents in 0u32..100) {
                let expected = Decimal::new((int * 100 + u64::from(cents)) as i64, 2);
                let cell = Cell::Number(format!("{int}.{cents:02}").parse::<f64>().unwrap());
                prop_assert_eq!(parse_price(&cell).unwrap().value, expected);
            }
        }
    }
}
