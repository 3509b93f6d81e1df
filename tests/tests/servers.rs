//! The real pyright, clangd and rust-analyzer behind meshls: diagnostics,
//! hover, cross-file navigation, rename, completion with resolve, and code
//! actions reach each server through meshls and come back as the server
//! gave them.
//!
//! tests/run.sh installs the servers: pyright with `npm ci` in tests/,
//! clangd from Debian, rust-analyzer built once into a cache
//! (`MESHLS_TEST_RUST_ANALYZER`). A test whose server is missing fails and
//! says what to install; none is skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lsp_types::{Position, Range, Url};
use meshls_e2e::{clangd_path, path_with_first, pyright_path, Server, TextModel, Workspace};
use serde_json::{json, Value};

/// PATH with the rust-analyzer that tests/run.sh built first. First, because
/// meshls finds it by name and `~/.cargo/bin` usually holds rustup's proxy
/// for a rust-analyzer component that is not installed.
fn rust_analyzer_path() -> String {
    let Some(bin) = std::env::var_os("MESHLS_TEST_RUST_ANALYZER").map(PathBuf::from) else {
        panic!(
            "MESHLS_TEST_RUST_ANALYZER is not set: run tests/run.sh, which builds rust-analyzer once into a cache and sets it, or point it at a rust-analyzer binary"
        );
    };
    assert!(
        bin.is_file() && bin.file_name().is_some_and(|name| name == "rust-analyzer"),
        "MESHLS_TEST_RUST_ANALYZER={} is not a file named rust-analyzer: run tests/run.sh, which builds it",
        bin.display()
    );
    path_with_first(bin.parent().expect("a file has a parent directory"))
}

/// The client capabilities of an editor that supports what these servers
/// offer, passed on to them by meshls: with less, the servers leave out code
/// action literals, lazily resolved completion documentation and versioned
/// edits, and those paths would go untested.
fn editor_capabilities() -> Value {
    json!({
        "general": {"positionEncodings": ["utf-16"]},
        "textDocument": {
            "synchronization": {"dynamicRegistration": false, "didSave": true},
            "completion": {
                "completionItem": {
                    "snippetSupport": false,
                    "documentationFormat": ["markdown", "plaintext"],
                    "labelDetailsSupport": true,
                    "resolveSupport": {"properties": ["documentation", "detail", "additionalTextEdits"]}
                },
                "contextSupport": true
            },
            "hover": {"contentFormat": ["markdown", "plaintext"]},
            "signatureHelp": {"signatureInformation": {"documentationFormat": ["markdown", "plaintext"]}},
            "definition": {"linkSupport": false},
            "declaration": {"linkSupport": false},
            "references": {},
            "rename": {"prepareSupport": true},
            "codeAction": {
                "codeActionLiteralSupport": {"codeActionKind": {"valueSet": [
                    "", "quickfix", "refactor", "refactor.extract", "refactor.inline",
                    "refactor.rewrite", "source", "source.organizeImports"
                ]}},
                "isPreferredSupport": true,
                "dataSupport": true,
                "resolveSupport": {"properties": ["edit"]}
            },
            "documentSymbol": {"hierarchicalDocumentSymbolSupport": true},
            "publishDiagnostics": {"relatedInformation": true, "versionSupport": true}
        },
        "window": {"workDoneProgress": true, "showMessage": {}},
        "workspace": {
            "configuration": true,
            "applyEdit": true,
            "workspaceFolders": true,
            "workspaceEdit": {"documentChanges": true},
            "didChangeConfiguration": {"dynamicRegistration": false}
        }
    })
}

/// Starts meshls in `ws` with `path` as PATH, initializes it as an editor
/// with [`editor_capabilities`] would, and opens `files` (all of `language`).
fn start(ws: &Workspace, path: &str, language: &str, files: &[&str]) -> (Server, Value) {
    let mut server = Server::builder(ws).env("PATH", path).start();
    let root = ws.root_uri();
    let init = server
        .request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "clientInfo": {"name": "meshls-e2e"},
                "rootUri": root,
                "workspaceFolders": [{"uri": root, "name": "ws"}],
                "capabilities": editor_capabilities(),
            }),
        )
        .unwrap_or_else(|error| panic!("initialize failed: {error}"));
    server.notify("initialized", json!({}));
    for file in files {
        server.open(&ws.uri(file), language, &ws.read(file));
    }
    (server, init)
}

/// The range of the `nth` (from 0) occurrence of `needle` in the workspace
/// file `rel`, as the fixture has it.
fn range_of(ws: &Workspace, rel: &str, needle: &str, nth: usize) -> Range {
    let text = ws.read(rel);
    let (start, _) = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} occurs fewer than {} times in {rel}", nth + 1));
    let chars = |byte: usize| text[..byte].chars().count();
    TextModel::new(text.as_str()).range_of(chars(start)..chars(start + needle.len()))
}

/// The position just after the first occurrence of `needle` in `rel`.
fn after(ws: &Workspace, rel: &str, needle: &str) -> Position {
    range_of(ws, rel, needle, 0).end
}

/// TextDocumentPositionParams at the start of the `nth` `needle` in `rel`.
fn at(ws: &Workspace, rel: &str, needle: &str, nth: usize) -> Value {
    json!({
        "textDocument": {"uri": ws.uri(rel)},
        "position": range_of(ws, rel, needle, nth).start,
    })
}

/// A location as the servers send it, for comparing whole answers.
fn location(ws: &Workspace, rel: &str, needle: &str, nth: usize) -> Value {
    json!({"uri": ws.uri(rel), "range": range_of(ws, rel, needle, nth)})
}

/// The workspace-relative path of a URI inside the workspace.
fn relative(ws: &Workspace, uri: &str) -> String {
    let path = Url::parse(uri)
        .ok()
        .and_then(|url| url.to_file_path().ok())
        .unwrap_or_else(|| panic!("not a file URI: {uri}"));
    path.strip_prefix(ws.root())
        .unwrap_or_else(|_| panic!("{uri} is outside the workspace"))
        .display()
        .to_string()
}

/// The files a WorkspaceEdit changes and their text afterwards, computed
/// from the files on disk (which are what the fixture opened) by an oracle
/// that shares no code with meshls.
fn apply_edit(ws: &Workspace, edit: &Value) -> BTreeMap<String, String> {
    let mut by_file: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (uri, edits) in edit["changes"].as_object().into_iter().flatten() {
        by_file
            .entry(relative(ws, uri))
            .or_default()
            .extend(edits.as_array().expect("an array of edits").iter().cloned());
    }
    for change in edit["documentChanges"].as_array().into_iter().flatten() {
        let uri = change["textDocument"]["uri"]
            .as_str()
            .unwrap_or_else(|| panic!("only text document edits are expected: {change}"));
        by_file
            .entry(relative(ws, uri))
            .or_default()
            .extend(change["edits"].as_array().expect("edits").iter().cloned());
    }
    assert!(!by_file.is_empty(), "the edit changes nothing: {edit}");
    by_file
        .into_iter()
        .map(|(rel, mut edits)| {
            let range = |e: &Value| -> Range {
                serde_json::from_value(e["range"].clone()).expect("an edit has a range")
            };
            // The edits of one file do not overlap and all refer to the text
            // before any of them, so applying them from the end keeps the
            // earlier ranges valid.
            edits.sort_by_key(|e| {
                let start = range(e).start;
                std::cmp::Reverse((start.line, start.character))
            });
            let mut model = TextModel::new(ws.read(&rel));
            for e in &edits {
                model.apply(range(e), e["newText"].as_str().expect("newText"));
            }
            (rel, model.text().to_owned())
        })
        .collect()
}

/// The diagnostic with `code` from `source` in the first publication (by
/// meshls) for `uri` that has one.
fn wait_diagnostic(server: &mut Server, uri: &Url, source: &str, code: &str) -> Value {
    let matches = |d: &Value| d["source"] == source && d["code"] == code;
    let published = server.wait_publication(uri, matches);
    published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| matches(d))
        .cloned()
        .unwrap()
}

/// Waits for meshls to publish diagnostics for `uri`, whatever they are.
fn wait_published(server: &mut Server, uri: &Url) {
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == uri.as_str()
    });
}

/// Sends a request until its answer satisfies `ready`: a server still
/// loading the project may answer `-32801 content modified`, or an empty
/// answer. Any other error fails the test. The deadline is a guard against
/// hangs, not a timing assertion.
fn request_when_ready(
    server: &mut Server,
    method: &str,
    params: Value,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let answer = server.request(method, params.clone());
        match &answer {
            Ok(result) if ready(result) => return result.clone(),
            Ok(_) => {}
            Err(error) if error["code"] == -32801 => {}
            Err(error) => panic!("{method} failed: {error}"),
        }
        assert!(
            Instant::now() < deadline,
            "{method} never gave a usable answer; the last was {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The item labelled `label` in a completion answer.
/// One server makes these items in its workspace, so meshls passes them on
/// as the server sent them, without a `meshlsServer` tag in `data`.
fn assert_untagged(item: &Value) {
    assert!(
        item.pointer("/data/meshlsServer").is_none(),
        "one server, so no tag: {item}"
    );
}

fn completion_item(list: &Value, label: &str) -> Value {
    let items = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("meshls answers completion with a list: {list}"));
    items
        .iter()
        .find(|item| item["label"] == label)
        .cloned()
        .unwrap_or_else(|| panic!("no {label:?} among the completions: {list}"))
}

fn hover_text(hover: &Value) -> &str {
    hover["contents"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("hover in markup: {hover}"))
}

/// A package and a script using it, with a type error. `vendored`, an
/// untyped package in a virtualenv, is what pyright's one quick fix (a type
/// stub) is for.
const PYTHON: &str = r#"
//- /pyproject.toml
[project]
name = "shapes"
version = "0.1.0"

[tool.pyright]
venvPath = "."
venv = ".venv"
reportMissingTypeStubs = "error"
//- /shapes/__init__.py
//- /shapes/geometry.py
class Point:
    """A point in the plane."""

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y

    def norm(self) -> float:
        """Distance from the origin."""
        return (self.x**2 + self.y**2) ** 0.5


def midpoint(a: Point, b: Point) -> Point:
    """The point halfway between a and b."""
    return Point((a.x + b.x) / 2, (a.y + b.y) / 2)
//- /shapes/main.py
from shapes.geometry import Point, midpoint
from vendored import shout

origin = Point(0, 0)
middle = midpoint(origin, Point(2, 4))
label: str = middle.norm()
print(shout(label))
//- /.venv/lib/site-packages/vendored/__init__.py
def shout(text):
    return text.upper()
"#;

const PY_FILES: &[&str] = &["shapes/geometry.py", "shapes/main.py"];
const PY_MAIN: &str = "shapes/main.py";
const PY_GEOMETRY: &str = "shapes/geometry.py";

#[test]
fn pyright_diagnostics_hover_definition_and_references() {
    let ws = Workspace::new(PYTHON);
    let (mut server, _) = start(&ws, &pyright_path(), "python", PY_FILES);
    let main = ws.uri(PY_MAIN);

    let type_error = wait_diagnostic(&mut server, &main, "Pyright", "reportAssignmentType");
    assert_eq!(
        type_error["range"],
        json!(range_of(&ws, PY_MAIN, "middle.norm()", 0)),
        "{type_error}"
    );
    assert!(
        type_error["message"]
            .as_str()
            .unwrap()
            .contains(r#"Type "float" is not assignable to declared type "str""#),
        "{type_error}"
    );
    assert_eq!(type_error["severity"], 1);

    let call = at(&ws, PY_MAIN, "midpoint", 1);
    let hover = server.request("textDocument/hover", call.clone()).unwrap();
    let text = hover_text(&hover);
    assert!(
        text.contains("def midpoint(\n    a: Point,\n    b: Point\n) -> Point")
            && text.contains("The point halfway between a and b."),
        "{hover}"
    );
    assert_eq!(hover["range"], json!(range_of(&ws, PY_MAIN, "midpoint", 1)));

    let definition = server
        .request("textDocument/definition", call.clone())
        .unwrap();
    assert_eq!(
        definition,
        json!([location(&ws, PY_GEOMETRY, "midpoint", 0)]),
        "the definition is in the other file"
    );

    let mut params = at(&ws, PY_GEOMETRY, "midpoint", 0);
    params["context"] = json!({"includeDeclaration": true});
    let references = server.request("textDocument/references", params).unwrap();
    let mut found = references.as_array().unwrap().clone();
    found.sort_by_key(Value::to_string);
    let mut expected = vec![
        location(&ws, PY_GEOMETRY, "midpoint", 0),
        location(&ws, PY_MAIN, "midpoint", 0),
        location(&ws, PY_MAIN, "midpoint", 1),
    ];
    expected.sort_by_key(Value::to_string);
    assert_eq!(found, expected, "{references}");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn pyright_rename_completion_and_code_actions() {
    let ws = Workspace::new(PYTHON);
    let (mut server, init) = start(&ws, &pyright_path(), "python", PY_FILES);
    let caps = &init["capabilities"];
    assert_eq!(
        caps["completionProvider"]["resolveProvider"], true,
        "{caps}"
    );
    assert_eq!(caps["renameProvider"]["prepareProvider"], true, "{caps}");
    let main = ws.uri(PY_MAIN);

    // Rename `midpoint` from its definition: both files change, and only there.
    let definition = at(&ws, PY_GEOMETRY, "midpoint", 0);
    let prepared = server
        .request("textDocument/prepareRename", definition.clone())
        .unwrap();
    assert_eq!(
        prepared,
        json!(range_of(&ws, PY_GEOMETRY, "midpoint", 0)),
        "{prepared}"
    );
    let mut params = definition;
    params["newName"] = json!("halfway");
    let edit = server.request("textDocument/rename", params).unwrap();
    let renamed = apply_edit(&ws, &edit);
    let expected: BTreeMap<String, String> = PY_FILES
        .iter()
        .map(|rel| (rel.to_string(), ws.read(rel).replace("midpoint", "halfway")))
        .collect();
    assert_eq!(renamed, expected, "{edit}");

    // Completion in `middle.no|rm()`, then resolve, which only pyright can
    // answer: the documentation comes from the method's docstring.
    let list = server
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": main}, "position": after(&ws, PY_MAIN, "middle.no")}),
        )
        .unwrap();
    let norm = completion_item(&list, "norm");
    assert_untagged(&norm);
    assert!(
        norm.get("documentation").is_none(),
        "resolved lazily: {norm}"
    );
    let resolved = server
        .request("completionItem/resolve", norm.clone())
        .unwrap();
    assert_eq!(resolved["label"], "norm");
    let documentation = resolved["documentation"]["value"].as_str().unwrap_or("");
    assert!(
        documentation.contains("def norm() -> float")
            && documentation.contains("Distance from the origin."),
        "{resolved}"
    );
    assert_eq!(resolved["data"], norm["data"], "still tagged for meshls");

    // pyright's one quick fix: a stub for an untyped third-party package.
    let missing_stub = wait_diagnostic(&mut server, &main, "Pyright", "reportMissingTypeStubs");
    assert_eq!(
        missing_stub["range"],
        json!(range_of(&ws, PY_MAIN, "vendored", 0))
    );
    let actions = server
        .request(
            "textDocument/codeAction",
            json!({
                "textDocument": {"uri": main},
                "range": missing_stub["range"],
                "context": {"diagnostics": [missing_stub]},
            }),
        )
        .unwrap();
    let create_stub = stub_action(&actions);
    assert_eq!(create_stub["kind"], "quickfix", "{create_stub}");
    assert_untagged(&create_stub);
    assert_eq!(
        create_stub["command"]["arguments"],
        json!([ws.root_uri(), "vendored", main]),
        "{create_stub}"
    );
    assert!(server.shutdown_and_exit().success());
}

/// pyright's "Create Type Stub" action among `actions`.
fn stub_action(actions: &Value) -> Value {
    actions
        .as_array()
        .unwrap_or_else(|| panic!("code actions are a list: {actions}"))
        .iter()
        .find(|a| a["title"] == r#"Create Type Stub For "vendored""#)
        .cloned()
        .unwrap_or_else(|| panic!("pyright's stub action arrives: {actions}"))
}

/// pyright's code actions carry commands that pyright runs, although it
/// lists no commands in `executeCommandProvider` (the VS Code extension
/// knows them). An editor sends the command back as
/// `workspace/executeCommand`; asked directly, pyright writes the stub and
/// says so.
#[test]
fn pyright_runs_the_command_of_its_code_action() {
    let ws = Workspace::new(PYTHON);
    let (mut server, _) = start(&ws, &pyright_path(), "python", PY_FILES);
    let main = ws.uri(PY_MAIN);
    let missing_stub = wait_diagnostic(&mut server, &main, "Pyright", "reportMissingTypeStubs");
    let actions = server
        .request(
            "textDocument/codeAction",
            json!({
                "textDocument": {"uri": main},
                "range": missing_stub["range"],
                "context": {"diagnostics": [missing_stub]},
            }),
        )
        .unwrap();
    let command = stub_action(&actions)["command"].clone();
    let answer = server.request(
        "workspace/executeCommand",
        json!({"command": command["command"], "arguments": command["arguments"]}),
    );
    assert_eq!(
        answer,
        Ok(Value::Null),
        "meshls sends a code action's command to the server that made the action"
    );
    let told = server.wait_server_request_where("window/showMessageRequest", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("pyright:"))
    });
    assert!(
        told["message"]
            .as_str()
            .unwrap_or("")
            .contains("Type stub was successfully created for 'vendored'"),
        "{told}"
    );
    let stub = ws.read("typings/vendored/__init__.pyi");
    assert!(stub.contains("def shout(text)"), "{stub}");
    assert!(server.shutdown_and_exit().success());
}

/// A header, its implementation, and a program with a type error and a
/// misspelt call (for clang's fix-it). compile_commands.json is written by
/// [`cpp_workspace`], since it names the workspace's absolute path.
const CPP: &str = r#"
//- /geometry.h
#pragma once

struct Point {
  int x;
  int y;
};

/// Sum of the coordinates of p.
int manhattan(const Point &p);
//- /geometry.cpp
#include "geometry.h"

int manhattan(const Point &p) { return p.x + p.y; }
//- /main.cpp
#include "geometry.h"

int main() {
  Point origin{3, 4};
  const char *label = manhattan(origin);
  return manhatan(origin);
}
"#;

const CPP_FILES: &[&str] = &["geometry.h", "geometry.cpp", "main.cpp"];

fn cpp_workspace() -> Workspace {
    let ws = Workspace::new(CPP);
    let commands: Vec<Value> = ["main.cpp", "geometry.cpp"]
        .iter()
        .map(|file| {
            json!({
                "directory": ws.root(),
                "file": file,
                "arguments": ["clang++", "-std=c++17", "-c", file],
            })
        })
        .collect();
    ws.write(
        "compile_commands.json",
        &serde_json::to_string_pretty(&commands).unwrap(),
    );
    ws
}

#[test]
fn clangd_diagnostics_hover_definition_and_references() {
    let ws = cpp_workspace();
    let (mut server, _) = start(&ws, &clangd_path(), "cpp", CPP_FILES);
    let main = ws.uri("main.cpp");

    let type_error = wait_diagnostic(&mut server, &main, "clang", "init_conversion_failed");
    // clangd indexes a file when it publishes its diagnostics; references
    // and rename use that index for the other files.
    wait_published(&mut server, &ws.uri("geometry.cpp"));
    assert_eq!(
        type_error["range"],
        json!(range_of(&ws, "main.cpp", "label", 0)),
        "{type_error}"
    );
    assert_eq!(
        type_error["message"],
        "Cannot initialize a variable of type 'const char *' with an rvalue of type 'int'"
    );

    let call = at(&ws, "main.cpp", "manhattan", 0);
    let hover = server.request("textDocument/hover", call.clone()).unwrap();
    let text = hover_text(&hover);
    assert!(
        text.contains("function `manhattan`")
            && text.contains("`const Point & p`")
            && text.contains("Sum of the coordinates of p."),
        "{hover}"
    );

    // The definition is in geometry.cpp, the declaration in the header.
    let definition = server
        .request("textDocument/definition", call.clone())
        .unwrap();
    assert_eq!(
        definition,
        json!([location(&ws, "geometry.cpp", "manhattan", 0)])
    );
    let declaration = server
        .request("textDocument/declaration", call.clone())
        .unwrap();
    assert_eq!(
        declaration,
        json!([location(&ws, "geometry.h", "manhattan", 0)])
    );

    // References from the header. clang's typo correction makes the
    // misspelt call one too.
    let mut params = at(&ws, "geometry.h", "manhattan", 0);
    params["context"] = json!({"includeDeclaration": true});
    let references = server.request("textDocument/references", params).unwrap();
    let mut found = references.as_array().unwrap().clone();
    found.sort_by_key(Value::to_string);
    let mut expected = vec![
        location(&ws, "geometry.h", "manhattan", 0),
        location(&ws, "geometry.cpp", "manhattan", 0),
        location(&ws, "main.cpp", "manhattan", 0),
        location(&ws, "main.cpp", "manhatan", 0),
    ];
    expected.sort_by_key(Value::to_string);
    assert_eq!(found, expected, "{references}");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn clangd_rename_completion_and_code_actions() {
    let ws = cpp_workspace();
    let (mut server, init) = start(&ws, &clangd_path(), "cpp", CPP_FILES);
    let caps = &init["capabilities"];
    // clangd 14 resolves nothing lazily: its items come complete, and
    // meshls, advertising only what its servers do, offers no resolve.
    assert_eq!(
        caps["completionProvider"]["resolveProvider"], false,
        "{caps}"
    );
    let main = ws.uri("main.cpp");
    let typo = wait_diagnostic(&mut server, &main, "clang", "undeclared_var_use_suggest");
    wait_published(&mut server, &ws.uri("geometry.cpp"));

    // Rename across the header and both sources; the misspelt call, though
    // a reference for clangd, is not renamed.
    let mut params = at(&ws, "geometry.h", "manhattan", 0);
    params["newName"] = json!("taxicab");
    let edit = server.request("textDocument/rename", params).unwrap();
    let renamed = apply_edit(&ws, &edit);
    let expected: BTreeMap<String, String> = CPP_FILES
        .iter()
        .map(|rel| {
            (
                rel.to_string(),
                ws.read(rel).replace("manhattan", "taxicab"),
            )
        })
        .collect();
    assert_eq!(renamed, expected, "{edit}");

    // Completion in `manh|attan(origin)`.
    let list = server
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": main}, "position": after(&ws, "main.cpp", "= manh")}),
        )
        .unwrap();
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["filterText"] == "manhattan")
        .cloned()
        .unwrap_or_else(|| panic!("manhattan is offered: {list}"));
    assert_untagged(&item);
    assert!(
        item["documentation"]["value"]
            .as_str()
            .unwrap_or("")
            .contains("Sum of the coordinates of p."),
        "{item}"
    );
    let call = range_of(&ws, "main.cpp", "manhattan", 0);
    assert_eq!(
        item["textEdit"],
        json!({"newText": "manhattan", "range": {"start": call.start, "end": after(&ws, "main.cpp", "= manh")}}),
    );
    // Resolve still goes back to clangd, which does not know the method:
    // its own "method not found", not meshls's "not from a server".
    let resolved = server.request("completionItem/resolve", item);
    assert_eq!(resolved.unwrap_err()["code"], -32601);

    // The misspelt call: clang's fix-it arrives as a quick fix with its edit.
    assert_eq!(
        typo["range"],
        json!(range_of(&ws, "main.cpp", "manhatan", 0))
    );
    let actions = server
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": main}, "range": typo["range"], "context": {"diagnostics": [typo]}}),
        )
        .unwrap();
    let fix = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "change 'manhatan' to 'manhattan'")
        .cloned()
        .unwrap_or_else(|| panic!("clang's fix-it: {actions}"));
    assert_eq!(fix["kind"], "quickfix");
    assert_eq!(fix["isPreferred"], true);
    assert_untagged(&fix);
    let fixed = apply_edit(&ws, &fix["edit"]);
    assert_eq!(
        fixed,
        BTreeMap::from([(
            "main.cpp".to_owned(),
            ws.read("main.cpp")
                .replace("manhatan(origin)", "manhattan(origin)")
        )])
    );

    // A refactoring is a command clangd runs: it asks the editor, through
    // meshls, to apply the edit.
    let selection = json!({
        "start": range_of(&ws, "main.cpp", "manhattan(origin)", 0).start,
        "end": range_of(&ws, "main.cpp", "manhattan(origin)", 0).end,
    });
    let actions = server
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": main}, "range": selection, "context": {"diagnostics": []}}),
        )
        .unwrap();
    let extract = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Extract subexpression to variable")
        .cloned()
        .unwrap_or_else(|| panic!("clangd's extract refactoring: {actions}"));
    assert_eq!(extract["kind"], "refactor");
    let command = &extract["command"];
    assert_eq!(command["command"], "clangd.applyTweak", "{extract}");
    let id = server.send_request(
        "workspace/executeCommand",
        json!({"command": command["command"], "arguments": command["arguments"]}),
    );
    let relayed = server.wait_server_request("workspace/applyEdit");
    let extracted = apply_edit(&ws, &relayed["edit"]);
    assert_eq!(
        extracted,
        BTreeMap::from([(
            "main.cpp".to_owned(),
            ws.read("main.cpp").replace(
                "  const char *label = manhattan(origin);",
                "  auto placeholder = manhattan(origin);\n  const char *label = placeholder;"
            )
        )]),
        "{relayed}"
    );
    // The test client does not apply edits (it answers null), so clangd's
    // answer to the command is not the point here.
    let _ = server.wait_response(id);
    assert!(server.shutdown_and_exit().success());
}

/// A crate of two files, with a type error that `cargo check` reports.
const RUST: &str = r#"
//- /Cargo.toml
[package]
name = "shapes"
version = "0.1.0"
edition = "2021"

[dependencies]
//- /src/lib.rs
pub mod geometry;

use geometry::Point;

pub struct Label;

pub fn distance() -> i64 {
    let p = Point::new(3, 4);
    let label: Label = p.manhattan();
    p.manhattan()
}
//- /src/geometry.rs
/// A point on the grid.
pub struct Point {
    pub x: i64,
    pub y: i64,
}

impl Point {
    pub fn new(x: i64, y: i64) -> Point {
        Point { x, y }
    }

    /// Sum of the coordinates.
    pub fn manhattan(&self) -> i64 {
        self.x + self.y
    }
}
"#;

// The standard library's sources (rust-src) may be missing, so these tests
// use only the crate's own items.
const RS_FILES: &[&str] = &["src/lib.rs", "src/geometry.rs"];
const RS_LIB: &str = "src/lib.rs";
const RS_GEOMETRY: &str = "src/geometry.rs";

fn not_null(answer: &Value) -> bool {
    !answer.is_null()
}

#[test]
fn rust_analyzer_diagnostics_hover_definition_and_references() {
    let ws = Workspace::new(RUST);
    // Trusted: rust-analyzer runs `cargo check` (in safe mode it does not).
    ws.trust();
    let (mut server, _) = start(&ws, &rust_analyzer_path(), "rust", RS_FILES);
    let lib = ws.uri(RS_LIB);

    // `cargo check`'s error, which rust-analyzer runs once the crate is loaded.
    let type_error = wait_diagnostic(&mut server, &lib, "rustc", "E0308");
    assert_eq!(
        type_error["range"],
        json!(range_of(&ws, RS_LIB, "p.manhattan()", 0)),
        "{type_error}"
    );
    assert_eq!(
        type_error["message"], "mismatched types\nexpected `Label`, found `i64`",
        "{type_error}"
    );
    assert_eq!(
        type_error["relatedInformation"][0]["location"],
        location(&ws, RS_LIB, "Label", 1),
        "{type_error}"
    );

    let call = at(&ws, RS_LIB, "manhattan", 0);
    let hover = request_when_ready(&mut server, "textDocument/hover", call.clone(), not_null);
    let text = hover_text(&hover);
    assert!(
        text.contains("shapes::geometry::Point")
            && text.contains("pub fn manhattan(&self) -> i64")
            && text.contains("Sum of the coordinates."),
        "{hover}"
    );
    assert_eq!(hover["range"], json!(range_of(&ws, RS_LIB, "manhattan", 0)));

    let definition = request_when_ready(&mut server, "textDocument/definition", call, not_null);
    assert_eq!(
        definition,
        json!([location(&ws, RS_GEOMETRY, "manhattan", 0)]),
        "the definition is in the other file"
    );

    let mut params = at(&ws, RS_GEOMETRY, "manhattan", 0);
    params["context"] = json!({"includeDeclaration": true});
    let mut expected = vec![
        location(&ws, RS_GEOMETRY, "manhattan", 0),
        location(&ws, RS_LIB, "manhattan", 0),
        location(&ws, RS_LIB, "manhattan", 1),
    ];
    // Until rust-analyzer has indexed the crate, it answers with the
    // references it has found so far (seen on a loaded machine: one).
    let references = request_when_ready(&mut server, "textDocument/references", params, |r| {
        r.as_array()
            .is_some_and(|found| found.len() >= expected.len())
    });
    let mut found = references.as_array().unwrap().clone();
    found.sort_by_key(Value::to_string);
    expected.sort_by_key(Value::to_string);
    assert_eq!(found, expected, "{references}");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn rust_analyzer_rename_completion_and_code_actions() {
    let ws = Workspace::new(RUST);
    let (mut server, init) = start(&ws, &rust_analyzer_path(), "rust", RS_FILES);
    let caps = &init["capabilities"];
    assert_eq!(
        caps["completionProvider"]["resolveProvider"], true,
        "{caps}"
    );
    assert_eq!(
        caps["codeActionProvider"]["resolveProvider"], true,
        "{caps}"
    );
    let lib = ws.uri(RS_LIB);

    // Hover answers once rust-analyzer has loaded the crate.
    request_when_ready(
        &mut server,
        "textDocument/hover",
        at(&ws, RS_LIB, "manhattan", 0),
        |hover| hover.to_string().contains("Sum of the coordinates."),
    );

    // Rename the method from its definition: both files change.
    let definition = at(&ws, RS_GEOMETRY, "manhattan", 0);
    let prepared = request_when_ready(
        &mut server,
        "textDocument/prepareRename",
        definition.clone(),
        not_null,
    );
    assert_eq!(prepared, json!(range_of(&ws, RS_GEOMETRY, "manhattan", 0)));
    let mut params = definition;
    params["newName"] = json!("taxicab");
    let edit = request_when_ready(&mut server, "textDocument/rename", params, not_null);
    // Edits to open documents name the version they were computed for.
    for change in edit["documentChanges"].as_array().unwrap() {
        assert_eq!(change["textDocument"]["version"], 1, "{edit}");
    }
    let renamed = apply_edit(&ws, &edit);
    let expected: BTreeMap<String, String> = RS_FILES
        .iter()
        .map(|rel| {
            (
                rel.to_string(),
                ws.read(rel).replace("manhattan", "taxicab"),
            )
        })
        .collect();
    assert_eq!(renamed, expected, "{edit}");

    // Completion in `p.manh|attan()`: the documentation comes with resolve.
    let list = request_when_ready(
        &mut server,
        "textDocument/completion",
        json!({"textDocument": {"uri": lib}, "position": after(&ws, RS_LIB, "p.manh")}),
        |list| list.to_string().contains("manhattan"),
    );
    let item = completion_item(&list, "manhattan");
    assert_untagged(&item);
    assert!(
        item.get("documentation").is_none(),
        "resolved lazily: {item}"
    );
    let resolved = server.request("completionItem/resolve", item).unwrap();
    assert_eq!(resolved["label"], "manhattan");
    assert_eq!(resolved["detail"], "fn(&self) -> i64", "{resolved}");
    assert_eq!(
        resolved["documentation"]["value"], "Sum of the coordinates.",
        "{resolved}"
    );

    // rust-analyzer's assists arrive without their edit, which
    // codeAction/resolve then asks of rust-analyzer.
    let on_p = range_of(&ws, RS_LIB, "p =", 0).start;
    let actions = request_when_ready(
        &mut server,
        "textDocument/codeAction",
        json!({"textDocument": {"uri": lib}, "range": {"start": on_p, "end": on_p}, "context": {"diagnostics": []}}),
        |actions| actions.as_array().is_some_and(|a| !a.is_empty()),
    );
    let explicit_type = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Insert explicit type `Point`")
        .cloned()
        .unwrap_or_else(|| panic!("rust-analyzer's assist: {actions}"));
    assert_eq!(explicit_type["kind"], "refactor.rewrite");
    assert_untagged(&explicit_type);
    assert!(explicit_type.get("edit").is_none(), "{explicit_type}");
    let resolved = server.request("codeAction/resolve", explicit_type).unwrap();
    assert_eq!(resolved["title"], "Insert explicit type `Point`");
    let typed = apply_edit(&ws, &resolved["edit"]);
    assert_eq!(
        typed,
        BTreeMap::from([(
            RS_LIB.to_owned(),
            ws.read(RS_LIB).replace("let p =", "let p: Point =")
        )]),
        "{resolved}"
    );
    assert!(server.shutdown_and_exit().success());
}

/// A crate whose build script leaves a mark at `MARKER`, and a type error
/// that both rust-analyzer and `cargo check` (rustc) report.
const BUILD_SCRIPT: &str = r#"
//- /Cargo.toml
[package]
name = "marked"
version = "0.1.0"
edition = "2021"

[dependencies]
//- /build.rs
fn main() {
    let _ = std::fs::write("MARKER", "the build script ran");
}
//- /src/lib.rs
pub struct Label;

pub fn label() -> Label {
    let label: Label = 1i64;
    label
}
"#;

#[test]
fn rust_analyzer_runs_build_scripts_and_cargo_check_only_in_a_trusted_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("build-script-ran");
    let ws = Workspace::new(&BUILD_SCRIPT.replace("MARKER", &marker.display().to_string()));
    let lib = ws.uri("src/lib.rs");

    // Not trusted (this user says "Not now"): rust-analyzer runs in safe
    // mode. Its own analysis works...
    let (mut server, _) = start(&ws, &rust_analyzer_path(), "rust", &["src/lib.rs"]);
    let own = wait_diagnostic(&mut server, &lib, "rust-analyzer", "E0308");
    assert!(
        own["message"].as_str().unwrap().contains("expected Label"),
        "{own}"
    );
    // ...but nothing of the workspace runs: no build script, and no `cargo
    // check` at load or on save (which would run it, and report rustc's
    // E0308 too).
    server.notify(
        "textDocument/didSave",
        json!({"textDocument": {"uri": lib}}),
    );
    let hover = request_when_ready(
        &mut server,
        "textDocument/hover",
        at(&ws, "src/lib.rs", "label()", 0),
        not_null,
    );
    assert!(
        hover_text(&hover).contains("fn label() -> Label"),
        "{hover}"
    );
    // Long enough for a build script to have run at load and after the
    // save, were it allowed to: it runs before rust-analyzer answers with
    // a loaded crate.
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(500));
        assert!(!marker.exists(), "the build script ran in safe mode");
    }
    let from_rustc: Vec<Value> = server
        .messages()
        .into_iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics")
        .flat_map(|m| {
            m["params"]["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|d| d["source"] == "rustc")
        .collect();
    assert_eq!(
        from_rustc,
        Vec::<Value>::new(),
        "cargo check ran in safe mode"
    );
    assert!(server.shutdown_and_exit().success());

    // Trusted: cargo check runs, and with it the build script.
    ws.trust();
    let (mut server, _) = start(&ws, &rust_analyzer_path(), "rust", &["src/lib.rs"]);
    let checked = wait_diagnostic(&mut server, &lib, "rustc", "E0308");
    assert_eq!(
        checked["message"],
        "mismatched types\nexpected `Label`, found `i64`"
    );
    assert_eq!(
        std::fs::read_to_string(&marker).ok().as_deref(),
        Some("the build script ran")
    );
    assert!(server.shutdown_and_exit().success());
}
