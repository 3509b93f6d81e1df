//! The agent loop: the conversation goes to the model, the tools it calls
//! run, their results go back, until the model answers without calling a
//! tool, or a limit is reached (`max_steps`, the token budget), or the run
//! is cancelled, which it can be at any point.

use tokio_util::sync::CancellationToken;

use crate::{
    host::Host,
    model::{Delta, Message, ModelRequest, StopReason, Usage},
    models::Models,
    tools::{specs, Tools},
    Result,
};

/// A tool's output longer than this is cut, with a note saying so.
pub const TOOL_OUTPUT_LIMIT: usize = 30_000;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Model calls in one run.
    pub max_steps: u32,
    /// Tokens (in and out) in one run.
    pub token_budget: u64,
    /// Tokens one answer may have.
    pub max_tokens: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 20,
            token_budget: 1_000_000,
            max_tokens: 8192,
        }
    }
}

/// What a run is doing, for the progress the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Step `n` asks the model.
    Thinking {
        step: u32,
    },
    Model(Delta),
    /// A tool call starts: its name and what it is about.
    Tool {
        name: String,
        about: String,
    },
}

/// Why a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The model answered.
    Answered,
    /// `max_steps` model calls were made without a final answer.
    MaxSteps,
    /// The run used up its token budget.
    Budget,
    /// The model's answer hit `max_tokens`.
    AnswerTooLong,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The model's last words.
    pub answer: String,
    pub ended: Ended,
    pub steps: u32,
    pub usage: Usage,
    /// US dollars, for the models with a price.
    pub cost: f64,
}

/// Runs the agent on `history`, which ends with the user's request and
/// gets every message of the run appended, so a session can go on from it.
pub async fn run<H: Host>(
    models: &Models,
    tools: &Tools<'_, H>,
    system: &str,
    history: &mut Vec<Message>,
    limits: &Limits,
    cancel: &CancellationToken,
    progress: impl FnMut(Progress),
) -> Result<Report> {
    // The conversation moves into the request, which grows with the run
    // instead of being copied for every step, and comes back whatever
    // happens.
    let mut request = ModelRequest {
        model: String::new(),
        system: system.to_owned(),
        messages: std::mem::take(history),
        tools: specs(tools.policy),
        max_tokens: limits.max_tokens,
    };
    let report = steps(models, tools, &mut request, limits, cancel, progress).await;
    *history = request.messages;
    report
}

async fn steps<H: Host>(
    models: &Models,
    tools: &Tools<'_, H>,
    request: &mut ModelRequest,
    limits: &Limits,
    cancel: &CancellationToken,
    mut progress: impl FnMut(Progress),
) -> Result<Report> {
    let mut report = Report {
        answer: String::new(),
        ended: Ended::Answered,
        steps: 0,
        usage: Usage::default(),
        cost: 0.0,
    };
    loop {
        if report.steps == limits.max_steps {
            report.ended = Ended::MaxSteps;
            return Ok(report);
        }
        if report.usage.input_tokens + report.usage.output_tokens >= limits.token_budget {
            report.ended = Ended::Budget;
            return Ok(report);
        }
        report.steps += 1;
        progress(Progress::Thinking { step: report.steps });
        let answered = tokio::select! {
            biased;
            () = cancel.cancelled() => {
                report.ended = Ended::Cancelled;
                return Ok(report);
            }
            answered = models.complete(request, |delta| progress(Progress::Model(delta))) => answered?,
        };
        let turn = answered.turn;
        report.usage.input_tokens += turn.usage.input_tokens;
        report.usage.output_tokens += turn.usage.output_tokens;
        report.cost += answered.cost.unwrap_or(0.0);
        report.answer.clone_from(&turn.text);
        request.messages.push(Message::Assistant {
            text: turn.text,
            tool_calls: turn.tool_calls.clone(),
        });
        if turn.tool_calls.is_empty() {
            report.ended = if turn.stop == StopReason::MaxTokens {
                Ended::AnswerTooLong
            } else {
                Ended::Answered
            };
            return Ok(report);
        }
        for call in &turn.tool_calls {
            progress(Progress::Tool {
                name: call.name.clone(),
                about: about(&call.arguments),
            });
            let outcome = tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    report.ended = Ended::Cancelled;
                    return Ok(report);
                }
                outcome = tools.run(call) => outcome,
            };
            request.messages.push(Message::ToolResult {
                call_id: call.id.clone(),
                content: truncated(outcome.content),
                is_error: outcome.is_error,
            });
        }
    }
}

/// What a call is about, for progress: its path or pattern.
fn about(arguments: &str) -> String {
    let arguments: serde_json::Value = serde_json::from_str(arguments).unwrap_or_default();
    ["path", "pattern", "command"]
        .iter()
        .find_map(|key| arguments.get(key).and_then(serde_json::Value::as_str))
        .unwrap_or("")
        .to_owned()
}

fn truncated(mut content: String) -> String {
    if content.len() <= TOOL_OUTPUT_LIMIT {
        return content;
    }
    let mut cut = TOOL_OUTPUT_LIMIT;
    while !content.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = content.len() - cut;
    content.truncate(cut);
    content.push_str(&format!(
        "\n(output cut here: {dropped} more bytes; narrow the request, e.g. read_file with offset and limit)"
    ));
    content
}
