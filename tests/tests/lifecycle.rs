//! The session lifecycle and the command line, against the real binary.

use std::process::Command;

use meshls_e2e::{meshls_bin, Server, Workspace};
use serde_json::{json, Value};

#[test]
fn initialize_advertises_meshls_and_incremental_utf16_sync() {
    let ws = Workspace::new("");
    let (server, result) = Server::start_initialized(&ws);
    assert_eq!(result["serverInfo"]["name"], "meshls");
    assert_eq!(result["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    let caps = &result["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-16");
    assert_eq!(
        caps["textDocumentSync"]["change"], 2,
        "incremental sync: {caps}"
    );
    assert_eq!(caps["textDocumentSync"]["openClose"], true);
    for provider in [
        "documentSymbolProvider",
        "foldingRangeProvider",
        "selectionRangeProvider",
    ] {
        assert_eq!(caps[provider], true, "{provider} in {caps}");
    }
    let status = server.shutdown_and_exit();
    assert!(
        status.success(),
        "exit after shutdown must be code 0, got {status}"
    );
}

#[test]
fn shutdown_and_exit_with_empty_params_as_eglot_sends_them() {
    for params in [Value::Null, json!({}), json!([])] {
        let ws = Workspace::new("");
        let (mut server, _) = Server::start_initialized(&ws);
        server.send_raw(&frame(
            &json!({"jsonrpc": "2.0", "id": 1000, "method": "shutdown", "params": params}),
        ));
        assert_eq!(server.wait_response(1000), Ok(Value::Null), "{params}");
        server.send_raw(&frame(
            &json!({"jsonrpc": "2.0", "method": "exit", "params": params}),
        ));
        let status = server
            .exit_status_within(std::time::Duration::from_secs(30))
            .expect("meshls exits on `exit`");
        assert_eq!(status.code(), Some(0), "{params}");
    }
}

fn frame(message: &Value) -> Vec<u8> {
    let body = message.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

#[test]
fn exit_without_shutdown_is_exit_code_1() {
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);
    server.notify("exit", Value::Null);
    let status = server
        .exit_status_within(std::time::Duration::from_secs(30))
        .expect("meshls exits on `exit`");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn the_vscode_languageclient_command_line_is_accepted() {
    // vscode-languageclient starts servers as `<cmd> --stdio --clientProcessId=<pid>`.
    let ws = Workspace::new("");
    let pid = std::process::id().to_string();
    let clientpid = format!("--clientProcessId={pid}");
    let (server, result) = Server::builder(&ws)
        .args(&["--stdio", &clientpid])
        .start_initialized();
    assert_eq!(result["serverInfo"]["name"], "meshls");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_second_session_on_the_same_workspace_still_works() {
    // The database allows one process at a time; the second editor must
    // still get a working server, whose agent sessions are handed over
    // when the first has closed, and be told so.
    let ws = Workspace::new("//- /src/lib.rs\nfn f() {}\n");
    let (first, _) = Server::start_initialized(&ws);
    let (mut second, _) = Server::start_initialized(&ws);
    let told = second.wait_notification("window/logMessage", |params| {
        params["message"]
            .as_str()
            .is_some_and(|m| m.contains("hands its own over"))
    });
    let told = told["message"].as_str().unwrap();
    assert!(
        told.contains("is another meshls using this workspace?"),
        "{told}"
    );
    assert_eq!(told.matches('\n').count(), 0, "one sentence: {told}");
    let uri = ws.uri("src/lib.rs");
    second.open(&uri, "rust", "fn f() {}\n");
    let symbols = second
        .request(
            "textDocument/documentSymbol",
            json!({"textDocument": {"uri": uri}}),
        )
        .expect("documentSymbol answers");
    assert_eq!(symbols[0]["name"], "f");
    assert!(second.shutdown_and_exit().success());
    assert!(first.shutdown_and_exit().success());
}

#[test]
fn version_prints_the_package_version() {
    let out = Command::new(meshls_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("meshls {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn logs_go_to_the_log_file_and_never_to_stdout() {
    let ws = Workspace::new("");
    let log = ws.temp_dir().join("meshls.log");
    let log_arg = log.to_string_lossy().into_owned();
    let (server, _) = Server::builder(&ws)
        .args(&["serve", "--stdio", "--log-file", &log_arg])
        .env("MESHLS_LOG", "debug")
        .start_initialized();
    // shutdown_and_exit also checks that stdout held nothing but frames.
    assert!(server.shutdown_and_exit().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("initialize"), "log file: {text}");
}
