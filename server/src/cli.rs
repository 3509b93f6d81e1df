//! The headless commands, the only code that prints: `check` and `review`
//! (their findings as `report` types, written by `render` and `sarif`,
//! with the files from `files` and the change from `git`), `doctor`,
//! `merge_sarif`, and `sessions` (also `meshls audit`).

pub mod check;
pub mod doctor;
pub mod files;
pub mod git;
pub mod merge_sarif;
pub mod render;
pub mod report;
pub mod review;
pub mod sarif;
pub mod sessions;

use std::path::Path;

/// Writes a command's result to `file`, or else to stdout.
pub fn write_output(file: Option<&Path>, text: &str) -> std::io::Result<()> {
    match file {
        Some(file) => std::fs::write(file, text),
        None => {
            use std::io::Write as _;
            std::io::stdout().lock().write_all(text.as_bytes())
        }
    }
}

/// One line on stderr: why a command failed, or what it warns of.
pub fn stderr_line(line: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stderr().lock(), "{line}")
}
