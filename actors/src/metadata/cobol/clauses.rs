//! One statement into one item: level, name and clauses (PIC, USAGE, OCCURS, REDEFINES, SIGN,
//! VALUE), in any order, as COBOL allows.

use super::picture::{self, Picture, Usage};
use super::source::Statement;

/// Where a separate or embedded sign sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignPosition {
    Leading,
    Trailing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurs {
    pub min: u32,
    pub max: u32,
    pub depending_on: Option<String>,
}

/// One value of an 88 level: a literal or a `THRU` range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionValue {
    One(String),
    Range(String, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub level: u8,
    pub name: String,
    pub filler: bool,
    pub picture_text: Option<String>,
    pub picture: Option<Picture>,
    pub usage: Option<Usage>,
    pub sign: Option<(SignPosition, bool)>,
    pub occurs: Option<Occurs>,
    pub redefines: Option<String>,
    pub values: Vec<ConditionValue>,
    pub line_start: u32,
    pub line_end: u32,
}

/// Why a statement could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClauseError {
    pub line: u32,
    pub message: String,
}

/// Largest OCCURS accepted: a table of more is a broken copybook, not a record.
const MAX_OCCURS: u32 = 1_000_000;

/// Words that end a clause's list of names or literals.
fn is_clause_word(word: &str) -> bool {
    matches!(
        word,
        "PIC"
            | "PICTURE"
            | "USAGE"
            | "REDEFINES"
            | "OCCURS"
            | "SIGN"
            | "LEADING"
            | "TRAILING"
            | "VALUE"
            | "VALUES"
            | "JUSTIFIED"
            | "JUST"
            | "BLANK"
            | "SYNC"
            | "SYNCHRONIZED"
            | "INDEXED"
            | "ASCENDING"
            | "DESCENDING"
            | "DEPENDING"
            | "GLOBAL"
            | "EXTERNAL"
    ) || Usage::from_word(word).is_some()
}

/// Splits a statement into words, keeping quoted literals whole.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(q) => {
                current.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                current.push(c);
                quote = Some(c);
            }
            None if c.is_whitespace() => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            None => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

pub fn item(statement: &Statement) -> Result<Item, ClauseError> {
    let fail = |message: String| ClauseError {
        line: statement.line_start,
        message,
    };
    let words = words(&statement.text);
    let upper: Vec<String> = words
        .iter()
        .map(|w| {
            if w.starts_with(['\'', '"']) {
                w.clone()
            } else {
                w.to_ascii_uppercase()
            }
        })
        .collect();
    let level: u8 = upper
        .first()
        .and_then(|w| w.parse().ok())
        .filter(|l| matches!(l, 1..=49 | 66 | 77 | 88))
        .ok_or_else(|| fail(format!("{:?} does not start with a level number", statement.text)))?;
    let mut i = 1;
    let (name, filler) = match upper.get(1) {
        Some(w) if w == "FILLER" => {
            i = 2;
            ("FILLER".to_owned(), true)
        }
        Some(w) if !is_clause_word(w) => {
            i = 2;
            (w.clone(), false)
        }
        _ => ("FILLER".to_owned(), true),
    };
    let mut item = Item {
        level,
        name,
        filler,
        picture_text: None,
        picture: None,
        usage: None,
        sign: None,
        occurs: None,
        redefines: None,
        values: Vec::new(),
        line_start: statement.line_start,
        line_end: statement.line_end,
    };
    let next = |i: &mut usize| -> Option<String> {
        let w = upper.get(*i).cloned();
        *i += 1;
        w
    };
    let skip_word = |i: &mut usize, word: &str| {
        if upper.get(*i).map(String::as_str) == Some(word) {
            *i += 1;
        }
    };
    let number = |w: Option<String>, what: &str| -> Result<u32, ClauseError> {
        w.as_deref()
            .and_then(|w| w.parse().ok())
            .filter(|n| *n <= MAX_OCCURS)
            .ok_or_else(|| fail(format!("{what}: expected a number, found {w:?}")))
    };
    while let Some(word) = next(&mut i) {
        match word.as_str() {
            "PIC" | "PICTURE" => {
                skip_word(&mut i, "IS");
                let text = words
                    .get(i)
                    .cloned()
                    .ok_or_else(|| fail("PIC without a picture".into()))?;
                i += 1;
                let parsed = picture::parse(&text).map_err(|e| fail(e.to_string()))?;
                item.picture_text = Some(text.to_ascii_uppercase());
                item.picture = Some(parsed);
            }
            "USAGE" => {
                skip_word(&mut i, "IS");
                let w = next(&mut i).unwrap_or_default();
                item.usage = Some(Usage::from_word(&w).ok_or_else(|| fail(format!("unknown USAGE {w}")))?);
            }
            "REDEFINES" => item.redefines = next(&mut i),
            "OCCURS" => {
                let first = number(next(&mut i), "OCCURS")?;
                let mut occurs = Occurs {
                    min: first,
                    max: first,
                    depending_on: None,
                };
                if upper.get(i).map(String::as_str) == Some("TO") {
                    i += 1;
                    occurs.max = number(next(&mut i), "OCCURS … TO")?;
                }
                skip_word(&mut i, "TIMES");
                item.occurs = Some(occurs);
            }
            "DEPENDING" => {
                skip_word(&mut i, "ON");
                let on = next(&mut i);
                if let Some(occurs) = &mut item.occurs {
                    occurs.depending_on = on;
                }
            }
            "INDEXED" | "ASCENDING" | "DESCENDING" => {
                // Keys and index names: nothing about storage.
                while upper.get(i).is_some_and(|w| !is_clause_word(w)) {
                    i += 1;
                }
            }
            "SIGN" | "LEADING" | "TRAILING" => {
                let position = if word == "SIGN" {
                    skip_word(&mut i, "IS");
                    next(&mut i).unwrap_or_default()
                } else {
                    word.clone()
                };
                let position = match position.as_str() {
                    "LEADING" => SignPosition::Leading,
                    "TRAILING" => SignPosition::Trailing,
                    other => return Err(fail(format!("SIGN {other}: expected LEADING or TRAILING"))),
                };
                let separate = upper.get(i).map(String::as_str) == Some("SEPARATE");
                if separate {
                    i += 1;
                    skip_word(&mut i, "CHARACTER");
                }
                item.sign = Some((position, separate));
            }
            "VALUE" | "VALUES" => {
                skip_word(&mut i, "IS");
                skip_word(&mut i, "ARE");
                while let Some(w) = upper.get(i).filter(|w| !is_clause_word(w)).cloned() {
                    i += 1;
                    if (w == "THRU" || w == "THROUGH")
                        && let Some(ConditionValue::One(from)) = item.values.pop()
                    {
                        let to = next(&mut i).unwrap_or_default();
                        item.values.push(ConditionValue::Range(from, to));
                        continue;
                    }
                    item.values.push(ConditionValue::One(w));
                }
            }
            "JUSTIFIED" | "JUST" => skip_word(&mut i, "RIGHT"),
            "BLANK" => {
                skip_word(&mut i, "WHEN");
                i += 1;
            }
            "SYNC" | "SYNCHRONIZED" => {
                if matches!(upper.get(i).map(String::as_str), Some("LEFT" | "RIGHT")) {
                    i += 1;
                }
            }
            "GLOBAL" | "EXTERNAL" | "IS" => {}
            w => match Usage::from_word(w) {
                Some(usage) => item.usage = Some(usage),
                None => return Err(fail(format!("unexpected {w:?} in {:?}", statement.text))),
            },
        }
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Item {
        item(&Statement {
            text: text.into(),
            line_start: 1,
            line_end: 1,
        })
        .unwrap()
    }

    #[test]
    fn clauses_in_any_order() {
        let i = read("05 AMOUNTS OCCURS 1 TO 12 TIMES DEPENDING ON N-AMT PIC S9(7)V99 COMP-3");
        assert_eq!(i.name, "AMOUNTS");
        assert_eq!(i.usage, Some(Usage::Packed));
        let o = i.occurs.unwrap();
        assert_eq!((o.min, o.max, o.depending_on.as_deref()), (1, 12, Some("N-AMT")));
        let s = read("10 NUM PIC S9(9) SIGN IS LEADING SEPARATE CHARACTER");
        assert_eq!(s.sign, Some((SignPosition::Leading, true)));
        let r = read("05 DEPT REDEFINES COMPANY");
        assert_eq!(r.redefines.as_deref(), Some("COMPANY"));
        let f = read("05 PIC X(3)");
        assert!(f.filler);
    }

    #[test]
    fn condition_values_and_ranges() {
        let c = read("88 VALID-CODE VALUES ARE 'A' 'B' 1 THRU 9");
        assert_eq!(
            c.values,
            [
                ConditionValue::One("'A'".into()),
                ConditionValue::One("'B'".into()),
                ConditionValue::Range("1".into(), "9".into())
            ]
        );
    }

    #[test]
    fn nonsense_is_an_error_with_its_line() {
        let bad = |t: &str| {
            item(&Statement {
                text: t.into(),
                line_start: 7,
                line_end: 7,
            })
            .unwrap_err()
        };
        assert_eq!(bad("RECORD PIC X").line, 7);
        assert!(bad("05 A PIC X(3) FROBNICATE").message.contains("FROBNICATE"));
        assert!(bad("05 A OCCURS MANY").message.contains("OCCURS"));
    }
}
