//! The providers' wire formats, as data: request bodies for one
//! conversation, and real-shaped streams read back whole however the bytes
//! are split, with the endings (cut off, errors, garbage) that happen.

use expect_test::expect;
use futures::executor::block_on;
use meshls_agent::{
    anthropic,
    model::*,
    openai,
    stream::{read_turn, Decoder},
    Error,
};
use serde_json::json;

const OPENAI_STREAM: &str = r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Let me look — "},"finish_reason":null}]}

: a comment, which servers send to keep the connection open

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"à 🙂."},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"read_file","arguments":""}}]},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\": \"src/"}}]},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"grep","arguments":"{\"pattern\""}}]},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"main.rs\"}"}}]},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":": \"fn main\"}"}}]},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":31,"total_tokens":151}}

data: [DONE]

"#;

const ANTHROPIC_STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":200,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look — "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"à 🙂."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_a","name":"read_file","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\": \"src/"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"main.rs\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_b","name":"grep","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"pattern\": \"fn main\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":31}}

event: message_stop
data: {"type":"message_stop"}

"#;

/// Both streams say the same thing.
fn expected(input_tokens: u64) -> Turn {
    Turn {
        text: "Let me look — à 🙂.".to_owned(),
        tool_calls: vec![
            ToolCall {
                id: "call_a".to_owned(),
                name: "read_file".to_owned(),
                arguments: r#"{"path": "src/main.rs"}"#.to_owned(),
            },
            ToolCall {
                id: "call_b".to_owned(),
                name: "grep".to_owned(),
                arguments: r#"{"pattern": "fn main"}"#.to_owned(),
            },
        ],
        stop: StopReason::ToolUse,
        usage: Usage {
            input_tokens,
            output_tokens: 31,
        },
    }
}

/// Reads `wire` delivered in the given pieces; returns the turn and the
/// progress reported on the way.
fn read<D: Decoder>(pieces: Vec<Vec<u8>>, decoder: D) -> (Result<Turn, Error>, Vec<Delta>) {
    let mut progress = Vec::new();
    let body = futures::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
    let turn = block_on(read_turn(body, decoder, |delta| progress.push(delta)));
    (turn, progress)
}

/// `wire` cut into pieces of `size` bytes, splitting UTF-8 characters and
/// lines anywhere.
fn pieces(wire: &[u8], size: usize) -> Vec<Vec<u8>> {
    wire.chunks(size).map(<[u8]>::to_vec).collect()
}

fn check_every_split<D: Decoder + Default>(wire: &str, expected: &Turn) {
    for wire in [
        wire.to_owned(),
        wire.replace('\n', "\r\n"),
        wire.replace('\n', "\r"),
    ] {
        let bytes = wire.as_bytes();
        let (whole, progress) = read(vec![bytes.to_vec()], D::default());
        assert_eq!(whole.as_ref(), Ok(expected));
        let text: String = progress
            .iter()
            .filter_map(|delta| match delta {
                Delta::Text(text) => Some(text.as_str()),
                Delta::ToolCall { .. } => None,
            })
            .collect();
        assert_eq!(text, expected.text, "text is reported as it comes");
        assert!(progress.contains(&Delta::ToolCall {
            name: "grep".to_owned()
        }));
        for size in 1..=7 {
            assert_eq!(
                read(pieces(bytes, size), D::default()).0.as_ref(),
                Ok(expected),
                "pieces of {size}"
            );
        }
        for at in 0..bytes.len() {
            let split = vec![bytes[..at].to_vec(), bytes[at..].to_vec()];
            assert_eq!(
                read(split, D::default()).0.as_ref(),
                Ok(expected),
                "split at {at}"
            );
        }
    }
}

#[test]
fn an_openai_stream_reads_the_same_however_it_is_split() {
    check_every_split::<openai::ChunkDecoder>(OPENAI_STREAM, &expected(120));
}

#[test]
fn an_anthropic_stream_reads_the_same_however_it_is_split() {
    check_every_split::<anthropic::EventDecoder>(ANTHROPIC_STREAM, &expected(200));
}

/// Every prefix of `wire` that ends between events, short of the end.
fn cut_offs(wire: &str) -> Vec<&str> {
    let mut cuts: Vec<&str> = wire
        .match_indices("\n\n")
        .map(|(at, _)| &wire[..at + 2])
        .collect();
    cuts.pop();
    cuts.insert(0, "");
    cuts
}

#[test]
fn a_stream_cut_off_before_its_end_is_an_error_not_a_short_answer() {
    for cut in cut_offs(OPENAI_STREAM) {
        // The finish reason comes two events before the end; an answer
        // with one is whole even without `[DONE]` (llama.cpp ends so).
        let whole = cut.contains("finish_reason\":\"tool_calls");
        let (turn, _) = read(
            vec![cut.as_bytes().to_vec()],
            openai::ChunkDecoder::default(),
        );
        assert_eq!(turn.is_ok(), whole, "{cut}");
        if !whole {
            assert!(matches!(turn, Err(Error::CutOff { .. })), "{turn:?}");
        }
    }
    for cut in cut_offs(ANTHROPIC_STREAM) {
        let (turn, _) = read(
            vec![cut.as_bytes().to_vec()],
            anthropic::EventDecoder::default(),
        );
        assert!(matches!(turn, Err(Error::CutOff { .. })), "{cut}: {turn:?}");
    }
    // A dropped connection mid-stream.
    let body = futures::stream::iter([
        Ok(OPENAI_STREAM.as_bytes()[..400].to_vec()),
        Err(std::io::Error::other("connection reset by peer")),
    ]);
    let turn = block_on(read_turn(body, openai::ChunkDecoder::default(), |_| {}));
    assert_eq!(
        turn.unwrap_err().to_string(),
        "the OpenAI-compatible endpoint stopped answering midway (connection reset by peer); try again"
    );
}

#[test]
fn errors_and_garbage_in_a_stream_say_what_happened() {
    let overloaded = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5}}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let (turn, _) = read(
        vec![overloaded.as_bytes().to_vec()],
        anthropic::EventDecoder::default(),
    );
    assert_eq!(
        turn.unwrap_err().to_string(),
        "Anthropic reported an error (overloaded_error): Overloaded"
    );
    let openai_error = "data: {\"error\":{\"message\":\"model not found\",\"type\":\"invalid_request_error\",\"code\":null}}\n\n";
    let (turn, _) = read(
        vec![openai_error.as_bytes().to_vec()],
        openai::ChunkDecoder::default(),
    );
    assert_eq!(
        turn.unwrap_err().to_string(),
        "the OpenAI-compatible endpoint reported an error (invalid_request_error): model not found"
    );
    let garbage = "data: {\"choices\": [\n\n";
    let (turn, _) = read(
        vec![garbage.as_bytes().to_vec()],
        openai::ChunkDecoder::default(),
    );
    let message = turn.unwrap_err().to_string();
    assert!(
        message.starts_with("the OpenAI-compatible endpoint sent an answer meshls cannot read: a chunk that is not JSON")
            && message.ends_with("check that base_url points at the right API"),
        "{message}"
    );
    let html = "<html><body>Bad gateway</body></html>";
    let (turn, _) = read(
        vec![html.as_bytes().to_vec()],
        anthropic::EventDecoder::default(),
    );
    assert!(
        matches!(turn, Err(Error::CutOff { .. } | Error::Malformed { .. })),
        "{turn:?}"
    );
}

fn conversation() -> ModelRequest {
    ModelRequest {
        model: "m".to_owned(),
        system: "You edit code.".to_owned(),
        messages: vec![
            Message::User("Fix main.".to_owned()),
            Message::Assistant {
                text: "Looking.".to_owned(),
                tool_calls: vec![
                    ToolCall {
                        id: "call_a".to_owned(),
                        name: "read_file".to_owned(),
                        arguments: r#"{"path":"src/main.rs"}"#.to_owned(),
                    },
                    ToolCall {
                        id: "call_b".to_owned(),
                        name: "grep".to_owned(),
                        arguments: "{not json".to_owned(),
                    },
                ],
            },
            Message::ToolResult {
                call_id: "call_a".to_owned(),
                content: "1\tfn main() {}".to_owned(),
                is_error: false,
            },
            Message::ToolResult {
                call_id: "call_b".to_owned(),
                content: "the arguments are not JSON".to_owned(),
                is_error: true,
            },
        ],
        tools: vec![ToolSpec {
            name: "read_file".to_owned(),
            description: "Reads a file.".to_owned(),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        }],
        max_tokens: 1024,
    }
}

#[test]
fn openai_request_body() {
    let body = serde_json::to_string_pretty(&openai::request_body(&conversation())).unwrap();
    expect![[r#"
        {
          "max_tokens": 1024,
          "messages": [
            {
              "content": "You edit code.",
              "role": "system"
            },
            {
              "content": "Fix main.",
              "role": "user"
            },
            {
              "content": "Looking.",
              "role": "assistant",
              "tool_calls": [
                {
                  "function": {
                    "arguments": "{\"path\":\"src/main.rs\"}",
                    "name": "read_file"
                  },
                  "id": "call_a",
                  "type": "function"
                },
                {
                  "function": {
                    "arguments": "{not json",
                    "name": "grep"
                  },
                  "id": "call_b",
                  "type": "function"
                }
              ]
            },
            {
              "content": "1\tfn main() {}",
              "role": "tool",
              "tool_call_id": "call_a"
            },
            {
              "content": "the arguments are not JSON",
              "role": "tool",
              "tool_call_id": "call_b"
            }
          ],
          "model": "m",
          "stream": true,
          "stream_options": {
            "include_usage": true
          },
          "tools": [
            {
              "function": {
                "description": "Reads a file.",
                "name": "read_file",
                "parameters": {
                  "properties": {
                    "path": {
                      "type": "string"
                    }
                  },
                  "required": [
                    "path"
                  ],
                  "type": "object"
                }
              },
              "type": "function"
            }
          ]
        }"#]]
    .assert_eq(&body);
}

#[test]
fn anthropic_request_body_alternates_roles_and_gathers_tool_results() {
    let body = serde_json::to_string_pretty(&anthropic::request_body(&conversation())).unwrap();
    expect![[r#"
        {
          "max_tokens": 1024,
          "messages": [
            {
              "content": [
                {
                  "text": "Fix main.",
                  "type": "text"
                }
              ],
              "role": "user"
            },
            {
              "content": [
                {
                  "text": "Looking.",
                  "type": "text"
                },
                {
                  "id": "call_a",
                  "input": {
                    "path": "src/main.rs"
                  },
                  "name": "read_file",
                  "type": "tool_use"
                },
                {
                  "id": "call_b",
                  "input": {},
                  "name": "grep",
                  "type": "tool_use"
                }
              ],
              "role": "assistant"
            },
            {
              "content": [
                {
                  "content": "1\tfn main() {}",
                  "is_error": false,
                  "tool_use_id": "call_a",
                  "type": "tool_result"
                },
                {
                  "content": "the arguments are not JSON",
                  "is_error": true,
                  "tool_use_id": "call_b",
                  "type": "tool_result"
                }
              ],
              "role": "user"
            }
          ],
          "model": "m",
          "stream": true,
          "system": "You edit code.",
          "tools": [
            {
              "description": "Reads a file.",
              "input_schema": {
                "properties": {
                  "path": {
                    "type": "string"
                  }
                },
                "required": [
                  "path"
                ],
                "type": "object"
              },
              "name": "read_file"
            }
          ]
        }"#]]
    .assert_eq(&body);
}
