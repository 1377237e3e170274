//! FastAPI projects, read statically — never imported, never run — into `fastapi.router`,
//! `fastapi.route` and `fastapi.model` records. A route's full path takes every prefix on its
//! way from the app: `app.include_router(api, prefix="/api/v1")`, `api.include_router(items.router)`,
//! `APIRouter(prefix="/items")`, `@router.get("/{id}")` → `/api/v1/items/{id}`, across modules.
//!
//! Paths inside a file: a router is its variable (`router`, `app`), a route `METHOD /full/path`,
//! a model its class name.

mod module;
mod project;
mod records;
mod syntax;

#[cfg(test)]
mod tests;

use ruff_python_ast::ModModule;

use super::{Parsed, Refusal};
pub use module::LineIndex;

/// Python nested deeper than this is refused before it is parsed.
pub const MAX_DEPTH: usize = 100;

/// One file of a project: its path under the project root (`app/api/routes/items.py`).
pub struct SourceFile<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

/// Reads every file of a project; each file gets its records, or its refusal alone.
pub fn parse_project(files: &[SourceFile<'_>]) -> Vec<Result<Parsed, Refusal>> {
    let modules: Vec<Result<(ModModule, LineIndex), Refusal>> = files.iter().map(|f| syntax(f.text)).collect();
    project::records(files, &modules)
}

/// Reads one module on its own: routes get the prefixes this module gives them.
pub fn parse(text: &str) -> Result<Parsed, Refusal> {
    parse_project(&[SourceFile { path: "main.py", text }])
        .pop()
        .unwrap_or_else(|| Ok(Parsed::default()))
}

fn syntax(text: &str) -> Result<(ModModule, LineIndex), Refusal> {
    check_depth(text)?;
    let index = LineIndex::new(text);
    match ruff_python_parser::parse_module(text) {
        Ok(parsed) => Ok((parsed.into_syntax(), index)),
        Err(error) => Err(Refusal {
            class: "python_syntax",
            line: Some(index.line_of(error.location.start().to_usize())),
            message: error.error.to_string(),
        }),
    }
}

/// Refuses text nested deeper than [`MAX_DEPTH`] brackets or indentation levels.
fn check_depth(text: &str) -> Result<(), Refusal> {
    let mut brackets = 0usize;
    let mut indents: Vec<usize> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let body = line.trim_start();
        // A statement at column 0 is outside any bracket: brackets counted inside strings
        // (`":)"`) do not pile up across the file.
        const STATEMENTS: [&str; 12] = [
            "def ", "class ", "@", "import ", "from ", "if ", "for ", "while ", "with ", "try:", "async ", "return",
        ];
        if line.len() == body.len() && STATEMENTS.iter().any(|s| body.starts_with(s)) {
            brackets = 0;
        }
        if !body.is_empty() && !body.starts_with('#') && brackets == 0 {
            let indent = line.len() - body.len();
            while indents.last().is_some_and(|&i| i >= indent) {
                indents.pop();
            }
            indents.push(indent);
        }
        let mut deepest = brackets;
        for c in body.bytes() {
            match c {
                b'(' | b'[' | b'{' => {
                    brackets += 1;
                    deepest = deepest.max(brackets);
                }
                b')' | b']' | b'}' => brackets = brackets.saturating_sub(1),
                _ => {}
            }
        }
        if deepest + indents.len() > MAX_DEPTH {
            return Err(Refusal {
                class: "too_deep",
                line: u32::try_from(number + 1).ok(),
                message: format!("nested more than {MAX_DEPTH} levels"),
            });
        }
    }
    Ok(())
}
