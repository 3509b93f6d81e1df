//! The editor-facing language server: lifecycle, configuration and the
//! features meshls answers from its own syntax trees.

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

    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn snapshot(&self, uri: &Url) -> jsonrpc::Result<meshls_analysis::Snapshot> {
        self.docs.snapshot(uri).map_err(document_error)
    }

    /// Loads the configuration layers, applies what is valid and returns the
    /// problems.
    fn reload_config(&self, client_settings: Option<&Value>) -> Vec<ConfigError> {
        let root = self.state().root.clone();
        let loaded = config::load(&Sources::from_process(root.as_deref(), client_settings));
        for err in &loaded.errors {
            tracing::error!("configuration: {err}");
        }
        self.docs
            .set_syntax_diagnostics(loaded.config.analysis.syntax_diagnostics);
        self.state_mut().config = loaded.config;
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

/// The workspace root the editor names: its first workspace folder, else
/// `rootUri`, else the deprecated `rootPath`.
fn workspace_root(params: &InitializeParams) -> Option<PathBuf> {
    let from_uri = |uri: &Url| uri.to_file_path().ok();
    if let Some(folder) = params.workspace_folders.as_ref().and_then(|f| f.first()) {
        return from_uri(&folder.uri);
    }
    #[allow(deprecated)] // Older clients still send only rootPath.
    params
        .root_uri
        .as_ref()
        .and_then(from_uri)
        .or_else(|| params.root_path.as_ref().map(PathBuf::from))
}

#[tower_lsp::async_trait]
impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> jsonrpc::Result<InitializeResult> {
        let root = workspace_root(&params);
        tracing::info!(root = ?root, client = ?params.client_info.as_ref().map(|c| &c.name), "initialize");
        self.state_mut().root = root.clone();
        let errors = self.reload_config(params.initialization_options.as_ref());
        self.state_mut().config_errors = errors;

        if let Some(path) = root.as_deref().and_then(storage::database_path) {
            // Opening sled touches the disk; keep it off the initialize path.
            match tokio::task::spawn_blocking(move || storage::open(&path)).await {
                Ok(Ok(db)) => self.state_mut().db = Some(db),
                Ok(Err(err)) => {
                    tracing::warn!("{err:#}");
                    self.client
                        .log_message(MessageType::WARNING, format!("meshls: {err:#}"))
                        .await;
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
        let settings = Some(&params.settings).filter(|s| !s.is_null());
        let errors = self.reload_config(settings);
        self.report_config_errors(&errors).await;
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> jsonrpc::Result<Option<DocumentSymbolResponse>> {
        let snap = self.snapshot(&params.text_document.uri)?;
        Ok(snap
            .language
            .map(|_| DocumentSymbolResponse::Nested(snap.document_symbols())))
    }

    async fn folding_range(
        &self,
        params: FoldingRangeParams,
    ) -> jsonrpc::Result<Option<Vec<FoldingRange>>> {
        let snap = self.snapshot(&params.text_document.uri)?;
        Ok(snap.language.map(|_| snap.folding_ranges()))
    }

    async fn selection_range(
        &self,
        params: SelectionRangeParams,
    ) -> jsonrpc::Result<Option<Vec<SelectionRange>>> {
        let snap = self.snapshot(&params.text_document.uri)?;
        let ranges = snap
            .selection_ranges(&params.positions)
            .map_err(|err| jsonrpc::Error::invalid_params(err.to_string()))?;
        Ok(Some(ranges))
    }
}
