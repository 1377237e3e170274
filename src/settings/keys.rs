//! Which keys a configuration sets that no setting reads. Every setting has its default in
//! `config/default.toml`, so a key that the defaults do not have is unknown — except under the
//! tables whose keys are free (`pipeline.parsers.<type>`).

use std::collections::BTreeSet;

use config::{Config, File, FileFormat, Map, Value};

/// Tables whose keys are names chosen by the operator.
const FREE_TABLES: &[&str] = &["pipeline.parsers."];

/// The keys of `built` that the defaults do not have, sorted.
pub fn unknown(defaults: &str, built: &Config) -> Result<Vec<String>, config::ConfigError> {
    let defaults = Config::builder()
        .add_source(File::from_str(defaults, FileFormat::Toml))
        .build()?;
    let known = keys_of(defaults.cache.into_table()?);
    Ok(keys_of(built.cache.clone().into_table()?)
        .into_iter()
        .filter(|k| !known.contains(k) && !FREE_TABLES.iter().any(|t| k.starts_with(t)))
        .collect())
}

/// Every leaf key of a table, dotted (`queue.key_prefix`).
fn keys_of(table: Map<String, Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect("", table, &mut out);
    out
}

fn collect(prefix: &str, table: Map<String, Value>, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let key = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value.clone().into_table() {
            Ok(inner) => collect(&key, inner, out),
            Err(_) => {
                out.insert(key);
            }
        }
    }
}
