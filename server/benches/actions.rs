//! How long meshls takes to list its own code actions (the target is under
//! 5 ms at the 99th percentile): `actions::list` on a 10,000-line Rust
//! file, at a line inside a function that holds an `@agent:` comment, with
//! three diagnostics in the request, as an editor asks on every cursor
//! move. The file is parsed once first, as meshls has it parsed by the
//! time an editor asks (re-parsing after an edit is
//! `analysis/benches/analysis.rs`'s measure).
//!
//! Run with `cargo bench -p meshls --bench actions`; it prints the
//! percentiles of 3,000 listings, next to those of reading the whole
//! file's symbols (what listing cost before it read only the top-level
//! item around the cursor).

// A bench binary: its report is what it prints.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use lsp_types::{Diagnostic, Position, Range, Url};
use meshls::actions;
use meshls_analysis::{Document, Language, PositionEncoding};

const UNIT: &str = "/// Station @N@.
pub struct Reading@N@ {
    pub values: Vec<f64>,
}

impl Reading@N@ {
    pub fn mean(&self) -> Option<f64> {
        // @agent: return 0 for an empty reading instead of None
        let total: f64 = self.values.iter().sum();
        (!self.values.is_empty()).then(|| total / self.values.len() as f64)
    }
}

";

fn main() {
    let units = 10_000 / UNIT.lines().count() + 1;
    let text: String = (0..units)
        .map(|n| UNIT.replace("@N@", &n.to_string()))
        .collect();
    let lines = text.lines().count();
    let mut document = Document::new(&text, 1, Language::for_lsp_id("rust"));
    let snapshot = document.snapshot(PositionEncoding::Utf16);
    let uri = Url::parse("file:///bench/src/lib.rs").unwrap();
    // The `@agent:` line of the middle unit.
    let middle = (units / 2 * UNIT.lines().count() + 7) as u32;
    let at = Range::new(Position::new(middle, 8), Position::new(middle, 8));
    let diagnostics: Vec<Diagnostic> = (0..3)
        .map(|n| Diagnostic {
            range: Range::new(Position::new(middle + n, 0), Position::new(middle + n, 4)),
            message: format!("mismatched types {n}"),
            source: Some("rustc".to_owned()),
            ..Diagnostic::default()
        })
        .collect();

    let listed = actions::list(&snapshot, &uri, at, &diagnostics, None);
    assert_eq!(listed.len(), 3 + 1 + 4 + 1, "{listed:#?}");

    let listing = percentiles(3_000, || {
        actions::list(&snapshot, &uri, at, &diagnostics, None);
    });
    // Side by side: the whole file's symbols, which finding the enclosing
    // item read before it looked at the top-level item around the cursor
    // only.
    let whole_file = percentiles(300, || {
        snapshot.document_symbols();
    });
    println!("on a {lines}-line Rust file:");
    println!("  actions::list                    {listing}");
    println!("  the whole file's symbols         {whole_file}");
}

/// p50, p99 and the slowest of `runs` runs of `f`.
fn percentiles(runs: usize, mut f: impl FnMut()) -> String {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |fraction: f64| times[((times.len() - 1) as f64 * fraction) as usize];
    format!(
        "{runs} runs: p50 {:?}, p99 {:?}, max {:?}",
        at(0.50),
        at(0.99),
        times[times.len() - 1]
    )
}
