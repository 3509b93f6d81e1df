//! What the agent needs from the side that runs it, which the `server`
//! crate implements with the editor and the real language servers. The
//! agent never touches an open file behind the editor's back: it reads the
//! editor's copy, and its changes go back as edits the editor applies.

use std::{future::Future, ops::Range, path::PathBuf};

/// A change the agent wants made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// Replacements in a file, as byte ranges of the text the agent read.
    /// For a file open in the editor, `version` is the version that text
    /// had: the host re-bases the edit onto newer text if it still applies
    /// cleanly, and refuses it otherwise.
    Edit {
        path: PathBuf,
        version: Option<i32>,
        read: String,
        replacements: Vec<(Range<usize>, String)>,
    },
    /// A new file.
    Create { path: PathBuf, content: String },
}

pub trait Host: Send + Sync {
    /// The editor's copy of a file it has open: the text and its version.
    fn open_document(&self, path: &std::path::Path) -> Option<(String, i32)>;

    /// Makes the change through the editor, or says in a sentence why it
    /// was not made.
    fn apply(&self, change: FileChange) -> impl Future<Output = Result<(), String>> + Send;

    /// Asks the user whether to go ahead with `action` (one line);
    /// `false` when they say no or do not answer in time.
    fn approve(&self, action: &str) -> impl Future<Output = bool> + Send;
}
