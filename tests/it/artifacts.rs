//! Real technical artifacts published in public repositories (`tests/fixtures/metadata/`, each
//! folder's `SOURCES.md` says where each comes from) read into records: counts per record kind
//! and spot values counted by hand.

use std::path::PathBuf;

use intake_actors::metadata::{self, Kind, MetadataRecord, Parsed};

fn fixture(kind: &str, file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metadata")
        .join(kind)
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn count(parsed: &Parsed, kind: &str) -> usize {
    parsed.records.iter().filter(|r| r.kind == kind).count()
}

fn record<'a>(parsed: &'a Parsed, path: &str) -> &'a MetadataRecord {
    parsed
        .records
        .iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("no record {path}"))
}

#[test]
fn fileman_builds_give_the_files_subfiles_and_fields_counted_by_hand() {
    // (file, top-level files, subfiles, fields): tests/fixtures/metadata/mumps/expected.md.
    let counts = [
        ("MPR-1_SEQ-4_PAT-4.kid", 1, 2, 29),
        ("ANRV-4_SEQ-4_PAT-5.kid", 2, 2, 13),
        ("ES-1_SEQ-40_PAT-41.kid", 3, 6, 22),
    ];
    for (file, files, subfiles, fields) in counts {
        let parsed = metadata::parse(Kind::Mumps, &fixture("mumps", file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            (
                count(&parsed, "mumps.file"),
                count(&parsed, "mumps.subfile"),
                count(&parsed, "mumps.field")
            ),
            (files, subfiles, fields),
            "{file}: files, subfiles, fields"
        );
        assert!(parsed.warnings.is_empty(), "{file}: {:?}", parsed.warnings);
    }

    let mpr = metadata::parse(Kind::Mumps, &fixture("mumps", "MPR-1_SEQ-4_PAT-4.kid")).unwrap();
    let register = record(&mpr, "850");
    assert_eq!(register.name, "MISSING PATIENT REGISTER");
    assert_eq!(register.attributes["global_root"], "^MPR(850,");
    let patient = record(&mpr, "850/.01");
    assert_eq!(patient.name, "PATIENT NAME");
    assert_eq!(patient.attributes["type"], "pointer");
    assert_eq!(patient.attributes["pointer_file"], "2");
    assert_eq!(patient.attributes["required"], true);
    assert_eq!(
        record(&mpr, "850/7").attributes["codes"],
        serde_json::json!({"Y": "YES", "N": "NO"})
    );
    let found = record(&mpr, "850/20");
    assert_eq!(found.attributes["type"], "word_processing");
    assert_eq!(found.attributes["subfile"], "850.01");
    let status = record(&mpr, "850/99");
    assert_eq!(status.attributes["storage_node"], "STATUS");
    assert_eq!(status.attributes["codes"].as_object().map(|c| c.len()), Some(6));

    let anrv = metadata::parse(Kind::Mumps, &fixture("mumps", "ANRV-4_SEQ-4_PAT-5.kid")).unwrap();
    assert_eq!(record(&anrv, "2048.01/.01").attributes["pointer_file"], "2048.1");
    assert_eq!(
        record(&anrv, "2048.11").parent.as_deref(),
        Some("2048.01"),
        "a multiple inside a multiple"
    );
    assert_eq!(record(&anrv, "2048.11/.01").attributes["type"], "word_processing");
    assert_eq!(record(&anrv, "2048.1/.01").attributes["width"], 4);

    let es = metadata::parse(Kind::Mumps, &fixture("mumps", "ES-1_SEQ-40_PAT-41.kid")).unwrap();
    assert_eq!(record(&es, "916/.5").attributes["pointer_file"], "40.8");
    assert_eq!(record(&es, "916.53").attributes["word_processing"], true);
    assert_eq!(record(&es, "916.53").parent.as_deref(), Some("916.05"));
    assert_eq!(
        record(&es, "912").attributes["partial"],
        true,
        "a build that ships a few fields of 912"
    );
    assert_eq!(
        record(&es, "912.17").parent.as_deref(),
        Some("912"),
        "a subfile shipped without its UP node belongs to the field that names it"
    );
    assert_eq!(record(&es, "912/130").attributes["type"], "multiple");
}

/// An attribute as `expected.tsv` writes it: arrays joined by commas (objects by their `name`).
fn attribute_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.get("name").map_or_else(|| attribute_text(v), attribute_text))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

#[test]
fn kubernetes_manifests_give_the_objects_and_containers_counted_by_hand() {
    let expected = String::from_utf8(fixture("k8s", "expected.tsv")).unwrap();
    let mut checked = 0;
    for line in expected.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let columns: Vec<&str> = line.split('\t').collect();
        let [file, resources, containers, init, spot] = columns[..] else {
            panic!("expected.tsv: {line}")
        };
        let result = metadata::parse(Kind::K8s, &fixture("k8s", file));
        if let Some(class) = resources.strip_prefix("refused:") {
            let refusal = result.err().unwrap_or_else(|| panic!("{file}: read, not refused"));
            assert_eq!(refusal.class, class, "{file}");
            checked += 1;
            continue;
        }
        let parsed = result.unwrap_or_else(|e| panic!("{file}: {e}"));
        let init_count = parsed
            .records
            .iter()
            .filter(|r| r.kind == "k8s.container" && r.attributes["init"] == true)
            .count();
        assert_eq!(
            (
                count(&parsed, "k8s.resource"),
                count(&parsed, "k8s.container") - init_count,
                init_count
            ),
            (
                resources.parse().unwrap(),
                containers.parse().unwrap(),
                init.parse().unwrap()
            ),
            "{file}: resources, containers, init containers"
        );
        // `PATH.attribute=value`; object names hold dots, attributes do not.
        let (target, value) = spot.split_once('=').unwrap();
        let (path, attribute) = target.rsplit_once('.').unwrap();
        assert_eq!(
            attribute_text(&record(&parsed, path).attributes[attribute]),
            value,
            "{file}: {target}"
        );
        checked += 1;
    }
    assert!(checked >= 10, "the fixtures hold at least ten manifests");
}

fn place(parsed: &Parsed, path: &str) -> (u64, u64) {
    let r = record(parsed, path);
    (
        r.attributes["start"].as_u64().unwrap(),
        r.attributes["length"].as_u64().unwrap(),
    )
}

#[test]
fn irs_layouts_in_filing_libraries_give_the_fields_counted_by_hand() {
    // tests/fixtures/metadata/irs/expected.md: 6 records and 33 form tails, 511 fields; starts
    // counted from 0 in the Go source, from 1 in the publication (and here).
    let moov = metadata::parse(Kind::Irs, &fixture("irs", "moov_irs_specification.go")).unwrap();
    assert_eq!((count(&moov, "irs.layout"), count(&moov, "irs.field")), (39, 511));
    for (layout, fields, length) in [
        ("TRecordLayout", 36, 750),
        ("ARecordLayout", 23, 750),
        ("BRecordLayout", 40, 750),
        ("CRecordLayout", 25, 750),
        ("KRecordLayout", 29, 750),
        ("FRecordLayout", 9, 750),
        ("Sub1099NECLayout", 8, 207),
    ] {
        let r = record(&moov, layout);
        assert_eq!(
            (r.attributes["fields"].clone(), r.attributes["record_length"].clone()),
            (serde_json::json!(fields), serde_json::json!(length)),
            "{layout}"
        );
    }
    assert_eq!(place(&moov, "TRecordLayout/TCC"), (16, 5));
    assert_eq!(place(&moov, "ARecordLayout/PayerState"), (214, 2));
    assert_eq!(place(&moov, "BRecordLayout/PaymentAmountA"), (163, 12));
    assert_eq!(place(&moov, "KRecordLayout/CombinedFederalStateCode"), (747, 2));
    assert_eq!(place(&moov, "FRecordLayout/TotalNumberPayees"), (50, 8));
    assert_eq!(record(&moov, "TRecordLayout/TCC").attributes["requirement"], "Required");
    // The two form tails that do not tile their 207 bytes are kept, with warnings.
    for tail in ["Sub1099KLayout", "Sub1099SALayout"] {
        assert!(
            moov.warnings.iter().any(|w| w.message.starts_with(&format!("{tail}:"))),
            "{tail}: {:?}",
            moov.warnings
        );
    }
    assert!(
        moov.warnings
            .iter()
            .all(|w| w.message.starts_with("Sub1099KLayout:") || w.message.starts_with("Sub1099SALayout:")),
        "every other layout tiles its record: {:?}",
        moov.warnings
    );

    let fire = metadata::parse(Kind::Irs, &fixture("irs", "fire1099_transmitter.py")).unwrap();
    assert_eq!((count(&fire, "irs.layout"), count(&fire, "irs.field")), (1, 36));
    assert_eq!(record(&fire, "_ITEMS").attributes["record_length"], 750);
    assert_eq!(place(&fire, "_ITEMS/transmitter_control_code"), (16, 5));
    assert_eq!(place(&fire, "_ITEMS/contact_email_address"), (359, 50));
    assert_eq!(place(&fire, "_ITEMS/total_number_of_payees"), (296, 8));
    assert_eq!(place(&fire, "_ITEMS/vendor_foreign_entity_indicator"), (740, 1));
}

/// A project's `.py` files, with their paths under its root, sorted.
fn python_project(dir: &str) -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metadata/fastapi")
        .join(dir);
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "py") {
                let relative = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
                files.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

fn all(results: Vec<Result<Parsed, metadata::Refusal>>) -> Parsed {
    let mut merged = Parsed::default();
    for result in results {
        let parsed = result.unwrap_or_else(|e| panic!("{e}"));
        merged.records.extend(parsed.records);
        merged.warnings.extend(parsed.warnings);
    }
    merged
}

fn parameters(route: &MetadataRecord) -> Vec<(String, String)> {
    route.attributes["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["in"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn texts(value: &serde_json::Value) -> Vec<&str> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()
}

#[test]
fn fastapi_projects_give_the_routers_routes_and_models_counted_by_hand() {
    // tests/fixtures/metadata/fastapi/expected.md.
    for (dir, routers, routes, models) in [
        ("full-stack-template", 7, 23, 20),
        ("bigger-applications", 4, 8, 0),
        ("notes-crud-async", 3, 6, 2),
    ] {
        let files = python_project(dir);
        let parsed = all(metadata::parse_project(
            Kind::Fastapi,
            &files,
            &metadata::cobol::NoLibrary,
        ));
        assert_eq!(
            (
                count(&parsed, "fastapi.router"),
                count(&parsed, "fastapi.route"),
                count(&parsed, "fastapi.model")
            ),
            (routers, routes, models),
            "{dir}: routers, routes, models"
        );
        assert!(parsed.warnings.is_empty(), "{dir}: {:?}", parsed.warnings);
    }

    let template = all(metadata::parse_project(
        Kind::Fastapi,
        &python_project("full-stack-template"),
        &metadata::cobol::NoLibrary,
    ));
    let update = record(&template, "PUT /api/v1/items/{id}");
    assert_eq!(update.name, "update_item");
    assert_eq!(
        parameters(update),
        [
            ("id".to_owned(), "path".to_owned()),
            ("item_in".to_owned(), "body".to_owned())
        ]
    );
    assert_eq!(update.attributes["response_model"], "ItemPublic");
    assert_eq!(
        texts(&update.attributes["dependencies"]),
        ["get_db", "get_current_user"]
    );
    let email = record(&template, "POST /api/v1/utils/test-email/");
    assert_eq!(parameters(email), [("email_to".to_owned(), "query".to_owned())]);
    assert_eq!(email.attributes["status_code"], "201");
    assert_eq!(email.attributes["response_model"], "Message");
    assert_eq!(
        texts(&email.attributes["dependencies"]),
        ["get_current_active_superuser"]
    );
    assert_eq!(
        texts(&record(&template, "POST /api/v1/login/access-token").attributes["tags"]),
        ["login"]
    );
    assert!(record(&template, "POST /api/v1/private/users/").attributes["included"] == true);
    let user_create = record(&template, "UserCreate");
    assert_eq!(user_create.attributes["fields"][0]["name"], "password");
    assert_eq!(user_create.attributes["fields"][0]["constraints"]["min_length"], 8);
    let item = record(&template, "Item");
    let id = &item.attributes["fields"][0];
    assert_eq!(
        (id["name"].as_str(), id["required"].as_bool()),
        (Some("id"), Some(false)),
        "a default_factory"
    );

    let bigger = all(metadata::parse_project(
        Kind::Fastapi,
        &python_project("bigger-applications"),
        &metadata::cobol::NoLibrary,
    ));
    let admin = record(&bigger, "POST /admin/");
    assert_eq!(admin.name, "update_admin");
    assert_eq!(texts(&admin.attributes["tags"]), ["admin"]);
    assert_eq!(
        texts(&admin.attributes["dependencies"]),
        ["get_token_header", "get_query_token"],
        "the include's, then the app's"
    );
    assert_eq!(
        texts(&record(&bigger, "PUT /items/{item_id}").attributes["tags"]),
        ["items", "custom"]
    );
    assert_eq!(
        texts(&record(&bigger, "GET /").attributes["dependencies"]),
        ["get_query_token"]
    );

    let notes = all(metadata::parse_project(
        Kind::Fastapi,
        &python_project("notes-crud-async"),
        &metadata::cobol::NoLibrary,
    ));
    let read = record(&notes, "GET /notes/{id}/");
    assert_eq!(parameters(read), [("id".to_owned(), "path".to_owned())]);
    assert_eq!(
        read.attributes["parameters"][0]["required"], true,
        "Path(...) is required"
    );
    let create = record(&notes, "POST /notes/");
    assert_eq!(create.attributes["status_code"], "201");
    assert_eq!(parameters(create), [("payload".to_owned(), "body".to_owned())]);
    assert_eq!(
        record(&notes, "GET /notes/").attributes["response_model"],
        "List[NoteDB]"
    );
    assert!(notes.records.iter().any(|r| r.path == "GET /ping"));
}
