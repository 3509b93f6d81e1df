//! Open documents and what the syntax tree tells about them.
//!
//! This crate keeps the editor's open documents as ropes, converts LSP
//! positions in any of the three position encodings, and parses each
//! document with tree-sitter, re-parsing incrementally after edits. From the
//! trees it answers document symbols, folding ranges, selection ranges,
//! syntax-error diagnostics and the "enclosing context" of a position.
//!
//! It does no I/O and knows nothing of JSON-RPC: callers hand it LSP types
//! and get LSP types back.

mod config;
mod document;
mod features;
mod language;
mod position;
mod store;

pub use config::AnalysisConfig;
pub use document::{Capture, Document, Snapshot};
pub use features::{Enclosing, DIAGNOSTIC_SOURCE};
pub use language::{canonical_lsp_id, lsp_id_of_path, Known, Language, KNOWN, LANGUAGES};
pub use position::{text, PositionEncoding};
pub use store::DocumentStore;

use lsp_types::Url;

/// Why a document operation was refused. Each message says what the client
/// should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "position {line}:{character} is past the end of the document, which has {line_count} lines"
    )]
    LineOutOfRange {
        line: u32,
        character: u32,
        line_count: usize,
    },
    #[error("position {line}:{character} falls inside a character (for example between the two UTF-16 halves of an emoji); positions must fall on character boundaries")]
    InsideCharacter { line: u32, character: u32 },
    #[error(
        "range {start_line}:{start_character}-{end_line}:{end_character} ends before it starts"
    )]
    InvertedRange {
        start_line: u32,
        start_character: u32,
        end_line: u32,
        end_character: u32,
    },
    #[error("document {0} is not open: send textDocument/didOpen before editing or querying it")]
    NotOpen(Url),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
