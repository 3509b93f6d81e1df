//! What the agent needs from the side that runs it, which the `server`
//! crate implements with the editor and the real language servers. The
//! agent never touches an open file behind the editor's back: it reads the
//! editor's copy, and its changes go back as edits the editor applies. Its
//! senses are the real language servers, asked through the host. Every
//! type here is plain: the host converts to and from LSP in one place.

use std::{future::Future, ops::Range, path::PathBuf};

/// A change the agent wants made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// Replacements in a file, as byte ranges of the text the agent read.
    /// For a file open in the editor, `version` is the version that text
    /// had: the host re-bases the edit onto newer text if it still applies
    /// cleanly ([`rebase`]), and refuses it otherwise.
    Edit {
        path: PathBuf,
        version: Option<i32>,
        read: String,
        replacements: Vec<(Range<usize>, String)>,
    },
    /// A new file.
    Create { path: PathBuf, content: String },
}

/// A place in a file as the model names it: the line as `read_file`
/// numbers it (from 1) and the column in characters (from 0). The host
/// converts it to the editor's encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    pub path: PathBuf,
    pub line: u32,
    pub column: u32,
}

/// A question to the user, before the agent does something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question<'a> {
    /// What the agent would do, on one line: `Edit src/a.rs`, `Run \`make\``.
    pub action: &'a str,
    /// What "Always for this session" would allow from then on, when it is
    /// offered: a kind of action (`Edit`, every edit), or this action in
    /// full. `None` when the question cannot show all of it (a command of
    /// many lines): then the answer holds for this once.
    pub always: Option<&'a str>,
}

/// A place the language servers point at, in the same terms, with the
/// text of its line when the host has it and may show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub at: Spot,
    pub line_text: Option<String>,
    /// Outside the workspace (and not a dependency's source the agent may
    /// read): its line is not quoted, whatever a server points at.
    pub outside: bool,
}

/// A problem a language server (or meshls) reports in a file: a
/// diagnostic, in the agent's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: Spot,
    /// `error`, `warning`, `information` or `hint`.
    pub severity: String,
    pub source: String,
    pub code: String,
    pub message: String,
}

/// A symbol of a document outline, or of a workspace search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    /// `function`, `struct`, ...
    pub kind: String,
    pub at: Spot,
    /// How deep in the outline (0 at the top).
    pub depth: u32,
}

/// A problem a review found, as the model reports it with
/// `report_finding`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub path: PathBuf,
    /// The lines it is about, from 1, `end_line` included.
    pub line: u32,
    pub end_line: u32,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// What kind of problem: `bug`, `security`, `performance`, ...
    pub category: String,
    pub message: String,
    /// How to fix it, when the model says.
    pub suggestion: Option<String>,
}

pub trait Host: Send + Sync {
    /// The editor's copy of a file it has open: the text and its version.
    fn open_document(&self, path: &std::path::Path) -> Option<(String, i32)>;

    /// Makes the change through the editor, or says in a sentence why it
    /// was not made.
    fn apply(&self, change: FileChange) -> impl Future<Output = Result<(), String>> + Send;

    /// The current diagnostics of one file, or of every file with some.
    fn diagnostics(
        &self,
        path: Option<&std::path::Path>,
    ) -> impl Future<Output = Vec<Problem>> + Send;

    /// The diagnostics of `paths` once the language servers have caught
    /// up with their current text. The host bounds the wait, and answers
    /// with what it has then.
    fn fresh_diagnostics(&self, paths: &[PathBuf]) -> impl Future<Output = Vec<Problem>> + Send;

    /// A file's outline, from its language server (or meshls's own).
    fn symbols(
        &self,
        path: &std::path::Path,
    ) -> impl Future<Output = Result<Vec<Symbol>, String>> + Send;

    /// Symbols matching `query` across the workspace.
    fn workspace_symbols(
        &self,
        query: &str,
    ) -> impl Future<Output = Result<Vec<Symbol>, String>> + Send;

    fn definition(&self, at: &Spot) -> impl Future<Output = Result<Vec<Place>, String>> + Send;

    fn references(&self, at: &Spot) -> impl Future<Output = Result<Vec<Place>, String>> + Send;

    /// The hover text (markdown), if the server has any.
    fn hover(&self, at: &Spot) -> impl Future<Output = Result<Option<String>, String>> + Send;

    /// Asks the user whether to go ahead with `question.action` (one
    /// line); `false` when they say no or do not answer in time.
    fn approve(&self, question: &Question<'_>) -> impl Future<Output = bool> + Send;

    /// Takes a review's finding: what to tell the model (it was noted, or
    /// why it will not be reported). Only reviews offer `report_finding`.
    fn report(&self, finding: Reported) -> impl Future<Output = Result<String, String>> + Send;
}

/// `replacements` (byte ranges of `read`, in order, not overlapping) moved
/// onto `current`, the same file after someone else changed it, when they
/// still apply cleanly: each replaced range (with the rest of its lines)
/// is untouched in `current` and can be found there without doubt. `None`
/// when any cannot, so that an edit is never applied over text it was not
/// made for.
pub fn rebase(
    read: &str,
    current: &str,
    replacements: &[(Range<usize>, String)],
) -> Option<Vec<(Range<usize>, String)>> {
    if read == current {
        return Some(replacements.to_vec());
    }
    // The one stretch that differs: what lies before it is where it was,
    // what lies after it moved by the difference in length.
    let prefix = common_prefix(read, current);
    let suffix = common_suffix(&read[prefix..], &current[prefix..]);
    let (read_tail, current_tail) = (read.len() - suffix, current.len() - suffix);
    let mut rebased = Vec::with_capacity(replacements.len());
    let mut last_end = 0;
    for (range, text) in replacements {
        // The whole lines the range is on.
        let start = read[..range.start].rfind('\n').map_or(0, |at| at + 1);
        let end = read[range.end..]
            .find('\n')
            .map_or(read.len(), |at| range.end + at + 1);
        // Whole lines: each ends with its line break (or the text does the
        // same in both), and starts after one that did not change.
        let ends_whole = read[start..end].ends_with('\n');
        let moved = if end < prefix || (end == prefix && ends_whole) {
            range.clone()
        } else if start > read_tail
            || (start == read_tail
                && (current_tail == 0 || current.as_bytes()[current_tail - 1] == b'\n'))
        {
            range.start - read_tail + current_tail..range.end - read_tail + current_tail
        } else {
            // In the stretch that differs: its lines, found once, as lines.
            let lines = &read[start..end];
            if lines.trim().is_empty() {
                return None;
            }
            let mut found = current
                .match_indices(lines)
                .map(|(at, _)| at)
                .filter(|&at| {
                    let after = at + lines.len();
                    (at == 0 || current.as_bytes()[at - 1] == b'\n')
                        && (ends_whole || after == current.len())
                });
            let at = found.next()?;
            if found.next().is_some() {
                return None;
            }
            at + range.start - start..at + range.end - start
        };
        if moved.start < last_end {
            return None;
        }
        last_end = moved.end;
        rebased.push((moved, text.clone()));
    }
    Some(rebased)
}

fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(n) {
        n -= 1;
    }
    n
}

fn common_suffix(a: &str, b: &str) -> usize {
    let mut n = a
        .bytes()
        .rev()
        .zip(b.bytes().rev())
        .take_while(|(x, y)| x == y)
        .count();
    while !a.is_char_boundary(a.len() - n) || !b.is_char_boundary(b.len() - n) {
        n -= 1;
    }
    n
}
