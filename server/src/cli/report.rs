//! What `meshls check` and `meshls review` find, in repository terms: a
//! [`Finding`] per diagnostic or review finding, and the [`Report`] of a
//! run (the JSON output, schema version 1).

use serde::Serialize;

/// One diagnostic, in repository terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Relative to the workspace root, with `/`.
    pub path: String,
    /// From 1.
    pub line: u32,
    /// From 1, in UTF-16 code units as LSP counts them.
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    /// `error`, `warning`, `info` or `hint`.
    pub severity: &'static str,
    /// Who found it: the diagnostic's source, else the server's name.
    pub source: String,
    pub code: Option<String>,
    pub message: String,
    /// Stays the same when lines move above it (see
    /// [`crate::cli::sarif::fingerprint`]).
    pub fingerprint: String,
}

impl Finding {
    /// Who found it and its code: `typescript 2322`, `meshls syntax-error`.
    pub fn rule(&self) -> String {
        match &self.code {
            Some(code) => format!("{} {code}", self.source),
            None => self.source.clone(),
        }
    }

    /// The same as an identifier: `typescript/2322`, SARIF's `ruleId`.
    pub fn rule_id(&self) -> String {
        match &self.code {
            Some(code) => format!("{}/{code}", self.source),
            None => self.source.clone(),
        }
    }
}

/// The JSON output (`--format json`), schema version 1.
#[derive(Debug, Serialize)]
pub struct Report {
    pub version: u32,
    pub files_checked: usize,
    pub servers: Vec<String>,
    pub findings: Vec<Finding>,
    /// Why the findings may be incomplete (a review that stopped early).
    pub warnings: Vec<String>,
}
