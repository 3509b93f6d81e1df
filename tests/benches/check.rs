//! Wall time of `meshls check` on generated projects, next to the servers'
//! own command-line checkers on the same project, in one run, alternating,
//! so the machine's drift falls on both alike: a TypeScript project against
//! `tsc --noEmit` (the same TypeScript 5.9 typescript-language-server runs)
//! and a Python one against `pyright` (the same pyright as
//! pyright-langserver).
//!
//! Needs `MESHLS_BIN` (a release build of meshls, say) and
//! `MESHLS_TEST_NODE_BIN` (tests/node_modules/.bin):
//!
//! ```sh
//! cargo build --release -p meshls
//! MESHLS_BIN=$PWD/target/release/meshls MESHLS_TEST_NODE_BIN=$PWD/tests/node_modules/.bin \
//!     cargo bench -p meshls-e2e --bench check
//! ```

// A bench binary: its report is what it prints.
#![allow(clippy::print_stdout)]

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use meshls_e2e::{meshls_bin, node_bin, path_with_node_servers};

/// Files in the project, and of those, how many hold a type error.
const FILES: usize = 200;
const WITH_ERRORS: usize = 10;
const ROUNDS: usize = 5;

/// Writes a project of `FILES` files `src/file{n}.{extension}`, and its
/// config file: `source(n, with_error)` is file n's text, which uses file
/// n - 1's `total` (n > 0).
fn project(
    dir: &Path,
    config: (&str, &str),
    extension: &str,
    source: impl Fn(usize, bool) -> String,
) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join(config.0), config.1).unwrap();
    for n in 0..FILES {
        let with_error = n % (FILES / WITH_ERRORS) == 0;
        std::fs::write(
            dir.join(format!("src/file{n}.{extension}")),
            source(n, with_error),
        )
        .unwrap();
    }
}

/// What file n adds to the one before's total: 0 for the first.
fn uses(n: usize) -> String {
    match n.checked_sub(1) {
        Some(before) => format!("total{before}([1, 2])"),
        None => "0".to_owned(),
    }
}

fn typescript_project(dir: &Path) {
    let config = r#"{"compilerOptions": {"strict": true, "target": "es2022", "module": "es2022", "moduleResolution": "bundler", "noEmit": true}, "include": ["src"]}"#;
    project(dir, ("tsconfig.json", config), "ts", |n, with_error| {
        let import = match n.checked_sub(1) {
            Some(before) => format!("import {{ total{before} }} from \"./file{before}\";\n"),
            None => String::new(),
        };
        let error = if with_error {
            "export const wrong: string = 42;\n"
        } else {
            ""
        };
        let uses = uses(n);
        format!(
            "{import}{error}\
             export interface Reading{n} {{ station: number; values: number[]; label: string }}\n\
             export function total{n}(values: number[]): number {{\n  return values.reduce((a, b) => a + b, 0) + {uses};\n}}\n\
             export function describe{n}(r: Reading{n}): string {{\n  return `${{r.label}}: ${{total{n}(r.values)}}`;\n}}\n"
        )
    });
}

/// The same shape in Python.
fn python_project(dir: &Path) {
    let config = r#"{"include": ["src"]}"#;
    project(
        dir,
        ("pyrightconfig.json", config),
        "py",
        |n, with_error| {
            let import = match n.checked_sub(1) {
                Some(before) => format!("from file{before} import total{before}\n"),
                None => String::new(),
            };
            let error = if with_error { "wrong: str = 42\n" } else { "" };
            let uses = uses(n);
            format!(
            "{import}{error}\n\
             class Reading{n}:\n    def __init__(self, label: str, values: list[float]) -> None:\n        self.label = label\n        self.values = values\n\n\
             def total{n}(values: list[float]) -> float:\n    return sum(values) + {uses}\n\n\
             def describe{n}(r: Reading{n}) -> str:\n    return f\"{{r.label}}: {{total{n}(r.values)}}\"\n"
        )
        },
    );
}

fn time(mut command: Command, expect_code: i32) -> Duration {
    let start = Instant::now();
    let output = command.output().expect("the checker runs");
    let took = start.elapsed();
    assert_eq!(
        output.status.code(),
        Some(expect_code),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    took
}

fn main() {
    compare(
        "TypeScript",
        typescript_project,
        "tsc --noEmit",
        |root| {
            let mut command = Command::new(node_bin().join("tsc"));
            command.args(["--noEmit", "-p"]).arg(root);
            command
        },
        "error TS",
        2,
    );
    compare(
        "Python",
        python_project,
        "pyright",
        |root| {
            let mut command = Command::new(node_bin().join("pyright"));
            command.arg("--project").arg(root);
            command
        },
        " - error: ",
        1,
    );
}

/// Times `meshls check` and `checker` on the project `make` writes, after
/// checking both find its errors (`marks` an error line of the checker's
/// output; it exits with `checker_code`).
fn compare(
    language: &str,
    make: fn(&Path),
    checker_name: &str,
    checker: impl Fn(&Path) -> Command,
    marks: &str,
    checker_code: i32,
) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    make(&root);
    let data = tempfile::tempdir().unwrap();
    let meshls = || {
        let mut command = Command::new(meshls_bin());
        command
            .args(["check", "--format", "json", "--root"])
            .arg(&root)
            .env("PATH", path_with_node_servers())
            .env("XDG_CONFIG_HOME", data.path())
            .env("XDG_DATA_HOME", data.path())
            // typescript-language-server leaves a directory in TMPDIR per start.
            .env("TMPDIR", data.path());
        command
    };
    // Both find the same errors; a check that found fewer would be quicker.
    let report = meshls().output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let found = report["findings"].as_array().unwrap().len();
    let their_output = checker(&root).output().unwrap();
    let theirs_found = String::from_utf8_lossy(&their_output.stdout)
        .lines()
        .filter(|line| line.contains(marks))
        .count();
    assert_eq!(
        (found, theirs_found),
        (WITH_ERRORS, WITH_ERRORS),
        "{report}"
    );

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(time(meshls(), 1));
        theirs.push(time(checker(&root), checker_code));
    }
    ours.sort();
    theirs.sort();
    let show = |times: &[Duration]| {
        format!(
            "median {:.2} s, fastest {:.2} s, slowest {:.2} s",
            times[times.len() / 2].as_secs_f64(),
            times[0].as_secs_f64(),
            times[times.len() - 1].as_secs_f64()
        )
    };
    println!("{FILES} {language} files, {WITH_ERRORS} with a type error, {ROUNDS} rounds each, alternating:");
    println!("  meshls check    {}", show(&ours));
    println!("  {checker_name:<15} {}", show(&theirs));
}
