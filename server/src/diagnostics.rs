//! Diagnostics from every source (meshls's own syntax errors, each
//! downstream server), kept per document and source and published merged,
//! so one source's update never erases another's.

use std::collections::{BTreeMap, HashMap};

use lsp_types::{Diagnostic, Url};
use tokio::sync::Mutex;
use tower_lsp::Client;

pub struct DiagnosticsHub {
    client: Client,
    /// Held across each publish, so publications leave in the order their
    /// contents were computed and the last one the editor sees is current.
    by_document: Mutex<HashMap<Url, BTreeMap<String, Vec<Diagnostic>>>>,
}

impl DiagnosticsHub {
    pub fn new(client: Client) -> DiagnosticsHub {
        DiagnosticsHub {
            client,
            by_document: Mutex::new(HashMap::new()),
        }
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
        self.client.publish_diagnostics(uri, merged, version).await;
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
