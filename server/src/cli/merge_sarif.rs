//! `meshls merge-sarif`: the SARIF logs of a sharded check joined into
//! one, for one upload.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use crate::cli::{render::pretty, sarif, stderr_line, write_output};

/// Joins `files` and writes the log to `output` (stdout when none); exit 2,
/// naming the file, on anything that is not SARIF 2.1.0.
pub fn main(files: &[PathBuf], output: Option<&Path>) -> ExitCode {
    let mut logs = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let read = std::fs::read_to_string(file)
            .map_err(|err| format!("cannot read {name}: {err}"))
            .and_then(|text| {
                serde_json::from_str(&text).map_err(|err| format!("{name} is not JSON: {err}"))
            });
        match read {
            Ok(log) => logs.push((name, log)),
            Err(why) => {
                let _ = stderr_line(&format!("meshls merge-sarif: {why}"));
                return ExitCode::from(2);
            }
        }
    }
    let merged = match sarif::merge(&logs) {
        Ok(merged) => pretty(&merged),
        Err(why) => {
            let _ = stderr_line(&format!("meshls merge-sarif: {why}"));
            return ExitCode::from(2);
        }
    };
    match write_output(output, &merged) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = stderr_line(&format!("meshls merge-sarif: cannot write: {err}"));
            ExitCode::from(2)
        }
    }
}
