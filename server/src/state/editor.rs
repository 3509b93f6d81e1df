//! The raw side of the editor connection: the one ordered way out to the
//! editor (an [`Outbox`] on stdout), and requests meshls sends it as JSON (relayed from the servers:
//! edits, progress tokens, registrations) with their answers routed back.
//!
//! tower-lsp's `Client` still sends meshls's own typed messages; they reach
//! the same outbox through the transport.

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use serde_json::{json, Value};
use tokio::{io::AsyncWrite, sync::oneshot};
use tokio_util::sync::CancellationToken;

use meshls_proxy::{jsonrpc::ResponseError, outbox::Outbox};

use crate::ext;

type Waiter = oneshot::Sender<Result<Value, ResponseError>>;

/// Where frames for the editor go: stdout, in a session.
pub type Output = Box<dyn AsyncWrite + Send + Unpin>;

pub struct Editor {
    out: Outbox<Output>,
    pending: Mutex<HashMap<String, Waiter>>,
    next_id: AtomicU64,
    /// meshls's own progress in the editor, by token, and how to stop the
    /// work it shows (`window/workDoneProgress/cancel`).
    progress: Mutex<HashMap<String, CancellationToken>>,
    /// The agent's questions waiting for the user, by number.
    questions: Mutex<BTreeMap<u64, Waiting>>,
    next_question: AtomicU64,
}

/// A question of the agent's waiting for an answer, which the user may
/// give in the editor's message or with a code action (`meshls.answer`),
/// for editors that cannot show a message with buttons (Helix).
struct Waiting {
    /// What the agent would do, on one line.
    action: String,
    /// Whether "Always for this session" is an answer.
    always: bool,
    answer: oneshot::Sender<String>,
}

/// A question waiting for the user, as code actions and `meshls.status`
/// show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Pending {
    pub id: u64,
    pub action: String,
    pub always: bool,
}

impl Editor {
    /// The editor behind `output`, and the task to spawn that writes
    /// what the pipe could not take at once; it ends after [`Editor::close`].
    pub fn new(output: Output) -> (Arc<Editor>, impl Future<Output = ()> + Send + 'static) {
        let (out, drain) = Outbox::new(output);
        let editor = Editor {
            out,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            progress: Mutex::new(HashMap::new()),
            questions: Mutex::new(BTreeMap::new()),
            next_question: AtomicU64::new(1),
        };
        (Arc::new(editor), drain)
    }

    /// Writes a frame, or queues it behind those the pipe has not taken.
    /// Fails only once the editor's end is closed.
    pub fn send_bytes(&self, bytes: Vec<u8>) {
        if self.out.send(&bytes).is_err() {
            tracing::debug!("a message for the editor was dropped: its end is closed");
        }
    }

    pub fn send(&self, message: &impl serde::Serialize) {
        // Our own messages hold only JSON values: serializing cannot fail.
        self.send_bytes(serde_json::to_vec(message).unwrap_or_default());
    }

    /// Takes no more frames; the writing task ends once everything queued
    /// is written.
    pub fn close(&self) {
        self.out.close();
    }

    /// Registers meshls's own progress `token`, which `cancel` stops.
    pub fn track_progress(&self, token: &str, cancel: CancellationToken) {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_owned(), cancel);
    }

    pub fn forget_progress(&self, token: &str) {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    /// Cancels the work behind one of meshls's progress tokens; whether the
    /// token was one.
    pub fn cancel_progress(&self, token: &str) -> bool {
        match self
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
        {
            Some(cancel) => {
                cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels all of meshls's cancellable work; how much there was.
    pub fn cancel_all_progress(&self) -> usize {
        let progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        progress.values().for_each(CancellationToken::cancel);
        progress.len()
    }

    pub fn notify(&self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Puts a question of the agent's up for an answer by code action
    /// ([`Editor::answer_question`]); its number, and where the answer comes.
    pub fn pose_question(&self, action: &str, always: bool) -> (u64, oneshot::Receiver<String>) {
        let id = self.next_question.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        self.questions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id,
                Waiting {
                    action: action.to_owned(),
                    always,
                    answer,
                },
            );
        (id, answered)
    }

    /// Answers question `id` (`allow`, `always` or `deny`); whether it was
    /// still waiting.
    pub fn answer_question(&self, id: u64, answer: &str) -> bool {
        let waiting = self
            .questions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        waiting.is_some_and(|waiting| waiting.answer.send(answer.to_owned()).is_ok())
    }

    /// The question is answered or given up: it is no longer offered.
    pub fn withdraw_question(&self, id: u64) {
        self.questions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// The questions waiting for the user, oldest first.
    pub fn pending_questions(&self) -> Vec<Pending> {
        self.questions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(id, waiting)| Pending {
                id: *id,
                action: waiting.action.clone(),
                always: waiting.always,
            })
            .collect()
    }

    /// Asks the editor to show the file at `uri`, focused; whether it did.
    pub async fn show_document(&self, uri: &lsp_types::Url) -> bool {
        let shown = self
            .request(
                "window/showDocument",
                json!({"uri": uri, "takeFocus": true}),
            )
            .await;
        shown.is_ok_and(|answer| answer["success"] == Value::Bool(true))
    }

    /// Sends a request and waits for the editor's answer. An editor that
    /// goes away answers with an error, never a hang.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, ResponseError> {
        let id = format!(
            "{}{}",
            ext::REQUEST_ID_PREFIX,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id.clone(), tx);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        rx.await.unwrap_or_else(|_| {
            Err(ResponseError {
                code: -32803,
                message: format!("the editor closed the connection before answering {method}"),
                data: None,
            })
        })
    }

    /// Routes a response from the editor to the raw request it answers.
    /// Returns the response when it is not for one of them.
    pub fn deliver(&self, response: Value) -> Option<Value> {
        let ours = response
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| id.starts_with(ext::REQUEST_ID_PREFIX));
        let Some(id) = ours else {
            return Some(response);
        };
        let Some(waiter) = self.lock().remove(id) else {
            tracing::debug!(id, "an answer for a request nobody waits for");
            return None;
        };
        let answer = match response.get("error") {
            Some(error) => {
                Err(
                    serde_json::from_value(error.clone()).unwrap_or_else(|_| ResponseError {
                        code: -32603,
                        message: format!("the editor answered with an unreadable error: {error}"),
                        data: None,
                    }),
                )
            }
            None => Ok(response.get("result").cloned().unwrap_or(Value::Null)),
        };
        let _ = waiter.send(answer);
        None
    }

    /// Fails every request still waiting: the editor is gone.
    pub fn disconnect(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiter>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}
