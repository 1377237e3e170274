//! Artifacts into the metadata records through `intake metadata ingest`: a first run inserts,
//! an unchanged re-run writes no row at all, a changed copybook updates and tombstones, a
//! broken file is refused alone, a dry run writes nothing; real manifests and data dictionaries
//! go the same way.

use serde_json::Value;

use crate::helpers::TestEnv;

pub(crate) const BOOK: &str = "\
       01  ACCOUNT.
           05  ACCT-ID          PIC 9(10)     COMP-3.
           05  HOLDER           PIC X(40).
           05  STATUS           PIC X.
               88  OPEN         VALUE 'O'.
               88  CLOSED       VALUE 'C'.
           05  BALANCE          PIC S9(11)V99 COMP-3.
";

fn ingest(env: &TestEnv, dir: &std::path::Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    ingest_kind(env, "cobol", dir, extra)
}

fn ingest_kind(env: &TestEnv, kind: &str, dir: &std::path::Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    let out = env
        .command()
        .args(["metadata", "ingest", "--kind", kind, "--json", "--source"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) async fn xmins(env: &TestEnv) -> Vec<(String, String)> {
    sqlx::query_as("SELECT id, xmin::text FROM source_metadata ORDER BY id")
        .fetch_all(&env.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn copybooks_are_ingested_idempotently_to_the_row() {
    let env = TestEnv::new().await;
    let dir = env.dir.0.join("copybooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("account.cpy"), BOOK).unwrap();

    let (code, first, err) = ingest(&env, &dir, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(first["records_seen"], 7, "the record, four fields, two conditions");
    assert_eq!(first["changes"]["inserted"], 7);
    let path: String = sqlx::query_scalar("SELECT semantic_path FROM source_metadata WHERE name = 'BALANCE'")
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(path, "cobol:account.cpy#ACCOUNT/BALANCE");
    let offset: Value = sqlx::query_scalar("SELECT attributes -> 'offset' FROM source_metadata WHERE name = 'BALANCE'")
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(offset, 47, "6 + 40 + 1 bytes before it");
    let shown = env
        .command()
        .args(["metadata", "show", "cobol:account.cpy#ACCOUNT/BALANCE", "--json"])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["data_type"], "packed_decimal");
    assert_eq!(
        shown["content"].as_str().unwrap().trim(),
        "05  BALANCE          PIC S9(11)V99 COMP-3."
    );

    let before = xmins(&env).await;
    let (code, again, err) = ingest(&env, &dir, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        again["changes"],
        serde_json::json!({"inserted": 0, "updated": 0, "unchanged": 7, "deleted": 0})
    );
    assert_eq!(xmins(&env).await, before, "an unchanged re-run writes no row");

    // BALANCE grows, STATUS and its conditions go, a field arrives.
    let changed = BOOK
        .replace("S9(11)V99", "S9(13)V99")
        .replace(
            "           05  STATUS           PIC X.\n",
            "           05  OPENED-ON        PIC X(10).\n",
        )
        .replace("               88  OPEN         VALUE 'O'.\n", "")
        .replace("               88  CLOSED       VALUE 'C'.\n", "");
    std::fs::write(dir.join("account.cpy"), &changed).unwrap();
    let (_, dry, _) = ingest(&env, &dir, &["--dry-run"]);
    assert_eq!(xmins(&env).await, before, "a dry run writes nothing");
    let (code, third, err) = ingest(&env, &dir, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(dry["changes"], third["changes"], "the dry run said what the run did");
    let changes = &third["changes"];
    assert_eq!(changes["inserted"], 1, "OPENED-ON: {third}");
    assert_eq!(changes["deleted"], 3, "STATUS and its two conditions: {third}");
    // BALANCE's picture and offset changed, the record's length and content too.
    assert_eq!(changes["updated"], 2, "{third}");
    let gone: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM source_metadata WHERE deleted_at IS NOT NULL AND name IN ('STATUS', 'OPEN', 'CLOSED')",
    )
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(gone, 3, "tombstoned, not deleted");

    std::fs::write(
        dir.join("broken.cpy"),
        "       01  X.\n           05  Y  PIC X(3) NONSENSE.\n",
    )
    .unwrap();
    let (code, report, err) = ingest(&env, &dir, &[]);
    assert_eq!(code, Some(3), "a rejected file: {err}");
    assert_eq!(
        (report["files_ingested"].clone(), report["files_rejected"].clone()),
        (Value::from(1), Value::from(1))
    );
    let refused: (String, String, i32) =
        sqlx::query_as("SELECT source_name, error_class, line FROM source_metadata_errors")
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    assert_eq!(refused, ("broken.cpy".to_owned(), "parse_error".to_owned(), 2));
    let from_broken: i64 = sqlx::query_scalar("SELECT count(*) FROM source_metadata WHERE source_name = 'broken.cpy'")
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(from_broken, 0, "nothing else is stored from a refused file");
    let runs: Vec<(String,)> = sqlx::query_as("SELECT status FROM ingestion_log ORDER BY started_at")
        .fetch_all(&env.db.pool)
        .await
        .unwrap();
    let statuses: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        statuses,
        ["completed", "completed", "completed", "completed_with_errors"]
    );
}

#[tokio::test]
async fn copy_members_come_from_the_copy_library_and_a_stated_length_is_checked() {
    let env = TestEnv::new().await;
    let books = env.dir.0.join("books");
    let lib = env.dir.0.join("copylib");
    std::fs::create_dir_all(&books).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        lib.join("ADDR.cpy"),
        "           05  :TAG:-STREET  PIC X(30).\n           05  :TAG:-ZIP     PIC X(10).\n",
    )
    .unwrap();
    std::fs::write(
        books.join("customer.cpy"),
        "      * RECORD LENGTH = 99\n       01  CUSTOMER.\n           05  CUST-ID  PIC 9(6).\n           COPY ADDR REPLACING ==:TAG:== BY ==HOME==.\n",
    )
    .unwrap();

    let (code, report, err) = ingest(&env, &books, &[]);
    assert_eq!(
        code,
        Some(3),
        "without a copy library the COPY cannot be resolved: {err}"
    );
    assert!(err.contains("--copylib"), "{err}");
    assert_eq!(report["files_rejected"], 1);

    let (code, report, err) = ingest(&env, &books, &["--copylib", lib.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        report["changes"]["inserted"], 4,
        "the record, CUST-ID and the two copied fields"
    );
    let zip: (Value, Value) = sqlx::query_as(
        "SELECT attributes -> 'offset', attributes -> 'storage_length' FROM source_metadata
         WHERE semantic_path = 'cobol:customer.cpy#CUSTOMER/HOME-ZIP'",
    )
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(zip, (Value::from(36), Value::from(10)));
    assert!(err.contains("record length of 99") && err.contains("46"), "{err}");
    let warned: i64 = sqlx::query_scalar("SELECT count(*) FROM source_metadata_errors WHERE error_class = 'warning'")
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(warned, 1, "the length mismatch is kept, the records are stored");
}

#[tokio::test]
async fn real_manifests_layouts_and_data_dictionaries_are_stored_and_refusals_kept_apart() {
    let env = TestEnv::new().await;
    let fixtures = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metadata");

    // Ten manifests (86 objects and containers), a Helm template and a workflow.
    let (code, first, err) = ingest_kind(&env, "k8s", &fixtures.join("k8s"), &[]);
    assert_eq!(code, Some(3), "two files refused: {err}");
    assert_eq!(
        (first["files_ingested"].clone(), first["files_rejected"].clone()),
        (Value::from(10), Value::from(2))
    );
    assert_eq!(first["records_seen"], 86, "{first}");
    // The 120 KB CRD is one record in nine 16 KB chunks: 8 rows more than records.
    assert_eq!(first["changes"]["inserted"], 94);
    let classes: Vec<(String, String)> = sqlx::query_as(
        "SELECT source_name, error_class FROM source_metadata_errors WHERE error_class <> 'warning' ORDER BY 1",
    )
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(
        classes,
        [
            ("helm-deployment.yaml".to_owned(), "helm_template".to_owned()),
            ("not-a-manifest.yaml".to_owned(), "not_a_manifest".to_owned())
        ]
    );
    let image: String = sqlx::query_scalar(
        "SELECT attributes ->> 'image_tag' FROM source_metadata \
         WHERE semantic_path = 'k8s:microservices-demo-kubernetes-manifests.yaml#Deployment/frontend/containers/server'",
    )
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    assert!(!image.is_empty());

    let before = xmins(&env).await;
    let (code, again, err) = ingest_kind(
        &env,
        "k8s",
        &fixtures.join("k8s"),
        &["--exclude", "helm-*", "--exclude", "not-a-*"],
    );
    assert_eq!(code, Some(0), "the refused files excluded: {err}");
    assert_eq!(again["changes"]["unchanged"], 94);
    assert_eq!(xmins(&env).await, before, "an unchanged re-run writes no row");

    let (code, report, err) = ingest_kind(&env, "mumps", &fixtures.join("mumps"), &[]);
    assert_eq!(code, Some(0), "{err}");
    // 3 + 4 + 9 files and subfiles, 29 + 13 + 22 fields (expected.md).
    assert_eq!(report["changes"]["inserted"], 80, "{report}");
    let pointer: String = sqlx::query_scalar(
        "SELECT attributes ->> 'pointer_file' FROM source_metadata WHERE semantic_path = 'mumps:MPR-1_SEQ-4_PAT-4.kid#850/.01'",
    )
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(pointer, "2");

    // Layouts kept in two filing libraries' code: 40 layouts, 547 fields; gaps are warnings.
    let (code, report, err) = ingest_kind(&env, "irs", &fixtures.join("irs"), &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(report["changes"]["inserted"], 587, "{report}");
    let start: i64 = sqlx::query_scalar(
        "SELECT (attributes ->> 'start')::bigint FROM source_metadata \
         WHERE semantic_path = 'irs:moov_irs_specification.go#TRecordLayout/TCC'",
    )
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(start, 16);

    // A FastAPI project, read whole: 7 routers, 23 routes, 20 models.
    let (code, report, err) = ingest_kind(&env, "fastapi", &fixtures.join("fastapi/full-stack-template"), &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(report["changes"]["inserted"], 50, "{report}");
    let handler: String = sqlx::query_scalar(
        "SELECT name FROM source_metadata \
         WHERE semantic_path = 'fastapi:app/api/routes/items.py#PUT /api/v1/items/{id}'",
    )
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(handler, "update_item");
}

#[tokio::test]
async fn a_record_longer_than_the_cap_is_stored_in_chunks_split_between_lines() {
    let env = TestEnv::new().await;
    let dir = env.dir.0.join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    // A ConfigMap holding a 55 KB file: its record's source span is cut into four 16 KB chunks.
    let mut manifest = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  rules.txt: |\n");
    for i in 0..1000 {
        manifest.push_str(&format!(
            "    rule {i:04}: allow from 10.0.{}.0/24 to any port 443\n",
            i % 256
        ));
    }
    std::fs::write(dir.join("big.yaml"), &manifest).unwrap();

    let (code, first, err) = ingest_kind(&env, "k8s", &dir, &[]);
    assert_eq!(code, Some(0), "{err}");
    let chunks: Vec<(i32, i32, i32, i32, String)> = sqlx::query_as(
        "SELECT chunk_index, chunk_count, line_start, line_end, content FROM source_metadata \
         WHERE name = 'big' ORDER BY chunk_index",
    )
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(chunks.len(), 4, "{first}");
    assert!(chunks.iter().all(|c| c.1 == 4));
    assert_eq!((chunks[0].2, chunks[3].3), (1, 1006), "together they span the record");
    for pair in chunks.windows(2) {
        assert_eq!(pair[0].3 + 1, pair[1].2, "chunks follow one another between lines");
    }
    assert!(chunks.iter().all(|c| c.4.len() <= 16 * 1024));
    let joined: Vec<&str> = chunks.iter().map(|c| c.4.as_str()).collect();
    assert_eq!(joined.join("\n"), manifest.trim_end(), "nothing lost, nothing added");

    let before = xmins(&env).await;
    let (_, again, _) = ingest_kind(&env, "k8s", &dir, &[]);
    assert_eq!(again["changes"]["unchanged"], 4, "{again}");
    assert_eq!(xmins(&env).await, before);
}

#[tokio::test]
async fn a_file_that_takes_too_long_to_read_is_refused_alone() {
    let env = TestEnv::new().await;
    let dir = env.dir.0.join("slow");
    std::fs::create_dir_all(&dir).unwrap();
    let mut book = String::from("       01  WIDE-REC.\n");
    for i in 0..5_000 {
        book.push_str(&format!("           05  F-{i:05}  PIC X(10).\n"));
    }
    std::fs::write(dir.join("wide.cpy"), book).unwrap();
    // No time at all to read: the file is refused, the run itself ends normally.
    let out = env
        .command()
        .env("INTAKE__METADATA__PARSE_TIMEOUT_MS", "0")
        .args(["metadata", "ingest", "--kind", "cobol", "--json", "--source"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rejected"][0]["error_class"], "too_slow", "{report}");
    assert!(stderr.contains("metadata.parse_timeout_ms"), "{stderr}");
    assert_eq!(env.db.count("SELECT count(*) FROM source_metadata").await, 0);
    assert_eq!(
        env.db
            .count("SELECT count(*) FROM source_metadata_errors WHERE error_class = 'too_slow'")
            .await,
        1
    );
}
