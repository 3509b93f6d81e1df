//! `meshls/runEvent`: what a run does, as it does it, for a client that
//! shows the run as a conversation and says so by setting
//! `experimental.meshlsRunEvents: true` when it initializes. No other
//! editor ever receives the method. The same events keep the session's
//! transcript live while the run goes, for every editor. Each event is
//! `{session, run, seq, kind, ...}`; the kinds and their fields are in
//! README ("Run events").

use std::{
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
};

use meshls_agent::{host::Problem, redact::redact, run::Report};
use serde_json::{json, Map, Value};

use crate::{ext, state::editor::Editor};

/// The events of one run, to the editor when it asked for them, and to
/// the session's transcript as it goes.
pub struct RunEvents {
    targets: Targets,
    ids: Arc<Ids>,
    order: Arc<Mutex<Order>>,
}

/// Where the events go.
#[derive(Clone, Default)]
struct Targets {
    /// None when the editor did not ask.
    editor: Option<Arc<Editor>>,
    /// The session's transcript, which the run's events are appended to
    /// in markdown until the run ends (then it is written whole again).
    live: Option<Arc<Mutex<std::fs::File>>>,
}

impl Targets {
    fn any(&self) -> bool {
        self.editor.is_some() || self.live.is_some()
    }
}

/// Whose events they are.
struct Ids {
    session: String,
    run: String,
}

/// What keeps the events in order: the next number, and the model's text
/// not yet sent.
#[derive(Default)]
struct Order {
    seq: u64,
    text: String,
}

fn lock(order: &Mutex<Order>) -> MutexGuard<'_, Order> {
    order
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sends one event of `kind` with `fields` (text in them redacted), with
/// the order held, so numbers and sending agree.
fn emit(targets: &Targets, ids: &Ids, order: &mut Order, kind: &str, fields: Value) {
    let fields = redacted(fields);
    if let Some(live) = &targets.live {
        let text = markdown(kind, &fields);
        let mut file = live.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(err) = std::io::Write::write_all(&mut *file, text.as_bytes()) {
            tracing::debug!("the live transcript could not be written: {err}");
        }
    }
    let Some(editor) = &targets.editor else {
        return;
    };
    let mut event = Map::new();
    event.insert("session".into(), Value::from(ids.session.as_str()));
    event.insert("run".into(), Value::from(ids.run.as_str()));
    event.insert("seq".into(), Value::from(order.seq));
    order.seq += 1;
    event.insert("kind".into(), Value::from(kind));
    if let Value::Object(fields) = fields {
        event.extend(fields);
    }
    editor.notify(ext::RUN_EVENT, Value::Object(event));
}

/// An event as the live transcript shows it, until the run's end writes
/// the transcript whole.
fn markdown(kind: &str, fields: &Value) -> String {
    let text = |key: &str| fields[key].as_str().unwrap_or_default().to_owned();
    match kind {
        "start" => format!(
            "\n## You\n\n{}\n\n## Agent (working)\n\n",
            text("instruction")
        ),
        "text" => text("text"),
        "tool" => match fields["outcome"].as_str() {
            None => format!("\n- `{}` {}\n", text("name"), text("about")),
            Some("error") => "  - failed\n".to_owned(),
            Some(_) => String::new(),
        },
        "edit" => format!("  - edited {} ({})\n", text("uri"), text("summary")),
        "diagnostics" => {
            let errors = fields["errors"].as_array().cloned().unwrap_or_default();
            let mut out = format!("\n- errors after the edits: {}\n", errors.len());
            for error in errors {
                out.push_str(&format!(
                    "  - {} line {}: {}\n",
                    error["uri"].as_str().unwrap_or_default(),
                    error["line"],
                    error["message"].as_str().unwrap_or_default()
                ));
            }
            out
        }
        "approval" => format!("\n- asked: {}? {}\n", text("asked"), text("answer")),
        "end" => format!("\n\n_{}_\n", text("outcome")),
        _ => String::new(),
    }
}

/// Sends the model's text not yet sent, if any.
fn flush_text(targets: &Targets, ids: &Ids, order: &mut Order) {
    if order.text.is_empty() {
        return;
    }
    let text = std::mem::take(&mut order.text);
    emit(targets, ids, order, "text", json!({"text": text}));
}

impl RunEvents {
    pub fn new(editor: Arc<Editor>, wanted: bool, session: &str, run: &str) -> RunEvents {
        RunEvents {
            targets: Targets {
                editor: wanted.then_some(editor),
                live: None,
            },
            ids: Arc::new(Ids {
                session: session.to_owned(),
                run: run.to_owned(),
            }),
            order: Arc::default(),
        }
    }

    /// Events nobody receives (a run of `meshls review`, a test).
    pub fn off() -> RunEvents {
        RunEvents {
            targets: Targets::default(),
            ids: Arc::new(Ids {
                session: String::new(),
                run: String::new(),
            }),
            order: Arc::default(),
        }
    }

    /// Appends the run's events to the session's transcript at `path`
    /// (as written before the run) until it ends.
    pub fn with_live_transcript(self, path: &Path) -> RunEvents {
        let opened = std::fs::OpenOptions::new().append(true).open(path);
        match opened {
            Ok(file) => RunEvents {
                targets: Targets {
                    live: Some(Arc::new(Mutex::new(file))),
                    ..self.targets
                },
                ..self
            },
            Err(err) => {
                tracing::warn!(
                    "the transcript {} cannot be kept live: {err}",
                    path.display()
                );
                self
            }
        }
    }

    /// Sends one event, after the text that came before it.
    fn send(&self, kind: &str, fields: Value) {
        if !self.targets.any() {
            return;
        }
        let mut order = lock(&self.order);
        flush_text(&self.targets, &self.ids, &mut order);
        emit(&self.targets, &self.ids, &mut order, kind, fields);
    }

    /// The run started on `instruction`, asked directly (`ask`) or by a
    /// code action (its name: `fix`, `explain`, `review`, ...).
    /// `token` is the run's `$/progress` token.
    pub fn start(&self, instruction: &str, action: &str, token: &str) {
        self.send(
            "start",
            json!({"instruction": instruction, "action": action, "token": token}),
        );
    }

    /// Whether anything receives the events.
    pub fn wanted(&self) -> bool {
        self.targets.any()
    }

    /// A piece of the model's answer, as it streams, kept until
    /// [`RunEvents::flush_text`] or the next event: the run's progress
    /// (`Reports`) sends the pieces at most every 100 ms, none later.
    pub fn push_text(&self, delta: &str) {
        if self.targets.any() {
            lock(&self.order).text.push_str(delta);
        }
    }

    /// Sends the pieces of the answer kept since the last `text` event.
    pub fn flush_text(&self) {
        if self.targets.any() {
            flush_text(&self.targets, &self.ids, &mut lock(&self.order));
        }
    }

    /// A tool call: `outcome` is None as it starts, then `ok` or `error`.
    pub fn tool(&self, name: &str, about: &str, outcome: Option<&str>) {
        self.send(
            "tool",
            json!({"name": name, "about": about, "outcome": outcome}),
        );
    }

    /// The editor applied the run's `edit` to `path`.
    pub fn edit(&self, path: &Path, edit: &Value) {
        let uri = lsp_types::Url::from_file_path(path)
            .map(|uri| uri.to_string())
            .unwrap_or_default();
        self.send("edit", json!({"uri": uri, "summary": summary(edit)}));
    }

    /// The errors the servers reported after the run's changes.
    pub fn diagnostics(&self, problems: &[Problem]) {
        let errors: Vec<Value> = problems
            .iter()
            .filter(|problem| problem.severity == "error")
            .map(|problem| {
                json!({
                    "uri": lsp_types::Url::from_file_path(&problem.at.path)
                        .map(|uri| uri.to_string())
                        .unwrap_or_default(),
                    // From 1, as the model reads it.
                    "line": problem.at.line,
                    "source": problem.source,
                    "message": problem.message,
                })
            })
            .collect();
        self.send("diagnostics", json!({"errors": errors}));
    }

    /// The user was asked to allow `action`; `answer` is `allow`, `always`,
    /// `deny` or `no answer`.
    pub fn approval(&self, action: &str, answer: &str) {
        self.send("approval", json!({"asked": action, "answer": answer}));
    }

    /// The run ended: how (`outcome` as the progress said it), what it
    /// used, and the files it changed.
    /// `undo`: `meshls.undoRun` can take the run back.
    pub fn end(&self, outcome: &str, report: Option<&Report>, root: &Path, undo: bool) {
        let (tokens, cost, files) = match report {
            Some(report) => (
                json!({"input": report.usage.input_tokens, "output": report.usage.output_tokens}),
                json!(report.cost),
                report
                    .changed
                    .iter()
                    .map(|path| meshls_agent::paths::relative(root, path))
                    .collect::<Vec<_>>(),
            ),
            None => (json!({"input": 0, "output": 0}), json!(0.0), Vec::new()),
        };
        self.send(
            "end",
            json!({"outcome": outcome, "tokens": tokens, "cost": cost, "files": files, "undo": undo}),
        );
    }
}

/// What an edit did, in a few words: `created`, or the lines it changed.
fn summary(edit: &Value) -> String {
    let changes = edit["documentChanges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if changes.iter().any(|change| change["kind"] == "create") {
        return "created".to_owned();
    }
    let lines: Vec<(u64, u64)> = changes
        .iter()
        .flat_map(|change| change["edits"].as_array().cloned().unwrap_or_default())
        .filter_map(|edit| {
            let range = &edit["range"];
            Some((
                range["start"]["line"].as_u64()? + 1,
                range["end"]["line"].as_u64()? + 1,
            ))
        })
        .collect();
    let (Some(first), Some(last)) = (
        lines.iter().map(|(start, _)| *start).min(),
        lines.iter().map(|(_, end)| *end).max(),
    ) else {
        return "changed".to_owned();
    };
    if first == last {
        format!("line {first}")
    } else {
        format!("lines {first}-{last}")
    }
}

/// `value` with every string in it redacted.
fn redacted(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(redact(&text).into_owned()),
        Value::Array(items) => Value::Array(items.into_iter().map(redacted).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key, redacted(value)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::summary;
    use serde_json::json;

    #[test]
    fn an_edit_is_summed_up_by_the_lines_it_changed() {
        let at = |start: u64, end: u64| json!({"range": {"start": {"line": start, "character": 0}, "end": {"line": end, "character": 1}}, "newText": ""});
        let edit = |edits: Vec<serde_json::Value>| json!({"documentChanges": [{"textDocument": {"uri": "file:///a", "version": 1}, "edits": edits}]});
        assert_eq!(summary(&edit(vec![at(0, 0)])), "line 1");
        assert_eq!(summary(&edit(vec![at(4, 5), at(1, 1)])), "lines 2-6");
        assert_eq!(
            summary(&json!({"documentChanges": [{"kind": "create", "uri": "file:///b"}]})),
            "created"
        );
        assert_eq!(summary(&json!({})), "changed");
    }
}
