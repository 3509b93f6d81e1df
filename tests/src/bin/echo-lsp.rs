//! A minimal language server that answers at once, for measuring what
//! meshls adds on top of a server (`tests/benches/proxy.rs`). Hover answers
//! "echo", definition and completion empty lists, other requests null.

use std::io::{BufRead, BufReader, Read, Write};

use serde_json::{json, Value};

fn main() {
    let stdin = std::io::stdin();
    let mut input = BufReader::new(stdin.lock());
    let mut output = std::io::stdout().lock();
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            if input.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let Some(length) = length else { continue };
        let mut body = vec![0; length];
        if input.read_exact(&mut body).is_err() {
            return;
        }
        let Ok(message) = serde_json::from_slice::<Value>(&body) else {
            continue;
        };
        let method = message["method"].as_str().unwrap_or("");
        if method == "exit" {
            return;
        }
        let Some(id) = message.get("id") else {
            continue;
        };
        let result = match method {
            "initialize" => json!({"capabilities": {
                "textDocumentSync": 2,
                "hoverProvider": true,
                "definitionProvider": true,
                "completionProvider": {"triggerCharacters": ["."]}
            }}),
            "textDocument/hover" => json!({"contents": "echo"}),
            "textDocument/definition" | "textDocument/completion" => json!([]),
            _ => Value::Null,
        };
        let reply = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "result": result}))
            .unwrap_or_default();
        let header = format!("Content-Length: {}\r\n\r\n", reply.len());
        if output
            .write_all(header.as_bytes())
            .and_then(|()| output.write_all(&reply))
            .and_then(|()| output.flush())
            .is_err()
        {
            return;
        }
    }
}
