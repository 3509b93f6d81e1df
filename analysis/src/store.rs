//! The open documents, keyed by URI: what `didOpen`, `didChange` and
//! `didClose` act on. The caller owns the store and applies notifications in
//! arrival order; the store itself does no locking.

use std::collections::HashMap;

use lsp_types::{
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams, Url,
};

use crate::{
    document::{Capture, Document, Snapshot},
    language::Language,
    position::PositionEncoding,
    Error, Result,
};

#[derive(Default)]
pub struct DocumentStore {
    docs: HashMap<Url, Document>,
    encoding: PositionEncoding,
}

impl DocumentStore {
    pub fn new(encoding: PositionEncoding) -> DocumentStore {
        DocumentStore {
            docs: HashMap::new(),
            encoding,
        }
    }

    pub fn encoding(&self) -> PositionEncoding {
        self.encoding
    }

    /// Sets the position encoding negotiated at `initialize`.
    pub fn set_encoding(&mut self, encoding: PositionEncoding) {
        self.encoding = encoding;
    }

    /// Opens (or re-opens, replacing) a document. The language comes from the
    /// editor's language id, else from the file extension.
    pub fn open(&mut self, params: DidOpenTextDocumentParams) {
        let item = params.text_document;
        let language =
            Language::for_lsp_id(&item.language_id).or_else(|| Language::for_path(item.uri.path()));
        let mut doc = Document::new(&item.text, item.version, language);
        doc.language_id = item.language_id;
        self.docs.insert(item.uri, doc);
    }

    pub fn change(&mut self, params: &DidChangeTextDocumentParams) -> Result<()> {
        let uri = &params.text_document.uri;
        let doc = self
            .docs
            .get_mut(uri)
            .ok_or_else(|| Error::NotOpen(uri.clone()))?;
        doc.apply_changes(
            params.text_document.version,
            &params.content_changes,
            self.encoding,
        )
    }

    pub fn close(&mut self, params: &DidCloseTextDocumentParams) -> Result<()> {
        let uri = &params.text_document.uri;
        self.docs
            .remove(uri)
            .map(drop)
            .ok_or_else(|| Error::NotOpen(uri.clone()))
    }

    pub fn get(&self, uri: &Url) -> Option<&Document> {
        self.docs.get(uri)
    }

    /// An open document as it is now, for parsing outside the store.
    pub fn capture(&self, uri: &Url) -> Result<Capture> {
        let doc = self
            .docs
            .get(uri)
            .ok_or_else(|| Error::NotOpen(uri.clone()))?;
        Ok(doc.capture(self.encoding))
    }

    /// Keeps the tree of a snapshot parsed outside the store, when the
    /// document has not changed since.
    pub fn keep_parsed(&mut self, uri: &Url, snapshot: &Snapshot) {
        if let Some(doc) = self.docs.get_mut(uri) {
            doc.keep_parsed(snapshot);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Url, &Document)> {
        self.docs.iter()
    }

    pub fn uris(&self) -> impl Iterator<Item = &Url> {
        self.docs.keys()
    }
}
