//! The agent's runs in the editor: `meshls.ask` starts one in the current
//! session, its steps show as `$/progress` (cancellable from the editor or
//! with `meshls.cancel`), its edits reach the editor through
//! [`ServerHost`], and its answer comes back as a message, or, when long,
//! as a markdown file opened with `window/showDocument`. That file is in
//! the user's data directory beside the workspace's database, never in the
//! workspace: a repository could ship `.meshls/answers` as a symlink out.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use meshls_agent::{
    endpoints::Endpoints,
    host::Reported,
    redact::redact,
    run::{Ended, Report},
    session::Sessions,
    AgentConfig,
};

use crate::ext;
use crate::{
    agent::{editor_host::ServerHost, events::RunEvents, progress::Reports},
    state::diagnostics::DiagnosticsHub,
    state::documents::Documents,
    state::downstream::Downstream,
    state::editor::Editor,
    storage,
};

/// How long the editor may take to accept a progress token.
const PROGRESS_CREATE_TIMEOUT: Duration = Duration::from_secs(5);

/// An answer longer than this (or of more lines) goes to a file.
const SHORT_ANSWER: usize = 400;
const SHORT_LINES: usize = 4;

const SYSTEM: &str = "You are meshls's coding agent, working in the user's editor on the workspace whose files your tools reach. \
Read before you change: use read_file, grep, symbols, definition and references. \
Change files only with edit_file and write_file; the editor applies each change, and the user sees it and can undo it. \
After your changes the language servers' new errors come back to you. \
Keep answers short and concrete.";

/// What a run needs from the server, cloned into its task.
#[derive(Clone)]
pub struct Runs {
    pub docs: Arc<Documents>,
    pub downstream: Arc<Downstream>,
    pub hub: Arc<DiagnosticsHub>,
    pub editor: Arc<Editor>,
    /// Per agent session, the actions the user allowed for it ("Always
    /// for this session"): a new session starts with none.
    pub always: Arc<Mutex<HashMap<String, Grants>>>,
    pub next_token: Arc<AtomicU64>,
    /// How many runs are going, in any session.
    pub going: Arc<AtomicUsize>,
}

/// Counts one run as going for as long as it lives, however its task ends.
struct Going(Arc<AtomicUsize>);

impl Going {
    fn new(going: &Arc<AtomicUsize>) -> Going {
        going.fetch_add(1, Ordering::SeqCst);
        Going(going.clone())
    }
}

impl Drop for Going {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the user allowed for one session.
pub type Grants = Arc<Mutex<HashSet<String>>>;

/// A request to the agent, from `meshls.ask`'s arguments: an instruction,
/// and where the user is.
#[derive(Debug, PartialEq)]
pub struct Ask {
    pub instruction: String,
    pub at: Option<At>,
}

/// Where the user is: a file and its lines (from 0, both included), one
/// line for a cursor, several for a selection.
#[derive(Debug, PartialEq)]
pub struct At {
    pub uri: lsp_types::Url,
    pub lines: std::ops::RangeInclusive<u32>,
}

impl At {
    pub fn line(uri: lsp_types::Url, line: u32) -> At {
        At {
            uri,
            lines: line..=line,
        }
    }
}

impl Ask {
    /// `[instruction]`, `[instruction, {uri, position | range}]` or
    /// `[{instruction, uri?, position? | range?}]`.
    pub fn parse(arguments: &[Value]) -> Result<Ask, String> {
        let usage = "meshls.ask takes an instruction, and optionally a location {uri, range}";
        let (instruction, location) = match arguments {
            [Value::String(instruction)] => (instruction.clone(), None),
            [Value::String(instruction), location] => (instruction.clone(), Some(location)),
            [object @ Value::Object(fields)] => (
                fields
                    .get("instruction")
                    .and_then(Value::as_str)
                    .ok_or(usage)?
                    .to_owned(),
                Some(object),
            ),
            _ => return Err(usage.to_owned()),
        };
        if instruction.trim().is_empty() {
            return Err("meshls.ask needs an instruction: what should the agent do?".to_owned());
        }
        let at = location.and_then(|location| {
            let uri = lsp_types::Url::parse(location.get("uri")?.as_str()?).ok()?;
            let number = |pointer: &str| {
                location
                    .pointer(pointer)
                    .and_then(Value::as_u64)
                    .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            };
            let start = number("/range/start/line")
                .or_else(|| number("/position/line"))
                .unwrap_or(0);
            // A selection that ends at the start of a line ends on the one
            // before, as a selection of whole lines does.
            let end = match (number("/range/end/line"), number("/range/end/character")) {
                (Some(end), Some(0)) if end > start => end - 1,
                (Some(end), _) if end > start => end,
                _ => start,
            };
            Some(At {
                uri,
                lines: start..=end,
            })
        });
        Ok(Ask { instruction, at })
    }
}

/// What a run is given by the backend at the moment it starts.
pub struct Start {
    pub ask: Ask,
    /// Only the reading tools (explain, review).
    pub read_only: bool,
    /// A review of this file: its findings become diagnostics.
    pub review: Option<lsp_types::Url>,
    pub root: PathBuf,
    pub config: AgentConfig,
    pub sessions: Arc<Sessions>,
    pub session: String,
    /// Whether the editor shows `$/progress`.
    pub progress: bool,
    /// Whether the editor previews edits that need confirmation.
    pub confirm_in_editor: bool,
    /// What started the run: `ask`, or the code action's name.
    pub action: String,
    /// Whether the editor asked for `meshls/runEvent`s.
    pub run_events: bool,
    /// The sessions go to the next meshls that opens the database.
    pub handing_over: bool,
}

impl Runs {
    /// Runs the agent to the end, telling the user how it goes. Returns the
    /// progress token at once (the run goes on in its own task).
    pub fn start(&self, start: Start) -> String {
        let token = format!(
            "{}{}",
            ext::RUN_TOKEN_PREFIX,
            self.next_token.fetch_add(1, Ordering::Relaxed) + 1
        );
        let cancel = CancellationToken::new();
        self.editor.track_progress(&token, cancel.clone());
        let runs = self.clone();
        let returned = token.clone();
        let going = Going::new(&self.going);
        tokio::spawn(async move {
            runs.run(start, &token, cancel, going).await;
            // A run that could not start forgets its token here.
            runs.editor.forget_progress(&token);
        });
        returned
    }

    /// Whether a run is going, in any session.
    pub fn any_going(&self) -> bool {
        self.going.load(Ordering::SeqCst) > 0
    }

    /// `going` counts the run until its session is free again.
    async fn run(&self, start: Start, token: &str, cancel: CancellationToken, going: Going) {
        let Start {
            ask,
            read_only,
            review,
            root,
            config,
            sessions,
            session,
            progress: shows_progress,
            confirm_in_editor,
            action,
            run_events,
            handing_over,
        } = start;
        let models = match Endpoints::new(
            &config,
            meshls_agent::provider::Policy::from(&config),
            |variable| std::env::var(variable).ok(),
        ) {
            Ok(models) => models,
            Err(err) => return self.tell(1, &format!("meshls agent: {err}")),
        };
        let mut running = match sessions.begin(&session) {
            Some(Ok(running)) => running,
            Some(Err(busy)) => return self.tell(2, &format!("meshls agent: {busy}")),
            None => {
                let fresh = sessions.create();
                match sessions.begin(&fresh) {
                    Some(Ok(running)) => running,
                    _ => return self.tell(1, "meshls agent: cannot start a session"),
                }
            }
        };
        let checkpoint =
            Arc::new(sessions.checkpoint(&running, &ask.instruction, config.checkpoint_bytes));
        let mut events = RunEvents::new(
            self.editor.clone(),
            run_events,
            &running.id,
            &checkpoint.run(),
        );
        // The transcript as the session was, with this run added as it goes.
        match storage::write_transcript(&root, &sessions, &running.id) {
            Ok(path) => events = events.with_live_transcript(&path),
            Err(why) => tracing::warn!("{why}"),
        }
        let events = Arc::new(events);
        events.start(&ask.instruction, &action, token);
        let title = ask.instruction.lines().next().unwrap_or("").to_owned();
        // An editor that refuses the token, or does not answer in time,
        // still gets the run, without progress.
        let created = self
            .editor
            .request("window/workDoneProgress/create", json!({"token": token}));
        let shows_progress = shows_progress
            && matches!(
                tokio::time::timeout(PROGRESS_CREATE_TIMEOUT, created).await,
                Ok(Ok(_))
            );
        if shows_progress {
            self.progress(token, json!({"kind": "begin", "title": "meshls agent", "message": title, "cancellable": true}));
        }
        let mut request = ask.instruction.clone();
        if let Some(at) = &ask.at {
            if let Ok(path) = at.uri.to_file_path() {
                let relative = path.strip_prefix(&root).unwrap_or(&path);
                let (start, end) = (
                    at.lines.start().saturating_add(1),
                    at.lines.end().saturating_add(1),
                );
                request.push_str(&if start == end {
                    format!("\n\n(The user is at {} line {start}.)", relative.display())
                } else {
                    format!(
                        "\n\n(The user has selected {} lines {start} to {end}.)",
                        relative.display()
                    )
                });
            }
        }
        // What the run starts with, so it need not look for it first.
        let at = ask.at.as_ref().map(|at| crate::agent::context::At {
            uri: &at.uri,
            lines: at.lines.clone(),
        });
        let context =
            crate::agent::context::gather(&root, at, &self.docs, &self.hub, &config).await;
        if !context.is_empty() {
            request.push_str("\n\n");
            request.push_str(&context);
        }
        let grants = self
            .always
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(running.id.clone())
            .or_default()
            .clone();
        let host = ServerHost::new(
            self.docs.clone(),
            self.downstream.clone(),
            self.hub.clone(),
            self.editor.clone(),
            grants,
            root.clone(),
            confirm_in_editor,
        )
        .with_approval_timeout(Duration::from_secs(config.approval_timeout))
        .with_read_dependencies(config.read_dependencies)
        .with_events(events.clone())
        .with_checkpoint(checkpoint.clone());
        let reports = Arc::new(Reports::new(
            self.editor.clone(),
            token,
            shows_progress,
            events.clone(),
        ));
        let host = host.with_reports(reports.clone());
        // A review reports its findings with `report_finding`, as in CI.
        let policy = crate::config::agent_policy(&config, read_only, review.is_some());
        let report = sessions
            .run(
                &mut running,
                &models,
                &host,
                &root,
                &policy,
                SYSTEM,
                &request,
                &meshls_agent::run::Limits::from(&config),
                &cancel,
                |step| reports.step(&step),
            )
            .await;
        reports.end();
        // The session is free again before the user hears the run ended.
        let (runs, session) = (running.runs, running.id.clone());
        drop(running);
        drop(going);
        // Nor is there anything left to cancel by then.
        self.editor.forget_progress(token);
        let outcome = match &report {
            Ok(report) => ended_message(report),
            Err(err) => format!("failed: {err}"),
        };
        let record = checkpoint.end(&outcome);
        let changed = !record.files.is_empty();
        events.end(&outcome, report.as_ref().ok(), &root, changed);
        // The session's transcript, for `meshls.showSession`, whole again
        // by the time the progress says the run ended.
        if let Err(why) = storage::write_transcript(&root, &sessions, &session) {
            tracing::warn!("{why}");
        }
        // Other editors' meshls on the workspace see it.
        storage::publish(&root, &sessions, handing_over);
        if shows_progress {
            self.progress(token, json!({"kind": "end", "message": outcome}));
        }
        let files = match record.files.len() {
            1 => meshls_agent::paths::relative(&root, &record.files[0]),
            n => format!("{n} files"),
        };
        match report {
            Ok(report) if report.ended == Ended::Cancelled => {
                if changed {
                    self.offer_undo(
                        &root,
                        &sessions,
                        &record,
                        format!("meshls agent: cancelled; the run had already changed {files}. Undo its changes?"),
                    );
                } else {
                    self.tell(3, "meshls agent: cancelled; nothing was changed");
                }
            }
            Ok(report) => {
                if let Some(uri) = review {
                    if self.publish_review(uri, host.take_reported()).await {
                        return;
                    }
                }
                let undo = changed.then(|| {
                    let dropped: Vec<String> = record
                        .dropped
                        .iter()
                        .map(|path| meshls_agent::paths::relative(&root, path))
                        .collect();
                    if dropped.is_empty() {
                        format!("Changed {files}: undo the whole run with meshls.undoRun.")
                    } else {
                        format!(
                            "Changed {files}: undo the run with meshls.undoRun, all but {} (past agent.checkpoint_bytes).",
                            dropped.join(", ")
                        )
                    }
                });
                self.answer(&root, &session, runs, &title, &report, undo.as_deref())
                    .await;
                if changed && !report.errors_left.is_empty() {
                    self.offer_undo(
                        &root,
                        &sessions,
                        &record,
                        format!(
                            "meshls agent: {} new error(s) remain after the agent's changes to {files}. Undo the run?",
                            report.errors_left.len()
                        ),
                    );
                }
            }
            Err(err) => {
                let undo = if changed {
                    format!(" (it had changed {files}: undo the whole run with meshls.undoRun)")
                } else {
                    String::new()
                };
                self.tell(1, &format!("meshls agent: {err}{undo}"));
            }
        }
    }

    /// A review's findings, as the `meshls-review` diagnostics of the
    /// reviewed file (replacing the last review's) and of any other file
    /// they are about; whether there were any.
    async fn publish_review(&self, uri: lsp_types::Url, findings: Vec<Reported>) -> bool {
        let count = findings.len();
        let mut by_file: std::collections::BTreeMap<lsp_types::Url, Vec<lsp_types::Diagnostic>> =
            std::collections::BTreeMap::from([(uri.clone(), Vec::new())]);
        for finding in findings {
            let Ok(file) = lsp_types::Url::from_file_path(&finding.path) else {
                continue;
            };
            let text = match self.docs.view(&file) {
                Ok((_, text, _)) => text,
                Err(_) => std::fs::read_to_string(&finding.path).unwrap_or_default(),
            };
            by_file
                .entry(file)
                .or_default()
                .push(review_diagnostic(&finding, &text));
        }
        for (file, diagnostics) in by_file {
            self.hub
                .set(file, ext::REVIEW_SOURCE, None, diagnostics)
                .await;
        }
        if count == 0 {
            return false;
        }
        let name = uri
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or("the file");
        self.tell(
            3,
            &format!(
                "meshls agent: {count} finding(s) in {name}, with its diagnostics (source {})",
                ext::REVIEW_SOURCE
            ),
        );
        true
    }

    fn progress(&self, token: &str, value: Value) {
        self.editor
            .notify("$/progress", json!({"token": token, "value": value}));
    }

    /// One `window/showMessage` (1 error, 2 warning, 3 info), without any
    /// API key in it.
    pub(crate) fn tell(&self, kind: u8, message: &str) {
        self.editor.notify(
            "window/showMessage",
            json!({"type": kind, "message": redact(message)}),
        );
    }

    /// The answer as a message when short, else as a file the editor opens.
    /// `undo` says how to undo the run, when it changed files.
    async fn answer(
        &self,
        root: &Path,
        session: &str,
        runs: u32,
        title: &str,
        report: &Report,
        undo: Option<&str>,
    ) {
        let mut text = report.answer.trim().to_owned();
        if report.ended != Ended::Answered {
            text = format!("{} {text}", ended_message(report));
        }
        if !report.errors_left.is_empty() {
            text.push_str(&format!(
                "\n({} new error(s) remain after the agent's changes.)",
                report.errors_left.len()
            ));
        }
        let short = text.len() <= SHORT_ANSWER && text.lines().count() <= SHORT_LINES;
        if let Some(undo) = undo {
            text.push_str(&format!("\n({undo})"));
        }
        if short {
            return self.tell(3, &format!("meshls agent: {text}"));
        }
        let Some(dir) = storage::answers_dir(root) else {
            return self.tell(3, &format!("meshls agent: {text}"));
        };
        let path = dir.join(format!("{session}-{runs}.md"));
        let body = format!("# {title}\n\n{text}\n");
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, redact(&body).as_bytes()));
        let uri = match (written, lsp_types::Url::from_file_path(&path)) {
            (Ok(()), Ok(uri)) => uri,
            (Err(err), _) => {
                return self.tell(
                    3,
                    &format!(
                        "meshls agent (the answer could not be saved to {}: {err}): {text}",
                        path.display()
                    ),
                )
            }
            (Ok(()), Err(())) => return self.tell(3, &format!("meshls agent: {text}")),
        };
        if !self.editor.show_document(&uri).await {
            self.tell(3, &format!("meshls agent answered in {}", path.display()));
        }
    }
}

/// A review's finding as a diagnostic of the whole lines it is about in
/// `text` (the file as the editor has it).
fn review_diagnostic(finding: &Reported, text: &str) -> lsp_types::Diagnostic {
    use lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Position, Range};
    let end = meshls_analysis::text::line_len(text, finding.end_line.saturating_sub(1));
    let message = match &finding.suggestion {
        Some(suggestion) => format!("{}\nSuggestion: {suggestion}", finding.message),
        None => finding.message.clone(),
    };
    Diagnostic {
        range: Range::new(
            Position::new(finding.line.saturating_sub(1), 0),
            Position::new(finding.end_line.saturating_sub(1), end),
        ),
        severity: Some(match finding.severity.as_str() {
            "error" => DiagnosticSeverity::ERROR,
            "warning" => DiagnosticSeverity::WARNING,
            _ => DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(finding.category.clone())),
        source: Some(ext::REVIEW_SOURCE.to_owned()),
        message,
        ..Diagnostic::default()
    }
}

fn ended_message(report: &Report) -> String {
    match report.ended {
        Ended::Answered => format!("done in {} step(s)", report.steps),
        Ended::MaxSteps => format!(
            "stopped after {} steps without finishing (raise agent.max_steps to let it go on).",
            report.steps
        ),
        Ended::Budget => {
            "stopped: the run used up its token budget (agent.token_budget).".to_owned()
        }
        Ended::AnswerTooLong => "the answer was cut at agent.max_tokens.".to_owned(),
        Ended::Cancelled => "cancelled".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(location: Value) -> Option<At> {
        Ask::parse(&[json!("do it"), location]).unwrap().at
    }

    #[test]
    fn a_location_is_a_line_or_the_lines_of_a_selection() {
        let uri = lsp_types::Url::parse("file:///w/a.ts").unwrap();
        let lines = |start, end| {
            Some(At {
                uri: uri.clone(),
                lines: start..=end,
            })
        };
        let range = |start: (u32, u32), end: (u32, u32)| {
            json!({"uri": "file:///w/a.ts", "range": {
                "start": {"line": start.0, "character": start.1},
                "end": {"line": end.0, "character": end.1}}})
        };
        assert_eq!(at(range((3, 4), (3, 9))), lines(3, 3));
        assert_eq!(at(range((3, 4), (5, 2))), lines(3, 5));
        // Whole lines 3 and 4, as editors select them.
        assert_eq!(at(range((3, 0), (5, 0))), lines(3, 4));
        assert_eq!(at(range((3, 0), (4, 0))), lines(3, 3));
        assert_eq!(
            at(json!({"uri": "file:///w/a.ts", "position": {"line": 7, "character": 1}})),
            lines(7, 7)
        );
        assert_eq!(at(json!({"uri": "not a uri"})), None);
        assert_eq!(
            Ask::parse(&[json!("do it")]).unwrap(),
            Ask {
                instruction: "do it".to_owned(),
                at: None
            }
        );
    }
}
