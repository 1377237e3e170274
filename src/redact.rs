//! Masking secrets wherever a URL is shown or stored outside the queue: passwords in
//! `user:password@`, and every query value (`?token=…`), which is where download links carry
//! their credentials.
//!
//! The real URL of a queued task lives only in Redis — the task stream, scheduled retries and
//! the sealed copy of a dead letter's message — because a retry or a replay needs it. Task
//! records, dead letters as shown, results, logs and error texts all get the masked form.

use intake_actors::domain::{SourceConfig, TaskMessage};

const MASK: &str = "***";

/// One URL with its password and query values masked; text that is not a URL is returned as it is.
pub fn url(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://") else {
        return raw.to_owned();
    };
    let rest_start = scheme_end + 3;
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..rest_start]);
    let rest = &raw[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => out.push_str(&format!("{user}:{MASK}")),
                // `redis://password@host`: a lone userinfo is the password.
                None if raw.starts_with("redis") => out.push_str(MASK),
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let (before_fragment, fragment) = match tail.find('#') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, value)) if !value.is_empty() => format!("{key}={MASK}"),
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(&masked.join("&"));
        }
        None => out.push_str(before_fragment),
    }
    out.push_str(fragment);
    out
}

/// Free text (an error message, say) with every URL in it masked.
pub fn text(raw: &str) -> String {
    if !raw.contains("://") {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(found) = rest.find("://") {
        // The URL starts at its scheme: the letters right before `://`.
        let scheme_start = rest[..found]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let mut end = rest[found..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')'))
            .map_or(rest.len(), |i| found + i);
        // Punctuation that ends a sentence is not part of the URL.
        while end > found + 3 && rest[..end].ends_with(['.', ',', ':', ';']) {
            end -= 1;
        }
        out.push_str(&rest[..scheme_start]);
        out.push_str(&url(&rest[scheme_start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// How a task's source is described in its record (without NUL characters, which no
/// PostgreSQL text can hold).
pub fn source(config: &SourceConfig) -> String {
    text(&config.describe().replace('\0', ""))
}

/// A task message as it may be stored or shown: source URLs and error texts masked.
pub fn message(message: &TaskMessage) -> TaskMessage {
    let mut shown = message.clone();
    let config = &mut shown.source_config;
    config.url = config.url.as_deref().map(url);
    config.spreadsheet = config.spreadsheet.as_deref().map(url);
    for error in &mut shown.errors {
        error.message = text(&error.message);
    }
    shown
}

/// A raw message payload as it may be shown: masked when it reads as a task message, every
/// URL in it masked otherwise.
pub fn payload(raw: &str) -> String {
    match serde_json::from_str::<TaskMessage>(raw) {
        Ok(parsed) => serde_json::to_string(&message(&parsed)).unwrap_or_else(|_| text(raw)),
        Err(_) => text(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_query_values_are_masked() {
        assert_eq!(
            url("https://bob:hunter2@files.example.com/p.csv?token=abc&x=1#frag"),
            "https://bob:***@files.example.com/p.csv?token=***&x=***#frag"
        );
        assert_eq!(url("https://example.com/p.csv"), "https://example.com/p.csv");
        assert_eq!(url("redis://pw@redis:6379"), "redis://***@redis:6379");
        assert_eq!(
            url("postgres://u:p@db/x?password=y"),
            "postgres://u:***@db/x?password=***"
        );
        assert_eq!(url("not a url"), "not a url");
    }

    #[test]
    fn urls_inside_text_are_masked() {
        assert_eq!(
            text("downloading https://h/x.csv?sig=SECRET: HTTP 404 (see http://a:b@c/)"),
            "downloading https://h/x.csv?sig=***: HTTP 404 (see http://a:***@c/)"
        );
        assert_eq!(text("no url here"), "no url here");
    }
}
