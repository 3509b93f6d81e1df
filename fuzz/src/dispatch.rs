//! The editor's side of a whole session: meshls's own `transport::serve`,
//! in-process on a runtime of its own for each input, with no workspace
//! (so no language server starts and no model is asked), fed framed
//! JSON-RPC messages made from the input: real methods with params of the
//! right and the wrong shapes, ids of every JSON type, notifications,
//! responses to nothing, batches, bodies that are not JSON. Against what
//! JSON-RPC and LSP ask: a request with a usable id gets exactly one
//! response with that id; nothing else gets one, except the errors with a
//! null id the specification names (parse errors, invalid requests);
//! requests after a successful `shutdown` get errors; after `exit` nothing
//! is read; and the session ends, cleanly exactly when `shutdown` succeeded.

use std::{
    collections::BTreeMap,
    io, panic,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, Once,
    },
    task::{Context, Poll},
    time::Duration,
};

use meshls::transport::{self, Ending};
use serde_json::Value;
use tokio::io::AsyncWrite;

use crate::Input;

/// Methods meshls handles, forwards or should refuse.
const METHODS: &[&str] = &[
    "initialize",
    "initialized",
    "shutdown",
    "exit",
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/didClose",
    "textDocument/didSave",
    "textDocument/willSave",
    "workspace/didChangeConfiguration",
    "workspace/didChangeWatchedFiles",
    "$/cancelRequest",
    "$/setTrace",
    "$/unknown",
    "window/workDoneProgress/cancel",
    "meshls/viewDocument",
    "meshls/unknown",
    "workspace/executeCommand",
    "textDocument/documentSymbol",
    "textDocument/foldingRange",
    "textDocument/selectionRange",
    "textDocument/codeAction",
    "codeAction/resolve",
    "textDocument/hover",
    "textDocument/definition",
    "textDocument/references",
    "textDocument/completion",
    "completionItem/resolve",
    "textDocument/rename",
    "textDocument/formatting",
    "textDocument/semanticTokens/full",
    "textDocument/inlayHint",
    "textDocument/diagnostic",
    "workspace/symbol",
    "unknown/method",
    "",
];

/// Ids as JSON text: usable ones (integers, strings, one that looks like
/// meshls's own), and those LSP does not allow (null, fractions, numbers
/// past 64 bits, other types).
const IDS: &[&str] = &[
    "0",
    "1",
    "2",
    "7",
    "-1",
    "\"1\"",
    "\"a\"",
    "\"\"",
    "\"meshls:1\"",
    "9223372036854775807",
    "-9223372036854775808",
    "null",
    "1.5",
    "1.0",
    "1e3",
    "9223372036854775808",
    "18446744073709551616",
    "-9223372036854775809",
    "true",
    "{}",
    "[1]",
];

const URIS: &[&str] = &[
    "\"file:///w/a.rs\"",
    "\"file:///w/b.ts\"",
    "\"file:///w/c.txt\"",
    "\"untitled:Untitled-1\"",
    "\"not a uri\"",
    "5",
    "null",
];

const LANGUAGES: &[&str] = &["\"rust\"", "\"typescript\"", "\"plaintext\"", "\"\"", "1"];

/// Line and character numbers, in range and not.
const NUMBERS: &[&str] = &["0", "1", "2", "3", "40", "4294967295", "-1", "1.5", "\"x\""];

const TEXTS: &[&str] = &[
    "fn main() {}",
    "fn f(",
    "}",
    "é",
    "😀",
    "\r\n",
    "\n",
    "\r",
    "let x = 1;",
    "(",
    "a",
];

const COMMANDS: &[&str] = &[
    "\"meshls.status\"",
    "\"meshls.ask\"",
    "\"meshls.runAction\"",
    "\"meshls.fix\"",
    "\"meshls.review\"",
    "\"meshls.cancel\"",
    "\"meshls.newSession\"",
    "\"rust-analyzer.run\"",
    "\"x\"",
    "5",
];

const ARGUMENTS: &[&str] = &[
    "[]",
    "[{\"quiet\":true}]",
    "[\"file:///w/a.rs\"]",
    "[{\"uri\":\"file:///w/a.rs\"}]",
    "[{\"kind\":\"fixFile\",\"uri\":\"file:///w/a.rs\"}]",
    "[\"fix it\"]",
    "[{\"instruction\":\"fix it\"}]",
    "{}",
    "null",
];

/// Bodies that are not JSON-RPC messages, or not JSON.
const BROKEN: &[&[u8]] = &[
    b"",
    b"{\"jsonrpc\":\"2.0\",",
    b"null",
    b"5",
    b"\"x\"",
    b"[]",
    b"{}",
    b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"shutdown\"},{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}]",
    b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":5}",
    b"{\"jsonrpc\":\"2.0\",\"method\":null}",
    b"{\"jsonrpc\":\"1.0\",\"id\":4,\"method\":\"shutdown\"}",
    b"{\"id\":5,\"method\":\"textDocument/hover\"}",
    b"{\"jsonrpc\":\"2.0\",\"id\":6}",
    b"{\"jsonrpc\":\"2.0\",\"id\":\"meshls:1\",\"result\":null,\"error\":{\"code\":1,\"message\":\"x\"}}",
    b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"textDocument/hover\",\"params\":{\"a\":\"\\ud800\"}}",
    b"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"textDocument/hover\",\"params\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
    b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"shutdown\",\"params\":{\"a\":1}}",
    b"\xFF\xFE",
];

/// The `initialize` each session starts with, unless the input says not
/// to: no workspace, so no language server starts and no model is asked.
const INITIALIZE: &[u8] = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"processId":null,"rootUri":null,"capabilities":{"window":{"workDoneProgress":true}}}}"#;

fn position(input: &mut Input<'_>) -> String {
    format!(
        "{{\"line\":{},\"character\":{}}}",
        input.pick(NUMBERS),
        input.pick(NUMBERS)
    )
}

fn range(input: &mut Input<'_>) -> String {
    let start = position(input);
    format!("{{\"start\":{start},\"end\":{}}}", position(input))
}

fn text(input: &mut Input<'_>) -> String {
    serde_json::to_string(&input.text(TEXTS, 6)).unwrap_or_default()
}

/// Params for `method`: of its own shape mostly (with values of the wrong
/// type at times), else of another.
fn params(input: &mut Input<'_>, method: &str) -> Option<String> {
    let document = format!("{{\"uri\":{}}}", input.pick(URIS));
    let shape = input.byte() % 12;
    let params = match shape {
        0 => return None,
        1 => "null".to_owned(),
        2 => "{}".to_owned(),
        3 => "[]".to_owned(),
        4 => "\"x\"".to_owned(),
        _ => match method {
            "initialize" => {
                r#"{"processId":null,"rootUri":null,"capabilities":{},"initializationOptions":{"agent":{"max_steps":"x"}}}"#.to_owned()
            }
            "textDocument/didOpen" => {
                let (uri, language, version) =
                    (input.pick(URIS), input.pick(LANGUAGES), input.pick(NUMBERS));
                format!(
                    "{{\"textDocument\":{{\"uri\":{uri},\"languageId\":{language},\"version\":{version},\"text\":{}}}}}",
                    text(input)
                )
            }
            "textDocument/didChange" => {
                let version = input.pick(NUMBERS);
                let changes: Vec<String> = (0..input.byte() % 3)
                    .map(|_| match input.byte() % 4 {
                        0 => format!("{{\"text\":{}}}", text(input)),
                        _ => {
                            let range = range(input);
                            format!("{{\"range\":{range},\"text\":{}}}", text(input))
                        }
                    })
                    .collect();
                format!(
                    "{{\"textDocument\":{{\"uri\":{},\"version\":{version}}},\"contentChanges\":[{}]}}",
                    input.pick(URIS),
                    changes.join(",")
                )
            }
            "textDocument/willSave" => format!("{{\"textDocument\":{document},\"reason\":1}}"),
            "workspace/didChangeConfiguration" => match input.byte() % 4 {
                0 => r#"{"settings":null}"#.to_owned(),
                1 => r#"{"settings":{"meshls":{"analysis":{"syntax_diagnostics":false}}}}"#.to_owned(),
                2 => r#"{"settings":{"agent":{"provider":"gemini"}}}"#.to_owned(),
                _ => r#"{"settings":[]}"#.to_owned(),
            },
            "workspace/didChangeWatchedFiles" => {
                format!("{{\"changes\":[{{\"uri\":{},\"type\":1}}]}}", input.pick(URIS))
            }
            "$/cancelRequest" => format!("{{\"id\":{}}}", input.pick(IDS)),
            "$/setTrace" => r#"{"value":"verbose"}"#.to_owned(),
            "window/workDoneProgress/cancel" => r#"{"token":"meshls/1"}"#.to_owned(),
            "workspace/executeCommand" => format!(
                "{{\"command\":{},\"arguments\":{}}}",
                input.pick(COMMANDS),
                input.pick(ARGUMENTS)
            ),
            "textDocument/selectionRange" => {
                let positions: Vec<String> = (0..input.byte() % 3).map(|_| position(input)).collect();
                format!(
                    "{{\"textDocument\":{document},\"positions\":[{}]}}",
                    positions.join(",")
                )
            }
            "textDocument/codeAction" => format!(
                "{{\"textDocument\":{document},\"range\":{},\"context\":{{\"diagnostics\":[]}}}}",
                range(input)
            ),
            "textDocument/inlayHint" => {
                format!("{{\"textDocument\":{document},\"range\":{}}}", range(input))
            }
            "codeAction/resolve" => r#"{"title":"x","data":{"meshls":"own"}}"#.to_owned(),
            "completionItem/resolve" => r#"{"label":"x","data":5}"#.to_owned(),
            "textDocument/hover"
            | "textDocument/definition"
            | "textDocument/references"
            | "textDocument/completion"
            | "textDocument/rename" => format!(
                "{{\"textDocument\":{document},\"position\":{},\"newName\":\"y\",\"context\":{{\"includeDeclaration\":true}}}}",
                position(input)
            ),
            "workspace/symbol" => r#"{"query":"main"}"#.to_owned(),
            _ => format!("{{\"textDocument\":{document}}}"),
        },
    };
    Some(params)
}

/// One message's body, made from the input.
fn message(input: &mut Input<'_>) -> Vec<u8> {
    let kind = input.byte() % 12;
    let method = serde_json::to_string(input.pick(METHODS)).unwrap_or_default();
    let id = input.pick(IDS);
    let params = params(input, method.trim_matches('"'))
        .map(|params| format!(",\"params\":{params}"))
        .unwrap_or_default();
    let body = match kind {
        0..=4 => format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":{method}{params}}}"),
        5..=7 => format!("{{\"jsonrpc\":\"2.0\",\"method\":{method}{params}}}"),
        8 => format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"applied\":true}}}}"),
        9 => format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":-32601,\"message\":\"no\"}}}}"
        ),
        10 => return input.pick(BROKEN).to_vec(),
        _ => {
            // Bytes straight from the input.
            let len = usize::from(input.byte() % 48).min(input.0.len());
            let (body, rest) = input.0.split_at(len);
            input.0 = rest;
            return body.to_vec();
        }
    };
    body.into_bytes()
}

/// What a message may get back.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// Exactly one response with this id: a request.
    Answer(String),
    /// Exactly one response, with this id or with a null one: a request
    /// with an id LSP does not allow (null, a fraction, past 64 bits).
    AnswerOrNull(String),
    /// At most one, an error, with this id (when it has one) or a null
    /// one: a body that is JSON but no JSON-RPC message.
    MaybeError(Option<String>),
    /// Exactly one error with a null id: not JSON.
    ParseError,
    /// Nothing: a notification, or a response.
    Nothing,
}

/// What each message may get back, as JSON-RPC and LSP say; and whether
/// it is an `exit` that ends the session.
fn expect(body: &[u8]) -> (Expect, bool) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (Expect::ParseError, false);
    };
    let Some(object) = value.as_object() else {
        return (Expect::MaybeError(None), false);
    };
    let id = object.get("id");
    let id_text = id.map(Value::to_string);
    let version = object.get("jsonrpc") == Some(&Value::String("2.0".to_owned()));
    // Ids tower-lsp (and LSP) take: a string or a 64-bit integer.
    let usable = |id: &Value| id.is_string() || id.is_i64();
    match object.get("method") {
        Some(Value::String(method)) if version => match id {
            None => (Expect::Nothing, method == "exit"),
            Some(id) if usable(id) => (Expect::Answer(id.to_string()), method == "exit"),
            Some(id) => (
                Expect::AnswerOrNull(id.to_string()),
                method == "exit" && id.is_null(),
            ),
        },
        Some(_) => (Expect::MaybeError(id_text), false),
        None => {
            let response = version
                && id.is_some_and(|id| usable(id) || id.is_null())
                && (object.contains_key("result") != object.contains_key("error"))
                && object.get("error").is_none_or(|error| {
                    error.get("code").is_some_and(Value::is_i64)
                        && error.get("message").is_some_and(Value::is_string)
                });
            if response {
                (Expect::Nothing, false)
            } else {
                (Expect::MaybeError(id_text), false)
            }
        }
    }
}

/// Whatever meshls writes to the editor.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl AsyncWrite for Captured {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A response meshls wrote: its id (as JSON text), and its error code
/// when it is an error.
#[derive(Debug)]
struct Response {
    id: String,
    error: Option<i64>,
}

/// Whether `body` asks for a workspace: then servers would start, which a
/// fuzz target must not do.
fn names_a_workspace(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let params = value.get("params");
    ["rootUri", "rootPath", "workspaceFolders"]
        .iter()
        .any(|key| {
            params
                .and_then(|params| params.get(key))
                .is_some_and(|v| !v.is_null())
        })
}

/// Panics anywhere in the process: meshls catches a handler's panic (and
/// answers InternalError, or leaves its own code actions out), so counting
/// them is how a panic caught there is seen here.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// The input read as choices: flags (send `initialize` first, then
/// `initialized`; end with `shutdown` and `exit`; a broken frame at the
/// end), then up to 64 messages.
pub fn dispatch(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.byte();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    if flags % 8 != 0 {
        bodies.push(INITIALIZE.to_vec());
        if flags & 8 != 0 {
            bodies.push(br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#.to_vec());
        }
    }
    while !input.is_empty() && bodies.len() < 64 {
        let body = message(&mut input);
        if !names_a_workspace(&body) {
            bodies.push(body);
        }
    }
    if flags & 0x10 == 0 {
        bodies.push(br#"{"jsonrpc":"2.0","id":"end","method":"shutdown"}"#.to_vec());
        bodies.push(br#"{"jsonrpc":"2.0","method":"exit"}"#.to_vec());
    }
    let mut stream = Vec::new();
    for body in &bodies {
        stream.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        stream.extend_from_slice(body);
    }
    // A frame cut short, or a header that is no header: whatever meshls
    // makes of it, it is the end of the input.
    let tail: &[u8] = match flags >> 5 {
        1 => b"Content-Length: 40\r\n\r\n{\"jsonrpc\":",
        2 => b"Content-Length: x\r\n\r\n{}",
        3 => b"\r\n\r\n",
        _ => b"",
    };
    stream.extend_from_slice(tail);

    count_panics();
    let panics = PANICS.load(Ordering::SeqCst);
    let output = Captured::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let ending = runtime.block_on(async {
        let session = meshls::session(Box::new(output.clone()));
        tokio::time::timeout(
            Duration::from_secs(60),
            transport::serve(&stream[..], session),
        )
        .await
        .expect("the session ends once its input does")
    });
    drop(runtime);
    let written = std::mem::take(&mut *output.0.lock().unwrap_or_else(|p| p.into_inner()));

    let context = || {
        let sent: Vec<_> = bodies.iter().map(|b| String::from_utf8_lossy(b)).collect();
        format!(
            "sent {sent:#?} then {:?}\nwrote {}",
            String::from_utf8_lossy(tail),
            String::from_utf8_lossy(&written)
        )
    };
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        panics,
        "meshls panicked (the message is above)\n{}",
        context()
    );
    // Everything meshls wrote is a frame of JSON-RPC 2.0.
    let mut responses = Vec::new();
    for frame in crate::decode(&written, written.len().max(1)) {
        let meshls_proxy::framing::Frame::Message(body) = frame else {
            panic!("meshls wrote a malformed frame: {frame:?}\n{}", context());
        };
        let message: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|err| panic!("meshls wrote no JSON: {err}\n{}", context()));
        assert_eq!(message["jsonrpc"], "2.0", "{message}");
        if message.get("method").is_some() {
            continue;
        }
        let id = message
            .get("id")
            .unwrap_or_else(|| panic!("a response without an id: {message}\n{}", context()));
        let (result, error) = (message.get("result"), message.get("error"));
        assert!(
            result.is_some() != error.is_some(),
            "a response has a result or an error: {message}"
        );
        let error = error.map(|error| {
            assert!(error["message"].is_string(), "{message}");
            error["code"]
                .as_i64()
                .unwrap_or_else(|| panic!("an error code is an integer: {message}"))
        });
        // InternalError is what a handler that panicked answers.
        assert_ne!(error, Some(-32603), "{message}\n{}", context());
        responses.push(Response {
            id: id.to_string(),
            error,
        });
    }

    // What each message may get, up to the `exit` that ends the session.
    let mut expected: Vec<Expect> = Vec::new();
    for body in &bodies {
        let (expect, exit) = expect(body);
        expected.push(expect);
        if exit {
            break;
        }
    }
    let ended_by_exit =
        expected.len() < bodies.len() || bodies.last().is_some_and(|body| expect(body).1);
    if !ended_by_exit && !tail.is_empty() {
        // A bad header, then a cut frame: a parse error each, at most.
        expected.extend([Expect::MaybeError(None), Expect::MaybeError(None)]);
    }
    check_counts(&expected, &responses, &context);

    // A request whose id is its own, and which comes after a successful
    // `shutdown`, gets an error; the session ends cleanly exactly when a
    // `shutdown` succeeded.
    let count = |id: &str| {
        expected
            .iter()
            .filter(|e| matches!(e, Expect::Answer(k) | Expect::AnswerOrNull(k) | Expect::MaybeError(Some(k)) if k == id))
            .count()
    };
    let mut shut_down = false;
    let mut unsure = false;
    for (body, expect) in bodies.iter().zip(&expected) {
        let id = match expect {
            Expect::Answer(id) => id,
            // Whether a shutdown with a null id succeeded cannot be told
            // from the other answers with a null id.
            Expect::AnswerOrNull(_) => {
                unsure |= is_shutdown(body);
                continue;
            }
            _ => continue,
        };
        let got = responses.iter().find(|r| &r.id == id);
        if count(id) != 1 {
            unsure |= is_shutdown(body);
            continue;
        }
        let got = got.expect("checked above");
        if shut_down {
            assert!(
                got.error.is_some(),
                "a request after shutdown gets an error: {}\n{}",
                String::from_utf8_lossy(body),
                context()
            );
        } else if is_shutdown(body) && got.error.is_none() {
            shut_down = true;
        }
    }
    if !unsure {
        let clean = if shut_down {
            Ending::Clean
        } else {
            Ending::Abrupt
        };
        assert_eq!(ending, clean, "{}", context());
    }
}

fn is_shutdown(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|value| value["method"] == "shutdown")
}

/// Responses by id against what the messages may get.
fn check_counts(expected: &[Expect], responses: &[Response], context: &dyn Fn() -> String) {
    // Per id: exactly, at most more, and how many may answer with null
    // instead.
    #[derive(Default, Debug)]
    struct Bounds {
        exact: usize,
        or_null: usize,
        maybe: usize,
    }
    let mut bounds: BTreeMap<String, Bounds> = BTreeMap::new();
    let (mut parse_errors, mut maybe_null) = (0, 0);
    for expect in expected {
        match expect {
            Expect::Answer(id) => bounds.entry(id.clone()).or_default().exact += 1,
            Expect::AnswerOrNull(id) => bounds.entry(id.clone()).or_default().or_null += 1,
            Expect::MaybeError(Some(id)) => bounds.entry(id.clone()).or_default().maybe += 1,
            Expect::MaybeError(None) => maybe_null += 1,
            Expect::ParseError => parse_errors += 1,
            Expect::Nothing => {}
        }
    }
    let mut got: BTreeMap<&str, Vec<&Response>> = BTreeMap::new();
    for response in responses {
        got.entry(&response.id).or_default().push(response);
    }
    let nulls = got.remove("null").unwrap_or_default();
    let null_bounds = bounds.remove("null").unwrap_or_default();
    // Requests with a null id, or an unusable one not echoed, answer with
    // a null id.
    let (mut least_null, mut most_null) = (
        parse_errors + null_bounds.or_null,
        parse_errors + null_bounds.or_null + null_bounds.maybe + maybe_null,
    );
    for (id, bound) in &bounds {
        let answers = got.remove(id.as_str()).unwrap_or_default();
        let n = answers.len();
        assert!(
            n >= bound.exact && n <= bound.exact + bound.or_null + bound.maybe,
            "{n} responses with id {id}, expected {bound:?}\n{}",
            context()
        );
        if bound.exact + bound.or_null == 0 {
            for answer in &answers {
                assert_eq!(
                    answer.error,
                    Some(-32600),
                    "only an InvalidRequest error for a message that is no request: {answer:?}\n{}",
                    context()
                );
            }
        }
        let extra = n - bound.exact;
        least_null += bound.or_null.saturating_sub(extra);
        most_null += bound.or_null + bound.maybe - extra;
    }
    assert!(
        got.is_empty(),
        "responses to no message: {got:?}\n{}",
        context()
    );
    assert!(
        (least_null..=most_null).contains(&nulls.len()),
        "{} responses with a null id, expected {least_null} to {most_null}\n{}",
        nulls.len(),
        context()
    );
    if null_bounds.or_null == 0 {
        for answer in &nulls {
            assert!(
                matches!(answer.error, Some(-32700 | -32600)),
                "only parse errors and invalid requests have a null id: {answer:?}\n{}",
                context()
            );
        }
    }
}
