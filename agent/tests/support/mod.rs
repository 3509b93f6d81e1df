//! A stand-in for the editor side of the agent, shared by the agent's tests.

#![allow(dead_code)] // Each test file uses part of it.

use std::{
    collections::{HashMap, VecDeque},
    path::{Path, PathBuf},
    sync::Mutex,
};

use meshls_agent::host::{FileChange, Host, Place, Problem, Question, Reported, Spot, Symbol};

/// Open documents, the changes applied, and scripted answers to approvals
/// (none left means no).
#[derive(Default)]
pub struct Editor {
    pub open: HashMap<PathBuf, (String, i32)>,
    pub applied: Mutex<Vec<FileChange>>,
    pub answers: Mutex<VecDeque<bool>>,
    pub asked: Mutex<Vec<String>>,
    /// What the language servers would say.
    pub findings: Vec<Problem>,
    pub outline: Vec<Symbol>,
    pub places: Vec<Place>,
    pub hover: Option<String>,
    /// What the language servers say after each round of edits (then
    /// `findings`), and the files waited for.
    pub after_edits: Mutex<VecDeque<Vec<Problem>>>,
    pub waited: Mutex<Vec<Vec<PathBuf>>>,
    /// The positions the language servers were asked about.
    pub spots: Mutex<Vec<Spot>>,
    /// What a review reported.
    pub reported: Mutex<Vec<Reported>>,
}

impl Host for Editor {
    fn open_document(&self, path: &Path) -> Option<(String, i32)> {
        self.open.get(path).cloned()
    }

    async fn apply(&self, change: FileChange) -> Result<(), String> {
        self.applied.lock().unwrap().push(change);
        Ok(())
    }

    async fn diagnostics(&self, path: Option<&Path>) -> Vec<Problem> {
        self.findings
            .iter()
            .filter(|finding| path.is_none_or(|path| finding.at.path == path))
            .cloned()
            .collect()
    }

    async fn fresh_diagnostics(&self, paths: &[PathBuf]) -> Vec<Problem> {
        self.waited.lock().unwrap().push(paths.to_vec());
        let after = self.after_edits.lock().unwrap().pop_front();
        after
            .unwrap_or_else(|| self.findings.clone())
            .into_iter()
            .filter(|finding| paths.contains(&finding.at.path))
            .collect()
    }

    async fn symbols(&self, path: &Path) -> Result<Vec<Symbol>, String> {
        Ok(self
            .outline
            .iter()
            .filter(|symbol| symbol.at.path == path)
            .cloned()
            .collect())
    }

    async fn workspace_symbols(&self, query: &str) -> Result<Vec<Symbol>, String> {
        Ok(self
            .outline
            .iter()
            .filter(|symbol| symbol.name.contains(query))
            .cloned()
            .collect())
    }

    async fn definition(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.spots.lock().unwrap().push(at.clone());
        Ok(self.places.iter().take(1).cloned().collect())
    }

    async fn references(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.spots.lock().unwrap().push(at.clone());
        Ok(self.places.clone())
    }

    async fn hover(&self, at: &Spot) -> Result<Option<String>, String> {
        self.spots.lock().unwrap().push(at.clone());
        Ok(self.hover.clone())
    }

    async fn approve(&self, question: &Question<'_>) -> bool {
        self.asked.lock().unwrap().push(question.action.to_owned());
        self.answers.lock().unwrap().pop_front().unwrap_or(false)
    }

    async fn report(&self, finding: Reported) -> Result<String, String> {
        self.reported.lock().unwrap().push(finding);
        Ok("noted".to_owned())
    }
}

/// A temporary workspace with `files`; its directory and canonical root.
pub fn workspace(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    (dir, root)
}
