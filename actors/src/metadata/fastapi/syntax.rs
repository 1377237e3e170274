//! Small readings of Python syntax shared by the module reader: literals, prefixes, string
//! lists, `Depends(…)`, names and references, relative imports, and line numbers.

use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use super::module::{Prefix, Ref};

/// A constraint's value: JSON for literals, the source text otherwise.
pub(super) fn literal(expr: &Expr, text: &dyn Fn(&dyn Ranged) -> String) -> serde_json::Value {
    let written = text(expr);
    match expr {
        Expr::StringLiteral(s) => serde_json::Value::String(s.value.to_str().to_owned()),
        Expr::NumberLiteral(_) | Expr::BooleanLiteral(_) => {
            serde_json::from_str(&written.to_ascii_lowercase()).unwrap_or(serde_json::Value::String(written))
        }
        _ => serde_json::Value::String(written),
    }
}

pub(super) fn prefix(expr: &Expr, text: &dyn Fn(&dyn Ranged) -> String) -> Prefix {
    match expr {
        Expr::StringLiteral(s) => Prefix::Literal(s.value.to_str().to_owned()),
        other => Prefix::Expression(text(other)),
    }
}

pub(super) fn strings(expr: &Expr) -> Vec<String> {
    let items = match expr {
        Expr::List(list) => &list.elts,
        Expr::Tuple(tuple) => &tuple.elts,
        _ => return Vec::new(),
    };
    items
        .iter()
        .filter_map(|e| match e {
            Expr::StringLiteral(s) => Some(s.value.to_str().to_owned()),
            _ => None,
        })
        .collect()
}

/// `[Depends(get_token), Depends(verify)]` → `get_token`, `verify`.
pub(super) fn depends(expr: &Expr, text: &dyn Fn(&dyn Ranged) -> String) -> Vec<String> {
    let items = match expr {
        Expr::List(list) => &list.elts,
        Expr::Tuple(tuple) => &tuple.elts,
        _ => return Vec::new(),
    };
    items.iter().filter_map(|e| depends_call(e, text)).collect()
}

pub(super) fn depends_call(expr: &Expr, text: &dyn Fn(&dyn Ranged) -> String) -> Option<String> {
    let Expr::Call(call) = expr else { return None };
    matches!(callee_name(&call.func).as_str(), "Depends" | "Security")
        .then(|| call.arguments.find_argument_value("dependency", 0).map(|e| text(e)))
        .flatten()
}

/// The last name of a callee: `FastAPI`, `fastapi.APIRouter` → `APIRouter`.
pub(super) fn callee_name(expr: &Expr) -> String {
    match expr {
        Expr::Name(name) => name.id.to_string(),
        Expr::Attribute(attribute) => attribute.attr.id.to_string(),
        _ => String::new(),
    }
}

pub fn reference(expr: &Expr) -> Option<Ref> {
    match expr {
        Expr::Name(name) => Some(Ref::Local(name.id.to_string())),
        Expr::Attribute(attribute) => match attribute.value.as_ref() {
            Expr::Name(base) => Some(Ref::Attribute(base.id.to_string(), attribute.attr.id.to_string())),
            _ => None,
        },
        _ => None,
    }
}

/// `from ..core import x` in package `app.api.routes` imports from `app.core`.
pub(super) fn resolve_relative(package: &str, level: u32, module: Option<&str>) -> String {
    let mut base: Vec<&str> = if level == 0 {
        Vec::new()
    } else {
        package.split('.').filter(|p| !p.is_empty()).collect()
    };
    for _ in 1..level {
        base.pop();
    }
    if let Some(module) = module {
        base.extend(module.split('.'));
    }
    base.join(".")
}

/// Byte offsets to 1-based line numbers.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(source: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    pub fn line_of(&self, offset: usize) -> u32 {
        let line = self.starts.partition_point(|&s| s <= offset);
        u32::try_from(line.max(1)).unwrap_or(u32::MAX)
    }

    pub fn span(&self, node: &dyn Ranged) -> (u32, u32) {
        let range = node.range();
        let end = range.end().to_usize().saturating_sub(1).max(range.start().to_usize());
        (self.line_of(range.start().to_usize()), self.line_of(end))
    }
}
