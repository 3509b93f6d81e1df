//! Incremental edits with LSP positions, against a naive model: a `String`
//! with lines and code units counted by walking it. The model is public:
//! the property tests (`tests/properties.rs`) check against it too.

use lsp_types::{Position, Range, TextDocumentContentChangeEvent};
use meshls_analysis::{Document, PositionEncoding, LANGUAGES};

use crate::Input;

/// Pieces of text with the cases positions get wrong: characters of 2, 3
/// and 4 UTF-8 bytes and 2 UTF-16 units, a combining mark, all three line
/// breaks, and a Unicode line separator LSP does not count.
pub const PIECES: &[&str] = &[
    "a", "é", "中", "😀", "e\u{301}", "\n", "\r\n", "\r", " ", "\u{2028}", "fn f() {", "}",
];

pub const ENCODINGS: [PositionEncoding; 3] = [
    PositionEncoding::Utf8,
    PositionEncoding::Utf16,
    PositionEncoding::Utf32,
];

/// Lines and columns near the text's, so most positions are valid.
fn position(input: &mut Input<'_>) -> Position {
    Position::new(u32::from(input.byte() % 6), u32::from(input.byte() % 12))
}

/// Each line's start and the end of its content (before its line break),
/// in bytes.
pub fn lines(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                lines.push((start, i));
                i += 2;
                start = i;
            }
            b'\r' | b'\n' => {
                lines.push((start, i));
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    lines.push((start, bytes.len()));
    lines
}

/// The code units `c` takes in `encoding`.
pub fn units(c: char, encoding: PositionEncoding) -> usize {
    match encoding {
        PositionEncoding::Utf8 => c.len_utf8(),
        PositionEncoding::Utf16 => c.len_utf16(),
        PositionEncoding::Utf32 => 1,
    }
}

/// The byte offset a position names: past a line's end is its end; inside
/// a character, or past the last line, is no offset.
pub fn offset(text: &str, at: Position, encoding: PositionEncoding) -> Option<usize> {
    let (start, end) = *lines(text).get(at.line as usize)?;
    let mut unit = 0;
    for (i, c) in text[start..end].char_indices() {
        if unit == at.character as usize {
            return Some(start + i);
        }
        unit += units(c, encoding);
        if unit > at.character as usize {
            return None;
        }
    }
    Some(end)
}

/// One `didChange` on the model: all of its changes, or none.
pub fn apply(
    text: &str,
    changes: &[TextDocumentContentChangeEvent],
    encoding: PositionEncoding,
) -> Option<String> {
    let mut text = text.to_owned();
    for change in changes {
        match change.range {
            None => text = change.text.clone(),
            Some(range) => {
                let start = offset(&text, range.start, encoding)?;
                let end = offset(&text, range.end, encoding)?;
                if end < start {
                    return None;
                }
                text.replace_range(start..end, &change.text);
            }
        }
    }
    Some(text)
}

/// `Document::apply_changes` against the model, on `data` read as choices:
/// the encoding, the language, a text, then `didChange`s.
pub fn edits(data: &[u8]) {
    let mut input = Input(data);
    let encoding = ENCODINGS[usize::from(input.byte()) % 3];
    let language = match input.byte() % 3 {
        0 => None,
        n => Some(&LANGUAGES[usize::from(n - 1)]),
    };
    let mut model = input.text(PIECES, 11);
    let mut document = Document::new(&model, 1, language);
    let mut version = 1;
    while !input.is_empty() {
        let changes: Vec<TextDocumentContentChangeEvent> = (0..=input.byte() % 3)
            .map(|_| {
                let range = if input.byte() % 16 == 0 {
                    None
                } else {
                    let start = position(&mut input);
                    Some(Range::new(start, position(&mut input)))
                };
                TextDocumentContentChangeEvent {
                    range,
                    range_length: None,
                    text: input.text(PIECES, 11),
                }
            })
            .collect();
        version += 1;
        let expected = apply(&model, &changes, encoding);
        let applied = document.apply_changes(version, &changes, encoding);
        assert_eq!(
            applied.is_ok(),
            expected.is_some(),
            "{changes:?} on {model:?}: {applied:?}"
        );
        if let Some(expected) = expected {
            model = expected;
        }
        assert_eq!(document.text().to_string(), model, "after {changes:?}");
        if input.byte() % 4 == 0 {
            // The incremental re-parse over the edits made since the last
            // is the tree a fresh parse of the text gives.
            let incremental = document.tree().map(|tree| tree.root_node().to_sexp());
            let fresh = Document::new(&model, version, language)
                .tree()
                .map(|tree| tree.root_node().to_sexp());
            assert_eq!(incremental, fresh, "the tree of {model:?}");
        }
    }
}
