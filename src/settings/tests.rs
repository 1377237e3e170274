//! Settings as files and the environment give them.

use super::*;

#[test]
fn defaults_load_and_validate() {
    let s = Settings::load_with_env(None, Some(Default::default())).unwrap();
    assert_eq!(s.retry.delays_ms, [1000, 5000, 25000]);
    assert_eq!(s.http.bind, "127.0.0.1:9464");
    assert_eq!(s.google_sheets.api_base_url, "https://sheets.googleapis.com");
}

#[test]
fn keys_no_setting_reads_are_named() {
    let env = [
        ("INTAKE__PIPELINE__WRITER", "4"),
        ("INTAKE__QUEUE__KEY_PREFX", "x"),
        ("INTAKE__PIPELINE__PARSERS__CSV", "2"),
        ("INTAKE__PIPELINE__WRITERS", "3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let s = Settings::load_with_env(None, Some(env)).unwrap();
    assert_eq!(s.unknown_keys, ["pipeline.writer", "queue.key_prefx"]);
    let defaults = Settings::load_with_env(None, Some(Default::default())).unwrap();
    assert!(defaults.unknown_keys.is_empty());
}

#[test]
fn environment_overrides_any_key() {
    let env = [
        ("INTAKE__PIPELINE__WRITERS", "5"),
        ("INTAKE__RETRY__DELAYS_MS", "10,50,250"),
        ("INTAKE__HTTP__BIND", "0.0.0.0:9000"),
        ("INTAKE__PIPELINE__PARSERS__CSV", "3"),
        ("INTAKE__GOOGLE_SHEETS__API_BASE_URL", "http://127.0.0.1:1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let s = Settings::load_with_env(None, Some(env)).unwrap();
    assert_eq!(s.pipeline.writers, 5);
    assert_eq!(s.retry.delays_ms, [10, 50, 250]);
    assert_eq!(s.http.bind, "0.0.0.0:9000");
    assert_eq!(s.pipeline.parsers["csv"], 3);
    assert_eq!(s.google_sheets.api_base_url, "http://127.0.0.1:1");
    let one = [("INTAKE__RETRY__DELAYS_MS".to_owned(), "50".to_owned())]
        .into_iter()
        .collect();
    assert_eq!(Settings::load_with_env(None, Some(one)).unwrap().retry.delays_ms, [50]);
}

#[test]
fn invalid_values_are_one_clear_error() {
    let env = [("INTAKE__WORKER__TASKS_IN_FLIGHT".to_owned(), "0".to_owned())]
        .into_iter()
        .collect();
    let err = Settings::load_with_env(None, Some(env)).unwrap_err();
    assert!(err.to_string().contains("tasks_in_flight"), "{err}");
}

#[test]
fn passwords_never_print() {
    assert_eq!(
        redact_url("postgres://intake:s3cret@db:5432/intake"),
        "postgres://intake:***@db:5432/intake"
    );
    assert_eq!(redact_url("redis://:pw@redis:6379/0"), "redis://:***@redis:6379/0");
    assert_eq!(redact_url("redis://pw@redis:6379"), "redis://***@redis:6379");
    assert_eq!(
        redact_url("postgres://db/intake?user=a&password=x&sslmode=require"),
        "postgres://db/intake?user=a&password=***&sslmode=require"
    );
    assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    let secret = SecretUrl::new("postgres://u:hunter2@h/d".into());
    assert!(!format!("{secret} {secret:?}").contains("hunter2"));
}
