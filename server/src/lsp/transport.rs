//! The editor connection: reading frames, forwarding what the servers
//! answer (see [`Router`]) as JSON, dispatching the rest to tower-lsp's
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

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use futures::{future::BoxFuture, FutureExt as _, SinkExt as _, StreamExt as _};
use serde_json::{json, value::RawValue, Value};
use tokio::{
    io::AsyncRead,
    task::{AbortHandle, JoinHandle, JoinSet},
};
use tokio_util::codec::FramedRead;
use tower::{Service, ServiceExt as _};
use tower_lsp::{
    jsonrpc::{self, Id, Request, Response},
    ClientSocket, ExitedError, LspService,
};

use meshls_proxy::{
    framing::{Frame, LspCodec},
    jsonrpc::ResponseError,
};

use crate::{
    lsp::backend::Backend,
    lsp::route::{self, Answer, Router},
    state::documents::Documents,
    state::downstream::Downstream,
    state::editor::Editor,
};

/// How the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `exit` (or the end of input) after a successful `shutdown`: exit code 0.
    Clean,
    /// The input ended, or `exit` came, without `shutdown`: exit code 1, as
    /// the specification asks.
    Abrupt,
}

/// The forwarded requests still running, by the editor's id (as JSON
/// text), so `$/cancelRequest` can stop them: each task's handle, and the
/// flag that whoever answers the request (its task, or the cancel) sets
/// first, so an answer that comes as the cancel does is not sent twice.
type Running = Arc<Mutex<HashMap<String, (AbortHandle, Arc<AtomicBool>)>>>;

/// JSON-RPC's RequestCancelled.
const REQUEST_CANCELLED: i64 = -32800;

/// How long requests still running at exit get to answer.
const DRAIN: Duration = Duration::from_secs(2);

/// The session's parts, as `serve` needs them.
pub struct Session {
    pub service: LspService<Backend>,
    pub socket: ClientSocket,
    pub docs: Arc<Documents>,
    pub downstream: Arc<Downstream>,
    pub editor: Arc<Editor>,
    /// The task writing what the editor's pipe could not take at once; it
    /// ends after `Editor::close`.
    pub writer: JoinHandle<()>,
}

/// Serves the editor on `input` until `exit` or the end of input. Each
/// frame, in order: decoded (a bad one answered with the error the
/// specification names); a response delivered to whoever waits for it; a
/// `$/cancelRequest` of a forwarded request done here; a request or
/// notification for the servers forwarded; anything else dispatched to
/// tower-lsp, lifecycle messages finished before the next frame is read.
pub async fn serve(input: impl AsyncRead + Unpin, session: Session) -> Ending {
    let Session {
        service,
        socket,
        docs,
        downstream,
        editor,
        writer,
    } = session;
    let (mut server_requests, client_responses) = socket.split();
    let forward = {
        let editor = editor.clone();
        tokio::spawn(async move {
            while let Some(request) = server_requests.next().await {
                editor.send(&request);
            }
        })
    };
    let mut serving = Serving {
        router: Router::new(docs.clone(), downstream.clone(), editor.clone()),
        service,
        client_responses: Box::pin(client_responses),
        docs,
        downstream,
        editor: editor.clone(),
        running: Running::default(),
        in_flight: JoinSet::new(),
        initialized: false,
        shut_down: false,
    };
    let mut reader = FramedRead::new(input, LspCodec::default());
    while let Some(frame) = reader.next().await {
        let mut value = match serving.decode(frame) {
            Decoded::Message(value) => value,
            Decoded::Answered => continue,
            Decoded::Unreadable => break,
        };
        let id = id_of(&value);
        without_empty_params(&mut value);
        if value.get("method").is_none() {
            serving.deliver_response(id, value).await;
            continue;
        }
        // Forwarding starts once the session is up.
        let live = serving.initialized && !serving.shut_down;
        if live && (serving.cancel_forwarded(&value) || serving.forward(&value).await) {
            continue;
        }
        if serving.dispatch(id, value).await == Flow::Stop {
            break;
        }
    }

    // The editor answers no question any more: a handler waiting on one
    // (a question nobody answers, in an editor that shows none) ends now.
    editor.disconnect();
    // Requests still running get a moment to answer (after `exit` they answer
    // "cancelled" at once), so no response is lost at the end.
    let mut in_flight = serving.in_flight;
    let drain = async { while in_flight.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN, drain).await.is_err() {
        tracing::warn!("{} requests were still running at exit", in_flight.len());
    }
    forward.abort();
    editor.close();
    let _ = writer.await;
    if serving.shut_down {
        Ending::Clean
    } else {
        Ending::Abrupt
    }
}

/// What a frame gave.
enum Decoded {
    Message(Value),
    /// Not a message: the editor was told why.
    Answered,
    /// The input cannot be read any more.
    Unreadable,
}

/// Whether the loop goes on after a message.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// The loop's state between frames.
struct Serving {
    service: LspService<Backend>,
    /// Where responses to tower-lsp's own requests go (its
    /// `ResponseSink`, which it does not name for others).
    client_responses: std::pin::Pin<Box<dyn futures::Sink<Response, Error = ExitedError> + Send>>,
    docs: Arc<Documents>,
    downstream: Arc<Downstream>,
    editor: Arc<Editor>,
    router: Router,
    running: Running,
    /// Handlers and forwarded requests still running.
    in_flight: JoinSet<bool>,
    initialized: bool,
    shut_down: bool,
}

impl Serving {
    /// A frame as JSON, or the error the specification names for it.
    fn decode(&self, frame: Result<Frame, std::io::Error>) -> Decoded {
        let body = match frame {
            Ok(Frame::Message(body)) => body,
            Ok(Frame::Malformed(why)) => {
                tracing::warn!("malformed message from the editor: {why}");
                let message = format!("malformed message: {why}");
                self.editor.send(&error_response(
                    Id::Null,
                    jsonrpc::ErrorCode::ParseError,
                    message,
                ));
                return Decoded::Answered;
            }
            Err(err) => {
                tracing::error!("cannot read from the editor: {err}");
                return Decoded::Unreadable;
            }
        };
        match serde_json::from_slice(&body) {
            Ok(value) => Decoded::Message(value),
            Err(err) => {
                tracing::warn!("invalid JSON from the editor: {err}");
                let message = format!("invalid JSON: {err}");
                self.editor.send(&error_response(
                    Id::Null,
                    jsonrpc::ErrorCode::ParseError,
                    message,
                ));
                Decoded::Answered
            }
        }
    }

    /// A response: to one of meshls's raw requests, or else to tower-lsp's.
    async fn deliver_response(&mut self, id: Id, value: Value) {
        let Some(value) = self.editor.deliver(value) else {
            return;
        };
        match serde_json::from_value::<Response>(value) {
            // tower-lsp panics on a response to a request it stopped
            // waiting for; that must not take the reader down with it.
            Ok(response) => match AssertUnwindSafe(self.client_responses.send(response))
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
                self.editor.send(&error_response(
                    id,
                    jsonrpc::ErrorCode::InvalidRequest,
                    message,
                ));
            }
        }
    }

    /// `$/cancelRequest` of a forwarded request still running: stopped
    /// here (and downstream), answered RequestCancelled unless its answer
    /// is already on its way. Whether it was one.
    fn cancel_forwarded(&mut self, value: &Value) -> bool {
        // The notification only: sent with an id it is a request, and gets
        // an answer (InvalidRequest, from tower-lsp).
        if value.get("method") != Some(&json!("$/cancelRequest")) || value.get("id").is_some() {
            return false;
        }
        let target = value.pointer("/params/id").map(Value::to_string);
        let handle = target.and_then(|id| {
            self.running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id)
        });
        let Some((handle, answered)) = handle else {
            return false;
        };
        // An answer already on its way goes out instead.
        if !answered.swap(true, Ordering::AcqRel) {
            // Dropping the forwarded request cancels it downstream.
            handle.abort();
            let id = value.pointer("/params/id").cloned().unwrap_or_default();
            self.editor.send(&json!({"jsonrpc": "2.0", "id": id, "error": {"code": REQUEST_CANCELLED, "message": "cancelled"}}));
        }
        true
    }

    /// A request or notification for the servers, routed and queued to its
    /// server now, its answer awaited on its own task. Whether it was one.
    async fn forward(&mut self, value: &Value) -> bool {
        let Some(routed) = route_raw(&self.router, value) else {
            return false;
        };
        if let Some((id, answer)) = routed {
            let answered = Arc::new(AtomicBool::new(false));
            let mut task = Box::pin(respond_raw(
                answer,
                id.clone(),
                self.editor.clone(),
                self.running.clone(),
                answered.clone(),
            ));
            if futures::poll!(task.as_mut()).is_pending() {
                // Registered under the lock the task removes itself with,
                // so a fast answer cannot leave a stale entry.
                let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                let handle = self.in_flight.spawn(task);
                running.insert(id.to_string(), (handle, answered));
            }
        }
        while self.in_flight.try_join_next().is_some() {}
        true
    }

    /// Anything else, to tower-lsp: document notifications applied (and
    /// queued to the servers) first; each handler run up to its first
    /// `.await` before the next frame; `initialize`, `shutdown` and `exit`
    /// finished first, and the session's state changed only when they
    /// succeed.
    async fn dispatch(&mut self, id: Id, value: Value) -> Flow {
        let request: Request = match serde_json::from_value(value) {
            Ok(request) => request,
            Err(err) => {
                let message = format!("not a valid JSON-RPC 2.0 message: {err}");
                self.editor.send(&error_response(
                    id,
                    jsonrpc::ErrorCode::InvalidRequest,
                    message,
                ));
                return Flow::Continue;
            }
        };
        // Errors once the session has exited.
        if self.service.ready().await.is_err() {
            return Flow::Stop;
        }
        let method = request.method().to_owned();
        // Before initialize, notifications are dropped (the specification
        // says so, and tower-lsp does); the documents must not see them either.
        if self.initialized {
            self.apply_document_notification(&method, &request);
        }
        let id = request.id().cloned();
        // The answer to `initialize` gets the capabilities lsp-types cannot
        // hold.
        let extra = (method == "initialize").then(|| self.downstream.clone());
        let mut task = Box::pin(respond(
            self.service.call(request),
            id,
            method.clone(),
            self.editor.clone(),
            extra,
        ));
        match method.as_str() {
            // Lifecycle messages are answered before anything after them is
            // read, and only a successful answer changes the state.
            "initialize" => self.initialized |= task.await,
            "shutdown" => self.shut_down |= task.await,
            "exit" => {
                task.await;
                return Flow::Stop;
            }
            _ => {
                if futures::poll!(task.as_mut()).is_pending() {
                    self.in_flight.spawn(task);
                }
            }
        }
        // Finished tasks are reaped here so a long session does not keep them.
        while self.in_flight.try_join_next().is_some() {}
        Flow::Continue
    }

    /// A document notification, applied to the documents and queued to
    /// the document's servers, in the editor's order.
    fn apply_document_notification(&self, method: &str, request: &Request) {
        // A set of servers put in place now, or a server restarting, gets
        // either this notification or a replay that includes it, never both
        // and never neither.
        let _replacing = self.downstream.documents_lock();
        let servers = self.downstream.get();
        let _documents = servers.documents_lock();
        if let Some(language_id) = self.docs.apply_notification(method, request.params()) {
            let params = request.params().unwrap_or(&Value::Null);
            let given = params.pointer("/textDocument/languageId");
            if method == "textDocument/didOpen" && given.is_some_and(|id| *id != *language_id) {
                // The servers are told the language by the name they know.
                let mut params = params.clone();
                params["textDocument"]["languageId"] = Value::from(language_id.as_str());
                servers.notify_document(&language_id, method, &params);
            } else {
                servers.notify_document(&language_id, method, params);
            }
        }
    }
}

/// Awaits one message's handler and sends its response, if it has one.
/// Returns whether the handler succeeded.
async fn respond(
    response: BoxFuture<'static, Result<Option<Response>, ExitedError>>,
    id: Option<Id>,
    method: String,
    editor: Arc<Editor>,
    capabilities: Option<Arc<Downstream>>,
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
    match (response, capabilities) {
        (Some(response), Some(downstream)) if succeeded => {
            let mut value = serde_json::to_value(&response).unwrap_or_default();
            if let Some(advertised) = value
                .pointer_mut("/result/capabilities")
                .and_then(Value::as_object_mut)
            {
                for (key, extra) in downstream.extra_capabilities() {
                    advertised.entry(key).or_insert(extra);
                }
            }
            editor.send(&value);
        }
        (Some(response), _) => editor.send(&response),
        (None, _) => {}
    }
    succeeded
}

/// Hands a message to the router: `None` when meshls handles it itself;
/// for a forwarded request its id and answer; for a forwarded notification
/// nothing more to do.
fn route_raw(router: &Router, message: &Value) -> Option<Option<(Value, Answer)>> {
    // Anything short of valid JSON-RPC 2.0 is left for the typed path,
    // which answers InvalidRequest.
    if message.get("jsonrpc") != Some(&json!("2.0")) {
        return None;
    }
    if let Some(id) = message.get("id") {
        if !(id.is_string() || id.is_i64() || id.is_u64()) {
            return None;
        }
    }
    let method = message.get("method")?.as_str()?;
    // Document edits, meshls's own methods and the lifecycle are not routed:
    // their params (a whole file, for some) are never copied here.
    if route::is_own(method) {
        return None;
    }
    let params = message.get("params");
    match message.get("id") {
        Some(id) => {
            let answer = router.request(method, params.cloned().unwrap_or(Value::Null))?;
            Some(Some((id.clone(), answer)))
        }
        None => router
            .notification(method, params.unwrap_or(&Value::Null))
            .then_some(None),
    }
}

/// Awaits a forwarded request's answer and sends it to the editor, unless
/// a `$/cancelRequest` answered it first.
async fn respond_raw(
    answer: Answer,
    id: Value,
    editor: Arc<Editor>,
    running: Running,
    answered: Arc<AtomicBool>,
) -> bool {
    let answer = AssertUnwindSafe(answer).catch_unwind().await;
    running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id.to_string());
    // The cancel may have come between the answer and here; it was
    // answered then, and aborting this task cannot stop it past its last
    // await.
    if answered.swap(true, Ordering::AcqRel) {
        return false;
    }
    let answer = answer.unwrap_or_else(|_| {
        tracing::error!("a forwarded request panicked");
        Err(ResponseError {
            code: -32603,
            message: "meshls failed while forwarding this request; please report this with the log"
                .to_owned(),
            data: None,
        })
    });
    // The result goes out as the text it came as: copied once, not parsed.
    let (result, error) = match &answer {
        Ok(result) => (Some(&**result), None),
        Err(error) => (None, Some(error)),
    };
    editor.send(&Reply {
        jsonrpc: "2.0",
        id: &id,
        result,
        error,
    });
    true
}

/// A response to a forwarded request.
#[derive(serde::Serialize)]
struct Reply<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ResponseError>,
}

/// Takes away `"params": null`, and the empty params some editors send
/// to methods that take none (eglot: `shutdown` and `exit` with `null`, or
/// `{}` in older releases), which tower-lsp would refuse as invalid.
fn without_empty_params(message: &mut Value) {
    let Some(object) = message.as_object_mut() else {
        return;
    };
    let takes_none = matches!(
        object.get("method").and_then(Value::as_str),
        Some("shutdown" | "exit")
    );
    let empty = match object.get("params") {
        Some(Value::Null) => true,
        Some(Value::Object(params)) => takes_none && params.is_empty(),
        Some(Value::Array(params)) => takes_none && params.is_empty(),
        _ => false,
    };
    if empty {
        object.remove("params");
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

#[cfg(test)]
mod tests {
    use std::{
        io,
        pin::Pin,
        task::{Context, Poll},
    };

    use bytes::BytesMut;
    use tokio::io::AsyncWrite;
    use tokio_util::codec::Decoder as _;

    use super::*;

    /// What meshls writes to the editor.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl AsyncWrite for Written {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// The responses to `messages`, sent after an `initialize` without a
    /// workspace (so no language server starts), in a session in-process.
    async fn responses(messages: &[Value]) -> Vec<Value> {
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"processId": null, "rootUri": null, "capabilities": {}}});
        let mut input = Vec::new();
        for message in std::iter::once(&initialize).chain(messages) {
            let body = message.to_string();
            input.extend_from_slice(
                format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
            );
        }
        let written = Written::default();
        serve(&input[..], crate::session(Box::new(written.clone()))).await;
        let mut bytes = BytesMut::from(&written.0.lock().unwrap()[..]);
        let mut codec = LspCodec::default();
        let mut responses = Vec::new();
        while let Ok(Some(Frame::Message(body))) = codec.decode_eof(&mut bytes) {
            let message: Value = serde_json::from_slice(&body).unwrap();
            if message.get("method").is_none() && message["id"] != 0 {
                responses.push(message);
            }
        }
        responses
    }

    #[tokio::test]
    async fn a_cancel_request_sent_as_a_request_is_answered_and_cancels_nothing() {
        // Found by the fuzz target dispatch: it cancelled request 1 and
        // was never answered itself.
        let open = json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument":
            {"uri": "file:///w/a.rs", "languageId": "rust", "version": 1, "text": "fn main() {}\n"}}});
        let actions = json!({"jsonrpc": "2.0", "id": 1, "method": "textDocument/codeAction", "params": {
            "textDocument": {"uri": "file:///w/a.rs"},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "context": {"diagnostics": []}}});
        let cancel =
            json!({"jsonrpc": "2.0", "id": 2, "method": "$/cancelRequest", "params": {"id": 1}});
        let mut answers = responses(&[open, actions, cancel]).await;
        answers.sort_by_key(|answer| answer["id"].as_i64());
        assert_eq!(answers.len(), 2, "{answers:#?}");
        assert!(answers[0]["result"].is_array(), "{answers:#?}");
        assert_eq!(answers[1]["error"]["code"], -32600, "{answers:#?}");
    }
}
