//! `intake metadata`: technical artifacts into the metadata record family — ingest a file or a
//! directory (or compare it, `--dry-run`), list the runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use intake::settings::{Secrets, Settings};
use intake::store::metadata::{self as store, Changes, RunFigures};
use intake_actors::metadata::{self, Kind};
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub enum MetadataAction {
    /// Read artifacts of one kind from a file or a directory into the metadata records.
    Ingest(IngestArgs),
    /// One record, by its id or its semantic path (`cobol:account.cpy#ACCOUNT/BALANCE`).
    Show {
        /// The record's id or semantic path.
        key: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The latest runs, newest first.
    Runs {
        /// Show at most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The kind of artifact: cobol (copybooks), k8s (manifests, YAML or JSON), fastapi (a
    /// project directory, read statically), irs (record layouts: delimited, publication text,
    /// tables in code), mumps (FileMan data dictionaries: KIDS builds, ZWR exports of ^DD).
    #[arg(long, value_parser = parse_kind)]
    pub kind: Kind,
    /// A file, or a directory of them.
    #[arg(long, value_name = "PATH|DIR")]
    pub source: PathBuf,
    /// The source's name in semantic paths (default: each file's path relative to --source).
    #[arg(long)]
    pub name: Option<String>,
    /// Also read the directory's subdirectories (always, for a FastAPI project).
    #[arg(long)]
    pub recursive: bool,
    /// Read only files whose path under --source (or name) matches; `*`, `?`, `**`; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip files whose path under --source (or name) matches; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Where COPY members are found (NAME, NAME.cpy, NAME.cob, NAME.cbl); repeatable.
    #[arg(long, value_name = "DIR")]
    pub copylib: Vec<PathBuf>,
    /// Compare with what is stored and say what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the run's figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// COPY members from directories: the first file named as the member, with or without a
/// copybook extension, in the order the directories were given.
struct CopyDirs(Vec<PathBuf>);

impl metadata::cobol::CopyLibrary for CopyDirs {
    fn member(&self, name: &str) -> Option<String> {
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return None;
        }
        const EXTENSIONS: [&str; 8] = ["", ".cpy", ".cob", ".cbl", ".copy", ".CPY", ".COB", ".CBL"];
        let path = self
            .0
            .iter()
            .flat_map(|dir| EXTENSIONS.iter().map(move |ext| dir.join(format!("{name}{ext}"))))
            .find(|p| p.is_file())?;
        let bytes = std::fs::read(path).ok()?;
        Some(Kind::Cobol.text(&bytes))
    }
}

fn parse_kind(text: &str) -> Result<Kind, String> {
    Kind::parse(text).ok_or_else(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(Kind::as_str).collect();
        format!("unknown kind {text:?} (known: {})", known.join(", "))
    })
}

/// Whether `path` (relative, `/`-separated) matches a glob: `*` and `?` within one segment, `**`
/// across segments. A pattern without `/` is matched against the file name alone, as
/// `.gitignore` does.
fn glob_matches(pattern: &str, path: &str) -> bool {
    fn matches(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) if rest.first() == Some(&b'*') => {
                let rest = rest[1..].strip_prefix(b"/").unwrap_or(&rest[1..]);
                (0..=s.len()).any(|i| matches(rest, &s[i..]))
            }
            Some((b'*', rest)) => {
                let segment = s.iter().position(|&c| c == b'/').unwrap_or(s.len());
                (0..=segment).any(|i| matches(rest, &s[i..]))
            }
            Some((b'?', rest)) => s.first().is_some_and(|&c| c != b'/') && matches(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && matches(rest, &s[1..]),
        }
    }
    let subject = if pattern.contains('/') {
        path
    } else {
        path.rsplit('/').next().unwrap_or(path)
    };
    matches(pattern.as_bytes(), subject.as_bytes())
}

/// Whether a file passes `--include` (any, when given) and `--exclude` (none).
fn selected(relative: &str, include: &[String], exclude: &[String]) -> bool {
    (include.is_empty() || include.iter().any(|g| glob_matches(g, relative)))
        && !exclude.iter().any(|g| glob_matches(g, relative))
}

/// The files of a source: the file itself, or the directory's files of the kind, sorted.
fn files(source: &Path, kind: Kind, recursive: bool) -> anyhow::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(source).with_context(|| format!("reading {}", source.display()))?;
    if meta.is_file() {
        return Ok(vec![source.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![source.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                // Tool and environment folders (`.git`, `.venv`, caches) are not the project's.
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let skipped = name.starts_with('.') || matches!(name, "__pycache__" | "node_modules" | "site-packages");
                if (recursive || kind == Kind::Fastapi) && !skipped {
                    dirs.push(path);
                }
            } else if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| kind.reads(n)) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[derive(Debug, serde::Serialize)]
struct Report {
    run_id: Option<Uuid>,
    kind: Kind,
    dry_run: bool,
    #[serde(flatten)]
    figures: RunFigures,
    rejected: Vec<Rejected>,
}

#[derive(Debug, serde::Serialize)]
struct Rejected {
    source_name: String,
    error_class: String,
    line: Option<u32>,
    message: String,
}

pub async fn run(settings: &Settings, secrets: &Secrets, action: MetadataAction) -> anyhow::Result<ExitCode> {
    let pool = super::connect_db(settings, secrets).await?;
    match action {
        MetadataAction::Ingest(args) => ingest(&pool, args).await,
        MetadataAction::Show { key, json } => {
            let Some(record) = store::show(&pool, &key).await? else {
                bail!("no metadata record {key}");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                let lines = match (record.line_start, record.line_end) {
                    (Some(a), Some(b)) => format!(" (lines {a}-{b})"),
                    _ => String::new(),
                };
                println!("{}  {}", record.record_kind, record.semantic_path);
                println!("id        {}", record.id);
                println!("name      {}", record.name);
                println!("type      {}", record.data_type.as_deref().unwrap_or("-"));
                if let Some(deleted) = record.deleted_at {
                    println!(
                        "deleted   {} (gone from its source)",
                        deleted.format("%Y-%m-%d %H:%M:%S UTC")
                    );
                }
                println!("attributes {}", serde_json::to_string_pretty(&record.attributes)?);
                if let Some(content) = &record.content {
                    println!("source{lines}:\n{content}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        MetadataAction::Runs { limit, json } => {
            let runs = store::runs(&pool, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                for r in &runs {
                    println!(
                        "{}  {}  {:<6} {:<22} {:>4} files ({} rejected)  {:>7} records: +{} ~{} ={} -{}  {}",
                        r.started_at.format("%Y-%m-%d %H:%M:%S"),
                        r.run_id,
                        r.kind,
                        r.status,
                        r.files_seen,
                        r.files_rejected,
                        r.records_seen,
                        r.records_inserted,
                        r.records_updated,
                        r.records_unchanged,
                        r.records_deleted,
                        r.source
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What became of one file.
enum FileOutcome {
    Stored { records: u64, changes: Changes },
    Refused(Rejected),
}

/// One file read: its records, or why it was refused.
type Read = Result<metadata::Parsed, metadata::Refusal>;

type Prepared = (
    Vec<u8>,
    Result<(Vec<store::StoredRecord>, Vec<metadata::Warning>), metadata::Refusal>,
);

/// Writes (or, in a dry run, compares) one file's records, or records why it was refused;
/// returns its size and outcome.
async fn ingest_file(
    pool: &sqlx::PgPool,
    run: Option<Uuid>,
    kind: Kind,
    source_name: String,
    prepared: anyhow::Result<Prepared>,
) -> anyhow::Result<(u64, FileOutcome)> {
    let (bytes, read) = prepared?;
    let size = bytes.len() as u64;
    let (records, warnings) = match read {
        Ok(read) => read,
        Err(refusal) => {
            if let Some(run) = run {
                let text = kind.text(&bytes);
                let excerpt = refusal
                    .line
                    .and_then(|l| text.lines().nth(l.saturating_sub(1) as usize))
                    .map(|l| l.chars().take(200).collect::<String>());
                store::record_refusal(
                    pool,
                    run,
                    &source_name,
                    refusal.line,
                    refusal.class,
                    &refusal.message,
                    excerpt.as_deref(),
                )
                .await?;
            }
            let refused = Rejected {
                source_name,
                error_class: refusal.class.to_owned(),
                line: refusal.line,
                message: refusal.message,
            };
            return Ok((size, FileOutcome::Refused(refused)));
        }
    };
    for warning in &warnings {
        eprintln!("warning: {source_name} line {}: {}", warning.line, warning.message);
        if let Some(run) = run {
            store::record_refusal(
                pool,
                run,
                &source_name,
                Some(warning.line),
                "warning",
                &warning.message,
                None,
            )
            .await?;
        }
    }
    let changes = match run {
        Some(run) => store::apply(pool, run, kind, &source_name, &records).await?,
        None => store::compare(pool, kind, &source_name, &records).await?,
    };
    // Records, not rows: a record cut into chunks is one record (its changes count rows).
    let records = records.iter().filter(|r| r.chunk_index == 0).count() as u64;
    Ok((size, FileOutcome::Stored { records, changes }))
}

async fn ingest(pool: &sqlx::PgPool, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let root = if args.source.is_dir() {
        args.source.clone()
    } else {
        args.source.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let relative = |file: &Path| {
        file.strip_prefix(&root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/")
    };
    let files: Vec<PathBuf> = files(&args.source, args.kind, args.recursive)?
        .into_iter()
        .filter(|f| selected(&relative(f), &args.include, &args.exclude))
        .collect();
    if files.is_empty() {
        bail!("no {} files in {}", args.kind.as_str(), args.source.display());
    }
    if args.name.is_some() && files.len() > 1 {
        bail!(
            "--name names one file's source; {} has {} files",
            args.source.display(),
            files.len()
        );
    }
    let run = (!args.dry_run).then(Uuid::now_v7);
    if let Some(run) = run {
        store::start_run(pool, run, args.kind, &args.source.display().to_string()).await?;
    }
    let library = CopyDirs(args.copylib.clone());
    // A FastAPI project is read whole: a route's path takes the prefixes of other modules.
    // Its files' bytes, read once, wait here for their turn to be written.
    let (mut project, mut preread): (Vec<Option<Read>>, Vec<Option<Vec<u8>>>) = if args.kind == Kind::Fastapi {
        let mut sources = Vec::with_capacity(files.len());
        for file in &files {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            sources.push((relative(file), bytes));
        }
        let parsed = metadata::parse_project(args.kind, &sources, &library)
            .into_iter()
            .map(Some)
            .collect();
        (parsed, sources.into_iter().map(|(_, bytes)| Some(bytes)).collect())
    } else {
        (Vec::new(), Vec::new())
    };
    let mut figures = RunFigures::default();
    let mut rejected = Vec::new();
    // Two files at a time: one is parsed while the other's records are written, and the
    // database works on two sources at once (each source keeps its own lock).
    let mut outcomes = std::pin::pin!(
        futures_util::stream::iter(files.iter().enumerate())
            .map(|(index, file)| {
                let source_name = args.name.clone().unwrap_or_else(|| relative(file));
                let read = match preread.get_mut(index).and_then(Option::take) {
                    Some(bytes) => Ok(bytes),
                    None => std::fs::read(file).with_context(|| format!("reading {}", file.display())),
                };
                let prepared = read.map(|bytes| {
                    let parsed = match project.get_mut(index).and_then(Option::take) {
                        Some(parsed) => parsed,
                        None => metadata::parse_with(args.kind, &bytes, &library),
                    };
                    let parsed = parsed.map(|p| {
                        let records = store::prepare(args.kind, &source_name, &args.kind.text(&bytes), p.records);
                        (records, p.warnings)
                    });
                    (bytes, parsed)
                });
                ingest_file(pool, run, args.kind, source_name, prepared)
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
    }
    if let Some(run) = run {
        store::finish_run(pool, run, &figures).await?;
    }
    let report = Report {
        run_id: run,
        kind: args.kind,
        dry_run: args.dry_run,
        figures,
        rejected,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let c = report.figures.changes;
        let verb = if args.dry_run { "would be" } else { "were" };
        println!(
            "{} files, {} records: {} {verb} inserted, {} updated, {} deleted; {} unchanged",
            report.figures.files_seen, report.figures.records_seen, c.inserted, c.updated, c.deleted, c.unchanged
        );
    }
    // On stderr whatever the format: stdout stays the report alone.
    for r in &report.rejected {
        let line = r.line.map(|l| format!(" line {l}")).unwrap_or_default();
        eprintln!("rejected {}{line}: {} ({})", r.source_name, r.message, r.error_class);
    }
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::TASK_FAILED)
    })
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs_match_as_a_shell_and_gitignore_do() {
        assert!(
            glob_matches("*.yaml", "deploy/web.yaml"),
            "a bare pattern matches the file name"
        );
        assert!(!glob_matches("*.yaml", "deploy/web.yml"));
        assert!(glob_matches("deploy/*.yaml", "deploy/web.yaml"));
        assert!(
            !glob_matches("deploy/*.yaml", "deploy/prod/web.yaml"),
            "* stays in one segment"
        );
        assert!(glob_matches("deploy/**/*.yaml", "deploy/prod/eu/web.yaml"));
        assert!(
            glob_matches("deploy/**/*.yaml", "deploy/web.yaml"),
            "** matches no segment too"
        );
        assert!(glob_matches("**/templates/**", "chart/templates/a.yaml"));
        assert!(glob_matches("v?.cpy", "v1.cpy"));
        assert!(!glob_matches("v?.cpy", "v12.cpy"));
    }
}
