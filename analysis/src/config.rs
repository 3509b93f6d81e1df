//! `[analysis]`: what meshls's own syntax-tree features do.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Publish tree-sitter syntax errors as diagnostics (source `meshls`).
    pub syntax_diagnostics: bool,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            syntax_diagnostics: true,
        }
    }
}
