//! The agent loop: the conversation goes to the model, the tools it calls
//! run, their results go back, until the model answers without calling a
//! tool, or a limit is reached (`max_steps`, the token budget), or the run
//! is cancelled, which it can be at any point.
//!
//! When the model answers after changing files, the run waits for the
//! language servers' fresh diagnostics of those files and, if the changes
//! brought new errors, tells the model and goes on ("verify", a bounded
//! number of rounds). Before the conversation outgrows the model's context
//! window, old tool outputs are dropped from it (kept in [`Outputs`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{defaults, AgentConfig},
    endpoints::Endpoints,
    host::{Host, Problem},
    model::{Delta, Message, ModelRequest, StopReason, Usage},
    outputs::{self, Outputs, READ_OUTPUT},
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
    /// Tokens the model takes in at once: the conversation is compacted
    /// well before it gets there.
    pub context_window: u64,
    /// Times the model is told of new errors its edits caused (0: the run
    /// does not wait for diagnostics at all).
    pub verify_rounds: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: defaults::MAX_STEPS,
            token_budget: defaults::TOKEN_BUDGET,
            max_tokens: defaults::MAX_TOKENS,
            context_window: defaults::CONTEXT_WINDOW,
            verify_rounds: defaults::VERIFY_ROUNDS,
        }
    }
}

impl From<&AgentConfig> for Limits {
    fn from(config: &AgentConfig) -> Limits {
        Limits {
            max_steps: config.max_steps,
            token_budget: config.token_budget,
            max_tokens: config.max_tokens,
            context_window: config.context_window(),
            verify_rounds: config.verify_rounds,
        }
    }
}

/// A session's conversation: its messages, and the tool outputs kept
/// whole for `read_output`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Conversation {
    pub messages: Vec<Message>,
    /// Kept in memory only (their last id is saved): after a restart,
    /// `read_output` says an old output is not kept.
    #[serde(default)]
    pub outputs: Outputs,
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
    /// A tool call ended, well or not (the model is told why).
    ToolDone {
        name: String,
        about: String,
        is_error: bool,
    },
    /// Waiting for the language servers' diagnostics of the files changed.
    Verifying {
        files: usize,
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
    /// The files the run changed, in the order it first changed them.
    pub changed: Vec<PathBuf>,
    /// Errors the changes brought that were still there at the end (after
    /// the verify rounds ran out).
    pub errors_left: Vec<Problem>,
}

/// Runs the agent on the conversation, which ends with the user's request
/// and gets every message of the run appended, so a session can go on
/// from it.
pub async fn run<H: Host>(
    models: &Endpoints,
    tools: &Tools<'_, H>,
    system: &str,
    conversation: &mut Conversation,
    limits: &Limits,
    cancel: &CancellationToken,
    progress: impl FnMut(Progress),
) -> Result<Report> {
    // The conversation moves into the request, which grows with the run
    // instead of being copied for every step, and comes back whatever
    // happens.
    // The request is the last message when the run starts.
    let request_at = conversation.messages.len().saturating_sub(1);
    let mut tool_specs = specs(tools.policy);
    tool_specs.push(outputs::spec());
    let mut request = ModelRequest {
        model: String::new(),
        system: system.to_owned(),
        messages: std::mem::take(&mut conversation.messages),
        tools: tool_specs,
        max_tokens: limits.max_tokens,
    };
    let mut run = Run {
        tools,
        limits,
        cancel,
        outputs: &mut conversation.outputs,
        report: Report {
            answer: String::new(),
            ended: Ended::Answered,
            steps: 0,
            usage: Usage::default(),
            cost: 0.0,
            changed: Vec::new(),
            errors_left: Vec::new(),
        },
        before: Vec::new(),
        verified: 0,
        known: None,
        request: request_at,
    };
    let ended = run.steps(models, &mut request, progress).await;
    conversation.messages = request.messages;
    ended.map(|()| run.report)
}

struct Run<'a, 't, H> {
    /// Where this run's request is in the conversation.
    request: usize,
    tools: &'a Tools<'t, H>,
    limits: &'a Limits,
    cancel: &'a CancellationToken,
    outputs: &'a mut Outputs,
    report: Report,
    /// Each changed file's errors before the run first changed it.
    before: Vec<(PathBuf, Vec<Problem>)>,
    /// Verify rounds that told the model of new errors.
    verified: u32,
    /// The size of the last request, in tokens (as the provider counted
    /// them) and in bytes of messages.
    known: Option<(u64, usize)>,
}

impl<H: Host> Run<'_, '_, H> {
    async fn steps(
        &mut self,
        models: &Endpoints,
        request: &mut ModelRequest,
        mut progress: impl FnMut(Progress),
    ) -> Result<()> {
        loop {
            let report = &mut self.report;
            if report.steps == self.limits.max_steps {
                report.ended = Ended::MaxSteps;
                return Ok(());
            }
            if report.usage.input_tokens + report.usage.output_tokens >= self.limits.token_budget {
                report.ended = Ended::Budget;
                return Ok(());
            }
            self.make_room(&mut request.messages);
            let report = &mut self.report;
            report.steps += 1;
            progress(Progress::Thinking { step: report.steps });
            let answered = tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    report.ended = Ended::Cancelled;
                    return Ok(());
                }
                answered = models.complete(request, |delta| progress(Progress::Model(delta))) => answered?,
            };
            let turn = answered.turn;
            report.usage.input_tokens += turn.usage.input_tokens;
            report.usage.output_tokens += turn.usage.output_tokens;
            report.cost += answered.cost.unwrap_or(0.0);
            report.answer = crate::redact::redact(&turn.text).into_owned();
            if turn.usage.input_tokens > 0 {
                self.known = Some((turn.usage.input_tokens, bytes(&request.messages)));
            }
            request.messages.push(Message::Assistant {
                text: turn.text,
                tool_calls: turn.tool_calls.clone(),
            });
            if turn.tool_calls.is_empty() {
                if turn.stop == StopReason::MaxTokens {
                    report.ended = Ended::AnswerTooLong;
                    return Ok(());
                }
                match self.verify(&mut progress).await {
                    Some(feedback) => {
                        request.messages.push(Message::User(feedback));
                        continue;
                    }
                    None => return Ok(()),
                }
            }
            for (index, call) in turn.tool_calls.iter().enumerate() {
                let about = about(&call.arguments);
                progress(Progress::Tool {
                    name: call.name.clone(),
                    about: about.clone(),
                });
                let outcome = if call.name == READ_OUTPUT {
                    match serde_json::from_str(&call.arguments) {
                        Ok(arguments) => self.outputs.read(&arguments, TOOL_OUTPUT_LIMIT),
                        Err(err) => Err(format!(
                            "the arguments of {READ_OUTPUT} are not JSON: {err}"
                        )),
                    }
                    .map_or_else(|why| (why, true), |content| (content, false))
                } else {
                    let target = self.tools.target(call);
                    if let Some(path) = &target {
                        self.remember_errors(path).await;
                    }
                    let outcome = tokio::select! {
                        biased;
                        () = self.cancel.cancelled() => None,
                        outcome = self.tools.run(call) => Some(outcome),
                    };
                    let Some(outcome) = outcome else {
                        // Every call gets its result, or providers refuse
                        // the conversation when the session goes on.
                        for call in &turn.tool_calls[index..] {
                            request.messages.push(Message::ToolResult {
                                call_id: call.id.clone(),
                                content: "cancelled by the user before it finished".to_owned(),
                                is_error: true,
                            });
                        }
                        self.report.ended = Ended::Cancelled;
                        return Ok(());
                    };
                    if let Some(path) = target.filter(|_| !outcome.is_error) {
                        if !self.report.changed.contains(&path) {
                            self.report.changed.push(path);
                        }
                    }
                    (outcome.content, outcome.is_error)
                };
                progress(Progress::ToolDone {
                    name: call.name.clone(),
                    about,
                    is_error: outcome.1,
                });
                // read_output answers within the limit already, with its own
                // note on where to read on.
                let content = if call.name == READ_OUTPUT {
                    outcome.0
                } else {
                    self.outputs.cut(outcome.0, TOOL_OUTPUT_LIMIT)
                };
                request.messages.push(Message::ToolResult {
                    call_id: call.id.clone(),
                    content,
                    is_error: outcome.1,
                });
            }
        }
    }

    /// Notes a file's errors before the run first changes it, so that
    /// verifying tells the model only of the errors it brought.
    async fn remember_errors(&mut self, path: &PathBuf) {
        if self.limits.verify_rounds == 0 || self.before.iter().any(|(seen, _)| seen == path) {
            return;
        }
        let errors = errors(self.tools.host.diagnostics(Some(path)).await);
        self.before.push((path.clone(), errors));
    }

    /// After the model's answer: the new errors in the files the run
    /// changed, as a message for the model while verify rounds are left.
    async fn verify(&mut self, progress: &mut impl FnMut(Progress)) -> Option<String> {
        if self.limits.verify_rounds == 0 || self.report.changed.is_empty() {
            return None;
        }
        progress(Progress::Verifying {
            files: self.report.changed.len(),
        });
        let fresh = tokio::select! {
            biased;
            () = self.cancel.cancelled() => {
                self.report.ended = Ended::Cancelled;
                return None;
            }
            fresh = self.tools.host.fresh_diagnostics(&self.report.changed) => fresh,
        };
        let new: Vec<Problem> = errors(fresh)
            .into_iter()
            .filter(|error| {
                !self.before.iter().any(|(path, before)| {
                    *path == error.at.path
                        && before.iter().any(|old| {
                            (&old.source, &old.code, &old.message)
                                == (&error.source, &error.code, &error.message)
                        })
                })
            })
            .collect();
        if new.is_empty() {
            self.report.errors_left.clear();
            return None;
        }
        if self.verified == self.limits.verify_rounds {
            self.report.errors_left = new;
            return None;
        }
        self.verified += 1;
        let mut feedback = format!(
            "After your changes the language servers report {} new error(s):\n",
            new.len()
        );
        for error in &new {
            feedback.push_str(&self.tools.finding(error));
        }
        feedback.push_str("Fix them, or say why they should stay.");
        let feedback = crate::redact::redact(&feedback).into_owned();
        self.report.errors_left = new;
        Some(feedback)
    }

    /// When the next request would fill more than three quarters of the
    /// context window left after the answer: drops old tool outputs (kept
    /// for `read_output`) until it fills half, and only if that is not
    /// enough, old messages until it is under three quarters again.
    fn make_room(&mut self, messages: &mut Vec<Message>) {
        let room = self
            .limits
            .context_window
            .saturating_sub(u64::from(self.limits.max_tokens));
        let now = bytes(messages);
        // About four bytes a token, for what the provider has not counted.
        let estimate = match self.known {
            Some((tokens, then)) => tokens + (now.saturating_sub(then) / 4) as u64,
            None => (now / 4) as u64,
        };
        if estimate <= room / 4 * 3 {
            return;
        }
        let want = ((estimate - room / 2) * 4) as usize;
        let need = ((estimate - room / 4 * 3) * 4) as usize;
        let freed = compact(messages, self.outputs, &mut self.request, want, need);
        tracing::debug!(estimate, room, want, freed, "compacted the conversation");
        if let Some((tokens, then)) = &mut self.known {
            *tokens = tokens.saturating_sub((freed / 4) as u64);
            *then = then.saturating_sub(freed);
        }
    }
}

fn errors(findings: Vec<Problem>) -> Vec<Problem> {
    findings
        .into_iter()
        .filter(|finding| finding.severity == "error")
        .collect()
}

fn bytes(messages: &[Message]) -> usize {
    messages.iter().map(weight).sum()
}

fn weight(message: &Message) -> usize {
    match message {
        Message::User(text) => text.len(),
        Message::Assistant { text, tool_calls } => {
            text.len()
                + tool_calls
                    .iter()
                    .map(|call| call.name.len() + call.arguments.len())
                    .sum::<usize>()
        }
        Message::ToolResult { content, .. } => content.len(),
    }
}

/// Outputs shorter than this stay when old outputs are dropped.
const SMALL_OUTPUT: usize = 300;

/// Frees bytes of `messages`, sparing the first (the request) and the last
/// step: old tool outputs, oldest first, until `want` bytes are freed (kept
/// in `outputs`, with a note saying how to read them back); then, if fewer
/// than `need` are, whole old messages. Returns the bytes freed.
pub fn compact(
    messages: &mut Vec<Message>,
    outputs: &mut Outputs,
    request: &mut usize,
    want: usize,
    need: usize,
) -> usize {
    let last_step = last_step_of(messages);
    let mut freed = 0;
    for message in &mut messages[..last_step] {
        if freed >= want {
            break;
        }
        if let Message::ToolResult { content, .. } = message {
            if content.len() > SMALL_OUTPUT {
                let old = std::mem::take(content);
                let old_len = old.len();
                let id = outputs.keep(old);
                *content = format!(
                    "(output dropped to make room; {READ_OUTPUT} with id {id} reads it back)"
                );
                freed += old_len.saturating_sub(content.len());
            }
        }
    }
    let mut dropped = 0;
    // Oldest first: earlier runs' messages (after the first), then this
    // run's early steps; never this run's request.
    let mut remove = |messages: &mut Vec<Message>, at: usize, request: &mut usize| {
        if at < *request {
            *request -= 1;
        }
        dropped += 1;
        weight(&messages.remove(at))
    };
    loop {
        let at = if *request > 1 {
            1
        } else if *request + 1 < last_step_of(messages) {
            *request + 1
        } else {
            break;
        };
        if freed >= need {
            break;
        }
        freed += remove(messages, at, request);
        // A tool result without its call is an error to every provider.
        while at < last_step_of(messages)
            && at != *request
            && matches!(messages[at], Message::ToolResult { .. })
        {
            freed += remove(messages, at, request);
        }
    }
    if dropped > 0 {
        let note = format!("(meshls dropped {dropped} earlier messages to make room)");
        freed = freed.saturating_sub(note.len());
        let at = 1.min(messages.len());
        messages.insert(at, Message::User(note));
        if at <= *request && *request > 0 {
            *request += 1;
        }
    }
    freed
}

/// Where the last step (the last assistant turn) starts.
fn last_step_of(messages: &[Message]) -> usize {
    messages
        .iter()
        .rposition(|message| matches!(message, Message::Assistant { .. }))
        .unwrap_or(messages.len())
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
