//! A run's `$/progress` reports, which every LSP editor shows: each step
//! as it starts ("step 2: asking the model", "editing src/a.ts"), and
//! between them the model's latest words as it writes them, at most ten
//! reports a second and none held back longer than that.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use meshls_agent::{model::Delta, redact::redact, run::Progress};
use serde_json::json;

use crate::{agent::events::RunEvents, state::editor::Editor};

/// The least time between two reports of the model's words.
const WORDS_EVERY: Duration = Duration::from_millis(100);
/// How many characters of the model's latest line a report shows.
const WORDS_SHOWN: usize = 80;
/// How much of the model's text is kept to find its latest line.
const TEXT_KEPT: usize = 4096;

/// The reports of one run, to the editor behind `editor`.
pub struct Reports {
    editor: Arc<Editor>,
    token: String,
    /// Whether the editor shows progress at all.
    on: bool,
    state: Arc<Mutex<Streaming>>,
    /// The run's events, for a client that asked for them.
    events: Arc<RunEvents>,
}

#[derive(Default)]
struct Streaming {
    /// The step the model is writing for, and what it wrote in it so far.
    step: u32,
    text: String,
    /// When the last report went.
    sent: Option<Instant>,
    /// A report of the words is due (a timer will send it).
    due: bool,
    /// Counts the step reports: a timer set before one sends nothing.
    generation: u64,
    /// The run ended: nothing more is sent.
    ended: bool,
}

impl Streaming {
    /// The report of the model's words: its latest line, the end of it.
    fn words(&self) -> Option<String> {
        let line = self
            .text
            .lines()
            .rev()
            .map(str::trim)
            .find(|line| !line.is_empty())?;
        let count = line.chars().count();
        let shown = if count > WORDS_SHOWN {
            let tail: String = line.chars().skip(count - WORDS_SHOWN).collect();
            format!("…{tail}")
        } else {
            line.to_owned()
        };
        Some(format!("step {}: {shown}", self.step))
    }
}

fn lock(state: &Mutex<Streaming>) -> MutexGuard<'_, Streaming> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Reports {
    pub fn new(editor: Arc<Editor>, token: &str, on: bool, events: Arc<RunEvents>) -> Reports {
        Reports {
            editor,
            token: token.to_owned(),
            on,
            state: Arc::default(),
            events,
        }
    }

    /// What the run is doing now.
    pub fn step(&self, step: &Progress) {
        match step {
            Progress::Model(Delta::Text(delta)) => self.events.text(delta),
            Progress::Tool { name, about } => self.events.tool(name, about, None),
            Progress::ToolDone {
                name,
                about,
                is_error,
            } => {
                let outcome = if *is_error { "error" } else { "ok" };
                self.events.tool(name, about, Some(outcome));
            }
            _ => {}
        }
        if !self.on {
            return;
        }
        if let Progress::Model(Delta::Text(delta)) = step {
            return self.wrote(delta);
        }
        let Some(message) = step_message(step) else {
            return;
        };
        let mut state = lock(&self.state);
        if let Progress::Thinking { step } = step {
            state.step = *step;
            state.text.clear();
        }
        state.generation += 1;
        state.due = false;
        state.sent = Some(Instant::now());
        // Sent with the state held, so a timer's report cannot pass it.
        report(&self.editor, &self.token, &message);
    }

    /// Reports `message` now, in place of the model's words not yet shown.
    pub fn say(&self, message: &str) {
        if !self.on {
            return;
        }
        let mut state = lock(&self.state);
        if state.ended {
            return;
        }
        state.generation += 1;
        state.due = false;
        state.sent = Some(Instant::now());
        report(&self.editor, &self.token, message);
    }

    /// No report after this one: the run has ended.
    pub fn end(&self) {
        lock(&self.state).ended = true;
    }

    fn wrote(&self, delta: &str) {
        let mut state = lock(&self.state);
        if state.ended {
            return;
        }
        state.text.push_str(delta);
        if state.text.len() > TEXT_KEPT {
            let mut cut = state.text.len() - TEXT_KEPT / 2;
            while !state.text.is_char_boundary(cut) {
                cut += 1;
            }
            state.text.drain(..cut);
        }
        let wait = state.sent.map_or(Duration::ZERO, |sent| {
            WORDS_EVERY.saturating_sub(sent.elapsed())
        });
        if wait.is_zero() {
            if let Some(words) = state.words() {
                state.sent = Some(Instant::now());
                state.due = false;
                report(&self.editor, &self.token, &words);
            }
            return;
        }
        if state.due {
            return;
        }
        state.due = true;
        let generation = state.generation;
        let (shared, editor, token) = (self.state.clone(), self.editor.clone(), self.token.clone());
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let mut state = lock(&shared);
            if state.due && state.generation == generation && !state.ended {
                if let Some(words) = state.words() {
                    state.sent = Some(Instant::now());
                    report(&editor, &token, &words);
                }
                state.due = false;
            }
        });
    }
}

/// What a step of the run shows in the progress report.
pub fn step_message(step: &Progress) -> Option<String> {
    Some(match step {
        Progress::Thinking { step } => format!("step {step}: asking the model"),
        Progress::Tool { name, about } => {
            let verb = match name.as_str() {
                "read_file" | "read_output" => "reading",
                "list_files" => "listing",
                "grep" => "searching for",
                "edit_file" => "editing",
                "write_file" => "creating",
                "run_command" => "running",
                "diagnostics" => "diagnostics of",
                "symbols" => "symbols of",
                other => other,
            };
            format!("{verb} {about}").trim_end().to_owned()
        }
        Progress::Verifying { files } => {
            format!("waiting for the language servers' diagnostics of {files} file(s)")
        }
        Progress::Model(_) | Progress::ToolDone { .. } => return None,
    })
}

/// One report, without any API key the model may have repeated.
fn report(editor: &Editor, token: &str, message: &str) {
    editor.notify(
        "$/progress",
        json!({"token": token, "value": {"kind": "report", "message": redact(message)}}),
    );
}

#[cfg(test)]
mod tests {
    use super::Streaming;

    #[test]
    fn the_words_shown_are_the_end_of_the_latest_line() {
        let mut state = Streaming {
            step: 2,
            ..Streaming::default()
        };
        assert_eq!(state.words(), None);
        state.text = "First I read it.\nThen  \n".to_owned();
        assert_eq!(state.words().as_deref(), Some("step 2: Then"));
        state.text = format!("{}é", "x".repeat(100));
        let words = state.words().unwrap();
        assert!(
            words.starts_with("step 2: …x") && words.ends_with("xé"),
            "{words}"
        );
        assert_eq!(words.chars().count(), "step 2: …".chars().count() + 80);
    }
}
