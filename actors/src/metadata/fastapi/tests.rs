//! Projects read statically: routers across modules, full paths, parameters, models, refusals.

use super::*;
use crate::metadata::MetadataRecord;

fn project(files: &[(&str, &str)]) -> Vec<Parsed> {
    let sources: Vec<SourceFile> = files.iter().map(|(path, text)| SourceFile { path, text }).collect();
    parse_project(&sources)
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn record<'a>(parsed: &'a Parsed, path: &str) -> &'a MetadataRecord {
    parsed.records.iter().find(|r| r.path == path).unwrap_or_else(|| {
        panic!(
            "no {path}: {:?}",
            parsed.records.iter().map(|r| &r.path).collect::<Vec<_>>()
        )
    })
}

const MAIN: &str = r#"
from fastapi import Depends, FastAPI

from app.core.config import settings
from app.api.main import api_router
from .deps import verify

app = FastAPI(title="Shop", dependencies=[Depends(verify)])
app.include_router(api_router, prefix=settings.API_V1_STR)

if settings.DEBUG:
    from app.api.routes import debug
    app.include_router(debug.router, prefix="/debug")
"#;

const API: &str = r#"
from fastapi import APIRouter
from app.api.routes import items

api_router = APIRouter()
api_router.include_router(items.router)
"#;

const ITEMS: &str = r#"
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from app.models import ItemCreate, ItemPublic

SessionDep = Annotated[object, Depends(get_db)]

router = APIRouter(prefix="/items", tags=["items"])


class Filter(BaseModel):
    q: str | None = Field(default=None, max_length=50)


@router.get("/", response_model=list[ItemPublic])
def read_items(session: SessionDep, skip: int = 0, limit: Annotated[int, Query(le=100)] = 100) -> Any:
    return []


@router.post("/{item_id}", status_code=201, dependencies=[Depends(audit)], tags=["write"])
async def create_item(
    request: Request,
    item_id: uuid.UUID,
    item_in: ItemCreate,
    x_token: Annotated[str, Header()],
    *,
    notify: bool = Query(False),
) -> ItemPublic:
    ...


@router.api_route("/{item_id}/touch", methods=["PUT", "PATCH"])
def touch(item_id: int = Path(..., gt=0), note: str = Body(...)):
    ...
"#;

const MODELS: &str = r#"
from sqlmodel import Field, SQLModel

class ItemBase(SQLModel):
    title: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)

class ItemCreate(ItemBase):
    pass

class ItemPublic(ItemBase):
    id: int

class NotAModel:
    name: str = "x"
"#;

const CONFIG: &str = r#"
from pydantic_settings import BaseSettings

class Settings(BaseSettings):
    API_V1_STR: str = "/api/v1"
    DEBUG: bool = False

settings = Settings()
"#;

const DEBUG: &str = r#"
from fastapi import APIRouter
router = APIRouter()

@router.get("/ping")
def ping(): ...
"#;

fn shop() -> Vec<Parsed> {
    project(&[
        ("app/main.py", MAIN),
        ("app/api/main.py", API),
        ("app/api/routes/items.py", ITEMS),
        ("app/api/routes/debug.py", DEBUG),
        ("app/models.py", MODELS),
        ("app/core/config.py", CONFIG),
    ])
}

#[test]
fn full_paths_take_every_prefix_from_the_app_down_across_modules() {
    let files = shop();
    let items = &files[2];
    let read = record(items, "GET /api/v1/items/");
    assert_eq!(read.kind, "fastapi.route");
    assert_eq!(read.name, "read_items");
    assert_eq!(read.attributes["router"], "app.api.routes.items:router");
    assert_eq!(read.attributes["included"], true);
    assert_eq!(read.attributes["response_model"], "list[ItemPublic]");
    assert_eq!(read.attributes["tags"], serde_json::json!(["items"]));
    assert_eq!(
        read.attributes["dependencies"],
        serde_json::json!(["verify", "get_db"]),
        "the app's dependencies, then the parameters' (a dependency alias)"
    );
    let query: Vec<(&str, &str)> = read.attributes["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap()))
        .collect();
    assert_eq!(query, [("skip", "query"), ("limit", "query")]);
    assert_eq!(read.attributes["parameters"][1]["default"], "100");
    assert_eq!(
        (read.line_start, read.line_end),
        (19, 21),
        "the decorator and the function"
    );

    let debug = record(&files[3], "GET /debug/ping");
    assert_eq!(
        debug.attributes["included"], true,
        "a router included under `if` is the project's"
    );
    // The app's own router is a record of main.py.
    assert_eq!(record(&files[0], "app").attributes["app"], true);
    assert_eq!(
        record(&files[1], "api_router").attributes["mounted_at"],
        serde_json::json!(["/api/v1"])
    );
}

#[test]
fn parameters_are_placed_where_fastapi_places_them() {
    let files = shop();
    let create = record(&files[2], "POST /api/v1/items/{item_id}");
    assert_eq!(create.attributes["status_code"], "201");
    assert_eq!(
        create.attributes["response_model"], "ItemPublic",
        "from the return annotation"
    );
    assert_eq!(create.attributes["tags"], serde_json::json!(["items", "write"]));
    assert_eq!(
        create.attributes["dependencies"],
        serde_json::json!(["verify", "audit"])
    );
    let placed: Vec<(String, String, bool)> = create.attributes["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["in"].as_str().unwrap().to_owned(),
                p["required"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        placed,
        [
            ("item_id".to_owned(), "path".to_owned(), true),
            ("item_in".to_owned(), "body".to_owned(), true),
            ("x_token".to_owned(), "header".to_owned(), true),
            ("notify".to_owned(), "query".to_owned(), false),
        ],
        "the Request is injected, not a parameter"
    );
    for method in ["PUT", "PATCH"] {
        let touch = record(&files[2], &format!("{method} /api/v1/items/{{item_id}}/touch"));
        assert_eq!(touch.attributes["parameters"][0]["in"], "path");
        assert_eq!(touch.attributes["parameters"][1]["in"], "body");
    }
}

#[test]
fn models_are_classes_that_lead_to_base_model() {
    let files = shop();
    let models: Vec<&str> = files
        .iter()
        .flat_map(|f| &f.records)
        .filter(|r| r.kind == "fastapi.model")
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        models,
        ["Filter", "ItemBase", "ItemCreate", "ItemPublic"],
        "Settings leads to BaseSettings, outside the project; NotAModel to nothing"
    );
    let base = record(&files[4], "ItemBase");
    assert_eq!(base.attributes["fields"][0]["constraints"]["max_length"], 255);
    assert_eq!(base.attributes["fields"][0]["required"], true);
    assert_eq!(base.attributes["fields"][1]["required"], false);
}

#[test]
fn an_unresolved_prefix_is_kept_with_a_warning() {
    let files = project(&[(
        "main.py",
        "from fastapi import FastAPI, APIRouter\nimport os\napp = FastAPI()\nr = APIRouter()\n\
         app.include_router(r, prefix=os.environ['PREFIX'])\n@r.get('/x')\ndef x(): ...\n",
    )]);
    let route = record(&files[0], "GET /x");
    assert_eq!(route.attributes["included"], true);
    assert_eq!(files[0].warnings.len(), 1);
    assert!(
        files[0].warnings[0].message.contains("os.environ"),
        "{:?}",
        files[0].warnings
    );
}

#[test]
fn modern_syntax_parses_and_broken_files_are_refused_alone() {
    let modern = "type Pair = tuple[int, int]\ntry:\n    pass\nexcept ValueError, TypeError:\n    pass\n";
    assert!(parse(modern).is_ok());
    let sources = [
        SourceFile {
            path: "good.py",
            text: "from fastapi import FastAPI\napp = FastAPI()\n",
        },
        SourceFile {
            path: "bad.py",
            text: "def broken(:\n",
        },
    ];
    let results = parse_project(&sources);
    assert!(results[0].is_ok());
    let refusal = results[1].as_ref().unwrap_err();
    assert_eq!((refusal.class, refusal.line), ("python_syntax", Some(1)));
    let deep = format!("x = {}1{}\n", "(".repeat(500), ")".repeat(500));
    assert_eq!(parse(&deep).unwrap_err().class, "too_deep");
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(128))]

    #[test]
    fn any_text_is_records_or_a_refusal_never_a_panic(text in "(\\PC|\\n){0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn every_cut_of_a_module_is_read_or_refused(cut in 0usize..ITEMS.len()) {
        if ITEMS.is_char_boundary(cut) {
            let _ = parse(&ITEMS[..cut]);
        }
    }
}
