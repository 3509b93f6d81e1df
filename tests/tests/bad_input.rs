//! Bad input gets the JSON-RPC error the specification names, and meshls
//! keeps serving afterwards.

use meshls_e2e::{Server, Workspace};
use serde_json::{json, Value};

/// Proves the server is still alive and answering.
fn still_serving(server: &mut Server, ws: &Workspace) {
    let uri = ws.uri("probe.rs");
    server.open(&uri, "rust", "fn probe() {}\n");
    let symbols = server
        .request(
            "textDocument/documentSymbol",
            json!({"textDocument": {"uri": uri}}),
        )
        .expect("meshls still answers");
    assert_eq!(symbols[0]["name"], "probe");
}

fn code(error: &Value) -> i64 {
    error["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error code in {error}"))
}

#[test]
fn malformed_frames_and_invalid_json_are_parse_errors() {
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);

    server.send_raw(b"Content-Length: twelve\r\n\r\n");
    assert_eq!(code(&server.wait_response_null()["error"]), -32700);

    server.send_raw(b"Content-Length: 8\r\n\r\n{\"jsonrp");
    assert_eq!(code(&server.wait_response_null()["error"]), -32700);

    server.send_raw(b"X-No-Colon\r\n\r\n");
    assert_eq!(code(&server.wait_response_null()["error"]), -32700);

    still_serving(&mut server, &ws);
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn invalid_requests_unknown_methods_and_bad_params() {
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);

    // Valid JSON that is not JSON-RPC 2.0: InvalidRequest, with the id when there is one.
    let body = br#"{"id": 41, "method": "textDocument/hover"}"#;
    server.send_raw(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    server.send_raw(body);
    assert_eq!(code(&server.wait_response(41).unwrap_err()), -32600);

    let unknown = server.request("meshls/noSuchMethod", json!({}));
    assert_eq!(code(&unknown.unwrap_err()), -32601);

    let bad_params = server.request("textDocument/documentSymbol", json!({"textDocument": 7}));
    assert_eq!(code(&bad_params.unwrap_err()), -32602);

    // A document that is not open: invalid params, with a message saying what to do.
    let not_open = server
        .request(
            "textDocument/documentSymbol",
            json!({"textDocument": {"uri": ws.uri("nope.rs")}}),
        )
        .unwrap_err();
    assert_eq!(code(&not_open), -32602);
    assert!(
        not_open["message"].as_str().unwrap().contains("didOpen"),
        "{not_open}"
    );

    still_serving(&mut server, &ws);
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn requests_before_initialize_are_refused_and_initialize_still_works() {
    let ws = Workspace::new("");
    let mut server = Server::builder(&ws).start();
    let early = server.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": ws.uri("a.rs")}}),
    );
    assert_eq!(code(&early.unwrap_err()), -32002);
    let result = server.initialize(ws.root_uri(), None);
    assert_eq!(result["serverInfo"]["name"], "meshls");
    // A second initialize is an invalid request.
    assert_eq!(
        code(
            &server
                .request("initialize", json!({"capabilities": {}}))
                .unwrap_err()
        ),
        -32600
    );
    still_serving(&mut server, &ws);
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn edits_to_unopened_documents_are_reported_and_ignored() {
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);
    let uri = ws.uri("ghost.rs");
    for version in 1..=3 {
        server.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": "x"}]}),
        );
    }
    let shown = server.wait_notification("window/showMessage", |_| true);
    assert_eq!(shown["type"], 2, "a warning: {shown}");
    assert!(
        shown["message"].as_str().unwrap().contains("never opened"),
        "{shown}"
    );
    still_serving(&mut server, &ws);
    // One warning per document, not one per edit.
    let warnings = server
        .messages()
        .iter()
        .filter(|m| m["method"] == "window/showMessage")
        .count();
    assert_eq!(warnings, 1);
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn an_out_of_range_edit_is_refused_whole_and_reopening_recovers() {
    let ws = Workspace::new("//- /a.rs\nfn a() {}\n");
    let (mut server, _) = Server::start_initialized(&ws);
    let uri = ws.uri("a.rs");
    let open = json!({"textDocument": {"uri": uri, "languageId": "rust", "version": 1, "text": "fn a() {}\n"}});
    server.notify("textDocument/didOpen", open.clone());
    server.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 0, "character": 3}, "end": {"line": 0, "character": 4}}, "text": "b"},
            {"range": {"start": {"line": 9, "character": 0}, "end": {"line": 9, "character": 0}}, "text": "x"}
        ]}),
    );
    let shown = server.wait_notification("window/showMessage", |_| true);
    let message = shown["message"].as_str().unwrap();
    assert!(
        message.contains("past the end of the document") && message.contains("reopen"),
        "{message}"
    );

    // meshls refuses to answer from text it knows is wrong.
    let view = server.view_document(&uri);
    assert_eq!(code(&view.unwrap_err()), -32803);

    server.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri}}),
    );
    server.notify("textDocument/didOpen", open);
    let view = server.view_document(&uri).unwrap();
    assert_eq!(view["text"], "fn a() {}\n");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn closing_stdin_ends_the_server() {
    let ws = Workspace::new("");
    let mut server = Server::builder(&ws).start();
    server.send_raw(b"Content-Length: 100\r\n\r\n{\"half\":");
    server.close_stdin();
    let status = server
        .exit_status_within(std::time::Duration::from_secs(30))
        .expect("meshls exits when its input ends");
    assert_eq!(status.code(), Some(1), "no shutdown was requested");
}

#[test]
fn a_failed_initialize_changes_nothing_and_a_rejected_shutdown_is_not_clean() {
    let ws = Workspace::new("");
    let mut server = Server::builder(&ws).start();
    let failed = server.request("initialize", json!({"capabilities": 5}));
    assert_eq!(code(&failed.unwrap_err()), -32602);
    // Dropped: the session has not begun.
    server.open(&ws.uri("early.rs"), "rust", "fn e() {}");
    server.initialize(ws.root_uri(), None);
    let view = server.view_document(&ws.uri("early.rs"));
    assert_eq!(
        code(&view.unwrap_err()),
        -32602,
        "the early didOpen was not applied"
    );
    server.notify("exit", Value::Null);
    let status = server
        .exit_status_within(std::time::Duration::from_secs(30))
        .unwrap();
    assert_eq!(status.code(), Some(1));
}

#[test]
fn dollar_requests_get_method_not_found() {
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);
    let answer = server.request("$/meshlsUnknown", json!({}));
    assert_eq!(code(&answer.unwrap_err()), -32601);
    // `$/` notifications are ignored silently, as the specification allows.
    server.notify("$/meshlsUnknown", json!({}));
    still_serving(&mut server, &ws);
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn exit_right_after_shutdown_still_answers_shutdown() {
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);
    let id = server.send_request("shutdown", Value::Null);
    server.notify("exit", Value::Null);
    assert_eq!(server.wait_response(id), Ok(Value::Null));
    let status = server
        .exit_status_within(std::time::Duration::from_secs(30))
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_malformed_did_change_marks_the_document_out_of_sync() {
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);
    let uri = ws.uri("a.rs");
    server.open(&uri, "rust", "abc\n");
    server.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"range": "nonsense", "text": "x"}]}),
    );
    let shown = server.wait_notification("window/showMessage", |_| true);
    assert!(
        shown["message"]
            .as_str()
            .unwrap()
            .contains("close and reopen"),
        "{shown}"
    );
    let view = server.view_document(&uri);
    assert_eq!(code(&view.unwrap_err()), -32803);
    // A full-text change brings it back.
    server.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": "fn b() {}\n"}]}),
    );
    let view = server.view_document(&uri).unwrap();
    assert_eq!(view["text"], "fn b() {}\n");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_cancelled_request_answers_request_cancelled_and_serving_goes_on() {
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);
    let uri = ws.uri("huge.rs");
    // A fresh 100,000-line file needs a full parse (hundreds of milliseconds)
    // before symbols can be listed; the cancel arrives microseconds after the
    // request, while that work runs.
    let text: String = (0..100_000)
        .map(|i| format!("fn f{i}(x: u32) -> u32 {{ x + {i} }}\n"))
        .collect();
    server.open(&uri, "rust", &text);
    let id = server.send_request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    );
    server.notify("$/cancelRequest", json!({"id": id}));
    assert_eq!(code(&server.wait_response(id).unwrap_err()), -32800);
    still_serving(&mut server, &ws);
    assert!(server.shutdown_and_exit().success());
}
