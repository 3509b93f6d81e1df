//! What the server sent, kept until a test waits for it: responses by id,
//! notifications and the server's own requests, each taken once, and the
//! whole log for tests that look at everything.

use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use lsp_types::Url;
use serde_json::Value;

use super::transport::Event;
use super::{Server, POLL, WAIT_TIMEOUT};

/// Everything received so far, and what tests have not consumed yet.
#[derive(Default)]
pub(super) struct Inbox {
    pub(super) log: Vec<Value>,
    responses: Vec<Value>,
    notifications: Vec<Value>,
    server_requests: Vec<Value>,
    pub(super) stdout_closed: bool,
}

impl Inbox {
    pub(super) fn accept(&mut self, event: Event) {
        let message = match event {
            Event::Message(message) => message,
            Event::Violation => return,
            Event::Closed => {
                self.stdout_closed = true;
                return;
            }
        };
        self.log.push(message.clone());
        match (message.get("id").is_some(), message.get("method").is_some()) {
            (true, true) => self.server_requests.push(message),
            (false, true) => self.notifications.push(message),
            _ => self.responses.push(message),
        }
    }
}

impl Server {
    /// Drops the unconsumed `method` notifications received so far, so the
    /// next wait sees only newer ones.
    pub fn skip_notifications(&mut self, method: &str) {
        self.pump();
        self.inbox.notifications.retain(|m| m["method"] != method);
    }

    /// Forgets the log of every message received so far and the
    /// notifications not waited for, as a long session must to stay
    /// bounded. Responses not yet waited for stay.
    pub fn forget_received(&mut self) {
        self.pump();
        self.inbox.log.clear();
        self.inbox.notifications.clear();
    }

    /// Every message received so far, in order, consumed or not.
    pub fn messages(&mut self) -> Vec<Value> {
        self.pump();
        self.check_protocol();
        self.inbox.log.clone()
    }

    pub fn wait_response(&mut self, id: i64) -> Result<Value, Value> {
        let response = self.wait_for(&format!("the response to request {id}"), |inbox| {
            take_first(&mut inbox.responses, |m| m["id"].as_i64() == Some(id))
        });
        match response.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(response.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// Returns the next whole response whose id is `null`, as sent for messages that could not be parsed.
    pub fn wait_response_null(&mut self) -> Value {
        self.wait_for("a response with a null id", |inbox| {
            take_first(&mut inbox.responses, |m| m["id"].is_null())
        })
    }

    /// Returns the params of the first unconsumed `method` notification that satisfies `predicate`.
    pub fn wait_notification(&mut self, method: &str, predicate: impl Fn(&Value) -> bool) -> Value {
        let message = self.wait_for(&format!("a {method} notification"), |inbox| {
            take_first(&mut inbox.notifications, |m| {
                m["method"] == method && predicate(m.get("params").unwrap_or(&Value::Null))
            })
        });
        params_of(message)
    }

    /// The params of the first unconsumed publication of diagnostics for
    /// `uri` in which one diagnostic `matches`.
    pub fn wait_publication(&mut self, uri: &Url, matches: impl Fn(&Value) -> bool) -> Value {
        self.wait_notification("textDocument/publishDiagnostics", |p| {
            p["uri"] == uri.as_str()
                && p["diagnostics"]
                    .as_array()
                    .is_some_and(|ds| ds.iter().any(&matches))
        })
    }

    /// Returns the params of the first unconsumed request of `method` from the server (already answered).
    pub fn wait_server_request(&mut self, method: &str) -> Value {
        self.wait_server_request_where(method, |_| true)
    }

    /// [`Server::wait_server_request`] for the first whose params match.
    pub fn wait_server_request_where(
        &mut self,
        method: &str,
        predicate: impl Fn(&Value) -> bool,
    ) -> Value {
        let message = self.wait_for(&format!("a {method} request from the server"), |inbox| {
            take_first(&mut inbox.server_requests, |m| {
                m["method"] == method && predicate(m.get("params").unwrap_or(&Value::Null))
            })
        });
        params_of(message)
    }

    /// Moves whatever the reader thread has delivered into the inbox, without blocking.
    pub(super) fn pump(&mut self) {
        loop {
            match self.events.try_recv() {
                Ok(event) => self.inbox.accept(event),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.inbox.stdout_closed = true;
                    return;
                }
            }
        }
    }

    /// Waits until `take` finds something in the inbox, panicking with context on a hang or exit.
    fn wait_for<T>(&mut self, what: &str, mut take: impl FnMut(&mut Inbox) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let mut exited_at = None;
        loop {
            self.pump();
            self.check_protocol();
            if let Some(found) = take(&mut self.inbox) {
                return found;
            }
            if self.inbox.stdout_closed {
                self.panic_exited(what);
            }
            if Instant::now() >= deadline {
                let context = self.context();
                panic!("timed out after {WAIT_TIMEOUT:?} waiting for {what}\n{context}");
            }
            // A child that exited while something else holds its stdout never closes the
            // stream, so the process itself is watched too, with a grace period for the reader.
            if let Ok(Some(_)) = self.child.try_wait() {
                if exited_at.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(2) {
                    self.panic_exited(what);
                }
            }
            match self.events.recv_timeout(POLL) {
                Ok(event) => self.inbox.accept(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.inbox.stdout_closed = true,
            }
        }
    }
}

fn take_first(messages: &mut Vec<Value>, matches: impl Fn(&Value) -> bool) -> Option<Value> {
    let index = messages.iter().position(matches)?;
    Some(messages.remove(index))
}

fn params_of(mut message: Value) -> Value {
    message
        .get_mut("params")
        .map(Value::take)
        .unwrap_or(Value::Null)
}
