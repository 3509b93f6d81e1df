//! Benchmarks for the cost of editing open documents and re-parsing them.
//!
//! `edit_100k_lines` measures one `didChange` (one ranged change, one
//! character) on a 100,000-line document, with and without a syntax tree to
//! keep up to date. `reparse_10k_rust` measures a one-line edit followed by
//! the incremental re-parse that `Document::tree` then does on a
//! 10,000-line Rust file, next to a full parse of the same file.
//!
//! Run with `cargo bench -p meshls-analysis --bench analysis`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use lsp_types::{Position, Range, TextDocumentContentChangeEvent};
use meshls_analysis::{Document, Language, PositionEncoding};

/// One unit of generated Rust source; `@N@` becomes the unit's number so that
/// every item has its own name. It holds "é", "中" and an emoji so that the
/// UTF-16 columns of its lines differ from their char and byte columns.
const UNIT: &str = r#"/// A reading from station @N@. Labels hold any Unicode: "café", "中文", "😀".
#[derive(Debug, Clone, PartialEq)]
pub struct Reading@N@ {
    pub station: u32,
    pub label: String,
    pub values: Vec<f64>,
    offset: i64,
}

impl Reading@N@ {
    /// Makes a reading with no values yet.
    pub fn new(station: u32, label: &str) -> Self {
        Self { station, label: label.to_owned(), values: Vec::new(), offset: @N@ }
    }

    pub fn push(&mut self, value: f64) {
        // Values past the limit are dropped: the sensor saturates there.
        let limit = 40;
        if self.values.len() < limit {
            self.values.push(value + self.offset as f64);
        }
    }

    pub fn mean(&self) -> Option<f64> {
        let total: f64 = self.values.iter().sum();
        (!self.values.is_empty()).then(|| total / self.values.len() as f64)
    }

    pub fn describe(&self) -> String {
        let greeting = "héllo 中文 😀 station";
        match self.mean() {
            Some(mean) if mean > 100.0 => format!("{greeting} {}: high ({mean:.2})", self.station),
            Some(mean) => format!("{greeting} {}: {mean:.2} «{}»", self.station, self.label),
            None => format!("{greeting} {}: no data", self.station),
        }
    }
}

/* Station @N@ is retired after the 2031 survey: keep its readings
   for the archive, but do not schedule new ones. */
pub fn schedule_@N@(days: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(days.len());
    for &day in days {
        if day % 7 != 0 {
            out.push(day * @N@ + 1);
        }
    }
    out
}

"#;

/// Lines in one `UNIT`, so that a document of any multiple of it has an
/// exact line count.
const UNIT_LINES: usize = 50;

/// Rust source of exactly `lines` lines (a multiple of `UNIT_LINES`) plus the
/// empty last line after the final newline.
fn rust_source(lines: usize) -> String {
    assert_eq!(
        UNIT.lines().count(),
        UNIT_LINES,
        "UNIT_LINES must match UNIT"
    );
    assert_eq!(lines % UNIT_LINES, 0, "documents are made of whole units");
    let mut text = String::with_capacity(lines * 48);
    for n in 0..lines / UNIT_LINES {
        text.push_str(&UNIT.replace("@N@", &n.to_string()));
    }
    text
}

/// The LSP position (line, UTF-16 column) where `needle` starts on the first
/// line of the middle unit that contains `marker`.
fn middle_position(lines: usize, marker: &str, needle: &str) -> Position {
    let (offset, line) = UNIT
        .lines()
        .enumerate()
        .find(|(_, line)| line.contains(marker))
        .unwrap_or_else(|| panic!("UNIT has no line containing {marker:?}"));
    let prefix = &line[..line.find(needle).expect("the needle is on the marker line")];
    let unit = lines / UNIT_LINES / 2;
    let line = unit * UNIT_LINES + offset;
    let column = prefix.encode_utf16().count();
    Position::new(line as u32, column as u32)
}

fn change(start: Position, end: Position, text: &str) -> TextDocumentContentChangeEvent {
    TextDocumentContentChangeEvent {
        range: Some(Range::new(start, end)),
        range_length: None,
        text: text.to_owned(),
    }
}

/// Typing one character and deleting it again: applied alternately, the
/// document returns to its original text every second edit, so it does not
/// grow however many iterations criterion runs.
fn type_and_delete(at: Position) -> [TextDocumentContentChangeEvent; 2] {
    let after = Position::new(at.line, at.character + 1);
    [change(at, at, "x"), change(at, after, "")]
}

fn edit_100k_lines(c: &mut Criterion) {
    const LINES: usize = 100_000;
    let text = rust_source(LINES);
    // Inside the string literal, after "é", "中文" and the emoji, so the
    // UTF-16 column must be converted; the Rust stays valid either way.
    let at = middle_position(LINES, "let greeting", "station\"");
    let edits = type_and_delete(at);

    let mut group = c.benchmark_group("edit_100k_lines");
    for (name, language) in [("plain", None), ("rust", Language::for_lsp_id("rust"))] {
        let mut doc = Document::new(&text, 1, language);
        assert_eq!(doc.text().len_lines(), LINES + 1);
        if language.is_some() {
            // Parse once so that the document has a tree for the edits to
            // update; the benchmark never reads the tree again, which is
            // what a burst of keystrokes looks like before the next query.
            assert!(!doc.tree().expect("rust parses").root_node().has_error());
        }
        // One round trip before timing: the character must land right after
        // the emoji, and deleting it must restore the line.
        let line = at.line as usize;
        let original = doc.text().line(line).to_string();
        doc.apply_changes(2, &edits[..1], PositionEncoding::Utf16)
            .expect("in range");
        assert!(doc.text().line(line).to_string().contains("😀 xstation"));
        doc.apply_changes(3, &edits[1..], PositionEncoding::Utf16)
            .expect("in range");
        assert_eq!(doc.text().line(line).to_string(), original);
        let mut version = 3;
        group.bench_function(name, |b| {
            b.iter(|| {
                version += 1;
                let edit = &edits[(version % 2) as usize];
                doc.apply_changes(version, std::slice::from_ref(edit), PositionEncoding::Utf16)
                    .expect("the edit is in range");
            })
        });
        black_box(doc.text().len_bytes());
    }
    group.finish();
}

fn reparse_10k_rust(c: &mut Criterion) {
    const LINES: usize = 10_000;
    let text = rust_source(LINES);
    let rust = Language::for_lsp_id("rust");
    // Changing `let limit = 40;` to `41` and back is a one-line edit inside a
    // function body that keeps the file valid in both states.
    let start = middle_position(LINES, "let limit", "40;");
    let end = Position::new(start.line, start.character + 2);
    let edits = [change(start, end, "41"), change(start, end, "40")];

    let mut group = c.benchmark_group("reparse_10k_rust");

    let mut doc = Document::new(&text, 1, rust);
    assert_eq!(doc.text().len_lines(), LINES + 1);
    assert!(!doc.tree().expect("rust parses").root_node().has_error());
    let mut version = 1;
    group.bench_function("incremental", |b| {
        b.iter(|| {
            version += 1;
            let edit = &edits[(version % 2) as usize];
            doc.apply_changes(version, std::slice::from_ref(edit), PositionEncoding::Utf16)
                .expect("the edit is in range");
            black_box(doc.tree().expect("rust parses").root_node().end_byte())
        })
    });
    // Whatever state the alternation stopped in, the incremental tree must be
    // the one a fresh parse of the same text gives, or the timing is of the
    // wrong work.
    let incremental = doc.tree().expect("rust parses").root_node().to_sexp();
    let current = doc.text().to_string();
    let fresh = Document::new(&current, 1, rust)
        .tree()
        .expect("rust parses")
        .root_node()
        .to_sexp();
    assert_eq!(
        incremental, fresh,
        "incremental re-parse differs from a full parse"
    );

    // A full parse takes milliseconds, so fewer samples keep the run short.
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("full", |b| {
        b.iter(|| {
            let mut doc = Document::new(&text, 1, rust);
            black_box(doc.tree().expect("rust parses").root_node().end_byte())
        })
    });
    group.finish();
}

criterion_group!(benches, edit_100k_lines, reparse_10k_rust);
criterion_main!(benches);
