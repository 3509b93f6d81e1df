//! The Anthropic Messages API wire format: the request body, and the
//! decoder of its streamed events (`message_start`, content blocks and
//! their deltas, `message_delta`, `message_stop`, `error`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::{
    model::{Delta, Message, ModelRequest, StopReason, ToolCall, Turn, Usage},
    stream::{count, Decoder},
    Error, Result,
};

pub const PROVIDER: &str = "Anthropic";

/// The API version meshls speaks, sent as `anthropic-version`.
pub const API_VERSION: &str = "2023-06-01";

/// The body of `POST {base_url}/v1/messages`, streamed.
pub fn request_body(request: &ModelRequest) -> Value {
    // Roles must alternate, and every tool result of one assistant turn
    // goes in the one user message after it: consecutive user-side
    // content is merged.
    let mut messages: Vec<Value> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message {
            Message::User(text) => ("user", vec![json!({"type": "text", "text": text})]),
            Message::Assistant { text, tool_calls } => {
                let mut blocks = Vec::new();
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                for call in tool_calls {
                    // The model's own arguments, which were checked before
                    // the call ran; unreadable ones were refused and go
                    // back as an empty object.
                    let input = serde_json::from_str::<Value>(&call.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
                }
                ("assistant", blocks)
            }
            Message::ToolResult {
                call_id,
                content,
                is_error,
            } => (
                "user",
                vec![
                    json!({"type": "tool_result", "tool_use_id": call_id, "content": content, "is_error": is_error}),
                ],
            ),
        };
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(content) = last["content"].as_array_mut() {
                    content.extend(blocks);
                }
            }
            _ => messages.push(json!({"role": role, "content": blocks})),
        }
    }
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": messages,
        "stream": true,
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.parameters,
                })
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    body
}

/// Assembles a turn from the Messages API's events.
#[derive(Debug, Default)]
pub struct EventDecoder {
    text: String,
    blocks: BTreeMap<u64, Block>,
    stop: Option<StopReason>,
    usage: Usage,
    done: bool,
}

#[derive(Debug)]
enum Block {
    Text,
    Tool {
        id: String,
        name: String,
        /// `input_json_delta` fragments, in order.
        json: String,
        /// The input the block started with, used when no fragment came.
        initial: Value,
    },
    /// Thinking and block types meshls does not use.
    Other,
}

impl Decoder for EventDecoder {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn event(&mut self, name: &str, data: &str) -> Result<Vec<Delta>> {
        let event: Value = serde_json::from_str(data).map_err(|err| Error::Malformed {
            provider: PROVIDER,
            reason: format!("a `{name}` event whose data is not JSON ({err})"),
        })?;
        let kind = event.get("type").and_then(Value::as_str).unwrap_or(name);
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        let mut deltas = Vec::new();
        match kind {
            "message_start" => {
                let usage = event.pointer("/message/usage").unwrap_or(&Value::Null);
                self.usage.input_tokens = count(usage, "input_tokens");
                self.usage.output_tokens = count(usage, "output_tokens");
            }
            "content_block_start" => {
                let block = event.get("content_block").unwrap_or(&Value::Null);
                let block = match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                        if !text.is_empty() {
                            self.text.push_str(text);
                            deltas.push(Delta::Text(text.to_owned()));
                        }
                        Block::Text
                    }
                    Some("tool_use") => {
                        let field = |name: &str| {
                            block
                                .get(name)
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_owned()
                        };
                        let name = field("name");
                        deltas.push(Delta::ToolCall { name: name.clone() });
                        Block::Tool {
                            id: field("id"),
                            name,
                            json: String::new(),
                            initial: block.get("input").cloned().unwrap_or_else(|| json!({})),
                        }
                    }
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                let delta = event.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = delta.get("text").and_then(Value::as_str).unwrap_or("");
                        if !text.is_empty() {
                            self.text.push_str(text);
                            deltas.push(Delta::Text(text.to_owned()));
                        }
                    }
                    Some("input_json_delta") => {
                        let part = delta
                            .get("partial_json")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        match self.blocks.get_mut(&index) {
                            Some(Block::Tool { json, .. }) => json.push_str(part),
                            _ => {
                                return Err(Error::Malformed {
                                    provider: PROVIDER,
                                    reason: format!(
                                        "tool input for block {index}, which is not a tool call"
                                    ),
                                })
                            }
                        }
                    }
                    // Thinking, signatures, citations: not used.
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = event.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(match reason {
                        "end_turn" | "stop_sequence" => StopReason::EndTurn,
                        "tool_use" => StopReason::ToolUse,
                        "max_tokens" => StopReason::MaxTokens,
                        other => StopReason::Other(other.to_owned()),
                    });
                }
                // Counts in `message_delta` are totals so far.
                if let Some(usage) = event.get("usage") {
                    if let Some(output) = usage.get("output_tokens").and_then(Value::as_u64) {
                        self.usage.output_tokens = output;
                    }
                    if let Some(input) = usage.get("input_tokens").and_then(Value::as_u64) {
                        self.usage.input_tokens = input;
                    }
                }
            }
            "message_stop" => self.done = true,
            "error" => {
                let error = event.get("error").unwrap_or(&Value::Null);
                return Err(provider_error(error));
            }
            // `ping`, `content_block_stop`, and events added later.
            _ => {}
        }
        Ok(deltas)
    }

    fn complete(&self) -> bool {
        self.done
    }

    fn finish(self) -> Result<Turn> {
        if !self.done {
            return Err(Error::CutOff {
                provider: PROVIDER,
                reason: "the stream ended before `message_stop`".to_owned(),
            });
        }
        let tool_calls: Vec<ToolCall> = self
            .blocks
            .into_values()
            .filter_map(|block| match block {
                Block::Tool {
                    id,
                    name,
                    json,
                    initial,
                } => Some(ToolCall {
                    id,
                    name,
                    arguments: if json.is_empty() {
                        initial.to_string()
                    } else {
                        json
                    },
                }),
                Block::Text | Block::Other => None,
            })
            .collect();
        Ok(Turn::assemble(self.text, tool_calls, self.stop, self.usage))
    }
}

/// `{"type": "overloaded_error", "message": "..."}`, the `error` of an
/// error body or event.
pub fn provider_error(error: &Value) -> Error {
    let field = |name: &str| {
        error
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let message = field("message");
    Error::Provider {
        provider: PROVIDER,
        kind: field("type"),
        message: if message.is_empty() {
            "no message".to_owned()
        } else {
            message
        },
    }
}
