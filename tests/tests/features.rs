//! meshls's own syntax-tree features over the wire: symbols, syntax
//! diagnostics, folding and selection ranges, for Rust, TypeScript and TSX.

use meshls_e2e::{Server, Workspace};
use serde_json::{json, Value};

fn open(server: &mut Server, ws: &Workspace, path: &str, language: &str) -> lsp_types::Url {
    let uri = ws.uri(path);
    server.open(&uri, language, &ws.read(path));
    uri
}

/// `name kind line` for each symbol, nested by indentation.
fn outline(symbols: &Value) -> String {
    fn walk(out: &mut String, symbols: &Value, depth: usize) {
        for sym in symbols.as_array().into_iter().flatten() {
            out.push_str(&format!(
                "{}{} {} {}\n",
                "  ".repeat(depth),
                sym["name"].as_str().unwrap(),
                sym["kind"],
                sym["range"]["start"]["line"]
            ));
            walk(out, &sym["children"], depth + 1);
        }
    }
    let mut out = String::new();
    walk(&mut out, symbols, 0);
    out
}

const FIXTURE: &str = r#"
//- /src/lib.rs
pub struct Stack<T> { items: Vec<T> }

impl<T> Stack<T> {
    pub fn push(&mut self, item: T) { self.items.push(item); }
}

pub trait Size { fn size(&self) -> usize; }
//- /web/app.ts
export interface User { name: string }
export class Store {
  users: User[] = [];
  add(user: User) { this.users.push(user); }
}
export const count = (s: Store) => s.users.length;
//- /web/view.tsx
export function View({ user }: { user: string }) {
  return <p>{user}</p>;
}
"#;

#[test]
fn document_symbols_for_rust_typescript_and_tsx() {
    let ws = Workspace::new(FIXTURE);
    let (mut server, _) = Server::start_initialized(&ws);
    let rust = open(&mut server, &ws, "src/lib.rs", "rust");
    let ts = open(&mut server, &ws, "web/app.ts", "typescript");
    let tsx = open(&mut server, &ws, "web/view.tsx", "typescriptreact");

    let symbols = |server: &mut Server, uri| {
        outline(
            &server
                .request(
                    "textDocument/documentSymbol",
                    json!({"textDocument": {"uri": uri}}),
                )
                .unwrap(),
        )
    };
    // Kinds: 2 module, 5 class, 6 method, 7 property, 8 field, 11 interface,
    // 12 function, 14 constant, 19 object, 23 struct.
    assert_eq!(
        symbols(&mut server, rust),
        "Stack 23 0\n  items 8 0\nimpl Stack<T> 19 2\n  push 6 3\nSize 11 6\n  size 6 6\n"
    );
    assert_eq!(
        symbols(&mut server, ts),
        "User 11 0\n  name 7 0\nStore 5 1\n  users 7 2\n  add 6 3\ncount 12 5\n"
    );
    assert_eq!(symbols(&mut server, tsx), "View 12 0\n");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn syntax_errors_are_published_and_cleared_when_fixed() {
    let ws =
        Workspace::new("//- /src/main.rs\nfn main() {\n    let s = \"😀\"; let x = (1 + ;\n}\n");
    let (mut server, _) = Server::start_initialized(&ws);
    let uri = open(&mut server, &ws, "src/main.rs", "rust");

    let published = server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == uri.as_str() && !p["diagnostics"].as_array().unwrap().is_empty()
    });
    assert_eq!(published["version"], 1);
    let diag = &published["diagnostics"][0];
    assert_eq!(diag["source"], "meshls");
    assert_eq!(diag["severity"], 1);
    assert_eq!(diag["code"], "syntax-error");
    assert_eq!(diag["range"]["start"]["line"], 1, "{diag}");

    // Fix the line with an incremental edit that replaces `(1 + ;` with
    // `(1 + 2);`. In UTF-16 the emoji counts two units, so `(` is at column
    // 26 (it would be 28 in UTF-8 and 25 in UTF-32): a wrong encoding leaves
    // broken text and the error in place.
    server.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [{"range": {"start": {"line": 1, "character": 26}, "end": {"line": 1, "character": 32}}, "text": "(1 + 2);"}]
        }),
    );
    let cleared =
        server.wait_notification("textDocument/publishDiagnostics", |p| p["version"] == 2);
    assert_eq!(cleared["diagnostics"], json!([]), "{cleared}");
    let view = server.view_document(&uri).unwrap();
    assert_eq!(
        view["text"],
        "fn main() {\n    let s = \"😀\"; let x = (1 + 2);\n}\n"
    );

    // Closing the document clears its diagnostics.
    server.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri}}),
    );
    let closed = server.wait_notification("textDocument/publishDiagnostics", |p| {
        p.get("version").is_none()
    });
    assert_eq!(closed["diagnostics"], json!([]));
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn folding_and_selection_ranges() {
    let ws = Workspace::new(FIXTURE);
    let (mut server, _) = Server::start_initialized(&ws);
    let uri = open(&mut server, &ws, "web/app.ts", "typescript");

    let folds = server
        .request(
            "textDocument/foldingRange",
            json!({"textDocument": {"uri": uri}}),
        )
        .unwrap();
    let folds: Vec<(u64, u64)> = folds
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["startLine"].as_u64().unwrap(),
                f["endLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        folds,
        vec![(1, 3)],
        "the class body folds, leaving its closing brace"
    );

    // From `user` inside `this.users.push(user)` outwards.
    let ranges = server
        .request(
            "textDocument/selectionRange",
            json!({"textDocument": {"uri": uri}, "positions": [{"line": 3, "character": 38}]}),
        )
        .unwrap();
    let mut chain = Vec::new();
    let mut cur = &ranges[0];
    while cur.is_object() {
        let r = &cur["range"];
        chain.push(format!(
            "{}:{}-{}:{}",
            r["start"]["line"], r["start"]["character"], r["end"]["line"], r["end"]["character"]
        ));
        cur = &cur["parent"];
    }
    assert_eq!(
        chain.first().map(String::as_str),
        Some("3:36-3:40"),
        "{chain:?}"
    );
    assert!(chain.len() >= 5, "{chain:?}");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn unknown_languages_are_kept_in_sync_without_syntax_features() {
    let ws = Workspace::new("//- /notes.txt\nplain text\n//- /a.rs\nfn a() {}\n");
    let (mut server, _) = Server::start_initialized(&ws);
    let notes = open(&mut server, &ws, "notes.txt", "plaintext");
    let symbols = server.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": notes}}),
    );
    assert_eq!(symbols, Ok(Value::Null));
    let view = server.view_document(&notes).unwrap();
    assert_eq!(view["text"], "plain text\n");
    // meshls has nothing to say about text it cannot parse, and publishes
    // nothing for it: an empty list would erase other servers' diagnostics.
    // Diagnostics are published in order, so once the Rust file's arrive,
    // any for the notes would have come too.
    let rust = open(&mut server, &ws, "a.rs", "rust");
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == rust.as_str()
    });
    let about_notes = server
        .messages()
        .iter()
        .filter(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == notes.as_str()
        })
        .count();
    assert_eq!(about_notes, 0);
    assert!(server.shutdown_and_exit().success());
}
