//! From copybook text to statements: fixed format (sequence area, indicator column, code area
//! to column 72) or free format (`*>` comments), comments dropped, statements split at the
//! period that ends them, each with the lines it spans.

/// One statement (`05 NAME PIC X(10).`) without its final period, and its lines (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub text: String,
    pub line_start: u32,
    pub line_end: u32,
}

/// Whether the text is in fixed format: every line with code has its code from column 8 on
/// and a valid indicator in column 7.
fn is_fixed(lines: &[String]) -> bool {
    let mut code_lines = 0;
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let indicator = chars.get(6).copied().unwrap_or(' ');
        if !matches!(indicator, ' ' | '*' | '/' | '-' | 'D' | 'd') {
            return false;
        }
        if indicator == ' ' {
            code_lines += 1;
            // Free-format code starting in the sequence area gives it away.
            let sequence: String = chars.iter().take(6).collect();
            if sequence.trim().chars().any(|c| c.is_alphabetic()) && !sequence.trim().is_empty() && code_lines < 3 {
                return false;
            }
        }
    }
    true
}

/// Tabs as spaces to the next multiple of 8, as an editor shows them.
fn expand_tabs(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if c == '\t' {
            let n = 8 - out.chars().count() % 8;
            out.extend(std::iter::repeat_n(' ', n));
        } else {
            out.push(c);
        }
    }
    out
}

/// The code of each line (comments removed), with continuation lines joined to the one before.
fn code_lines(text: &str) -> Vec<(u32, String)> {
    let lines: Vec<String> = text.lines().map(expand_tabs).collect();
    let fixed = is_fixed(&lines);
    let mut out: Vec<(u32, String)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let number = i as u32 + 1;
        let code = if fixed {
            let chars: Vec<char> = line.chars().collect();
            let indicator = chars.get(6).copied().unwrap_or(' ');
            if matches!(indicator, '*' | '/' | 'D' | 'd') {
                continue;
            }
            let area: String = chars.iter().skip(7).take(65).collect();
            if indicator == '-' {
                // A continued literal resumes after its opening quote.
                let rest = area.trim_start();
                let rest = rest.strip_prefix(['\'', '"']).unwrap_or(rest);
                if let Some((_, last)) = out.last_mut() {
                    let trimmed = last.trim_end().to_owned();
                    *last = trimmed + rest;
                }
                continue;
            }
            area
        } else {
            match line.find("*>") {
                Some(at) => line[..at].to_owned(),
                None if line.trim_start().starts_with('*') => continue,
                None => line.clone(),
            }
        };
        out.push((number, code));
    }
    out
}

/// The statements of a copybook, in order.
pub fn statements(text: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0u32;
    let mut quote: Option<char> = None;
    for (number, code) in code_lines(text) {
        let chars: Vec<char> = code.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if current.trim().is_empty() && !c.is_whitespace() {
                start = number;
            }
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c == '.' && chars.get(i + 1).is_none_or(|n| n.is_whitespace()) => {
                    let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !text.is_empty() {
                        out.push(Statement {
                            text,
                            line_start: start,
                            line_end: number,
                        });
                    }
                    current.clear();
                    continue;
                }
                None => {}
            }
            current.push(c);
        }
        current.push(' ');
    }
    let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
    if !text.is_empty() {
        // A last statement without its period is still read.
        out.push(Statement {
            text,
            line_start: start,
            line_end: start,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_format_drops_sequence_numbers_comments_and_the_margin() {
        // Columns 73-80 are an identification area: never code.
        let text = format!(
            "{:<72}ID000100\n\
             000200*    A COMMENT.\n\
             000300     05  NAME   PIC X(10).\n\
             000400     05  NUM    PIC S9(5)V99\n\
             000500             COMP-3.\n",
            "000100 01  RECORD."
        );
        let s = statements(&text);
        let texts: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["01 RECORD", "05 NAME PIC X(10)", "05 NUM PIC S9(5)V99 COMP-3"]);
        assert_eq!((s[2].line_start, s[2].line_end), (4, 5));
    }

    #[test]
    fn periods_inside_pictures_and_literals_do_not_end_a_statement() {
        let s = statements("       05 AMT PIC 9(6).99-.\n       88 OK VALUE 'A. B'.\n");
        let texts: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["05 AMT PIC 9(6).99-", "88 OK VALUE 'A. B'"]);
    }

    #[test]
    fn free_format_with_inline_comments() {
        let s = statements("01 REC. *> the record\n  05 A PIC X. *> one byte\n");
        let texts: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["01 REC", "05 A PIC X"]);
    }
}
