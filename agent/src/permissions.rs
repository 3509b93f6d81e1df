//! Which tool calls run, which ask the user first, and which are refused:
//! `[agent.permissions]`, one entry per tool, either a decision or rules
//! matched against what the call is about (the command line of
//! `run_command`, the path of a file tool):
//!
//! ```toml
//! [agent.permissions]
//! write_file = "ask"
//! run_command = { allow = ["cargo test*", "cargo check*"], deny = ["*rm -rf*"] }
//! read_secrets = "deny"
//! ```
//!
//! Without rules: reading tools run; edits to files open in the editor run
//! (the user sees them and can undo), edits to other files and new files
//! ask; `run_command` is off unless `agent.run_command` is on, and then
//! asks. Read-only mode (CI review) runs reading tools only.
//!
//! A command line is matched as the shell reads it ([`crate::shell`]), not
//! as text: an allow rule lets through one plain command whose words match
//! it, and a line of several commands (`;`, `&&`, `|`, a newline, a
//! redirection) only when a rule has that same shape; a substitution,
//! variable, file name pattern or leading assignment only when a rule
//! names the line exactly. Anything else is asked. A deny rule sees every
//! command of the line, substitutions included, with short options
//! counted one by one (`rm -r -f` is `rm -rf`).
//!
//! Files that look like secrets (`.env`, private keys, credentials) are
//! neither read nor searched unless `read_secrets` allows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::shell;

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

/// The pseudo-tool whose rule decides reading files that look like
/// secrets ([`looks_secret`]); denied unless a rule allows it.
pub const READ_SECRETS: &str = "read_secrets";

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
    /// Directories whose files no tool writes, beyond the workspace's own
    /// `meshls.toml` and `.meshls/`: the user's meshls config and data.
    pub protected: Vec<std::path::PathBuf>,
    /// Whether `definition` and `references` may quote the lines of
    /// dependency sources outside the workspace (`agent.read_dependencies`).
    pub read_dependencies: bool,
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
        if call.tool == READ_SECRETS {
            return match self.rules.get(READ_SECRETS) {
                None => Decision::Deny,
                Some(Rule::Always(decision)) => *decision,
                Some(Rule::Patterns(patterns)) => {
                    path_decision(patterns, call.subject, Decision::Deny)
                }
            };
        }
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
            Some(Rule::Patterns(patterns)) if call.tool == "run_command" => {
                command_decision(patterns, call.subject, default)
            }
            Some(Rule::Patterns(patterns)) => path_decision(patterns, call.subject, default),
        }
    }
}

fn path_decision(patterns: &Patterns, path: &str, default: Decision) -> Decision {
    if patterns.deny.iter().any(|glob| matches(glob, path)) {
        Decision::Deny
    } else if patterns.allow.iter().any(|glob| matches(glob, path)) {
        Decision::Allow
    } else {
        patterns.otherwise.unwrap_or(default)
    }
}

/// A command line against `run_command`'s rules: denied when a deny rule
/// matches any command in it; allowed when an allow rule matches it
/// whole, with its shape; else `otherwise`, which allows plain commands
/// only: a line with more in it is asked.
fn command_decision(patterns: &Patterns, line: &str, default: Decision) -> Decision {
    let parsed = shell::parse(line);
    if patterns.deny.iter().any(|rule| denies(rule, line, &parsed)) {
        return Decision::Deny;
    }
    if patterns
        .allow
        .iter()
        .any(|rule| allows(rule, line, &parsed))
    {
        return Decision::Allow;
    }
    match patterns.otherwise.unwrap_or(default) {
        Decision::Allow if !parsed.is_plain() => Decision::Ask,
        decision => decision,
    }
}

/// Whether an allow rule lets `line` through.
fn allows(rule: &str, line: &str, parsed: &shell::Parsed) -> bool {
    let pattern = shell::parse(rule);
    if parsed.is_plain() {
        return words_match(&pattern.word_list(), &parsed.word_list());
    }
    // Only operators beyond plain words: the same operators in the same
    // places, and each command between them matching its part of the rule.
    let only_operators = parsed.features.iter().all(|feature| {
        matches!(
            *feature,
            "more than one command"
                | "a newline"
                | "a redirection"
                | "a background job"
                | "a subshell"
        )
    });
    if only_operators && pattern.operators() == parsed.operators() {
        let (rule_parts, parts) = (pattern.segments(), parsed.segments());
        return rule_parts.len() == parts.len()
            && rule_parts
                .iter()
                .zip(&parts)
                .all(|(rule, part)| words_match(rule, part));
    }
    // Substitutions, variables, patterns, assignments: only the line itself.
    collapse(rule) == collapse(line)
}

/// A command's words against a rule's, word by word: each rule word a
/// glob over one word, a last rule word ending in `*` covering any words
/// after it too (`cargo test*` allows `cargo test -p x`). Word boundaries
/// count: `'cargo test/../x.sh'` is one word, a program no rule names. A
/// program with a `/` or a space in it is allowed only by a rule whose
/// program has one (or is `*`).
fn words_match(rule: &[String], words: &[String]) -> bool {
    let (Some(rule_program), Some(program)) = (rule.first(), words.first()) else {
        return rule.is_empty() && words.is_empty();
    };
    let unusual = |word: &str| word.contains('/') || word.contains(char::is_whitespace);
    if rule_program != "*" && unusual(program) && !unusual(rule_program) {
        return false;
    }
    for (at, word) in words.iter().enumerate() {
        match rule.get(at) {
            Some(glob) if matches(glob, word) => {}
            Some(_) => return false,
            None => return rule.last().is_some_and(|last| last.ends_with('*')),
        }
    }
    // Rule words left over match only if they are `*` (any, or none).
    rule[words.len()..].iter().all(|glob| glob == "*")
}

/// Whether a deny rule stops `line`: as a glob over the line (its spacing
/// evened out), or as a command (`rm -rf`) that any command of the line
/// runs, wherever its words stand and however its short options are
/// grouped.
fn denies(rule: &str, line: &str, parsed: &shell::Parsed) -> bool {
    if matches(rule, line) || matches(rule, &collapse(line)) {
        return true;
    }
    let trimmed = rule.trim_matches(|c: char| c == '*' || c.is_whitespace());
    let pattern = shell::parse(trimmed);
    let [wanted] = pattern.commands.as_slice() else {
        return false;
    };
    let Some((program, rest)) = wanted.split_first() else {
        return false;
    };
    let commands = every_command(parsed, 0);
    let lower = |text: &str| text.to_lowercase();
    commands.iter().any(|words| {
        // `sudo rm`, `xargs rm`, `find -exec rm`: wherever the program is.
        // Case-folded: `RM` runs `rm` on a case-insensitive file system.
        words.iter().enumerate().any(|(at, word)| {
            if !matches(&lower(base_name(program)), &lower(base_name(word))) {
                return false;
            }
            let after = &words[at + 1..];
            let flags = flags_of(after);
            rest.iter().all(|want| {
                if shell::is_short_cluster(want) {
                    want.chars()
                        .skip(1)
                        .all(|flag| flags.contains(&flag.to_ascii_lowercase()))
                } else {
                    after.iter().any(|word| matches(want, word))
                }
            })
        })
    })
}

/// Every command of a line, and of the lines inside its words (`sh -c '...'`,
/// nested as deep as a few levels), for deny rules to see.
fn every_command(parsed: &shell::Parsed, depth: usize) -> Vec<Vec<String>> {
    let mut commands = parsed.commands.clone();
    if depth < 4 {
        for words in &parsed.commands {
            for word in words
                .iter()
                .filter(|word| word.contains(char::is_whitespace))
            {
                commands.extend(every_command(&shell::parse(word), depth + 1));
            }
        }
    }
    commands
}

/// The options of `words` as letters, for deny rules: short ones one by
/// one, a long one by its first letter (`--recursive` as `r`), all in
/// lower case. Wider than what the program reads, which for a deny rule
/// errs on the side of denying.
fn flags_of(words: &[String]) -> Vec<char> {
    let long = words
        .iter()
        .filter_map(|word| word.strip_prefix("--")?.chars().next());
    shell::short_flags(words)
        .into_iter()
        .chain(long)
        .map(|flag| flag.to_ascii_lowercase())
        .collect()
}

fn base_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// Words separated by single spaces.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a workspace-relative path looks like it holds secrets: `.env`
/// files (not their `.example`, `.sample` or `.template`), private keys,
/// credential and token files.
pub fn looks_secret(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let examples = [".example", ".sample", ".template", ".dist", ".defaults"];
    if examples.iter().any(|suffix| name.ends_with(suffix)) {
        return false;
    }
    const NAMES: &[&str] = &[
        ".env",
        ".envrc",
        ".netrc",
        "_netrc",
        ".npmrc",
        ".pypirc",
        ".git-credentials",
        ".htpasswd",
        ".pgpass",
        "credentials",
        "credentials.json",
        "credentials.yml",
        "credentials.yaml",
        "credentials.toml",
        "secrets.json",
        "secrets.yml",
        "secrets.yaml",
        "secrets.toml",
        "terraform.tfstate",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
    ];
    const SUFFIXES: &[&str] = &[
        ".env",
        ".pem",
        ".key",
        ".p12",
        ".pfx",
        ".jks",
        ".keystore",
        ".kdbx",
        ".tfvars",
        ".ppk",
    ];
    NAMES.contains(&name.as_str())
        || [".env.", ".env-", ".env_"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
        || SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
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

    fn command_policy(rules: &str) -> Policy {
        Policy {
            rules: toml::from_str(rules).unwrap(),
            run_command: true,
            ..Policy::default()
        }
    }

    fn run(policy: &Policy, command: &str) -> Decision {
        policy.decide(call("run_command", command, false))
    }

    #[test]
    fn shell_syntax_does_not_get_past_an_allow_rule() {
        // The README's own example.
        let policy =
            command_policy("run_command = { allow = [\"cargo test*\"], deny = [\"*rm -rf*\"] }\n");
        assert_eq!(run(&policy, "cargo test"), Decision::Allow);
        assert_eq!(run(&policy, "cargo  test   -p meshls"), Decision::Allow);
        assert_eq!(run(&policy, "cargo test 'a b'"), Decision::Allow);
        for asked in [
            "cargo test $(touch x)",
            "cargo test `touch x`",
            "cargo test \"$(touch x)\"",
            "cargo test\ntouch x",
            "cargo test; touch x",
            "cargo test && touch x",
            "cargo test || touch x",
            "cargo test | sh",
            "cargo test > ~/.bashrc",
            "cargo test & touch x",
            "cargo test $HOME",
            "cargo test *",
            "RUSTC_WRAPPER=./evil cargo test",
            "cargo test # comment",
            "cargo test 'unclosed",
        ] {
            assert_eq!(run(&policy, asked), Decision::Ask, "{asked:?}");
        }
        for denied in [
            "rm -rf dir",
            "rm  -rf dir",
            "rm -r -f dir",
            "rm -fr dir",
            "rm -f -r dir",
            "/bin/rm -rf dir",
            "cargo test; rm -r -f dir",
            "cargo test $(rm -r -f dir)",
            "cargo test \"`rm -f -r dir`\"",
            "sudo rm -rf dir",
            "sh -c 'rm -r -f dir'",
            "sh -c \"sh -c 'rm -r -f dir'\"",
            "find . -exec rm -rf {} +",
            "rm -Rf dir",
            "rm --recursive --force dir",
            "RM -rf dir",
        ] {
            assert_eq!(run(&policy, denied), Decision::Deny, "{denied:?}");
        }
        assert_eq!(run(&policy, "rm -r dir"), Decision::Ask);
        // A space inside a word is not a word boundary: `cargo test/..`
        // is a program of the repository's, in a directory `cargo test`.
        for asked in [
            "'cargo test/../evil.sh' -p x",
            "cargo\\ test/../evil.sh -p x",
            "\"cargo test\" -p x",
            "./cargo test",
        ] {
            assert_eq!(run(&policy, asked), Decision::Ask, "{asked:?}");
        }
        let starred =
            command_policy("run_command = { allow = [\"cargo*\", \"npm run *\", \"*\"] }\n");
        assert_eq!(run(&starred, "npm run"), Decision::Allow);
        // `*` alone allows any plain command, paths included.
        assert_eq!(run(&starred, "./build.sh"), Decision::Allow);
        let cargo = command_policy("run_command = { allow = [\"cargo*\"] }\n");
        assert_eq!(run(&cargo, "cargo/../evil.sh"), Decision::Ask);
        assert_eq!(run(&cargo, "cargo build --release"), Decision::Allow);
    }

    #[test]
    fn a_rule_may_name_a_shape() {
        let policy = command_policy(
            "run_command = { allow = [\"cargo build && cargo test*\", \"make 2>&1\", \"echo $HOME\"] }\n",
        );
        assert_eq!(
            run(&policy, "cargo build  &&  cargo test -q"),
            Decision::Allow
        );
        assert_eq!(
            run(&policy, "cargo build && cargo test; touch x"),
            Decision::Ask
        );
        assert_eq!(run(&policy, "cargo build || cargo test"), Decision::Ask);
        assert_eq!(run(&policy, "make 2>&1"), Decision::Allow);
        assert_eq!(run(&policy, "echo $HOME"), Decision::Allow);
        assert_eq!(run(&policy, "echo $PATH"), Decision::Ask);
        // `otherwise = "allow"` lets through plain commands only.
        let policy = command_policy("run_command = { otherwise = \"allow\" }\n");
        assert_eq!(run(&policy, "make"), Decision::Allow);
        assert_eq!(run(&policy, "make; touch x"), Decision::Ask);
        // Always is always: the user said so.
        let policy = command_policy("run_command = \"allow\"\n");
        assert_eq!(run(&policy, "make; touch x"), Decision::Allow);
    }

    #[test]
    fn secrets_are_denied_unless_allowed() {
        for secret in [
            ".env",
            "app/.env.local",
            ".envrc",
            "deploy/id_rsa",
            "certs/server.KEY",
            "certs/tls.pem",
            ".npmrc",
            "config/credentials.json",
            "prod.tfvars",
            "prod.env",
            "secrets.env",
            ".env-local",
        ] {
            assert!(looks_secret(secret), "{secret}");
        }
        for plain in [
            ".env.example",
            "src/env.rs",
            "id_rsa.pub",
            "keys.rs",
            "README.md",
            ".envoy",
        ] {
            assert!(!looks_secret(plain), "{plain}");
        }
        let secrets = |rules: &str| Policy {
            rules: toml::from_str(rules).unwrap(),
            ..Policy::default()
        };
        let read = |policy: &Policy, path: &str| policy.decide(call(READ_SECRETS, path, false));
        assert_eq!(read(&Policy::default(), ".env"), Decision::Deny);
        assert_eq!(
            read(&secrets("read_secrets = \"ask\"\n"), ".env"),
            Decision::Ask
        );
        let some = secrets("read_secrets = { allow = [\"test/*.pem\"] }\n");
        assert_eq!(read(&some, "test/fixture.pem"), Decision::Allow);
        assert_eq!(read(&some, ".env"), Decision::Deny);
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
