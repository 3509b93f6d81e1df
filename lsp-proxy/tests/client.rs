//! The downstream client against a real language server and against a
//! scripted one that crashes, writes garbage, never answers, or asks back.

use std::{path::PathBuf, time::Duration};

use lsp_types::{
    notification::{DidOpenTextDocument, Initialized},
    request::{HoverRequest, Initialize},
    ClientCapabilities, DidOpenTextDocumentParams, HoverParams, InitializeParams,
    InitializedParams, Position, TextDocumentIdentifier, TextDocumentItem,
    TextDocumentPositionParams, Url, WorkspaceFolder,
};
use meshls_proxy::{jsonrpc::RequestId, spawn, Client, Error, Incoming, SpawnSpec};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

/// A hang guard for waits, not a performance bound.
const WAIT: Duration = Duration::from_secs(60);

fn fake(mode: &str) -> (Client, UnboundedReceiver<Incoming>) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fake_server.py");
    spawn(SpawnSpec {
        name: format!("fake-{mode}"),
        command: "python3".to_owned(),
        args: vec![script.display().to_string(), mode.to_owned()],
        env: vec![],
        hidden_env: Vec::new(),
        cwd: None,
    })
    .expect("python3 runs the scripted server")
}

/// The typescript-language-server that `npm ci` in tests/ installs.
fn typescript_language_server() -> PathBuf {
    let bin = match std::env::var_os("MESHLS_TEST_NODE_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/node_modules/.bin"),
    }
    .join("typescript-language-server");
    assert!(
        bin.exists(),
        "typescript-language-server not found at {}: run `npm ci` in tests/ (tests/run.sh does)",
        bin.display()
    );
    bin
}

async fn next_incoming(incoming: &mut UnboundedReceiver<Incoming>) -> Incoming {
    tokio::time::timeout(WAIT, incoming.recv())
        .await
        .expect("the server sends something")
        .expect("the server is still connected")
}

#[tokio::test]
async fn a_crashing_server_fails_pending_requests_at_once() {
    let (client, _incoming) = fake("crash");
    let err = client
        .request_raw("textDocument/hover", json!({}), WAIT)
        .await
        .unwrap_err();
    match &err {
        Error::Gone { name, reason } => {
            assert_eq!(name, "fake-crash");
            assert!(
                reason.contains("boom") || reason.contains("exit"),
                "{reason}"
            );
        }
        other => panic!("expected Gone, got {other:?}"),
    }
    // Later calls fail at once with the same reason.
    let again = client
        .request_raw("textDocument/hover", json!({}), WAIT)
        .await
        .unwrap_err();
    assert!(matches!(again, Error::Gone { .. }), "{again:?}");
    assert!(client
        .notify_raw("textDocument/didSave", json!({}))
        .is_err());
}

#[tokio::test]
async fn garbage_between_messages_is_skipped() {
    let (client, _incoming) = fake("garbage");
    for i in 0..3 {
        let answer = client
            .request_raw("fake/echo", json!({"n": i}), WAIT)
            .await
            .unwrap();
        assert_eq!(answer, json!({"echo": {"n": i}}));
    }
}

#[tokio::test]
async fn a_silent_server_times_out_and_is_told_to_cancel() {
    let (client, mut incoming) = fake("silent");
    let err = client
        .request_raw("fake/slow", json!({}), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(
        next_incoming(&mut incoming).await,
        Incoming::Notification {
            method: "fake/cancelled".to_owned(),
            params: json!({"id": 1})
        }
    );
    // A caller that gives up (drops the future) cancels too.
    let abandoned = client.request_raw("fake/slow", json!({}), WAIT);
    assert!(tokio::time::timeout(Duration::from_millis(50), abandoned)
        .await
        .is_err());
    assert_eq!(
        next_incoming(&mut incoming).await,
        Incoming::Notification {
            method: "fake/cancelled".to_owned(),
            params: json!({"id": 2})
        }
    );
}

#[tokio::test]
async fn server_requests_reach_the_caller_and_answers_go_back() {
    let (client, mut incoming) = fake("asks");
    let asking = client.clone();
    let answered =
        tokio::spawn(async move { asking.request_raw("fake/go", json!({}), WAIT).await });
    match next_incoming(&mut incoming).await {
        Incoming::Request { id, method, params } => {
            assert_eq!(id, RequestId::String("q1".to_owned()));
            assert_eq!(method, "workspace/configuration");
            assert_eq!(params["items"][0]["section"], "fake");
            client.respond(id, Ok(json!([{"answer": 42}]))).unwrap();
        }
        other => panic!("expected a request, got {other:?}"),
    }
    assert_eq!(answered.await.unwrap().unwrap(), json!([{"answer": 42}]));
}

#[tokio::test]
async fn dropping_the_last_client_kills_and_reaps_the_server() {
    let (client, _incoming) = fake("silent");
    let pid = client.pid().expect("a pid");
    assert!(PathBuf::from(format!("/proc/{pid}")).exists());
    drop(client);
    let deadline = tokio::time::Instant::now() + WAIT;
    while PathBuf::from(format!("/proc/{pid}")).exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} is still there"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn what_a_server_leaves_behind_goes_with_it() {
    let (client, _incoming) = fake("forks");
    let helper = client
        .request_raw("fake/fork", json!({}), WAIT)
        .await
        .unwrap();
    let helper = PathBuf::from(format!("/proc/{helper}"));
    assert!(helper.exists(), "the helper runs");
    let status = client.shutdown(WAIT).await.expect("the server exited");
    assert!(status.success(), "{status}");
    let deadline = tokio::time::Instant::now() + WAIT;
    // A killed process stays a zombie until its parent (here init) reaps it.
    let alive = |proc: &PathBuf| {
        std::fs::read_to_string(proc.join("stat")).is_ok_and(|stat| !stat.contains(") Z "))
    };
    while alive(&helper) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} outlived its server",
            helper.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_missing_command_is_a_clear_error() {
    let err = spawn(SpawnSpec {
        name: "nosuch".to_owned(),
        command: "meshls-no-such-language-server".to_owned(),
        args: vec![],
        env: vec![],
        hidden_env: Vec::new(),
        cwd: None,
    })
    .err()
    .expect("spawning fails");
    let message = err.to_string();
    assert!(
        message.starts_with("could not start nosuch (`meshls-no-such-language-server`)"),
        "{message}"
    );
    assert!(message.contains("[servers.nosuch]"), "{message}");
}

#[tokio::test]
async fn typescript_language_server_answers_diagnostics_and_hover() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tsconfig.json"),
        r#"{"compilerOptions": {"strict": true}}"#,
    )
    .unwrap();
    let text = "export const count: number = \"three\";\nexport const label = count.toFixed(2);\n";
    std::fs::write(dir.path().join("a.ts"), text).unwrap();
    let root = Url::from_directory_path(dir.path()).unwrap();
    let uri = Url::from_file_path(dir.path().join("a.ts")).unwrap();

    let (client, mut incoming) = spawn(SpawnSpec {
        name: "typescript-language-server".to_owned(),
        command: typescript_language_server().display().to_string(),
        args: vec!["--stdio".to_owned()],
        env: vec![],
        hidden_env: Vec::new(),
        cwd: Some(dir.path().to_path_buf()),
    })
    .unwrap();
    #[allow(deprecated)] // root_uri is still what most servers read.
    let init = InitializeParams {
        process_id: Some(std::process::id()),
        root_uri: Some(root.clone()),
        workspace_folders: Some(vec![WorkspaceFolder {
            uri: root,
            name: "ws".to_owned(),
        }]),
        // Without this capability typescript-language-server publishes no
        // diagnostics at all; every real editor declares it.
        capabilities: serde_json::from_value::<ClientCapabilities>(json!({
            "textDocument": {"publishDiagnostics": {"relatedInformation": true}}
        }))
        .unwrap(),
        ..InitializeParams::default()
    };
    let result = client.request::<Initialize>(init, WAIT).await.unwrap();
    assert!(result.capabilities.hover_provider.is_some());
    client.notify::<Initialized>(InitializedParams {}).unwrap();
    client
        .notify::<DidOpenTextDocument>(DidOpenTextDocumentParams {
            text_document: TextDocumentItem::new(
                uri.clone(),
                "typescript".to_owned(),
                1,
                text.to_owned(),
            ),
        })
        .unwrap();

    // Diagnostics arrive as a notification; other traffic (logs, progress) may come first.
    let diagnostics = loop {
        match next_incoming(&mut incoming).await {
            Incoming::Notification { method, params }
                if method == "textDocument/publishDiagnostics"
                    && params["uri"] == uri.as_str()
                    && !params["diagnostics"].as_array().is_none_or(Vec::is_empty) =>
            {
                break params["diagnostics"].clone();
            }
            Incoming::Request { id, .. } => client.respond(id, Ok(Value::Null)).unwrap(),
            _ => {}
        }
    };
    assert_eq!(diagnostics[0]["code"], 2322, "a type error: {diagnostics}");
    assert_eq!(diagnostics[0]["range"]["start"]["line"], 0);

    let hover = client
        .request::<HoverRequest>(
            HoverParams {
                text_document_position_params: TextDocumentPositionParams::new(
                    TextDocumentIdentifier::new(uri),
                    Position::new(1, 22),
                ),
                work_done_progress_params: Default::default(),
            },
            WAIT,
        )
        .await
        .unwrap()
        .expect("hover over `count`");
    let text = serde_json::to_string(&hover.contents).unwrap();
    assert!(text.contains("count: number"), "{text}");

    let status = client.shutdown(WAIT).await.expect("the server exited");
    assert!(status.success(), "{status}");
}
