//! Lists downloaded over HTTP: size and time limits, statuses, redirects.

use std::path::Path;

use intake_actors::pipeline::Outcome;

use crate::helpers::TestEnv;

#[tokio::test]
async fn a_list_over_http_is_downloaded_within_its_limits() {
    use axum::Router;
    use axum::routing::get;
    let big = "SKU,Name,Price\n".to_owned() + &"B1,Big,1.00\n".repeat(10_000);
    let app = Router::new()
        .route(
            "/prices.csv",
            get(|| async { "SKU,Name,Price\nH1,Hammer,12.50\nH2,Saw,\n" }),
        )
        .route("/big.csv", get(move || async move { big }))
        .route("/gone.csv", get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }))
        .route(
            "/busy.csv",
            get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "later") }),
        )
        .route(
            "/moved.csv",
            get(|| async { axum::response::Redirect::temporary("/prices.csv") }),
        )
        .route(
            "/escape.csv",
            get(|| async { axum::response::Redirect::temporary("file:///etc/passwd") }),
        )
        .route(
            "/slow.csv",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                "SKU,Name,Price\n"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let env = TestEnv::with(&[
        ("INTAKE__SOURCES__HTTP_MAX_BYTES", "50000"),
        ("INTAKE__SOURCES__HTTP_TIMEOUT_MS", "1000"),
        // The test's server is on loopback, which downloads may not reach unless opened.
        ("INTAKE__SOURCES__ALLOWED_NETWORKS", "127.0.0.1/32"),
    ])
    .await;
    let by_url = |file: &str| {
        let mut m = env.message("Remote", "csv", Path::new("unused"));
        m.source_config.path = None;
        m.source_config.url = Some(format!("http://{addr}/{file}"));
        m
    };

    let Outcome::Done(result) = env.ingest(by_url("prices.csv")).await else {
        panic!("download failed")
    };
    assert_eq!((result.counts.rows_stored, result.counts.rows_rejected), (1, 1));
    let Outcome::Failed(too_big) = env.ingest(by_url("big.csv")).await else {
        panic!("no size limit")
    };
    assert!(
        too_big.message.contains("larger than the 50000 byte limit"),
        "{}",
        too_big.message
    );
    assert_eq!(too_big.class, intake_actors::domain::FailureClass::Permanent);
    let Outcome::Failed(gone) = env.ingest(by_url("gone.csv")).await else {
        panic!()
    };
    assert_eq!(gone.class, intake_actors::domain::FailureClass::Permanent);
    assert!(gone.message.contains("404"), "{}", gone.message);
    let Outcome::Failed(busy) = env.ingest(by_url("busy.csv")).await else {
        panic!()
    };
    assert_eq!(
        busy.class,
        intake_actors::domain::FailureClass::Transient,
        "503 is worth retrying"
    );

    let mut moved = by_url("moved.csv");
    moved.supplier_name = intake_actors::domain::SupplierName::new("Moved").unwrap();
    let Outcome::Done(moved) = env.ingest(moved).await else {
        panic!("a same-scheme redirect is followed")
    };
    assert_eq!(moved.counts.rows_stored, 1);
    let Outcome::Failed(escape) = env.ingest(by_url("escape.csv")).await else {
        panic!("followed a redirect to file:")
    };
    assert!(escape.message.contains("another scheme"), "{}", escape.message);
    assert_eq!(escape.class, intake_actors::domain::FailureClass::Permanent);
    let Outcome::Failed(slow) = env.ingest(by_url("slow.csv")).await else {
        panic!("no timeout")
    };
    assert_eq!(
        slow.class,
        intake_actors::domain::FailureClass::Transient,
        "a timeout is worth retrying"
    );
}
