//! meshls's own code actions, merged with the language servers': "Fix with
//! agent" for each diagnostic in range, "Apply @agent instruction" on a line
//! holding an `@agent: ...` comment, "Explain", "Document", "Write tests"
//! and "Refactor" on the enclosing function or type, and "Review this
//! file". Listing them never calls the model: each carries the command
//! `meshls.runAction`, and the agent runs only when one is chosen. The
//! command's argument ([`Action`]) says what to do; [`Action::instruction`]
//! turns it into the request the agent gets.

use lsp_types::{Range, Url};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use meshls_analysis::Snapshot;

use crate::{ext, state::editor::Pending};

/// The kinds of action meshls offers, for `codeActionProvider`.
pub const KINDS: [&str; 4] = ["quickfix", "refactor", "refactor.rewrite", "source"];

/// What a chosen action asks of the agent: `meshls.runAction`'s argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    Fix {
        uri: Url,
        diagnostic: Box<lsp_types::Diagnostic>,
    },
    Instruction {
        uri: Url,
        line: u32,
        instruction: String,
    },
    Explain(Target),
    Document(Target),
    Tests(Target),
    Refactor(Target),
    Review {
        uri: Url,
    },
    /// Every error in a file (`meshls.fix`).
    FixFile {
        uri: Url,
    },
}

/// The function or type an action is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub uri: Url,
    pub name: String,
    pub range: Range,
}

impl Action {
    pub fn uri(&self) -> &Url {
        match self {
            Action::Fix { uri, .. }
            | Action::Instruction { uri, .. }
            | Action::Review { uri }
            | Action::FixFile { uri } => uri,
            Action::Explain(target)
            | Action::Document(target)
            | Action::Tests(target)
            | Action::Refactor(target) => &target.uri,
        }
    }

    /// The line (from 0) the action is about.
    pub fn line(&self) -> u32 {
        match self {
            Action::Fix { diagnostic, .. } => diagnostic.range.start.line,
            Action::Instruction { line, .. } => *line,
            Action::Explain(target)
            | Action::Document(target)
            | Action::Tests(target)
            | Action::Refactor(target) => target.range.start.line,
            Action::Review { .. } | Action::FixFile { .. } => 0,
        }
    }

    /// Whether the agent only reads (and answers) for this action.
    pub fn read_only(&self) -> bool {
        matches!(self, Action::Explain(_) | Action::Review { .. })
    }

    /// The request the agent gets; `file` is the document's path as the
    /// agent names it (relative to the workspace).
    pub fn instruction(&self, file: &str) -> String {
        let lines =
            |range: &Range| format!("lines {}-{}", range.start.line + 1, range.end.line + 1);
        match self {
            Action::Fix { diagnostic, .. } => {
                let code = match &diagnostic.code {
                    Some(lsp_types::NumberOrString::Number(code)) => format!(" {code}"),
                    Some(lsp_types::NumberOrString::String(code)) => format!(" {code}"),
                    None => String::new(),
                };
                format!(
                    "Fix this problem in {file} at line {}: {} [{}{code}]. Change as little as it takes.",
                    diagnostic.range.start.line + 1,
                    diagnostic.message,
                    diagnostic.source.as_deref().unwrap_or("diagnostic"),
                )
            }
            Action::Instruction { line, instruction, .. } => format!(
                "{instruction}\n\n(This comes from an `@agent:` comment in {file} at line {}; remove that comment when you are done.)",
                line + 1
            ),
            Action::Explain(Target { name, range, .. }) => format!(
                "Explain what {name} in {file} ({}) does, for someone new to this code. Do not change any file.",
                lines(range)
            ),
            Action::Document(Target { name, range, .. }) => format!(
                "Write documentation comments for {name} in {file} ({}), in the style the file already uses. Change nothing else.",
                lines(range)
            ),
            Action::Tests(Target { name, range, .. }) => format!(
                "Write tests for {name} in {file} ({}), where and how this project keeps its tests.",
                lines(range)
            ),
            Action::Refactor(Target { name, range, .. }) => format!(
                "Refactor {name} in {file} ({}) to be clearer, without changing what it does.",
                lines(range)
            ),
            Action::FixFile { .. } => format!(
                "Fix the errors the language servers report in {file} (the diagnostics tool lists them). Change as little as it takes."
            ),
            Action::Review { .. } => format!(
                "Review {file}: find concrete problems (bugs, risky or unclear code). Do not change any file. \
                 Report each problem with report_finding (findings written as text are not reported), \
                 then answer with one line summing up the review."
            ),
        }
    }
}

/// An action on a function or type: its title, kind, and what it asks.
type Offer = (String, &'static str, fn(Target) -> Action);

/// meshls's actions for `range` of a document, given the diagnostics the
/// editor sent with the request and the kinds it wants (`only`).
/// The agent's questions waiting for the user, as code actions that answer
/// them (`meshls.answer`): for editors that cannot show a message with
/// buttons, such as Helix, where the code actions menu can. Offered
/// wherever the cursor is, as quick fixes.
pub fn questions(pending: &[Pending], only: Option<&[String]>) -> Vec<Value> {
    let wanted = only.is_none_or(|only| only.iter().any(|asked| asked == "quickfix"));
    if !wanted {
        return Vec::new();
    }
    let mut actions = Vec::new();
    for question in pending {
        let mut answers = vec![("Allow", "allow")];
        if question.always {
            answers.push(("Always for this session", "always"));
        }
        answers.push(("Deny", "deny"));
        for (label, answer) in answers {
            let title = format!("{label}: {}", question.action);
            actions.push(json!({
                "title": title,
                "kind": "quickfix",
                "command": {
                    "title": title,
                    "command": ext::ANSWER,
                    "arguments": [{"question": question.id, "answer": answer}],
                },
                "data": {(ext::SERVER_TAG): ext::OWN_TAG},
            }));
        }
    }
    actions
}

pub fn list(
    snap: &Snapshot,
    uri: &Url,
    range: Range,
    diagnostics: &[lsp_types::Diagnostic],
    only: Option<&[String]>,
) -> Vec<Value> {
    let mut actions = Vec::new();
    let mut add =
        |title: String, kind: &str, action: Action, fixes: Option<&lsp_types::Diagnostic>| {
            let wanted = only.is_none_or(|only| {
                only.iter()
                    .any(|asked| kind == asked || kind.starts_with(&format!("{asked}.")))
            });
            if !wanted {
                return;
            }
            let mut item = json!({
                "title": title,
                "kind": kind,
                "command": {
                    "title": title,
                    "command": ext::RUN_ACTION,
                    "arguments": [action],
                },
                "data": {(ext::SERVER_TAG): ext::OWN_TAG},
            });
            if let Some(diagnostic) = fixes {
                item["diagnostics"] = json!([diagnostic]);
            }
            actions.push(item);
        };
    for diagnostic in diagnostics {
        add(
            format!("Fix with agent: {}", first_line(&diagnostic.message, 60)),
            "quickfix",
            Action::Fix {
                uri: uri.clone(),
                diagnostic: Box::new(diagnostic.clone()),
            },
            Some(diagnostic),
        );
    }
    // Lines come from the editor: the last one LSP can name is u32::MAX.
    let last = range.end.line.min(range.start.line.saturating_add(200));
    for line in range.start.line..=last {
        let Some(text) = snap.text.get_line(line as usize) else {
            break;
        };
        if let Some(instruction) = agent_comment(&text.to_string()) {
            add(
                format!("Apply @agent instruction: {}", first_line(&instruction, 60)),
                "refactor.rewrite",
                Action::Instruction {
                    uri: uri.clone(),
                    line,
                    instruction,
                },
                None,
            );
        }
    }
    if let Ok(Some(enclosing)) = snap.enclosing(range.start) {
        let name = enclosing.name;
        let target = Target {
            uri: uri.clone(),
            name: name.clone(),
            range: enclosing.range,
        };
        let offers: [Offer; 4] = [
            (format!("Explain {name}"), "refactor", Action::Explain),
            (
                format!("Document {name}"),
                "refactor.rewrite",
                Action::Document,
            ),
            (format!("Write tests for {name}"), "refactor", Action::Tests),
            (
                format!("Refactor {name} with agent"),
                "refactor.rewrite",
                Action::Refactor,
            ),
        ];
        for (title, kind, action) in offers {
            add(title, kind, action(target.clone()), None);
        }
    }
    add(
        "Review this file with agent".to_owned(),
        "source",
        Action::Review { uri: uri.clone() },
        None,
    );
    actions
}

/// The instruction of an `@agent: ...` comment on `line`: after a comment
/// marker of any common language (`//`, `#`, `/*`, `--`, `;`, `*`).
pub fn agent_comment(line: &str) -> Option<String> {
    let at = line.find("@agent:")?;
    let before = line[..at].trim_end();
    let comment = ["//", "#", "/*", "--", ";", "*"]
        .iter()
        .any(|marker| before.ends_with(marker));
    if !comment {
        return None;
    }
    let instruction = line[at + "@agent:".len()..]
        .trim()
        .trim_end_matches("*/")
        .trim()
        .to_owned();
    (!instruction.is_empty()).then_some(instruction)
}

fn first_line(text: &str, most: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= most {
        return line.to_owned();
    }
    let cut: String = line.chars().take(most).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use lsp_types::{Position, Range, Url};
    use meshls_analysis::{Document, Language, PositionEncoding};

    use super::{agent_comment, list};

    #[test]
    fn a_range_on_the_last_line_lsp_can_name_gets_the_file_wide_actions_only() {
        // Found by the fuzz target dispatch: `line + 200` overflowed.
        let mut document = Document::new("fn main() {}\n", 1, Language::for_lsp_id("rust"));
        let snapshot = document.snapshot(PositionEncoding::Utf16);
        let uri = Url::parse("file:///w/a.rs").unwrap();
        let range = Range::new(Position::new(u32::MAX, 2), Position::new(u32::MAX, 2));
        let titles: Vec<_> = list(&snapshot, &uri, range, &[], None)
            .into_iter()
            .map(|action| action["title"].clone())
            .collect();
        assert_eq!(titles, ["Review this file with agent"]);
    }

    #[test]
    fn agent_comments_are_found_after_any_comment_marker() {
        for (line, expected) in [
            ("// @agent: make this async", Some("make this async")),
            (
                "    let x = 1; // @agent: name x better",
                Some("name x better"),
            ),
            ("# @agent: add type hints", Some("add type hints")),
            ("/* @agent: simplify */", Some("simplify")),
            ("-- @agent: use a join", Some("use a join")),
            (
                " * @agent: document the errors",
                Some("document the errors"),
            ),
            ("let s = \"@agent: not a comment\";", None),
            ("// @agent:", None),
            ("// @agents are people", None),
        ] {
            assert_eq!(agent_comment(line).as_deref(), expected, "{line}");
        }
    }
}
