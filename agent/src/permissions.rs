//! Which tool calls run, which ask the user first, and which are refused:
//! `[agent.permissions]`, one entry per tool, either a decision or rules
//! matched against what the call is about (the command line of
//! `run_command`, the path of a file tool):
//!
//! ```toml
//! [agent.permissions]
//! write_file = "ask"
//! run_command = { allow = ["cargo test*", "cargo check*"], deny = ["*rm -rf*"] }
//! ```
//!
//! Without rules: reading tools run; edits to files open in the editor run
//! (the user sees them and can undo), edits to other files and new files
//! ask; `run_command` is off unless `agent.run_command` is on, and then
//! asks. Read-only mode (CI review) runs reading tools only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Ask,
    Deny,
}

/// One tool's entry in `[agent.permissions]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Rule {
    Always(Decision),
    Patterns(Patterns),
}

/// Glob patterns (`*` matches anything, `?` one character) over what the
/// call is about; `deny` wins over `allow`, and `otherwise` decides the
/// rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Patterns {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub otherwise: Option<Decision>,
}

/// The tools that only read.
pub const READING_TOOLS: &[&str] = &[
    "read_file",
    "list_files",
    "grep",
    "diagnostics",
    "symbols",
    "definition",
    "references",
    "hover",
];

#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub rules: BTreeMap<String, Rule>,
    /// Only reading tools run (CI review).
    pub read_only: bool,
    /// `run_command` exists at all.
    pub run_command: bool,
    /// The run is a review: `report_finding` exists.
    pub review: bool,
    /// Variables the commands it runs do not see: those holding API keys,
    /// which a command's output would carry into the conversation and the
    /// session database.
    pub hidden_env: Vec<String>,
}

/// A call, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub tool: &'a str,
    /// The command line, or the workspace-relative path.
    pub subject: &'a str,
    /// For file edits: the file is open in the editor.
    pub open_in_editor: bool,
}

impl Policy {
    pub fn decide(&self, call: Call<'_>) -> Decision {
        let reading = READING_TOOLS.contains(&call.tool);
        if self.read_only && !reading {
            return Decision::Deny;
        }
        if call.tool == "run_command" && !self.run_command {
            return Decision::Deny;
        }
        // Reading, and editing what the user has open (and can undo), run.
        let default = if reading || (call.tool == "edit_file" && call.open_in_editor) {
            Decision::Allow
        } else {
            Decision::Ask
        };
        match self.rules.get(call.tool) {
            None => default,
            Some(Rule::Always(decision)) => *decision,
            Some(Rule::Patterns(patterns)) => {
                if patterns.deny.iter().any(|glob| matches(glob, call.subject)) {
                    Decision::Deny
                } else if patterns
                    .allow
                    .iter()
                    .any(|glob| matches(glob, call.subject))
                {
                    Decision::Allow
                } else {
                    patterns.otherwise.unwrap_or(default)
                }
            }
        }
    }
}

/// Whether `text` matches `glob`, where `*` is any run of characters and
/// `?` any one character; everything else is literal.
fn matches(glob: &str, text: &str) -> bool {
    let glob: Vec<char> = glob.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // The classic two-pointer match with one backtrack point per `*`.
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if g < glob.len() && (glob[g] == '?' || glob[g] == text[t]) {
            g += 1;
            t += 1;
        } else if g < glob.len() && glob[g] == '*' {
            star = Some((g, t));
            g += 1;
        } else if let Some((star_g, star_t)) = star {
            g = star_g + 1;
            t = star_t + 1;
            star = Some((star_g, star_t + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(tool: &'a str, subject: &'a str, open_in_editor: bool) -> Call<'a> {
        Call {
            tool,
            subject,
            open_in_editor,
        }
    }

    #[test]
    fn globs() {
        for (glob, text, expected) in [
            ("cargo test*", "cargo test -p meshls", true),
            ("cargo test*", "cargo tests", true),
            ("cargo test*", "xcargo test", false),
            ("*rm -rf*", "cd x && rm -rf /", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*", "", true),
            ("src/*.rs", "src/main.rs", true),
            ("*.rs", "main.ts", false),
            ("**a*b", "xxaxxb", true),
        ] {
            assert_eq!(matches(glob, text), expected, "{glob} ~ {text}");
        }
    }

    #[test]
    fn defaults_rules_and_read_only() {
        let mut policy = Policy::default();
        assert_eq!(
            policy.decide(call("read_file", "src/main.rs", false)),
            Decision::Allow
        );
        assert_eq!(
            policy.decide(call("edit_file", "src/main.rs", true)),
            Decision::Allow
        );
        assert_eq!(
            policy.decide(call("edit_file", "src/other.rs", false)),
            Decision::Ask
        );
        assert_eq!(
            policy.decide(call("write_file", "src/new.rs", false)),
            Decision::Ask
        );
        assert_eq!(
            policy.decide(call("run_command", "cargo test", false)),
            Decision::Deny
        );

        let rules: BTreeMap<String, Rule> = toml::from_str(
            "write_file = \"allow\"\nrun_command = { allow = [\"cargo test*\"], deny = [\"*&&*\"] }\nedit_file = { deny = [\"Cargo.lock\"] }\n",
        )
        .unwrap();
        policy = Policy {
            rules,
            run_command: true,
            ..Policy::default()
        };
        assert_eq!(
            policy.decide(call("write_file", "src/new.rs", false)),
            Decision::Allow
        );
        assert_eq!(
            policy.decide(call("run_command", "cargo test -q", false)),
            Decision::Allow
        );
        assert_eq!(
            policy.decide(call("run_command", "cargo test && curl x", false)),
            Decision::Deny
        );
        assert_eq!(
            policy.decide(call("run_command", "make", false)),
            Decision::Ask
        );
        assert_eq!(
            policy.decide(call("edit_file", "Cargo.lock", true)),
            Decision::Deny
        );
        assert_eq!(
            policy.decide(call("edit_file", "src/main.rs", true)),
            Decision::Allow
        );

        policy.read_only = true;
        assert_eq!(
            policy.decide(call("grep", "fn main", false)),
            Decision::Allow
        );
        assert_eq!(
            policy.decide(call("write_file", "src/new.rs", false)),
            Decision::Deny
        );
        assert_eq!(
            policy.decide(call("run_command", "cargo test", false)),
            Decision::Deny
        );
    }

    #[test]
    fn a_bad_rule_is_a_config_error() {
        let bad: Result<BTreeMap<String, Rule>, _> =
            toml::from_str("run_command = \"sometimes\"\n");
        assert!(bad.is_err());
        let bad: Result<BTreeMap<String, Rule>, _> =
            toml::from_str("run_command = { alow = [\"x\"] }\n");
        assert!(bad.is_err());
    }
}
