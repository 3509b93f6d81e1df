//! Typed calls to one downstream server: requests with a timeout that are
//! cancelled (`$/cancelRequest`) when the caller gives up, notifications
//! queued synchronously so their order is the caller's, answers to the
//! server's own requests, and a clean shutdown.

use std::{
    process::ExitStatus,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use lsp_types::{notification::Notification, request::Request};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{value::RawValue, Value};

use crate::{
    jsonrpc::{Message, RequestId, ResponseError},
    stats::RequestStats,
    transport::{Process, State},
    Error, Result,
};

#[derive(Clone)]
pub struct Client {
    state: Arc<State>,
    process: Arc<Process>,
}

impl Client {
    pub(crate) fn new(state: Arc<State>, process: Process) -> Client {
        Client {
            state,
            process: Arc::new(process),
        }
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Its requests' answers, errors, timeouts and latencies so far.
    pub fn stats(&self) -> RequestStats {
        self.state.stats().snapshot()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid
    }

    /// Why the server is gone, or `None` while it runs.
    pub fn gone(&self) -> Option<String> {
        self.state.gone_reason()
    }

    /// Queues a notification. It is on its way, in order, when this returns.
    pub fn notify_raw(&self, method: &str, params: Value) -> Result<()> {
        self.state.send(&Message::Notification {
            method: method.to_owned(),
            params,
        })
    }

    pub fn notify<N: Notification>(&self, params: N::Params) -> Result<()>
    where
        N::Params: Serialize,
    {
        self.notify_raw(N::METHOD, serde_json::to_value(params).unwrap_or_default())
    }

    /// Sends a request and waits at most `timeout` for its answer, as JSON.
    pub async fn request_raw(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value> {
        let text = self.request_verbatim(method, params, timeout).await?;
        serde_json::from_str(text.get()).map_err(|err| Error::BadResult {
            name: self.state.name.clone(),
            method: method.to_owned(),
            reason: err.to_string(),
        })
    }

    /// Sends a request and waits at most `timeout` for its answer, as the
    /// JSON text the server sent. If the time runs out or the caller drops
    /// the future, the server is sent `$/cancelRequest` and a late answer is
    /// dropped.
    pub async fn request_verbatim(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Box<RawValue>> {
        let id = RequestId::Number(self.state.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.state.pending().insert(id.clone(), tx);
        // Registered first, so an answer can never arrive before its waiter.
        if let Err(err) = self.state.send(&Message::Request {
            id: id.clone(),
            method: method.to_owned(),
            params,
        }) {
            self.state.pending().remove(&id);
            return Err(err);
        }
        let mut guard = CancelOnDrop {
            state: &self.state,
            id: Some(id),
        };
        let sent = Instant::now();
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => {
                guard.id = None;
                let answered = !matches!(result, Err(Error::Gone { .. }));
                if answered {
                    let error = result.is_err();
                    self.state.stats().answered(sent.elapsed(), error);
                }
                result
            }
            // The server died and its pending requests were dropped with it.
            Ok(Err(_)) => {
                guard.id = None;
                let reason = self
                    .gone()
                    .unwrap_or_else(|| "it stopped answering".to_owned());
                Err(self.state.gone_error(reason))
            }
            Err(_) => {
                self.state.stats().timed_out();
                Err(Error::Timeout {
                    name: self.state.name.clone(),
                    method: method.to_owned(),
                    after: timeout,
                })
            }
        }
    }

    pub async fn request<R: Request>(
        &self,
        params: R::Params,
        timeout: Duration,
    ) -> Result<R::Result>
    where
        R::Params: Serialize,
        R::Result: DeserializeOwned,
    {
        let value = self
            .request_raw(
                R::METHOD,
                serde_json::to_value(params).unwrap_or_default(),
                timeout,
            )
            .await?;
        serde_json::from_value(value).map_err(|err| Error::BadResult {
            name: self.state.name.clone(),
            method: R::METHOD.to_owned(),
            reason: err.to_string(),
        })
    }

    /// Answers a request the server sent.
    pub fn respond(&self, id: RequestId, result: Result<Value, ResponseError>) -> Result<()> {
        // A JSON value always serializes.
        let result =
            result.map(|value| serde_json::value::to_raw_value(&value).unwrap_or_default());
        self.state.send(&Message::Response {
            id: Some(id),
            result,
        })
    }

    /// `shutdown`, then `exit`, then waits for the process to end; kills it
    /// if any step takes longer than `timeout`. Returns how it ended.
    pub async fn shutdown(&self, timeout: Duration) -> Option<ExitStatus> {
        if self.gone().is_none() {
            match self.request_raw("shutdown", Value::Null, timeout).await {
                Ok(_) => {
                    self.state
                        .exiting
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    let _ = self.notify_raw("exit", Value::Null);
                }
                Err(err) => tracing::warn!(server = %self.name(), "shutdown failed: {err}"),
            }
        }
        let mut exited = self.process.exited.clone();
        let wait = exited.wait_for(Option::is_some);
        if tokio::time::timeout(timeout, wait).await.is_err() {
            tracing::warn!(server = %self.name(), "did not exit within {timeout:?}; killing it");
            self.process.kill();
            let _ = exited.wait_for(Option::is_some).await;
        }
        let status = *exited.borrow();
        status
    }

    /// Waits until the process has ended, for whatever reason.
    pub async fn closed(&self) {
        let mut exited = self.process.exited.clone();
        let _ = exited.wait_for(Option::is_some).await;
    }

    /// Ends the process now, without the shutdown handshake.
    pub fn kill(&self) {
        self.process.kill();
    }
}

/// Cancels a request whose caller stopped waiting, unless disarmed.
struct CancelOnDrop<'a> {
    state: &'a State,
    id: Option<RequestId>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            if self.state.pending().remove(&id).is_some() {
                let params = serde_json::json!({ "id": id });
                let _ = self.state.send(&Message::Notification {
                    method: "$/cancelRequest".to_owned(),
                    params,
                });
            }
        }
    }
}
