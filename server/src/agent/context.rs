//! The context engine: what a run of the agent starts with, besides the
//! instruction, so that it does not spend its first steps finding its
//! bearings. Every entry point in the editor (`meshls.ask`, the code
//! actions, `@agent:` comments) goes through [`gather`]:
//!
//! - the selection's text, or, at a cursor, the enclosing item (function,
//!   method, type) with its path and lines, or the lines around it;
//! - the diagnostics of the file nearest the cursor, all sources, with
//!   code and severity, and a count of the rest;
//! - the project's instructions (`agent.instruction_files`): `AGENTS.md`
//!   from the file's folder up to the root, nearest last, as Codex reads
//!   them; the others at the root;
//! - the open files, and which have unsaved changes.
//!
//! Each part has a budget of its own, and all of them
//! `agent.context_tokens`; what did not fit is said in one line. Tokens
//! are estimated at four bytes each. Files are read beneath the root, as
//! the agent's tools read them, never ones that look like secrets.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Position};
use meshls_agent::{files, paths::relative, permissions::looks_secret, AgentConfig};

use crate::state::{diagnostics::DiagnosticsHub, documents::Documents};

/// Where the user is: a file and its lines (from 0, both included).
pub struct At<'a> {
    pub uri: &'a lsp_types::Url,
    pub lines: std::ops::RangeInclusive<u32>,
}

/// Bytes per token, for the budgets: a common estimate for code and
/// English with the tokenizers in use.
const BYTES_PER_TOKEN: usize = 4;
/// Each part's own share, in tokens, within `agent.context_tokens`.
const AROUND_TOKENS: usize = 2_000;
const DIAGNOSTICS_TOKENS: usize = 600;
const INSTRUCTIONS_TOKENS: usize = 2_500;
const OPEN_FILES_TOKENS: usize = 300;
/// Lines shown on each side of a cursor outside any item.
const AROUND_LINES: u32 = 15;
/// Diagnostics shown, nearest the cursor first.
const DIAGNOSTICS_SHOWN: usize = 12;
/// The largest instruction file read.
const INSTRUCTIONS_MAX: u64 = 256 * 1024;

/// What a run starts with: the markdown to add to the instruction.
pub async fn gather(
    root: &Path,
    at: Option<At<'_>>,
    docs: &Arc<Documents>,
    hub: &DiagnosticsHub,
    config: &AgentConfig,
) -> String {
    let mut left = usize::try_from(config.context_tokens)
        .unwrap_or(usize::MAX)
        .saturating_mul(BYTES_PER_TOKEN);
    let mut parts = Vec::new();
    let mut left_out = Vec::new();
    let path = at.as_ref().and_then(|at| at.uri.to_file_path().ok());
    if let (Some(at), Some(path)) = (&at, &path) {
        if let Some(part) = around(root, at, path, docs).await {
            parts.push(fit(part, AROUND_TOKENS, &mut left, &mut left_out));
        }
        if let Some(part) = diagnostics(root, at, path, hub).await {
            parts.push(fit(part, DIAGNOSTICS_TOKENS, &mut left, &mut left_out));
        }
    }
    if let Some(part) = instructions(root, path.as_deref(), &config.instruction_files) {
        parts.push(fit(part, INSTRUCTIONS_TOKENS, &mut left, &mut left_out));
    }
    if let Some(part) = open_files(root, docs) {
        parts.push(fit(part, OPEN_FILES_TOKENS, &mut left, &mut left_out));
    }
    let mut text: String = parts
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    if !left_out.is_empty() {
        text.push_str(&format!(
            "\n(Left out to keep within the context budget: {}.)\n",
            left_out.join("; ")
        ));
    }
    text
}

/// A part as a `## title` section.
struct Part {
    title: String,
    body: String,
}

/// `part` cut to its own budget and what is `left` of the whole, at a
/// line's end; what was cut goes to `left_out`.
fn fit(part: Part, own: usize, left: &mut usize, left_out: &mut Vec<String>) -> String {
    let room = (own * BYTES_PER_TOKEN).min(*left);
    let header = format!("## {}\n\n", part.title);
    if room <= header.len() {
        left_out.push(format!("{} (all)", part.title));
        return String::new();
    }
    let mut body = part.body;
    if header.len() + body.len() > room {
        let mut cut = room - header.len();
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        let cut = body[..cut].rfind('\n').map_or(cut, |at| at + 1);
        let dropped = body[cut..].lines().count();
        body.truncate(cut);
        if body.contains("```") && body.matches("```").count() % 2 == 1 {
            body.push_str("```\n");
        }
        left_out.push(format!("{} ({dropped} line(s))", part.title));
    }
    let text = format!("{header}{body}");
    *left = left.saturating_sub(text.len());
    text
}

/// The file's text as the editor has it, else as on disk (beneath the
/// root).
fn text_of(root: &Path, path: &Path, docs: &Documents) -> Option<String> {
    match docs.uri_of(path) {
        Some(uri) => docs.view(&uri).ok().map(|(_, text, _)| text),
        None => files::read_text(root, path, files::MAX_READ).ok(),
    }
}

/// Lines `first..=last` (from 0) of `text`, each with its number from 1.
fn numbered(text: &str, first: u32, last: u32) -> String {
    text.lines()
        .enumerate()
        .skip(first as usize)
        .take((last.saturating_sub(first) + 1) as usize)
        .map(|(n, line)| format!("{}\t{line}\n", n + 1))
        .collect()
}

/// The selection, or the item around the cursor, or the lines around it.
async fn around(root: &Path, at: &At<'_>, path: &Path, docs: &Arc<Documents>) -> Option<Part> {
    if looks_secret(&relative(root, path)) {
        return None;
    }
    let text = text_of(root, path, docs)?;
    let name = relative(root, path);
    let (first, last) = (*at.lines.start(), *at.lines.end());
    if last > first {
        return Some(Part {
            title: format!("The selection: {name}, lines {} to {}", first + 1, last + 1),
            body: format!("```\n{}```\n", numbered(&text, first, last)),
        });
    }
    let enclosing = match docs.capture(at.uri) {
        Ok(capture) => docs
            .compute(at.uri, capture, move |snap| {
                snap.enclosing(Position::new(first, 0)).ok().flatten()
            })
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    Some(match enclosing {
        Some(item) => {
            let (start, end) = (item.range.start.line, item.range.end.line);
            Part {
                title: format!(
                    "Around the cursor: {} in {name}, lines {} to {} (the cursor is on line {})",
                    item.name,
                    start + 1,
                    end + 1,
                    first + 1
                ),
                body: format!("```\n{}```\n", numbered(&text, start, end)),
            }
        }
        None => {
            let start = first.saturating_sub(AROUND_LINES);
            let end = first.saturating_add(AROUND_LINES);
            Part {
                title: format!(
                    "Around the cursor: {name}, line {} (lines {} to {} shown)",
                    first + 1,
                    start + 1,
                    (end + 1).min(text.lines().count() as u32)
                ),
                body: format!("```\n{}```\n", numbered(&text, start, end)),
            }
        }
    })
}

/// The file's diagnostics, nearest the cursor first, and how many more.
async fn diagnostics(root: &Path, at: &At<'_>, path: &Path, hub: &DiagnosticsHub) -> Option<Part> {
    let mut all: Vec<Diagnostic> = hub.for_path(path).await;
    if all.is_empty() {
        return None;
    }
    let line = *at.lines.start();
    all.sort_by_key(|d| {
        (
            d.range.start.line.abs_diff(line),
            d.severity.map_or(4, |s| match s {
                DiagnosticSeverity::ERROR => 1,
                DiagnosticSeverity::WARNING => 2,
                DiagnosticSeverity::INFORMATION => 3,
                _ => 4,
            }),
        )
    });
    let mut body = String::new();
    for d in all.iter().take(DIAGNOSTICS_SHOWN) {
        let severity = match d.severity {
            Some(DiagnosticSeverity::ERROR) => "error",
            Some(DiagnosticSeverity::WARNING) => "warning",
            Some(DiagnosticSeverity::INFORMATION) => "information",
            _ => "hint",
        };
        let code = match &d.code {
            Some(NumberOrString::Number(code)) => format!(" {code}"),
            Some(NumberOrString::String(code)) => format!(" {code}"),
            None => String::new(),
        };
        let message = d.message.lines().next().unwrap_or("");
        body.push_str(&format!(
            "- line {}: {severity} [{}{code}] {message}\n",
            d.range.start.line + 1,
            d.source.as_deref().unwrap_or("?"),
        ));
    }
    if all.len() > DIAGNOSTICS_SHOWN {
        body.push_str(&format!(
            "- and {} more in the file\n",
            all.len() - DIAGNOSTICS_SHOWN
        ));
    }
    Some(Part {
        title: format!(
            "Diagnostics of {}, nearest the cursor first",
            relative(root, path)
        ),
        body,
    })
}

/// The instruction files that apply to `path` (or the root), in the order
/// they are given to the model.
pub fn instruction_paths(root: &Path, path: Option<&Path>, names: &[String]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for name in names {
        if name.contains("..") || Path::new(name).is_absolute() || looks_secret(name) {
            continue;
        }
        if name == "AGENTS.md" {
            // From the root down to the file's folder: nearest last.
            let mut folders: Vec<PathBuf> = path
                .and_then(Path::parent)
                .filter(|folder| folder.starts_with(root))
                .map(|folder| {
                    folder
                        .ancestors()
                        .take_while(|ancestor| ancestor.starts_with(root))
                        .map(Path::to_path_buf)
                        .collect()
                })
                .unwrap_or_else(|| vec![root.to_path_buf()]);
            folders.reverse();
            found.extend(
                folders
                    .into_iter()
                    .map(|folder| folder.join(name))
                    .filter(|file| file.is_file()),
            );
        } else if root.join(name).is_file() {
            found.push(root.join(name));
        }
    }
    found
}

/// The project's own instructions, each file under its path.
fn instructions(root: &Path, path: Option<&Path>, names: &[String]) -> Option<Part> {
    let mut body = String::new();
    for file in instruction_paths(root, path, names) {
        let Ok(text) = files::read_text(root, &file, INSTRUCTIONS_MAX) else {
            continue;
        };
        let text = meshls_agent::redact::redact(&text);
        body.push_str(&format!(
            "### {}\n\n{}\n\n",
            relative(root, &file),
            text.trim()
        ));
    }
    (!body.is_empty()).then(|| Part {
        title: "The project's instructions (follow them)".to_owned(),
        body,
    })
}

/// The files open in the editor, and which hold unsaved changes.
fn open_files(root: &Path, docs: &Documents) -> Option<Part> {
    let mut body = String::new();
    for uri in docs.open_uris() {
        let Ok(path) = uri.to_file_path() else {
            continue;
        };
        if !path.starts_with(root) {
            continue;
        }
        let unsaved = match (docs.view(&uri), std::fs::read_to_string(&path)) {
            (Ok((_, text, _)), Ok(disk)) => text != disk,
            (Ok(_), Err(_)) => true,
            _ => false,
        };
        body.push_str(&format!(
            "- {}{}\n",
            relative(root, &path),
            if unsaved { " (unsaved changes)" } else { "" }
        ));
    }
    (!body.is_empty()).then(|| Part {
        title: "Open in the editor".to_owned(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_cut_at_a_lines_end_within_its_budget_and_what_was_cut_is_said() {
        let body: String = (1..=100).map(|n| format!("line {n}\n")).collect();
        let mut left = 10_000;
        let mut left_out = Vec::new();
        let part = Part {
            title: "T".to_owned(),
            body: format!("```\n{body}```\n"),
        };
        let text = fit(part, 50, &mut left, &mut left_out);
        assert!(text.len() <= 50 * BYTES_PER_TOKEN, "{}", text.len());
        assert!(text.ends_with("```\n"), "{text}");
        assert_eq!(left_out.len(), 1, "{left_out:?}");
        assert!(left_out[0].starts_with("T ("), "{left_out:?}");
        assert_eq!(left, 10_000 - text.len());
        // Nothing left of the whole: the part goes, and is named.
        let mut none = 0;
        let text = fit(
            Part {
                title: "U".to_owned(),
                body: "x\n".to_owned(),
            },
            50,
            &mut none,
            &mut left_out,
        );
        assert_eq!(text, "");
        assert_eq!(left_out[1], "U (all)");
    }

    #[test]
    fn agents_md_is_read_from_the_root_down_to_the_files_folder_and_the_others_at_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        for file in ["AGENTS.md", "src/AGENTS.md", "CLAUDE.md", "src/CLAUDE.md"] {
            std::fs::write(root.join(file), "x").unwrap();
        }
        let names: Vec<String> = ["AGENTS.md", "CLAUDE.md", "../secret", ".env"]
            .map(str::to_owned)
            .to_vec();
        let found = instruction_paths(root, Some(&root.join("src/deep/a.rs")), &names);
        assert_eq!(
            found,
            [
                root.join("AGENTS.md"),
                root.join("src/AGENTS.md"),
                root.join("CLAUDE.md")
            ]
        );
        assert_eq!(
            instruction_paths(root, None, &names),
            [root.join("AGENTS.md"), root.join("CLAUDE.md")]
        );
    }
}
