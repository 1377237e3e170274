//! Bringing a task's source to the worker: a local file (confined to the configured directories
//! when the task came from the queue), a download over http(s) with a size limit and a
//! timeout, or a Google Sheet through the Sheets API. Each source gets a fingerprint: SHA-256 of its bytes and of the options it is read
//! with, so an identical list can be recognised and skipped.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use intake_actors::domain::{Fingerprint, Origin, SourceConfig, TaskFailure, TaskMeta};
use intake_actors::ports::{FetchedSource, FileStamp, LocalFile, SourceContent, SourceFetcher};
use sha2::{Digest, Sha256};

use crate::settings::{GoogleSheetsSettings, SourcesSettings};

mod google;
mod guard;

use guard::{GuardedResolver, NetworkGuard};

pub use google::spreadsheet_id;

/// The sources of files, URLs and Google Sheets.
pub struct Sources {
    allowed_dirs: Vec<PathBuf>,
    /// Downloads of task-given URLs: every hop checked by the guard.
    http: reqwest::Client,
    guard: Arc<NetworkGuard>,
    max_bytes: u64,
    sheets: google::GoogleSheets,
}

#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error("{0}")]
    Settings(String),
    #[error("the http client could not be built: {0}")]
    Http(#[from] reqwest::Error),
}

impl Sources {
    pub fn new(settings: &SourcesSettings, sheets: &GoogleSheetsSettings) -> Result<Self, SourcesError> {
        let guard = Arc::new(
            NetworkGuard::new(&settings.allowed_hosts, &settings.allowed_networks).map_err(SourcesError::Settings)?,
        );
        let policy_guard = guard.clone();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.http_timeout_ms))
            .connect_timeout(Duration::from_secs(10))
            .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
            // A few redirects, on the same scheme and host (or to a host the operator listed);
            // an address given as a literal is checked here, as names are by the resolver.
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let previous = attempt.previous().last().cloned();
                let from_scheme = previous.as_ref().map(|u| u.scheme().to_owned());
                let from_host = previous
                    .as_ref()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default();
                let to_host = attempt.url().host_str().unwrap_or_default().to_owned();
                if attempt.previous().len() >= 5 {
                    attempt.error("too many redirects")
                } else if from_scheme.as_deref() != Some(attempt.url().scheme()) {
                    attempt.error("redirect to another scheme refused")
                } else if !policy_guard.redirect_allowed(&from_host, &to_host) {
                    attempt.error("redirect to another host refused (sources.allowed_hosts)")
                } else if let Err(why) = policy_guard.check_url(attempt.url()) {
                    attempt.error(why)
                } else {
                    attempt.follow()
                }
            }))
            .build()?;
        // The Sheets API and its token endpoint are the operator's configuration, not a task's.
        let google_http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.http_timeout_ms))
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let credentials = Some(sheets.credentials_file.trim())
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        Ok(Self {
            allowed_dirs: settings.allowed_dirs.clone(),
            sheets: google::GoogleSheets::new(google_http, &sheets.api_base_url, credentials),
            http,
            guard,
            max_bytes: settings.http_max_bytes,
        })
    }

    async fn local(&self, path: &str, task: &TaskMeta) -> Result<FetchedSource, TaskFailure> {
        let path = PathBuf::from(path);
        // One answer for every path a queued task may not read, whether or not it exists: a
        // task must not learn what lies outside the allowed directories.
        let denied = || {
            TaskFailure::permanent(format!(
                "access denied: {} is not inside a directory queued tasks may read (sources.allowed_dirs)",
                path.display()
            ))
        };
        let resolved = match tokio::fs::canonicalize(&path).await {
            Ok(resolved) => resolved,
            Err(_) if task.origin == Origin::Queue && !self.is_allowed(&lexically_absolute(&path)).await => {
                return Err(denied());
            }
            Err(e) => return Err(io_failure(&path, &e)),
        };
        if task.origin == Origin::Queue && !self.is_allowed(&resolved).await {
            return Err(denied());
        }
        let meta = tokio::fs::metadata(&resolved)
            .await
            .map_err(|e| io_failure(&path, &e))?;
        if !meta.is_file() {
            return Err(TaskFailure::permanent(format!("{} is not a file", path.display())));
        }
        let options = options_of(task);
        let file = resolved.clone();
        let (digest, stamp) = tokio::task::spawn_blocking(move || {
            // The stamp brackets the hash: a file rewritten while it is hashed is not
            // fingerprinted at all, and one rewritten later is caught once it is decoded.
            let before = FileStamp::of(&file)?;
            let digest = hash_file(&file, &options)?;
            let after = FileStamp::of(&file)?;
            Ok::<_, std::io::Error>((digest, (before == after).then_some(after)))
        })
        .await
        .map_err(|e| TaskFailure::transient(format!("hashing the source: {e}")))?
        .map_err(|e| io_failure(&path, &e))?;
        let Some(stamp) = stamp else {
            return Err(TaskFailure::transient(format!(
                "{} changed while it was fingerprinted; it will be read again",
                path.display()
            )));
        };
        Ok(FetchedSource {
            content: SourceContent::File(LocalFile {
                path: resolved,
                remove_on_drop: false,
                stamp: Some(stamp),
            }),
            fingerprint: digest,
            name_hint: path.display().to_string(),
        })
    }

    /// Whether `path` (absolute, symlinks resolved where it exists) lies in an allowed directory.
    async fn is_allowed(&self, path: &Path) -> bool {
        for dir in &self.allowed_dirs {
            if let Ok(dir) = tokio::fs::canonicalize(dir).await
                && path.starts_with(&dir)
            {
                return true;
            }
        }
        false
    }

    async fn download(&self, url: &str, task: &TaskMeta) -> Result<FetchedSource, TaskFailure> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| TaskFailure::permanent(format!("invalid source url {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(TaskFailure::permanent(format!(
                "source url scheme {:?} is not allowed (http or https)",
                parsed.scheme()
            )));
        }
        let shown = crate::redact::url(parsed.as_str());
        if let Err(why) = self.guard.check_url(&parsed) {
            return Err(TaskFailure::permanent(format!("downloading {shown}: {why}")));
        }
        let mut response = self.http.get(parsed.clone()).send().await.map_err(|e| {
            // The error's own text would carry the URL, and for a refused address would tell
            // an open port from a closed one: say only what kind of failure it was.
            let refused = std::error::Error::source(&e).is_some_and(|s| s.to_string().contains(guard::REFUSED))
                || e.to_string().contains(guard::REFUSED);
            if refused {
                TaskFailure::permanent(format!("downloading {shown}: {}", guard::REFUSED))
            } else if e.is_redirect() {
                let why = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default();
                TaskFailure::permanent(format!("downloading {shown}: {}", crate::redact::text(&why)))
            } else if e.is_timeout() {
                TaskFailure::transient(format!("downloading {shown}: timed out"))
            } else {
                TaskFailure::transient(format!("downloading {shown}: the server could not be reached"))
            }
        })?;
        let status = response.status();
        if status.is_redirection() {
            // What the redirect policy did not follow: another scheme (file:, ftp:) or too many hops.
            let target = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map_or_else(
                    || "nowhere".to_owned(),
                    |l| crate::redact::text(&l.chars().take(200).collect::<String>()),
                );
            return Err(TaskFailure::permanent(format!(
                "downloading {shown}: redirected to {target}; a redirect to another scheme or host is refused"
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
            // The spool is this task's own: nothing else writes it.
            stamp: None,
        };
        let mut hasher = Sha256::new();
        let mut received: u64 = 0;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| TaskFailure::transient(format!("downloading {shown}: the transfer broke off")))?
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

/// `path` made absolute against the working directory, with `.` and `..` resolved by name,
/// for a path that does not exist (so cannot be canonicalised).
fn lexically_absolute(path: &Path) -> PathBuf {
    use std::path::Component;
    let joined = match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_path_buf(),
    };
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn io_failure(path: &Path, e: &std::io::Error) -> TaskFailure {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => TaskFailure::permanent(format!("source not found: {}", path.display())),
        ErrorKind::PermissionDenied => TaskFailure::permanent(format!("access denied: {}", path.display())),
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
