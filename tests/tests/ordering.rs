//! Document notifications are applied in the order they were sent, however
//! fast they come: thousands of incremental edits with multi-byte text end
//! in exactly the text the client holds.

use lsp_types::Range;
use meshls_e2e::{Rng, Server, TextModel, Workspace};
use serde_json::json;

const EDITS: usize = 5_000;

#[test]
fn five_thousand_rapid_edits_end_in_the_clients_text() {
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);
    let uri = ws.uri("src/main.rs");
    let initial = "fn main() {\r\n    let s = \"héllo wörld 😀\";\n}\n";
    server.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "rust", "version": 0, "text": initial}}),
    );

    let mut model = TextModel::new(initial);
    let mut rng = Rng::new(0x6d65_7368);
    let pieces = [
        "a",
        "é",
        "中文",
        "😀",
        "👩‍💻",
        "e\u{301}",
        "\n",
        "\r\n",
        " ",
        "{",
        "}",
        "ß",
        "𝄞x",
    ];
    let mut version = 0;
    for _ in 0..EDITS {
        let len = model.len_chars();
        let start = rng.below(len + 1);
        let end = if rng.chance(1, 3) {
            (start + rng.below(4)).min(len)
        } else {
            start
        };
        let range: Range = model.range_of(start..end);
        let mut text = String::new();
        for _ in 0..rng.below(3) {
            let piece: &&str = rng.pick(&pieces);
            text.push_str(piece);
        }
        // Keep the document from growing without bound or vanishing.
        if len > 4_000 {
            text.clear();
        }
        model.apply(range, &text);
        version += 1;
        // Several changes in one notification are applied in order too.
        let changes = if rng.chance(1, 10) {
            let extra_at = model.end_position();
            model.apply(Range::new(extra_at, extra_at), "//end\n");
            json!([{"range": range, "text": text}, {"range": Range::new(extra_at, extra_at), "text": "//end\n"}])
        } else {
            json!([{"range": range, "text": text}])
        };
        server.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}),
        );
    }

    let view = server
        .view_document(&uri)
        .expect("meshls/viewDocument answers");
    assert_eq!(view["version"], version);
    let held = view["text"].as_str().unwrap();
    if held != model.text() {
        let at = held
            .chars()
            .zip(model.text().chars())
            .take_while(|(a, b)| a == b)
            .count();
        panic!(
            "meshls's text differs from the client's at char {at}:\n meshls: {:?}\n client: {:?}",
            held.chars()
                .skip(at.saturating_sub(20))
                .take(60)
                .collect::<String>(),
            model
                .text()
                .chars()
                .skip(at.saturating_sub(20))
                .take(60)
                .collect::<String>(),
        );
    }
    // Nothing went wrong on the way: no warning was shown.
    assert!(
        !server
            .messages()
            .iter()
            .any(|m| m["method"] == "window/showMessage"),
        "unexpected messages: {:?}",
        server
            .messages()
            .iter()
            .filter(|m| m["method"] == "window/showMessage")
            .collect::<Vec<_>>()
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_request_answers_for_the_document_as_it_was_when_sent() {
    // A request followed at once by an edit must see the text before the
    // edit, however the two handlers are scheduled.
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);
    let uri = ws.uri("big.rs");
    let text: String = (0..2_000).map(|i| format!("fn f{i}() {{}}\n")).collect();
    server.open(&uri, "rust", &text);
    for round in 0..10 {
        let version = 2 + round * 2;
        let symbols = server.send_request(
            "textDocument/documentSymbol",
            json!({"textDocument": {"uri": uri}}),
        );
        let selection = server.send_request(
            "textDocument/selectionRange",
            json!({"textDocument": {"uri": uri}, "positions": [{"line": 1500, "character": 4}]}),
        );
        // Delete all but the first line, then put the text back.
        server.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [
                {"range": {"start": {"line": 1, "character": 0}, "end": {"line": 2000, "character": 0}}, "text": ""}
            ]}),
        );
        server.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version + 1}, "contentChanges": [{"text": text}]}),
        );
        let symbols = server
            .wait_response(symbols)
            .expect("documentSymbol answers");
        assert_eq!(
            symbols.as_array().map(Vec::len),
            Some(2_000),
            "round {round}"
        );
        let selection = server
            .wait_response(selection)
            .expect("selectionRange answers");
        assert_eq!(
            selection[0]["range"]["start"]["line"], 1500,
            "round {round}"
        );
    }
    assert!(server.shutdown_and_exit().success());
}
