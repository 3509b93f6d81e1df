//! The workspace's real language servers as the rest of `server` sees
//! them: a slot holding the running set (empty until `initialize`), and the
//! task that handles what the servers send on their own.

use std::sync::{Arc, RwLock};

use lsp_types::{
    notification::{LogMessage, Notification, PublishDiagnostics, ShowMessage},
    request::{ApplyWorkspaceEdit, Request as _, ShowDocument, ShowMessageRequest},
    LogMessageParams, MessageType, PublishDiagnosticsParams, ShowMessageParams,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::mpsc;
use tower_lsp::Client;

use meshls_proxy::{jsonrpc::ResponseError, FromServer, Incoming, Servers};

use crate::diagnostics::DiagnosticsHub;

pub struct Downstream {
    servers: RwLock<Arc<Servers>>,
}

impl Downstream {
    pub fn new() -> Arc<Downstream> {
        Arc::new(Downstream {
            servers: RwLock::new(Arc::new(Servers::none())),
        })
    }

    /// The running servers, as of now.
    pub fn get(&self) -> Arc<Servers> {
        Arc::clone(&self.servers.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn set(&self, servers: Servers) {
        *self.servers.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(servers);
    }
}

/// Handles the servers' own messages until they are all gone: diagnostics
/// into the hub, logs and messages to the editor (prefixed with the server's
/// name), edits and documents to show forwarded to the editor, and
/// configuration answered from `[servers.<name>].settings`.
pub async fn handle_incoming(
    downstream: Arc<Downstream>,
    hub: Arc<DiagnosticsHub>,
    client: Client,
    mut incoming: mpsc::UnboundedReceiver<FromServer>,
) {
    while let Some(event) = incoming.recv().await {
        let (server, incoming) = match event {
            FromServer::Message { server, incoming } => (server, incoming),
            FromServer::Restarted { server } => {
                let message = format!(
                    "{server} stopped and was restarted; its open documents were sent to it again"
                );
                client.log_message(MessageType::WARNING, message).await;
                continue;
            }
            FromServer::Failed { server, reason } => {
                // Its findings would go stale: take them away with it.
                hub.clear_source(&server).await;
                client.show_message(MessageType::ERROR, reason).await;
                continue;
            }
        };
        match incoming {
            Incoming::Notification { method, params } => match method.as_str() {
                PublishDiagnostics::METHOD => {
                    if let Some(p) = parse::<PublishDiagnosticsParams>(&server, &method, params) {
                        hub.set(p.uri, &server, p.version, p.diagnostics).await;
                    }
                }
                LogMessage::METHOD => {
                    if let Some(p) = parse::<LogMessageParams>(&server, &method, params) {
                        client
                            .log_message(p.typ, format!("{server}: {}", p.message))
                            .await;
                    }
                }
                ShowMessage::METHOD => {
                    if let Some(p) = parse::<ShowMessageParams>(&server, &method, params) {
                        client
                            .show_message(p.typ, format!("{server}: {}", p.message))
                            .await;
                    }
                }
                // Progress and telemetry need tokens the editor created; they
                // are forwarded once server requests are relayed raw.
                _ => tracing::debug!(%server, %method, "notification not forwarded"),
            },
            Incoming::Request { id, method, params } => {
                let answer = answer(&downstream, &client, &server, &method, params).await;
                if let Some(target) = downstream.get().client(&server) {
                    if let Err(err) = target.respond(id, answer) {
                        tracing::debug!(%server, "could not answer {method}: {err}");
                    }
                }
            }
        }
    }
}

async fn answer(
    downstream: &Downstream,
    client: &Client,
    server: &str,
    method: &str,
    params: Value,
) -> Result<Value, ResponseError> {
    let failed = |message: String| ResponseError {
        code: -32803,
        message,
        data: None,
    };
    let relayed = |result: tower_lsp::jsonrpc::Result<Value>| {
        result.map_err(|err| ResponseError {
            code: err.code.code(),
            message: err.message.into_owned(),
            data: err.data,
        })
    };
    match method {
        "workspace/configuration" => Ok(downstream.get().configuration(server, &params)),
        // Accepted: meshls does not yet relay dynamic registrations or
        // progress to the editor, and servers work without them.
        "client/registerCapability"
        | "client/unregisterCapability"
        | "window/workDoneProgress/create" => Ok(Value::Null),
        ApplyWorkspaceEdit::METHOD => {
            let Some(p) = parse::<lsp_types::ApplyWorkspaceEditParams>(server, method, params)
            else {
                return Err(failed("invalid workspace/applyEdit params".to_owned()));
            };
            relayed(
                client
                    .apply_edit(p.edit)
                    .await
                    .map(|r| serde_json::to_value(r).unwrap_or_default()),
            )
        }
        ShowDocument::METHOD => {
            let Some(p) = parse::<lsp_types::ShowDocumentParams>(server, method, params) else {
                return Err(failed("invalid window/showDocument params".to_owned()));
            };
            relayed(
                client
                    .show_document(p)
                    .await
                    .map(|ok| serde_json::json!({ "success": ok })),
            )
        }
        ShowMessageRequest::METHOD => {
            let Some(p) = parse::<lsp_types::ShowMessageRequestParams>(server, method, params)
            else {
                return Err(failed(
                    "invalid window/showMessageRequest params".to_owned(),
                ));
            };
            let message = format!("{server}: {}", p.message);
            relayed(
                client
                    .show_message_request(p.typ, message, p.actions)
                    .await
                    .map(|r| serde_json::to_value(r).unwrap_or_default()),
            )
        }
        _ => Err(ResponseError {
            code: -32601,
            message: format!("meshls does not relay {method}"),
            data: None,
        }),
    }
}

fn parse<T: DeserializeOwned>(server: &str, method: &str, params: Value) -> Option<T> {
    serde_json::from_value(params)
        .inspect_err(|err| tracing::warn!(%server, %method, "ignored malformed params: {err}"))
        .ok()
}

/// A warning for the editor that a server could not start.
pub async fn report_problems(client: &Client, problems: &[String]) {
    for problem in problems {
        client
            .show_message(MessageType::WARNING, problem.clone())
            .await;
    }
}
