//! Layout tables kept in code by filing libraries, in whatever language: a named collection
//! (`TRecordLayout = map[string]SpecField{`, `_ITEMS = [`, `LAYOUT = {`) whose entries pair a
//! quoted key with its place, positionally (`"TCC": {15, 5, Alphanumeric, Required}`,
//! `("tcc", ("", 5, " ", upper))` — a length alone, the fields then follow one another) or by
//! name (`tcc: {start: 16, length: 5, type: "AN"}`, `'tcc' => [16, 5]`).

use super::{FieldSpec, LayoutSpec};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Str(String),
    Int(u64),
    Ident(String),
    Open(char),
    Close(char),
    Comma,
    /// `:`, `=>`: a key's separator.
    Colon,
    /// `=`, `:=`: an assignment.
    Assign,
    Other,
}

struct Lexed {
    token: Token,
    line: u32,
}

/// Tokens of any C-like or scripting language, comments dropped (`//`, `/* */`, `#`).
fn lex(text: &str) -> Vec<Lexed> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1u32;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let here = line;
        let token = match c {
            '\n' => {
                line += 1;
                i += 1;
                continue;
            }
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 2;
                continue;
            }
            '"' | '\'' if chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c) => {
                // A triple-quoted string (a docstring): its apostrophes and quotes are text.
                let mut s = String::new();
                i += 3;
                while i < chars.len()
                    && !(chars[i] == c && chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c))
                {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                i += 3;
                Token::Str(s)
            }
            '"' | '\'' | '`' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                while i < chars.len() && chars[i] != quote {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        s.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                i += 1;
                Token::Str(s)
            }
            c if c.is_ascii_digit() => {
                let begin = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[begin..i].iter().filter(|&&c| c != '_').collect();
                out.push(Lexed {
                    token: text
                        .parse()
                        .ok()
                        .filter(|n| *n <= super::MAX_POSITION)
                        .map_or(Token::Other, Token::Int),
                    line: here,
                });
                continue;
            }
            c if c.is_alphabetic() || c == '_' || c == '$' || c == '@' => {
                let begin = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '$' | '.' | '@')) {
                    i += 1;
                }
                out.push(Lexed {
                    token: Token::Ident(chars[begin..i].iter().collect()),
                    line: here,
                });
                continue;
            }
            '(' | '[' | '{' => {
                i += 1;
                Token::Open(c)
            }
            ')' | ']' | '}' => {
                i += 1;
                Token::Close(c)
            }
            ',' => {
                i += 1;
                Token::Comma
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Token::Assign
            }
            ':' => {
                i += 1;
                Token::Colon
            }
            '=' if chars.get(i + 1) == Some(&'>') => {
                i += 2;
                Token::Colon
            }
            '=' if chars.get(i + 1) != Some(&'=') => {
                i += 1;
                Token::Assign
            }
            _ => {
                i += 1;
                Token::Other
            }
        };
        out.push(Lexed { token, line: here });
    }
    out
}

/// Where the group opened at `open` closes (the index of its closing token).
fn group_end(tokens: &[Lexed], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::Open(_) => depth += 1,
            Token::Close(_) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// The items of the group `tokens[open]`, split at its own commas.
fn items(tokens: &[Lexed], open: usize) -> Vec<&[Lexed]> {
    let end = group_end(tokens, open).min(tokens.len());
    let inner = &tokens[open + 1..end];
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut from = 0;
    for (i, t) in inner.iter().enumerate() {
        match t.token {
            Token::Open(_) => depth += 1,
            Token::Close(_) => depth = depth.saturating_sub(1),
            Token::Comma if depth == 0 => {
                out.push(&inner[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    if from < inner.len() {
        out.push(&inner[from..]);
    }
    out
}

/// Every named collection of the text that holds at least two placed fields.
pub fn tables(text: &str) -> Vec<LayoutSpec> {
    let tokens = lex(text);
    let mut layouts = Vec::new();
    let mut i = 0;
    while i + 1 < tokens.len() {
        let (Token::Ident(name), Token::Assign) = (&tokens[i].token, &tokens[i + 1].token) else {
            i += 1;
            continue;
        };
        // The first group after the assignment that holds fields is the table (`map[string]T{`
        // opens and closes a bracket first).
        let mut j = i + 2;
        let mut found = None;
        while j < tokens.len() && j < i + 12 {
            if let Token::Open(_) = tokens[j].token {
                let fields = fields(tokens.as_slice(), j);
                if fields.len() >= 2 {
                    found = Some((j, fields));
                    break;
                }
                j = group_end(&tokens, j) + 1;
                continue;
            }
            if matches!(tokens[j].token, Token::Assign | Token::Comma) {
                break;
            }
            j += 1;
        }
        match found {
            Some((open, fields)) => {
                let close = group_end(&tokens, open).min(tokens.len() - 1);
                layouts.push(LayoutSpec {
                    name: name.rsplit('.').next().unwrap_or(name).to_owned(),
                    format: "code",
                    fields,
                    line_start: tokens[i].line,
                    line_end: tokens[close].line,
                });
                i = close + 1;
            }
            None => i += 2,
        }
    }
    layouts
}

fn fields(tokens: &[Lexed], open: usize) -> Vec<FieldSpec> {
    items(tokens, open).into_iter().filter_map(field).collect()
}

/// One entry: `"KEY": VALUE`, `KEY: VALUE`, `("KEY", VALUE)`, `["KEY", VALUE]`.
fn field(entry: &[Lexed]) -> Option<FieldSpec> {
    let line = entry.first()?.line;
    let (name, value): (String, &[Lexed]) = match (&entry.first()?.token, entry.get(1).map(|t| &t.token)) {
        (Token::Str(key) | Token::Ident(key), Some(Token::Colon)) => (key.clone(), &entry[2..]),
        (Token::Open(_), Some(Token::Str(key))) if matches!(entry.get(2)?.token, Token::Comma) => {
            let end = group_end(entry, 0).min(entry.len());
            (key.clone(), &entry[3..end])
        }
        // `{name: "tcc", start: 16, length: 5}`: the name is one of the entry's own members.
        (Token::Open(_), Some(Token::Str(_) | Token::Ident(_))) => {
            let name = items(entry, 0).into_iter().find_map(|atom| match atom {
                [key, colon, value, ..] if colon.token == Token::Colon => match &key.token {
                    Token::Str(k) | Token::Ident(k)
                        if matches!(k.to_ascii_lowercase().as_str(), "name" | "field" | "key" | "id") =>
                    {
                        text(Some(&value.token))
                    }
                    _ => None,
                },
                _ => None,
            })?;
            (name, entry)
        }
        _ => return None,
    };
    let mut spec = FieldSpec {
        name,
        line,
        ..FieldSpec::default()
    };
    // The value is a group of atoms, or (inside a tuple) the atoms themselves.
    let atoms: Vec<&[Lexed]> = match value.first().map(|t| &t.token) {
        Some(Token::Open(_)) if group_end(value, 0) + 1 >= value.len() => items(value, 0),
        _ => split_atoms(value),
    };
    let named = atoms
        .iter()
        .any(|a| matches!(a.get(1).map(|t| &t.token), Some(Token::Colon)));
    if named {
        for atom in &atoms {
            let (Some(Token::Str(key) | Token::Ident(key)), Some(Token::Colon)) =
                (atom.first().map(|t| &t.token), atom.get(1).map(|t| &t.token))
            else {
                continue;
            };
            let value = atom.get(2).map(|t| &t.token);
            let number = match value {
                Some(Token::Int(n)) => Some(*n),
                _ => None,
            };
            match key.to_ascii_lowercase().as_str() {
                "start" | "begin" | "offset" | "position" | "pos" | "from" => spec.start = number,
                "length" | "len" | "size" | "width" => spec.length = number,
                "end" | "stop" | "to" => spec.end = number,
                "type" | "format" | "kind" | "datatype" => spec.data_type = text(value),
                "required" | "mandatory" | "requirement" => spec.requirement = text(value),
                "description" | "desc" | "title" => spec.description = text(value),
                _ => {}
            }
        }
    } else {
        let ints: Vec<Option<u64>> = atoms
            .iter()
            .map(|a| match a {
                [
                    Lexed {
                        token: Token::Int(n), ..
                    },
                ] => Some(*n),
                _ => None,
            })
            .collect();
        match ints.as_slice() {
            [Some(start), Some(length), ..] => {
                spec.start = Some(*start);
                spec.length = Some(*length);
                spec.data_type = atoms.get(2).and_then(|a| text(a.first().map(|t| &t.token)));
                spec.requirement = atoms.get(3).and_then(|a| text(a.first().map(|t| &t.token)));
            }
            _ => spec.length = ints.iter().flatten().next().copied(),
        }
    }
    (spec.length.is_some() || spec.end.is_some()).then_some(spec)
}

fn split_atoms(tokens: &[Lexed]) -> Vec<&[Lexed]> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut from = 0;
    for (i, t) in tokens.iter().enumerate() {
        match t.token {
            Token::Open(_) => depth += 1,
            Token::Close(_) => depth = depth.saturating_sub(1),
            Token::Comma if depth == 0 => {
                out.push(&tokens[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    if from < tokens.len() {
        out.push(&tokens[from..]);
    }
    out
}

fn text(token: Option<&Token>) -> Option<String> {
    match token? {
        Token::Str(s) | Token::Ident(s) => Some(s.clone()),
        Token::Int(n) => Some(n.to_string()),
        _ => None,
    }
}
