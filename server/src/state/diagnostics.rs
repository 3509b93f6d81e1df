//! Diagnostics from every source (meshls's own syntax errors, each
//! downstream server), kept per document and source and published merged,
//! so one source's update never erases another's.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use lsp_types::{Diagnostic, Url};
use tokio::sync::{watch, Mutex};
use tower_lsp::Client;

pub struct DiagnosticsHub {
    client: Client,
    /// Held across each publish, so publications leave in the order their
    /// contents were computed and the last one the editor sees is current.
    by_document: Mutex<HashMap<Url, BTreeMap<String, Vec<Diagnostic>>>>,
    /// Per file, how many times a language server published for it; a
    /// change wakes whoever waits for fresh diagnostics (the agent). By
    /// path: servers and editors encode the same file's URI differently.
    published: watch::Sender<HashMap<PathBuf, u64>>,
}

impl DiagnosticsHub {
    pub fn new(client: Client) -> DiagnosticsHub {
        DiagnosticsHub {
            client,
            by_document: Mutex::new(HashMap::new()),
            published: watch::Sender::new(HashMap::new()),
        }
    }

    /// How many times a language server has published for the file.
    pub fn publications(&self, path: &Path) -> u64 {
        self.published.borrow().get(path).copied().unwrap_or(0)
    }

    /// Waits until a language server has published for the file more than
    /// `seen` times.
    pub async fn published_after(&self, path: &Path, seen: u64) {
        let mut changes = self.published.subscribe();
        // Only fails once the hub is gone, and then nothing will come.
        let _ = changes
            .wait_for(|counts| counts.get(path).copied().unwrap_or(0) > seen)
            .await;
    }

    /// Whether no language server has a diagnostic for the file (meshls's
    /// own sources aside).
    pub async fn clean(&self, path: &Path) -> bool {
        let by_document = self.by_document.lock().await;
        by_document
            .iter()
            .filter(|(uri, _)| uri.to_file_path().is_ok_and(|file| file == path))
            .flat_map(|(_, sources)| sources.iter())
            .all(|(source, diagnostics)| {
                source.starts_with(meshls_analysis::DIAGNOSTIC_SOURCE) || diagnostics.is_empty()
            })
    }

    /// Every source's diagnostics for the file, merged, whatever URI each
    /// came with.
    pub async fn for_path(&self, path: &Path) -> Vec<Diagnostic> {
        let by_document = self.by_document.lock().await;
        by_document
            .iter()
            .filter(|(uri, _)| uri.to_file_path().is_ok_and(|file| file == path))
            .flat_map(|(_, sources)| sources.values().flatten())
            .cloned()
            .collect()
    }

    /// Every document with diagnostics, and them.
    pub async fn all(&self) -> Vec<(Url, Vec<Diagnostic>)> {
        let by_document = self.by_document.lock().await;
        by_document
            .iter()
            .map(|(uri, sources)| (uri.clone(), sources.values().flatten().cloned().collect()))
            .collect()
    }

    /// Replaces `source`'s diagnostics for `uri` and publishes the union.
    pub async fn set(
        &self,
        uri: Url,
        source: &str,
        version: Option<i32>,
        diagnostics: Vec<Diagnostic>,
    ) {
        let mut by_document = self.by_document.lock().await;
        let sources = by_document.entry(uri.clone()).or_default();
        if diagnostics.is_empty() {
            sources.remove(source);
        } else {
            sources.insert(source.to_owned(), diagnostics);
        }
        let merged: Vec<Diagnostic> = sources.values().flatten().cloned().collect();
        if sources.is_empty() {
            by_document.remove(&uri);
        }
        self.client
            .publish_diagnostics(uri.clone(), merged, version)
            .await;
        // meshls's own sources (syntax, reviews) are not a server's word.
        if !source.starts_with(meshls_analysis::DIAGNOSTIC_SOURCE) {
            if let Ok(path) = uri.to_file_path() {
                self.published
                    .send_modify(|counts| *counts.entry(path).or_default() += 1);
            }
        }
    }

    /// Takes away everything one source said, in every document.
    pub async fn clear_source(&self, source: &str) {
        let mut by_document = self.by_document.lock().await;
        let touched: Vec<Url> = by_document
            .iter_mut()
            .filter_map(|(uri, sources)| sources.remove(source).map(|_| uri.clone()))
            .collect();
        for uri in touched {
            let merged: Vec<Diagnostic> = by_document
                .get(&uri)
                .into_iter()
                .flat_map(|s| s.values().flatten())
                .cloned()
                .collect();
            self.client.publish_diagnostics(uri, merged, None).await;
        }
    }

    /// Forgets every source's diagnostics for a closed document.
    pub async fn clear(&self, uri: Url) {
        let mut by_document = self.by_document.lock().await;
        by_document.remove(&uri);
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
    }
}
