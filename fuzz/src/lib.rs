//! Fuzz targets for the parsers meshls puts between itself and the outside:
//! the `Content-Length` framing (editor and servers), JSON-RPC messages,
//! and the model's server-sent events; for its copy of each document, kept
//! by incremental edits in LSP positions; for its configuration layers and
//! files; for the agent's `edit_file` matching; and for a whole session's
//! dispatch of the editor's messages. Each target takes any bytes and
//! panics when an invariant breaks, so a fuzzer (or [`run_bounded`]) finds
//! inputs that break one.
//!
//! Two ways to run them: `cargo +nightly fuzz run <name>` (libFuzzer, in
//! `fuzz/`, for as long as you like), and the test command's short bounded
//! run on stable: every file of `fuzz/corpus/<name>/`, then a fixed number
//! of inputs mutated from them (`tests/bounded.rs`).

mod config;
mod dispatch;
mod edit_file;
pub mod edits;
mod mutate;
mod toml;

use std::path::PathBuf;

use bytes::BytesMut;
use meshls_agent::sse;
use meshls_proxy::{
    framing::{Frame, LspCodec, MAX_MESSAGE_LEN},
    jsonrpc::Message,
};
use serde_json::Value;
use tokio_util::codec::{Decoder, Encoder};

pub use config::config;
pub use dispatch::dispatch;
pub use edit_file::edit_file;
pub use edits::edits;
pub use mutate::{run_bounded, Failure};
pub use toml::toml;

/// A fuzz target: any bytes in; a panic means an invariant broke.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("framing", framing),
    ("jsonrpc", jsonrpc),
    ("sse", sse),
    ("edits", edits),
    ("config", config),
    ("edit_file", edit_file),
    ("dispatch", dispatch),
    ("toml", toml),
];

/// Reads a target's input a byte at a time, as choices; zeros once it is
/// used up, so every input means something.
pub(crate) struct Input<'a>(pub(crate) &'a [u8]);

impl Input<'_> {
    pub(crate) fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((first, rest)) => {
                self.0 = rest;
                *first
            }
            None => 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One of `items`.
    pub(crate) fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[usize::from(self.byte()) % items.len()]
    }

    /// Up to `most` of `pieces`, joined.
    pub(crate) fn text(&mut self, pieces: &[&str], most: u8) -> String {
        let len = self.byte() % (most + 1);
        (0..len).map(|_| *self.pick(pieces)).collect()
    }
}

thread_local! {
    /// A directory of this thread's own, removed when the thread ends.
    static SCRATCH: Option<tempfile::TempDir> = tempfile::tempdir().ok();
}

/// `name` in a directory of this thread's own (a canonical path, made
/// once), for targets that need files or a workspace root on disk.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = SCRATCH.with(|dir| {
        let dir = dir
            .as_ref()
            .expect("a temporary directory for the fuzz targets");
        dir.path()
            .canonicalize()
            .expect("the temporary directory exists")
    });
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).expect("a directory in the temporary directory");
    dir
}

/// Where `data` is split into pieces: its first byte gives the piece size
/// (1 to 64), so the fuzzer explores chunk boundaries along with content.
fn pieces(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (usize::from(first % 64) + 1, rest),
        None => (1, data),
    }
}

/// Decodes `input` fed `piece` bytes at a time, then its end.
fn decode(input: &[u8], piece: usize) -> Vec<Frame> {
    let mut codec = LspCodec::default();
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in input.chunks(piece.max(1)) {
        buffer.extend_from_slice(chunk);
        while let Some(frame) = codec.decode(&mut buffer).expect("the decoder never fails") {
            frames.push(frame);
        }
    }
    while let Some(frame) = codec
        .decode_eof(&mut buffer)
        .expect("the decoder never fails")
    {
        frames.push(frame);
    }
    frames
}

/// The framing decoder, on any bytes: it ends, never yields a message over
/// the limit; and on well-formed frames (the input cut at 0xFF into
/// bodies, each framed by the encoder), any chunking gives back exactly
/// the bodies.
pub fn framing(data: &[u8]) {
    let (piece, rest) = pieces(data);
    for frame in decode(rest, piece) {
        if let Frame::Message(body) = frame {
            assert!(body.len() <= MAX_MESSAGE_LEN);
        }
    }

    let bodies: Vec<&[u8]> = rest.split(|&b| b == 0xFF).collect();
    let mut framed = BytesMut::new();
    let mut codec = LspCodec::default();
    for body in &bodies {
        codec
            .encode(body, &mut framed)
            .expect("encoding never fails");
    }
    let expected: Vec<Frame> = bodies
        .iter()
        .map(|body| Frame::Message(bytes::Bytes::copy_from_slice(body)))
        .collect();
    assert_eq!(
        decode(&framed, piece),
        expected,
        "framed bodies in pieces of {piece}"
    );
    assert_eq!(
        decode(&framed, framed.len()),
        expected,
        "framed bodies at once"
    );
}

/// JSON-RPC parsing agrees with a plain JSON parse: what is not JSON text
/// (UTF-8, and the JSON grammar) is refused; an object with a string
/// `method` is a request (with an id) or a notification of that method;
/// one with a `result` and a usable id is a response to that id.
pub fn jsonrpc(data: &[u8]) {
    let parsed = Message::parse(data);
    let json = std::str::from_utf8(data).is_ok()
        && serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok();
    if !json {
        assert!(parsed.is_err(), "not JSON, yet parsed: {parsed:?}");
        return;
    }
    let Ok(message) = parsed else { return };
    // A lone surrogate (`"\udc00"`) is JSON, but no Unicode string.
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let object = value.as_object().expect("a message is a JSON object");
    let id = object.get("id").filter(|id| !id.is_null());
    match message {
        Message::Request {
            id: parsed, method, ..
        } => {
            assert_eq!(object.get("method"), Some(&Value::String(method)));
            let parsed = serde_json::to_value(parsed).expect("an id serialises");
            assert_eq!(Some(&parsed), id);
        }
        Message::Notification { method, .. } => {
            assert_eq!(object.get("method"), Some(&Value::String(method)));
            assert_eq!(id, None);
        }
        Message::Response { id: parsed, result } => {
            assert!(!object.get("method").is_some_and(Value::is_string));
            let parsed = parsed.map(|id| serde_json::to_value(id).expect("an id serialises"));
            assert_eq!(parsed.as_ref(), id);
            if let Ok(raw) = result {
                let result: Value = serde_json::from_str(raw.get()).expect("raw results are JSON");
                assert_eq!(Some(&result), object.get("result"));
            }
        }
    }
}

/// Server-sent events: the same events, and the same error, whatever the
/// chunk boundaries (a CR and its LF may arrive apart).
pub fn sse(data: &[u8]) {
    let (piece, rest) = pieces(data);
    let parse = |piece: usize| {
        let mut parser = sse::Parser::default();
        let mut events = Vec::new();
        let mut result = Ok(());
        for chunk in rest.chunks(piece.max(1)) {
            result = parser.feed(chunk, &mut events);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = parser.finish(&mut events);
        }
        (events, result)
    };
    let whole = parse(rest.len());
    assert_eq!(parse(piece), whole, "in pieces of {piece}");
}
