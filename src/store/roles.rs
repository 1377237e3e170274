//! Least privilege: a migrator role that owns the schema, and a worker role that reads and
//! writes rows but cannot change the schema. Created by `intake roles` with an administrator's
//! connection, before the first migration.

use sqlx::PgPool;

/// The two roles and their passwords (a role without one cannot log in).
pub struct Roles {
    pub migrator: String,
    pub migrator_password: Option<String>,
    pub worker: String,
    pub worker_password: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RolesError {
    #[error("{0:?} is not a valid role name (lowercase letters, digits and _, starting with a letter)")]
    Name(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn valid(name: &str) -> Result<(), RolesError> {
    let ok = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok { Ok(()) } else { Err(RolesError::Name(name.to_owned())) }
}

/// Runs a statement that PostgreSQL builds itself with `format(%I, %L)`, so names and
/// passwords are quoted by the server, never by string pasting.
async fn run(pool: &PgPool, template: &str, args: &[&str]) -> Result<(), sqlx::Error> {
    let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
        "SELECT format('{template}'{})",
        (1..=args.len()).map(|i| format!(", ${i}")).collect::<String>()
    )));
    for arg in args {
        query = query.bind(*arg);
    }
    let statement = query.fetch_one(pool).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(pool).await?;
    Ok(())
}

async fn ensure_role(pool: &PgPool, name: &str, password: Option<&str>) -> Result<(), sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(name)
        .fetch_one(pool)
        .await?;
    if !exists {
        run(pool, "CREATE ROLE %I NOLOGIN", &[name]).await?;
    }
    match password {
        Some(password) => run(pool, "ALTER ROLE %I LOGIN PASSWORD %L", &[name, password]).await,
        None => Ok(()),
    }
}

/// Creates the roles if missing and grants what each needs; safe to run again.
pub async fn create(pool: &PgPool, roles: &Roles) -> Result<(), RolesError> {
    valid(&roles.migrator)?;
    valid(&roles.worker)?;
    ensure_role(pool, &roles.migrator, roles.migrator_password.as_deref()).await?;
    ensure_role(pool, &roles.worker, roles.worker_password.as_deref()).await?;
    let database: String = sqlx::query_scalar("SELECT current_database()").fetch_one(pool).await?;
    let (m, w, db) = (roles.migrator.as_str(), roles.worker.as_str(), database.as_str());

    // Nobody but the migrator creates objects in the schema.
    run(pool, "REVOKE CREATE ON SCHEMA public FROM PUBLIC", &[]).await?;
    run(pool, "GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I", &[db, m]).await?;
    run(pool, "GRANT USAGE, CREATE ON SCHEMA public TO %I", &[m]).await?;
    // The worker: connect, stage rows in temporary tables, read and write rows.
    run(pool, "GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I", &[db, w]).await?;
    run(pool, "GRANT USAGE ON SCHEMA public TO %I", &[w]).await?;
    run(pool, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I", &[w]).await?;
    run(pool, "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I", &[w]).await?;
    // …and on every table the migrator creates later.
    run(
        pool,
        "ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I",
        &[m, w],
    )
    .await?;
    run(
        pool,
        "ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %I",
        &[m, w],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_plain_identifiers() {
        assert!(valid("intake_worker").is_ok());
        assert!(valid("Intake").is_err());
        assert!(valid("x; DROP TABLE suppliers").is_err());
        assert!(valid("").is_err());
    }
}
