//! The OpenAI chat completions wire format, which OpenAI and every
//! compatible server (Ollama, llama.cpp, vLLM, LM Studio, OpenRouter)
//! speak: the request body, and the decoder of its streamed chunks.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::{
    model::{Delta, Message, ModelRequest, StopReason, ToolCall, Turn, Usage},
    stream::{count, Decoder},
    Error, Result,
};

pub const PROVIDER: &str = "the OpenAI-compatible endpoint";

/// The body of `POST {base_url}/chat/completions`, streamed, with usage in
/// the last chunk.
pub fn request_body(request: &ModelRequest) -> Value {
    let mut messages = Vec::new();
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        messages.push(match message {
            Message::User(text) => json!({"role": "user", "content": text}),
            Message::Assistant { text, tool_calls } => {
                let mut message = json!({
                    "role": "assistant",
                    "content": if text.is_empty() { Value::Null } else { json!(text) },
                });
                if !tool_calls.is_empty() {
                    let calls: Vec<Value> = tool_calls
                        .iter()
                        .map(|call| {
                            json!({
                                "id": call.id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": call.arguments},
                            })
                        })
                        .collect();
                    message["tool_calls"] = Value::Array(calls);
                }
                message
            }
            Message::ToolResult {
                call_id, content, ..
            } => json!({"role": "tool", "tool_call_id": call_id, "content": content}),
        });
    }
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                })
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    body
}

/// Assembles a turn from `chat.completion.chunk`s. Tool calls arrive in
/// pieces keyed by their index: the id and name first, the arguments as
/// fragments of JSON text.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    text: String,
    calls: BTreeMap<u64, PartialCall>,
    stop: Option<StopReason>,
    usage: Usage,
    done: bool,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl Decoder for ChunkDecoder {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn event(&mut self, _name: &str, data: &str) -> Result<Vec<Delta>> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        let chunk: Value = serde_json::from_str(data).map_err(|err| Error::Malformed {
            provider: PROVIDER,
            reason: format!("a chunk that is not JSON ({err})"),
        })?;
        if let Some(error) = chunk.get("error") {
            return Err(provider_error(error));
        }
        if let Some(usage) = chunk.get("usage").filter(|usage| usage.is_object()) {
            self.usage = Usage {
                input_tokens: count(usage, "prompt_tokens"),
                output_tokens: count(usage, "completion_tokens"),
            };
        }
        let mut deltas = Vec::new();
        let choices = chunk.get("choices").and_then(Value::as_array);
        // One choice is asked for; a server that sends more sends index 0 first.
        let choice = choices.and_then(|choices| {
            choices
                .iter()
                .find(|choice| choice.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        });
        let Some(choice) = choice else {
            return Ok(deltas);
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            if !text.is_empty() {
                self.text.push_str(text);
                deltas.push(Delta::Text(text.to_owned()));
            }
        }
        let calls = delta.get("tool_calls").and_then(Value::as_array);
        for (position, piece) in calls.into_iter().flatten().enumerate() {
            let index = piece
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let call = self.calls.entry(index).or_default();
            if let Some(id) = piece.get("id").and_then(Value::as_str) {
                call.id = id.to_owned();
            }
            let function = piece.get("function").unwrap_or(&Value::Null);
            if let Some(name) = function.get("name").and_then(Value::as_str) {
                if call.name.is_empty() && !name.is_empty() {
                    deltas.push(Delta::ToolCall {
                        name: name.to_owned(),
                    });
                }
                call.name.push_str(name);
            }
            if let Some(arguments) = function.get("arguments").and_then(Value::as_str) {
                call.arguments.push_str(arguments);
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.stop = Some(match reason {
                "stop" => StopReason::EndTurn,
                "tool_calls" | "function_call" => StopReason::ToolUse,
                "length" => StopReason::MaxTokens,
                other => StopReason::Other(other.to_owned()),
            });
        }
        Ok(deltas)
    }

    fn complete(&self) -> bool {
        self.done
    }

    fn finish(self) -> Result<Turn> {
        // Some servers end without `[DONE]`; a finish reason says the
        // answer is whole all the same.
        if !self.done && self.stop.is_none() {
            return Err(Error::CutOff {
                provider: PROVIDER,
                reason: "the stream ended before the answer did".to_owned(),
            });
        }
        let mut tool_calls = Vec::new();
        for (index, call) in self.calls {
            if call.name.is_empty() {
                return Err(Error::Malformed {
                    provider: PROVIDER,
                    reason: format!("tool call {index} has no name"),
                });
            }
            tool_calls.push(ToolCall {
                id: if call.id.is_empty() {
                    format!("call_{index}")
                } else {
                    call.id
                },
                name: call.name,
                arguments: call.arguments,
            });
        }
        Ok(Turn::assemble(self.text, tool_calls, self.stop, self.usage))
    }
}

/// `{"error": {"message", "type", "code"}}`, as OpenAI and most compatible
/// servers send it in a body or a chunk; some send a bare string.
pub fn provider_error(error: &Value) -> Error {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())
        .unwrap_or("no message")
        .to_owned();
    let kind = error
        .get("type")
        .or_else(|| error.get("code"))
        .map(|kind| {
            kind.as_str()
                .map_or_else(|| kind.to_string(), str::to_owned)
        })
        .unwrap_or_default();
    Error::Provider {
        provider: PROVIDER,
        kind,
        message,
    }
}
