//! What suppliers call each field, in English, Russian and Ukrainian, and how close a header is
//! to one of those names.
//!
//! Headers and synonyms are compared after [`normalise`]: lowercase, `ё` as `е`, punctuation as
//! spaces, runs of spaces as one. To teach intake a new spelling, add it (normalised) to the
//! list of its field below; `docs/parsers.md` explains the scores.

use crate::domain::Field;

/// Names of each field, normalised.
pub fn synonyms(field: Field) -> &'static [&'static str] {
    match field {
        Field::Sku => &[
            "sku",
            "code",
            "item code",
            "product code",
            "item no",
            "item number",
            "part no",
            "part number",
            "article",
            "art no",
            "vendor code",
            "catalog number",
            "ref",
            "reference",
            "артикул",
            "арт",
            "код",
            "код товара",
            "артикул товара",
            "артикул поставщика",
            "каталожный номер",
            "код товару",
            "код постачальника",
            "id",
            "item id",
            "product id",
            "handle",
            "номенклатурный номер",
        ],
        Field::Name => &[
            "name",
            "product name",
            "item name",
            "product",
            "item",
            "description",
            "title",
            "goods",
            "наименование",
            "наименование товара",
            "название",
            "название товара",
            "товар",
            "номенклатура",
            "продукция",
            "описание",
            "найменування",
            "найменування товару",
            "назва",
            "назва товару",
            "опис",
            "model",
            "модель",
        ],
        Field::Price => &[
            "price",
            "cost",
            "unit price",
            "amount",
            "wholesale",
            "wholesale price",
            "retail",
            "retail price",
            "rrp",
            "msrp",
            "dealer price",
            "srp",
            "ddp",
            "цена",
            "цена за ед",
            "цена за единицу",
            "стоимость",
            "опт",
            "оптовая цена",
            "цена опт",
            "розница",
            "розничная цена",
            "цена розница",
            "ррц",
            "ціна",
            "вартість",
            "оптова ціна",
            "роздрібна ціна",
            "гурт",
            "роздріб",
        ],
        Field::Currency => &["currency", "curr", "валюта"],
        Field::Unit => &[
            "unit",
            "uom",
            "unit of measure",
            "units",
            "ед",
            "ед изм",
            "единица измерения",
            "единица",
            "од",
            "од вим",
            "одиниця виміру",
        ],
        Field::Category => &[
            "category",
            "group",
            "section",
            "категория",
            "группа",
            "раздел",
            "категорія",
            "група",
            "розділ",
        ],
        Field::Availability => &[
            "availability",
            "stock",
            "in stock",
            "qty",
            "quantity",
            "наличие",
            "в наличии",
            "остаток",
            "остатки",
            "количество",
            "кол во",
            "наявність",
            "залишок",
            "кількість",
        ],
    }
}

/// Headers of a running row number (`№`, `#`, `п/п`): never an SKU, never a characteristic.
const RUNNING_NUMBER: &[&str] = &["№", "#", "no", "n", "nn", "п п", "№ п п", "пп", "n п п"];

/// Words that mark a price column as wholesale, retail, or with/without VAT.
const WHOLESALE: &[&str] = &["опт", "оптов", "wholesale", "dealer", "дилер", "закуп", "гурт", "b2b"];
const RETAIL: &[&str] = &["розн", "retail", "rrp", "msrp", "srp", "ррц", "роздр", "b2c"];

/// Lowercases, folds `ё`, turns punctuation into spaces and collapses spaces.
pub fn normalise(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    let mut space = true;
    for c in header.chars() {
        let c = match c {
            'ё' | 'Ё' => 'е',
            '№' | '#' => c,
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        if c == ' ' {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.extend(c.to_lowercase());
            space = false;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

pub fn is_running_number_header(normalised: &str) -> bool {
    RUNNING_NUMBER.contains(&normalised) || normalised.starts_with("№ ") || normalised == "п п" || normalised == "n п"
}

/// Last words that make a header a key (`item_id`, `Part number`, `Номенклатурный номер`).
const KEY_ENDINGS: &[&str] = &["id", "code", "no", "nr", "number", "sku", "номер", "код", "артикул"];

/// Words of a description column: a characteristic when the list also has a name column.
const DESCRIPTION_WORDS: &[&str] = &["description", "desc", "descr", "описание", "опис", "model", "модель"];

/// First letters of words that make a header neither a price nor a name, whatever else it
/// says: a link, a picture, an order minimum (`Ссылка на товар`, `Минимальный заказ опт`).
const NEITHER_PRICE_NOR_NAME: &[&str] = &[
    "ссылк",
    "link",
    "url",
    "image",
    "изображ",
    "фото",
    "photo",
    "заказ",
    "order",
    "минимальн",
    "minimum",
];

/// Whether a (normalised) header names a key: it ends in `id`, `code`, `no`, `number`, `номер`,
/// `код`… Such a column is an SKU candidate and never a name, a price or anything else.
pub fn is_key_header(normalised: &str) -> bool {
    normalised.contains(' ')
        && normalised
            .rsplit(' ')
            .next()
            .is_some_and(|last| KEY_ENDINGS.contains(&last))
}

/// Whether a (normalised) header names a description (`Description`, `Item_Desc`, `Описание`).
pub fn is_description_header(normalised: &str) -> bool {
    normalised.split(' ').any(|w| DESCRIPTION_WORDS.contains(&w))
}

/// The highest confidence a description header gets as a name: above the threshold, so a list
/// whose only text column is `Description` still has names, below every real name synonym.
pub const DESCRIPTION_AS_NAME: f64 = 0.8;

/// How confident we are that `header` (normalised) names `field`, from 0 to 1.
///
/// 1.0 for a synonym exactly; 0.85 to 0.95 when the header starts with a synonym and adds
/// words (`цена руб` 0.9, `price usd` 0.91), more as the synonym covers more of the header; 0.85 when a synonym appears as whole words inside it
/// (`розничная цена с ндс`); otherwise the normalised Levenshtein similarity to the closest
/// synonym, which forgives typos (`наименоване`) but not different words (`цвет` vs `цена`).
///
/// Two rules come first: a key header (see [`is_key_header`]) is an SKU with at least 0.9 and
/// nothing else; a description header is a name with at most [`DESCRIPTION_AS_NAME`].
pub fn score(header: &str, field: Field) -> f64 {
    if header.is_empty() {
        return 0.0;
    }
    if is_key_header(header) {
        return if field == Field::Sku {
            synonym_score(header, field).max(0.9)
        } else {
            0.0
        };
    }
    if matches!(field, Field::Price | Field::Name)
        && header
            .split(' ')
            .any(|w| NEITHER_PRICE_NOR_NAME.iter().any(|stem| w.starts_with(stem)))
    {
        return 0.0;
    }
    if field == Field::Name && is_description_header(header) {
        return synonym_score(header, field).min(DESCRIPTION_AS_NAME);
    }
    synonym_score(header, field)
}

fn synonym_score(header: &str, field: Field) -> f64 {
    let mut best = 0.0f64;
    for synonym in synonyms(field) {
        let s = if header == *synonym {
            1.0
        } else if header.strip_prefix(synonym).is_some_and(|rest| rest.starts_with(' ')) {
            // One-letter or two-letter synonyms only count whole. The more of the header the
            // synonym covers, the surer: `unit price usd` is a price before it is a unit.
            if synonym.chars().count() <= 2 {
                0.0
            } else {
                0.85 + 0.1 * synonym.len() as f64 / header.len() as f64
            }
        } else if synonym.chars().count() > 2 && contains_words(header, synonym) {
            0.85
        } else {
            strsim::normalized_levenshtein(header, synonym)
        };
        best = best.max(s);
        if best >= 1.0 {
            break;
        }
    }
    best
}

fn contains_words(haystack: &str, words: &str) -> bool {
    let hay: Vec<&str> = haystack.split(' ').collect();
    let needle: Vec<&str> = words.split(' ').collect();
    hay.windows(needle.len()).any(|w| w == needle.as_slice())
}

/// What kind of price a price column holds, by the words of its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PriceKind {
    Wholesale,
    Retail,
    Plain,
}

impl PriceKind {
    pub fn of(header: &str) -> Self {
        if WHOLESALE.iter().any(|w| header.contains(w)) {
            PriceKind::Wholesale
        } else if RETAIL.iter().any(|w| header.contains(w)) {
            PriceKind::Retail
        } else {
            PriceKind::Plain
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "wholesale" => Some(Self::Wholesale),
            "retail" => Some(Self::Retail),
            "plain" | "price" => Some(Self::Plain),
            _ => None,
        }
    }
}

/// Whether a price header says the price includes VAT (`с НДС`, `incl. VAT`) or excludes it.
pub fn vat_included(header: &str) -> Option<bool> {
    let without = [
        "без ндс",
        "без пдв",
        "excl vat",
        "excluding vat",
        "net",
        "ex vat",
        "w o vat",
    ];
    let with = [
        "с ндс",
        "з пдв",
        "incl vat",
        "including vat",
        "with vat",
        "gross",
        "вкл ндс",
    ];
    if without.iter().any(|w| header.contains(w)) {
        Some(false)
    } else if with.iter().any(|w| header.contains(w)) {
        Some(true)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_folds_case_punctuation_and_yo() {
        assert_eq!(normalise("  Цена, руб. "), "цена руб");
        assert_eq!(normalise("Ёмкость"), "емкость");
        assert_eq!(normalise("Item-No."), "item no");
        assert_eq!(normalise("№ п/п"), "№ п п");
    }

    #[test]
    fn exact_prefix_and_typo_scores() {
        assert_eq!(score("артикул", Field::Sku), 1.0);
        assert!((score("цена руб", Field::Price) - 0.9).abs() < 0.01);
        assert!(score("unit price usd", Field::Price) > score("unit price usd", Field::Unit));
        assert!(score("розничная цена с ндс", Field::Price) >= 0.85);
        assert!(score("наименоване", Field::Name) > 0.9);
        assert!(score("цвет", Field::Price) < 0.75);
        assert!(score("кол во", Field::Sku) < 0.75);
        assert!(score("product code", Field::Sku) == 1.0);
        assert!(score("description", Field::Name) == DESCRIPTION_AS_NAME);
    }

    #[test]
    fn keys_are_skus_never_names() {
        for header in [
            "item id",
            "id",
            "product id",
            "handle",
            "номенклатурный номер",
            "код товара",
            "каталожный номер",
            "supplier code",
            "part no",
            "catalogue no",
        ] {
            assert!(score(header, Field::Sku) >= 0.9, "{header}");
            assert!(score(header, Field::Name) < 0.75, "{header}");
            assert!(score(header, Field::Price) < 0.75, "{header}");
        }
        assert!(!is_key_header("no"), "a bare No is a running number");
    }

    #[test]
    fn descriptions_lose_to_names() {
        for header in ["description", "описание", "item desc", "product description"] {
            let s = score(header, Field::Name);
            assert!((0.75..=DESCRIPTION_AS_NAME).contains(&s), "{header}: {s}");
        }
        for header in ["name", "название", "наименование", "product name", "title"] {
            assert!(score(header, Field::Name) > DESCRIPTION_AS_NAME, "{header}");
        }
    }

    #[test]
    fn price_kinds() {
        assert_eq!(PriceKind::of("оптовая цена"), PriceKind::Wholesale);
        assert_eq!(PriceKind::of("цена розница"), PriceKind::Retail);
        assert_eq!(PriceKind::of("цена"), PriceKind::Plain);
        assert_eq!(vat_included("цена с ндс"), Some(true));
        assert_eq!(vat_included("цена без ндс"), Some(false));
    }

    #[test]
    fn running_numbers() {
        assert!(is_running_number_header("№"));
        assert!(is_running_number_header("п п"));
    }
}
