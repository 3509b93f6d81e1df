//! A session as a person reads it: markdown with each instruction, each
//! answer, each tool call in one line, and each edit as a diff. What
//! `meshls sessions show` prints. Nothing in it holds an API key.

use std::{collections::HashMap, fmt::Write as _};

use serde_json::Value;

use crate::{model::Message, redact::redact, session::Session};

/// The session as markdown.
pub fn markdown(session: &Session) -> String {
    let mut out = String::new();
    let title = if session.title.is_empty() {
        "(no instruction yet)"
    } else {
        &session.title
    };
    let _ = writeln!(out, "# {title}\n");
    let _ = writeln!(
        out,
        "Session {}, started {}, {} run(s), {} tokens in and {} out, ${:.4}.\n",
        session.id,
        utc(session.created),
        session.runs,
        session.usage.input_tokens,
        session.usage.output_tokens,
        session.cost
    );
    // How each tool call went, by its id.
    let results: HashMap<&str, (&str, bool)> = session
        .conversation
        .messages
        .iter()
        .filter_map(|message| match message {
            Message::ToolResult {
                call_id,
                content,
                is_error,
            } => Some((call_id.as_str(), (content.as_str(), *is_error))),
            _ => None,
        })
        .collect();
    for message in &session.conversation.messages {
        match message {
            Message::User(text) => {
                let _ = writeln!(out, "## You\n\n{}\n", text.trim_end());
            }
            Message::Assistant { text, tool_calls } => {
                let _ = writeln!(out, "## Agent\n");
                if !text.trim().is_empty() {
                    let _ = writeln!(out, "{}\n", text.trim_end());
                }
                for call in tool_calls {
                    let arguments: Value =
                        serde_json::from_str(&call.arguments).unwrap_or(Value::Null);
                    let _ = write!(out, "- `{}` {}", call.name, about(&arguments));
                    match results.get(call.id.as_str()) {
                        Some((content, true)) => {
                            let why = content.lines().next().unwrap_or("").trim();
                            let _ = writeln!(out, " (failed: {why})");
                        }
                        _ => out.push('\n'),
                    }
                    if call.name == "edit_file" {
                        diff(&mut out, &arguments);
                    }
                }
                if !tool_calls.is_empty() {
                    out.push('\n');
                }
            }
            Message::ToolResult { .. } => {}
        }
    }
    redact(&out).into_owned()
}

/// What a tool call was about, from its arguments.
fn about(arguments: &Value) -> String {
    ["path", "pattern", "command", "query", "name"]
        .iter()
        .find_map(|key| arguments.get(key)?.as_str())
        .map(|about| about.lines().next().unwrap_or("").to_owned())
        .unwrap_or_default()
}

/// An `edit_file` call's change as a unified diff of its two strings.
fn diff(out: &mut String, arguments: &Value) {
    let (Some(old), Some(new)) = (
        arguments["old_string"].as_str(),
        arguments["new_string"].as_str(),
    ) else {
        return;
    };
    out.push_str("\n  ```diff\n");
    for line in old.lines() {
        let _ = writeln!(out, "  -{line}");
    }
    for line in new.lines() {
        let _ = writeln!(out, "  +{line}");
    }
    out.push_str("  ```\n");
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub fn utc(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let (hour, minute) = ((seconds % 86_400) / 3600, (seconds % 3600) / 60);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ToolCall, Usage};
    use crate::run::Conversation;

    #[test]
    fn dates_are_civil_dates_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_796_306_400), "2026-12-03 14:00 UTC");
    }

    #[test]
    fn a_session_reads_as_instructions_answers_calls_and_diffs() {
        let call = |id: &str, name: &str, arguments: &str| ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        };
        let session = Session {
            id: "7".into(),
            title: "Fix it".into(),
            created: 0,
            updated: 0,
            conversation: Conversation {
                messages: vec![
                    Message::User("Fix it.".into()),
                    Message::Assistant {
                        text: String::new(),
                        tool_calls: vec![
                            call("a", "read_file", r#"{"path": "src/a.ts"}"#),
                            call(
                                "b",
                                "edit_file",
                                r#"{"path": "src/a.ts", "old_string": "= 42;", "new_string": "= \"42\";"}"#,
                            ),
                            call("c", "run_command", r#"{"command": "npm test\nand more"}"#),
                        ],
                    },
                    Message::ToolResult {
                        call_id: "a".into(),
                        content: "1\tx".into(),
                        is_error: false,
                    },
                    Message::ToolResult {
                        call_id: "b".into(),
                        content: "ok".into(),
                        is_error: false,
                    },
                    Message::ToolResult {
                        call_id: "c".into(),
                        content: "denied by the user\nmore".into(),
                        is_error: true,
                    },
                    Message::Assistant {
                        text: "Fixed.".into(),
                        tool_calls: vec![],
                    },
                ],
                ..Conversation::default()
            },
            runs: 1,
            usage: Usage {
                input_tokens: 300,
                output_tokens: 30,
            },
            cost: 0.0,
        };
        assert_eq!(
            markdown(&session),
            "# Fix it\n\nSession 7, started 1970-01-01 00:00 UTC, 1 run(s), 300 tokens in and 30 out, $0.0000.\n\n\
## You\n\nFix it.\n\n\
## Agent\n\n\
- `read_file` src/a.ts\n\
- `edit_file` src/a.ts\n\n  ```diff\n  -= 42;\n  += \"42\";\n  ```\n\
- `run_command` npm test (failed: denied by the user)\n\n\
## Agent\n\nFixed.\n\n"
        );
    }
}
