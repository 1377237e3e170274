//! `COPY member [REPLACING …]`: the member's statements in place of the COPY statement, with
//! its replacements applied. Members come from a resolver (the copy library is I/O, not ours).

use super::CopybookError;
use super::source::{self, Statement};

/// Finds a COPY member's text by name (`CUSTADDR`), or says it has none.
pub trait CopyLibrary {
    fn member(&self, name: &str) -> Option<String>;
}

/// No copy library: a COPY statement is an error that says so.
pub struct NoLibrary;

impl CopyLibrary for NoLibrary {
    fn member(&self, _: &str) -> Option<String> {
        None
    }
}

/// How deep COPY may nest: a member that copies itself is refused, not followed forever.
const MAX_DEPTH: usize = 10;

/// One REPLACING pair.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Replacement {
    /// `==A== BY ==B==` or `A BY B`: whole words (or word sequences).
    Text(String, String),
    /// `LEADING ==X-== BY ==Y-==`: the start of words.
    Leading(String, String),
    /// `TRAILING ==-X== BY ==-Y==`: the end of words.
    Trailing(String, String),
}

/// The statements of a copybook with every COPY expanded.
pub fn expand(text: &str, library: &dyn CopyLibrary) -> Result<Vec<Statement>, CopybookError> {
    expand_at(source::statements(text), library, 0)
}

fn expand_at(
    statements: Vec<Statement>,
    library: &dyn CopyLibrary,
    depth: usize,
) -> Result<Vec<Statement>, CopybookError> {
    let mut out = Vec::with_capacity(statements.len());
    for statement in statements {
        let words: Vec<&str> = statement.text.split_whitespace().collect();
        if !words.first().is_some_and(|w| w.eq_ignore_ascii_case("COPY")) {
            out.push(statement);
            continue;
        }
        let fail = |message: String| CopybookError {
            line: statement.line_start,
            message,
        };
        if depth >= MAX_DEPTH {
            return Err(fail(format!(
                "COPY nested more than {MAX_DEPTH} deep (does a member copy itself?)"
            )));
        }
        let name = words
            .get(1)
            .map(|w| w.trim_matches(|c| c == '\'' || c == '"'))
            .ok_or_else(|| fail("COPY without a member name".into()))?;
        let replacements = replacing(&statement.text).map_err(fail)?;
        let member = library
            .member(name)
            .ok_or_else(|| fail(format!("COPY {name}: no such member in the copy library (--copylib)")))?;
        let member = apply(&member, &replacements);
        // The member's lines are the COPY statement's, for the records' spans.
        let inner = source::statements(&member)
            .into_iter()
            .map(|s| Statement {
                line_start: statement.line_start,
                line_end: statement.line_end,
                ..s
            })
            .collect();
        out.extend(expand_at(inner, library, depth + 1)?);
    }
    Ok(out)
}

/// The REPLACING pairs of a COPY statement.
fn replacing(statement: &str) -> Result<Vec<Replacement>, String> {
    let upper = statement.to_ascii_uppercase();
    let Some(at) = upper.find(" REPLACING ") else {
        return Ok(Vec::new());
    };
    let mut rest = statement[at + " REPLACING ".len()..].trim();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (mode, after) = match rest.split_once(char::is_whitespace) {
            Some((w, after)) if w.eq_ignore_ascii_case("LEADING") => (Some(true), after.trim_start()),
            Some((w, after)) if w.eq_ignore_ascii_case("TRAILING") => (Some(false), after.trim_start()),
            _ => (None, rest),
        };
        let (from, after) = operand(after)?;
        let after = after.trim_start();
        let after = after
            .strip_prefix("BY")
            .or_else(|| after.strip_prefix("by"))
            .ok_or_else(|| format!("REPLACING {from}: BY expected"))?;
        let (to, after) = operand(after.trim_start())?;
        out.push(match mode {
            Some(true) => Replacement::Leading(from, to),
            Some(false) => Replacement::Trailing(from, to),
            None => Replacement::Text(from, to),
        });
        rest = after.trim();
    }
    Ok(out)
}

/// One operand: `==pseudo text==`, a quoted literal or a word; and what follows it.
fn operand(text: &str) -> Result<(String, &str), String> {
    if let Some(inner) = text.strip_prefix("==") {
        let end = inner.find("==").ok_or("unclosed ==")?;
        return Ok((inner[..end].trim().to_owned(), &inner[end + 2..]));
    }
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    if end == 0 {
        return Err("REPLACING: an operand expected".into());
    }
    Ok((text[..end].to_owned(), &text[end..]))
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == ':'
}

/// The member's text with the replacements made, word by word (case-insensitive).
fn apply(text: &str, replacements: &[Replacement]) -> String {
    if replacements.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let upper = word.to_ascii_uppercase();
        let mut replaced = None;
        for r in replacements {
            match r {
                Replacement::Text(from, to) if upper == from.to_ascii_uppercase() => replaced = Some(to.clone()),
                // A tag (`:TAG:`) is replaced wherever it stands inside a word.
                Replacement::Text(from, to)
                    if from.len() > 2
                        && from.starts_with(':')
                        && from.ends_with(':')
                        && upper.contains(&from.to_ascii_uppercase()) =>
                {
                    replaced = Some(upper.replace(&from.to_ascii_uppercase(), to));
                }
                Replacement::Leading(from, to) if upper.starts_with(&from.to_ascii_uppercase()) => {
                    replaced = Some(format!("{to}{}", &word[from.len()..]));
                }
                Replacement::Trailing(from, to) if upper.ends_with(&from.to_ascii_uppercase()) => {
                    replaced = Some(format!("{}{to}", &word[..word.len() - from.len()]));
                }
                _ => continue,
            }
            break;
        }
        out.push_str(replaced.as_deref().unwrap_or(word));
        word.clear();
    };
    for c in text.chars() {
        if is_word_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Library;
    impl CopyLibrary for Library {
        fn member(&self, name: &str) -> Option<String> {
            match name {
                "ADDR" => Some("       05  :TAG:-STREET  PIC X(30).\n       05  :TAG:-ZIP     PIC X(10).\n".into()),
                "PHONE" => Some("       05  WS-PHONE      PIC X(15).\n".into()),
                "LOOP" => Some("       COPY LOOP.\n".into()),
                _ => None,
            }
        }
    }

    fn texts(copybook: &str) -> Result<Vec<String>, CopybookError> {
        expand(copybook, &Library).map(|s| s.into_iter().map(|s| s.text).collect())
    }

    #[test]
    fn members_are_copied_with_their_replacements() {
        let got = texts(
            "       01  CUSTOMER.\n       COPY ADDR REPLACING ==:TAG:== BY ==HOME==.\n       COPY PHONE REPLACING LEADING ==WS-== BY ==CUST-==.\n",
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "01 CUSTOMER",
                "05 HOME-STREET PIC X(30)",
                "05 HOME-ZIP PIC X(10)",
                "05 CUST-PHONE PIC X(15)"
            ]
        );
    }

    #[test]
    fn a_missing_member_or_a_loop_is_an_error() {
        let missing = texts("       01  R.\n       COPY NOPE.\n").unwrap_err();
        assert!(
            missing.message.contains("NOPE") && missing.message.contains("--copylib"),
            "{missing}"
        );
        assert_eq!(missing.line, 2);
        assert!(texts("       COPY LOOP.\n").unwrap_err().message.contains("nested"));
        let none = expand("       COPY ADDR.\n", &NoLibrary).unwrap_err();
        assert!(none.message.contains("no such member"));
    }
}
