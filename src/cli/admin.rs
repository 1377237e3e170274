//! Commands that look after the installation: migrations, database roles, health checks.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::migrate::MigrateDatabase;

use intake::settings::{Secrets, Settings};
use intake::store::MIGRATOR;

use super::{MigrateAction, RolesArgs, connect_db};

pub(super) async fn migrate(settings: &Settings, secrets: &Secrets, action: MigrateAction) -> anyhow::Result<ExitCode> {
    if matches!(action, MigrateAction::Up) {
        let url = secrets.database()?;
        let exists = sqlx::Postgres::database_exists(url.expose())
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at {}", url.redacted()))?;
        if !exists {
            sqlx::Postgres::create_database(url.expose())
                .await
                .with_context(|| format!("creating the database of {}", url.redacted()))?;
            println!("database created");
        }
    }
    let pool = connect_db(settings, secrets).await?;
    match action {
        MigrateAction::Up => {
            MIGRATOR.run(&pool).await.context("applying migrations")?;
            println!("migrations applied");
        }
        MigrateAction::Down { all, yes } => {
            if all {
                super::confirm(
                    "reverting every migration (dropping the catalogue and its history)",
                    yes,
                )?;
            }
            let applied = applied_versions(&pool).await?;
            let target = if all {
                0
            } else {
                match applied.len() {
                    0 => {
                        println!("no migration is applied");
                        return Ok(ExitCode::SUCCESS);
                    }
                    n if n >= 2 => applied[n - 2],
                    _ => 0,
                }
            };
            MIGRATOR.undo(&pool, target).await.context("reverting migrations")?;
            println!("migrations reverted to version {target}");
        }
        MigrateAction::Status => {
            let applied = applied_versions(&pool).await?;
            for migration in MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()) {
                let state = if applied.contains(&migration.version) {
                    "applied"
                } else {
                    "pending"
                };
                println!("{:>16}  {state:<8}  {}", migration.version, migration.description);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn applied_versions(pool: &sqlx::PgPool) -> anyhow::Result<Vec<i64>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?,
    )
}

pub(super) async fn health(settings: &Settings, ready: bool) -> anyhow::Result<ExitCode> {
    let bind = settings.http.bind.trim();
    if bind.is_empty() {
        bail!("http.bind is empty: this worker has no health listener");
    }
    // A worker listening on every interface answers on the loopback one.
    let address = bind.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
    let path = if ready { "readyz" } else { "healthz" };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build()?;
    match client.get(format!("http://{address}/{path}")).send().await {
        Ok(response) if response.status().is_success() => {
            if ready {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                for warning in body["warnings"].as_array().into_iter().flatten() {
                    eprintln!("warning: {}", warning.as_str().unwrap_or_default());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(response) => {
            eprintln!(
                "unhealthy: {} {}",
                response.status(),
                response.text().await.unwrap_or_default().trim()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("unhealthy: no answer on {address}: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub(super) async fn roles(secrets: &Secrets, args: RolesArgs) -> anyhow::Result<ExitCode> {
    let url = secrets.database()?;
    let pool = intake::store::pool(
        url,
        &intake::settings::DatabaseSettings {
            max_connections: 2,
            acquire_timeout_ms: 10_000,
            max_rows_per_second: 0,
        },
    )?;
    let password = |var: &str| std::env::var(var).ok().filter(|p| !p.is_empty());
    intake::store::roles::create(
        &pool,
        &intake::store::roles::Roles {
            migrator: args.migrator.clone(),
            migrator_password: password(&args.migrator_password_env),
            worker: args.worker.clone(),
            worker_password: password(&args.worker_password_env),
        },
    )
    .await
    .with_context(|| format!("creating roles on {}", url.redacted()))?;
    println!(
        "roles {} (owns the schema) and {} (rows only) are ready",
        args.migrator, args.worker
    );
    Ok(ExitCode::SUCCESS)
}

/// `intake config show`: the settings as the worker would run with them.
pub fn config_show(settings: &Settings, secrets: &Secrets) -> anyhow::Result<ExitCode> {
    let mut shown = serde_json::to_value(settings)?;
    let url = |u: &Option<intake::settings::SecretUrl>| {
        u.as_ref()
            .map_or(serde_json::Value::Null, |u| serde_json::Value::String(u.redacted()))
    };
    if let Some(object) = shown.as_object_mut() {
        object.insert(
            "secrets".into(),
            serde_json::json!({
                "DATABASE_URL": url(&secrets.database_url),
                "REDIS_URL": url(&secrets.redis_url),
            }),
        );
        if !settings.unknown_keys.is_empty() {
            object.insert("unknown_keys".into(), serde_json::json!(settings.unknown_keys));
        }
    }
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(ExitCode::SUCCESS)
}
