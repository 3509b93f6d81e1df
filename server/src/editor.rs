//! The raw side of the editor connection: the one queue of frames to the
//! editor, and requests meshls sends it as JSON (relayed from the servers:
//! edits, progress tokens, registrations) with their answers routed back.
//!
//! tower-lsp's `Client` still sends meshls's own typed messages; they reach
//! the same queue through the transport.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use meshls_proxy::jsonrpc::ResponseError;

/// Frames for the editor, in the order they are queued.
pub enum Outgoing {
    Message(Vec<u8>),
    /// Everything queued before this is written; then the writer stops.
    Close,
}

type Waiter = oneshot::Sender<Result<Value, ResponseError>>;

/// Ids of meshls's own raw requests start with this, so their answers are
/// told apart from those to tower-lsp's (numeric) ones.
const ID_PREFIX: &str = "meshls:";

pub struct Editor {
    out: mpsc::UnboundedSender<Outgoing>,
    pending: Mutex<HashMap<String, Waiter>>,
    next_id: AtomicU64,
}

impl Editor {
    pub fn new() -> (Arc<Editor>, mpsc::UnboundedReceiver<Outgoing>) {
        let (out, rx) = mpsc::unbounded_channel();
        let editor = Editor {
            out,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        };
        (Arc::new(editor), rx)
    }

    /// Queues a frame. Fails only once the writer has stopped, at exit.
    pub fn send_bytes(&self, bytes: Vec<u8>) {
        let _ = self.out.send(Outgoing::Message(bytes));
    }

    pub fn send(&self, message: &impl serde::Serialize) {
        // Our own messages hold only JSON values: serializing cannot fail.
        self.send_bytes(serde_json::to_vec(message).unwrap_or_default());
    }

    /// Asks the writer to stop once everything queued is written.
    pub fn close(&self) {
        let _ = self.out.send(Outgoing::Close);
    }

    pub fn notify(&self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and waits for the editor's answer. An editor that
    /// goes away answers with an error, never a hang.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, ResponseError> {
        let id = format!(
            "{ID_PREFIX}{}",
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
            .filter(|id| id.starts_with(ID_PREFIX));
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
