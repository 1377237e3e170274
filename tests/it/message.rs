//! The documented message schema and the message intake reads stay the same thing.

use std::collections::BTreeSet;

use intake_actors::domain::{
    AttemptError, ColumnRef, FailureClass, Field, ParserType, SourceConfig, SupplierName, TaskId, TaskMessage,
};

fn schema() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/task-message.schema.json"))
        .expect("schema file");
    serde_json::from_str(&text).expect("schema is JSON")
}

fn keys(value: &serde_json::Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn every_field_intake_writes_is_in_the_schema_and_required_ones_match() {
    let mut source = SourceConfig {
        path: Some("prices.csv".into()),
        sheet: Some("Прайс".into()),
        range: Some("A1:F100".into()),
        header_row: Some(3),
        data_start_row: Some(4),
        encoding: Some("windows-1251".into()),
        delimiter: Some(';'),
        partial: true,
        characteristic_columns: Some(vec![ColumnRef::new("Color").unwrap()]),
        ..Default::default()
    };
    source.column_mapping.insert(Field::Price, ColumnRef::new("D").unwrap());
    let message = TaskMessage {
        task_id: TaskId::new(),
        parser_type: ParserType::new("csv").unwrap(),
        supplier_name: SupplierName::new("Acme").unwrap(),
        source_config: source,
        retry_count: 1,
        max_retries: 3,
        enqueued_at: chrono::Utc::now(),
        list_date: Some(chrono::Utc::now()),
        expires_at: Some(chrono::Utc::now()),
        force: true,
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        errors: vec![AttemptError {
            at: chrono::Utc::now(),
            attempt: 1,
            class: FailureClass::Transient,
            message: "timeout".into(),
        }],
    };
    let json = serde_json::to_value(&message).unwrap();
    let schema = schema();

    let documented = keys(&schema["properties"]);
    let mut written = keys(&json);
    // The family's name is read off the envelope and not kept in the message: a price list
    // may name itself, and is written without it.
    let mut named = json.clone();
    named["task_type"] = "price_list".into();
    assert!(intake_actors::envelope::QueuedTask::from_json(&named.to_string()).is_ok());
    written.insert("task_type".to_owned());
    assert!(
        written.is_subset(&documented),
        "undocumented: {:?}",
        written.difference(&documented)
    );
    assert_eq!(written, documented, "every documented field can be written");

    let source_documented = keys(&schema["$defs"]["source_config"]["properties"]);
    let source_written = keys(&json["source_config"]);
    assert!(
        source_written.is_subset(&source_documented),
        "undocumented source fields: {:?}",
        source_written.difference(&source_documented)
    );

    // What the schema requires is exactly what a minimal message must carry.
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    for field in &required {
        let mut minimal = json.clone();
        minimal.as_object_mut().unwrap().remove(field);
        assert!(
            serde_json::from_value::<TaskMessage>(minimal).is_err(),
            "{field} is required by the schema"
        );
    }
    for field in documented.difference(&required) {
        let mut minimal = json.clone();
        minimal.as_object_mut().unwrap().remove(field);
        assert!(
            serde_json::from_value::<TaskMessage>(minimal).is_ok(),
            "{field} is optional in the schema"
        );
    }
}

#[test]
fn the_metadata_task_schema_and_the_message_intake_reads_stay_the_same_thing() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/metadata-task.schema.json"
    ))
    .expect("schema file");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let task = intake_actors::metadata::MetadataTask {
        task_id: TaskId::new(),
        kind: intake_actors::metadata::Kind::Irs,
        source: "/srv/layouts".into(),
        name: Some("p1220".into()),
        recursive: true,
        include: vec!["*.csv".into()],
        exclude: vec!["draft/**".into()],
        copylib: vec!["/srv/copylib".into()],
        retry_count: 1,
        max_retries: 3,
        enqueued_at: chrono::Utc::now(),
        expires_at: Some(chrono::Utc::now()),
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        errors: vec![AttemptError {
            at: chrono::Utc::now(),
            attempt: 1,
            class: FailureClass::Transient,
            message: "timeout".into(),
        }],
    };
    let queued = intake_actors::envelope::QueuedTask::Metadata(task);
    let json: serde_json::Value = serde_json::from_str(&queued.to_json().unwrap()).unwrap();
    assert_eq!(
        keys(&json),
        keys(&schema["properties"]),
        "every field is documented and writable"
    );
    let kinds: BTreeSet<String> = schema["properties"]["kind"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let known: BTreeSet<String> = intake_actors::metadata::Kind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    assert_eq!(kinds, known);
    let required: Vec<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    for field in keys(&json) {
        let mut without = json.clone();
        without.as_object_mut().unwrap().remove(&field);
        let read = intake_actors::envelope::QueuedTask::from_json(&without.to_string());
        // Without its task_type a message is read as a price list, which it is not.
        let is_metadata = matches!(read, Ok(intake_actors::envelope::QueuedTask::Metadata(_)));
        assert_eq!(
            !is_metadata,
            required.contains(&field),
            "{field}: required in the schema exactly when a message without it is refused"
        );
    }
}
