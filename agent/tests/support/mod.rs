//! A stand-in for the editor side of the agent, shared by the agent's tests.

#![allow(dead_code)] // Each test file uses part of it.

use std::{
    collections::{HashMap, VecDeque},
    path::{Path, PathBuf},
    sync::Mutex,
};

use meshls_agent::host::{FileChange, Host};

/// Open documents, the changes applied, and scripted answers to approvals
/// (none left means no).
#[derive(Default)]
pub struct Editor {
    pub open: HashMap<PathBuf, (String, i32)>,
    pub applied: Mutex<Vec<FileChange>>,
    pub answers: Mutex<VecDeque<bool>>,
    pub asked: Mutex<Vec<String>>,
}

impl Host for Editor {
    fn open_document(&self, path: &Path) -> Option<(String, i32)> {
        self.open.get(path).cloned()
    }

    async fn apply(&self, change: FileChange) -> Result<(), String> {
        self.applied.lock().unwrap().push(change);
        Ok(())
    }

    async fn approve(&self, action: &str) -> bool {
        self.asked.lock().unwrap().push(action.to_owned());
        self.answers.lock().unwrap().pop_front().unwrap_or(false)
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
