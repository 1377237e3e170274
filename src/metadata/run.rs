//! One metadata run: a source's files read, parsed and written (or, in a dry run, compared),
//! two at a time, into one `ingestion_log` run. The CLI and queued tasks both run it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use intake_actors::metadata::{self, Kind, RejectedFile, RunFigures, RunReport};
use uuid::Uuid;

use super::files::{CopyDirs, files, selected};
use super::sink::{ErrorRow, RunSink, Sink, SinkError};
use crate::store::metadata::{self as store, Changes};

/// What to read, and how.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub kind: Kind,
    pub source: PathBuf,
    /// The source's name in semantic paths (one file only).
    pub name: Option<String>,
    pub recursive: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub copylib: Vec<PathBuf>,
    /// Compare with what is stored; write nothing.
    pub dry_run: bool,
    /// The queued task the run belongs to.
    pub task_id: Option<Uuid>,
    /// Files outside these directories are not read (a queued task's); `None`: any file (the
    /// operator's own command line).
    pub confined_to: Option<Vec<PathBuf>>,
    /// A file whose parsing takes longer is refused (`too_slow`).
    pub parse_limit: Duration,
}

/// Why a run could not happen (a refused file is not one: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The request itself is wrong: no such source, no files of the kind, access denied.
    #[error("{0}")]
    Request(String),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// What became of one file.
enum FileOutcome {
    Stored { records: u64, changes: Changes },
    Refused(RejectedFile),
}

/// One file read: its records, or why it was refused.
type Read = Result<metadata::Parsed, metadata::Refusal>;

/// A file's bytes, or why they could not be read.
type Bytes = Result<Vec<u8>, metadata::Refusal>;

type Prepared = (
    Vec<u8>,
    Result<(Vec<store::StoredRecord>, Vec<metadata::Warning>), metadata::Refusal>,
);

/// Told after each file: the run's figures so far, and how many files it has in all.
pub type Progress<'a> = &'a (dyn Fn(&RunFigures, usize) + Sync);

/// Runs a request to its end. A store failure midway closes the run as failed.
pub async fn run(sink: &Sink, request: &RunRequest, progress: Progress<'_>) -> Result<RunReport, RunError> {
    let allowed = request.confined_to.as_deref().map(Allowed::new);
    if let Some(allowed) = &allowed {
        for path in std::iter::once(&request.source).chain(&request.copylib) {
            allowed.check(path).map_err(RunError::Request)?;
        }
    }
    let root = if request.source.is_dir() {
        request.source.clone()
    } else {
        request.source.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let relative = |file: &Path| {
        file.strip_prefix(&root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/")
    };
    let files: Vec<PathBuf> = files(&request.source, request.kind, request.recursive)
        .map_err(RunError::Request)?
        .into_iter()
        .filter(|f| selected(&relative(f), &request.include, &request.exclude))
        .collect();
    if files.is_empty() {
        return Err(RunError::Request(format!(
            "no {} files in {}",
            request.kind.as_str(),
            request.source.display()
        )));
    }
    if request.name.is_some() && files.len() > 1 {
        return Err(RunError::Request(format!(
            "--name names one file's source; {} has {} files",
            request.source.display(),
            files.len()
        )));
    }
    let run = (!request.dry_run).then(Uuid::now_v7);
    let source = request.source.display().to_string();
    let writer = sink.begin(run);
    writer.open(request.task_id, request.kind, &source).await?;
    let outcome = match read_all(writer.as_ref(), request, &files, &relative, allowed.as_ref(), progress).await {
        Ok((mut figures, rejected)) => match writer.close(&mut figures).await {
            Ok(()) => Ok((figures, rejected)),
            Err(e) => Err(RunError::from(e)),
        },
        Err(e) => Err(e),
    };
    let (figures, rejected) = match outcome {
        Ok(done) => done,
        Err(e) => {
            if let Err(close) = writer.fail().await {
                tracing::warn!(run = ?run, error = %close, "could not record the failed run");
            }
            return Err(e);
        }
    };
    Ok(RunReport {
        run_id: run,
        kind: request.kind,
        source,
        dry_run: request.dry_run,
        figures,
        rejected,
    })
}

async fn read_all(
    sink: &dyn RunSink,
    request: &RunRequest,
    files: &[PathBuf],
    relative: &(dyn Fn(&Path) -> String + Sync),
    allowed: Option<&Allowed>,
    progress: Progress<'_>,
) -> Result<(RunFigures, Vec<RejectedFile>), RunError> {
    let kind = request.kind;
    let library = Arc::new(CopyDirs(request.copylib.clone()));
    let read = |file: &Path| -> Bytes {
        if allowed.is_some_and(|a| !a.contains(file)) {
            return Err(refusal(
                "access_denied",
                "the file lies outside sources.allowed_dirs".into(),
            ));
        }
        std::fs::read(file).map_err(|e| refusal("unreadable", format!("reading the file: {e}")))
    };
    // A FastAPI project is read whole: a route's path takes the prefixes of other modules.
    // Its files' bytes, read once, wait here for their turn to be written.
    let (mut project, mut preread): (Vec<Option<Read>>, Vec<Option<Bytes>>) = if kind == Kind::Fastapi {
        let contents: Vec<_> = files.iter().map(|f| read(f)).collect();
        let sources: Vec<(String, Vec<u8>)> = files
            .iter()
            .zip(&contents)
            .filter_map(|(f, c)| c.as_ref().ok().map(|bytes| (relative(f), bytes.clone())))
            .collect();
        // CPU work, off the runtime's threads.
        let library = library.clone();
        let parsed = tokio::task::spawn_blocking(move || metadata::parse_project(kind, &sources, &*library))
            .await
            .map_err(|e| RunError::Request(format!("the FastAPI project could not be read: {e}")))?;
        let mut parsed = parsed.into_iter();
        let project = contents
            .iter()
            .map(|c| c.as_ref().ok().and_then(|_| parsed.next()))
            .collect();
        (project, contents.into_iter().map(Some).collect())
    } else {
        (Vec::new(), Vec::new())
    };
    let mut figures = RunFigures::default();
    let mut rejected = Vec::new();
    // Two files at a time: one is parsed while the other's records are written, and the
    // database works on two sources at once (each source keeps its own lock).
    let mut outcomes = std::pin::pin!(
        futures_util::stream::iter(files.iter().cloned().enumerate())
            .map(|(index, file)| {
                let source_name = request.name.clone().unwrap_or_else(|| relative(&file));
                let bytes = preread
                    .get_mut(index)
                    .and_then(Option::take)
                    .unwrap_or_else(|| read(&file));
                let parsed = project.get_mut(index).and_then(Option::take);
                let library = library.clone();
                async move {
                    let prepared = match bytes {
                        Ok(bytes) => {
                            prepare(kind, source_name.clone(), bytes, parsed, library, request.parse_limit).await
                        }
                        Err(unread) => Err(unread),
                    };
                    ingest_file(sink, kind, source_name, prepared).await
                }
            })
            .buffered(2)
    );
    while let Some(outcome) = outcomes.next().await {
        let (bytes, outcome) = outcome?;
        figures.files_seen += 1;
        figures.bytes += bytes;
        match outcome {
            FileOutcome::Stored { records, changes } => {
                figures.records_seen += records;
                figures.changes += changes;
                figures.files_ingested += 1;
            }
            FileOutcome::Refused(refusal) => {
                figures.files_rejected += 1;
                rejected.push(refusal);
            }
        }
        progress(&figures, files.len());
    }
    Ok((figures, rejected))
}

/// Parses one file and computes its records' ids and hashes, on a blocking thread and within
/// `limit`: a file that takes longer is refused (`too_slow`) and the run goes on. A parser
/// that panics refuses its file alone (`internal_error`).
async fn prepare(
    kind: Kind,
    source_name: String,
    bytes: Vec<u8>,
    parsed: Option<Read>,
    library: Arc<CopyDirs>,
    limit: Duration,
) -> Result<Prepared, metadata::Refusal> {
    let work = tokio::task::spawn_blocking(move || {
        let parsed = parsed.unwrap_or_else(|| metadata::parse_with(kind, &bytes, &*library));
        let parsed = parsed.map(|p| {
            let records = store::prepare(kind, &source_name, &kind.text(&bytes), p.records);
            (records, p.warnings)
        });
        (bytes, parsed)
    });
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(prepared)) => Ok(prepared),
        Ok(Err(panicked)) => Err(refusal(
            "internal_error",
            format!("the {} reader failed on this file: {panicked}", kind.as_str()),
        )),
        Err(_) => Err(refusal(
            "too_slow",
            format!(
                "reading the file took longer than {} ms (metadata.parse_timeout_ms)",
                limit.as_millis()
            ),
        )),
    }
}

fn refusal(class: &'static str, message: String) -> metadata::Refusal {
    metadata::Refusal {
        class,
        line: None,
        message,
    }
}

/// Writes (or, in a dry run, compares) one file's records, or records why it was refused;
/// returns its size and outcome.
async fn ingest_file(
    sink: &dyn RunSink,
    kind: Kind,
    source_name: String,
    prepared: Result<Prepared, metadata::Refusal>,
) -> Result<(u64, FileOutcome), RunError> {
    let (bytes, read) = match prepared {
        Ok((bytes, read)) => (bytes, read),
        Err(unread) => (Vec::new(), Err(unread)),
    };
    let size = bytes.len() as u64;
    let (records, warnings) = match read {
        Ok(read) => read,
        Err(refusal) => {
            let text = kind.text(&bytes);
            let excerpt = refusal
                .line
                .and_then(|l| text.lines().nth(l.saturating_sub(1) as usize))
                .map(|l| l.chars().take(200).collect::<String>());
            sink.error(ErrorRow {
                source_name: &source_name,
                line: refusal.line,
                class: refusal.class,
                message: &refusal.message,
                excerpt: excerpt.as_deref(),
            })
            .await?;
            let refused = RejectedFile {
                source_name,
                error_class: refusal.class.to_owned(),
                line: refusal.line,
                message: refusal.message,
            };
            return Ok((size, FileOutcome::Refused(refused)));
        }
    };
    for warning in &warnings {
        tracing::warn!(source = %source_name, line = warning.line, "{}", warning.message);
        sink.error(ErrorRow {
            source_name: &source_name,
            line: Some(warning.line),
            class: "warning",
            message: &warning.message,
            excerpt: None,
        })
        .await?;
    }
    // A sink that counts at the end (BigQuery) gives the run's changes when it closes.
    let changes = sink.apply(kind, &source_name, &records).await?.unwrap_or_default();
    // Records, not rows: a record cut into chunks is one record (its changes count rows).
    let records = records.iter().filter(|r| r.chunk_index == 0).count() as u64;
    Ok((size, FileOutcome::Stored { records, changes }))
}

/// The directories a queued task may read, resolved once.
struct Allowed(Vec<PathBuf>);

impl Allowed {
    fn new(dirs: &[PathBuf]) -> Self {
        Self(dirs.iter().filter_map(|d| std::fs::canonicalize(d).ok()).collect())
    }

    /// Whether `path`, its links resolved, lies inside an allowed directory.
    fn contains(&self, path: &Path) -> bool {
        std::fs::canonicalize(path).is_ok_and(|p| self.0.iter().any(|dir| p.starts_with(dir)))
    }

    /// Why `path` may not be read. One answer for every path outside, whether or not it
    /// exists: a task must not learn what lies beyond the allowed directories.
    fn check(&self, path: &Path) -> Result<(), String> {
        if self.contains(path) {
            return Ok(());
        }
        let inside = self.0.iter().any(|dir| path.starts_with(dir));
        if inside
            && !path.components().any(|c| matches!(c, std::path::Component::ParentDir))
            && let Err(e) = std::fs::metadata(path)
        {
            return Err(format!("reading {}: {e}", path.display()));
        }
        Err(format!(
            "access denied: {} is not inside a directory queued tasks may read (sources.allowed_dirs)",
            path.display()
        ))
    }
}
