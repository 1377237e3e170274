//! Least privilege in the database: the migrator owns the schema, the worker writes rows and
//! nothing else, and role passwords travel only as SCRAM verifiers.

use sqlx::{Connection, PgConnection};

use crate::helpers::{TestDb, TestEnv, with_database};

/// Drops the test's roles once its database is gone (declare it before the TestDb).
struct RolesGuard(Vec<String>);

impl Drop for RolesGuard {
    fn drop(&mut self) {
        let roles = self.0.clone();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&crate::helpers::server_url()).await {
                    for role in roles {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
                            .execute(&mut admin)
                            .await;
                    }
                }
            });
        })
        .join();
    }
}

#[tokio::test]
async fn the_worker_role_writes_rows_but_cannot_change_the_schema() {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (migrator, worker) = (format!("migrator_{suffix}"), format!("worker_{suffix}"));
    let _roles = RolesGuard(vec![migrator.clone(), worker.clone()]);
    let db = TestDb::empty_on_server().await;

    let roles = intake::store::roles::Roles {
        migrator: migrator.clone(),
        migrator_password: Some("m-secret".into()),
        worker: worker.clone(),
        worker_password: Some("w-secret".into()),
    };
    intake::store::roles::create(&db.pool, &roles).await.unwrap();
    // Idempotent: the runbook may run it again.
    intake::store::roles::create(&db.pool, &roles).await.unwrap();

    let as_role = |role: &str| {
        with_database(&crate::helpers::server_url(), &db.name).replacen("postgres@", &format!("{role}@"), 1)
    };
    let migrator_pool = sqlx::PgPool::connect(&as_role(&migrator)).await.unwrap();
    intake::store::MIGRATOR
        .run(&migrator_pool)
        .await
        .expect("the migrator migrates");

    let mut conn = PgConnection::connect(&as_role(&worker)).await.unwrap();
    let ddl = sqlx::query("CREATE TABLE intruder (id int)")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(ddl.to_string().contains("permission denied"), "{ddl}");
    let drop = sqlx::query("DROP TABLE supplier_items")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(drop.to_string().contains("must be owner"), "{drop}");
    let truncate = sqlx::query("TRUNCATE price_history")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(truncate.to_string().contains("permission denied"), "{truncate}");
    sqlx::query("INSERT INTO suppliers (name) VALUES ('Direct')")
        .execute(&mut conn)
        .await
        .unwrap();

    // A whole ingestion, as the worker role.
    let env = TestEnv::new().await;
    let mut command = env.command();
    let list = env.csv("p.csv", "SKU,Name,Price\nA,Hammer,1\nB,Saw,2\n");
    let out = command
        .env("DATABASE_URL", as_role(&worker))
        .args(["ingest", "--supplier", "Acme", "--parser", "csv", "--source"])
        .arg(&list)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(db.count("SELECT count(*) FROM supplier_items").await, 2);
    migrator_pool.close().await;
}

#[tokio::test]
async fn roles_get_a_scram_verifier_of_their_password_never_the_password() {
    use aws_lc_rs::{digest, hmac, pbkdf2};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (migrator, worker) = (format!("migrator_{suffix}"), format!("worker_{suffix}"));
    let _roles = RolesGuard(vec![migrator.clone(), worker.clone()]);
    let db = TestDb::empty_on_server().await;
    let roles = intake::store::roles::Roles {
        migrator: migrator.clone(),
        migrator_password: None,
        worker: worker.clone(),
        worker_password: Some("w-secret".into()),
    };
    intake::store::roles::create(&db.pool, &roles).await.unwrap();

    let stored = |role: String| {
        sqlx::query_scalar::<_, Option<String>>("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
            .bind(role)
            .fetch_one(&db.pool)
    };
    assert_eq!(
        stored(migrator.clone()).await.unwrap(),
        None,
        "no password, no verifier"
    );
    let verifier = stored(worker.clone())
        .await
        .unwrap()
        .expect("the worker has a password");
    assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");

    // The server trusts 127.0.0.1, so logging in proves little; recomputing the verifier from
    // its salt with another implementation (aws-lc) proves the password is the one given.
    let (salt, keys) = verifier["SCRAM-SHA-256$4096:".len()..].split_once('$').unwrap();
    let (stored_key, server_key) = keys.split_once(':').unwrap();
    let salt = STANDARD.decode(salt).unwrap();
    assert_eq!(salt.len(), 16);
    let mut salted = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        4096.try_into().unwrap(),
        &salt,
        b"w-secret",
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    assert_eq!(
        stored_key,
        STANDARD.encode(digest::digest(&digest::SHA256, client_key.as_ref()))
    );
    assert_eq!(server_key, STANDARD.encode(hmac::sign(&key, b"Server Key")));

    // Running it again gives a new salt, and still the same password.
    intake::store::roles::create(&db.pool, &roles).await.unwrap();
    let again = stored(worker.clone()).await.unwrap().unwrap();
    assert_ne!(again, verifier, "a fresh salt each time");

    let url =
        with_database(&crate::helpers::server_url(), &db.name).replacen("postgres@", &format!("{worker}:w-secret@"), 1);
    let mut conn = PgConnection::connect(&url)
        .await
        .expect("the worker logs in with its password");
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(user, worker);
    conn.close().await.unwrap();
}
