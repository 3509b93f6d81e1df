//! The agent's host in `meshls review`: the check's language servers as
//! its senses and the diagnostics they published, files as they are on
//! disk, no edits and no one to ask; what the model reports with
//! `report_finding` is kept when it is about the lines under review.

use std::{
    collections::HashMap,
    ops::RangeInclusive,
    path::{Path, PathBuf},
    sync::Mutex,
};

use lsp_types::{Diagnostic, Url};

use meshls_agent::{
    host::{FileChange, Host, Place, Problem, Question, Reported, Spot, Symbol},
    paths,
};

use crate::agent::senses::Senses;

/// What the review looks at: per file, the changed lines (from 1), or
/// every line when there is no base to compare with.
#[derive(Debug, Default)]
pub struct Scope {
    /// `None`: the whole of every file is under review.
    pub changed: Option<HashMap<PathBuf, Vec<RangeInclusive<u32>>>>,
    /// The diff, as git prints it, for the model.
    pub diff: String,
}

impl Scope {
    pub fn covers(&self, path: &Path, lines: RangeInclusive<u32>) -> bool {
        let Some(changed) = &self.changed else {
            return true;
        };
        changed.get(path).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|range| range.start() <= lines.end() && lines.start() <= range.end())
        })
    }
}

/// The agent's host in a review: the check's language servers and
/// diagnostics, files as they are on disk, no edits, no one to ask.
pub struct ReviewHost {
    pub senses: Senses,
    pub root: PathBuf,
    pub diagnostics: HashMap<PathBuf, Vec<Diagnostic>>,
    pub scope: Scope,
    /// Findings outside the changed lines are kept too.
    pub all: bool,
    /// The findings kept.
    pub reported: Mutex<Vec<Kept>>,
}

/// A finding the review kept: the model's report, its file relative to the
/// root, and the end column of its last line (UTF-16, as LSP counts).
#[derive(Debug, Clone)]
pub struct Kept {
    pub path: String,
    pub reported: Reported,
    pub end_column: u32,
}

impl Host for ReviewHost {
    fn open_document(&self, _: &Path) -> Option<(String, i32)> {
        None
    }

    async fn apply(&self, _: FileChange) -> Result<(), String> {
        Err("a review cannot change files".to_owned())
    }

    async fn diagnostics(&self, path: Option<&Path>) -> Vec<Problem> {
        let mut files: Vec<&PathBuf> = self
            .diagnostics
            .keys()
            .filter(|file| path.is_none_or(|path| path == file.as_path()))
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|file| {
                let uri = Url::from_file_path(file).ok()?;
                Some(self.senses.findings(&uri, self.diagnostics[file].clone()))
            })
            .flatten()
            .collect()
    }

    async fn fresh_diagnostics(&self, paths: &[PathBuf]) -> Vec<Problem> {
        // Nothing changes in a review: what the check heard is fresh.
        let mut all = Vec::new();
        for path in paths {
            all.extend(self.diagnostics(Some(path)).await);
        }
        all
    }

    async fn symbols(&self, path: &Path) -> Result<Vec<Symbol>, String> {
        self.senses.symbols(path).await
    }

    async fn workspace_symbols(&self, query: &str) -> Result<Vec<Symbol>, String> {
        self.senses.workspace_symbols(query).await
    }

    async fn definition(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.senses.definition(at).await
    }

    async fn references(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.senses.references(at).await
    }

    async fn hover(&self, at: &Spot) -> Result<Option<String>, String> {
        self.senses.hover(at).await
    }

    async fn approve(&self, _: &Question<'_>) -> bool {
        false
    }

    async fn report(&self, finding: Reported) -> Result<String, String> {
        let name = paths::relative(&self.root, &finding.path);
        let text = std::fs::read_to_string(&finding.path)
            .map_err(|err| format!("cannot read {name}: {err}"))?;
        let lines = text.lines().count().max(1) as u32;
        if finding.line > lines {
            return Err(format!(
                "{name} has only {lines} lines; give the line of the problem"
            ));
        }
        if !self.all
            && !self
                .scope
                .covers(&finding.path, finding.line..=finding.end_line)
        {
            return Ok(format!(
                "not reported: lines {}-{} of {name} are not changed lines under review; report only problems in the change",
                finding.line, finding.end_line
            ));
        }
        let end_column = meshls_analysis::text::line_len(&text, finding.end_line.saturating_sub(1));
        self.reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Kept {
                path: name,
                reported: finding,
                end_column,
            });
        Ok("reported".to_owned())
    }
}
