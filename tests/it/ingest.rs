//! Price lists through Redis and the actor pipeline into PostgreSQL (FR-5).

use std::time::Duration;

use intake_actors::domain::TaskStatus;

use crate::helpers::{TestEnv, price_list};

const WAIT: Duration = Duration::from_secs(60);

fn hundred_rows(price: impl Fn(usize) -> String) -> String {
    price_list(100, |i| (format!("SKU-{i:04}"), format!("Item {i}"), price(i)))
}

/// A snapshot of the catalogue that ignores timestamps.
async fn catalogue(env: &TestEnv) -> Vec<(String, String, String, serde_json::Value)> {
    sqlx::query_as(
        "SELECT supplier_sku, name, current_price::text, characteristics FROM supplier_items ORDER BY supplier_sku",
    )
    .fetch_all(&env.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn hundred_rows_with_five_missing_prices_store_ninety_five() {
    let env = TestEnv::new().await;
    let csv = hundred_rows(|i| {
        if i % 20 == 7 {
            String::new()
        } else {
            format!("{}.5", i + 1)
        }
    });
    let path = env.csv("prices.csv", &csv);
    let worker = env.worker().await;

    let message = env.message("Acme", "csv", &path);
    env.enqueue(&message).await;
    let result = env.result(message.task_id, WAIT).await;

    assert_eq!(result.status, TaskStatus::Completed);
    assert_eq!(
        (
            result.counts.rows_seen,
            result.counts.rows_stored,
            result.counts.rows_rejected
        ),
        (100, 95, 5)
    );
    assert_eq!(env.db.count("SELECT count(*) FROM supplier_items").await, 95);
    assert_eq!(env.db.count("SELECT count(*) FROM price_history").await, 95);
    assert_eq!(
        env.db
            .count("SELECT count(*) FROM parsing_logs WHERE error_type = 'missing_price'")
            .await,
        5
    );
    // Each log row names its line and keeps the row as read (line 1 is the header).
    let rows: Vec<(i32, serde_json::Value)> =
        sqlx::query_as("SELECT row_number, row_data FROM parsing_logs ORDER BY row_number")
            .fetch_all(&env.db.pool)
            .await
            .unwrap();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [9, 29, 49, 69, 89]);
    assert_eq!(rows[0].1["SKU"], "SKU-0007");
    // Prices are stored with exactly two decimals.
    let price: String =
        sqlx::query_scalar("SELECT current_price::text FROM supplier_items WHERE supplier_sku = 'SKU-0000'")
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    assert_eq!(price, "1.50");
    let record: (String, i64, i64) =
        sqlx::query_as("SELECT status::text, rows_stored, rows_rejected FROM task_runs WHERE task_id = $1")
            .bind(message.task_id.as_uuid())
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    assert_eq!(record, ("completed".into(), 95, 5));
    worker.stop().await;
}

#[tokio::test]
async fn the_same_file_again_changes_nothing_but_is_recorded() {
    let env = TestEnv::new().await;
    let path = env.csv("prices.csv", &hundred_rows(|i| format!("{}.00", i + 10)));
    let worker = env.worker().await;

    let first = env.message("Acme", "csv", &path);
    env.enqueue(&first).await;
    assert_eq!(env.result(first.task_id, WAIT).await.counts.items_created, 100);
    let before = catalogue(&env).await;
    let updated_before: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT updated_at FROM supplier_items ORDER BY supplier_sku")
            .fetch_all(&env.db.pool)
            .await
            .unwrap();

    // Identical content: a skipped duplicate, nothing written.
    let again = env.message("Acme", "csv", &path);
    env.enqueue(&again).await;
    let skipped = env.result(again.task_id, WAIT).await;
    assert_eq!(skipped.status, TaskStatus::SkippedDuplicate);

    // Forced: read and compared row by row, still nothing to change.
    let mut forced = env.message("Acme", "csv", &path);
    forced.force = true;
    env.enqueue(&forced).await;
    let result = env.result(forced.task_id, WAIT).await;
    assert_eq!(result.status, TaskStatus::Completed);
    assert_eq!(
        (
            result.counts.items_created,
            result.counts.items_updated,
            result.counts.items_unchanged
        ),
        (0, 0, 100)
    );
    assert_eq!(catalogue(&env).await, before);
    assert_eq!(env.db.count("SELECT count(*) FROM price_history").await, 100);
    let updated_after: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT updated_at FROM supplier_items ORDER BY supplier_sku")
            .fetch_all(&env.db.pool)
            .await
            .unwrap();
    assert_eq!(updated_after, updated_before, "unchanged rows are not rewritten");
    worker.stop().await;
}

#[tokio::test]
async fn ten_changed_prices_add_exactly_ten_price_history_rows() {
    let env = TestEnv::new().await;
    let worker = env.worker().await;
    let first = env.message(
        "Acme",
        "csv",
        &env.csv("v1.csv", &hundred_rows(|i| format!("{}.00", i + 10))),
    );
    env.enqueue(&first).await;
    env.result(first.task_id, WAIT).await;

    let changed = |i: usize| i % 10 == 3;
    let v2 = hundred_rows(|i| {
        if changed(i) {
            format!("{}.99", i + 10)
        } else {
            format!("{}.00", i + 10)
        }
    });
    let second = env.message("Acme", "csv", &env.csv("v2.csv", &v2));
    env.enqueue(&second).await;
    let result = env.result(second.task_id, WAIT).await;

    assert_eq!(result.counts.price_changes, 10);
    assert_eq!(result.counts.items_updated, 10);
    assert_eq!(env.db.count("SELECT count(*) FROM price_history").await, 110);
    let history: Vec<String> = sqlx::query_scalar(
        "SELECT ph.price::text FROM price_history ph JOIN supplier_items si ON si.id = ph.supplier_item_id
         WHERE si.supplier_sku = 'SKU-0003' ORDER BY ph.recorded_at DESC, ph.id DESC",
    )
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(history, ["13.99", "13.00"], "newest first");
    worker.stop().await;
}

#[tokio::test]
async fn a_repeated_sku_keeps_its_last_row_and_logs_the_others() {
    let env = TestEnv::new().await;
    let csv = "SKU,Name,Price\nA,First,1.00\nB,Other,2.00\nA,Second,3.00\nA,Third,4.00\n";
    let message = env.message("Acme", "csv", &env.csv("dups.csv", csv));
    let worker = env.worker().await;
    env.enqueue(&message).await;
    let result = env.result(message.task_id, WAIT).await;

    assert_eq!((result.counts.rows_stored, result.counts.rows_rejected), (2, 2));
    let (name, price): (String, String) =
        sqlx::query_as("SELECT name, current_price::text FROM supplier_items WHERE supplier_sku = 'A'")
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), price.as_str()), ("Third", "4.00"));
    let logged: Vec<i32> = sqlx::query_scalar(
        "SELECT row_number FROM parsing_logs WHERE error_type = 'duplicate_sku' ORDER BY row_number",
    )
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(logged, [2, 4]);
    worker.stop().await;
}

#[tokio::test]
async fn malformed_messages_are_dead_lettered_and_the_next_good_one_runs() {
    let env = TestEnv::new().await;
    let worker = env.worker().await;
    env.queue.enqueue_raw("{not json").await.unwrap();
    env.queue
        .enqueue_raw(r#"{"task_id":"0192f0c1-5a5e-7c3e-8f00-00000000abcd","parser_type":"csv"}"#)
        .await
        .unwrap();
    let good = env.message("Acme", "csv", &env.csv("ok.csv", "SKU,Name,Price\nA,Hammer,1\n"));
    env.enqueue(&good).await;

    assert_eq!(env.result(good.task_id, WAIT).await.status, TaskStatus::Completed);
    let letters = env.queue.dlq_list(10).await.unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    let missing = letters
        .iter()
        .find(|l| l.id == "0192f0c1-5a5e-7c3e-8f00-00000000abcd")
        .expect("the message with a readable task id is filed under it");
    assert!(missing.reason.contains("missing field"), "{}", missing.reason);
    let broken = letters
        .iter()
        .find(|l| l.id.starts_with("entry-"))
        .expect("unreadable one by entry id");
    assert!(broken.reason.contains("malformed task message"), "{}", broken.reason);
    // The dead letter keeps the message exactly as it arrived.
    let letter = env.queue.dlq_show(&broken.id).await.unwrap().unwrap();
    assert_eq!(letter.payload, "{not json");
    worker.stop().await;
}

#[tokio::test]
async fn ingest_runs_the_same_pipeline_without_the_queue() {
    let env = TestEnv::new().await;
    let csv = hundred_rows(|i| if i < 3 { "abc".into() } else { "5".into() });
    let outcome = env.ingest(env.message("Acme", "csv", &env.csv("p.csv", &csv))).await;
    let intake_actors::pipeline::Outcome::Done(result) = outcome else {
        panic!("ingest failed: {outcome:?}");
    };
    assert_eq!((result.counts.rows_stored, result.counts.rows_rejected), (97, 3));
    assert_eq!(
        env.db
            .count("SELECT count(*) FROM parsing_logs WHERE error_type = 'invalid_price'")
            .await,
        3
    );
}

#[tokio::test]
async fn sheets_that_repeat_the_same_items_keep_the_first_sheets_row_and_log_the_others() {
    use crate::workbook::{SheetSpec, X, write};
    let env = TestEnv::new().await;
    let sheet = |name: &'static str, price: f64| SheetSpec {
        name,
        rows: vec![
            vec![X::Text("SKU"), X::Text("Name"), X::Text("Price")],
            vec![X::Text("K-1"), X::Text("Kettle"), X::Num(price)],
            vec![X::Text("K-2"), X::Text("Kettle XL"), X::Num(price * 2.0)],
            vec![X::Text("K-2"), X::Text("Kettle XL (corrected)"), X::Num(price * 3.0)],
        ],
        merged: Vec::new(),
    };
    let path = env.dir.0.join("currencies.xlsx");
    write(&path, &[sheet("EUR", 10.0), sheet("USD", 11.0)]);
    let message = env.message("Acme", "xlsx", &path);
    let worker = env.worker().await;
    env.enqueue(&message).await;
    let result = env.result(message.task_id, WAIT).await;
    assert_eq!(result.status, TaskStatus::Completed, "the list is not lost: {result:?}");
    assert_eq!((result.counts.rows_stored, result.counts.rows_rejected), (2, 4));
    let stored: Vec<(String, String, String)> =
        sqlx::query_as("SELECT supplier_sku, name, current_price::text FROM supplier_items ORDER BY 1")
            .fetch_all(&env.db.pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        [
            ("K-1".into(), "Kettle".into(), "10.00".into()),
            ("K-2".into(), "Kettle XL (corrected)".into(), "30.00".into())
        ],
        "the first sheet gives the price; within it the later row wins"
    );
    let logged: Vec<String> = sqlx::query_scalar(
        "SELECT error_message FROM parsing_logs WHERE error_type = 'duplicate_sku' ORDER BY error_message",
    )
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(logged.len(), 4, "{logged:?}");
    assert!(
        logged
            .iter()
            .any(|m| m.contains("SKU K-1 of sheet USD row 2 is already in sheet EUR row 2")),
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|m| m.contains("SKU K-2 appears again in row 4; the later row wins")),
        "{logged:?}"
    );
    worker.stop().await;
}

#[tokio::test]
async fn items_a_complete_list_no_longer_lists_become_unavailable_and_come_back() {
    let env = &TestEnv::new().await;
    let worker = env.worker().await;
    let list = |name: &str, skus: &[&str]| {
        let body: String = skus.iter().map(|s| format!("{s},Item {s},1.00\n")).collect();
        env.message("Acme", "csv", &env.csv(name, &format!("SKU,Name,Price\n{body}")))
    };
    let offered = || async {
        sqlx::query_scalar::<_, String>("SELECT supplier_sku FROM supplier_items WHERE available ORDER BY 1")
            .fetch_all(&env.db.pool)
            .await
            .unwrap()
    };
    let run = move |m: intake_actors::domain::TaskMessage| async move {
        env.enqueue(&m).await;
        env.result(m.task_id, WAIT).await
    };

    run(list("v1.csv", &["A", "B", "C"])).await;
    let v2 = run(list("v2.csv", &["A", "C", "D"])).await;
    assert_eq!((v2.counts.items_disappeared, v2.counts.items_returned), (1, 0));
    assert_eq!(offered().await, ["A", "C", "D"]);
    let v3 = run(list("v3.csv", &["A", "B"])).await;
    assert_eq!((v3.counts.items_disappeared, v3.counts.items_returned), (2, 1));
    assert_eq!(offered().await, ["A", "B"]);
    assert_eq!(
        env.db.count("SELECT count(*) FROM supplier_items").await,
        4,
        "nothing is deleted"
    );
    let since: i64 = env
        .db
        .count("SELECT count(*) FROM supplier_items WHERE NOT available AND unavailable_since IS NOT NULL")
        .await;
    assert_eq!(since, 2);

    // A list marked partial says nothing of what it does not list.
    let mut partial = list("part.csv", &["C"]);
    partial.source_config.partial = true;
    let part = run(partial).await;
    assert_eq!((part.counts.items_disappeared, part.counts.items_returned), (0, 1));
    assert_eq!(offered().await, ["A", "B", "C"]);
    assert!(
        part.notes.iter().any(|n| n.contains("part of the source")),
        "{:?}",
        part.notes
    );

    // "Currently offered" is one indexed condition.
    let mut conn = env.db.pool.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT * FROM supplier_items WHERE supplier_id = (SELECT id FROM suppliers LIMIT 1) AND available",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(plan.join("\n").contains("supplier_items_offered_idx"), "{plan:?}");
    worker.stop().await;
}
