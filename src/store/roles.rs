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
    #[error("the password of role {0} must be ASCII, without NUL (it is sent only as a SCRAM-SHA-256 verifier)")]
    Password(String),
    #[error("no random salt for a password: {0}")]
    Random(getrandom::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn valid(name: &str) -> Result<(), RolesError> {
    let ok = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RolesError::Name(name.to_owned()))
    }
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

/// The statement, as a `run` template and its arguments, that lets `name` log in with
/// `password`. The argument is a SCRAM-SHA-256 verifier, which PostgreSQL stores as it is
/// (as with libpq's `PQencryptPasswordConn` or psql's `\password`): the password itself never
/// reaches the server, so neither its log (`log_statement`) nor `pg_stat_statements` can keep it.
fn set_password(
    name: &str,
    password: &str,
    salt: &[u8; scram::SALT_LEN],
) -> Result<(&'static str, [String; 2]), RolesError> {
    // PostgreSQL normalises passwords with SASLprep before hashing them, and so does libpq when
    // a client logs in. For ASCII that is the identity; for anything else this verifier could
    // differ from the server's, and the role would not log in, so refuse it here instead. A
    // NUL would not survive libpq's C strings either.
    if !password.bytes().all(|b| b.is_ascii() && b != 0) {
        return Err(RolesError::Password(name.to_owned()));
    }
    let verifier = scram::verifier(password.as_bytes(), salt, scram::ITERATIONS);
    Ok(("ALTER ROLE %I LOGIN PASSWORD %L", [name.to_owned(), verifier]))
}

fn salt() -> Result<[u8; scram::SALT_LEN], RolesError> {
    let mut salt = [0; scram::SALT_LEN];
    getrandom::fill(&mut salt).map_err(RolesError::Random)?;
    Ok(salt)
}

async fn ensure_role(pool: &PgPool, name: &str, set_password: Option<(&str, [String; 2])>) -> Result<(), sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(name)
        .fetch_one(pool)
        .await?;
    if !exists {
        run(pool, "CREATE ROLE %I NOLOGIN", &[name]).await?;
    }
    match set_password {
        Some((template, [name, verifier])) => run(pool, template, &[&name, &verifier]).await,
        None => Ok(()),
    }
}

/// Creates the roles if missing and grants what each needs; safe to run again.
pub async fn create(pool: &PgPool, roles: &Roles) -> Result<(), RolesError> {
    valid(&roles.migrator)?;
    valid(&roles.worker)?;
    // Both passwords are checked before anything changes, so a refused one leaves things as they were.
    let password = |name: &str, password: Option<&str>| password.map(|p| set_password(name, p, &salt()?)).transpose();
    let migrator_password = password(&roles.migrator, roles.migrator_password.as_deref())?;
    let worker_password = password(&roles.worker, roles.worker_password.as_deref())?;
    ensure_role(pool, &roles.migrator, migrator_password).await?;
    ensure_role(pool, &roles.worker, worker_password).await?;
    let database: String = sqlx::query_scalar("SELECT current_database()").fetch_one(pool).await?;
    let (m, w, db) = (roles.migrator.as_str(), roles.worker.as_str(), database.as_str());

    // Nobody but the migrator creates objects in the schema.
    run(pool, "REVOKE CREATE ON SCHEMA public FROM PUBLIC", &[]).await?;
    run(pool, "GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I", &[db, m]).await?;
    run(pool, "GRANT USAGE, CREATE ON SCHEMA public TO %I", &[m]).await?;
    // The worker: connect, stage rows in temporary tables, read and write rows.
    run(pool, "GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I", &[db, w]).await?;
    run(pool, "GRANT USAGE ON SCHEMA public TO %I", &[w]).await?;
    run(
        pool,
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I",
        &[w],
    )
    .await?;
    run(
        pool,
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I",
        &[w],
    )
    .await?;
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

/// SCRAM-SHA-256 verifiers as PostgreSQL stores them (RFC 5802 and 7677, as in PostgreSQL's
/// `src/common/scram-common.c`). HMAC and PBKDF2 are a few lines over `sha2`, which the crate
/// already has, rather than two more dependencies.
mod scram {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use sha2::{Digest, Sha256};

    /// PostgreSQL's default (`scram_iterations`), and what libpq uses.
    pub const ITERATIONS: u32 = 4096;
    /// PostgreSQL's `SCRAM_DEFAULT_SALT_LEN`.
    pub const SALT_LEN: usize = 16;
    const BLOCK: usize = 64;

    /// HMAC-SHA256 (RFC 2104) with its key absorbed once, so each message costs two blocks.
    struct Hmac {
        inner: Sha256,
        outer: Sha256,
    }

    impl Hmac {
        fn new(key: &[u8]) -> Self {
            let mut block = [0u8; BLOCK];
            if key.len() > BLOCK {
                block[..32].copy_from_slice(&Sha256::digest(key));
            } else {
                block[..key.len()].copy_from_slice(key);
            }
            let padded = |pad: u8| Sha256::new_with_prefix(block.map(|b| b ^ pad));
            Self {
                inner: padded(0x36),
                outer: padded(0x5c),
            }
        }

        fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
            let mut inner = self.inner.clone();
            for part in parts {
                inner.update(part);
            }
            let mut outer = self.outer.clone();
            outer.update(inner.finalize());
            outer.finalize().into()
        }
    }

    /// PBKDF2-HMAC-SHA256 (RFC 8018) for one output block, which is all SCRAM needs.
    fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
        let prf = Hmac::new(password);
        let mut u = prf.mac(&[salt, &1u32.to_be_bytes()]);
        let mut out = u;
        for _ in 1..iterations {
            u = prf.mac(&[&u]);
            out.iter_mut().zip(u).for_each(|(o, b)| *o ^= b);
        }
        out
    }

    /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64 with padding. The
    /// password must already be SASLprep-normalised (for ASCII it is as it stands).
    pub fn verifier(password: &[u8], salt: &[u8], iterations: u32) -> String {
        let salted = Hmac::new(&pbkdf2(password, salt, iterations));
        let stored_key = Sha256::digest(salted.mac(&[b"Client Key"]));
        let server_key = salted.mac(&[b"Server Key"]);
        format!(
            "SCRAM-SHA-256${iterations}:{}${}:{}",
            STANDARD.encode(salt),
            STANDARD.encode(stored_key),
            STANDARD.encode(server_key)
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn hex(bytes: &[u8]) -> String {
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }

        #[test]
        fn hmac_matches_rfc_4231() {
            // Test case 2, and test case 6, whose key is longer than a block.
            let mac = Hmac::new(b"Jefe").mac(&[b"what do ya want ", b"for nothing?"]);
            assert_eq!(
                hex(&mac),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
            );
            let mac = Hmac::new(&[0xaa; 131]).mac(&[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
            assert_eq!(
                hex(&mac),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
            );
        }

        #[test]
        fn pbkdf2_matches_rfc_7914() {
            // Section 11, first 32 bytes of the first vector.
            let key = pbkdf2(b"passwd", b"salt", 1);
            assert_eq!(
                hex(&key),
                "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
            );
        }

        #[test]
        fn verifiers_match_postgresql_and_python() {
            // Made by PostgreSQL 15 for `CREATE ROLE … PASSWORD 'pencil'`.
            let salt = STANDARD.decode("UqsOjwr+ELkyU45XxDbP0w==").unwrap();
            assert_eq!(
                verifier(b"pencil", &salt, ITERATIONS),
                "SCRAM-SHA-256$4096:UqsOjwr+ELkyU45XxDbP0w==$BQ8U21iOGpxQGTMmpUF0UeMbKs0DVn5WJEng0UVWCB4=:nMFpoFylWGnP0lMQAHHsKV9DlCZudR1Fl8Dn/KoiMig="
            );
            // Python: hashlib.pbkdf2_hmac('sha256', pw, bytes(range(16)), 4096), then hmac and sha256.
            let salt: Vec<u8> = (0..16).collect();
            assert_eq!(
                verifier(b"w-secret", &salt, ITERATIONS),
                "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$VeCCzoLmi/WZ4ydX0pKx682n2ujJvx8iHCsSqlFxtqE=:f5a4HN1Qw/qePuZFRU4Oxybsh7gInMx5979VLxMt2e8="
            );
            // Longer than an HMAC block, so HMAC hashes it first.
            assert_eq!(
                verifier(&[b'x'; 100], &salt, ITERATIONS),
                "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$2cyXveUOd3NgkaT0zFh234Ngq4PEj8t7A/zEe3ynZDw=:G6/CRz8avBtSUjikEGjJ4Slfqq/j5C0G/fnA+MJvsDU="
            );
        }
    }
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

    #[test]
    fn the_password_is_sent_only_as_a_verifier() {
        let fixed = [7; scram::SALT_LEN];
        let (template, args) = set_password("intake_worker", "w-secret", &fixed).unwrap();
        assert_eq!(template, "ALTER ROLE %I LOGIN PASSWORD %L");
        assert_eq!(args[0], "intake_worker");
        assert_eq!(args[1], scram::verifier(b"w-secret", &fixed, 4096));
        assert!(
            args[1].starts_with("SCRAM-SHA-256$4096:BwcHBwcHBwcHBwcHBwcHBw==$"),
            "{}",
            args[1]
        );
        for sent in std::iter::once(template).chain(args.iter().map(String::as_str)) {
            assert!(!sent.contains("w-secret"), "{sent}");
        }
        // A fresh salt every time, so equal passwords do not give equal verifiers.
        assert_ne!(salt().unwrap(), salt().unwrap());
    }

    #[test]
    fn passwords_that_sasl_prep_could_change_are_refused() {
        for password in ["pässwörd", "a\u{a0}b", "nul\0"] {
            let refused = set_password("intake_worker", password, &[0; scram::SALT_LEN]).unwrap_err();
            assert!(
                matches!(refused, RolesError::Password(ref role) if role == "intake_worker"),
                "{refused}"
            );
            assert!(!refused.to_string().contains(password), "{refused}");
        }
    }
}
