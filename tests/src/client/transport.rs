//! The bytes on the wire: LSP frames written to meshls's stdin, and the
//! thread that reads its stdout strictly, answers the server's requests at
//! once and reports anything that is not a frame.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, ChildStdout};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::lock;
use crate::editor::{answer, EditorSide};

/// How much of a protocol violation is shown: enough to recognise a stray log line.
const VIOLATION_BYTES: usize = 200;
/// A larger frame is certainly a broken header, and allocating it could abort the test.
const MAX_FRAME: usize = 256 << 20;

pub(super) type SharedStdin = Arc<Mutex<Option<ChildStdin>>>;

/// What the stdout reader tells the test thread.
pub(super) enum Event {
    Message(Value),
    /// Details are in `Server::violation`; the event only wakes a waiting test.
    Violation,
    Closed,
}

/// What meshls wrote to stdout that is not an LSP frame, and why not.
pub(super) struct Violation {
    pub(super) bytes: Vec<u8>,
    pub(super) reason: String,
}

/// The LSP frame of a message's text.
pub(super) fn frame(body: &str) -> Vec<u8> {
    let mut bytes = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// Writes under the lock, so frames from the test and from automatic replies never interleave.
pub(super) fn write_all(stdin: &SharedStdin, bytes: &[u8]) -> io::Result<()> {
    let mut stdin = lock(stdin);
    let stdin = stdin
        .as_mut()
        .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "stdin was closed"))?;
    stdin.write_all(bytes)?;
    stdin.flush()
}

/// The stdout reader thread: parses frames, answers server requests and reports violations.
pub(super) fn read_stdout(
    stdout: ChildStdout,
    stdin: &SharedStdin,
    violation: &Mutex<Option<Violation>>,
    events: &Sender<Event>,
    editor: &Mutex<EditorSide>,
) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut seen = Vec::new();
        match read_frame(&mut reader, &mut seen) {
            Ok(Some(message)) => {
                // Answering here rather than in the test thread means the server is never
                // left waiting just because the test is busy doing something else.
                if message.get("id").is_some() && message.get("method").is_some() {
                    let (notes, reply) = answer(&message, &mut lock(editor));
                    // The server may already be gone, and then nobody needs the answer.
                    for note in notes {
                        let _ = write_all(stdin, &frame(&note.to_string()));
                    }
                    if let Some(reply) = reply {
                        let _ = write_all(stdin, &frame(&reply.to_string()));
                    }
                }
                if events.send(Event::Message(message)).is_err() {
                    return;
                }
            }
            Ok(None) => break,
            Err(reason) => {
                // What is already buffered usually completes the offending line, so show it too.
                let buffered = reader.buffer().len();
                seen.extend_from_slice(reader.buffer());
                reader.consume(buffered);
                seen.truncate(VIOLATION_BYTES);
                *lock(violation) = Some(Violation {
                    bytes: seen,
                    reason,
                });
                let _ = events.send(Event::Violation);
                // Keep what follows for the panic message, and keep draining so the server never blocks.
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = reader.read(&mut buf) {
                    if let Some(v) = lock(violation).as_mut() {
                        let room = VIOLATION_BYTES.saturating_sub(v.bytes.len());
                        v.bytes.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
                break;
            }
        }
    }
    let _ = events.send(Event::Closed);
}

/// Reads one byte, recording it; a read error counts as the end of the stream.
fn next_byte(reader: &mut impl BufRead, seen: &mut Vec<u8>) -> Option<u8> {
    let byte = *reader.fill_buf().ok()?.first()?;
    reader.consume(1);
    seen.push(byte);
    Some(byte)
}

/// Whether `line` can still become a header we accept; checked per byte so that a stray
/// log line is reported at once instead of waiting for a `\r\n` that may never come.
fn header_prefix_ok(line: &[u8]) -> bool {
    fn viable(line: &[u8], name: &[u8], value_byte: fn(&u8) -> bool) -> bool {
        match line.strip_prefix(name) {
            Some(value) => value.iter().all(value_byte),
            None => name.starts_with(line),
        }
    }
    line.len() <= 256
        && (viable(line, b"Content-Length: ", u8::is_ascii_digit)
            || viable(line, b"Content-Type: ", |b| (b' '..=b'~').contains(b)))
}

/// Reads one frame strictly; `Ok(None)` is a clean end of stream between frames.
fn read_frame(reader: &mut impl BufRead, seen: &mut Vec<u8>) -> Result<Option<Value>, String> {
    let mut length = None;
    loop {
        let mut line = Vec::new();
        loop {
            let Some(byte) = next_byte(reader, seen) else {
                return match seen.is_empty() {
                    true => Ok(None),
                    false => Err("stdout ended in the middle of a frame".into()),
                };
            };
            if byte == b'\r' {
                break;
            }
            line.push(byte);
            if !header_prefix_ok(&line) {
                return Err("not an LSP header".into());
            }
        }
        if next_byte(reader, seen) != Some(b'\n') {
            return Err("header line not ended by \\r\\n".into());
        }
        if line.is_empty() {
            break;
        }
        if let Some(digits) = line.strip_prefix(b"Content-Length: ") {
            let value = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<usize>().ok());
            match (length, value) {
                (None, Some(n)) if n <= MAX_FRAME => length = Some(n),
                (Some(_), _) => return Err("two Content-Length headers".into()),
                _ => return Err("bad Content-Length".into()),
            }
        } else if !line.starts_with(b"Content-Type: ") {
            return Err("incomplete header".into());
        }
    }
    let length = length.ok_or("frame without Content-Length")?;
    let mut body = Vec::with_capacity(length);
    let read = reader.take(length as u64).read_to_end(&mut body);
    seen.extend_from_slice(&body[..body.len().min(VIOLATION_BYTES)]);
    if read.is_err() || body.len() < length {
        return Err("stdout ended in the middle of a frame".into());
    }
    let message: Value =
        serde_json::from_slice(&body).map_err(|e| format!("body is not JSON: {e}"))?;
    let is_message = message["jsonrpc"] == "2.0"
        && (message.get("id").is_some() || message.get("method").is_some());
    if !is_message {
        return Err("body is not a JSON-RPC 2.0 message".into());
    }
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_parsed_strictly() {
        let parse = |bytes: &[u8]| read_frame(&mut &bytes[..], &mut Vec::new());
        let body = r#"{"jsonrpc":"2.0","method":"x"}"#;
        let good = format!(
            "Content-Length: {}\r\nContent-Type: a/b\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(parse(good.as_bytes()).unwrap().unwrap()["method"], "x");
        assert_eq!(parse(b""), Ok(None));
        assert!(parse(b"hello\n").is_err());
        assert!(parse(b"Content-Length: 2\n\n{}").is_err());
        assert!(parse(b"Content-Length: 3\r\n\r\nnah").is_err());
        assert!(parse(b"Content-Length: 9\r\n\r\n{}").is_err());
        assert!(parse(b"\r\n").is_err());
    }
}
