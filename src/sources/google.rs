//! Google Sheets through the Sheets API v4: a service-account token (a signed JWT exchanged at
//! the key's own `token_uri`), then two requests whatever the sheet's size — the spreadsheet's
//! sheets and merged cells, then every wanted sheet's values in one `values:batchGet`.
//!
//! The values are handed to the decoder as one JSON document (see
//! `intake_actors::decode::sheets`), which is also what the task's fingerprint is taken of.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gcp_auth::TokenProvider;
use intake_actors::decode::sheets::{SheetValues, SpreadsheetValues};
use intake_actors::domain::{TaskFailure, TaskMeta};
use intake_actors::ports::{FetchedSource, SourceContent};
use serde::Deserialize;

use super::fingerprint_bytes;
use crate::google_key::{LazyAccount, ServiceAccount};

const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets.readonly";

/// Attempts of one request when Google answers 429 or 5xx, within one task attempt.
const ATTEMPTS: u32 = 3;
/// The longest wait a Retry-After is honoured for; longer ones become a task retry.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub struct GoogleSheets {
    http: reqwest::Client,
    base_url: String,
    account: LazyAccount,
}

#[derive(Deserialize)]
struct Spreadsheet {
    #[serde(default)]
    sheets: Vec<Sheet>,
}

#[derive(Deserialize)]
struct Sheet {
    properties: SheetProperties,
    #[serde(default)]
    merges: Vec<GridRange>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SheetProperties {
    title: String,
    #[serde(default)]
    index: usize,
    #[serde(default)]
    sheet_id: i64,
    #[serde(default)]
    hidden: bool,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct GridRange {
    #[serde(default)]
    start_row_index: u32,
    #[serde(default)]
    end_row_index: u32,
    #[serde(default)]
    start_column_index: u32,
    #[serde(default)]
    end_column_index: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchGet {
    #[serde(default)]
    value_ranges: Vec<ValueRange>,
}

#[derive(Deserialize)]
struct ValueRange {
    range: String,
    #[serde(default)]
    values: Vec<Vec<serde_json::Value>>,
}

/// The spreadsheet id in a Google Sheets URL, or the id itself.
pub fn spreadsheet_id(reference: &str) -> Option<String> {
    let reference = reference.trim();
    let id = match reference.find("/spreadsheets/d/") {
        Some(i) => reference[i + "/spreadsheets/d/".len()..]
            .split(['/', '?', '#'])
            .next()
            .unwrap_or(""),
        None => reference,
    };
    let valid = id.len() >= 10 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| id.to_owned())
}

/// The tab a Sheets link points at: `…/edit#gid=123` or `…?gid=123`.
fn tab_id(reference: &str) -> Option<i64> {
    let at = reference.find("gid=")?;
    let before = reference[..at].chars().last();
    if !matches!(before, Some('#' | '?' | '&')) {
        return None;
    }
    let digits: String = reference[at + 4..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A sheet name quoted for an A1 range: `'It''s'`.
fn quoted(title: &str) -> String {
    format!("'{}'", title.replace('\'', "''"))
}

impl GoogleSheets {
    pub fn new(http: reqwest::Client, base_url: &str, credentials: Option<PathBuf>) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            account: LazyAccount::new(credentials, "google_sheets.credentials_file"),
        }
    }

    async fn account(&self) -> Result<Arc<ServiceAccount>, TaskFailure> {
        self.account.get().await.map_err(TaskFailure::permanent)
    }

    /// GETs a Sheets API URL as JSON, retrying 429 and 5xx as Google asks.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        account: &ServiceAccount,
        id: &str,
        url: reqwest::Url,
    ) -> Result<T, TaskFailure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = account
                .provider
                .token(&[SCOPE])
                .await
                .map_err(|e| TaskFailure::transient(format!("getting a Google access token: {e}")))?;
            let response = self
                .http
                .get(url.clone())
                .bearer_auth(token.as_str())
                .send()
                .await
                .map_err(|e| TaskFailure::transient(format!("Google Sheets API: {e}")))?;
            let status = response.status();
            if status.is_success() {
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| TaskFailure::transient(format!("Google Sheets API: {e}")))?;
                return serde_json::from_slice(&body)
                    .map_err(|e| TaskFailure::transient(format!("Google Sheets API answered unexpectedly: {e}")));
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let message = google_message(response).await;
            match status.as_u16() {
                429 | 500..=599 => {
                    let wait = retry_after.unwrap_or(Duration::from_secs(1 << (attempt - 1)));
                    if attempt >= ATTEMPTS || wait > MAX_WAIT {
                        return Err(TaskFailure::transient(format!(
                            "Google Sheets API answered {status} for spreadsheet {id}: {message}"
                        )));
                    }
                    tracing::warn!(
                        spreadsheet = id,
                        status = status.as_u16(),
                        retry_in_ms = wait.as_millis() as u64,
                        "Google Sheets API is busy; waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
                403 => {
                    return Err(TaskFailure::permanent(format!(
                        "access denied to spreadsheet {id}: share it with {} (Viewer is enough) — {message}",
                        account.email
                    )));
                }
                404 => {
                    return Err(TaskFailure::permanent(format!(
                        "spreadsheet {id} not found: check the URL or id — {message}"
                    )));
                }
                401 => {
                    return Err(TaskFailure::permanent(format!(
                        "Google rejected the service account {}: {message}",
                        account.email
                    )));
                }
                _ => {
                    return Err(TaskFailure::permanent(format!(
                        "Google Sheets API answered {status} for spreadsheet {id}: {message}"
                    )));
                }
            }
        }
    }

    pub async fn fetch(&self, task: &TaskMeta, reference: &str) -> Result<FetchedSource, TaskFailure> {
        let id = spreadsheet_id(reference).ok_or_else(|| {
            TaskFailure::permanent(format!(
                "{reference:?} is neither a Google Sheets URL nor a spreadsheet id"
            ))
        })?;
        let account = self.account().await?;
        let api = |path: &str| {
            reqwest::Url::parse(&format!("{}/v4/spreadsheets/{id}{path}", self.base_url))
                .map_err(|e| TaskFailure::permanent(format!("google_sheets.api_base_url is not a URL: {e}")))
        };

        let mut url = api("")?;
        url.query_pairs_mut()
            .append_pair("fields", "sheets(properties(sheetId,title,index,hidden),merges)");
        let spreadsheet: Spreadsheet = self.get(&account, &id, url).await?;

        let wanted: Vec<&Sheet> = match &task.source.sheet {
            Some(name) => {
                let found = spreadsheet
                    .sheets
                    .iter()
                    .find(|s| {
                        s.properties.title == *name || s.properties.title.trim().eq_ignore_ascii_case(name.trim())
                    })
                    .or_else(|| {
                        name.trim()
                            .parse::<usize>()
                            .ok()
                            .and_then(|n| spreadsheet.sheets.iter().find(|s| s.properties.index + 1 == n))
                    });
                match found {
                    Some(sheet) => vec![sheet],
                    None => {
                        let titles: Vec<&str> =
                            spreadsheet.sheets.iter().map(|s| s.properties.title.as_str()).collect();
                        return Err(TaskFailure::permanent(format!(
                            "no sheet {name:?} in spreadsheet {id} (sheets: {})",
                            titles.join(", ")
                        )));
                    }
                }
            }
            // A link to one tab (`#gid=N`) means that tab.
            None => match tab_id(reference) {
                Some(gid) => match spreadsheet.sheets.iter().find(|s| s.properties.sheet_id == gid) {
                    Some(sheet) => vec![sheet],
                    None => {
                        return Err(TaskFailure::permanent(format!(
                            "no sheet with gid {gid} in spreadsheet {id}"
                        )));
                    }
                },
                // Hidden tabs are scratch and lookup tabs: read only when named.
                None => spreadsheet.sheets.iter().filter(|s| !s.properties.hidden).collect(),
            },
        };
        let skipped: Vec<(String, String)> = if task.source.sheet.is_none() && tab_id(reference).is_none() {
            spreadsheet
                .sheets
                .iter()
                .filter(|s| s.properties.hidden)
                .map(|s| {
                    (
                        s.properties.title.clone(),
                        "the sheet is hidden (name it with `sheet` to read it)".to_owned(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        if wanted.is_empty() {
            return Err(TaskFailure::permanent(if skipped.is_empty() {
                format!("spreadsheet {id} has no sheets")
            } else {
                format!("every sheet of spreadsheet {id} is hidden; name one with `sheet` to read it")
            }));
        }

        let mut url = api("/values:batchGet")?;
        {
            let mut query = url.query_pairs_mut();
            for sheet in &wanted {
                let range = match &task.source.range {
                    Some(cells) => format!("{}!{cells}", quoted(&sheet.properties.title)),
                    None => quoted(&sheet.properties.title),
                };
                query.append_pair("ranges", &range);
            }
            query
                .append_pair("majorDimension", "ROWS")
                .append_pair("valueRenderOption", "UNFORMATTED_VALUE")
                .append_pair("dateTimeRenderOption", "FORMATTED_STRING");
        }
        let values: BatchGet = self.get(&account, &id, url).await?;

        let document = SpreadsheetValues {
            spreadsheet_id: id.clone(),
            skipped,
            sheets: wanted
                .iter()
                .zip(values.value_ranges)
                .map(|(sheet, range)| SheetValues {
                    title: sheet.properties.title.clone(),
                    index: sheet.properties.index + 1,
                    range: range.range,
                    merges: sheet
                        .merges
                        .iter()
                        .map(|m| {
                            [
                                m.start_row_index,
                                m.end_row_index,
                                m.start_column_index,
                                m.end_column_index,
                            ]
                        })
                        .collect(),
                    values: range.values,
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&document)
            .map_err(|e| TaskFailure::permanent(format!("encoding the sheet values: {e}")))?;
        Ok(FetchedSource {
            fingerprint: fingerprint_bytes(&bytes, task),
            content: SourceContent::Bytes(bytes),
            name_hint: format!("google-sheets:{id}"),
        })
    }
}

/// Google's own error message, from its JSON error body.
async fn google_message(response: reqwest::Response) -> String {
    #[derive(Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        message: String,
    }
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str::<Body>(&text)
        .map(|b| b.error.message)
        .unwrap_or_else(|_| text.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_urls_or_stand_alone() {
        let id = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";
        assert_eq!(
            spreadsheet_id(&format!("https://docs.google.com/spreadsheets/d/{id}/edit#gid=0")).as_deref(),
            Some(id)
        );
        assert_eq!(spreadsheet_id(id).as_deref(), Some(id));
        assert_eq!(spreadsheet_id("../../etc/passwd"), None);
        assert_eq!(spreadsheet_id("short"), None);
    }

    #[test]
    fn a_link_to_a_tab_names_it() {
        let url = "https://docs.google.com/spreadsheets/d/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/edit";
        assert_eq!(tab_id(&format!("{url}#gid=0")), Some(0));
        assert_eq!(tab_id(&format!("{url}?gid=1234&x=1")), Some(1234));
        assert_eq!(tab_id(url), None);
        assert_eq!(tab_id("1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"), None);
    }

    #[test]
    fn sheet_names_are_quoted_for_ranges() {
        assert_eq!(quoted("Прайс"), "'Прайс'");
        assert_eq!(quoted("It's"), "'It''s'");
    }
}
