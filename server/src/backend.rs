//! The editor-facing language server: lifecycle, configuration and the
//! features meshls answers from its own syntax trees.
//!
//! Every handler reads what it needs (documents, settings) before its first
//! `.await`: the transport runs that part in message order, so a request
//! sees the documents exactly as they were when it arrived.

use std::{
    path::PathBuf,
    sync::{Arc, RwLock},
};

use lsp_types::{
    DocumentSymbolParams, DocumentSymbolResponse, FoldingRange, FoldingRangeParams,
    FoldingRangeProviderCapability, InitializeParams, InitializeResult, InitializedParams,
    MessageType, OneOf, PositionEncodingKind, SaveOptions, SelectionRange, SelectionRangeParams,
    SelectionRangeProviderCapability, ServerCapabilities, ServerInfo, TextDocumentIdentifier,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, Url,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_lsp::{jsonrpc, Client, LanguageServer};

use meshls_analysis::Snapshot;

use crate::{
    config::{self, Config, ConfigError, Sources},
    documents::{DocumentError, Documents},
    storage,
};

pub struct Backend {
    client: Client,
    docs: Arc<Documents>,
    state: RwLock<State>,
}

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
    pub fn new(client: Client, docs: Arc<Documents>) -> Backend {
        Backend {
            client,
            docs,
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

        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "meshls".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
            capabilities: ServerCapabilities {
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
            },
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let errors = std::mem::take(&mut self.state_mut().config_errors);
        self.report_config_errors(&errors).await;
    }

    async fn shutdown(&self) -> jsonrpc::Result<()> {
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
}
