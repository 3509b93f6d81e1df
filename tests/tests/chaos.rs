//! Robustness under abuse: the real typescript-language-server killed again
//! and again in the middle of an editing session, and downstream servers that
//! write garbage, send huge messages or never answer `initialize`; and an
//! editor that closes the pipe mid-request, cancels everything at once,
//! sends a 10 MB document or opens 1,000. meshls answers every request,
//! keeps the editor's text, brings diagnostics back, and leaves no process
//! behind.

use std::path::Path;
use std::time::{Duration, Instant};

use meshls_e2e::{
    configure_fake_servers, path_with_node_servers,
    processes::{processes, processes_in, zombie_children, Process},
    Rng, Server, TextModel, Workspace,
};
use serde_json::{json, Value};

/// How long the checks on processes wait for signals to land and exits to
/// be reaped; a guard against hangs, not a timing assertion.
const SETTLE: Duration = Duration::from_secs(20);

/// The running typescript-language-server that meshls started.
fn typescript_server(meshls: u32) -> Option<u32> {
    processes()
        .into_iter()
        .find(|p| {
            p.ppid == meshls && p.state != 'Z' && p.cmdline.contains("typescript-language-server")
        })
        .map(|p| p.pid)
}

/// Waits until `check` holds; panics with what `check` last said otherwise.
fn settle<T: std::fmt::Debug>(what: &str, mut check: impl FnMut() -> Result<(), T>) {
    let deadline = Instant::now() + SETTLE;
    loop {
        match check() {
            Ok(()) => return,
            Err(left) if Instant::now() >= deadline => panic!("{what}: {left:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Waits until no process of meshls's runs in `dir`, as after exit.
fn assert_nothing_left(dir: &Path, meshls: u32) {
    settle("left running after exit", || {
        let left = processes_in(dir, meshls);
        if left.is_empty() {
            Ok(())
        } else {
            Err(left)
        }
    });
}

fn kill_9(pid: u32) {
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -9 {pid}");
}

/// Waits for meshls to say `name` was restarted, looking at the messages
/// from index `seen` on; fails at once if meshls gives the server up.
fn wait_restarted(server: &mut Server, name: &str, seen: &mut usize) {
    let restarted = format!("{name} stopped and was restarted");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let messages = server.messages();
        for (index, message) in messages.iter().enumerate().skip(*seen) {
            let text = message["params"]["message"].as_str().unwrap_or("");
            if message["method"] == "window/showMessage" && message["params"]["type"] == 1 {
                panic!("meshls gave {name} up: {text}");
            }
            if message["method"] == "window/logMessage" && text.contains(&restarted) {
                *seen = index + 1;
                return;
            }
        }
        if Instant::now() >= deadline {
            // Messages can be huge: a line of each is enough to see what came.
            let since: Vec<String> = messages[*seen..]
                .iter()
                .map(|m| m.to_string().chars().take(200).collect())
                .collect();
            panic!("meshls did not restart {name}; since then it sent {since:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts that a definition result is a location in `file`. The requests
/// ask at a call of `double`, found in the editor's text: a server holding
/// any other text would answer with something else.
fn assert_points_into(definition: &Value, file: &lsp_types::Url, what: &str) {
    let target = if definition.is_array() {
        &definition[0]
    } else {
        definition
    };
    let uri = target.get("targetUri").unwrap_or(&target["uri"]);
    assert_eq!(uri, file.as_str(), "{what}: {definition}");
}

/// Asserts that `answer` is a result or a well-formed JSON-RPC error.
fn assert_answer_or_error(what: &str, answer: &Result<Value, Value>) {
    if let Err(error) = answer {
        assert!(
            error["code"].is_i64() && error["message"].is_string(),
            "{what} got a malformed error: {error}"
        );
    }
}

/// Without the DOM's types (`lib`), each start of tsserver is much cheaper.
const CHAOS_PROJECT: &str = r#"
//- /tsconfig.json
{"compilerOptions": {"strict": true, "lib": ["es5"]}}
//- /src/util.ts
export function double(n: number): number {
  return n * 2;
}
"#;

/// Makes each start of typescript-language-server cheaper, so twenty fit in
/// a test: one tsserver instead of a syntax and a semantic one, and no
/// typings installer.
fn lean_typescript_server(ws: &Workspace) {
    ws.write_user_config(
        "[servers.typescript-language-server.initialization_options]\n\
         disableAutomaticTypingAcquisition = true\n\
         tsserver = { useSyntaxServer = \"never\" }\n",
    );
}

/// The edited file: a type error that each round pushes one line down, a
/// template literal that random edits churn, whose type error quotes all of
/// it, and a type error below it that the churn moves about.
const MAIN: &str = "import { double } from \"./util\";
export const bad: string = double(1);
export const late: \"\" = `
notes
`;
export const tail: string = double(2);
";

/// Text the random edits insert: no backtick, `$` or backslash, so the
/// template literal stays one and its value is its text.
const PIECES: &[&str] = &[
    "a", "é", "中文", "😀", "e\u{301}", "\n", "\r\n", " ", "x1", "ß", "{", "}",
];

/// TypeScript's error for `late`, which quotes the literal's value: line
/// breaks become `\n` (CRLF and CR are LF in a template's value).
fn late_error(text: &str) -> String {
    let start = text.find('`').expect("the template literal starts") + 1;
    let end = start + text[start..].find('`').expect("and ends");
    let value = text[start..end].replace("\r\n", "\n").replace('\r', "\n");
    format!(
        "Type '\"{}\"' is not assignable to type '\"\"'",
        value.replace('\n', "\\n")
    )
}

/// The editor side of the session: the document as the editor holds it,
/// and the requests sent but not yet answered.
struct Editor {
    uri: lsp_types::Url,
    model: TextModel,
    version: i32,
    rng: Rng,
    /// `(id, method, sent at version)`.
    pending: Vec<(i64, &'static str, i32)>,
    answered: usize,
    errors: usize,
}

impl Editor {
    fn char_index(&self, needle: &str) -> usize {
        let byte = self.model.text().find(needle).expect("in the document");
        self.model.text()[..byte].chars().count()
    }

    fn change(&mut self, server: &mut Server, range: lsp_types::Range, text: &str) {
        self.model.apply(range, text);
        self.version += 1;
        server.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": [{"range": range, "text": text}]}),
        );
    }

    /// Inserts a well-typed line above the type error, which moves it down.
    fn push_error_down(&mut self, server: &mut Server, round: usize) {
        let at = lsp_types::Position::new(1, 0);
        let line = format!("export const ok{round}: number = double({round});\n");
        self.change(server, lsp_types::Range::new(at, at), &line);
    }

    /// `count` random edits inside the template literal, with requests in
    /// between.
    fn churn(&mut self, server: &mut Server, count: usize) {
        for _ in 0..count {
            let first = self.char_index("`") + 1;
            let last = first
                + self
                    .model
                    .text()
                    .chars()
                    .skip(first)
                    .position(|c| c == '`')
                    .expect("the literal ends");
            let start = first + self.rng.below(last - first + 1);
            let end = if self.rng.chance(1, 3) {
                (start + self.rng.below(4)).min(last)
            } else {
                start
            };
            let mut text = String::new();
            // TypeScript's language service shortens long types in its
            // messages (to 320 characters), so the literal stays short.
            if last - first < 120 {
                for _ in 0..=self.rng.below(3) {
                    let piece: &&str = self.rng.pick(PIECES);
                    text.push_str(piece);
                }
            }
            let range = self.model.range_of(start..end);
            self.change(server, range, &text);
            if self.rng.chance(1, 3) {
                self.send_request(server);
            }
        }
    }

    /// The position of the `double` called for `name`: asking there for
    /// its definition finds util.ts only in the editor's text.
    fn call_of(&self, name: &str) -> lsp_types::Position {
        self.model
            .position_of(self.char_index(&format!("{name}: string = double")) + name.len() + 12)
    }

    /// What TypeScript says, given the editor's text: `(line, message)`
    /// of each type error.
    fn type_errors(&self) -> [(u32, String); 3] {
        let line_of = |needle: &str| self.model.position_of(self.char_index(needle)).line;
        let assigns_number = "Type 'number' is not assignable to type 'string'".to_owned();
        [
            (line_of("const bad"), assigns_number.clone()),
            (line_of("const late"), late_error(self.model.text())),
            (line_of("const tail"), assigns_number),
        ]
    }

    fn send_request(&mut self, server: &mut Server) {
        let random = self
            .model
            .position_of(self.rng.below(self.model.len_chars() + 1));
        let (method, position) = match self.rng.below(4) {
            0 => ("textDocument/hover", random),
            1 => ("textDocument/completion", random),
            2 => ("textDocument/definition", self.call_of("bad")),
            _ => ("textDocument/definition", self.call_of("tail")),
        };
        let id = server.send_request(
            method,
            json!({"textDocument": {"uri": self.uri}, "position": position}),
        );
        self.pending.push((id, method, self.version));
    }

    /// Waits for every request sent so far: each gets its answer or an error.
    fn collect(&mut self, server: &mut Server, util: &lsp_types::Url) {
        for (id, method, version) in std::mem::take(&mut self.pending) {
            let answer = server.wait_response(id);
            let what = format!("{method} (request {id}, at version {version})");
            assert_answer_or_error(&what, &answer);
            match answer {
                Ok(target) if method == "textDocument/definition" => {
                    assert_points_into(&target, util, &what);
                    self.answered += 1;
                }
                Ok(_) => self.answered += 1,
                Err(_) => self.errors += 1,
            }
        }
    }

    /// meshls holds exactly the editor's text, at the editor's version.
    fn assert_in_sync(&self, server: &mut Server, when: &str) {
        let view = server
            .view_document(&self.uri)
            .unwrap_or_else(|e| panic!("{when}: meshls/viewDocument failed: {e}"));
        assert_eq!(view["uri"], self.uri.as_str());
        assert_eq!(view["version"], self.version, "{when}");
        assert_eq!(
            view["text"].as_str(),
            Some(self.model.text()),
            "{when}: meshls's text differs from the editor's"
        );
    }
}

/// Waits for the diagnostics of the editor's text, exactly where and what
/// they are, looking at the messages from index `seen` on.
fn wait_type_errors(server: &mut Server, editor: &Editor, seen: &mut usize, when: &str) {
    let expected = editor.type_errors();
    let matches = |p: &Value| {
        p["uri"] == editor.uri.as_str()
            && expected.iter().all(|(line, message)| {
                p["diagnostics"].as_array().into_iter().flatten().any(|d| {
                    d["code"] == 2322
                        && d["range"]["start"]["line"] == *line
                        && d["message"]
                            .as_str()
                            .unwrap_or("")
                            .contains(message.as_str())
                })
            })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let messages = server.messages();
        let found = messages.iter().enumerate().skip(*seen).find(|(_, m)| {
            m["method"] == "textDocument/publishDiagnostics" && matches(&m["params"])
        });
        if let Some((index, _)) = found {
            *seen = index + 1;
            return;
        }
        if Instant::now() >= deadline {
            let last = messages.iter().rev().find(|m| {
                m["method"] == "textDocument/publishDiagnostics"
                    && m["params"]["uri"] == editor.uri.as_str()
            });
            panic!(
                "{when}: the server's diagnostics do not fit the editor's text (version {}):\n{:?}\nexpected (line, message): {expected:#?}\nlast published: {last:#}",
                editor.version,
                editor.model.text(),
                last = last.unwrap_or(&Value::Null)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The issue's chaos test: twenty `kill -9`s of the real
/// typescript-language-server while the editor keeps editing and asking.
#[test]
fn twenty_kills_during_an_editing_session_lose_nothing() {
    const KILLS: usize = 20;
    let ws = Workspace::new(CHAOS_PROJECT);
    lean_typescript_server(&ws);
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();
    let meshls = server.pid();
    let util = ws.uri("src/util.ts");
    server.open(&util, "typescript", &ws.read("src/util.ts"));
    let mut editor = Editor {
        uri: ws.uri("src/main.ts"),
        model: TextModel::new(MAIN),
        version: 1,
        rng: Rng::new(0xC4A0_5EED),
        pending: Vec::new(),
        answered: 0,
        errors: 0,
    };
    server.open(&editor.uri, "typescript", MAIN);
    let mut published = 0;
    wait_type_errors(&mut server, &editor, &mut published, "at the start");

    let mut seen = 0;
    for round in 0..KILLS {
        let when = format!("round {round}");
        let old = typescript_server(meshls).expect("typescript-language-server runs");
        editor.churn(&mut server, 5);
        kill_9(old);
        // Edited and asked while the server is down or starting again.
        editor.push_error_down(&mut server, round);
        editor.churn(&mut server, 10);
        wait_restarted(&mut server, "typescript-language-server", &mut seen);
        editor.churn(&mut server, 5);

        // The new server has the editor's text: its type errors are where
        // the editor has them, and the one that quotes the churned literal
        // quotes it exactly.
        wait_type_errors(&mut server, &editor, &mut published, &when);
        editor.collect(&mut server, &util);
        // And it answers; a server that answers is not crash-looping.
        let hover = server
            .request(
                "textDocument/hover",
                json!({"textDocument": {"uri": editor.uri}, "position": {"line": 0, "character": 10}}),
            )
            .unwrap_or_else(|e| panic!("{when}: hover after the restart failed: {e}"));
        assert!(hover.to_string().contains("double"), "{when}: {hover}");
        let definition = server
            .request(
                "textDocument/definition",
                json!({"textDocument": {"uri": editor.uri}, "position": editor.call_of("tail")}),
            )
            .unwrap_or_else(|e| panic!("{when}: definition after the restart failed: {e}"));
        assert_points_into(&definition, &util, &when);
        editor.assert_in_sync(&mut server, &when);

        let new = typescript_server(meshls).expect("typescript-language-server runs again");
        assert_ne!(new, old, "{when}: a new process");
        // The killed server was reaped, and what it started went with it.
        assert!(
            zombie_children(meshls).is_empty(),
            "{when}: {:?}",
            zombie_children(meshls)
        );
        settle(&format!("{when}: left by killed servers"), || {
            let orphans: Vec<Process> = processes_in(ws.root(), meshls)
                .into_iter()
                .filter(|p| p.pgrp != new)
                .collect();
            if orphans.is_empty() {
                Ok(())
            } else {
                Err(orphans)
            }
        });
    }
    editor.assert_in_sync(&mut server, "after the last kill");
    assert!(
        editor.answered > 0,
        "answered {}, errors {}",
        editor.answered,
        editor.errors
    );

    assert!(server.shutdown_and_exit().success());
    assert_nothing_left(ws.root(), meshls);
}

const PROJECT: &str = r#"
//- /tsconfig.json
{"compilerOptions": {"strict": true}}
//- /src/util.ts
export function double(n: number): number {
  return n * 2;
}
//- /src/main.ts
import { double } from "./util";
export const four = double(2);
//- /big.huge
line 0
line 1
line 2
line 3
"#;

/// Beside the real typescript-language-server: a server that writes garbage
/// between its messages, one that never answers `initialize`, and one that
/// sends a 50 MB answer, messages over the size limit, and a Content-Length
/// that never ends before it dies.
#[test]
fn servers_that_send_garbage_huge_messages_or_nothing_do_not_take_meshls_down() {
    let ws = Workspace::new(PROJECT);
    configure_fake_servers(
        &ws,
        &[
            ("garbage", "garbage", "typescript"),
            ("silent", "silent", "typescript"),
            ("huge", "huge", "hugelang"),
        ],
    );
    // Answers, with the silent server left out once its time is up.
    let (mut server, init) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();
    let meshls = server.pid();
    assert_eq!(init["capabilities"]["hoverProvider"], true, "{init}");

    let shown = server.wait_notification("window/showMessage", |p| {
        p["message"].as_str().unwrap_or("").contains("silent")
    });
    let message = shown["message"].as_str().unwrap();
    assert!(
        message.contains("silent did not answer initialize") && message.contains("without it"),
        "{message}"
    );
    assert_eq!(shown["type"], 2);
    settle("the silent server outlived its timeout", || {
        let silent: Vec<Process> = processes_in(ws.root(), meshls)
            .into_iter()
            .filter(|p| p.cmdline.contains("fake_server.py silent"))
            .collect();
        if silent.is_empty() {
            Ok(())
        } else {
            Err(silent)
        }
    });

    let main = ws.uri("src/main.ts");
    let big = ws.uri("big.huge");
    server.open(&main, "typescript", &ws.read("src/main.ts"));
    server.open(&big, "hugelang", &ws.read("big.huge"));
    let hover_typescript = |server: &mut Server| {
        let hover = server
            .request(
                "textDocument/hover",
                json!({"textDocument": {"uri": main}, "position": {"line": 1, "character": 22}}),
            )
            .unwrap();
        assert!(hover.to_string().contains("double"), "{hover}");
    };
    hover_typescript(&mut server);

    let hover_big = |server: &mut Server, line: u32| {
        server.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": big}, "position": {"line": line, "character": 0}}),
        )
    };
    // 50 MB, whole and unchanged.
    let fifty = hover_big(&mut server, 0).unwrap();
    let value = fifty["contents"]["value"].as_str().unwrap_or_default();
    assert_eq!(value.len(), 50_000_000);
    assert!(value.starts_with("0123456789") && value.ends_with("0123456789"));
    assert!(
        value.as_bytes().chunks(10).all(|c| c == b"0123456789"),
        "the 50 MB hover was changed on its way"
    );
    drop(fifty);
    // A header that is no number and a message over the limit are dropped,
    // and the message after them is read.
    let after = hover_big(&mut server, 1).unwrap();
    assert_eq!(after["contents"], "after the oversized message", "{after}");
    // A Content-Length no message can have, then death: an error, and a restart.
    let lost = hover_big(&mut server, 2);
    assert_answer_or_error("hover on a dying server", &lost);
    assert!(lost.is_err(), "{lost:?}");
    let mut seen = 0;
    wait_restarted(&mut server, "huge", &mut seen);
    let back = hover_big(&mut server, 3).unwrap();
    assert_eq!(back["contents"], "huge answers", "{back}");

    hover_typescript(&mut server);
    assert!(server.shutdown_and_exit().success());
    assert_nothing_left(ws.root(), meshls);
}

// The editor's side of abuse.

const TYPE_ERROR: &str = "//- /tsconfig.json\n{\"compilerOptions\": {\"strict\": true}}\n//- /src/main.ts\nconst label: string = 42;\nexport const text = label.toUpperCase();\n";

/// meshls with typescript-language-server, main.ts open and its type error
/// published, so the server is up and has the file.
fn typescript_session(ws: &Workspace) -> (Server, lsp_types::Url) {
    lean_typescript_server(ws);
    let (mut server, _) = Server::builder(ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();
    let main = ws.uri("src/main.ts");
    server.open(&main, "typescript", &ws.read("src/main.ts"));
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == main.as_str() && p["diagnostics"].to_string().contains("not assignable")
    });
    (server, main)
}

#[test]
fn the_editor_closing_the_pipe_mid_request_leaves_nothing_running() {
    let ws = Workspace::new(TYPE_ERROR);
    let (mut server, main) = typescript_session(&ws);
    let meshls = server.pid();
    assert!(typescript_server(meshls).is_some());
    server.send_request(
        "textDocument/completion",
        json!({"textDocument": {"uri": main}, "position": {"line": 1, "character": 26}}),
    );
    server.close_stdin();
    let status = server
        .exit_status_within(SETTLE)
        .expect("meshls exits when the editor goes");
    assert_eq!(status.code(), Some(1), "no shutdown was asked for");
    assert_nothing_left(ws.root(), meshls);
}

#[test]
fn cancelling_every_request_at_once_answers_each_once_and_serving_goes_on() {
    let ws = Workspace::new(TYPE_ERROR);
    let (mut server, main) = typescript_session(&ws);
    let at = json!({"textDocument": {"uri": main}, "position": {"line": 1, "character": 22}});
    let methods = [
        "textDocument/hover",
        "textDocument/definition",
        "textDocument/completion",
        "textDocument/references",
        "textDocument/documentSymbol",
        "textDocument/foldingRange",
    ];
    let ids: Vec<i64> = (0..120)
        .map(|i| {
            let mut params = at.clone();
            if methods[i % methods.len()] == "textDocument/references" {
                params["context"] = json!({"includeDeclaration": true});
            }
            server.send_request(methods[i % methods.len()], params)
        })
        .collect();
    for id in &ids {
        server.notify("$/cancelRequest", json!({"id": id}));
    }
    let mut cancelled = 0;
    for &id in &ids {
        match server.wait_response(id) {
            Ok(_) => {}
            Err(error) => {
                assert_eq!(error["code"], -32800, "request {id}: {error}");
                cancelled += 1;
            }
        }
    }
    // Each answered once: no second answer came for any of them.
    let answers = server
        .messages()
        .iter()
        .filter(|m| {
            m.get("method").is_none() && m["id"].as_i64().is_some_and(|id| ids.contains(&id))
        })
        .count();
    assert_eq!(answers, ids.len());
    assert!(
        cancelled > 0,
        "the cancels came too late to cancel anything"
    );
    let hover = server
        .request("textDocument/hover", at.clone())
        .expect("a hover after the storm");
    assert!(hover["contents"].to_string().contains("label"), "{hover}");
    let meshls = server.pid();
    assert!(server.shutdown_and_exit().success());
    assert_nothing_left(ws.root(), meshls);
}

/// Where two texts first differ, for a failure that does not print
/// megabytes.
fn first_difference(a: &str, b: &str) -> Option<usize> {
    a.chars()
        .zip(b.chars())
        .position(|(x, y)| x != y)
        .or((a.chars().count() != b.chars().count())
            .then(|| a.chars().count().min(b.chars().count())))
}

#[test]
fn a_ten_megabyte_document_is_kept_exactly_through_edits() {
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);
    let uri = ws.uri("big.rs");
    let line = "fn f(x: u32) -> u32 { x + 1 } // é中😀\n";
    let text = line.repeat(10 * 1024 * 1024 / line.len() + 1);
    assert!(text.len() > 10 * 1024 * 1024);
    server.open(&uri, "rust", &text);
    let mut model = TextModel::new(text);
    let mut rng = Rng::new(10);
    for version in 2..=21 {
        let start = rng.below(model.len_chars());
        let end = (start + rng.below(200)).min(model.len_chars());
        let range = model.range_of(start..end);
        let new_text = PIECES[rng.below(PIECES.len())].repeat(rng.below(4));
        server.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"range": range, "text": new_text}]}),
        );
        model.apply(range, &new_text);
    }
    let view = server.view_document(&uri).unwrap();
    assert_eq!(view["version"], 21);
    let kept = view["text"].as_str().unwrap();
    assert_eq!(first_difference(kept, model.text()), None);
    // Its features still answer, near the end.
    let last = model
        .range_of(model.len_chars() - 10..model.len_chars() - 10)
        .start;
    let selection = server
        .request(
            "textDocument/selectionRange",
            json!({"textDocument": {"uri": uri}, "positions": [last]}),
        )
        .unwrap();
    assert!(selection[0]["range"]["start"].is_object(), "{selection}");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_thousand_open_documents_each_get_their_diagnostics_and_are_closed_cleanly() {
    let ws = Workspace::new("");
    let (mut server, _) = Server::start_initialized(&ws);
    let uris: Vec<lsp_types::Url> = (0..1000).map(|i| ws.uri(&format!("src/m{i}.rs"))).collect();
    for (i, uri) in uris.iter().enumerate() {
        server.open(uri, "rust", &format!("fn f{i}( {{\n"));
    }
    let errors_in = |server: &mut Server, broken: bool| {
        let mut left: std::collections::HashSet<String> =
            uris.iter().map(|uri| uri.to_string()).collect();
        while !left.is_empty() {
            let published = server.wait_notification("textDocument/publishDiagnostics", |p| {
                p["uri"].as_str().is_some_and(|uri| left.contains(uri))
                    && p["diagnostics"]
                        .as_array()
                        .is_some_and(|d| d.is_empty() != broken)
            });
            left.remove(published["uri"].as_str().unwrap());
        }
    };
    errors_in(&mut server, true);
    for (i, uri) in uris.iter().enumerate() {
        server.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": format!("fn f{i}() {{}}\n")}]}),
        );
    }
    errors_in(&mut server, false);
    for uri in &uris {
        server.notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": uri}}),
        );
    }
    let closed = server.view_document(&uris[500]).unwrap_err();
    assert!(
        closed["message"].as_str().unwrap().contains("not open"),
        "{closed}"
    );
    let uri = ws.uri("after.rs");
    server.open(&uri, "rust", "fn a() {}\n");
    let view = server.view_document(&uri).unwrap();
    assert_eq!(view["text"], "fn a() {}\n");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn slow_hung_flooding_and_vanishing_servers_hold_up_nobody_else() {
    let ws = Workspace::new("");
    configure_fake_servers(
        &ws,
        &[
            ("exits", "exits", "exitlang"),
            ("floods", "floods", "floodlang"),
            ("hangs", "hangs", "hunglang"),
            ("slow", "slow", "slowlang"),
        ],
    );
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();
    let meshls = server.pid();
    // The one that exited during initialize: meshls runs without it, and
    // says so once.
    let shown = server.wait_notification("window/showMessage", |p| {
        p["message"].as_str().unwrap_or("").contains("exits")
    });
    assert_eq!(shown["type"], 2, "{shown}");

    let open = |server: &mut Server, file: &str, language: &str| {
        let uri = ws.uri(file);
        server.open(&uri, language, "text\n");
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 1}})
    };
    let (hung, slow, flooded) = (
        open(&mut server, "a.hung", "hunglang"),
        open(&mut server, "a.slow", "slowlang"),
        open(&mut server, "a.flood", "floodlang"),
    );
    let hung = server.send_request("textDocument/hover", hung);
    let slow = server.send_request("textDocument/hover", slow);
    // meshls's own answers wait for neither: this one comes while the slow
    // server still sleeps on its five seconds.
    let probe = ws.uri("probe.rs");
    server.open(&probe, "rust", "fn probe() {}\n");
    let symbols = server
        .request(
            "textDocument/documentSymbol",
            json!({"textDocument": {"uri": probe}}),
        )
        .unwrap();
    assert_eq!(symbols[0]["name"], "probe");
    let answered = |server: &mut Server, id: i64| {
        server
            .messages()
            .iter()
            .any(|m| m.get("method").is_none() && m["id"] == id)
    };
    assert!(!answered(&mut server, slow), "the slow answer came first");

    // The flood reached the editor whole, each message named by its
    // server, and that server still answers.
    server.wait_notification("window/logMessage", |p| {
        p["message"] == "floods: flood 19999"
    });
    let floods = server
        .messages()
        .iter()
        .filter(|m| {
            m["method"] == "window/logMessage"
                && m["params"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("floods: flood "))
        })
        .count();
    assert_eq!(floods, 20_000);
    let hover = server.request("textDocument/hover", flooded).unwrap();
    assert_eq!(hover["contents"], "flooded");

    assert_eq!(server.wait_response(slow).unwrap()["contents"], "slow");
    // The hung server's request ends in an error that says why, not a hang.
    let error = server.wait_response(hung).unwrap_err();
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("hangs did not answer textDocument/hover within 30s"),
        "{message}"
    );
    assert!(server.shutdown_and_exit().success());
    assert_nothing_left(ws.root(), meshls);
}
