//! Words of headers and cells that are not field names: currency and tax notes, quantity
//! bands, subtotal columns and footer rows.

use super::synonyms::normalise;

/// Currency signs and codes a price header may consist of (`€`, `руб.`, `USD`).
const CURRENCY_WORDS: &[&str] = &[
    "€",
    "$",
    "£",
    "₽",
    "₴",
    "₸",
    "¥",
    "руб",
    "рублей",
    "р",
    "грн",
    "тенге",
    "usd",
    "us",
    "eur",
    "euro",
    "rub",
    "uah",
    "byn",
    "kzt",
    "gbp",
    "pln",
    "zł",
    "cny",
];
/// Tax words, and the words that say whether the tax is in (`с НДС`, `excl. VAT`).
const TAX_WORDS: &[&str] = &["ндс", "пдв", "vat", "tax", "gst"];
const TAX_LINKS: &[&str] = &[
    "с",
    "з",
    "без",
    "вкл",
    "включая",
    "в",
    "т",
    "ч",
    "incl",
    "inc",
    "including",
    "excl",
    "exc",
    "excluding",
    "with",
    "without",
    "w",
    "o",
    "ex",
    "plus",
    "net",
    "gross",
];

/// Whether a raw header is only a currency and/or a tax note (`€ без ПДВ`, `$ excl. VAT`,
/// `руб. с НДС`, `USD`): such a column holds prices. A bare `НДС` (the tax amount) is not.
pub fn is_currency_or_tax_note(raw: &str) -> bool {
    let lowered = raw.to_lowercase();
    let (mut currency, mut tax, mut link, mut any) = (false, false, false, false);
    let mut word = String::new();
    let mut check = |w: &str| -> bool {
        if w.is_empty() {
            return true;
        }
        any = true;
        if CURRENCY_WORDS.contains(&w) {
            currency = true;
        } else if TAX_WORDS.contains(&w) {
            tax = true;
        } else if TAX_LINKS.contains(&w) {
            link = true;
        } else {
            return false;
        }
        true
    };
    for c in lowered.chars() {
        if c.is_alphanumeric() {
            word.push(c);
            continue;
        }
        if !check(&word) {
            return false;
        }
        word.clear();
        if matches!(c, '€' | '$' | '£' | '₽' | '₴' | '₸' | '¥') && !check(c.encode_utf8(&mut [0; 4])) {
            return false;
        }
    }
    if !check(&word) {
        return false;
    }
    any && (currency || (tax && link))
}

/// First words of a subtotal column (`Total`, `Сумма`): a row with a name, no price and
/// numbers only there (and in quantities) is a group row, not an item.
const SUBTOTALS: &[&str] = &[
    "total",
    "subtotal",
    "sum",
    "amount",
    "итого",
    "всего",
    "сумма",
    "сума",
    "разом",
    "усього",
    "всього",
];

/// Whether a (normalised) header names a subtotal column.
pub fn is_subtotal_header(normalised: &str) -> bool {
    normalised
        .split(' ')
        .next()
        .is_some_and(|first| SUBTOTALS.contains(&first))
}

/// Words that open a totals or footer row.
const FOOTERS: &[&str] = &[
    "итого",
    "всего",
    "total",
    "subtotal",
    "grand total",
    "разом",
    "усього",
    "всього",
];

/// Whether a (normalised) cell opens a totals or footer row.
pub fn is_footer_text(normalised: &str) -> bool {
    FOOTERS.iter().any(|f| {
        normalised
            .strip_prefix(f)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    })
}

/// [`is_footer_text`] on raw cell text, without allocating for the common item row.
pub fn is_footer_cell(text: &str) -> bool {
    let text = text.trim_start();
    let starts_like_a_footer = text
        .chars()
        .next()
        .is_some_and(|c| matches!(c.to_lowercase().next(), Some('и' | 'в' | 't' | 's' | 'g' | 'р' | 'у')));
    starts_like_a_footer && is_footer_text(&normalise(text))
}

/// Units a quantity band may end with (`12-39кг`, `1-9 pcs`, `от 3тн`).
const BAND_UNITS: &[&str] = &[
    "", "кг", "т", "тн", "г", "шт", "ед", "м", "м2", "м3", "л", "уп", "kg", "t", "g", "pcs", "pc", "units", "m", "l",
];
/// Words that may open a quantity band.
const BAND_OPENERS: &[&str] = &["от", "до", "свыше", "from", "to", "over", "up to", "above"];

/// Whether a raw header is a quantity band (`12-39кг`, `500-1тн`, `от 3тн`, `10+`, `1-9 pcs`):
/// a column of prices for that quantity. The leftmost band of a list is its base price.
pub fn is_quantity_band(raw: &str) -> bool {
    let lowered = raw.trim().to_lowercase();
    let mut rest = lowered.as_str();
    for opener in BAND_OPENERS {
        if let Some(r) = rest
            .strip_prefix(opener)
            .filter(|r| r.starts_with(' ') || r.starts_with(|c: char| c.is_ascii_digit()))
        {
            rest = r.trim_start();
            break;
        }
    }
    let rest = rest.trim_start_matches(['>', '<', '≥', '≤']).trim();
    if !rest.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    let (mut groups, mut range, mut unit) = (0, false, String::new());
    let mut in_number = false;
    for c in rest.chars() {
        if c.is_ascii_digit() {
            if !unit.is_empty() {
                // A unit between two numbers (`500кг-1тн`) is the first number's.
                unit.clear();
            }
            if !in_number {
                groups += 1;
                in_number = true;
            }
        } else if matches!(c, '.' | ',') && in_number {
            // A decimal or thousands separator inside a number.
        } else if matches!(c, '-' | '–' | '—') {
            range = true;
            in_number = false;
        } else if matches!(c, '+' | ' ') {
            in_number = false;
        } else if c.is_alphabetic() {
            in_number = false;
            unit.push(c);
        } else {
            return false;
        }
    }
    let opened = lowered.len() != rest.len();
    let single = groups == 1 && (!unit.is_empty() || rest.ends_with('+') || opened);
    BAND_UNITS.contains(&unit.as_str()) && ((groups == 2 && range) || single)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_and_tax_notes_are_price_headers() {
        for header in [
            "€ без ПДВ",
            "$ excl. VAT",
            "руб. с НДС",
            "USD",
            "₽",
            "в т.ч. НДС",
            "Без НДС",
        ] {
            assert!(is_currency_or_tax_note(header), "{header}");
        }
        for header in ["НДС", "VAT", "Сумма без НДС", "Net", "Цвет", "", "Код, ₽"] {
            assert!(!is_currency_or_tax_note(header), "{header}");
        }
    }

    #[test]
    fn footers() {
        assert!(is_footer_text("итого"));
        assert!(is_footer_text("total 15 items"));
        assert!(!is_footer_text("totally tubular"));
        assert!(is_footer_cell("ИТОГО:"));
        assert!(!is_footer_cell("SP-0001"));
    }

    #[test]
    fn quantity_bands_are_price_headers() {
        for header in [
            "12-39кг",
            "500-1тн",
            "от 3тн",
            "1-3тн",
            "10+",
            "1-9 pcs",
            "from 100 kg",
            "10-20",
            "> 100 шт",
            "1,5-3 т",
        ] {
            assert!(is_quantity_band(header), "{header}");
        }
        for header in [
            "2024",
            "м2",
            "Q1",
            "* (40|200|500)",
            "Цена",
            "",
            "Код 12",
            "1С",
            "100 грн",
            "350.00",
            "1 000,00",
            "12.5",
        ] {
            assert!(!is_quantity_band(header), "{header}");
        }
    }
}
