//! PICTURE strings and USAGE: what a field holds and how many bytes it takes, by the rules
//! IBM compilers (and Cobrix) follow.

use serde::Serialize;

/// How a field's value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    Display,
    /// COMP, COMP-4, COMP-5, COMP-0, BINARY.
    Binary,
    /// COMP-3, PACKED-DECIMAL.
    Packed,
    /// COMP-1.
    Float,
    /// COMP-2.
    Double,
    National,
    Pointer,
}

impl Usage {
    /// The usage a word names, if it names one.
    pub fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "DISPLAY" => Self::Display,
            "COMP" | "COMPUTATIONAL" | "COMP-4" | "COMPUTATIONAL-4" | "COMP-5" | "COMPUTATIONAL-5" | "COMP-0"
            | "COMPUTATIONAL-0" | "BINARY" | "COMP-9" => Self::Binary,
            "COMP-3" | "COMPUTATIONAL-3" | "PACKED-DECIMAL" => Self::Packed,
            "COMP-1" | "COMPUTATIONAL-1" => Self::Float,
            "COMP-2" | "COMPUTATIONAL-2" => Self::Double,
            "NATIONAL" => Self::National,
            "POINTER" => Self::Pointer,
            _ => return None,
        })
    }
}

/// What a PICTURE says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// The picture with its repetitions expanded (`S9(3)V99` → `S999V99`).
    pub expanded: String,
    /// Digit positions (`9`), all of them.
    pub digits: u32,
    /// Digit positions right of the decimal point (`V` or an edited `.`).
    pub scale: u32,
    pub signed: bool,
    /// Character positions a DISPLAY field takes (`S`, `V` and `P` take none).
    pub positions: u32,
    /// Positions that take two bytes (`N`).
    pub national: u32,
    pub class: PictureClass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PictureClass {
    Alphanumeric,
    Alphabetic,
    National,
    Numeric,
    /// Editing symbols (`Z`, `+`, `,`, `.`, `CR`…): a number formatted for print.
    NumericEdited,
}

/// Why a PICTURE cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PIC {picture}: {why}")]
pub struct PictureError {
    pub picture: String,
    pub why: String,
}

/// Longest expanded picture accepted: a field of a million positions is no copybook's.
const MAX_POSITIONS: u32 = 1_000_000;

pub fn parse(picture: &str) -> Result<Picture, PictureError> {
    let fail = |why: &str| PictureError {
        picture: picture.to_owned(),
        why: why.to_owned(),
    };
    let upper = picture.to_ascii_uppercase();
    let mut expanded = String::new();
    let chars: Vec<char> = upper.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '(' {
            let close = chars[i..]
                .iter()
                .position(|&c| c == ')')
                .ok_or_else(|| fail("unclosed ("))?
                + i;
            let count: u32 = chars[i + 1..close]
                .iter()
                .collect::<String>()
                .trim()
                .parse()
                .map_err(|_| fail("the repeat count is not a number"))?;
            let last = expanded
                .pop()
                .ok_or_else(|| fail("a repeat count with nothing to repeat"))?;
            if count == 0 || count > MAX_POSITIONS || expanded.len() as u32 + count > MAX_POSITIONS {
                return Err(fail("the repeat count is out of range"));
            }
            expanded.extend(std::iter::repeat_n(last, count as usize));
            i = close + 1;
            continue;
        }
        expanded.push(c);
        i += 1;
    }
    if expanded.is_empty() {
        return Err(fail("empty"));
    }
    let (mut digits, mut scale, mut positions, mut national) = (0u32, 0u32, 0u32, 0u32);
    let (mut signed, mut after_point) = (false, false);
    let (mut has_x, mut has_a, mut edited) = (false, false, false);
    let symbols: Vec<char> = expanded.chars().collect();
    let mut j = 0;
    while j < symbols.len() {
        let c = symbols[j];
        match c {
            '9' => {
                digits += 1;
                positions += 1;
                if after_point {
                    scale += 1;
                }
            }
            'S' => signed = true,
            'V' => after_point = true,
            'P' => {}
            'X' => {
                has_x = true;
                positions += 1;
            }
            'A' => {
                has_a = true;
                positions += 1;
            }
            'N' | 'G' => {
                national += 1;
                positions += 1;
            }
            'Z' | '*' => {
                edited = true;
                positions += 1;
                if after_point {
                    scale += 1;
                }
                digits += 1;
            }
            '.' => {
                edited = true;
                after_point = true;
                positions += 1;
            }
            '+' | '-' | ',' | 'B' | '0' | '/' | '$' | 'E' => {
                edited = true;
                positions += 1;
            }
            'C' if symbols.get(j + 1) == Some(&'R') => {
                edited = true;
                positions += 2;
                j += 1;
            }
            'D' if symbols.get(j + 1) == Some(&'B') => {
                edited = true;
                positions += 2;
                j += 1;
            }
            _ => return Err(fail(&format!("unknown symbol {c:?}"))),
        }
        j += 1;
    }
    let class = if national > 0 && !has_x {
        PictureClass::National
    } else if has_x || (has_a && digits > 0) {
        PictureClass::Alphanumeric
    } else if has_a {
        PictureClass::Alphabetic
    } else if edited {
        PictureClass::NumericEdited
    } else {
        PictureClass::Numeric
    };
    Ok(Picture {
        expanded,
        digits,
        scale,
        signed,
        positions,
        national,
        class,
    })
}

/// Bytes of a binary integer of `digits` decimal digits: the IBM halfword, fullword and
/// doubleword up to 18 digits, then as many bytes as the value needs with its sign.
pub fn binary_bytes(digits: u32) -> u32 {
    match digits {
        0..=4 => 2,
        5..=9 => 4,
        10..=18 => 8,
        d => ((f64::from(d) * std::f64::consts::LOG2_10 + 1.0) / 8.0).ceil() as u32,
    }
}

/// Bytes a field of this picture takes with this usage.
pub fn storage_bytes(picture: Option<&Picture>, usage: Usage, sign_separate: bool) -> u32 {
    match (usage, picture) {
        (Usage::Float, _) => 4,
        (Usage::Double, _) => 8,
        (Usage::Pointer, _) => 4,
        (_, None) => 0,
        (Usage::Binary, Some(p)) => binary_bytes(p.digits),
        (Usage::Packed, Some(p)) => p.digits / 2 + 1,
        (Usage::National, Some(p)) => p.positions * 2,
        (Usage::Display, Some(p)) => p.positions + p.national + u32::from(sign_separate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(pic: &str, usage: Usage, separate: bool) -> u32 {
        storage_bytes(Some(&parse(pic).unwrap()), usage, separate)
    }

    #[test]
    fn sizes_follow_the_ibm_rules() {
        assert_eq!(bytes("X(10)", Usage::Display, false), 10);
        assert_eq!(bytes("S9(9)", Usage::Display, true), 10, "sign separate takes a byte");
        assert_eq!(bytes("9(18)V9(10)", Usage::Packed, false), 15);
        assert_eq!(bytes("9(5)PPP", Usage::Packed, false), 3, "P positions take no space");
        assert_eq!(bytes("9(1)", Usage::Binary, false), 2);
        assert_eq!(bytes("9(9)", Usage::Binary, false), 4);
        assert_eq!(bytes("9(19)", Usage::Binary, false), 9);
        assert_eq!(bytes("9(18)V9(10)", Usage::Binary, false), 12);
        assert_eq!(bytes("9(37)", Usage::Binary, false), 16);
        assert_eq!(bytes("Z(6)VZZ-", Usage::Display, false), 9);
        assert_eq!(bytes("9(6).99-", Usage::Display, false), 10);
        assert_eq!(bytes("+ZZZ,ZZZ,ZZZ.99", Usage::Display, false), 15);
        assert_eq!(bytes("9(5)CR", Usage::Display, false), 7);
        assert_eq!(
            bytes("N(5)", Usage::Display, false),
            10,
            "national characters take two bytes"
        );
    }

    #[test]
    fn pictures_say_digits_scale_sign_and_class() {
        let p = parse("s9(7)v99").unwrap();
        assert_eq!(
            (p.digits, p.scale, p.signed, p.class),
            (9, 2, true, PictureClass::Numeric)
        );
        assert_eq!(parse("+ZZZ,ZZZ,ZZZ.99").unwrap().class, PictureClass::NumericEdited);
        assert_eq!(parse("A(3)").unwrap().class, PictureClass::Alphabetic);
        assert!(parse("X(0)").is_err());
        assert!(parse("9(99999999999)").is_err());
        assert!(parse("X(3").is_err());
        assert!(parse("Q").is_err());
    }
}
