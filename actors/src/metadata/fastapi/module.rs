//! One Python module's facts, read from its syntax tree and never run: routers and apps, the
//! routers it includes, its path operations, its classes, its imports and string constants.

use std::collections::HashMap;

use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::Ranged;

pub use super::syntax::{LineIndex, reference};
use super::syntax::{callee_name, depends, depends_call, literal, prefix, resolve_relative, strings};

/// A name as code refers to it: `router`, or `items.router`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Local(String),
    Attribute(String, String),
}

/// A prefix as written: a string, an expression (`settings.API_V1_STR`), or none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Prefix {
    #[default]
    None,
    Literal(String),
    Expression(String),
}

#[derive(Debug, Clone)]
pub struct RouterDef {
    pub name: String,
    pub is_app: bool,
    pub prefix: Prefix,
    pub tags: Vec<String>,
    pub dependencies: Vec<String>,
    pub lines: (u32, u32),
}

#[derive(Debug, Clone)]
pub struct Include {
    pub parent: Ref,
    pub child: Ref,
    pub prefix: Prefix,
    pub tags: Vec<String>,
    pub dependencies: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    /// The annotation as written (inside `Annotated[…]`, its first argument).
    pub annotation: Option<String>,
    /// The marker call's name (`Query`, `Depends`, …), from the default or `Annotated[…]`.
    pub marker: Option<String>,
    /// The marker's first argument, or the default as written.
    pub default: Option<String>,
    /// For `Depends(f)`: `f`.
    pub depends_on: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RouteDef {
    pub router: Ref,
    pub methods: Vec<String>,
    pub path: String,
    pub handler: String,
    pub params: Vec<Param>,
    pub response_model: Option<String>,
    pub status_code: Option<String>,
    pub dependencies: Vec<String>,
    pub tags: Vec<String>,
    pub lines: (u32, u32),
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    pub annotation: String,
    pub default: Option<String>,
    pub constraints: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct ClassDef {
    pub name: String,
    pub bases: Vec<Ref>,
    pub fields: Vec<FieldDef>,
    pub lines: (u32, u32),
}

#[derive(Debug, Default)]
pub struct ModuleFacts {
    /// Local name → (module, attribute): `from a.b import c as d` is `d` → (`a.b`, Some(`c`)),
    /// `import a.b as d` is `d` → (`a.b`, None).
    pub imports: HashMap<String, (String, Option<String>)>,
    pub routers: Vec<RouterDef>,
    pub includes: Vec<Include>,
    pub routes: Vec<RouteDef>,
    pub classes: Vec<ClassDef>,
    /// String constants by name: module-level `NAME = "…"` and class-level `NAME: str = "…"`.
    pub strings: Vec<(String, String)>,
    /// Type aliases that inject a dependency: `SessionDep = Annotated[Session, Depends(get_db)]`.
    pub dependency_aliases: HashMap<String, String>,
}

pub const METHODS: [&str; 8] = ["get", "post", "put", "patch", "delete", "options", "head", "trace"];

/// Reads a module's facts; `package` is the dotted package the module is in, for relative imports.
pub fn facts(module: &ast::ModModule, source: &str, lines: &LineIndex, package: &str) -> ModuleFacts {
    let mut facts = ModuleFacts::default();
    let text = |e: &dyn Ranged| source[e.range().start().to_usize()..e.range().end().to_usize()].to_owned();
    statements(&module.body, &mut facts, lines, package, &text);
    facts
}

/// Module-level statements, and those under a module-level `if`, `try` or `with` (a router
/// included only in development is still the project's).
fn statements(
    body: &[Stmt],
    facts: &mut ModuleFacts,
    lines: &LineIndex,
    package: &str,
    text: &dyn Fn(&dyn Ranged) -> String,
) {
    for stmt in body {
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    let name = alias.name.id.as_str();
                    match &alias.asname {
                        Some(local) => facts.imports.insert(local.id.to_string(), (name.to_owned(), None)),
                        None => {
                            let first = name.split('.').next().unwrap_or(name);
                            facts.imports.insert(first.to_owned(), (first.to_owned(), None))
                        }
                    };
                }
            }
            Stmt::ImportFrom(from) => {
                let base = resolve_relative(package, from.level, from.module.as_ref().map(|m| m.id.as_str()));
                for alias in &from.names {
                    let name = alias.name.id.to_string();
                    let local = alias.asname.as_ref().map_or(name.clone(), |a| a.id.to_string());
                    facts.imports.insert(local, (base.clone(), Some(name)));
                }
            }
            Stmt::Assign(assign) => {
                let [Expr::Name(target)] = assign.targets.as_slice() else {
                    continue;
                };
                assigned(facts, target.id.as_str(), &assign.value, stmt, lines, text);
            }
            Stmt::AnnAssign(assign) => {
                if let (Expr::Name(target), Some(value)) = (assign.target.as_ref(), &assign.value) {
                    assigned(facts, target.id.as_str(), value, stmt, lines, text);
                }
            }
            Stmt::FunctionDef(function) => {
                for decorator in &function.decorator_list {
                    if let Some(route) = route(decorator, function, lines, text) {
                        facts.routes.push(route);
                    }
                }
            }
            Stmt::ClassDef(class) => {
                let class = class_def(class, lines, text, &mut facts.strings);
                facts.classes.push(class);
            }
            Stmt::Expr(expression) => {
                if let Some(include) = include(&expression.value, text) {
                    facts.includes.push(include);
                }
            }
            Stmt::If(branch) => {
                statements(&branch.body, facts, lines, package, text);
                for clause in &branch.elif_else_clauses {
                    statements(&clause.body, facts, lines, package, text);
                }
            }
            Stmt::Try(attempt) => {
                statements(&attempt.body, facts, lines, package, text);
                statements(&attempt.orelse, facts, lines, package, text);
                statements(&attempt.finalbody, facts, lines, package, text);
            }
            Stmt::With(with) => statements(&with.body, facts, lines, package, text),
            _ => {}
        }
    }
}

fn assigned(
    facts: &mut ModuleFacts,
    name: &str,
    value: &Expr,
    stmt: &Stmt,
    lines: &LineIndex,
    text: &dyn Fn(&dyn Ranged) -> String,
) {
    match value {
        Expr::StringLiteral(s) => facts.strings.push((name.to_owned(), s.value.to_str().to_owned())),
        Expr::Call(call) => {
            let callee = callee_name(&call.func);
            if callee == "APIRouter" || callee == "FastAPI" {
                let args = &call.arguments;
                facts.routers.push(RouterDef {
                    name: name.to_owned(),
                    is_app: callee == "FastAPI",
                    prefix: args
                        .find_keyword("prefix")
                        .map_or(Prefix::None, |k| prefix(&k.value, text)),
                    tags: args.find_keyword("tags").map(|k| strings(&k.value)).unwrap_or_default(),
                    dependencies: args
                        .find_keyword("dependencies")
                        .map(|k| depends(&k.value, text))
                        .unwrap_or_default(),
                    lines: lines.span(stmt),
                });
            }
        }
        Expr::Subscript(subscript) if callee_name(&subscript.value) == "Annotated" => {
            if let Expr::Tuple(tuple) = subscript.slice.as_ref()
                && let Some(dependency) = tuple.elts.iter().skip(1).find_map(|e| depends_call(e, text))
            {
                facts.dependency_aliases.insert(name.to_owned(), dependency);
            }
        }
        _ => {}
    }
}

/// `a.b.include_router(child, prefix=…, tags=…)`.
fn include(expression: &Expr, text: &dyn Fn(&dyn Ranged) -> String) -> Option<Include> {
    let Expr::Call(call) = expression else { return None };
    let Expr::Attribute(method) = call.func.as_ref() else {
        return None;
    };
    if method.attr.id.as_str() != "include_router" {
        return None;
    }
    let args = &call.arguments;
    Some(Include {
        parent: reference(&method.value)?,
        child: reference(args.find_argument_value("router", 0)?)?,
        prefix: args
            .find_keyword("prefix")
            .map_or(Prefix::None, |k| prefix(&k.value, text)),
        tags: args.find_keyword("tags").map(|k| strings(&k.value)).unwrap_or_default(),
        dependencies: args
            .find_keyword("dependencies")
            .map(|k| depends(&k.value, text))
            .unwrap_or_default(),
    })
}

/// `@router.get("/items/{id}", response_model=Item, status_code=201)` on a function.
fn route(
    decorator: &ast::Decorator,
    function: &ast::StmtFunctionDef,
    lines: &LineIndex,
    text: &dyn Fn(&dyn Ranged) -> String,
) -> Option<RouteDef> {
    let Expr::Call(call) = &decorator.expression else {
        return None;
    };
    let Expr::Attribute(method) = call.func.as_ref() else {
        return None;
    };
    let verb = method.attr.id.as_str();
    let args = &call.arguments;
    let methods = if METHODS.contains(&verb) {
        vec![verb.to_ascii_uppercase()]
    } else if verb == "api_route" {
        let named = args
            .find_keyword("methods")
            .map(|k| strings(&k.value))
            .unwrap_or_default();
        if named.is_empty() {
            vec!["GET".to_owned()]
        } else {
            named.into_iter().map(|m| m.to_ascii_uppercase()).collect()
        }
    } else {
        return None;
    };
    let path = match args.find_argument_value("path", 0) {
        Some(Expr::StringLiteral(s)) => s.value.to_str().to_owned(),
        Some(other) => text(other),
        None => String::new(),
    };
    let params = function
        .parameters
        .iter_non_variadic_params()
        .filter(|p| !matches!(p.parameter.name.id.as_str(), "self" | "cls"))
        .map(|p| param(&p.parameter, p.default.as_deref(), text))
        .collect();
    let keyword = |name: &str| args.find_keyword(name).map(|k| text(&k.value));
    let (start, end) = lines.span(function);
    Some(RouteDef {
        router: reference(&method.value)?,
        methods,
        path,
        handler: function.name.id.to_string(),
        params,
        response_model: keyword("response_model").or_else(|| function.returns.as_deref().map(|r| text(r))),
        status_code: keyword("status_code"),
        dependencies: args
            .find_keyword("dependencies")
            .map(|k| depends(&k.value, text))
            .unwrap_or_default(),
        tags: args.find_keyword("tags").map(|k| strings(&k.value)).unwrap_or_default(),
        // The decorators belong to the route's source.
        lines: (lines.line_of(decorator.range().start().to_usize()).min(start), end),
    })
}

fn param(parameter: &ast::Parameter, default: Option<&Expr>, text: &dyn Fn(&dyn Ranged) -> String) -> Param {
    let mut p = Param {
        name: parameter.name.id.to_string(),
        annotation: None,
        marker: None,
        default: None,
        depends_on: None,
    };
    if let Some(annotation) = parameter.annotation.as_deref() {
        match annotation {
            Expr::Subscript(s) if callee_name(&s.value) == "Annotated" => {
                if let Expr::Tuple(tuple) = s.slice.as_ref() {
                    p.annotation = tuple.elts.first().map(|t| text(t));
                    if let Some(Expr::Call(call)) = tuple.elts.get(1) {
                        marker(&mut p, call, text);
                    }
                }
            }
            other => p.annotation = Some(text(other)),
        }
    }
    match default {
        Some(Expr::Call(call)) if is_marker(&callee_name(&call.func)) => marker(&mut p, call, text),
        Some(other) => p.default = Some(text(other)),
        None => {}
    }
    p
}

fn is_marker(name: &str) -> bool {
    matches!(
        name,
        "Query" | "Path" | "Body" | "Header" | "Cookie" | "Form" | "File" | "Depends" | "Security"
    )
}

fn marker(p: &mut Param, call: &ast::ExprCall, text: &dyn Fn(&dyn Ranged) -> String) {
    let name = callee_name(&call.func);
    if !is_marker(&name) {
        return;
    }
    let first = call.arguments.find_argument_value("default", 0).map(|e| text(e));
    if matches!(name.as_str(), "Depends" | "Security") {
        p.depends_on = call.arguments.find_argument_value("dependency", 0).map(|e| text(e));
    } else if first.is_some() {
        p.default = first;
    }
    p.marker = Some(name);
}

fn class_def(
    class: &ast::StmtClassDef,
    lines: &LineIndex,
    text: &dyn Fn(&dyn Ranged) -> String,
    strings: &mut Vec<(String, String)>,
) -> ClassDef {
    let bases = class
        .arguments
        .as_deref()
        .map(|a| a.args.iter().filter_map(reference).collect())
        .unwrap_or_default();
    let mut fields = Vec::new();
    for stmt in &class.body {
        let Stmt::AnnAssign(assign) = stmt else { continue };
        let Expr::Name(target) = assign.target.as_ref() else {
            continue;
        };
        let annotation = text(assign.annotation.as_ref());
        if annotation.starts_with("ClassVar") {
            continue;
        }
        let mut field = FieldDef {
            name: target.id.to_string(),
            annotation,
            default: None,
            constraints: serde_json::Map::new(),
        };
        match assign.value.as_deref() {
            Some(Expr::Call(call)) if callee_name(&call.func) == "Field" => {
                field.default = call.arguments.find_argument_value("default", 0).map(|e| text(e));
                for keyword in &call.arguments.keywords {
                    let Some(arg) = &keyword.arg else { continue };
                    if arg.id.as_str() != "default" {
                        field
                            .constraints
                            .insert(arg.id.to_string(), literal(&keyword.value, text));
                    }
                }
            }
            Some(Expr::StringLiteral(s)) => {
                strings.push((field.name.clone(), s.value.to_str().to_owned()));
                field.default = Some(text(s));
            }
            Some(value) => field.default = Some(text(value)),
            None => {}
        }
        fields.push(field);
    }
    ClassDef {
        name: class.name.id.to_string(),
        bases,
        fields,
        lines: lines.span(class),
    }
}
