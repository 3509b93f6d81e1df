//! One open document: its text as a rope, its version, and its syntax tree.
//!
//! Every edit is fed to the kept tree as a tree-sitter `InputEdit`; the
//! re-parse itself waits until something reads the tree, so a burst of
//! keystrokes costs one incremental re-parse, not one per key.

use std::{cell::RefCell, collections::HashMap};

use lsp_types::TextDocumentContentChangeEvent;
use ropey::Rope;
use tree_sitter::{InputEdit, Parser, Point, Tree};

use crate::{
    language::Language,
    position::{self, PositionEncoding},
    Result,
};

pub struct Document {
    version: i32,
    /// Counts applied changes, so a parsed capture can tell in O(1) whether
    /// the document is still the text it was parsed from.
    revision: u64,
    /// The editor's language id (`python`, `rust`, ...), known or not.
    pub(crate) language_id: String,
    text: Rope,
    syntax: Option<Syntax>,
}

#[derive(Clone)]
struct Syntax {
    language: &'static Language,
    /// The last tree, edited to match `text` but not yet re-parsed when
    /// `stale` is set. `None` until the first parse or after a full replace.
    tree: Option<Tree>,
    stale: bool,
}

/// What a document held at one moment, taken in O(1) (ropes and trees share
/// their nodes) while the store is locked; the re-parse it may still need
/// happens later, outside the lock, in [`Capture::parse`].
#[derive(Clone)]
pub struct Capture {
    version: i32,
    revision: u64,
    text: Rope,
    syntax: Option<Syntax>,
    encoding: PositionEncoding,
}

/// A parsed, consistent copy of a document: what the features work on.
#[derive(Clone)]
pub struct Snapshot {
    pub version: i32,
    revision: u64,
    pub text: Rope,
    pub language: Option<&'static Language>,
    pub tree: Option<Tree>,
    pub encoding: PositionEncoding,
}

thread_local! {
    /// One parser per language and thread: parsers keep buffers worth reusing.
    static PARSERS: RefCell<HashMap<&'static str, Parser>> = RefCell::new(HashMap::new());
}

impl Document {
    pub fn new(text: &str, version: i32, language: Option<&'static Language>) -> Document {
        let syntax = language.map(|language| Syntax {
            language,
            tree: None,
            stale: true,
        });
        Document {
            version,
            revision: 0,
            language_id: language.map(|l| l.id().to_owned()).unwrap_or_default(),
            text: Rope::from_str(text),
            syntax,
        }
    }

    pub fn version(&self) -> i32 {
        self.version
    }

    pub fn text(&self) -> &Rope {
        &self.text
    }

    /// The language id the editor opened the document with.
    pub fn language_id(&self) -> &str {
        &self.language_id
    }

    pub fn language(&self) -> Option<&'static Language> {
        self.syntax.as_ref().map(|syntax| syntax.language)
    }

    /// Applies one `didChange`'s changes in order. Either all of them apply or,
    /// when one is out of range, none does and the document is unchanged.
    pub fn apply_changes(
        &mut self,
        version: i32,
        changes: &[TextDocumentContentChangeEvent],
        enc: PositionEncoding,
    ) -> Result<()> {
        // Ropes clone in O(1), which makes the all-or-nothing cheap.
        let mut text = self.text.clone();
        let mut edits = Vec::new();
        let mut replaced = false;
        for change in changes {
            let Some(range) = change.range else {
                text = Rope::from_str(&change.text);
                edits.clear();
                replaced = true;
                continue;
            };
            let chars = position::to_char_range(&text, range, enc)?;
            let start_byte = text.char_to_byte(chars.start);
            let old_end_byte = text.char_to_byte(chars.end);
            let start_position = point(&text, start_byte);
            let old_end_position = point(&text, old_end_byte);
            text.remove(chars.clone());
            text.insert(chars.start, &change.text);
            let new_end_byte = start_byte + change.text.len();
            edits.push(InputEdit {
                start_byte,
                old_end_byte,
                new_end_byte,
                start_position,
                old_end_position,
                new_end_position: point(&text, new_end_byte),
            });
        }
        self.text = text;
        self.version = version;
        self.revision += 1;
        if let Some(syntax) = &mut self.syntax {
            syntax.stale = true;
            if replaced {
                syntax.tree = None;
            }
            if let Some(tree) = &mut syntax.tree {
                for edit in &edits {
                    tree.edit(edit);
                }
            }
        }
        Ok(())
    }

    /// The document as it is now, not yet re-parsed.
    pub fn capture(&self, encoding: PositionEncoding) -> Capture {
        Capture {
            version: self.version,
            revision: self.revision,
            text: self.text.clone(),
            syntax: self.syntax.clone(),
            encoding,
        }
    }

    /// Keeps a tree parsed from a capture of this document, so the next
    /// reader need not parse again, if no edit came in between.
    pub fn keep_parsed(&mut self, snapshot: &Snapshot) {
        if let (Some(syntax), Some(tree)) = (&mut self.syntax, &snapshot.tree) {
            if syntax.stale && snapshot.revision == self.revision {
                syntax.tree = Some(tree.clone());
                syntax.stale = false;
            }
        }
    }

    /// The syntax tree for the current text, re-parsing here if needed.
    pub fn tree(&mut self) -> Option<&Tree> {
        self.snapshot(PositionEncoding::default());
        self.syntax.as_ref()?.tree.as_ref()
    }

    /// Captures and parses in one step, for callers that own the document.
    pub fn snapshot(&mut self, encoding: PositionEncoding) -> Snapshot {
        let snapshot = self.capture(encoding).parse();
        self.keep_parsed(&snapshot);
        snapshot
    }
}

impl Capture {
    pub fn version(&self) -> i32 {
        self.version
    }

    /// Re-parses incrementally if edits came since the last parse. This is
    /// the expensive step, meant to run outside any lock.
    pub fn parse(self) -> Snapshot {
        let Capture {
            version,
            revision,
            text,
            syntax,
            encoding,
        } = self;
        let (language, tree) = match syntax {
            None => (None, None),
            Some(Syntax {
                language,
                tree,
                stale: false,
            }) => (Some(language), tree),
            Some(Syntax {
                language,
                tree: old,
                stale: true,
            }) => (Some(language), parse(language, &text, old.as_ref())),
        };
        Snapshot {
            version,
            revision,
            text,
            language,
            tree,
            encoding,
        }
    }
}

fn parse(language: &'static Language, text: &Rope, old: Option<&Tree>) -> Option<Tree> {
    PARSERS.with(|parsers| {
        let mut parsers = parsers.borrow_mut();
        let parser = match parsers.entry(language.id()) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let mut parser = Parser::new();
                // The grammars are compiled in with an ABI this tree-sitter
                // accepts (a test checks it); a mismatch means no tree.
                parser.set_language(&language.grammar()).ok()?;
                entry.insert(parser)
            }
        };
        let mut read = |byte: usize, _: Point| -> &[u8] {
            if byte >= text.len_bytes() {
                return &[];
            }
            let (chunk, chunk_start, _, _) = text.chunk_at_byte(byte);
            &chunk.as_bytes()[byte - chunk_start..]
        };
        parser.parse_with_options(&mut read, old, None)
    })
}

/// The tree-sitter point (row, byte column) of a byte offset. Rows follow the
/// rope's LSP lines; they differ from tree-sitter's own count only for a lone
/// `\r`, and meshls reads node positions as byte offsets, never as points.
fn point(text: &Rope, byte: usize) -> Point {
    let row = text.byte_to_line(byte);
    Point::new(row, byte - text.line_to_byte(row))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_types::{Position, Range};

    fn change(sl: u32, sc: u32, el: u32, ec: u32, text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(sl, sc), Position::new(el, ec))),
            range_length: None,
            text: text.to_owned(),
        }
    }

    #[test]
    fn incremental_reparse_matches_a_fresh_parse() {
        let rust = Language::for_lsp_id("rust");
        let mut doc = Document::new("fn main() {\n    let x = 1;\n}\n", 1, rust);
        assert!(doc.tree().is_some());
        doc.apply_changes(
            2,
            &[change(1, 12, 1, 13, "\"😀 x\"")],
            PositionEncoding::Utf16,
        )
        .unwrap();
        doc.apply_changes(3, &[change(0, 3, 0, 7, "start")], PositionEncoding::Utf16)
            .unwrap();
        let incremental = doc.tree().unwrap().root_node().to_sexp();
        let text = doc.text().to_string();
        assert_eq!(text, "fn start() {\n    let x = \"😀 x\";\n}\n");
        let mut fresh = Document::new(&text, 3, rust);
        assert_eq!(incremental, fresh.tree().unwrap().root_node().to_sexp());
    }

    #[test]
    fn a_bad_change_leaves_the_document_untouched() {
        let mut doc = Document::new("abc\n", 1, None);
        let err = doc
            .apply_changes(
                2,
                &[change(0, 0, 0, 1, "x"), change(7, 0, 7, 0, "y")],
                PositionEncoding::Utf16,
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "position 7:0 is past the end of the document, which has 2 lines"
        );
        assert_eq!(doc.text().to_string(), "abc\n");
        assert_eq!(doc.version(), 1);
    }
}
