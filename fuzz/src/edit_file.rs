//! The agent's `edit_file` tool, through its public API with a small
//! in-memory editor, against a naive model: the change is made exactly
//! when `old_string` occurs once (overlapping occurrences count: `aa` is
//! twice in `aaa`), or with `replace_all` at least once; its replacements
//! give what a plain left-to-right scan gives; anything else is refused,
//! with a reason, and nothing is applied.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use meshls_agent::{
    host::{FileChange, Host, Place, Problem, Question, Reported, Spot, Symbol},
    model::ToolCall,
    permissions::Policy,
    tools::Tools,
};
use serde_json::{json, Value};

use crate::Input;

/// Pieces of text that make occurrences likely, and overlapping ones
/// (`aa`, `a`), with characters of 2 to 4 bytes, a combining mark and all
/// three line breaks.
const PIECES: &[&str] = &[
    "a", "b", "aa", "ab", "é", "e\u{301}", "中", "😀", "\r\n", "\n", "\r", " ",
];

/// The editor: one open document, and the changes it was asked to make.
struct Editor {
    path: PathBuf,
    text: String,
    version: i32,
    applied: Mutex<Vec<FileChange>>,
}

impl Host for Editor {
    fn open_document(&self, path: &Path) -> Option<(String, i32)> {
        (path == self.path).then(|| (self.text.clone(), self.version))
    }

    async fn apply(&self, change: FileChange) -> Result<(), String> {
        self.applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(change);
        Ok(())
    }

    async fn diagnostics(&self, _: Option<&Path>) -> Vec<Problem> {
        Vec::new()
    }

    async fn fresh_diagnostics(&self, _: &[PathBuf]) -> Vec<Problem> {
        Vec::new()
    }

    async fn symbols(&self, _: &Path) -> Result<Vec<Symbol>, String> {
        Ok(Vec::new())
    }

    async fn workspace_symbols(&self, _: &str) -> Result<Vec<Symbol>, String> {
        Ok(Vec::new())
    }

    async fn definition(&self, _: &Spot) -> Result<Vec<Place>, String> {
        Ok(Vec::new())
    }

    async fn references(&self, _: &Spot) -> Result<Vec<Place>, String> {
        Ok(Vec::new())
    }

    async fn hover(&self, _: &Spot) -> Result<Option<String>, String> {
        Ok(None)
    }

    async fn approve(&self, _: &Question<'_>) -> bool {
        false
    }

    async fn report(&self, _: Reported) -> Result<String, String> {
        Err("not a review".to_owned())
    }
}

/// Where `old` occurs in `text`, every place, overlapping ones too.
fn occurrences(text: &str, old: &str) -> Vec<usize> {
    (0..text.len())
        .filter(|&at| text.is_char_boundary(at) && text[at..].starts_with(old))
        .collect()
}

/// `text` with every occurrence of `old` replaced, scanning left to right:
/// where two overlap, the first is replaced.
fn replace_all(text: &str, old: &str, new: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with(old) {
            out.push_str(new);
            rest = &rest[old.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// What the tool should make of the file: the new text, or `None` when it
/// must refuse.
fn expected(text: &str, old: &str, new: &str, all: bool) -> Option<String> {
    if old.is_empty() || old == new {
        return None;
    }
    match occurrences(text, old).as_slice() {
        [] => None,
        [at] if !all => Some(format!("{}{new}{}", &text[..*at], &text[at + old.len()..])),
        _ if !all => None,
        _ => Some(replace_all(text, old, new)),
    }
}

/// Part of `text`: from a character chosen by `at` (scaled to the text),
/// `len` characters, or the rest of it.
fn part(text: &str, at: u8, len: u8) -> String {
    let chars: Vec<char> = text.chars().collect();
    let start = usize::from(at) * chars.len() / 256;
    let len = match len % 8 {
        7 => chars.len(),
        n => usize::from(n),
    };
    chars[start..].iter().take(len).collect()
}

/// The input read as choices: flags (`replace_all`, a huge text), the
/// text, `old_string` (part of the text, or pieces), `new_string` (pieces,
/// or `old_string` with more around it, or the same).
pub fn edit_file(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.byte();
    let all = flags & 1 != 0;
    let mut text = input.text(PIECES, 16);
    if flags & 0x3E == 0x3E && !text.is_empty() {
        // Huge: the text again and again, to about 16 KiB.
        text = text.repeat(16_384 / text.len());
    }
    let old = match input.byte() % 4 {
        0 | 1 => {
            let at = input.byte();
            part(&text, at, input.byte())
        }
        2 => input.text(PIECES, 4),
        _ => {
            let at = input.byte();
            part(&text, at, input.byte()).repeat(usize::from(input.byte() % 4) + 1)
        }
    };
    let new = match input.byte() % 5 {
        0 | 1 => input.text(PIECES, 4),
        2 => format!("{old}{}", input.text(PIECES, 2)),
        3 => format!("{}{old}", input.text(PIECES, 2)),
        _ => old.clone(),
    };

    let root = crate::scratch("edit_file");
    let editor = Editor {
        path: root.join("edited.txt"),
        text: text.clone(),
        version: i32::from(input.byte()),
        applied: Mutex::default(),
    };
    let policy = Policy::default();
    let tools = Tools {
        host: &editor,
        root: &root,
        policy: &policy,
    };
    let mut arguments = json!({"path": "edited.txt", "old_string": old, "new_string": new});
    if all || flags & 0x40 != 0 {
        arguments["replace_all"] = Value::Bool(all);
    }
    let call = ToolCall {
        id: "call_1".to_owned(),
        name: "edit_file".to_owned(),
        arguments: arguments.to_string(),
    };
    let outcome = futures::executor::block_on(tools.run(&call));
    let applied = editor
        .applied
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let context =
        || format!("old_string {old:?}, new_string {new:?}, replace_all {all}, in {text:?}");
    let Some(expected) = expected(&text, &old, &new, all) else {
        assert!(
            outcome.is_error && !outcome.content.is_empty(),
            "refused, with a reason: {outcome:?}; {}",
            context()
        );
        assert_eq!(applied, [], "nothing applied; {}", context());
        return;
    };
    assert!(!outcome.is_error, "{outcome:?}; {}", context());
    let [FileChange::Edit {
        path,
        version,
        read,
        replacements,
    }] = applied.as_slice()
    else {
        panic!("one edit, not {applied:?}; {}", context());
    };
    assert_eq!(path, &editor.path);
    assert_eq!(*version, Some(editor.version));
    assert_eq!(read, &text, "the edit is made to the text read");
    // The replacements in order, each of an occurrence of old_string.
    let mut result = String::new();
    let mut done = 0;
    for (range, with) in replacements {
        assert!(range.start >= done, "{replacements:?}; {}", context());
        assert_eq!(
            read.get(range.clone()),
            Some(old.as_str()),
            "{range:?}; {}",
            context()
        );
        result.push_str(&read[done..range.start]);
        result.push_str(with);
        done = range.end;
    }
    result.push_str(&read[done..]);
    assert_eq!(result, expected, "{}", context());
    assert_eq!(
        outcome.content,
        format!("edited edited.txt: {} replacement(s)", replacements.len())
    );
}
