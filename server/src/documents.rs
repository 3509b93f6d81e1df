//! The editor's open documents, with one ordered owner. The transport hands
//! `didOpen`, `didChange` and `didClose` here synchronously, in arrival
//! order, before any handler runs; one publisher task sends the resulting
//! diagnostics, also in order.

use std::{
    collections::{BTreeSet, HashSet},
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

use meshls_analysis::{DocumentStore, PositionEncoding, Snapshot};

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

    pub fn set_syntax_diagnostics(&self, on: bool) {
        if self.syntax_diagnostics.swap(on, Ordering::Relaxed) != on {
            for uri in self.lock().store.uris() {
                let _ = self.events.send(Event::Changed(uri.clone()));
            }
        }
    }

    /// Applies `method` if it is a document notification; other methods are
    /// left alone. Must be called in message order, before dispatch.
    pub fn apply_notification(&self, method: &str, params: Option<&Value>) {
        match method {
            DidOpenTextDocument::METHOD => {
                let Some(params) = self.parse::<DidOpenTextDocument>(params) else {
                    return;
                };
                let uri = params.text_document.uri.clone();
                let mut inner = self.lock();
                inner.out_of_sync.remove(&uri);
                inner.store.open(params);
                let _ = self.events.send(Event::Changed(uri));
            }
            DidChangeTextDocument::METHOD => {
                let Some(params) = self.parse::<DidChangeTextDocument>(params) else {
                    return;
                };
                let uri = params.text_document.uri.clone();
                let mut inner = self.lock();
                if inner.out_of_sync.contains(&uri) {
                    // Only a full-text change brings a lost document back.
                    let full = params
                        .content_changes
                        .first()
                        .is_some_and(|c| c.range.is_none());
                    if !full || inner.store.change(&params).is_err() {
                        tracing::debug!(%uri, "ignoring an edit to a document out of sync");
                        return;
                    }
                    inner.out_of_sync.remove(&uri);
                    let _ = self.events.send(Event::Changed(uri));
                    return;
                }
                match inner.store.change(&params) {
                    Ok(()) => {
                        let _ = self.events.send(Event::Changed(uri));
                    }
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
                        let _ = self.events.send(Event::Problem(problem));
                    }
                }
            }
            DidCloseTextDocument::METHOD => {
                let Some(params) = self.parse::<DidCloseTextDocument>(params) else {
                    return;
                };
                let uri = params.text_document.uri.clone();
                let mut inner = self.lock();
                inner.out_of_sync.remove(&uri);
                if inner.store.close(&params).is_err() {
                    tracing::debug!(%uri, "close of a document that was not open");
                }
                let _ = self.events.send(Event::Closed(uri));
            }
            _ => {}
        }
    }

    fn parse<N: Notification>(&self, params: Option<&Value>) -> Option<N::Params>
    where
        N::Params: DeserializeOwned,
    {
        match serde_json::from_value(params.cloned().unwrap_or(Value::Null)) {
            Ok(params) => Some(params),
            Err(err) => {
                let problem = format!(
                    "meshls ignored a malformed {} notification: {err}",
                    N::METHOD
                );
                tracing::error!("{problem}");
                let _ = self.events.send(Event::Problem(problem));
                None
            }
        }
    }

    /// A parsed, consistent copy of an open document.
    pub fn snapshot(&self, uri: &Url) -> Result<Snapshot, DocumentError> {
        let mut inner = self.lock();
        if inner.out_of_sync.contains(uri) {
            return Err(DocumentError::OutOfSync(uri.clone()));
        }
        Ok(inner.store.snapshot(uri)?)
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

/// A burst of edits is coalesced: publishing waits for a short pause, but
/// never longer than `MAX_DELAY` after the first edit.
const QUIET: Duration = Duration::from_millis(40);
const MAX_DELAY: Duration = Duration::from_millis(300);

/// Publishes syntax diagnostics for changed documents, in order, until the
/// document owner is dropped.
pub async fn publish_diagnostics(
    docs: Arc<Documents>,
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
                    client.publish_diagnostics(uri, Vec::new(), None).await;
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
            let Ok(snap) = docs.snapshot(&uri) else {
                continue;
            };
            let diagnostics = if enabled {
                snap.syntax_diagnostics()
            } else {
                Vec::new()
            };
            client
                .publish_diagnostics(uri, diagnostics, Some(snap.version))
                .await;
        }
    }
}
