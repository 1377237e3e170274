//! Bringing a task's source to the worker: a local file (confined to the configured directories
//! when the task came from the queue), a download over http(s) with a size limit and a
//! timeout, or a Google Sheet through the Sheets API. Each source gets a fingerprint: SHA-256 of its bytes and of the options it is read
//! with, so an identical list can be recognised and skipped.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use intake_actors::domain::{Fingerprint, Origin, SourceConfig, TaskFailure, TaskMeta};
use intake_actors::ports::{FetchedSource, LocalFile, SourceContent, SourceFetcher};
use sha2::{Digest, Sha256};

use crate::settings::{GoogleSheetsSettings, SourcesSettings};

mod google;

pub use google::spreadsheet_id;

/// The sources of files, URLs and Google Sheets.
pub struct Sources {
    allowed_dirs: Vec<PathBuf>,
    http: reqwest::Client,
    max_bytes: u64,
    sheets: google::GoogleSheets,
}

impl Sources {
    pub fn new(settings: &SourcesSettings, sheets: &GoogleSheetsSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.http_timeout_ms))
            .connect_timeout(Duration::from_secs(10))
            // Follow a few redirects, never to another scheme (https → http, or file:).
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let from = attempt.previous().last().map(|u| u.scheme().to_owned());
                if attempt.previous().len() >= 5 {
                    attempt.error("too many redirects")
                } else if from.as_deref() != Some(attempt.url().scheme()) {
                    attempt.error("redirect to another scheme refused")
                } else {
                    attempt.follow()
                }
            }))
            .build()?;
        let credentials = Some(sheets.credentials_file.trim())
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        Ok(Self {
            allowed_dirs: settings.allowed_dirs.clone(),
            sheets: google::GoogleSheets::new(http.clone(), &sheets.api_base_url, credentials),
            http,
            max_bytes: settings.http_max_bytes,
        })
    }

    async fn local(&self, path: &str, task: &TaskMeta) -> Result<FetchedSource, TaskFailure> {
        let path = PathBuf::from(path);
        let resolved = tokio::fs::canonicalize(&path).await.map_err(|e| io_failure(&path, &e))?;
        if task.origin == Origin::Queue && !self.is_allowed(&resolved).await {
            return Err(TaskFailure::permanent(format!(
                "access denied: {} is outside the directories a queued task may read (sources.allowed_dirs)",
                path.display()
            )));
        }
        let meta = tokio::fs::metadata(&resolved).await.map_err(|e| io_failure(&path, &e))?;
        if !meta.is_file() {
            return Err(TaskFailure::permanent(format!("{} is not a file", path.display())));
        }
        let options = options_of(task);
        let file = resolved.clone();
        let digest = tokio::task::spawn_blocking(move || hash_file(&file, &options))
            .await
            .map_err(|e| TaskFailure::transient(format!("hashing the source: {e}")))?
            .map_err(|e| io_failure(&path, &e))?;
        Ok(FetchedSource {
            content: SourceContent::File(LocalFile {
                path: resolved,
                remove_on_drop: false,
            }),
            fingerprint: digest,
            name_hint: path.display().to_string(),
        })
    }

    async fn is_allowed(&self, resolved: &Path) -> bool {
        for dir in &self.allowed_dirs {
            if let Ok(dir) = tokio::fs::canonicalize(dir).await
                && resolved.starts_with(&dir)
            {
                return true;
            }
        }
        false
    }

    async fn download(&self, url: &str, task: &TaskMeta) -> Result<FetchedSource, TaskFailure> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| TaskFailure::permanent(format!("invalid source url {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(TaskFailure::permanent(format!(
                "source url scheme {:?} is not allowed (http or https)",
                parsed.scheme()
            )));
        }
        let shown = redact_query(&parsed);
        let mut response = self.http.get(parsed.clone()).send().await.map_err(|e| {
            let message = format!("downloading {shown}: {e}");
            if e.is_timeout() || e.is_connect() {
                TaskFailure::transient(message)
            } else if e.is_redirect() {
                TaskFailure::permanent(message)
            } else {
                TaskFailure::transient(message)
            }
        })?;
        let status = response.status();
        if status.is_redirection() {
            // What the redirect policy did not follow: another scheme (file:, ftp:) or too many hops.
            let target = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map_or_else(|| "nowhere".to_owned(), |l| match reqwest::Url::parse(l) {
                    Ok(url) => redact_query(&url),
                    Err(_) => l.chars().take(200).collect(),
                });
            return Err(TaskFailure::permanent(format!(
                "downloading {shown}: redirected to {target}; a redirect to another scheme is refused"
            )));
        }
        if !status.is_success() {
            let message = format!("downloading {shown}: HTTP {status}");
            return Err(if status.as_u16() == 429 || status.is_server_error() {
                TaskFailure::transient(message)
            } else {
                TaskFailure::permanent(message)
            });
        }
        if response.content_length().is_some_and(|n| n > self.max_bytes) {
            return Err(TaskFailure::permanent(format!(
                "{shown} is larger than the {} byte limit (sources.http_max_bytes)",
                self.max_bytes
            )));
        }
        let spool = tempfile_path();
        let mut file = tokio::fs::File::create(&spool)
            .await
            .map_err(|e| TaskFailure::transient(format!("spooling the download: {e}")))?;
        // Removed when dropped, whatever happens below.
        let local = LocalFile {
            path: spool.clone(),
            remove_on_drop: true,
        };
        let mut hasher = Sha256::new();
        let mut received: u64 = 0;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| TaskFailure::transient(format!("downloading {shown}: {e}")))?
        {
            received += chunk.len() as u64;
            if received > self.max_bytes {
                return Err(TaskFailure::permanent(format!(
                    "{shown} is larger than the {} byte limit (sources.http_max_bytes)",
                    self.max_bytes
                )));
            }
            hasher.update(&chunk);
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                .await
                .map_err(|e| TaskFailure::transient(format!("spooling the download: {e}")))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(|e| TaskFailure::transient(format!("spooling the download: {e}")))?;
        Ok(FetchedSource {
            content: SourceContent::File(local),
            fingerprint: finish(hasher, &options_of(task)),
            name_hint: parsed.path().to_owned(),
        })
    }
}

#[async_trait]
impl SourceFetcher for Sources {
    async fn fetch(&self, task: &TaskMeta) -> Result<FetchedSource, TaskFailure> {
        let config = &task.source;
        if let Some(path) = &config.path {
            self.local(path, task).await
        } else if let Some(url) = &config.url {
            self.download(url, task).await
        } else if let Some(spreadsheet) = &config.spreadsheet {
            self.sheets.fetch(task, spreadsheet).await
        } else {
            Err(TaskFailure::permanent(format!(
                "parser {} cannot read this source: {}",
                task.parser_type,
                config.describe()
            )))
        }
    }
}

fn io_failure(path: &Path, e: &std::io::Error) -> TaskFailure {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => TaskFailure::permanent(format!("source not found: {}", path.display())),
        ErrorKind::PermissionDenied => {
            TaskFailure::permanent(format!("access denied: {}", path.display()))
        }
        _ => TaskFailure::transient(format!("reading {}: {e}", path.display())),
    }
}

/// The options that change what a source yields, in a canonical form for the fingerprint.
fn options_of(task: &TaskMeta) -> String {
    let options = SourceConfig {
        path: None,
        url: None,
        spreadsheet: None,
        ..task.source.clone()
    };
    format!(
        "{}\n{}",
        task.parser_type,
        serde_json::to_string(&options).unwrap_or_default()
    )
}

fn hash_file(path: &Path, options: &str) -> std::io::Result<Fingerprint> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(finish(hasher, options))
}

/// Hashes content and options together.
pub fn finish(mut hasher: Sha256, options: &str) -> Fingerprint {
    hasher.update(b"\0options\0");
    hasher.update(options.as_bytes());
    let digest = hasher.finalize();
    Fingerprint::from_hex(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// The fingerprint of bytes already in memory.
pub fn fingerprint_bytes(bytes: &[u8], task: &TaskMeta) -> Fingerprint {
    let mut hasher = Sha256::new();
    hasher.update(bytes);
    finish(hasher, &options_of(task))
}

fn tempfile_path() -> PathBuf {
    std::env::temp_dir().join(format!("intake-{}.download", uuid::Uuid::new_v4().simple()))
}

/// A URL as it may be logged: without a query string, which often carries tokens.
fn redact_query(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if shown.query().is_some() {
        shown.set_query(Some("…"));
    }
    let _ = shown.set_password(None);
    shown.to_string()
}
