//! The `intake` command line: what each subcommand takes and does.

mod admin;
mod metadata;
mod queue;
mod source;
mod story;
mod supplier;
mod tasks;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use source::SourceArgs;

use intake::queue::RedisQueue;
use intake::settings::{Secrets, Settings};
use intake::startup::{self, Worker};
use intake::store;

/// Exit code of a command whose task failed (as opposed to the command itself).
const TASK_FAILED: u8 = 3;

/// The version and the commit the binary was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("INTAKE_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "intake",
    version = VERSION,
    about = "Supplier price lists from a Redis queue into a PostgreSQL catalogue"
)]
pub struct Cli {
    /// A TOML file read on top of the built-in defaults (config/default.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply, revert or list the database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Take tasks off the queue until SIGINT or SIGTERM.
    Worker,
    /// Put a task on the queue and print its id.
    Enqueue(EnqueueArgs),
    /// Run one task in this process, without the queue.
    Ingest(IngestArgs),
    /// Show how a source would be read and mapped, touching neither database nor queue.
    Preview(PreviewArgs),
    /// Inspect and act on dead-lettered tasks.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Show or forget what is kept per supplier (its remembered column mapping).
    Supplier {
        #[command(subcommand)]
        action: supplier::SupplierAction,
    },
    /// A task's story, or the recent tasks.
    Task {
        #[command(subcommand)]
        action: story::TaskAction,
    },
    /// The rows a task rejected, with why (text, CSV or JSON).
    Rejects(story::RejectsArgs),
    /// The price changes of a supplier's lists: old → new, in percent.
    Prices(story::PricesArgs),
    /// Inspect the queue.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
    },
    /// Technical artifacts (COBOL copybooks so far) into the metadata records.
    Metadata {
        #[command(subcommand)]
        action: metadata::MetadataAction,
    },
    /// Print the effective settings (defaults, file, environment) as JSON, the connection
    /// URLs with their passwords masked.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print a completion script for a shell: `intake completions bash > /etc/bash_completion.d/intake`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Exit 0 if the worker of this machine answers on its health listener, 1 otherwise.
    Health {
        /// Also require PostgreSQL and Redis to answer (readiness rather than liveness).
        #[arg(long)]
        ready: bool,
    },
    /// Create the database roles: a migrator that owns the schema, a worker that only reads
    /// and writes rows. Run once, with DATABASE_URL of an administrator.
    Roles(RolesArgs),
}

#[derive(Debug, Args)]
pub struct RolesArgs {
    /// The name of the role that owns the schema.
    #[arg(long, default_value = "intake_migrator")]
    pub migrator: String,
    /// The name of the role the workers log in as.
    #[arg(long, default_value = "intake_worker")]
    pub worker: String,
    /// The environment variable holding the migrator's password (the role can log in only with one).
    #[arg(long, value_name = "VAR", default_value = "INTAKE_MIGRATOR_PASSWORD")]
    pub migrator_password_env: String,
    /// The environment variable holding the worker's password.
    #[arg(long, value_name = "VAR", default_value = "INTAKE_WORKER_PASSWORD")]
    pub worker_password_env: String,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// The effective settings.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the latest migration (or all of them: asks first on a terminal, scripts pass --yes).
    Down {
        /// Revert every migration.
        #[arg(long)]
        all: bool,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// List dead letters, oldest first.
    List {
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with its message and error history.
    Show {
        /// The dead letter's id (its task id).
        id: String,
    },
    /// Put dead letters back on the queue with a fresh retry budget. A replayed list keeps its
    /// place among its supplier's lists: older than the one applied since, it is superseded.
    Replay {
        /// The dead letter to replay (its task id).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Replay every dead letter.
        #[arg(long)]
        all: bool,
        /// Apply the list even if a newer one of its supplier was applied since.
        #[arg(long)]
        force: bool,
    },
    /// Delete dead letters (all, or those older than a duration such as 7d). Asks first on a
    /// terminal; scripts pass --yes.
    Purge {
        /// Only those dead-lettered longer ago than this (e.g. 7d).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        older_than: Option<Duration>,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// Waiting, in-progress, scheduled and dead tasks.
    Stats {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// The supplier; created on first use.
    #[arg(long)]
    pub supplier: String,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub queue: QueueArgs,
}

/// How a task is queued, whatever its family.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Transient failures tolerated before dead-lettering (default: retry.max_retries).
    #[arg(long)]
    pub max_retries: Option<u32>,
    /// Dead-letter the task if it has not started within this duration (e.g. 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expires_in: Option<Duration>,
    /// Wait for the result, print it as JSON, exit 3 if the task failed (or refused files).
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30m")]
    pub timeout: Duration,
    /// A W3C traceparent to continue the producer's trace.
    #[arg(long)]
    pub traceparent: Option<String>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The supplier; created on first use.
    #[arg(long)]
    pub supplier: String,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// How many stored and rejected rows to show.
    #[arg(long, default_value_t = 10)]
    pub rows: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Asks on the terminal before an action that destroys data; `--yes` answers for scripts. Without
/// a terminal to ask on and without `--yes`, nothing is done.
fn confirm(what: &str, yes: bool) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{what} cannot be undone: pass --yes to confirm (there is no terminal to ask on)");
    }
    eprint!("{what} cannot be undone. Type yes to go on: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        bail!("not confirmed: nothing was done")
    }
}

/// `1500ms`, `30s`, `5m`, `2h`, `7d`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 5m, 2h or 7d"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (ms, s, m, h, d)")),
    };
    Ok(Duration::from_secs(seconds))
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    for key in &settings.unknown_keys {
        let variable = format!("INTAKE__{}", key.to_uppercase().replace('.', "__"));
        eprintln!("warning: no setting is called {key:?} ({variable} or a config file key): it is ignored");
    }
    let telemetry = intake::telemetry::init(&settings.log, &settings.telemetry)?;
    let secrets = Secrets::from_env();
    let result = match cli.command {
        Command::Migrate { action } => admin::migrate(&settings, &secrets, action).await,
        Command::Roles(args) => admin::roles(&secrets, args).await,
        Command::Worker => worker(&settings, &secrets).await,
        Command::Enqueue(args) => tasks::enqueue(&settings, &secrets, &telemetry, args).await,
        Command::Ingest(args) => tasks::ingest(&settings, &secrets, args).await,
        Command::Preview(args) => tasks::preview(&settings, args).await,
        Command::Dlq { action } => queue::dlq(&settings, &secrets, action).await,
        Command::Queue { action } => queue::queue(&settings, &secrets, action).await,
        Command::Supplier { action } => supplier::run(&settings, &secrets, action).await,
        Command::Task { action } => story::task(&settings, &secrets, action).await,
        Command::Metadata { action } => metadata::run(&settings, &secrets, action).await,
        Command::Rejects(args) => story::rejects(&settings, &secrets, args).await,
        Command::Prices(args) => story::prices(&settings, &secrets, args).await,
        Command::Health { ready } => admin::health(&settings, ready).await,
        Command::Config {
            action: ConfigAction::Show,
        } => admin::config_show(&settings, &secrets),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "intake", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    // Flushing spans blocks on the exporter's own thread; keep it off the runtime.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    result
}

async fn connect_db(settings: &Settings, secrets: &Secrets) -> anyhow::Result<sqlx::PgPool> {
    let url = secrets.database()?;
    // Fail now with one clear line rather than at the first query: one connection first, so a
    // refused server says so at once instead of as a pool that timed out.
    let timeout = Duration::from_millis(settings.database.acquire_timeout_ms);
    store::check_connection(url, timeout).await.map_err(|e| match e {
        sqlx::Error::PoolTimedOut => anyhow::anyhow!(
            "cannot connect to PostgreSQL at {}: no answer within {} ms",
            url.redacted(),
            timeout.as_millis()
        ),
        sqlx::Error::Database(db) => {
            anyhow::anyhow!("cannot connect to PostgreSQL at {}: {}", url.redacted(), db.message())
        }
        e => anyhow::anyhow!("cannot connect to PostgreSQL at {}: {e}", url.redacted()),
    })?;
    Ok(store::pool(url, &settings.database)?)
}

async fn connect_queue(settings: &Settings, secrets: &Secrets) -> anyhow::Result<RedisQueue> {
    let url = secrets.redis()?;
    let queue = RedisQueue::connect(url, &settings.queue, &settings.redis)
        .await
        .with_context(|| format!("cannot connect to Redis at {}", url.redacted()))?;
    queue
        .ping()
        .await
        .with_context(|| format!("cannot reach Redis at {}", url.redacted()))?;
    Ok(queue)
}

async fn worker(settings: &Settings, secrets: &Secrets) -> anyhow::Result<ExitCode> {
    let pool = store::pool(secrets.database()?, &settings.database)?;
    let queue = connect_queue(settings, secrets).await?;
    let worker = Worker::start(settings, pool, queue, startup::decoders()).await?;
    worker.run_until(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_flag_says_what_it_is_for() {
        use clap::CommandFactory;
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if !matches!(id, "help" | "version") && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(path.clone());
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "intake", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("").is_err());
    }
}
