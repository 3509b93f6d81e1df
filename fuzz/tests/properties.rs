//! Property tests of meshls's copy of each document: any sequence of valid
//! `didChange`s (positions on character boundaries or past a line's end,
//! in UTF-8, UTF-16 or UTF-32, over text with characters of 2 to 4 bytes,
//! a combining mark, CRLF, CR, LF and U+2028) keeps `Document` identical
//! to the naive model of the fuzz target `edits`, which these reuse.

use lsp_types::{Position, Range, TextDocumentContentChangeEvent};
use meshls_analysis::{Document, PositionEncoding, LANGUAGES};
use meshls_fuzz::edits::{self, ENCODINGS, PIECES};
use proptest::{collection::vec, prelude::*, sample::Index};

/// Every position in `text` on a character boundary, each line's end
/// included, then one past each line's end (LSP reads it as the end).
fn positions(text: &str, encoding: PositionEncoding) -> Vec<Position> {
    let mut on = Vec::new();
    let mut past = Vec::new();
    for (line, (start, end)) in edits::lines(text).into_iter().enumerate() {
        let line = u32::try_from(line).expect("a small text");
        let mut unit = 0;
        on.push(Position::new(line, 0));
        for c in text[start..end].chars() {
            unit += edits::units(c, encoding);
            on.push(Position::new(
                line,
                u32::try_from(unit).expect("a small line"),
            ));
        }
        past.push(Position::new(
            line,
            u32::try_from(unit + 1).expect("a small line"),
        ));
    }
    on.extend(past);
    on
}

/// One change, before it is placed on the text: where it starts and ends
/// (chosen among the valid positions), whether it replaces the whole text,
/// and the pieces of its new text.
#[derive(Debug, Clone)]
struct Change {
    start: Index,
    end: Index,
    whole: bool,
    text: Vec<usize>,
}

fn change() -> impl Strategy<Value = Change> {
    (
        any::<Index>(),
        any::<Index>(),
        prop::bool::weighted(0.05),
        vec(0..PIECES.len(), 0..6),
    )
        .prop_map(|(start, end, whole, text)| Change {
            start,
            end,
            whole,
            text,
        })
}

fn text(pieces: &[usize]) -> String {
    pieces.iter().map(|&piece| PIECES[piece]).collect()
}

/// `change` placed on `model`: a real change event with valid positions,
/// start before end.
fn place(
    model: &str,
    change: &Change,
    encoding: PositionEncoding,
) -> TextDocumentContentChangeEvent {
    let range = (!change.whole).then(|| {
        let positions = positions(model, encoding);
        let mut start = positions[change.start.index(positions.len())];
        let mut end = positions[change.end.index(positions.len())];
        let at = |position| edits::offset(model, position, encoding).expect("a valid position");
        if at(end) < at(start) {
            std::mem::swap(&mut start, &mut end);
        }
        Range::new(start, end)
    });
    TextDocumentContentChangeEvent {
        range,
        range_length: None,
        text: text(&change.text),
    }
}

proptest! {
    #[test]
    fn valid_edits_keep_the_document_identical_to_the_model(
        encoding in 0..3usize,
        language in 0..=LANGUAGES.len(),
        initial in vec(0..PIECES.len(), 0..12),
        events in vec(vec(change(), 1..4), 0..10),
    ) {
        let encoding = ENCODINGS[encoding];
        let language = LANGUAGES.get(language);
        let mut model = text(&initial);
        let mut document = Document::new(&model, 1, language);
        for (version, event) in (2..).zip(&events) {
            // Each change's positions are in the text the ones before it
            // in the same event left.
            let mut changes = Vec::new();
            let mut placed_on = model.clone();
            for change in event {
                let change = place(&placed_on, change, encoding);
                placed_on = edits::apply(&placed_on, std::slice::from_ref(&change), encoding)
                    .expect("a change with valid positions applies");
                changes.push(change);
            }
            let expected = edits::apply(&model, &changes, encoding)
                .expect("changes with valid positions apply");
            prop_assert_eq!(&expected, &placed_on);
            let applied = document.apply_changes(version, &changes, encoding);
            prop_assert!(applied.is_ok(), "{:?} on {:?}: {:?}", changes, model, applied);
            model = expected;
            prop_assert_eq!(document.text().to_string(), model.as_str(), "after {:?}", changes);
            prop_assert_eq!(document.version(), version);
        }
        // The tree after the edits is the one a fresh parse gives.
        let incremental = document.tree().map(|tree| tree.root_node().to_sexp());
        let fresh = Document::new(&model, 0, language).tree().map(|tree| tree.root_node().to_sexp());
        prop_assert_eq!(incremental, fresh);
    }
}
