//! What the syntax tree answers, as LSP types: document symbols, folding
//! ranges, selection ranges, syntax-error diagnostics and the enclosing
//! context of a position. All of it works on a [`Snapshot`] and is pure.

mod diagnostics;
mod folding;
mod selection;
mod symbols;

use ropey::Rope;
use tree_sitter::Node;

pub use diagnostics::DIAGNOSTIC_SOURCE;
pub use symbols::Enclosing;

/// The text of a node, taken from the rope.
fn node_text(text: &Rope, node: Node<'_>) -> String {
    text.byte_slice(node.byte_range()).to_string()
}

/// The LSP line a byte offset falls on.
fn line_of(text: &Rope, byte: usize) -> u32 {
    text.byte_to_line(byte) as u32
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Fixtures: source text with `$0` marking the cursor.
    use lsp_types::Position;

    use crate::{Document, Language, PositionEncoding, Snapshot};

    /// Parses `fixture` as `language` and returns the snapshot and the UTF-16
    /// position of `$0`, if any.
    pub(crate) fn parse(language: &str, fixture: &str) -> (Snapshot, Option<Position>) {
        let cursor = fixture.find("$0");
        let text = fixture.replacen("$0", "", 1);
        let mut doc = Document::new(&text, 1, Language::for_lsp_id(language));
        let snap = doc.snapshot(PositionEncoding::Utf16);
        let pos = cursor.map(|byte| {
            let ch = snap.text.byte_to_char(byte);
            crate::position::to_position(&snap.text, ch, PositionEncoding::Utf16)
        });
        (snap, pos)
    }
}
