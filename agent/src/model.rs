//! What the agent says to a model and what it gets back, in terms of no
//! provider in particular. `openai.rs` and `anthropic.rs` turn these into
//! each provider's wire format and back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One request: the conversation so far and the tools the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    pub model: String,
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    /// The most tokens the answer may have.
    pub max_tokens: u32,
}

/// Sessions keep their messages in this form, so changing it needs a new
/// schema version in `session.rs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    User(String),
    Assistant {
        text: String,
        tool_calls: Vec<ToolCall>,
    },
    /// What a tool call returned, or why it failed.
    ToolResult {
        call_id: String,
        content: String,
        is_error: bool,
    },
}

/// A tool as the model sees it: a name, what it does, and a JSON Schema of
/// its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// A call the model asked for. The arguments are the JSON text the model
/// wrote, not yet checked: a model that writes bad JSON is told so, as a
/// tool error it can correct, rather than ending the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// It answered.
    EndTurn,
    /// It wants its tool calls run.
    ToolUse,
    /// It hit `max_tokens`.
    MaxTokens,
    /// Anything else the provider said (`content_filter`, ...).
    Other(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// One whole answer, assembled from its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub stop: StopReason,
    pub usage: Usage,
}

impl Turn {
    /// A whole answer. Without a stop reason from the provider, tool calls
    /// mean the model wants them run.
    pub(crate) fn assemble(
        text: String,
        tool_calls: Vec<ToolCall>,
        stop: Option<StopReason>,
        usage: Usage,
    ) -> Turn {
        let stop = stop.unwrap_or(if tool_calls.is_empty() {
            StopReason::EndTurn
        } else {
            StopReason::ToolUse
        });
        Turn {
            text,
            tool_calls,
            stop,
            usage,
        }
    }
}

/// What a stream has brought so far, for progress: text as it arrives, and
/// the name of each tool the model starts to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    Text(String),
    ToolCall { name: String },
}
