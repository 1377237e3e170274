//! Global nodes out of the two text forms FileMan data dictionaries travel in: a KIDS build
//! (`.KID`: a subscript line, then its value line) and a ZWR export (`^DD(200,.01,0)="NAME^…"`).

/// One subscript: FileMan numbers (`.01`, `850.019`) are kept as written, so `1` and `1.0` stay
/// what the file said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sub {
    Number(String),
    Text(String),
}

impl Sub {
    pub fn number(&self) -> Option<&str> {
        match self {
            Sub::Number(n) => Some(n),
            Sub::Text(_) => None,
        }
    }

    pub fn is(&self, text: &str) -> bool {
        matches!(self, Sub::Text(t) if t == text)
    }

    pub fn is_number(&self, number: &str) -> bool {
        matches!(self, Sub::Number(n) if n == number)
    }
}

/// A node of `^DD` or `^DIC` with the lines it was read from.
#[derive(Debug, Clone)]
pub struct GlobalNode {
    pub global: String,
    pub subs: Vec<Sub>,
    pub value: String,
    pub line_start: u32,
    pub line_end: u32,
}

#[derive(Debug)]
pub struct SyntaxError {
    pub line: u32,
    pub message: String,
}

/// The `^DD` and `^DIC` nodes of a KIDS build or a ZWR export; other globals and KIDS sections
/// (routines, build components, options) are not data dictionaries and are passed over.
pub fn read(text: &str) -> Result<Vec<GlobalNode>, SyntaxError> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let kids = lines
        .iter()
        .take(20)
        .any(|l| l.starts_with("**KIDS**") || l.starts_with("**INSTALL NAME**"));
    if kids { Ok(read_kids(&lines)) } else { read_zwr(&lines) }
}

/// KIDS: after each `**INSTALL NAME**` line and the name under it, pairs of lines until
/// `**END**`. `"^DD",TOP,FILE,FIELD,…)` is node `^DD(FILE,FIELD,…)` shipped with file TOP.
fn read_kids(lines: &[&str]) -> Vec<GlobalNode> {
    let mut nodes = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        if lines[at] == "**INSTALL NAME**" {
            at += 2;
            continue;
        }
        let Some(reference) = lines[at].strip_suffix(')') else {
            at += 1;
            continue;
        };
        let value = lines.get(at + 1).copied().unwrap_or("");
        let line = u32::try_from(at + 1).unwrap_or(u32::MAX);
        at += 2;
        let Ok(mut subs) = subscripts(reference) else { continue };
        let global = match subs.first() {
            Some(Sub::Text(g)) if g == "^DD" || g == "^DIC" => g[1..].to_owned(),
            _ => continue,
        };
        if subs.len() < 3 {
            continue;
        }
        subs.drain(..2);
        nodes.push(GlobalNode {
            global,
            subs,
            value: value.to_owned(),
            line_start: line,
            line_end: line + 1,
        });
    }
    nodes
}

/// ZWR: `^GLOBAL(subscripts)=value`, one node a line; other lines (headers, blank) are passed over.
fn read_zwr(lines: &[&str]) -> Result<Vec<GlobalNode>, SyntaxError> {
    let mut nodes = Vec::new();
    for (index, raw) in lines.iter().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let Some(rest) = raw.strip_prefix('^') else { continue };
        let Some(open) = rest.find('(') else { continue };
        let global = &rest[..open];
        if global != "DD" && global != "DIC" {
            continue;
        }
        let error = |message: &str| SyntaxError {
            line,
            message: format!("{message}: {}", raw.chars().take(120).collect::<String>()),
        };
        let close = closing_paren(&rest[open + 1..]).ok_or_else(|| error("unclosed subscripts"))?;
        let subs = subscripts(&rest[open + 1..open + 1 + close]).map_err(|m| error(&m))?;
        let value = rest[open + 1 + close + 1..]
            .strip_prefix('=')
            .ok_or_else(|| error("no `=` after the subscripts"))?;
        nodes.push(GlobalNode {
            global: global.to_owned(),
            subs,
            value: zwr_value(value).map_err(|m| error(&m))?,
            line_start: line,
            line_end: line,
        });
    }
    Ok(nodes)
}

/// Where the subscript list closes: the first `)` outside quotes.
fn closing_paren(text: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ')' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// `850,.01,"NM","FOUND TEXT"` into subscripts; `""` inside quotes is one `"`.
fn subscripts(text: &str) -> Result<Vec<Sub>, String> {
    let mut subs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        s.push('"');
                    }
                    Some('"') => break,
                    Some(c) => s.push(c),
                    None => return Err("unclosed string subscript".into()),
                }
            }
            subs.push(Sub::Text(s));
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                s.push(c);
                chars.next();
            }
            if s.is_empty()
                || !s
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == 'E')
            {
                return Err(format!("subscript {s:?} is neither a number nor a string"));
            }
            subs.push(Sub::Number(s));
        }
        match chars.next() {
            None => return Ok(subs),
            Some(',') => {}
            Some(c) => return Err(format!("unexpected {c:?} after a subscript")),
        }
    }
}

/// A ZWR value: a number, a quoted string, or strings and `$C(…)` joined by `_`.
fn zwr_value(text: &str) -> Result<String, String> {
    if !text.starts_with(['"', '$']) {
        return Ok(text.to_owned());
    }
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix('"') {
            let mut end = None;
            let mut chars = body.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if chars.peek().map(|&(_, n)| n) == Some('"') {
                        chars.next();
                        out.push('"');
                        continue;
                    }
                    end = Some(i);
                    break;
                }
                out.push(c);
            }
            let end = end.ok_or("unclosed string value")?;
            rest = &body[end + 1..];
        } else if let Some(body) = rest.strip_prefix("$C(") {
            let close = body.find(')').ok_or("unclosed $C(")?;
            for code in body[..close].split(',') {
                let code: u32 = code.trim().parse().map_err(|_| format!("$C({code}) is not a code"))?;
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            rest = &body[close + 1..];
        } else {
            return Err(format!(
                "unexpected value text {:?}",
                rest.chars().take(20).collect::<String>()
            ));
        }
        rest = rest.strip_prefix('_').unwrap_or(rest);
    }
    Ok(out)
}
