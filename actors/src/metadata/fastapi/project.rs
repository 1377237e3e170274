//! The project as a whole: names resolved across modules (imports, re-exports), routers mounted
//! under the prefixes that include them, classes that are Pydantic models — then each file's
//! records.

use std::collections::{HashMap, HashSet};

use ruff_python_ast::ModModule;
use serde_json::{Map, Value, json};

use super::SourceFile;
use super::module::{self, LineIndex, ModuleFacts, Param, Prefix, Ref, RouteDef};
use super::records::{dedup, prefix_json, record, unique_paths};
use crate::metadata::{Parsed, Refusal, Warning};

/// A router or a class: the module that defines it and its name there.
type Key = (String, String);

/// `app/api/routes/items.py` → (`app.api.routes.items`, package `app.api.routes`);
/// `app/__init__.py` → (`app`, `app`).
fn module_name(path: &str) -> (String, String) {
    let trimmed = path.trim_start_matches("./").trim_end_matches(".py");
    let dotted = trimmed.replace(['/', '\\'], ".");
    match dotted.strip_suffix(".__init__") {
        Some(package) => (package.to_owned(), package.to_owned()),
        None if dotted == "__init__" => (String::new(), String::new()),
        None => {
            let package = dotted.rsplit_once('.').map_or(String::new(), |(p, _)| p.to_owned());
            (dotted, package)
        }
    }
}

struct Project {
    names: Vec<String>,
    facts: Vec<Option<ModuleFacts>>,
    by_name: HashMap<String, usize>,
    /// String constants anywhere in the project, by name (for `settings.API_V1_STR`).
    strings: HashMap<String, HashSet<String>>,
}

pub fn records(
    files: &[SourceFile<'_>],
    modules: &[Result<(ModModule, LineIndex), Refusal>],
) -> Vec<Result<Parsed, Refusal>> {
    let mut names = Vec::new();
    let mut facts = Vec::new();
    for (file, parsed) in files.iter().zip(modules) {
        let (name, package) = module_name(file.path);
        facts.push(
            parsed
                .as_ref()
                .ok()
                .map(|(ast, lines)| module::facts(ast, file.text, lines, &package)),
        );
        names.push(name);
    }
    let mut project = Project {
        names,
        facts,
        by_name: HashMap::new(),
        strings: HashMap::new(),
    };
    project.by_name = project.names.iter().cloned().enumerate().map(|(i, n)| (n, i)).collect();
    for facts in project.facts.iter().flatten() {
        for (name, value) in &facts.strings {
            project.strings.entry(name.clone()).or_default().insert(value.clone());
        }
    }
    let models = project.models();
    let mounts = project.mounts();
    files
        .iter()
        .zip(modules)
        .enumerate()
        .map(|(i, (_, parsed))| match parsed {
            Err(refusal) => Err(refusal.clone()),
            Ok(_) => Ok(project.file_records(i, &models, &mounts)),
        })
        .collect()
}

impl Project {
    fn module(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// What a name in module `at` refers to: a definition in the project (following imports and
    /// re-exports), or an outside name (`pydantic.BaseModel`) as `(module, name)`.
    fn resolve(&self, at: usize, reference: &Ref) -> Option<Key> {
        let facts = self.facts.get(at)?.as_ref()?;
        match reference {
            Ref::Local(name) => self.resolve_name(at, name, 0),
            Ref::Attribute(base, attribute) => {
                let (module, item) = facts.imports.get(base)?;
                let target = match item {
                    Some(item) => format!("{module}.{item}"),
                    None => module.clone(),
                };
                match self.module(&target) {
                    Some(m) => self.resolve_name(m, attribute, 0),
                    None => Some((target, attribute.clone())),
                }
            }
        }
    }

    fn resolve_name(&self, at: usize, name: &str, depth: usize) -> Option<Key> {
        let facts = self.facts.get(at)?.as_ref()?;
        let here = &self.names[at];
        let defined = facts.routers.iter().any(|r| r.name == name)
            || facts.classes.iter().any(|c| c.name == name)
            || facts.dependency_aliases.contains_key(name);
        if defined {
            return Some((here.clone(), name.to_owned()));
        }
        let (module, item) = facts.imports.get(name)?;
        let item = item.as_deref().unwrap_or(name);
        match self.module(module) {
            Some(m) if depth < 16 => self.resolve_name(m, item, depth + 1),
            _ => Some((module.clone(), item.to_owned())),
        }
    }

    /// Every class that is a Pydantic model: its bases lead to `BaseModel` or `SQLModel`.
    fn models(&self) -> HashSet<Key> {
        let mut models: HashSet<Key> = HashSet::new();
        loop {
            let before = models.len();
            for (i, facts) in self.facts.iter().enumerate() {
                let Some(facts) = facts else { continue };
                for class in &facts.classes {
                    let is_model = class.bases.iter().any(|base| {
                        self.resolve(i, base).is_some_and(|key| {
                            matches!(key.1.as_str(), "BaseModel" | "SQLModel") && !self.by_name.contains_key(&key.0)
                                || models.contains(&key)
                        })
                    });
                    if is_model {
                        models.insert((self.names[i].clone(), class.name.clone()));
                    }
                }
            }
            if models.len() == before {
                return models;
            }
        }
    }

    fn prefix_text(&self, prefix: &Prefix, warnings: &mut Vec<String>) -> String {
        match prefix {
            Prefix::None => String::new(),
            Prefix::Literal(p) => p.clone(),
            Prefix::Expression(expression) => {
                let name = expression.rsplit('.').next().unwrap_or(expression).trim();
                match self.strings.get(name).filter(|values| values.len() == 1) {
                    Some(values) => values.iter().next().cloned().unwrap_or_default(),
                    None => {
                        warnings.push(format!("prefix {expression} cannot be resolved statically: left out"));
                        String::new()
                    }
                }
            }
        }
    }

    /// For every router, the prefixes its routes are served under (own prefix included), with
    /// the warnings met on the way.
    fn mounts(&self) -> HashMap<Key, Mount> {
        // Edges child → (parent, include prefix, include tags).
        let mut edges: HashMap<Key, Vec<Edge>> = HashMap::new();
        let mut own: HashMap<Key, &module::RouterDef> = HashMap::new();
        for (i, facts) in self.facts.iter().enumerate() {
            let Some(facts) = facts else { continue };
            for router in &facts.routers {
                own.insert((self.names[i].clone(), router.name.clone()), router);
            }
            for include in &facts.includes {
                if let (Some(parent), Some(child)) = (self.resolve(i, &include.parent), self.resolve(i, &include.child))
                {
                    edges.entry(child).or_default().push(Edge {
                        parent,
                        include: include.clone(),
                    });
                }
            }
        }
        let mut mounts = HashMap::new();
        for key in own.keys() {
            let mut mount = Mount::default();
            self.walk(key, &own, &edges, &mut Vec::new(), &mut mount);
            mounts.insert(key.clone(), mount);
        }
        mounts
    }

    fn walk(
        &self,
        key: &Key,
        own: &HashMap<Key, &module::RouterDef>,
        edges: &HashMap<Key, Vec<Edge>>,
        seen: &mut Vec<Key>,
        mount: &mut Mount,
    ) {
        let Some(router) = own.get(key) else { return };
        let own_prefix = self.prefix_text(&router.prefix, &mut mount.warnings);
        mount.tags.extend(router.tags.iter().cloned());
        mount.dependencies.extend(router.dependencies.iter().cloned());
        if router.is_app {
            mount.prefixes.push(own_prefix);
            mount.reached_app = true;
            return;
        }
        let parents = edges.get(key).map(Vec::as_slice).unwrap_or_default();
        if parents.is_empty() || seen.contains(key) || seen.len() > 32 {
            mount.prefixes.push(own_prefix);
            return;
        }
        seen.push(key.clone());
        for edge in parents {
            let include_prefix = self.prefix_text(&edge.include.prefix, &mut mount.warnings);
            mount.tags.extend(edge.include.tags.iter().cloned());
            mount.dependencies.extend(edge.include.dependencies.iter().cloned());
            let mut above = Mount::default();
            self.walk(&edge.parent, own, edges, seen, &mut above);
            mount.reached_app |= above.reached_app;
            mount.warnings.extend(above.warnings);
            mount.tags.extend(above.tags);
            mount.dependencies.extend(above.dependencies);
            for p in above.prefixes {
                mount.prefixes.push(format!("{p}{include_prefix}{own_prefix}"));
            }
        }
        seen.pop();
    }

    fn file_records(&self, i: usize, models: &HashSet<Key>, mounts: &HashMap<Key, Mount>) -> Parsed {
        let mut parsed = Parsed::default();
        let Some(facts) = &self.facts[i] else { return parsed };
        let here = &self.names[i];
        for router in &facts.routers {
            let mount = mounts
                .get(&(here.clone(), router.name.clone()))
                .cloned()
                .unwrap_or_default();
            let mut attributes = Map::new();
            attributes.insert("app".into(), json!(router.is_app));
            attributes.insert("prefix".into(), prefix_json(&router.prefix));
            attributes.insert("tags".into(), json!(router.tags));
            attributes.insert("dependencies".into(), json!(router.dependencies));
            attributes.insert("mounted_at".into(), json!(mount.prefixes));
            attributes.insert("included".into(), json!(mount.reached_app));
            parsed.records.push(record(
                "fastapi.router",
                router.name.clone(),
                None,
                router.name.clone(),
                None,
                attributes,
                router.lines,
            ));
        }
        for route in &facts.routes {
            self.route_records(i, route, models, mounts, &mut parsed);
        }
        for class in &facts.classes {
            if !models.contains(&(here.clone(), class.name.clone())) {
                continue;
            }
            let fields: Vec<Value> = class
                .fields
                .iter()
                .map(|f| {
                    let required = f.default.as_deref().is_none_or(|d| d == "...")
                        && !f.constraints.contains_key("default_factory");
                    json!({
                        "name": f.name,
                        "type": f.annotation,
                        "default": f.default,
                        "required": required,
                        "constraints": f.constraints,
                    })
                })
                .collect();
            let bases: Vec<String> = class
                .bases
                .iter()
                .map(|b| match b {
                    Ref::Local(n) => n.clone(),
                    Ref::Attribute(a, n) => format!("{a}.{n}"),
                })
                .collect();
            let mut attributes = Map::new();
            attributes.insert("bases".into(), json!(bases));
            attributes.insert("fields".into(), Value::Array(fields));
            parsed.records.push(record(
                "fastapi.model",
                class.name.clone(),
                None,
                class.name.clone(),
                None,
                attributes,
                class.lines,
            ));
        }
        unique_paths(&mut parsed);
        parsed
    }

    fn route_records(
        &self,
        i: usize,
        route: &RouteDef,
        models: &HashSet<Key>,
        mounts: &HashMap<Key, Mount>,
        parsed: &mut Parsed,
    ) {
        let router = self.resolve(i, &route.router);
        let mount = router.as_ref().and_then(|k| mounts.get(k)).cloned().unwrap_or_default();
        let full_paths: Vec<String> = if mount.prefixes.is_empty() {
            vec![route.path.clone()]
        } else {
            mount.prefixes.iter().map(|p| format!("{p}{}", route.path)).collect()
        };
        for w in &mount.warnings {
            parsed.warnings.push(Warning {
                line: route.lines.0,
                message: format!("{}: {w}", route.handler),
            });
        }
        let mut dependencies = mount.dependencies.clone();
        dependencies.extend(route.dependencies.iter().cloned());
        let mut parameters = Vec::new();
        for p in &route.params {
            match self.classify(i, p, &route.path, models) {
                Location::Dependency(d) => dependencies.push(d),
                Location::Injected => {}
                Location::In(location) => parameters.push(json!({
                    "name": p.name,
                    "in": location,
                    "type": p.annotation,
                    "default": p.default,
                    "required": p.default.as_deref().is_none_or(|d| d == "..."),
                })),
            }
        }
        let mut tags = mount.tags.clone();
        tags.extend(route.tags.iter().cloned());
        dedup(&mut tags);
        dedup(&mut dependencies);
        for method in &route.methods {
            let mut attributes = Map::new();
            attributes.insert("method".into(), json!(method));
            attributes.insert("path".into(), json!(route.path));
            attributes.insert("full_path".into(), json!(full_paths[0]));
            if full_paths.len() > 1 {
                attributes.insert("full_paths".into(), json!(full_paths));
            }
            attributes.insert("handler".into(), json!(route.handler));
            if let Some((module, name)) = &router {
                attributes.insert("router".into(), json!(format!("{module}:{name}")));
            }
            attributes.insert("included".into(), json!(mount.reached_app));
            attributes.insert("parameters".into(), Value::Array(parameters.clone()));
            attributes.insert("response_model".into(), json!(route.response_model));
            attributes.insert("status_code".into(), json!(route.status_code));
            attributes.insert("dependencies".into(), json!(dependencies));
            attributes.insert("tags".into(), json!(tags));
            // The parent is a record of this file only when the router is defined here.
            let parent = router
                .as_ref()
                .filter(|(module, _)| *module == self.names[i])
                .map(|(_, name)| name.clone());
            parsed.records.push(record(
                "fastapi.route",
                format!("{method} {}", full_paths[0]),
                parent,
                route.handler.clone(),
                Some(method.clone()),
                attributes,
                route.lines,
            ));
        }
    }

    /// Where a handler parameter comes from, as FastAPI decides it.
    fn classify(&self, i: usize, p: &Param, path: &str, models: &HashSet<Key>) -> Location {
        if let Some(d) = &p.depends_on {
            return Location::Dependency(d.clone());
        }
        let annotation = p.annotation.as_deref().unwrap_or("");
        if matches!(p.marker.as_deref(), Some("Depends" | "Security")) {
            // `Depends()` without a callable depends on the annotated class itself.
            return Location::Dependency(annotation.to_owned());
        }
        let bare = annotation.split(['[', '|', ' ']).next().unwrap_or("");
        // `SessionDep`, defined here or imported: an alias of `Annotated[…, Depends(f)]`.
        let alias = self
            .resolve(i, &Ref::Local(bare.to_owned()))
            .and_then(|(module, name)| {
                let facts = self.facts.get(self.module(&module)?)?.as_ref()?;
                facts.dependency_aliases.get(&name).cloned()
            });
        if let Some(d) = alias {
            return Location::Dependency(d);
        }
        match p.marker.as_deref() {
            Some("Query") => return Location::In("query"),
            Some("Path") => return Location::In("path"),
            Some("Body") => return Location::In("body"),
            Some("Header") => return Location::In("header"),
            Some("Cookie") => return Location::In("cookie"),
            Some("Form") => return Location::In("form"),
            Some("File") => return Location::In("file"),
            _ => {}
        }
        if path.contains(&format!("{{{}}}", p.name)) || path.contains(&format!("{{{}:", p.name)) {
            return Location::In("path");
        }
        if matches!(
            bare,
            "Request" | "Response" | "BackgroundTasks" | "WebSocket" | "HTTPConnection" | "SecurityScopes"
        ) {
            return Location::Injected;
        }
        // A model, or a list of them, is the body.
        let inner = annotation
            .trim_start_matches("list[")
            .trim_start_matches("List[")
            .trim_end_matches(']');
        let model = inner.rsplit('.').next().unwrap_or(inner);
        let is_model = self
            .resolve(i, &Ref::Local(model.to_owned()))
            .is_some_and(|k| models.contains(&k));
        Location::In(match (bare, is_model) {
            ("UploadFile", _) => "file",
            (_, true) => "body",
            _ => "query",
        })
    }
}

enum Location {
    In(&'static str),
    Dependency(String),
    Injected,
}

/// A router included into another.
struct Edge {
    parent: Key,
    include: module::Include,
}

#[derive(Debug, Clone, Default)]
struct Mount {
    prefixes: Vec<String>,
    tags: Vec<String>,
    /// Dependencies every route under the router runs: the router's, its includes', its parents'.
    dependencies: Vec<String>,
    reached_app: bool,
    warnings: Vec<String>,
}
