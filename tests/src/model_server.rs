//! A scripted model server: a real HTTP/1.1 server on 127.0.0.1 that
//! answers each request with the next scripted reply, and records what it
//! received. Replies speak the providers' wire formats (see
//! [`openai_sse`] and [`anthropic_sse`]) and can misbehave the ways real
//! endpoints do: error statuses with `Retry-After`, streams sent in pieces
//! at arbitrary byte boundaries, a stall, a connection cut mid-stream.
//!
//! Plain threads, like the rest of this crate: a test reads top to bottom.

use std::{
    collections::VecDeque,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{Arc, Mutex, MutexGuard},
    thread,
    time::Duration,
};

use serde_json::{json, Value};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Received {
    /// What the model was told of each tool call in this request, in
    /// order: `(call id, content)`.
    pub fn tool_results(&self) -> Vec<(String, String)> {
        let messages = self.body["messages"].as_array().into_iter().flatten();
        messages
            .filter(|message| message["role"] == "tool")
            .map(|message| {
                let text = |key: &str| message[key].as_str().unwrap_or_default().to_owned();
                (text("tool_call_id"), text("content"))
            })
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// How a reply's body ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// The body is complete and the connection closes.
    Complete,
    /// The connection is dropped in the middle of a chunk of a chunked
    /// body: a transport error for the client.
    Cut,
    /// Nothing more is sent for this long, then the connection closes.
    Stall(Duration),
}

/// One scripted reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Written one at a time, with `pause` between them.
    pub pieces: Vec<Vec<u8>>,
    pub pause: Duration,
    pub ending: Ending,
    /// Nothing is sent until this opens.
    pub gate: Option<Gate>,
}

/// Holds a reply back until the test opens it: for what must happen while
/// the model "thinks".
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    pub fn open(&self) {
        *lock(&self.0 .0) = true;
        self.0 .1.notify_all();
    }

    fn wait(&self) {
        let mut open = lock(&self.0 .0);
        while !*open {
            open = self.0 .1.wait(open).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Reply {
    /// This reply, held back until `gate` opens.
    pub fn after(mut self, gate: &Gate) -> Reply {
        self.gate = Some(gate.clone());
        self
    }

    /// A 200 event stream, sent in pieces of `piece` bytes.
    pub fn sse(wire: &str, piece: usize) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            pieces: wire
                .as_bytes()
                .chunks(piece.max(1))
                .map(<[u8]>::to_vec)
                .collect(),
            pause: Duration::ZERO,
            ending: Ending::Complete,
            gate: None,
        }
    }

    /// A status with a JSON body, such as an error.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            pieces: vec![body.to_string().into_bytes()],
            pause: Duration::ZERO,
            ending: Ending::Complete,
            gate: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends only the first `bytes` of the body, then drops the connection.
    pub fn cut_after(mut self, bytes: usize) -> Reply {
        let mut body: Vec<u8> = self.pieces.concat();
        body.truncate(bytes);
        self.pieces = vec![body];
        self.ending = Ending::Cut;
        self
    }

    /// Sends only the first `bytes` of the body, then nothing more for
    /// `duration`.
    pub fn stall_after(mut self, bytes: usize, duration: Duration) -> Reply {
        let mut body: Vec<u8> = self.pieces.concat();
        body.truncate(bytes);
        self.pieces = vec![body];
        self.ending = Ending::Stall(duration);
        self
    }

    /// Sends the headers and nothing more for `duration`.
    pub fn stall(status: u16, duration: Duration) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            pieces: Vec::new(),
            pause: Duration::ZERO,
            ending: Ending::Stall(duration),
            gate: None,
        }
    }
}

pub struct ModelServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
    /// Replies go round: each used one goes back to the end (benchmarks).
    cycle: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ModelServer {
    /// Starts a server that gives `replies` in order; a request with none
    /// left gets a 500 saying so.
    pub fn start(replies: Vec<Reply>) -> ModelServer {
        ModelServer::serve(replies, false)
    }

    /// Starts a server that gives `replies` in order, round and round, and
    /// keeps no record of requests.
    pub fn cycling(replies: Vec<Reply>) -> ModelServer {
        ModelServer::serve(replies, true)
    }

    fn serve(replies: Vec<Reply>, cycle: bool) -> ModelServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("a bound address");
        let shared = Arc::new(Shared {
            replies: Mutex::new(replies.into()),
            received: Mutex::default(),
            cycle,
        });
        let serving = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&serving);
                thread::spawn(move || serve(stream, &shared));
            }
        });
        ModelServer { addr, shared }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// Scripted replies not used yet.
    pub fn replies_left(&self) -> usize {
        lock(&self.shared.replies).len()
    }
}

fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(received) = read_request(&stream) else {
        return;
    };
    if !shared.cycle {
        lock(&shared.received).push(received);
    }
    let reply = {
        let mut replies = lock(&shared.replies);
        let reply = replies.pop_front();
        if let (true, Some(reply)) = (shared.cycle, &reply) {
            replies.push_back(reply.clone());
        }
        reply
    };
    let reply = reply.unwrap_or_else(|| {
        Reply::json(500, json!({"error": {"message": "the scripted model server has no reply left", "type": "test_error"}}))
    });
    let _ = write_reply(stream, reply);
}

fn read_request(stream: &TcpStream) -> std::io::Result<Received> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Received {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

fn write_reply(mut stream: TcpStream, reply: Reply) -> std::io::Result<()> {
    if let Some(gate) = &reply.gate {
        gate.wait();
    }
    let chunked = reply.ending == Ending::Cut;
    let mut head = format!(
        "HTTP/1.1 {} Scripted\r\nconnection: close\r\n",
        reply.status
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if chunked {
        head.push_str("transfer-encoding: chunked\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.flush()?;
    for piece in &reply.pieces {
        if chunked {
            // A chunk that announces one byte more than it brings: the
            // connection then drops inside it.
            stream.write_all(format!("{:x}\r\n", piece.len() + 1).as_bytes())?;
            stream.write_all(piece)?;
        } else {
            stream.write_all(piece)?;
        }
        stream.flush()?;
        thread::sleep(reply.pause);
    }
    if let Ending::Stall(duration) = reply.ending {
        thread::sleep(duration);
    }
    // Dropping the stream closes the connection: the end of a body sent
    // with `connection: close`, or a cut inside a chunk.
    Ok(())
}

/// An OpenAI-compatible base URL (`http://127.0.0.1:PORT/v1`) that nothing
/// listens on: a port that was just free, bound and then released.
pub fn unused_base_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1")
        .local_addr()
        .expect("a bound address")
        .port();
    format!("http://127.0.0.1:{port}/v1")
}

/// The model's turn that calls one tool, as an OpenAI stream in pieces of
/// 64 bytes, using 100 tokens in and 10 out.
pub fn tool_call(id: &str, name: &str, arguments: Value) -> Reply {
    Reply::sse(
        &openai_sse("", &[(id, name, &arguments.to_string())], (100, 10)),
        64,
    )
}

/// The model's last turn: `text` alone, as [`tool_call`] sends it.
pub fn text_answer(text: &str) -> Reply {
    Reply::sse(&openai_sse(text, &[], (100, 10)), 64)
}

/// An OpenAI chat completions stream that says `text` in small pieces, then
/// calls `calls` (`(id, name, arguments)`, the arguments in fragments),
/// with usage in the last chunk and `[DONE]`.
pub fn openai_sse(text: &str, calls: &[(&str, &str, &str)], usage: (u64, u64)) -> String {
    let chunk = |delta: Value, finish: Value| {
        let chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "scripted",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {chunk}\n\n")
    };
    let mut wire = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    for piece in pieces_of(text, 7) {
        wire.push_str(&chunk(json!({"content": piece}), Value::Null));
    }
    for (index, (id, name, arguments)) in calls.iter().enumerate() {
        wire.push_str(&chunk(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
            Value::Null,
        ));
        for piece in pieces_of(arguments, 5) {
            wire.push_str(&chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                Value::Null,
            ));
        }
    }
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    wire.push_str(&chunk(json!({}), json!(finish)));
    let usage = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "scripted", "choices": [],
        "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1}});
    wire.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    wire
}

/// The same as [`openai_sse`] in the Anthropic Messages API's events.
pub fn anthropic_sse(text: &str, calls: &[(&str, &str, &str)], usage: (u64, u64)) -> String {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut wire = event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
            "model": "scripted", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": usage.0, "output_tokens": 1}}}),
    );
    let mut index = 0;
    if !text.is_empty() {
        wire.push_str(&event("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
        wire.push_str(&event("ping", json!({"type": "ping"})));
        for piece in pieces_of(text, 7) {
            wire.push_str(&event("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})));
        }
        wire.push_str(&event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        index = 1;
    }
    for (id, name, arguments) in calls {
        wire.push_str(&event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        ));
        for piece in pieces_of(arguments, 5) {
            wire.push_str(&event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        wire.push_str(&event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    let stop = if calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    wire.push_str(&event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": usage.1}})));
    wire.push_str(&event("message_stop", json!({"type": "message_stop"})));
    wire
}

/// `text` in pieces of at most `size` characters.
fn pieces_of(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size)
        .map(|piece| piece.iter().collect())
        .collect()
}
