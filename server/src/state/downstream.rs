//! The workspace's real language servers as the rest of `server` sees
//! them: a slot holding the running set (empty until `initialize`), what
//! meshls keeps about them for the editor (the advertised semantic-token
//! legend, progress tokens and file-watcher registrations it relayed), and
//! the task that handles what the servers send on their own.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, RwLock},
};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use meshls_proxy::{
    jsonrpc::ResponseError,
    semantic::{Legend, Remap},
    Client, FromServer, Incoming, Servers,
};

use crate::{state::diagnostics::DiagnosticsHub, state::editor::Editor};

pub struct Downstream {
    servers: RwLock<Arc<Servers>>,
    /// Held (read) while a document notification is applied and sent to
    /// the servers, and (write) while a new set of servers is given the
    /// open documents and put in place: no edit is lost between two sets.
    documents: RwLock<()>,
    /// The task handling what the current servers send.
    listener: Mutex<Option<tokio::task::AbortHandle>>,
    /// Capabilities meshls advertises that lsp-types has no field for.
    extra_capabilities: Mutex<serde_json::Map<String, Value>>,
    /// The semantic-token legend advertised to the editor.
    legend: RwLock<Option<Legend>>,
    relayed: Mutex<Relayed>,
}

/// Server requests meshls passed on to the editor, under names of its own
/// so two servers' ids never collide.
#[derive(Default)]
struct Relayed {
    /// Progress tokens the servers created: the editor's name for each, to
    /// the server and its own token.
    progress: HashMap<String, (String, Value)>,
    /// The file-watcher registrations each server holds in the editor.
    watchers: HashMap<String, HashSet<String>>,
}

impl Downstream {
    pub fn new() -> Arc<Downstream> {
        Arc::new(Downstream {
            servers: RwLock::new(Arc::new(Servers::none())),
            documents: RwLock::new(()),
            listener: Mutex::new(None),
            extra_capabilities: Mutex::default(),
            legend: RwLock::new(None),
            relayed: Mutex::new(Relayed::default()),
        })
    }

    /// The running servers, as of now.
    pub fn get(&self) -> Arc<Servers> {
        Arc::clone(&self.servers.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Puts `servers` in place, with the task that handles what they
    /// send; the previous ones' task ends.
    pub fn set(&self, servers: Arc<Servers>, listener: tokio::task::AbortHandle) {
        *self.servers.write().unwrap_or_else(|p| p.into_inner()) = servers;
        let previous = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(listener);
        if let Some(previous) = previous {
            previous.abort();
        }
    }

    /// Capabilities to advertise besides lsp-types' (`initialize` sets them,
    /// the transport adds them to its answer).
    pub fn set_extra_capabilities(&self, extra: serde_json::Map<String, Value>) {
        *self
            .extra_capabilities
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = extra;
    }

    pub fn extra_capabilities(&self) -> serde_json::Map<String, Value> {
        self.extra_capabilities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops handling what the current servers send (they are about to be
    /// replaced).
    pub fn stop_listening(&self) {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(listener) = listener {
            listener.abort();
        }
    }

    /// Hold this while applying a document notification and sending it
    /// to `get()`'s servers.
    pub fn documents_lock(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.documents.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts `servers` in place of the running ones, after giving them the
    /// open documents, with no document notification in between; returns
    /// the old ones, for the caller to shut down.
    pub fn replace(
        &self,
        servers: Arc<Servers>,
        listener: tokio::task::AbortHandle,
    ) -> Arc<Servers> {
        let _documents = self.documents.write().unwrap_or_else(|p| p.into_inner());
        servers.replay_open_documents();
        let old = self.get();
        self.set(servers, listener);
        old
    }

    /// Starts handling what `servers` send (each server's requests are
    /// answered from `servers`, even before they are put in place).
    pub fn listen(
        self: &Arc<Self>,
        servers: Arc<Servers>,
        hub: Arc<DiagnosticsHub>,
        editor: Arc<Editor>,
        incoming: mpsc::UnboundedReceiver<FromServer>,
    ) -> tokio::task::AbortHandle {
        tokio::spawn(handle_incoming(
            self.clone(),
            servers,
            hub,
            editor,
            incoming,
        ))
        .abort_handle()
    }

    fn relayed(&self) -> std::sync::MutexGuard<'_, Relayed> {
        self.relayed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the merged `semanticTokensProvider` (in `capabilities`, as
    /// advertised) carry the union of the servers' legends; deltas stay
    /// only if no server's tokens need renumbering.
    pub fn unite_legends(&self, capabilities: &mut Value) {
        let servers = self.get();
        let legends: Vec<Legend> = servers
            .all()
            .iter()
            .filter_map(|server| Legend::of(&servers.capabilities(server.name())?))
            .collect();
        let Some(provider) = capabilities
            .get_mut("semanticTokensProvider")
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        let mut union = Legend::default();
        for legend in &legends {
            union.add(legend);
        }
        let renumbered = legends
            .iter()
            .any(|legend| union.remap_from(legend).is_some());
        if renumbered && provider.get("full").is_some_and(Value::is_object) {
            provider.insert("full".to_owned(), Value::Bool(true));
        }
        provider.insert("legend".to_owned(), union.to_json());
        *self.legend.write().unwrap_or_else(|p| p.into_inner()) = Some(union);
    }

    /// How to renumber `server`'s semantic tokens for the editor, if needed.
    pub fn token_remap(&self, servers: &Servers, server: &str) -> Option<Remap> {
        let theirs = Legend::of(&servers.capabilities(server)?)?;
        let legend = self.legend.read().unwrap_or_else(|p| p.into_inner());
        legend.as_ref()?.remap_from(&theirs)
    }

    /// The servers that asked to hear about file changes.
    pub fn watchers(&self, servers: &Servers) -> Vec<Client> {
        let relayed = self.relayed();
        servers
            .all()
            .into_iter()
            .filter(|server| {
                relayed
                    .watchers
                    .get(server.name())
                    .is_some_and(|ids| !ids.is_empty())
            })
            .collect()
    }

    /// The server behind a progress token the editor names, and its own token.
    pub fn progress_owner(&self, token: &Value) -> Option<(String, Value)> {
        let token = token.as_str()?;
        self.relayed().progress.get(token).cloned()
    }
}

/// The editor's name for a server's progress token or registration id.
fn relayed_name(server: &str, id: &Value) -> String {
    match id {
        Value::String(id) => format!("{server}/{id}"),
        other => format!("{server}/{other}"),
    }
}

/// Handles the servers' own messages until they are all gone: diagnostics
/// into the hub; logs and messages to the editor, prefixed with the
/// server's name; progress, edits, documents to show, refreshes and
/// file-watcher registrations relayed to the editor under names that keep
/// servers apart; configuration answered from `[servers.<name>].settings`.
async fn handle_incoming(
    downstream: Arc<Downstream>,
    servers: Arc<Servers>,
    hub: Arc<DiagnosticsHub>,
    editor: Arc<Editor>,
    mut incoming: mpsc::UnboundedReceiver<FromServer>,
) {
    while let Some(event) = incoming.recv().await {
        let (server, incoming) = match event {
            FromServer::Message { server, incoming } => (server, incoming),
            FromServer::Restarted { server } => {
                downstream.forget(&server, &editor);
                let message = format!(
                    "{server} stopped and was restarted; its open documents were sent to it again"
                );
                editor.notify("window/logMessage", json!({"type": 2, "message": message}));
                continue;
            }
            FromServer::Failed { server, reason } => {
                downstream.forget(&server, &editor);
                // Its findings would go stale: take them away with it.
                hub.clear_source(&server).await;
                editor.notify("window/showMessage", json!({"type": 1, "message": reason}));
                continue;
            }
        };
        match incoming {
            Incoming::Notification { method, params } => {
                notification(&downstream, &hub, &editor, &server, &method, params).await
            }
            Incoming::Request { id, method, params } => {
                // Relayed requests can wait on the user (showMessageRequest):
                // they are answered on their own, and the part that must
                // happen in order (naming tokens) happens here.
                let answer = request(&downstream, &servers, &editor, &server, &method, params);
                let target = servers.client(&server);
                tokio::spawn(async move {
                    let answer = answer.await;
                    if let Some(target) = target {
                        if let Err(err) = target.respond(id, answer) {
                            tracing::debug!(%server, "could not answer {method}: {err}");
                        }
                    }
                });
            }
        }
    }
}

async fn notification(
    downstream: &Downstream,
    hub: &DiagnosticsHub,
    editor: &Editor,
    server: &str,
    method: &str,
    mut params: Value,
) {
    match method {
        "textDocument/publishDiagnostics" => {
            match serde_json::from_value::<lsp_types::PublishDiagnosticsParams>(params) {
                Ok(p) => hub.set(p.uri, server, p.version, p.diagnostics).await,
                Err(err) => tracing::warn!(%server, %method, "ignored malformed params: {err}"),
            }
        }
        "window/logMessage" | "window/showMessage" => {
            prefix_message(&mut params, server);
            editor.notify(method, params);
        }
        "$/progress" => {
            let token = params.get("token").cloned().unwrap_or_default();
            let name = relayed_name(server, &token);
            let mut relayed = downstream.relayed();
            if relayed.progress.contains_key(&name) {
                if params.pointer("/value/kind") == Some(&json!("end")) {
                    relayed.progress.remove(&name);
                }
                params["token"] = Value::from(name);
            }
            // Otherwise the token is the editor's own, from a request's
            // `workDoneToken` or `partialResultToken`: it goes back as is.
            drop(relayed);
            editor.notify(method, params);
        }
        "telemetry/event" => editor.notify(method, params),
        _ => tracing::debug!(%server, %method, "notification not forwarded"),
    }
}

/// The answer to a server's request, as a future; what must happen in
/// order is done before it is returned.
fn request(
    downstream: &Arc<Downstream>,
    servers: &Servers,
    editor: &Arc<Editor>,
    server: &str,
    method: &str,
    mut params: Value,
) -> futures::future::BoxFuture<'static, Result<Value, ResponseError>> {
    use futures::FutureExt as _;
    let relay = |method: &str, params: Value| {
        let (editor, method) = (editor.clone(), method.to_owned());
        async move { editor.request(&method, params).await }.boxed()
    };
    let ready = |answer: Result<Value, ResponseError>| async move { answer }.boxed();
    match method {
        "workspace/configuration" => ready(Ok(servers.configuration(server, &params))),
        "window/workDoneProgress/create" => {
            let token = params.get("token").cloned().unwrap_or_default();
            let name = relayed_name(server, &token);
            downstream
                .relayed()
                .progress
                .insert(name.clone(), (server.to_owned(), token));
            relay(method, json!({ "token": name }))
        }
        "client/registerCapability" => {
            // Only file watching is relayed: meshls asks servers to
            // register everything else statically, and routes it itself.
            let mut relayed = downstream.relayed();
            let registrations: Vec<Value> = params
                .get("registrations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|r| r["method"] == "workspace/didChangeWatchedFiles")
                .map(|r| {
                    let name = relayed_name(server, &r["id"]);
                    relayed
                        .watchers
                        .entry(server.to_owned())
                        .or_default()
                        .insert(name.clone());
                    let mut r = r.clone();
                    r["id"] = Value::from(name);
                    r
                })
                .collect();
            if registrations.is_empty() {
                return ready(Ok(Value::Null));
            }
            relay(method, json!({ "registrations": registrations }))
        }
        "client/unregisterCapability" => {
            let mut relayed = downstream.relayed();
            let held = relayed.watchers.entry(server.to_owned()).or_default();
            // The specification spells the field `unregisterations`.
            let unregistrations: Vec<Value> = params
                .get("unregisterations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|u| {
                    let name = relayed_name(server, &u["id"]);
                    held.remove(&name).then(|| {
                        let mut u = u.clone();
                        u["id"] = Value::from(name);
                        u
                    })
                })
                .collect();
            if unregistrations.is_empty() {
                return ready(Ok(Value::Null));
            }
            relay(method, json!({ "unregisterations": unregistrations }))
        }
        "window/showMessageRequest" => {
            prefix_message(&mut params, server);
            relay(method, params)
        }
        "workspace/applyEdit"
        | "window/showDocument"
        | "workspace/workspaceFolders"
        | "workspace/codeLens/refresh"
        | "workspace/semanticTokens/refresh"
        | "workspace/inlayHint/refresh"
        | "workspace/inlineValue/refresh"
        | "workspace/diagnostic/refresh" => relay(method, params),
        _ => ready(Err(ResponseError {
            code: -32601,
            message: format!("meshls does not relay {method} to the editor"),
            data: None,
        })),
    }
}

impl Downstream {
    /// Every server of a set that is replaced: as [`Downstream::forget`].
    pub fn forget_all(&self, servers: &Servers, editor: &Arc<Editor>) {
        for status in servers.status() {
            self.forget(&status.name, editor);
        }
    }

    /// A server restarted or was given up: its file watchers are taken out
    /// of the editor (the new process registers its own) and its progress
    /// ends.
    fn forget(&self, server: &str, editor: &Arc<Editor>) {
        let mut relayed = self.relayed();
        let watchers = relayed.watchers.remove(server).unwrap_or_default();
        let mut ended = Vec::new();
        relayed.progress.retain(|name, (owner, _)| {
            let keep = owner != server;
            if !keep {
                ended.push(name.clone());
            }
            keep
        });
        drop(relayed);
        for token in ended {
            editor.notify(
                "$/progress",
                json!({"token": token, "value": {"kind": "end", "message": format!("{server} stopped")}}),
            );
        }
        if !watchers.is_empty() {
            let unregisterations: Vec<Value> = watchers
                .into_iter()
                .map(|id| json!({"id": id, "method": "workspace/didChangeWatchedFiles"}))
                .collect();
            let editor = editor.clone();
            tokio::spawn(async move {
                let params = json!({ "unregisterations": unregisterations });
                if let Err(err) = editor.request("client/unregisterCapability", params).await {
                    tracing::debug!("the editor refused to drop file watchers: {}", err.message);
                }
            });
        }
    }
}

/// Puts the server's name in front of a message meant for the user.
fn prefix_message(params: &mut Value, server: &str) {
    if let Some(message) = params.get_mut("message") {
        let text = message.as_str().unwrap_or_default();
        *message = Value::from(format!("{server}: {text}"));
    }
}

/// Warnings for the editor that servers could not start.
pub fn report_problems(editor: &Editor, problems: &[String]) {
    for problem in problems {
        editor.notify("window/showMessage", json!({"type": 2, "message": problem}));
    }
}
