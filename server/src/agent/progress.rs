//! A run's `$/progress` reports, which every LSP editor shows: each step
//! as it starts ("step 2: asking the model", "editing src/a.ts"), and
//! between them the model's latest words as it writes them, at most ten
//! reports a second and none held back longer than that. The same beat
//! sends the model's text to the run's events (`RunEvents`): one ticker
//! per stream of text, not a timer per report, since timers cost meshls
//! more than the reports themselves (BENCHMARKS.md, "Streaming a run to
//! the editor").

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use meshls_agent::{model::Delta, redact::redact, run::Progress};
use serde_json::json;

use crate::{agent::events::RunEvents, state::editor::Editor};

/// The least time between two sendings of the model's words (a report,
/// and a `text` event), and the most any piece of them waits.
const WORDS_EVERY: Duration = Duration::from_millis(100);
/// How many characters of the model's latest line a report shows.
const WORDS_SHOWN: usize = 80;
/// How much of the model's text is kept to find its latest line.
const TEXT_KEPT: usize = 4096;

/// The reports of one run, to the editor behind `editor`.
pub struct Reports {
    shared: Arc<Shared>,
}

struct Shared {
    editor: Arc<Editor>,
    token: String,
    /// Whether the editor shows progress at all.
    on: bool,
    /// The run's events, for a client that asked for them, and the live
    /// transcript.
    events: Arc<RunEvents>,
    state: Mutex<Streaming>,
}

#[derive(Default)]
struct Streaming {
    /// The step the model is writing for, and what it wrote in it so far.
    step: u32,
    text: String,
    /// When the words last went out, or a step's report.
    sent: Option<Instant>,
    /// Words came since.
    pending: bool,
    /// A ticker task sends them.
    ticking: bool,
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

    /// How long until the words may go again.
    fn wait(&self) -> Duration {
        self.sent.map_or(Duration::ZERO, |sent| {
            WORDS_EVERY.saturating_sub(sent.elapsed())
        })
    }
}

fn lock(state: &Mutex<Streaming>) -> MutexGuard<'_, Streaming> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// Sends the words that came since they last went, with the state
    /// held, so no report passes another.
    fn flush(&self, state: &mut Streaming) {
        state.pending = false;
        state.sent = Some(Instant::now());
        self.events.flush_text();
        if self.on {
            if let Some(words) = state.words() {
                report(&self.editor, &self.token, &words);
            }
        }
    }

    /// A report of a step (or a question), now; the model's text before
    /// it goes first to the events.
    fn step_report(&self, message: &str, new_step: Option<u32>) {
        let mut state = lock(&self.state);
        if state.ended {
            return;
        }
        self.events.flush_text();
        if let Some(step) = new_step {
            state.step = step;
            state.text.clear();
        }
        state.pending = false;
        state.sent = Some(Instant::now());
        report(&self.editor, &self.token, message);
    }
}

/// Sends the words on the beat while they come; ends after a beat in
/// which none came (the next words start another).
async fn tick(shared: Arc<Shared>) {
    let mut wait = lock(&shared.state).wait();
    loop {
        tokio::time::sleep(wait).await;
        let mut state = lock(&shared.state);
        if state.ended || !state.pending {
            state.ticking = false;
            return;
        }
        wait = state.wait();
        if wait.is_zero() {
            shared.flush(&mut state);
            wait = WORDS_EVERY;
        }
    }
}

impl Reports {
    pub fn new(editor: Arc<Editor>, token: &str, on: bool, events: Arc<RunEvents>) -> Reports {
        Reports {
            shared: Arc::new(Shared {
                editor,
                token: token.to_owned(),
                on,
                events,
                state: Mutex::default(),
            }),
        }
    }

    /// What the run is doing now.
    pub fn step(&self, step: &Progress) {
        let events = &self.shared.events;
        match step {
            Progress::Model(Delta::Text(delta)) => return self.wrote(delta),
            Progress::Tool { name, about } => events.tool(name, about, None),
            Progress::ToolDone {
                name,
                about,
                is_error,
            } => {
                let outcome = if *is_error { "error" } else { "ok" };
                events.tool(name, about, Some(outcome));
            }
            _ => {}
        }
        if !self.shared.on {
            return;
        }
        let Some(message) = step_message(step) else {
            return;
        };
        let new_step = match step {
            Progress::Thinking { step } => Some(*step),
            _ => None,
        };
        self.shared.step_report(&message, new_step);
    }

    /// Reports `message` now, in place of the model's words not yet shown.
    pub fn say(&self, message: &str) {
        if self.shared.on {
            self.shared.step_report(message, None);
        }
    }

    /// No report after this one: the run has ended.
    pub fn end(&self) {
        lock(&self.shared.state).ended = true;
    }

    fn wrote(&self, delta: &str) {
        let shared = &self.shared;
        if !shared.on && !shared.events.wanted() {
            return;
        }
        let mut state = lock(&shared.state);
        if state.ended {
            return;
        }
        shared.events.push_text(delta);
        if shared.on {
            state.text.push_str(delta);
            if state.text.len() > TEXT_KEPT {
                let mut cut = state.text.len() - TEXT_KEPT / 2;
                while !state.text.is_char_boundary(cut) {
                    cut += 1;
                }
                state.text.drain(..cut);
            }
        }
        state.pending = true;
        if state.wait().is_zero() {
            return shared.flush(&mut state);
        }
        if !state.ticking {
            state.ticking = true;
            tokio::spawn(tick(shared.clone()));
        }
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
