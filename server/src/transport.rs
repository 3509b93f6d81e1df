//! The editor connection: reading frames, dispatching them to tower-lsp's
//! `LspService`, and writing responses and server-to-client messages.
//!
//! This replaces `tower_lsp::Server`. Its reader stops at the first
//! undecodable frame (tokio-util's `FramedRead` ends after a decoder error),
//! so one malformed message would end the session; here each bad frame gets
//! the JSON-RPC error the specification names and the loop goes on. Its
//! dispatch lets later messages race an unfinished `initialize`. And this
//! loop is the one ordered reader: it applies document notifications to
//! [`Documents`] and queues them for the document's language servers, then
//! runs each handler up to its first `.await` before
//! reading the next message, so every handler reads the documents and
//! settings as they were when its message arrived.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures::{future::BoxFuture, FutureExt as _, SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
    task::JoinSet,
};
use tokio_util::codec::{FramedRead, FramedWrite};
use tower::{Service, ServiceExt as _};
use tower_lsp::{
    jsonrpc::{self, Id, Request, Response},
    ClientSocket, ExitedError, LspService,
};

use meshls_proxy::framing::{Frame, LspCodec};

use crate::{backend::Backend, documents::Documents, downstream::Downstream};

/// How the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `exit` (or the end of input) after a successful `shutdown`: exit code 0.
    Clean,
    /// The input ended, or `exit` came, without `shutdown`: exit code 1, as
    /// the specification asks.
    Abrupt,
}

enum Outgoing {
    Message(Vec<u8>),
    /// Everything queued before this is written; then the writer stops.
    Close,
}

type Outbox = mpsc::UnboundedSender<Outgoing>;

/// How long requests still running at exit get to answer.
const DRAIN: Duration = Duration::from_secs(2);

pub async fn serve(
    input: impl AsyncRead + Unpin,
    output: impl AsyncWrite + Send + Unpin + 'static,
    mut service: LspService<Backend>,
    socket: ClientSocket,
    docs: Arc<Documents>,
    downstream: Arc<Downstream>,
) -> Ending {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outgoing>();
    let writer = tokio::spawn(async move {
        let mut sink = FramedWrite::new(output, LspCodec::default());
        while let Some(Outgoing::Message(bytes)) = out_rx.recv().await {
            if let Err(err) = sink.send(bytes).await {
                tracing::error!("cannot write to the editor: {err}");
                break;
            }
        }
    });

    let (mut server_requests, mut client_responses) = socket.split();
    let forward = {
        let out_tx = out_tx.clone();
        tokio::spawn(async move {
            while let Some(request) = server_requests.next().await {
                if out_tx.send(Outgoing::Message(encode(&request))).is_err() {
                    break;
                }
            }
        })
    };

    let mut in_flight = JoinSet::new();
    let mut reader = FramedRead::new(input, LspCodec::default());
    let mut initialized = false;
    let mut shut_down = false;
    while let Some(frame) = reader.next().await {
        let body = match frame {
            Ok(Frame::Message(body)) => body,
            Ok(Frame::Malformed(why)) => {
                tracing::warn!("malformed message from the editor: {why}");
                let message = format!("malformed message: {why}");
                send(
                    &out_tx,
                    &error_response(Id::Null, jsonrpc::ErrorCode::ParseError, message),
                );
                continue;
            }
            Err(err) => {
                tracing::error!("cannot read from the editor: {err}");
                break;
            }
        };
        let value: Value = match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(err) => {
                tracing::warn!("invalid JSON from the editor: {err}");
                let message = format!("invalid JSON: {err}");
                send(
                    &out_tx,
                    &error_response(Id::Null, jsonrpc::ErrorCode::ParseError, message),
                );
                continue;
            }
        };
        let id = id_of(&value);
        if value.get("method").is_none() {
            match serde_json::from_value::<Response>(value) {
                // tower-lsp panics on a response to a request it stopped
                // waiting for; that must not take the reader down with it.
                Ok(response) => match AssertUnwindSafe(client_responses.send(response))
                    .catch_unwind()
                    .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => {
                        tracing::debug!("a response came for a request nobody waits for")
                    }
                },
                Err(_) => {
                    let message = "not a JSON-RPC 2.0 request, notification or response".to_owned();
                    send(
                        &out_tx,
                        &error_response(id, jsonrpc::ErrorCode::InvalidRequest, message),
                    );
                }
            }
            continue;
        }
        let request: Request = match serde_json::from_value(value) {
            Ok(request) => request,
            Err(err) => {
                let message = format!("not a valid JSON-RPC 2.0 message: {err}");
                send(
                    &out_tx,
                    &error_response(id, jsonrpc::ErrorCode::InvalidRequest, message),
                );
                continue;
            }
        };
        // Errors once the session has exited.
        if service.ready().await.is_err() {
            break;
        }
        let method = request.method().to_owned();
        // Before initialize, notifications are dropped (the specification
        // says so, and tower-lsp does); the documents must not see them either.
        if initialized {
            let servers = downstream.get();
            // A server restarting now gets either this notification or a
            // replay that includes it, never both and never neither.
            let _documents = servers.documents_lock();
            if let Some(language_id) = docs.apply_notification(&method, request.params()) {
                let params = request.params().unwrap_or(&Value::Null);
                servers.notify_document(&language_id, &method, params);
            }
        }
        let id = request.id().cloned();
        let mut task = Box::pin(respond(
            service.call(request),
            id,
            method.clone(),
            out_tx.clone(),
        ));
        match method.as_str() {
            // Lifecycle messages are answered before anything after them is
            // read, and only a successful answer changes the state.
            "initialize" => initialized |= task.await,
            "shutdown" => shut_down |= task.await,
            "exit" => {
                task.await;
                break;
            }
            _ => {
                if futures::poll!(task.as_mut()).is_pending() {
                    in_flight.spawn(task);
                }
            }
        }
        // Finished tasks are reaped here so a long session does not keep them.
        while in_flight.try_join_next().is_some() {}
    }

    // Requests still running get a moment to answer (after `exit` they answer
    // "cancelled" at once), so no response is lost at the end.
    let drain = async { while in_flight.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN, drain).await.is_err() {
        tracing::warn!("{} requests were still running at exit", in_flight.len());
    }
    forward.abort();
    let _ = out_tx.send(Outgoing::Close);
    let _ = writer.await;
    if shut_down {
        Ending::Clean
    } else {
        Ending::Abrupt
    }
}

/// Awaits one message's handler and sends its response, if it has one.
/// Returns whether the handler succeeded.
async fn respond(
    response: BoxFuture<'static, Result<Option<Response>, ExitedError>>,
    id: Option<Id>,
    method: String,
    out_tx: Outbox,
) -> bool {
    let response = match AssertUnwindSafe(response).catch_unwind().await {
        Ok(Ok(Some(response))) => Some(response),
        // tower-lsp answers nothing to unknown `$/` methods, but a request
        // (one with an id) must always get a response.
        Ok(Ok(None)) => id.map(|id| {
            let message = format!("meshls does not handle {method}");
            error_response(id, jsonrpc::ErrorCode::MethodNotFound, message)
        }),
        Ok(Err(exited)) => {
            tracing::debug!("{exited}");
            None
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(%method, "handler panicked: {what}");
            id.map(|id| {
                let message =
                    format!("meshls failed while handling {method}: {what}; please report this with the log");
                error_response(id, jsonrpc::ErrorCode::InternalError, message)
            })
        }
    };
    let succeeded = response.as_ref().is_some_and(Response::is_ok);
    if let Some(response) = response {
        send(&out_tx, &response);
    }
    succeeded
}

fn send(out_tx: &Outbox, response: &Response) {
    // Fails only once the writer has stopped, at exit.
    let _ = out_tx.send(Outgoing::Message(encode(response)));
}

fn error_response(id: Id, code: jsonrpc::ErrorCode, message: String) -> Response {
    Response::from_error(
        id,
        jsonrpc::Error {
            code,
            message: message.into(),
            data: None,
        },
    )
}

/// The id of a message that failed to parse, when it has a usable one.
fn id_of(value: &Value) -> Id {
    match value.get("id") {
        Some(Value::Number(n)) => n.as_i64().map_or(Id::Null, Id::Number),
        Some(Value::String(s)) => Id::String(s.clone()),
        _ => Id::Null,
    }
}

fn encode(message: &impl serde::Serialize) -> Vec<u8> {
    // Serializing our own JSON-RPC types cannot fail: they hold only JSON values.
    serde_json::to_vec(message).unwrap_or_default()
}
