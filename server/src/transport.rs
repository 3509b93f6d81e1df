//! The editor connection: reading frames, dispatching them to tower-lsp's
//! `LspService`, and writing responses and server-to-client messages.
//!
//! This replaces `tower_lsp::Server` for two reasons. Its reader stops at the
//! first undecodable frame (tokio-util's `FramedRead` ends after a decoder
//! error), so one malformed message would end the session; here each bad
//! frame gets the JSON-RPC error the specification names and the loop goes
//! on. And this loop is the one ordered reader: it hands document
//! notifications to [`Documents`] before anything else runs, so concurrent
//! handlers can never apply edits out of order.

use std::{panic::AssertUnwindSafe, sync::Arc};

use futures::{FutureExt as _, SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
};
use tokio_util::codec::{FramedRead, FramedWrite};
use tower::{Service, ServiceExt as _};
use tower_lsp::{
    jsonrpc::{self, Id, Request, Response},
    ClientSocket, LspService,
};

use meshls_proxy::framing::{Frame, LspCodec};

use crate::{backend::Backend, documents::Documents};

/// How the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `exit` (or the end of input) after `shutdown`: exit code 0.
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

pub async fn serve(
    input: impl AsyncRead + Unpin,
    output: impl AsyncWrite + Send + Unpin + 'static,
    mut service: LspService<Backend>,
    socket: ClientSocket,
    docs: Arc<Documents>,
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
    let send = {
        let out_tx = out_tx.clone();
        move |response: Response| {
            let _ = out_tx.send(Outgoing::Message(encode(&response)));
        }
    };

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

    let mut in_flight = tokio::task::JoinSet::new();
    let mut reader = FramedRead::new(input, LspCodec::default());
    let mut shutdown_requested = false;
    let mut initialize_seen = false;
    while let Some(frame) = reader.next().await {
        let body = match frame {
            Ok(Frame::Message(body)) => body,
            Ok(Frame::Malformed(why)) => {
                tracing::warn!("malformed message from the editor: {why}");
                send(error_response(
                    Id::Null,
                    jsonrpc::ErrorCode::ParseError,
                    format!("malformed message: {why}"),
                ));
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
                send(error_response(
                    Id::Null,
                    jsonrpc::ErrorCode::ParseError,
                    format!("invalid JSON: {err}"),
                ));
                continue;
            }
        };
        if value.get("method").is_none() {
            match serde_json::from_value::<Response>(value.clone()) {
                Ok(response) => {
                    if client_responses.send(response).await.is_err() {
                        tracing::debug!("response to a request nobody waits for");
                    }
                }
                Err(_) => send(error_response(
                    id_of(&value),
                    jsonrpc::ErrorCode::InvalidRequest,
                    "not a JSON-RPC 2.0 request, notification or response".to_owned(),
                )),
            }
            continue;
        }
        let request: Request = match serde_json::from_value(value.clone()) {
            Ok(request) => request,
            Err(err) => {
                send(error_response(
                    id_of(&value),
                    jsonrpc::ErrorCode::InvalidRequest,
                    format!("not a valid JSON-RPC 2.0 message: {err}"),
                ));
                continue;
            }
        };
        // Errors once the session has exited.
        if service.ready().await.is_err() {
            break;
        }
        let method = request.method().to_owned();
        match method.as_str() {
            "initialize" => initialize_seen = true,
            "shutdown" => shutdown_requested = true,
            // Before initialize, notifications are dropped (the spec says so,
            // and tower-lsp does); the documents must not see them either.
            _ if initialize_seen => docs.apply_notification(&method, request.params()),
            _ => {}
        }
        let id = request.id().cloned();
        let response = service.call(request);
        // Finished tasks are reaped here so a long session does not keep them.
        while in_flight.try_join_next().is_some() {}
        let out_tx = out_tx.clone();
        // Nothing is read while `initialize` runs: tower-lsp would answer
        // "not initialized" to a client that sends before the response. After
        // `exit`, the loop ends once it is handled.
        let wait = matches!(method.as_str(), "initialize" | "exit");
        let is_exit = method == "exit";
        let task = in_flight.spawn(async move {
            let response = match AssertUnwindSafe(response).catch_unwind().await {
                Ok(Ok(response)) => response,
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
                        error_response(
                            id,
                            jsonrpc::ErrorCode::InternalError,
                            format!("meshls failed while handling {method}: {what}; please report this with the log"),
                        )
                    })
                }
            };
            if let Some(response) = response {
                let _ = out_tx.send(Outgoing::Message(encode(&response)));
            }
        });
        if wait {
            while let Some(done) = in_flight.join_next_with_id().await {
                if done.map_or_else(|err| err.id(), |(id, ())| id) == task.id() {
                    break;
                }
            }
        }
        if is_exit {
            break;
        }
    }

    // Requests still running get a moment to answer (after `exit` they answer
    // "cancelled" at once), so no response is lost at the end.
    let drain = async { while in_flight.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        tracing::warn!("{} requests were still running at exit", in_flight.len());
    }
    forward.abort();
    let _ = out_tx.send(Outgoing::Close);
    let _ = writer.await;
    if shutdown_requested {
        Ending::Clean
    } else {
        Ending::Abrupt
    }
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
