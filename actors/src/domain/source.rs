//! Where a task's price list comes from and how to read it: the `source_config` of a task message.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The fields a column can be mapped to. Everything unmapped becomes a characteristic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Sku,
    Name,
    Price,
    Currency,
    Unit,
    Category,
    Availability,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::Sku,
        Field::Name,
        Field::Price,
        Field::Currency,
        Field::Unit,
        Field::Category,
        Field::Availability,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sku => "sku",
            Self::Name => "name",
            Self::Price => "price",
            Self::Currency => "currency",
            Self::Unit => "unit",
            Self::Category => "category",
            Self::Availability => "availability",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        let wanted = match wanted.as_str() {
            "stock" => "availability",
            other => other,
        };
        Field::ALL.into_iter().find(|f| f.as_str() == wanted).ok_or_else(|| {
            format!("unknown field {s:?}; expected one of sku, name, price, currency, unit, category, availability")
        })
    }
}

/// A reference to a column as an operator writes it: a 1-based index (`3`), a column letter
/// (`C`) or a header text (`Цена, руб.`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ColumnRef(String);

impl ColumnRef {
    pub fn new(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("a column reference cannot be empty".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 0-based index this reference names when it is a number.
    pub fn as_index(&self) -> Option<usize> {
        self.0.parse::<usize>().ok().filter(|&n| n >= 1).map(|n| n - 1)
    }

    /// The 0-based index this reference names when it reads as a column letter (`A`, `AB`).
    pub fn as_letter_index(&self) -> Option<usize> {
        let s = self.0.as_str();
        if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let mut n = 0usize;
        for b in s.bytes() {
            n = n * 26 + usize::from(b.to_ascii_uppercase() - b'A' + 1);
        }
        Some(n - 1)
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How to find and read a price list. Which fields apply depends on the parser type; unknown
/// fields are an error so that a misspelt option is never silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A file the worker can read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// An http(s) URL of a file (csv, xlsx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A Google Sheets URL or spreadsheet id (google_sheets).
    #[serde(default, alias = "sheet_url", skip_serializing_if = "Option::is_none")]
    pub spreadsheet: Option<String>,
    /// One sheet (tab) to read, by name or 1-based index; every recognised sheet when absent.
    #[serde(default, alias = "sheet_name", skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// An A1 range within the sheet (google_sheets), such as `A1:H5000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    /// Manual overrides: field → column. They win over detection.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub column_mapping: BTreeMap<Field, ColumnRef>,
    /// Only these columns become characteristics (all unmapped ones when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub characteristic_columns: Option<Vec<ColumnRef>>,
    /// The 1-based row that holds the header, when detection should not guess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_row: Option<u32>,
    /// The 1-based first data row, when it does not follow the header directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_start_row: Option<u32>,
    /// The text encoding of a csv file (`utf-8`, `windows-1251`, …); detected when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The csv field delimiter; detected when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// The source is a part of the supplier's offer, not all of it: items it does not list are
    /// not marked unavailable (as when `sheet` names one sheet).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// The supplier's remembered mapping (field → header text), from the last task mapped by
    /// hand. Filled by the pipeline when a task starts, never read from a message; it applies
    /// to fields `column_mapping` leaves out, and only when its header text is in the header.
    #[serde(skip)]
    pub remembered_mapping: BTreeMap<Field, String>,
}

impl SourceConfig {
    pub fn validate(&self) -> Result<(), String> {
        let locations = [&self.path, &self.url, &self.spreadsheet]
            .iter()
            .filter(|l| l.is_some())
            .count();
        match locations {
            0 => return Err("source_config needs one of path, url or spreadsheet".into()),
            1 => {}
            _ => return Err("source_config must name only one of path, url or spreadsheet".into()),
        }
        if let Some(0) = self.header_row {
            return Err("header_row counts from 1".into());
        }
        if let Some(0) = self.data_start_row {
            return Err("data_start_row counts from 1".into());
        }
        if let (Some(h), Some(d)) = (self.header_row, self.data_start_row)
            && d <= h
        {
            return Err("data_start_row must come after header_row".into());
        }
        if let Some(d) = self.delimiter
            && (d == '"' || d == '\n' || d == '\r' || !d.is_ascii())
        {
            return Err(format!("delimiter {d:?} cannot separate csv fields"));
        }
        Ok(())
    }

    /// Whether the task reads a part of the source (one named sheet, one linked tab, or a
    /// source marked partial), so says nothing of the items it does not list.
    pub fn reads_part(&self) -> bool {
        self.partial || self.sheet.is_some() || self.spreadsheet.as_deref().is_some_and(|s| s.contains("gid="))
    }

    /// A short human description for logs and the task record.
    pub fn describe(&self) -> String {
        let location = self
            .path
            .as_deref()
            .or(self.url.as_deref())
            .or(self.spreadsheet.as_deref())
            .unwrap_or("?");
        match &self.sheet {
            Some(sheet) => format!("{location} [{sheet}]"),
            None => location.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_refs_read_as_index_letter_or_text() {
        let r = |s: &str| ColumnRef::new(s).unwrap();
        assert_eq!(r("3").as_index(), Some(2));
        assert_eq!(r("0").as_index(), None);
        assert_eq!(r("C").as_letter_index(), Some(2));
        assert_eq!(r("aa").as_letter_index(), Some(26));
        assert_eq!(r("Цена").as_letter_index(), None);
    }

    #[test]
    fn design_field_names_are_accepted() {
        let cfg: SourceConfig = serde_json::from_value(serde_json::json!({
            "sheet_url": "https://docs.google.com/spreadsheets/d/abc/edit",
            "sheet_name": "Прайс",
            "column_mapping": {"sku": "A", "price": "Цена"}
        }))
        .unwrap();
        assert_eq!(cfg.sheet.as_deref(), Some("Прайс"));
        assert_eq!(cfg.column_mapping[&Field::Price].as_str(), "Цена");
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn unknown_mapping_field_is_an_error() {
        let err = serde_json::from_value::<SourceConfig>(serde_json::json!({
            "path": "a.csv", "column_mapping": {"colour": "B"}
        }))
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn exactly_one_location() {
        let both = SourceConfig {
            path: Some("a".into()),
            url: Some("http://x".into()),
            ..Default::default()
        };
        assert!(both.validate().is_err());
        assert!(SourceConfig::default().validate().is_err());
    }
}
