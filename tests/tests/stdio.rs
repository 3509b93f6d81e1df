//! The editor's end of the connection as editors really make it: pipes
//! (every other test), socket pairs (Neovim, through libuv), and for
//! completeness plain files, which keep tokio's blocking-thread I/O.

use std::{
    io::{Read, Write},
    os::{fd::OwnedFd, unix::net::UnixStream},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use meshls_e2e::{meshls_bin, Workspace};
use serde_json::{json, Value};

/// A whole session: initialize, a document and a request about it, and a
/// clean shutdown, all sent at once. (The request is one meshls answers
/// before reading on: an editor that sends `exit` gets "cancelled" for
/// requests still running.)
fn session(ws: &Workspace) -> Vec<u8> {
    let uri = ws.uri("src/lib.rs");
    let messages = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": null, "rootUri": ws.root_uri(), "capabilities": {}}}),
        json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "rust", "version": 1, "text": "fn piped() {}\n"}}}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "meshls/viewDocument", "params": {"textDocument": {"uri": uri}}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "shutdown"}),
        json!({"jsonrpc": "2.0", "method": "exit"}),
    ];
    let mut bytes = Vec::new();
    for message in messages {
        let body = message.to_string();
        bytes.extend(format!("Content-Length: {}\r\n\r\n{body}", body.len()).bytes());
    }
    bytes
}

/// The frames in `output`, which must hold nothing else.
fn frames(mut output: &[u8]) -> Vec<Value> {
    let mut found = Vec::new();
    while !output.is_empty() {
        let text = String::from_utf8_lossy(output);
        let rest = text
            .strip_prefix("Content-Length: ")
            .unwrap_or_else(|| panic!("not a frame: {text}"));
        let (length, _) = rest.split_once("\r\n\r\n").expect("a header ends");
        let header = "Content-Length: \r\n\r\n".len() + length.len();
        let length: usize = length.parse().expect("a length");
        found.push(serde_json::from_slice(&output[header..header + length]).expect("JSON"));
        output = &output[header + length..];
    }
    found
}

/// Checks that every request was answered as it should be.
fn assert_served(output: &[u8]) {
    let frames = frames(output);
    let answer = |id: i64| {
        frames
            .iter()
            .find(|frame| frame["id"] == id && frame.get("method").is_none())
            .unwrap_or_else(|| panic!("no answer to request {id}: {frames:?}"))
    };
    assert_eq!(answer(1)["result"]["serverInfo"]["name"], "meshls");
    assert_eq!(answer(2)["result"]["text"], "fn piped() {}\n", "{frames:?}");
    assert!(answer(3)["result"].is_null(), "{frames:?}");
}

fn meshls(ws: &Workspace) -> Command {
    let mut command = Command::new(meshls_bin());
    command
        .current_dir(ws.root())
        .env("XDG_DATA_HOME", ws.data_home())
        .env("XDG_CONFIG_HOME", ws.config_home())
        .env("PATH", "/nonexistent")
        .stderr(Stdio::null());
    command
}

fn wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "meshls did not exit after `exit`"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_session_over_socket_pairs_is_served() {
    let ws = Workspace::new("//- /src/lib.rs\nfn piped() {}\n");
    // Separate pairs for stdin and stdout, as libuv makes them.
    let (mut to_meshls, its_stdin) = UnixStream::pair().unwrap();
    let (mut from_meshls, its_stdout) = UnixStream::pair().unwrap();
    let mut child = meshls(&ws)
        .stdin(Stdio::from(OwnedFd::from(its_stdin)))
        .stdout(Stdio::from(OwnedFd::from(its_stdout)))
        .spawn()
        .unwrap();
    to_meshls.write_all(&session(&ws)).unwrap();
    from_meshls
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut output = Vec::new();
    // Ends when meshls exits and its end closes.
    from_meshls.read_to_end(&mut output).unwrap();
    assert!(wait(&mut child).success());
    assert_served(&output);
}

#[test]
fn a_session_from_and_to_plain_files_is_served() {
    let ws = Workspace::new("//- /src/lib.rs\nfn piped() {}\n");
    let input = ws.temp_dir().join("input");
    let output = ws.temp_dir().join("output");
    std::fs::write(&input, session(&ws)).unwrap();
    let mut child = meshls(&ws)
        .stdin(std::fs::File::open(&input).unwrap())
        .stdout(std::fs::File::create(&output).unwrap())
        .spawn()
        .unwrap();
    assert!(wait(&mut child).success());
    assert_served(&std::fs::read(&output).unwrap());
}
