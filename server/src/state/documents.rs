//! The editor's open documents, with one ordered owner. The transport hands
//! `didOpen`, `didChange` and `didClose` here synchronously, in arrival
//! order, before any handler runs; one publisher task sends the resulting
//! diagnostics, also in order.

use std::{
    collections::{BTreeSet, HashSet},
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::Duration,
};

use lsp_types::{
    notification::{
        DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification,
    },
    MessageType, Url,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::mpsc;
use tower_lsp::Client;

use meshls_analysis::{Capture, DocumentStore, PositionEncoding, Snapshot, DIAGNOSTIC_SOURCE};

use meshls_proxy::{OpenDocument, OpenDocuments};

use crate::state::diagnostics::DiagnosticsHub;

pub struct Documents {
    inner: Mutex<Inner>,
    events: mpsc::UnboundedSender<Event>,
    syntax_diagnostics: AtomicBool,
}

struct Inner {
    store: DocumentStore,
    /// Documents whose copy here may differ from the editor's: an edit could
    /// not be applied, or edits arrived for a document never opened. They are
    /// refused to queries until the editor reopens them or sends full text.
    out_of_sync: HashSet<Url>,
}

pub enum Event {
    Changed(Url),
    Closed(Url),
    /// Something the user must hear about, in one sentence.
    Problem(String),
}

/// Why a document cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error(transparent)]
    Analysis(#[from] meshls_analysis::Error),
    #[error("meshls's copy of {0} is out of sync with the editor after a failed edit: close and reopen the file")]
    OutOfSync(Url),
}

impl Documents {
    pub fn new() -> (Arc<Documents>, mpsc::UnboundedReceiver<Event>) {
        let (events, rx) = mpsc::unbounded_channel();
        let docs = Documents {
            inner: Mutex::new(Inner {
                store: DocumentStore::new(PositionEncoding::Utf16),
                out_of_sync: HashSet::new(),
            }),
            events,
            syntax_diagnostics: AtomicBool::new(true),
        };
        (Arc::new(docs), rx)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the store as it was before the
        // failed operation (edits are all-or-nothing), so it is safe to go on.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn send(&self, event: Event) {
        // The publisher lives as long as the server; a send fails only at exit.
        let _ = self.events.send(event);
    }

    pub fn set_syntax_diagnostics(&self, on: bool) {
        if self.syntax_diagnostics.swap(on, Ordering::Relaxed) != on {
            for uri in self.lock().store.uris() {
                self.send(Event::Changed(uri.clone()));
            }
        }
    }

    /// Applies `method` if it is a document notification; other methods are
    /// left alone. Must be called in message order, before dispatch.
    /// Returns the language id of the document it concerned, for passing
    /// the notification on to that language's servers: the editor's, or the
    /// one meshls knows it by (see `canonical_lsp_id`).
    pub fn apply_notification(&self, method: &str, params: Option<&Value>) -> Option<String> {
        match method {
            DidOpenTextDocument::METHOD => {
                let mut params = self.parse::<DidOpenTextDocument>(params)?;
                let uri = params.text_document.uri.clone();
                // An id meshls does not know (eglot's `js` for a `.ts` file
                // in `js-mode`, `rust-ts`) is named by the file's extension.
                let given = &params.text_document.language_id;
                let language_id =
                    meshls_analysis::canonical_lsp_id(given, Path::new(uri.path())).to_owned();
                params.text_document.language_id = language_id.clone();
                let mut inner = self.lock();
                inner.out_of_sync.remove(&uri);
                inner.store.open(params);
                self.send(Event::Changed(uri));
                Some(language_id)
            }
            DidChangeTextDocument::METHOD => self.change(params),
            DidCloseTextDocument::METHOD => {
                let params = self.parse::<DidCloseTextDocument>(params)?;
                let uri = params.text_document.uri.clone();
                let mut inner = self.lock();
                inner.out_of_sync.remove(&uri);
                let language_id = inner
                    .store
                    .get(&uri)
                    .map(|doc| doc.language_id().to_owned());
                if inner.store.close(&params).is_err() {
                    tracing::debug!(%uri, "close of a document that was not open");
                }
                self.send(Event::Closed(uri));
                language_id
            }
            // Saves go to the servers too; meshls itself has nothing to do.
            "textDocument/didSave" | "textDocument/willSave" => {
                let uri = params?.pointer("/textDocument/uri")?.as_str()?;
                self.language_id(&Url::parse(uri).ok()?)
            }
            _ => None,
        }
    }

    /// The URI the editor gave the open document at `path`: editors encode
    /// file URIs differently (VS Code escapes `[`, `]`, `@`, `+`, ...), so
    /// one made from the path may not be the editor's.
    pub fn uri_of(&self, path: &std::path::Path) -> Option<Url> {
        self.lock()
            .store
            .iter()
            .map(|(uri, _)| uri)
            .find(|uri| uri.to_file_path().is_ok_and(|open| open == path))
            .cloned()
    }

    /// The open documents' URIs.
    pub fn open_uris(&self) -> Vec<Url> {
        self.lock().store.uris().cloned().collect()
    }

    /// The editor's language id of an open document.
    pub fn language_id(&self, uri: &Url) -> Option<String> {
        self.lock()
            .store
            .get(uri)
            .map(|doc| doc.language_id().to_owned())
    }

    /// Applies a `didChange`. The language id is returned even when meshls
    /// could not apply the edit: the servers hold their own copy, which the
    /// edit still fits.
    fn change(&self, raw: Option<&Value>) -> Option<String> {
        let Some(params) = self.parse::<DidChangeTextDocument>(raw) else {
            // An edit was lost, so the document can no longer be trusted.
            let uri = raw.and_then(|p| p.pointer("/textDocument/uri")?.as_str());
            if let Some(uri) = uri.and_then(|uri| Url::parse(uri).ok()) {
                self.lock().out_of_sync.insert(uri);
            }
            return None;
        };
        let uri = params.text_document.uri.clone();
        let mut inner = self.lock();
        let language_id = inner
            .store
            .get(&uri)
            .map(|doc| doc.language_id().to_owned());
        if inner.out_of_sync.contains(&uri) {
            // Only a full-text change brings a lost document back.
            let full = params
                .content_changes
                .first()
                .is_some_and(|c| c.range.is_none());
            if full && inner.store.change(&params).is_ok() {
                inner.out_of_sync.remove(&uri);
                self.send(Event::Changed(uri));
            } else {
                tracing::debug!(%uri, "ignoring an edit to a document out of sync");
            }
            return language_id;
        }
        match inner.store.change(&params) {
            Ok(()) => self.send(Event::Changed(uri)),
            Err(err) => {
                let problem = match err {
                    meshls_analysis::Error::NotOpen(_) => format!(
                        "meshls received edits to {uri}, which the editor never opened (no textDocument/didOpen); they were ignored"
                    ),
                    err => format!(
                        "meshls could not apply an edit to {uri} ({err}); its copy is out of sync until you close and reopen the file"
                    ),
                };
                tracing::error!("{problem}");
                inner.out_of_sync.insert(uri);
                self.send(Event::Problem(problem));
            }
        }
        language_id
    }

    fn parse<N: Notification>(&self, params: Option<&Value>) -> Option<N::Params>
    where
        N::Params: DeserializeOwned,
    {
        match serde_json::from_value(params.cloned().unwrap_or(Value::Null)) {
            Ok(params) => Some(params),
            Err(err) => {
                let problem = format!(
                    "meshls ignored a malformed {} notification ({err}); if a file is affected, close and reopen it",
                    N::METHOD
                );
                tracing::error!("{problem}");
                self.send(Event::Problem(problem));
                None
            }
        }
    }

    /// An open document as it is now, in O(1). Handlers call this before
    /// their first `.await`, so they read the document as of their request.
    pub fn capture(&self, uri: &Url) -> Result<Capture, DocumentError> {
        let inner = self.lock();
        if inner.out_of_sync.contains(uri) {
            return Err(DocumentError::OutOfSync(uri.clone()));
        }
        Ok(inner.store.capture(uri)?)
    }

    /// Parses a capture (if edits came since the last parse) and runs `f` on
    /// it, on the blocking pool: neither the reader nor the store waits.
    pub async fn compute<T: Send + 'static>(
        self: &Arc<Self>,
        uri: &Url,
        capture: Capture,
        f: impl FnOnce(&Snapshot) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let (docs, uri) = (Arc::clone(self), uri.clone());
        tokio::task::spawn_blocking(move || {
            let snapshot = capture.parse();
            docs.lock().store.keep_parsed(&uri, &snapshot);
            f(&snapshot)
        })
        .await
    }

    /// The text and version meshls holds for a document, as the editor should
    /// also hold them; for `meshls/viewDocument`.
    pub fn view(&self, uri: &Url) -> Result<(i32, String, Option<&'static str>), DocumentError> {
        let inner = self.lock();
        if inner.out_of_sync.contains(uri) {
            return Err(DocumentError::OutOfSync(uri.clone()));
        }
        let doc = inner
            .store
            .get(uri)
            .ok_or_else(|| meshls_analysis::Error::NotOpen(uri.clone()))?;
        Ok((
            doc.version(),
            doc.text().to_string(),
            doc.language().map(|l| l.id()),
        ))
    }
}

impl OpenDocuments for Documents {
    /// The documents of these languages as the editor holds them. One whose
    /// copy is out of sync is left out rather than replayed wrong.
    fn open_documents(&self, language_ids: &[String]) -> Vec<OpenDocument> {
        let inner = self.lock();
        inner
            .store
            .iter()
            .filter(|(uri, doc)| {
                language_ids.iter().any(|l| l == doc.language_id())
                    && !inner.out_of_sync.contains(*uri)
            })
            .map(|(uri, doc)| OpenDocument {
                uri: uri.clone(),
                language_id: doc.language_id().to_owned(),
                version: doc.version(),
                text: doc.text().to_string(),
            })
            .collect()
    }
}

/// A burst of edits is coalesced: publishing waits for a short pause, but
/// never longer than `MAX_DELAY` after the first edit.
const QUIET: Duration = Duration::from_millis(40);
const MAX_DELAY: Duration = Duration::from_millis(300);

/// Publishes syntax diagnostics for changed documents through the hub, in
/// order, for the life of the server.
pub async fn publish_diagnostics(
    docs: Arc<Documents>,
    hub: Arc<DiagnosticsHub>,
    client: Client,
    mut events: mpsc::UnboundedReceiver<Event>,
) {
    let mut changed = BTreeSet::new();
    while let Some(first) = events.recv().await {
        let deadline = tokio::time::Instant::now() + MAX_DELAY;
        let mut next = Some(first);
        while let Some(event) = next.take() {
            match event {
                Event::Changed(uri) => {
                    changed.insert(uri);
                }
                Event::Closed(uri) => {
                    changed.remove(&uri);
                    hub.clear(uri).await;
                }
                Event::Problem(message) => client.show_message(MessageType::WARNING, message).await,
            }
            let wait = QUIET.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            next = tokio::time::timeout(wait, events.recv())
                .await
                .ok()
                .flatten();
        }
        let enabled = docs.syntax_diagnostics.load(Ordering::Relaxed);
        for uri in std::mem::take(&mut changed) {
            // A document closed or lost since it changed has nothing to publish.
            let Ok(capture) = docs.capture(&uri) else {
                continue;
            };
            let found = docs
                .compute(&uri, capture, move |snap| {
                    // Without a grammar meshls has nothing of its own to say.
                    snap.language?;
                    let diagnostics = if enabled {
                        snap.syntax_diagnostics()
                    } else {
                        Vec::new()
                    };
                    Some((snap.version, diagnostics))
                })
                .await;
            match found {
                Ok(Some((version, diagnostics))) => {
                    hub.set(uri, DIAGNOSTIC_SOURCE, Some(version), diagnostics)
                        .await;
                }
                Ok(None) => {}
                Err(err) => tracing::error!(%uri, "computing syntax diagnostics failed: {err}"),
            }
        }
    }
}
