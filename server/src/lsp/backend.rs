//! The editor-facing language server: lifecycle, configuration and the
//! features meshls answers from its own syntax trees.
//!
//! Every handler reads what it needs (documents, settings) before its first
//! `.await`: the transport runs that part in message order, so a request
//! sees the documents exactly as they were when it arrived.

use std::{
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use lsp_types::{
    CodeActionKind, CodeActionOptions, CodeActionProviderCapability, DocumentSymbolParams,
    DocumentSymbolResponse, ExecuteCommandOptions, ExecuteCommandParams, FoldingRange,
    FoldingRangeParams, FoldingRangeProviderCapability, InitializeParams, InitializeResult,
    InitializedParams, MessageType, OneOf, PositionEncodingKind, SaveOptions, SelectionRange,
    SelectionRangeParams, SelectionRangeProviderCapability, ServerCapabilities, ServerInfo,
    TextDocumentIdentifier, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, TextDocumentSyncSaveOptions, Url,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tower_lsp::{jsonrpc, Client, LanguageServer};

use meshls_agent::session::Sessions;
use meshls_analysis::Snapshot;
use meshls_proxy::{ServerStatus, Servers, StartOptions};

use crate::{
    agent::runs::{Ask, At, Runs, Start},
    config::{self, Config, ConfigError, Sources},
    ext,
    lsp::actions::{self, Action},
    state::diagnostics::DiagnosticsHub,
    state::documents::{DocumentError, Documents},
    state::downstream::{self, Downstream},
    state::editor::Editor,
    storage,
};

pub struct Backend {
    client: Client,
    editor: Arc<Editor>,
    docs: Arc<Documents>,
    downstream: Arc<Downstream>,
    hub: Arc<DiagnosticsHub>,
    runs: Runs,
    state: RwLock<State>,
}

/// How long a language server may take to start and answer `initialize`
/// before meshls goes on without it.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(10);
const SERVER_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The answers to meshls's question about trusting the workspace.
const TRUST: &str = "Trust";
const NOT_NOW: &str = "Not now";

#[derive(Default)]
struct State {
    root: Option<PathBuf>,
    /// The editor's other workspace folders (the servers get them all).
    other_roots: Vec<PathBuf>,
    /// The editor said `shutdown`.
    shut_down: bool,
    config: Config,
    /// The editor's two configuration layers, kept apart so new settings
    /// never erase the initialization options.
    initialization_options: Option<Value>,
    settings: Option<Value>,
    /// Problems found at `initialize`, reported once the client is ready.
    config_errors: Vec<ConfigError>,
    server_problems: Vec<String>,
    db: Option<sled::Db>,
    /// The agent's sessions, in `db`, and the one `meshls.ask` goes on.
    sessions: Option<Arc<Sessions>>,
    session: Option<String>,
    /// Another meshls holds the workspace's database: this one's sessions
    /// are handed over to the next that opens it (`storage::publish`).
    handing_over: bool,
    /// Whether the editor shows `$/progress` for meshls's own tokens.
    work_done_progress: bool,
    /// Whether the editor confirms annotated edits itself (a preview).
    change_annotations: bool,
    /// The editor asked for `meshls/runEvent`s.
    run_events: bool,
    /// Whether the editor's settings are the user's own for certain
    /// (`config::Sources::editor_is_users`).
    editor_is_users: bool,
    /// Whether the workspace is trusted, as the configuration was last
    /// loaded, and the keys of its files refused because it is not.
    trust: config::Trust,
    refused_for_trust: Vec<String>,
    /// The editor's `initialize` params as the servers get them, to start
    /// them again when the workspace becomes trusted.
    editor_params: Option<Value>,
}

/// Params of `meshls/viewDocument`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewDocumentParams {
    pub text_document: TextDocumentIdentifier,
}

/// What meshls holds for a document: its own copy, to compare with the
/// editor's when something looks wrong.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewDocumentResult {
    pub uri: Url,
    pub version: i32,
    pub language_id: Option<&'static str>,
    pub text: String,
}

impl Backend {
    pub fn new(
        client: Client,
        editor: Arc<Editor>,
        docs: Arc<Documents>,
        downstream: Arc<Downstream>,
        hub: Arc<DiagnosticsHub>,
    ) -> Backend {
        let runs = Runs {
            docs: docs.clone(),
            downstream: downstream.clone(),
            hub: hub.clone(),
            editor: editor.clone(),
            always: Arc::default(),
            next_token: Arc::default(),
            going: Arc::default(),
        };
        Backend {
            client,
            editor,
            docs,
            downstream,
            hub,
            runs,
            state: RwLock::new(State::default()),
        }
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads a document as it is now (call before any `.await`), then parses
    /// and runs `f` on it off the async workers.
    async fn with_document<T: Send + 'static>(
        &self,
        uri: &Url,
        f: impl FnOnce(&Snapshot) -> T + Send + 'static,
    ) -> jsonrpc::Result<T> {
        let capture = self.docs.capture(uri).map_err(document_error)?;
        self.docs.compute(uri, capture, f).await.map_err(|err| {
            tracing::error!(%uri, "a request on this document failed: {err}");
            jsonrpc::Error {
                code: jsonrpc::ErrorCode::InternalError,
                message: format!(
                    "meshls failed while reading {uri}; please report this with the log"
                )
                .into(),
                data: None,
            }
        })
    }

    /// The agent's part of `meshls.status`: the model it asks, and the
    /// current session's runs, tokens and cost; as JSON, and one line.
    fn agent_status(&self) -> (Value, String) {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let primary = state.config.agent.primary();
        let model = json!({
            "provider": primary.provider,
            "model": primary.model(),
            "baseUrl": primary.base_url(),
        });
        let mut line = format!(
            "meshls agent: {} at {}",
            primary.model(),
            primary.base_url()
        );
        let totals = match (&state.sessions, &state.session) {
            (Some(sessions), Some(id)) => sessions.totals(id),
            _ => None,
        };
        match &totals {
            Some(totals) => line.push_str(&format!(
                ", session {}: {} run(s){}, {} tokens in, {} out, ${:.4}",
                totals.id,
                totals.runs,
                if totals.running { " (one running)" } else { "" },
                totals.usage.input_tokens,
                totals.usage.output_tokens,
                totals.cost
            )),
            None => line.push_str(", no session yet"),
        }
        if state.sessions.is_none() {
            line.push_str("; sessions cannot be kept (see the log)");
        }
        let questions = self.editor.pending_questions();
        for question in &questions {
            line.push_str(&format!(
                "; waiting for your answer: {}? (code actions \"Allow\"/\"Deny\" at the cursor)",
                question.action
            ));
        }
        (
            json!({"model": model, "session": totals, "questions": questions}),
            line,
        )
    }

    /// The workspace root, its sessions and the current session, if one
    /// was chosen, or why the agent has none.
    fn agents_home(&self) -> jsonrpc::Result<(PathBuf, Arc<Sessions>, Option<String>)> {
        let state = self.state_mut();
        let (Some(root), Some(sessions)) = (state.root.clone(), state.sessions.clone()) else {
            return Err(jsonrpc::Error::invalid_params(
                "the agent needs a workspace folder, and a place to keep its sessions (see the log)",
            ));
        };
        Ok((root, sessions, state.session.clone()))
    }

    /// Starts the agent on `ask` in the current session; the session and
    /// the progress token, at once.
    fn start_run(
        &self,
        ask: Ask,
        read_only: bool,
        review: Option<Url>,
        action: &str,
    ) -> jsonrpc::Result<Value> {
        let start = {
            let mut state = self.state_mut();
            let (Some(root), Some(sessions)) = (state.root.clone(), state.sessions.clone()) else {
                return Err(jsonrpc::Error::invalid_params(
                    "the agent needs a workspace folder, and a place to keep its sessions (see the log)",
                ));
            };
            let session = state
                .session
                .get_or_insert_with(|| sessions.latest())
                .clone();
            Start {
                ask,
                read_only,
                review,
                root,
                config: state.config.agent.clone(),
                sessions,
                session,
                progress: state.work_done_progress,
                confirm_in_editor: state.change_annotations,
                action: action.to_owned(),
                run_events: state.run_events,
                handing_over: state.handing_over,
            }
        };
        let session = start.session.clone();
        let token = self.runs.start(start);
        Ok(json!({"session": session, "token": token}))
    }

    /// Loads the configuration layers, applies what is valid and returns the
    /// problems.
    fn reload_config(&self) -> Vec<ConfigError> {
        let mut state = self.state_mut();
        let mut sources = Sources::from_process(state.root.as_deref());
        sources.other_roots = state.other_roots.clone();
        sources.initialization_options = state.initialization_options.as_ref();
        sources.settings = state.settings.as_ref();
        sources.editor_is_users = state.editor_is_users;
        let loaded = config::load(&sources);
        for err in &loaded.errors {
            tracing::error!("configuration: {err}");
        }
        config::register_keys(&loaded.config.agent);
        self.docs
            .set_syntax_diagnostics(loaded.config.analysis.syntax_diagnostics);
        state.config = loaded.config;
        state.trust = loaded.trust;
        state.refused_for_trust = loaded.refused_for_trust;
        loaded.errors
    }

    /// Starts the workspace's servers (in their safe modes unless
    /// `trusted`), with the task that handles what they send; and the
    /// problems, one sentence each.
    async fn start_servers(
        &self,
        root: &std::path::Path,
        trusted: bool,
    ) -> (Arc<Servers>, Vec<String>, tokio::task::AbortHandle) {
        let (configs, hidden_env, editor_params, other_roots) = {
            let state = self.state_mut();
            (
                state.config.servers.clone(),
                state.config.agent.key_variables(),
                state.editor_params.clone().unwrap_or_default(),
                state.other_roots.clone(),
            )
        };
        let options = StartOptions {
            root: root.to_path_buf(),
            editor_params,
            timeout: SERVER_START_TIMEOUT,
            path: std::env::var_os("PATH"),
            documents: self.docs.clone(),
            hidden_env,
            trusted,
            other_roots,
        };
        let (servers, problems, incoming) = Servers::start(&configs, options).await;
        let servers = Arc::new(servers);
        let listener = self.downstream.listen(
            servers.clone(),
            self.hub.clone(),
            self.editor.clone(),
            incoming,
        );
        (servers, problems, listener)
    }

    /// Says once that the workspace is not trusted, where trusting it
    /// would change something; with `trust = "ask"`, asks the editor, and
    /// on "Trust" remembers it and starts the servers again in full.
    async fn offer_trust(&self) {
        let (root, other_roots, mode, refused) = {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            if state.trust.trusted() {
                return;
            }
            let Some(root) = state.root.clone() else {
                return;
            };
            (
                root,
                state.other_roots.clone(),
                state.config.trust,
                state.refused_for_trust.clone(),
            )
        };
        let restricted = self.downstream.get().restricted();
        if refused.is_empty() && !restricted {
            return;
        }
        let mut changes = Vec::new();
        if restricted {
            changes.push(
                "its language servers run in their safe modes (no build scripts or proc macros, TypeScript and Python from outside the workspace)".to_owned(),
            );
        }
        if !refused.is_empty() {
            let mut named = refused
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if refused.len() > 3 {
                named.push_str(&format!(" and {} more", refused.len() - 3));
            }
            changes.push(format!("its settings {named} are ignored"));
        }
        let what = format!(
            "meshls: {} is not trusted, so {}",
            root.display(),
            changes.join(", and ")
        );
        if mode == config::TrustMode::Never {
            let message =
                format!("{what}. To trust it, add it to trusted_workspaces in your meshls config.");
            self.editor
                .notify("window/logMessage", json!({"type": 3, "message": message}));
            return;
        }
        let asked = self.editor.request(
            "window/showMessageRequest",
            json!({
                "type": 2,
                "message": format!("{what}. Trust this workspace? Trusted, its servers run its build scripts and its own tools."),
                "actions": [{"title": TRUST}, {"title": NOT_NOW}],
            }),
        );
        let answer = asked.await.ok();
        if answer.as_ref().and_then(|a| a["title"].as_str()) != Some(TRUST) {
            tracing::info!("the workspace stays untrusted for this session");
            return;
        }
        // Every folder of the workspace: the servers see them all.
        let remembered = tokio::task::spawn_blocking({
            let roots: Vec<PathBuf> = std::iter::once(root.clone()).chain(other_roots).collect();
            move || {
                let mut store = None;
                for root in &roots {
                    store = Some(crate::config::trust::remember(root)?);
                }
                store.ok_or_else(|| anyhow::anyhow!("no workspace folder to trust"))
            }
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|remembered| remembered);
        match remembered {
            Ok(store) => {
                tracing::info!(
                    "trusted {}, remembered in {}",
                    root.display(),
                    store.display()
                );
                self.trust_now(&root).await;
            }
            Err(err) => {
                let message = format!(
                    "meshls could not remember that you trust {}: {err:#}",
                    root.display()
                );
                self.editor
                    .notify("window/showMessage", json!({"type": 1, "message": message}));
            }
        }
    }

    /// The workspace has just been trusted: the configuration is loaded
    /// again, and the servers started in full take the place of those in
    /// safe mode, with the open documents.
    async fn trust_now(&self, root: &std::path::Path) {
        let errors = self.reload_config();
        self.report_config_errors(&errors).await;
        let (trusted, shut_down) = {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            (state.trust.trusted(), state.shut_down)
        };
        if shut_down {
            return;
        }
        let old = self.downstream.get();
        let before: Vec<String> = old
            .status()
            .into_iter()
            .filter(|status| status.pid.is_some())
            .map(|status| status.name)
            .collect();
        // What the old servers say from now on is not heard, and what they
        // said goes: the new ones, under the same names, say it again.
        self.downstream.stop_listening();
        self.downstream.forget_all(&old, &self.editor);
        for status in old.status() {
            self.hub.clear_source(&status.name).await;
        }
        let (servers, problems, listener) = self.start_servers(root, trusted).await;
        if self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .shut_down
        {
            // The editor said shutdown while they started.
            servers.shutdown(SERVER_SHUTDOWN_TIMEOUT).await;
            return;
        }
        let new: Vec<String> = servers
            .status()
            .into_iter()
            .filter(|status| status.pid.is_some() && !before.contains(&status.name))
            .map(|status| status.name)
            .collect();
        let old = self.downstream.replace(servers, listener);
        old.shutdown(SERVER_SHUTDOWN_TIMEOUT).await;
        downstream::report_problems(&self.editor, &problems);
        let mut message = format!(
            "meshls: {} is trusted now; its language servers started again with its own settings",
            root.display()
        );
        if !new.is_empty() {
            message.push_str(&format!(
                " ({} started only now: restart the language server in your editor for all of its features)",
                new.join(", ")
            ));
        }
        self.editor
            .notify("window/showMessage", json!({"type": 3, "message": message}));
    }

    /// What meshls answers itself, as JSON to merge the servers' into.
    fn own_capabilities(&self) -> Value {
        let own = ServerCapabilities {
            // UTF-16 is the one encoding every client and server supports,
            // and the one the downstream servers will speak.
            position_encoding: Some(PositionEncodingKind::UTF16),
            text_document_sync: Some(TextDocumentSyncCapability::Options(
                TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::INCREMENTAL),
                    save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                        include_text: Some(false),
                    })),
                    ..TextDocumentSyncOptions::default()
                },
            )),
            document_symbol_provider: Some(OneOf::Left(true)),
            folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
            selection_range_provider: Some(SelectionRangeProviderCapability::Simple(true)),
            code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                code_action_kinds: Some(
                    actions::KINDS
                        .map(|kind| CodeActionKind::from(kind.to_owned()))
                        .to_vec(),
                ),
                ..CodeActionOptions::default()
            })),
            execute_command_provider: Some(ExecuteCommandOptions {
                commands: ext::COMMANDS.map(str::to_owned).to_vec(),
                ..ExecuteCommandOptions::default()
            }),
            ..ServerCapabilities::default()
        };
        serde_json::to_value(own).unwrap_or_default()
    }

    async fn report_config_errors(&self, errors: &[ConfigError]) {
        let Some(first) = errors.first() else { return };
        let more = match errors.len() {
            1 => String::new(),
            n => format!(" (and {} more; `meshls doctor` lists them all)", n - 1),
        };
        let message = format!("meshls ignored invalid settings: {first}{more}");
        self.client.show_message(MessageType::ERROR, message).await;
    }

    pub async fn view_document(
        &self,
        params: ViewDocumentParams,
    ) -> jsonrpc::Result<ViewDocumentResult> {
        let uri = params.text_document.uri;
        let (version, text, language_id) = self.docs.view(&uri).map_err(document_error)?;
        Ok(ViewDocumentResult {
            uri,
            version,
            language_id,
            text,
        })
    }
}

fn document_error(err: DocumentError) -> jsonrpc::Error {
    match err {
        DocumentError::OutOfSync(_) => jsonrpc::Error {
            // LSP's RequestFailed: the request was valid, the state is not.
            code: jsonrpc::ErrorCode::ServerError(-32803),
            message: err.to_string().into(),
            data: None,
        },
        DocumentError::Analysis(err) => jsonrpc::Error::invalid_params(err.to_string()),
    }
}

/// Every workspace folder the editor names that is on disk, in its order.
fn workspace_roots(params: &InitializeParams) -> Vec<PathBuf> {
    params
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|folder| folder.uri.to_file_path().ok())
        .collect()
}

/// The workspace root the editor names: its first workspace folder on disk,
/// else `rootUri`, else the deprecated `rootPath`.
fn workspace_root(params: &InitializeParams) -> Option<PathBuf> {
    let folders = params
        .workspace_folders
        .iter()
        .flatten()
        .map(|folder| &folder.uri);
    #[allow(deprecated)] // Older clients still send only rootPath.
    let root_path = params.root_path.as_ref().map(PathBuf::from);
    folders
        .chain(params.root_uri.as_ref())
        .find_map(|uri| uri.to_file_path().ok())
        .or(root_path)
}

/// Whether the editor has the user confirm an edit marked
/// `needsConfirmation` before it applies it. Declaring
/// `changeAnnotationSupport` is not enough: a client may declare it and
/// apply marked edits as they come. VS Code (and the editors built from
/// it) shows its refactor preview for any such edit; Neovim declares it
/// from 0.12, which asks. Every other editor is asked by meshls itself,
/// with `window/showMessageRequest`.
fn previews_annotated_edits(params: &InitializeParams) -> bool {
    let declared = params
        .capabilities
        .workspace
        .as_ref()
        .and_then(|workspace| workspace.workspace_edit.as_ref())
        .and_then(|edit| edit.change_annotation_support.as_ref())
        .is_some();
    let name = params
        .client_info
        .as_ref()
        .map_or("", |client| client.name.as_str());
    let previews = name.starts_with("Visual Studio Code")
        || ["VSCodium", "Code - OSS", "Neovim"].contains(&name);
    declared && previews
}

/// Whether the editor's settings come from the user alone: VS Code's
/// family (meshls's extension makes every setting that needs trust
/// machine-scoped, which a workspace's settings cannot set). Not Neovim:
/// neoconf.nvim and nlsp-settings.nvim feed a project's files into its
/// settings. See `config::Sources::editor_is_users`.
fn settings_are_users(params: &InitializeParams) -> bool {
    let name = params
        .client_info
        .as_ref()
        .map_or("", |client| client.name.as_str());
    name.starts_with("Visual Studio Code") || ["VSCodium", "Code - OSS"].contains(&name)
}

/// Clears `dynamicRegistration` from the editor's capabilities before they
/// go to the servers, except for file watching (which meshls relays to the
/// editor): a feature a server registers dynamically would never show in
/// its `ServerCapabilities`, so meshls could neither advertise nor route it.
fn static_registration_only(params: &mut Value) {
    let Some(capabilities) = params.get_mut("capabilities") else {
        return;
    };
    for section in ["textDocument", "workspace", "notebookDocument"] {
        let Some(features) = capabilities.get_mut(section).and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, feature) in features.iter_mut() {
            if name == "didChangeWatchedFiles" {
                continue;
            }
            if let Some(feature) = feature.as_object_mut() {
                if feature.contains_key("dynamicRegistration") {
                    feature.insert("dynamicRegistration".to_owned(), Value::Bool(false));
                }
            }
        }
    }
}

/// One line per server, for a person.
fn status_summary(status: &[ServerStatus]) -> String {
    if status.is_empty() {
        return "meshls runs no language servers for this workspace (see `meshls doctor`)"
            .to_owned();
    }
    let lines: Vec<String> = status
        .iter()
        .map(|server| {
            let mut line = format!("{}: {}", server.name, server.state);
            if let Some(pid) = server.pid {
                line.push_str(&format!(", pid {pid}"));
            }
            if server.restarts > 0 {
                line.push_str(&format!(", {} restarts", server.restarts));
            }
            let requests = &server.requests;
            if let (Some(p50), Some(p99)) = (requests.p50_ms, requests.p99_ms) {
                line.push_str(&format!(
                    ", {} answers (p50 {p50:.1} ms, p99 {p99:.1} ms)",
                    requests.answered
                ));
            }
            if let Some(error) = &server.last_error {
                line.push_str(&format!("; last error: {error}"));
            }
            line
        })
        .collect();
    format!("meshls language servers: {}", lines.join(" | "))
}

#[tower_lsp::async_trait]
impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> jsonrpc::Result<InitializeResult> {
        let root = workspace_root(&params);
        let mut editor_params = serde_json::to_value(&params).unwrap_or_default();
        static_registration_only(&mut editor_params);
        tracing::info!(root = ?root, client = ?params.client_info.as_ref().map(|c| &c.name), "initialize");
        {
            let mut state = self.state_mut();
            state.editor_params = Some(editor_params);
            state.root = root.clone();
            state.other_roots = workspace_roots(&params)
                .into_iter()
                .filter(|folder| Some(folder) != root.as_ref())
                .collect();
            state.change_annotations = previews_annotated_edits(&params);
            state.run_events = params
                .capabilities
                .experimental
                .as_ref()
                .and_then(|experimental| experimental.get(ext::RUN_EVENTS_CAPABILITY))
                == Some(&Value::Bool(true));
            state.editor_is_users = settings_are_users(&params);
            state.initialization_options = params.initialization_options;
            state.work_done_progress = params
                .capabilities
                .window
                .as_ref()
                .and_then(|window| window.work_done_progress)
                .unwrap_or(false);
        }
        let errors = self.reload_config();
        self.state_mut().config_errors = errors;

        if let Some(root) = root.clone() {
            // sled does file I/O while opening: keep it off the async workers.
            let keep_days = self.state_mut().config.agent.keep_sessions_days;
            let opened = tokio::task::spawn_blocking(move || {
                let opened = storage::open_sessions(&root)?;
                // Sessions unused for `agent.keep_sessions_days` go now.
                let pruned = opened.sessions.prune(keep_days);
                if pruned > 0 {
                    tracing::info!("removed {pruned} agent session(s) unused for {keep_days} days");
                }
                storage::publish(&root, &opened.sessions, opened.handing_over);
                anyhow::Ok(opened)
            });
            match opened.await {
                Ok(Ok(storage::Opened {
                    db,
                    sessions,
                    warning,
                    handing_over,
                })) => {
                    {
                        let mut state = self.state_mut();
                        state.db = Some(db);
                        state.sessions = Some(Arc::new(sessions));
                        state.handing_over = handing_over;
                    }
                    if let Some(warning) = warning {
                        tracing::warn!("{warning}");
                        let message = format!("meshls: {warning}");
                        self.client.log_message(MessageType::WARNING, message).await;
                    }
                }
                Ok(Err(err)) => {
                    tracing::warn!("{err:#}");
                    let message = format!("meshls: the agent's sessions cannot be kept: {err:#}");
                    self.client.log_message(MessageType::WARNING, message).await;
                }
                Err(err) => tracing::error!("opening the database panicked: {err}"),
            }
        }

        if let Some(root) = root.as_deref() {
            let trusted = self.state_mut().trust.trusted();
            let (servers, problems, listener) = self.start_servers(root, trusted).await;
            self.downstream.set(servers, listener);
            self.state_mut().server_problems = problems;
        }

        let mut capabilities = self.own_capabilities();
        if let Some(object) = capabilities.as_object_mut() {
            self.downstream
                .get()
                .merge_capabilities(object, &crate::lsp::route::advertised_providers());
        }
        self.downstream.unite_legends(&mut capabilities);
        let typed: ServerCapabilities = serde_json::from_value(capabilities.clone())
            .unwrap_or_else(|err| {
                tracing::error!(
                    "merged capabilities do not parse, so only meshls's own are advertised: {err}"
                );
                serde_json::from_value(self.own_capabilities()).unwrap_or_default()
            });
        // What lsp-types 0.94 has no field for (`typeHierarchyProvider`)
        // goes into the answer as JSON, added by the transport.
        let known = serde_json::to_value(&typed).unwrap_or_default();
        let extra: serde_json::Map<String, Value> = capabilities
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, _)| known.get(key.as_str()).is_none())
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        self.downstream.set_extra_capabilities(extra);
        let capabilities = typed;
        Ok(InitializeResult {
            capabilities,
            server_info: Some(ServerInfo {
                name: "meshls".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let errors = std::mem::take(&mut self.state_mut().config_errors);
        self.report_config_errors(&errors).await;
        let problems = std::mem::take(&mut self.state_mut().server_problems);
        downstream::report_problems(&self.editor, &problems);
        // Waiting on the user here holds nothing up: notification handlers
        // run on their own.
        self.offer_trust().await;
    }

    async fn shutdown(&self) -> jsonrpc::Result<()> {
        // No set of servers starts after this (trusting the workspace).
        self.state_mut().shut_down = true;
        self.downstream
            .get()
            .shutdown(SERVER_SHUTDOWN_TIMEOUT)
            .await;
        let (db, root, sessions, handing_over) = {
            let mut state = self.state_mut();
            (
                state.db.take(),
                state.root.clone(),
                state.sessions.clone(),
                state.handing_over,
            )
        };
        if let (Some(root), Some(sessions)) = (root, sessions) {
            if handing_over {
                storage::publish(&root, &sessions, true);
            }
            storage::unpublish(&root);
        }
        if let Some(db) = db {
            if let Err(err) = db.flush_async().await {
                tracing::warn!("flushing the database: {err}");
            }
        }
        Ok(())
    }

    // Document notifications were applied by the transport, in order, before
    // these handlers were called; there is nothing left to do here.
    async fn did_open(&self, _: lsp_types::DidOpenTextDocumentParams) {}
    async fn did_change(&self, _: lsp_types::DidChangeTextDocumentParams) {}
    async fn did_close(&self, _: lsp_types::DidCloseTextDocumentParams) {}
    async fn did_save(&self, _: lsp_types::DidSaveTextDocumentParams) {}

    async fn did_change_configuration(&self, params: lsp_types::DidChangeConfigurationParams) {
        // Settings that say nothing (`null` from clients that expect a pull,
        // `{}` from eglot with nothing configured) keep the editor's layer as
        // it is; the files are read again all the same.
        if !config::no_settings(&params.settings) {
            self.state_mut().settings = Some(params.settings);
        }
        let errors = self.reload_config();
        self.report_config_errors(&errors).await;
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> jsonrpc::Result<Option<DocumentSymbolResponse>> {
        self.with_document(&params.text_document.uri, |snap| {
            snap.language
                .map(|_| DocumentSymbolResponse::Nested(snap.document_symbols()))
        })
        .await
    }

    async fn folding_range(
        &self,
        params: FoldingRangeParams,
    ) -> jsonrpc::Result<Option<Vec<FoldingRange>>> {
        self.with_document(&params.text_document.uri, |snap| {
            snap.language.map(|_| snap.folding_ranges())
        })
        .await
    }

    async fn selection_range(
        &self,
        params: SelectionRangeParams,
    ) -> jsonrpc::Result<Option<Vec<SelectionRange>>> {
        let positions = params.positions;
        self.with_document(&params.text_document.uri, move |snap| {
            snap.selection_ranges(&positions)
        })
        .await?
        .map(Some)
        .map_err(|err| jsonrpc::Error::invalid_params(err.to_string()))
    }

    async fn execute_command(
        &self,
        params: ExecuteCommandParams,
    ) -> jsonrpc::Result<Option<Value>> {
        match params.command.as_str() {
            ext::STATUS => {
                let status = self.downstream.get().status();
                let agent = self.agent_status();
                // `{"quiet": true}`: for a status bar that asks now and then.
                let quiet = params
                    .arguments
                    .first()
                    .and_then(|options| options.get("quiet"))
                    == Some(&Value::Bool(true));
                if !quiet {
                    let summary = format!("{} || {}", status_summary(&status), agent.1);
                    self.editor.notify(
                        "window/showMessage",
                        serde_json::json!({"type": 3, "message": summary}),
                    );
                }
                Ok(Some(json!({"servers": status, "agent": agent.0})))
            }
            ext::ASK => {
                let ask = Ask::parse(&params.arguments).map_err(jsonrpc::Error::invalid_params)?;
                self.start_run(ask, false, None, "ask").map(Some)
            }
            ext::RUN_ACTION | ext::FIX | ext::REVIEW => {
                let file_uri = |file: &Value| {
                    file.get("uri")
                        .or(Some(file))
                        .and_then(Value::as_str)
                        .and_then(|uri| Url::parse(uri).ok())
                        .ok_or_else(|| {
                            jsonrpc::Error::invalid_params(format!(
                                "{} takes a file's uri",
                                params.command
                            ))
                        })
                };
                let action = match (params.command.as_str(), params.arguments.as_slice()) {
                    (ext::RUN_ACTION, [action]) => serde_json::from_value::<Action>(action.clone())
                        .map_err(|err| {
                            jsonrpc::Error::invalid_params(format!(
                                "meshls.runAction takes the argument its code action carries: {err}"
                            ))
                        })?,
                    (ext::FIX, [file, ..]) => Action::FixFile {
                        uri: file_uri(file)?,
                    },
                    (ext::REVIEW, [file, ..]) => Action::Review {
                        uri: file_uri(file)?,
                    },
                    _ => {
                        return Err(jsonrpc::Error::invalid_params(format!(
                            "{} takes one argument",
                            params.command
                        )))
                    }
                };
                let root = self
                    .state
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .root
                    .clone();
                let path = action.uri().to_file_path().map_err(|()| {
                    jsonrpc::Error::invalid_params(format!(
                        "{} works on files saved on disk, not {}",
                        params.command,
                        action.uri()
                    ))
                })?;
                let file = root
                    .and_then(|root| path.strip_prefix(root).ok().map(PathBuf::from))
                    .unwrap_or(path);
                let ask = Ask {
                    instruction: action.instruction(&file.display().to_string()),
                    at: Some(At::line(action.uri().clone(), action.line())),
                };
                let review = match &action {
                    Action::Review { uri } => Some(uri.clone()),
                    _ => None,
                };
                let name = serde_json::to_value(&action)
                    .ok()
                    .and_then(|tagged| Some(tagged.get("action")?.as_str()?.to_owned()))
                    .unwrap_or_default();
                self.start_run(ask, action.read_only(), review, &name)
                    .map(Some)
            }
            ext::SESSIONS => {
                let (root, sessions) = {
                    let state = self.state_mut();
                    (state.root.clone(), state.sessions.clone())
                };
                let Some(sessions) = sessions else {
                    return Err(jsonrpc::Error::invalid_params(
                        "the agent has no place to keep sessions (see the log)",
                    ));
                };
                // Those of other editors' meshls on the workspace too.
                let listed = match root {
                    Some(root) => storage::all_sessions(&root, Some(&sessions)),
                    None => sessions.list().iter().map(|s| json!(s)).collect(),
                };
                Ok(Some(Value::Array(listed)))
            }
            ext::SHOW_SESSION => {
                let (root, sessions, current) = self.agents_home()?;
                let id = match params.arguments.first().and_then(Value::as_str) {
                    Some(id) => id.to_owned(),
                    None => current.unwrap_or_else(|| sessions.latest()),
                };
                // A run going in it keeps it live: open it as it is.
                let live = sessions.totals(&id).is_some_and(|totals| totals.running);
                let kept = storage::transcript_path(&root, &id).filter(|path| path.is_file());
                let path = match kept {
                    Some(path) if live => Ok(path),
                    // Else written now; or, when another editor's meshls
                    // has the session, as that one last wrote it.
                    kept => storage::write_transcript(&root, &sessions, &id)
                        .or_else(|why| kept.ok_or(why)),
                }
                .map_err(jsonrpc::Error::invalid_params)?;
                let uri = Url::from_file_path(&path).map_err(|()| {
                    jsonrpc::Error::invalid_params(format!("{} is no file URL", path.display()))
                })?;
                if !self.editor.show_document(&uri).await {
                    let message = format!("meshls: the session's transcript is {}", path.display());
                    self.editor
                        .notify("window/showMessage", json!({"type": 3, "message": message}));
                }
                Ok(Some(json!({"session": id, "uri": uri})))
            }
            ext::ANSWER => {
                let usage =
                    "meshls.answer takes {question, answer}, the answer allow, always or deny";
                let fields = params
                    .arguments
                    .first()
                    .ok_or_else(|| jsonrpc::Error::invalid_params(usage))?;
                let (Some(question), Some(answer)) = (
                    fields.get("question").and_then(Value::as_u64),
                    fields
                        .get("answer")
                        .and_then(Value::as_str)
                        .filter(|answer| ["allow", "always", "deny"].contains(answer)),
                ) else {
                    return Err(jsonrpc::Error::invalid_params(usage));
                };
                let answered = self.editor.answer_question(question, answer);
                if !answered {
                    self.editor.notify(
                        "window/showMessage",
                        json!({"type": 2, "message": "meshls agent: that question was answered already, or the run is over"}),
                    );
                }
                Ok(Some(json!({"answered": answered})))
            }
            ext::UNDO_RUN => {
                let (root, sessions, current) = self.agents_home()?;
                let run = match params.arguments.first() {
                    Some(Value::String(run)) => Some(run.clone()),
                    Some(Value::Object(fields)) => {
                        fields.get("run").and_then(Value::as_str).map(str::to_owned)
                    }
                    _ => None,
                };
                let session = current.unwrap_or_else(|| sessions.latest());
                match self
                    .runs
                    .undo(&root, &sessions, &session, run.as_deref())
                    .await
                {
                    Ok(answer) => Ok(Some(answer)),
                    Err(why) => {
                        self.editor
                            .notify("window/showMessage", json!({"type": 2, "message": why}));
                        Err(jsonrpc::Error::invalid_params(why))
                    }
                }
            }
            ext::CANCEL => {
                let cancelled = self.editor.cancel_all_progress();
                Ok(Some(json!({"cancelled": cancelled})))
            }
            ext::NEW_SESSION => {
                // A run in the old session would go on editing the
                // workspace beside the new session's first run.
                if self.runs.any_going() {
                    return Err(jsonrpc::Error {
                        code: jsonrpc::ErrorCode::InvalidRequest,
                        message: "meshls agent: a run is going; cancel it (meshls.cancel) or wait for it to end, then start a new session".into(),
                        data: None,
                    });
                }
                let mut state = self.state_mut();
                let Some(sessions) = state.sessions.clone() else {
                    return Err(jsonrpc::Error::invalid_params(
                        "the agent has no place to keep sessions (see the log)",
                    ));
                };
                let session = sessions.create();
                state.session = Some(session.clone());
                if let Some(root) = &state.root {
                    storage::publish(root, &sessions, state.handing_over);
                }
                Ok(Some(json!({"session": session})))
            }
            other => Err(jsonrpc::Error::invalid_params(format!(
                "meshls has no command {other}"
            ))),
        }
    }
}
