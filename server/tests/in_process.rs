//! meshls in this process: an editor's session through `meshls::session`
//! and `meshls::transport::serve` (as fuzzing runs it), and `meshls check`
//! through `cli::check::run`, with no binary between the test and the
//! code. Behind the session is the scripted language server of
//! meshls-proxy's tests (`lsp-proxy/tests/fake_server.py`, run by
//! `python3`); the end-to-end tests under `tests/` drive the real binary
//! against the real servers.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
    time::Duration,
};

use futures::StreamExt;
use meshls::{
    cli::{
        check::{self, FailOn, Options},
        render::Format,
    },
    transport::Ending,
};
use meshls_proxy::framing::{Frame, LspCodec};
use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio_util::codec::FramedRead;

/// How long any one answer may take: a guard against hangs, not a measure.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The user's directories, of this test process's own: meshls reads its
/// user config and keeps its data there.
fn user_dirs() -> &'static Path {
    static DIRS: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIRS.get_or_init(|| {
        let dirs = tempfile::tempdir().unwrap();
        for name in ["config", "data"] {
            std::fs::create_dir_all(dirs.path().join(name)).unwrap();
        }
        // Every test here sets the same values, before any session starts.
        std::env::set_var("XDG_CONFIG_HOME", dirs.path().join("config"));
        std::env::set_var("XDG_DATA_HOME", dirs.path().join("data"));
        dirs
    })
    .path()
}

fn fake_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lsp-proxy/tests/fake_server.py")
}

/// A workspace of `files` in a directory of its own.
fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    user_dirs();
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    dir
}

/// The editor's end of an in-process session.
struct Editor {
    to_meshls: WriteHalf<DuplexStream>,
    from_meshls: FramedRead<ReadHalf<DuplexStream>, LspCodec>,
    next_id: i64,
    /// What meshls sent on its own while the editor waited for an answer.
    seen: Vec<Value>,
}

impl Editor {
    async fn send(&mut self, message: Value) {
        let body = message.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.to_meshls.write_all(frame.as_bytes()).await.unwrap();
    }

    async fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await;
    }

    /// The next message meshls writes.
    async fn next(&mut self) -> Value {
        let frame = tokio::time::timeout(ANSWER_TIMEOUT, self.from_meshls.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "meshls wrote nothing in {ANSWER_TIMEOUT:?}; before: {:#?}",
                    self.seen
                )
            })
            .expect("meshls's output ended")
            .expect("reading meshls's output");
        let Frame::Message(body) = frame else {
            panic!("meshls wrote a malformed frame: {frame:?}");
        };
        serde_json::from_slice(&body).expect("meshls writes JSON")
    }

    /// Sends a request and waits for its answer, answering meshls's own
    /// requests (progress, registrations, the trust question) with null.
    async fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        loop {
            let message = self.next().await;
            if message["id"] == id && message.get("method").is_none() {
                return match message.get("error") {
                    Some(error) => Err(error.clone()),
                    None => Ok(message["result"].clone()),
                };
            }
            if message.get("id").is_some() && message.get("method").is_some() {
                let answer = json!({"jsonrpc": "2.0", "id": message["id"], "result": null});
                self.send(answer).await;
            }
            self.seen.push(message);
        }
    }
}

/// Starts a session on the current runtime: the editor's end, and the
/// session's task, which ends with the session.
fn start() -> (Editor, tokio::task::JoinHandle<Ending>) {
    let (editor_side, meshls_side) = tokio::io::duplex(1 << 20);
    let (meshls_in, meshls_out) = tokio::io::split(meshls_side);
    let session = meshls::session(Box::new(meshls_out));
    let serving = tokio::spawn(meshls::transport::serve(meshls_in, session));
    let (from_meshls, to_meshls) = tokio::io::split(editor_side);
    let editor = Editor {
        to_meshls,
        from_meshls: FramedRead::new(from_meshls, LspCodec::default()),
        next_id: 0,
        seen: Vec::new(),
    };
    (editor, serving)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn requests_are_answered_by_meshls_or_routed_to_the_server_that_offers_them() {
    let ws = workspace(&[("a.rs", "fn alpha() {}\n"), ("notes.fake", "abc\n")]);
    let root = lsp_types::Url::from_directory_path(ws.path()).unwrap();
    let a = lsp_types::Url::from_file_path(ws.path().join("a.rs")).unwrap();
    let notes = lsp_types::Url::from_file_path(ws.path().join("notes.fake")).unwrap();
    runtime().block_on(async {
        let (mut editor, serving) = start();
        // VS Code's settings are the user's own, so they may name a server.
        let init = editor
            .request(
                "initialize",
                json!({
                    "processId": null,
                    "rootUri": root,
                    "clientInfo": {"name": "Visual Studio Code"},
                    "capabilities": {},
                    "initializationOptions": {"servers": {"zz-fake": {
                        "command": "python3",
                        "args": [fake_server(), "relays"],
                        "languages": ["fakelang"]
                    }}}
                }),
            )
            .await
            .expect("initialize");
        let capabilities = &init["capabilities"];
        // meshls's own, and what the fake adds (type hierarchies are routed
        // but have no field in lsp-types: one table says both).
        assert_eq!(capabilities["documentSymbolProvider"], true, "{capabilities:#}");
        assert_eq!(capabilities["callHierarchyProvider"], true, "{capabilities:#}");
        assert_eq!(capabilities["typeHierarchyProvider"], true, "{capabilities:#}");
        editor.notify("initialized", json!({})).await;
        for (uri, language, text) in [(&a, "rust", "fn alpha() {}\n"), (&notes, "fakelang", "abc\n")] {
            editor
                .notify(
                    "textDocument/didOpen",
                    json!({"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}),
                )
                .await;
        }

        // Rust's symbols come from meshls's own parser (no server runs for
        // Rust here); the fake language's from the fake.
        let symbols = editor
            .request("textDocument/documentSymbol", json!({"textDocument": {"uri": a}}))
            .await
            .unwrap();
        assert_eq!(symbols[0]["name"], "alpha", "{symbols}");
        let symbols = editor
            .request("textDocument/documentSymbol", json!({"textDocument": {"uri": notes}}))
            .await
            .unwrap();
        assert_eq!(symbols[0]["name"], "fromFake", "{symbols}");

        // A type hierarchy goes to the server that made its item, and back.
        let at = json!({"textDocument": {"uri": notes}, "position": {"line": 0, "character": 1}});
        let items = editor
            .request("textDocument/prepareTypeHierarchy", at)
            .await
            .unwrap();
        assert_eq!(items[0]["data"], json!({"mine": 1}), "{items}");
        let supertypes = editor
            .request("typeHierarchy/supertypes", json!({"item": items[0].clone()}))
            .await
            .unwrap();
        assert_eq!(supertypes[0]["name"], "Base", "{supertypes}");

        // A server's own method goes to the server it names; one that names
        // no server, to the only one running (with two, it is refused: see
        // tests/tests/proxy.rs).
        let pong = editor.request("zz-fake/ping", json!({"n": 1})).await.unwrap();
        assert_eq!(pong, json!({"pong": {"n": 1}}));
        let pong = editor.request("nobody/ping", json!({"n": 2})).await.unwrap();
        assert_eq!(pong, json!({"pong": {"n": 2}}));

        assert_eq!(editor.request("shutdown", Value::Null).await.unwrap(), Value::Null);
        editor.notify("exit", Value::Null).await;
        let ending = tokio::time::timeout(ANSWER_TIMEOUT, serving)
            .await
            .expect("the session ends after exit")
            .unwrap();
        assert_eq!(ending, Ending::Clean);
    });
}

#[test]
fn check_reports_a_syntax_error_and_fails() {
    let ws = workspace(&[("a.rs", "fn broken( {}\n"), ("b.rs", "fn fine() {}\n")]);
    let options = |format| Options {
        root: ws.path().canonicalize().unwrap(),
        paths: Vec::new(),
        base: None,
        shard: None,
        format,
        fail_on: FailOn::Error,
        timeout: Duration::from_secs(60),
        settle: Duration::from_millis(200),
        review: None,
        trust: false,
    };
    let outcome = check::run(&options(Format::Json));
    assert_eq!(outcome.code, 1, "{}\n{:?}", outcome.out, outcome.warnings);
    let report: Value = serde_json::from_str(&outcome.out).expect("one JSON document");
    let findings = report["findings"].as_array().expect("findings");
    assert!(!findings.is_empty(), "{report:#}");
    for finding in findings {
        assert_eq!(
            finding["path"], "a.rs",
            "only a.rs has an error: {report:#}"
        );
        assert_eq!(finding["source"], "meshls", "{report:#}");
    }

    let outcome = check::run(&options(Format::Text));
    assert_eq!(outcome.code, 1);
    assert!(outcome.out.starts_with("a.rs:1:"), "{}", outcome.out);
}
