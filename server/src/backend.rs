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
    request::{
        CodeActionRequest, CodeActionResolveRequest, Completion, ExecuteCommand,
        ResolveCompletionItem, WorkspaceSymbolRequest,
    },
    CodeAction, CodeActionOrCommand, CodeActionParams, CodeActionResponse, CompletionItem,
    CompletionList, CompletionParams, CompletionResponse, ExecuteCommandParams, SymbolInformation,
    WorkspaceSymbolParams, WorkspaceSymbolResponse,
};
use lsp_types::{
    request::{
        DocumentHighlightRequest, Formatting, GotoDeclaration, GotoDeclarationParams,
        GotoDeclarationResponse, GotoDefinition, GotoImplementation, GotoImplementationParams,
        GotoImplementationResponse, GotoTypeDefinition, GotoTypeDefinitionParams,
        GotoTypeDefinitionResponse, HoverRequest, PrepareRenameRequest, RangeFormatting,
        References, Rename, Request, SignatureHelpRequest,
    },
    DocumentFormattingParams, DocumentHighlight, DocumentHighlightParams,
    DocumentRangeFormattingParams, GotoDefinitionParams, GotoDefinitionResponse, Hover,
    HoverParams, Location, PrepareRenameResponse, ReferenceParams, RenameParams, SignatureHelp,
    SignatureHelpParams, TextDocumentPositionParams, TextEdit, WorkspaceEdit,
};
use lsp_types::{
    DocumentSymbolParams, DocumentSymbolResponse, FoldingRange, FoldingRangeParams,
    FoldingRangeProviderCapability, InitializeParams, InitializeResult, InitializedParams,
    MessageType, OneOf, PositionEncodingKind, SaveOptions, SelectionRange, SelectionRangeParams,
    SelectionRangeProviderCapability, ServerCapabilities, ServerInfo, TextDocumentIdentifier,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, Url,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;
use tower_lsp::{jsonrpc, Client, LanguageServer};

use meshls_analysis::Snapshot;
use meshls_proxy::{Client as ServerClient, Servers, StartOptions};

use crate::{
    config::{self, Config, ConfigError, Sources},
    diagnostics::DiagnosticsHub,
    documents::{DocumentError, Documents},
    downstream::{self, Downstream},
    storage,
};

pub struct Backend {
    client: Client,
    docs: Arc<Documents>,
    downstream: Arc<Downstream>,
    hub: Arc<DiagnosticsHub>,
    state: RwLock<State>,
}

/// How long a language server may take to start and answer `initialize`
/// before meshls goes on without it.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a forwarded request may take. Generous: servers index.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const SERVER_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The providers meshls forwards to the servers: only these are advertised
/// from their capabilities.
const ROUTED: &[&str] = &[
    "hoverProvider",
    "definitionProvider",
    "declarationProvider",
    "typeDefinitionProvider",
    "implementationProvider",
    "referencesProvider",
    "documentHighlightProvider",
    "signatureHelpProvider",
    "documentFormattingProvider",
    "documentRangeFormattingProvider",
    "renameProvider",
    "completionProvider",
    "codeActionProvider",
    "executeCommandProvider",
    "workspaceSymbolProvider",
];

#[derive(Default)]
struct State {
    root: Option<PathBuf>,
    config: Config,
    /// The editor's two configuration layers, kept apart so new settings
    /// never erase the initialization options.
    initialization_options: Option<Value>,
    settings: Option<Value>,
    /// Problems found at `initialize`, reported once the client is ready.
    config_errors: Vec<ConfigError>,
    server_problems: Vec<String>,
    db: Option<sled::Db>,
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
        docs: Arc<Documents>,
        downstream: Arc<Downstream>,
        hub: Arc<DiagnosticsHub>,
    ) -> Backend {
        Backend {
            client,
            docs,
            downstream,
            hub,
            state: RwLock::new(State::default()),
        }
    }

    /// Forwards a request on a document to the first of its language's
    /// servers that offers `provider`; with none, the answer is null. The
    /// server is chosen and the request queued before the first `.await`,
    /// so it reaches the server after every edit sent before it.
    async fn forward<R: Request>(
        &self,
        provider: &str,
        params: R::Params,
    ) -> jsonrpc::Result<R::Result>
    where
        R::Params: Serialize + OnDocument,
        R::Result: DeserializeOwned,
    {
        let uri = params.document();
        let servers = self.downstream.get();
        let target = self
            .docs
            .language_id(uri)
            .and_then(|language| servers.route(&language, provider));
        let Some(server) = target else {
            return serde_json::from_value(Value::Null)
                .map_err(|_| jsonrpc::Error::method_not_found());
        };
        let params = serde_json::to_value(params).unwrap_or_default();
        let value = server
            .request_raw(R::METHOD, params, REQUEST_TIMEOUT)
            .await
            .map_err(proxy_error)?;
        serde_json::from_value(value).map_err(|err| jsonrpc::Error {
            code: jsonrpc::ErrorCode::ServerError(-32803),
            message: format!(
                "{} answered {} with something meshls cannot read: {err}",
                server.name(),
                R::METHOD
            )
            .into(),
            data: None,
        })
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

    /// Sends a request to every server of the document's language that
    /// offers `provider`, and gathers the answers that came back, each with
    /// its server's name. Fails only when every server failed.
    async fn forward_all<R: Request>(
        &self,
        provider: &str,
        params: R::Params,
    ) -> jsonrpc::Result<Vec<(String, R::Result)>>
    where
        R::Params: Serialize + OnDocument,
        R::Result: DeserializeOwned,
    {
        let uri = params.document();
        let servers = self
            .docs
            .language_id(uri)
            .map(|language| self.downstream.get().route_all(&language, provider));
        self.gather::<R>(servers.unwrap_or_default(), params).await
    }

    /// Sends one request to each of `servers` at once and gathers the
    /// answers; the requests are queued before the first `.await`.
    async fn gather<R: Request>(
        &self,
        servers: Vec<ServerClient>,
        params: R::Params,
    ) -> jsonrpc::Result<Vec<(String, R::Result)>>
    where
        R::Params: Serialize,
        R::Result: DeserializeOwned,
    {
        let params = serde_json::to_value(params).unwrap_or_default();
        let calls = servers
            .iter()
            .map(|server| server.request_raw(R::METHOD, params.clone(), REQUEST_TIMEOUT));
        let answers = futures::future::join_all(calls).await;
        let mut gathered = Vec::new();
        let mut first_error = None;
        for (server, answer) in servers.iter().zip(answers) {
            match answer.map_err(proxy_error).and_then(|value| {
                serde_json::from_value(value).map_err(|err| jsonrpc::Error {
                    code: jsonrpc::ErrorCode::ServerError(-32803),
                    message: format!(
                        "{} answered {} with something meshls cannot read: {err}",
                        server.name(),
                        R::METHOD
                    )
                    .into(),
                    data: None,
                })
            }) {
                Ok(result) => gathered.push((server.name().to_owned(), result)),
                Err(err) => {
                    tracing::warn!(
                        server = server.name(),
                        method = R::METHOD,
                        "{}",
                        err.message
                    );
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(err) if gathered.is_empty() => Err(err),
            _ => Ok(gathered),
        }
    }

    /// Sends a resolve request back to the server that made the item.
    async fn resolve<R: Request>(
        &self,
        server: Option<String>,
        item: R::Params,
    ) -> jsonrpc::Result<R::Result>
    where
        R::Params: Serialize,
        R::Result: DeserializeOwned,
    {
        let Some(client) = server.and_then(|name| self.downstream.get().client(&name)) else {
            return Err(jsonrpc::Error::invalid_params(
                "this item did not come from a language server meshls runs, so there is nothing to resolve",
            ));
        };
        let value = client
            .request_raw(
                R::METHOD,
                serde_json::to_value(item).unwrap_or_default(),
                REQUEST_TIMEOUT,
            )
            .await
            .map_err(proxy_error)?;
        serde_json::from_value(value).map_err(|err| jsonrpc::Error {
            code: jsonrpc::ErrorCode::ServerError(-32803),
            message: format!(
                "{} answered {} with something meshls cannot read: {err}",
                client.name(),
                R::METHOD
            )
            .into(),
            data: None,
        })
    }

    /// Loads the configuration layers, applies what is valid and returns the
    /// problems.
    fn reload_config(&self) -> Vec<ConfigError> {
        let mut state = self.state_mut();
        let mut sources = Sources::from_process(state.root.as_deref());
        sources.initialization_options = state.initialization_options.as_ref();
        sources.settings = state.settings.as_ref();
        let loaded = config::load(&sources);
        for err in &loaded.errors {
            tracing::error!("configuration: {err}");
        }
        self.docs
            .set_syntax_diagnostics(loaded.config.analysis.syntax_diagnostics);
        state.config = loaded.config;
        loaded.errors
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

/// Request params that name the document they are about, for routing.
trait OnDocument {
    fn document(&self) -> &Url;
}

macro_rules! on_document {
    ($($params:ty => |$p:ident| $uri:expr;)*) => {
        $(impl OnDocument for $params {
            fn document(&self) -> &Url {
                let $p = self;
                &$uri
            }
        })*
    };
}

on_document! {
    HoverParams => |p| p.text_document_position_params.text_document.uri;
    GotoDefinitionParams => |p| p.text_document_position_params.text_document.uri;
    ReferenceParams => |p| p.text_document_position.text_document.uri;
    DocumentHighlightParams => |p| p.text_document_position_params.text_document.uri;
    SignatureHelpParams => |p| p.text_document_position_params.text_document.uri;
    DocumentFormattingParams => |p| p.text_document.uri;
    DocumentRangeFormattingParams => |p| p.text_document.uri;
    RenameParams => |p| p.text_document_position.text_document.uri;
    TextDocumentPositionParams => |p| p.text_document.uri;
    CompletionParams => |p| p.text_document_position.text_document.uri;
    CodeActionParams => |p| p.text_document.uri;
}

/// Marks an item's `data` with the server that made it, so its resolve
/// request can be sent back there.
fn tag(data: &mut Option<Value>, server: &str) {
    let original = data.take();
    *data = Some(serde_json::json!({ "meshlsServer": server, "data": original }));
}

/// Takes the mark off an item's `data`; returns the server it names.
fn untag(data: &mut Option<Value>) -> Option<String> {
    match data.take() {
        Some(Value::Object(mut marked)) if marked.contains_key("meshlsServer") => {
            let server = marked.remove("meshlsServer")?.as_str().map(str::to_owned);
            *data = marked.remove("data").filter(|d| !d.is_null());
            server
        }
        other => {
            *data = other;
            None
        }
    }
}

/// A downstream failure as the editor sees it: the server's own error as
/// it sent it, or RequestFailed with one sentence saying what happened.
fn proxy_error(err: meshls_proxy::Error) -> jsonrpc::Error {
    match err {
        meshls_proxy::Error::Server {
            code,
            message,
            data,
            ..
        } => jsonrpc::Error {
            code: jsonrpc::ErrorCode::from(code),
            message: message.into(),
            data,
        },
        other => jsonrpc::Error {
            code: jsonrpc::ErrorCode::ServerError(-32803),
            message: other.to_string().into(),
            data: None,
        },
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

#[tower_lsp::async_trait]
impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> jsonrpc::Result<InitializeResult> {
        let root = workspace_root(&params);
        let editor_params = serde_json::to_value(&params).unwrap_or_default();
        tracing::info!(root = ?root, client = ?params.client_info.as_ref().map(|c| &c.name), "initialize");
        {
            let mut state = self.state_mut();
            state.root = root.clone();
            state.initialization_options = params.initialization_options;
        }
        let errors = self.reload_config();
        self.state_mut().config_errors = errors;

        if let Some(path) = root.as_deref().and_then(storage::database_path) {
            // sled does file I/O while opening: keep it off the async workers.
            match tokio::task::spawn_blocking(move || storage::open(&path)).await {
                Ok(Ok(db)) => self.state_mut().db = Some(db),
                Ok(Err(err)) => {
                    // Expected when a second editor opens the same workspace.
                    tracing::warn!("{err:#}");
                    let message = format!("meshls: sessions will not be saved: {err:#}");
                    self.client.log_message(MessageType::WARNING, message).await;
                }
                Err(err) => tracing::error!("opening the database panicked: {err}"),
            }
        }

        if let Some(root) = root.as_deref() {
            let configs = self.state_mut().config.servers.clone();
            let options = StartOptions {
                root: root.to_path_buf(),
                editor_params,
                timeout: SERVER_START_TIMEOUT,
                path: std::env::var_os("PATH"),
                documents: self.docs.clone(),
            };
            let (servers, problems, incoming) = Servers::start(&configs, options).await;
            self.downstream.set(servers);
            self.state_mut().server_problems = problems;
            let (downstream, hub, client) = (
                self.downstream.clone(),
                self.hub.clone(),
                self.client.clone(),
            );
            tokio::spawn(downstream::handle_incoming(
                downstream, hub, client, incoming,
            ));
        }

        let mut capabilities = self.own_capabilities();
        if let Some(object) = capabilities.as_object_mut() {
            self.downstream.get().merge_capabilities(object, ROUTED);
        }
        let capabilities = serde_json::from_value(capabilities).unwrap_or_else(|err| {
            tracing::error!(
                "merged capabilities do not parse, so only meshls's own are advertised: {err}"
            );
            serde_json::from_value(self.own_capabilities()).unwrap_or_default()
        });
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
        downstream::report_problems(&self.client, &problems).await;
    }

    async fn shutdown(&self) -> jsonrpc::Result<()> {
        self.downstream
            .get()
            .shutdown(SERVER_SHUTDOWN_TIMEOUT)
            .await;
        let db = self.state_mut().db.take();
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
        // `null` settings (clients that expect a pull) change nothing of the
        // editor's layer; the files are read again all the same.
        if !params.settings.is_null() {
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

    async fn hover(&self, params: HoverParams) -> jsonrpc::Result<Option<Hover>> {
        self.forward::<HoverRequest>("hoverProvider", params).await
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> jsonrpc::Result<Option<GotoDefinitionResponse>> {
        self.forward::<GotoDefinition>("definitionProvider", params)
            .await
    }

    async fn goto_declaration(
        &self,
        params: GotoDeclarationParams,
    ) -> jsonrpc::Result<Option<GotoDeclarationResponse>> {
        self.forward::<GotoDeclaration>("declarationProvider", params)
            .await
    }

    async fn goto_type_definition(
        &self,
        params: GotoTypeDefinitionParams,
    ) -> jsonrpc::Result<Option<GotoTypeDefinitionResponse>> {
        self.forward::<GotoTypeDefinition>("typeDefinitionProvider", params)
            .await
    }

    async fn goto_implementation(
        &self,
        params: GotoImplementationParams,
    ) -> jsonrpc::Result<Option<GotoImplementationResponse>> {
        self.forward::<GotoImplementation>("implementationProvider", params)
            .await
    }

    async fn references(&self, params: ReferenceParams) -> jsonrpc::Result<Option<Vec<Location>>> {
        self.forward::<References>("referencesProvider", params)
            .await
    }

    async fn document_highlight(
        &self,
        params: DocumentHighlightParams,
    ) -> jsonrpc::Result<Option<Vec<DocumentHighlight>>> {
        self.forward::<DocumentHighlightRequest>("documentHighlightProvider", params)
            .await
    }

    async fn signature_help(
        &self,
        params: SignatureHelpParams,
    ) -> jsonrpc::Result<Option<SignatureHelp>> {
        self.forward::<SignatureHelpRequest>("signatureHelpProvider", params)
            .await
    }

    async fn formatting(
        &self,
        params: DocumentFormattingParams,
    ) -> jsonrpc::Result<Option<Vec<TextEdit>>> {
        self.forward::<Formatting>("documentFormattingProvider", params)
            .await
    }

    async fn range_formatting(
        &self,
        params: DocumentRangeFormattingParams,
    ) -> jsonrpc::Result<Option<Vec<TextEdit>>> {
        self.forward::<RangeFormatting>("documentRangeFormattingProvider", params)
            .await
    }

    async fn rename(&self, params: RenameParams) -> jsonrpc::Result<Option<WorkspaceEdit>> {
        self.forward::<Rename>("renameProvider", params).await
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> jsonrpc::Result<Option<PrepareRenameResponse>> {
        self.forward::<PrepareRenameRequest>("renameProvider", params)
            .await
    }

    async fn completion(
        &self,
        params: CompletionParams,
    ) -> jsonrpc::Result<Option<CompletionResponse>> {
        let answers = self
            .forward_all::<Completion>("completionProvider", params)
            .await?;
        let mut is_incomplete = false;
        let mut items = Vec::new();
        for (server, answer) in answers {
            let mut list = match answer {
                None => continue,
                Some(CompletionResponse::Array(list)) => list,
                Some(CompletionResponse::List(list)) => {
                    is_incomplete |= list.is_incomplete;
                    list.items
                }
            };
            for item in &mut list {
                tag(&mut item.data, &server);
            }
            items.extend(list);
        }
        Ok(Some(CompletionResponse::List(CompletionList {
            is_incomplete,
            items,
        })))
    }

    async fn completion_resolve(
        &self,
        mut item: CompletionItem,
    ) -> jsonrpc::Result<CompletionItem> {
        let server = untag(&mut item.data);
        let mut resolved = self
            .resolve::<ResolveCompletionItem>(server.clone(), item)
            .await?;
        if let Some(server) = server {
            tag(&mut resolved.data, &server);
        }
        Ok(resolved)
    }

    async fn code_action(
        &self,
        params: CodeActionParams,
    ) -> jsonrpc::Result<Option<CodeActionResponse>> {
        let answers = self
            .forward_all::<CodeActionRequest>("codeActionProvider", params)
            .await?;
        let mut actions = Vec::new();
        for (server, answer) in answers {
            for mut action in answer.unwrap_or_default() {
                if let CodeActionOrCommand::CodeAction(action) = &mut action {
                    tag(&mut action.data, &server);
                }
                actions.push(action);
            }
        }
        Ok(Some(actions))
    }

    async fn code_action_resolve(&self, mut action: CodeAction) -> jsonrpc::Result<CodeAction> {
        let server = untag(&mut action.data);
        let mut resolved = self
            .resolve::<CodeActionResolveRequest>(server.clone(), action)
            .await?;
        if let Some(server) = server {
            tag(&mut resolved.data, &server);
        }
        Ok(resolved)
    }

    async fn symbol(
        &self,
        params: WorkspaceSymbolParams,
    ) -> jsonrpc::Result<Option<Vec<SymbolInformation>>> {
        let servers = self.downstream.get().route_any("workspaceSymbolProvider");
        let answers = self
            .gather::<WorkspaceSymbolRequest>(servers, params)
            .await?;
        let mut symbols = Vec::new();
        for (_, answer) in answers {
            match answer {
                Some(WorkspaceSymbolResponse::Flat(flat)) => symbols.extend(flat),
                // tower-lsp 0.20 can only answer the flat form. A symbol
                // given only by its file points at the file's start.
                Some(WorkspaceSymbolResponse::Nested(nested)) => {
                    #[allow(deprecated)] // `deprecated` is a required field.
                    symbols.extend(nested.into_iter().map(|symbol| SymbolInformation {
                        name: symbol.name,
                        kind: symbol.kind,
                        tags: symbol.tags,
                        deprecated: None,
                        location: match symbol.location {
                            OneOf::Left(location) => location,
                            OneOf::Right(file) => Location::new(file.uri, Default::default()),
                        },
                        container_name: symbol.container_name,
                    }));
                }
                None => {}
            }
        }
        Ok(Some(symbols))
    }

    async fn execute_command(
        &self,
        params: ExecuteCommandParams,
    ) -> jsonrpc::Result<Option<Value>> {
        let Some(server) = self.downstream.get().route_command(&params.command) else {
            return Err(jsonrpc::Error::invalid_params(format!(
                "no language server meshls runs offers the command {}",
                params.command
            )));
        };
        let value = server
            .request_raw(
                ExecuteCommand::METHOD,
                serde_json::to_value(params).unwrap_or_default(),
                REQUEST_TIMEOUT,
            )
            .await
            .map_err(proxy_error)?;
        Ok(Some(value))
    }
}
