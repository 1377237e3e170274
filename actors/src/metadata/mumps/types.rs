//! FileMan field type codes (piece 2 of a field's 0 node) decoded: `RP2'` is a required pointer
//! to file 2, `NJ4,0` a number four wide without decimals, `850.01` a multiple kept in subfile
//! 850.01 — or a word-processing field when that subfile's .01 is typed `W`.

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    FreeText,
    Numeric { width: Option<u32>, decimals: Option<u32> },
    Date,
    SetOfCodes,
    Pointer { file: String },
    VariablePointer,
    WordProcessing { subfile: Option<String> },
    Computed,
    Mumps,
    Multiple { subfile: String },
    Unknown,
}

impl FieldType {
    /// Decodes a type code; `word_processing(subfile)` says whether a subfile holds text lines.
    pub fn decode(code: &str, word_processing: impl Fn(&str) -> bool) -> Self {
        if let Some(subfile) = leading_number(code) {
            return if word_processing(subfile) {
                FieldType::WordProcessing {
                    subfile: Some(subfile.to_owned()),
                }
            } else {
                FieldType::Multiple {
                    subfile: subfile.to_owned(),
                }
            };
        }
        if let Some(at) = code.find('P') {
            let file: String = code[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            if !file.is_empty() {
                return FieldType::Pointer { file };
            }
        }
        // Flags share the code with the type letter (R required, I uneditable, X transform
        // edited, ' no LAYGO, * screened, M asked again, O output transform, a/e audited), so the
        // type is the first letter that is one; C before D and B: `DC` is a computed date.
        if code.contains('V') {
            FieldType::VariablePointer
        } else if code.contains('C') {
            FieldType::Computed
        } else if code.contains('S') {
            FieldType::SetOfCodes
        } else if code.contains('W') {
            FieldType::WordProcessing { subfile: None }
        } else if code.contains('K') {
            FieldType::Mumps
        } else if code.contains('D') {
            FieldType::Date
        } else if code.contains('N') {
            let (width, decimals) = numeric_format(code);
            FieldType::Numeric { width, decimals }
        } else if code.contains('F') {
            FieldType::FreeText
        } else {
            FieldType::Unknown
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            FieldType::FreeText => "free_text",
            FieldType::Numeric { .. } => "numeric",
            FieldType::Date => "date",
            FieldType::SetOfCodes => "set_of_codes",
            FieldType::Pointer { .. } => "pointer",
            FieldType::VariablePointer => "variable_pointer",
            FieldType::WordProcessing { .. } => "word_processing",
            FieldType::Computed => "computed",
            FieldType::Mumps => "mumps",
            FieldType::Multiple { .. } => "multiple",
            FieldType::Unknown => "unknown",
        }
    }
}

/// The subfile number a multiple's code starts with (`850.01`, `2048.01P`), if any.
pub fn leading_number(code: &str) -> Option<&str> {
    let end = code
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map_or(code.len(), |(i, _)| i);
    let number = &code[..end];
    number.chars().any(|c| c.is_ascii_digit()).then_some(number)
}

/// `NJ8,2`: eight wide, two decimals.
fn numeric_format(code: &str) -> (Option<u32>, Option<u32>) {
    let Some(at) = code.find('J') else { return (None, None) };
    let spec: String = code[at + 1..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .collect();
    let mut parts = spec.split(',');
    let width = parts.next().and_then(|w| w.parse().ok());
    let decimals = parts.next().and_then(|d| d.parse().ok());
    (width, decimals)
}

/// `Y:YES;N:NO;` as `{"Y": "YES", "N": "NO"}`.
pub fn set_codes(text: &str) -> Map<String, Value> {
    text.split(';')
        .filter_map(|pair| pair.split_once(':'))
        .map(|(code, label)| (code.to_owned(), json!(label)))
        .collect()
}
