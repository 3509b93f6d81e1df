//! The test command's fuzz run: every target on its committed corpus
//! (`fuzz/corpus/<target>/`, regressions included), then on a fixed number
//! of inputs mutated from it, the same on every machine. A failure writes
//! the input to `target/fuzz-failures/` and says how to keep it.

use std::path::{Path, PathBuf};

use meshls_fuzz::{run_bounded, TARGETS};

/// Mutated inputs per target: a few seconds in a debug build.
const ROUNDS: usize = 30_000;

/// `dispatch` runs a whole session for each input, and `toml` writes and
/// loads config files: a millisecond or so each in a debug build, so they
/// get fewer.
fn rounds(target: &str) -> usize {
    match target {
        "dispatch" | "toml" => 3_000,
        _ => ROUNDS,
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| std::fs::read(file).unwrap())
        .collect()
}

#[test]
fn every_target_holds_on_its_corpus_and_mutations_of_it() {
    for (target, run) in TARGETS {
        let corpus = corpus(target);
        assert!(corpus.len() >= 5, "fuzz/corpus/{target} needs seeds");
        if let Err(failure) = run_bounded(target, *run, &corpus, rounds(target), 0x6d65_73686c73) {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-failures");
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("{target}-{}", failure.input.len()));
            std::fs::write(&file, &failure.input).unwrap();
            panic!(
                "fuzz target {target} failed: {}\ninput ({} bytes, written to {}): {:?}\nOnce fixed, keep it as a regression: copy it into {}",
                failure.message,
                failure.input.len(),
                file.display(),
                String::from_utf8_lossy(&failure.input),
                corpus_dir(target).display()
            );
        }
    }
}

#[test]
fn every_target_has_a_libfuzzer_entry_and_a_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("libfuzzer");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
    for (target, _) in TARGETS {
        let entry = std::fs::read_to_string(fuzz.join(format!("fuzz_targets/{target}.rs")))
            .unwrap_or_else(|err| panic!("fuzz/libfuzzer/fuzz_targets/{target}.rs: {err}"));
        assert!(
            entry.contains(&format!("meshls_fuzz::{target}(data)")),
            "{entry}"
        );
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "fuzz/libfuzzer/Cargo.toml lacks {target}"
        );
        assert!(corpus_dir(target).is_dir());
    }
}
