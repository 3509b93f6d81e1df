//! `meshls review`: a check, then the agent reviewing the change with
//! read-only tools, the language servers the check started as its senses,
//! and each finding reported through `report_finding` rather than written
//! as text. Findings outside the changed lines are dropped (and the model
//! told so) unless `--all`.

use std::{
    collections::{BTreeMap, HashMap},
    ops::RangeInclusive,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use lsp_types::{Diagnostic, Url};
use tokio_util::sync::CancellationToken;

use meshls_agent::{
    host::{FileChange, Finding as Seen, Host, Place, Question, Reported, Spot, Symbol},
    model::Message,
    models::Models,
    paths,
    run::{self, Conversation, Ended},
    tools::Tools,
    AgentConfig,
};
use meshls_proxy::{OpenDocument, Servers};

use crate::{
    check::{self, Finding},
    documents::Documents,
    senses::Senses,
};

/// The source of the review's findings, as in the editor.
pub const SOURCE: &str = crate::actions::REVIEW_SOURCE;
/// Bytes of the diff put in the model's request; it reads the rest.
const DIFF_LIMIT: usize = 100_000;

const SYSTEM: &str = "You are meshls's code reviewer, running in CI on a change to the workspace your tools reach. \
Find concrete problems the change brings: bugs, security issues, wrong error handling, races, performance traps, misleading names or docs. \
Read the changed files and what they use; the language servers answer diagnostics, symbols, definition, references and hover. \
Report each problem with report_finding, on the changed lines it is about; findings written as text are not reported. \
Do not report what the language servers' diagnostics already say, nor matters of taste. You cannot change any file. \
When you are done, answer with one line summing up the review.";

/// What the review looks at: per file, the changed lines (from 1), or
/// every line when there is no base to compare with.
#[derive(Debug, Default)]
pub struct Scope {
    /// `None`: the whole of every file is under review.
    pub changed: Option<HashMap<PathBuf, Vec<RangeInclusive<u32>>>>,
    /// The diff, as git prints it, for the model.
    pub diff: String,
}

impl Scope {
    fn covers(&self, path: &Path, lines: RangeInclusive<u32>) -> bool {
        let Some(changed) = &self.changed else {
            return true;
        };
        changed.get(path).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|range| range.start() <= lines.end() && lines.start() <= range.end())
        })
    }
}

/// The scope of a review of `files` against `base`, from git: the lines
/// each file has new since, and whole files git does not track yet.
pub fn scope(root: &Path, base: Option<&str>, files: &[PathBuf]) -> Result<Scope, String> {
    let Some(base) = base else {
        return Ok(Scope::default());
    };
    if files.is_empty() {
        // Nothing of this check changed: nothing to review (an empty
        // pathspec would be the whole repository's diff).
        return Ok(Scope {
            changed: Some(HashMap::new()),
            diff: String::new(),
        });
    }
    let git = |args: &[&str]| check::git(root, args).map_err(|why| format!("--base {base}: {why}"));
    let top = check::repository_top(root).map_err(|why| format!("--base {base}: {why}"))?;
    let names: Vec<String> = files
        .iter()
        .map(|file| paths::relative(root, file))
        .collect();
    // Whatever the user's git config says: a/ and b/ prefixes, paths
    // from the top of the repository.
    let mut args = vec![
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-relative",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "--end-of-options",
        base,
        "--",
    ];
    args.extend(names.iter().map(String::as_str));
    let mut zero = args.clone();
    zero.insert(1, "-U0");
    let mut changed = hunks(&git(&zero)?, &top);
    let mut diff = git(&args)?;
    // New files git does not track are all new.
    let tracked = git(&["ls-files", "-z", "--", "."])?;
    let tracked: std::collections::HashSet<PathBuf> = tracked
        .split('\0')
        .filter(|name| !name.is_empty())
        .map(|name| root.join(name))
        .collect();
    for file in files {
        if !tracked.contains(file) {
            changed.insert(file.clone(), vec![1..=u32::MAX]);
            diff.push_str(&format!(
                "new file, not yet tracked: {}\n",
                paths::relative(root, file)
            ));
        }
    }
    Ok(Scope {
        changed: Some(changed),
        diff,
    })
}

/// Per file, the new side's line ranges of a `git diff -U0`.
fn hunks(diff: &str, top: &Path) -> HashMap<PathBuf, Vec<RangeInclusive<u32>>> {
    let mut out: HashMap<PathBuf, Vec<RangeInclusive<u32>>> = HashMap::new();
    let mut file: Option<PathBuf> = None;
    // Lines of the hunk under way still to come, old side and new: inside
    // a hunk, a line is content whatever it starts with (`+++ x` is an
    // added `++ x`).
    let (mut old_left, mut new_left) = (0u32, 0u32);
    for line in diff.lines() {
        if old_left > 0 || new_left > 0 {
            match line.as_bytes().first() {
                Some(b'-') => old_left = old_left.saturating_sub(1),
                Some(b'+') => new_left = new_left.saturating_sub(1),
                Some(b'\\') => {} // \ No newline at end of file
                _ => {
                    old_left = old_left.saturating_sub(1);
                    new_left = new_left.saturating_sub(1);
                }
            }
            continue;
        }
        if let Some(name) = line.strip_prefix("+++ ") {
            // `b/path`, or /dev/null for a deletion; git ends a name with
            // a space in a tab, and quotes names with unusual characters,
            // whose C-style escapes are undone.
            let name = name.strip_suffix('\t').unwrap_or(name);
            file = name
                .strip_prefix("b/")
                .or_else(|| name.strip_prefix("\"b/").and_then(|n| n.strip_suffix('"')))
                .map(|name| top.join(unquote(name)));
        } else if let Some(hunk) = line.strip_prefix("@@ ") {
            // @@ -a,b +c,d @@: d lines from c (a count left out is 1; 0 is
            // a pure deletion, which marks the line it happened after).
            let side = |sign: char| {
                let part = hunk.split(' ').find_map(|part| part.strip_prefix(sign))?;
                Some(match part.split_once(',') {
                    Some((start, count)) => (start.parse::<u32>().ok()?, count.parse().ok()?),
                    None => (part.parse().ok()?, 1u32),
                })
            };
            let (Some((_, old_count)), Some((start, count))) = (side('-'), side('+')) else {
                continue;
            };
            (old_left, new_left) = (old_count, count);
            let Some(file) = &file else {
                continue;
            };
            let range = if count == 0 {
                start.max(1)..=start.max(1)
            } else {
                start..=start + count - 1
            };
            out.entry(file.clone()).or_default().push(range);
        }
    }
    out
}

/// A path as git prints it quoted: octal escapes are bytes (of UTF-8).
fn unquote(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'\\' && at + 1 < bytes.len() {
            let next = bytes[at + 1];
            let octal = bytes
                .get(at + 1..at + 4)
                .filter(|d| d.iter().all(|d| (b'0'..=b'7').contains(d)));
            if let Some(digits) = octal {
                let value = digits.iter().fold(0u32, |n, d| n * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                at += 4;
                continue;
            }
            out.push(match next {
                b'n' => b'\n',
                b't' => b'\t',
                other => other,
            });
            at += 2;
            continue;
        }
        out.push(bytes[at]);
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The agent's host in a review: the check's language servers and
/// diagnostics, files as they are on disk, no edits, no one to ask.
struct ReviewHost {
    senses: Senses,
    root: PathBuf,
    diagnostics: HashMap<PathBuf, Vec<Diagnostic>>,
    scope: Scope,
    all: bool,
    /// The findings kept, as the check's.
    reported: Mutex<Vec<Finding>>,
}

impl Host for ReviewHost {
    fn open_document(&self, _: &Path) -> Option<(String, i32)> {
        None
    }

    async fn apply(&self, _: FileChange) -> Result<(), String> {
        Err("a review cannot change files".to_owned())
    }

    async fn diagnostics(&self, path: Option<&Path>) -> Vec<Seen> {
        let mut files: Vec<&PathBuf> = self
            .diagnostics
            .keys()
            .filter(|file| path.is_none_or(|path| path == file.as_path()))
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|file| {
                let uri = Url::from_file_path(file).ok()?;
                Some(self.senses.findings(&uri, self.diagnostics[file].clone()))
            })
            .flatten()
            .collect()
    }

    async fn fresh_diagnostics(&self, paths: &[PathBuf]) -> Vec<Seen> {
        // Nothing changes in a review: what the check heard is fresh.
        let mut all = Vec::new();
        for path in paths {
            all.extend(self.diagnostics(Some(path)).await);
        }
        all
    }

    async fn symbols(&self, path: &Path) -> Result<Vec<Symbol>, String> {
        self.senses.symbols(path).await
    }

    async fn workspace_symbols(&self, query: &str) -> Result<Vec<Symbol>, String> {
        self.senses.workspace_symbols(query).await
    }

    async fn definition(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.senses.definition(at).await
    }

    async fn references(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.senses.references(at).await
    }

    async fn hover(&self, at: &Spot) -> Result<Option<String>, String> {
        self.senses.hover(at).await
    }

    async fn approve(&self, _: &Question<'_>) -> bool {
        false
    }

    async fn report(&self, finding: Reported) -> Result<String, String> {
        let name = paths::relative(&self.root, &finding.path);
        let text = std::fs::read_to_string(&finding.path)
            .map_err(|err| format!("cannot read {name}: {err}"))?;
        let lines = text.lines().count().max(1) as u32;
        if finding.line > lines {
            return Err(format!(
                "{name} has only {lines} lines; give the line of the problem"
            ));
        }
        if !self.all
            && !self
                .scope
                .covers(&finding.path, finding.line..=finding.end_line)
        {
            return Ok(format!(
                "not reported: lines {}-{} of {name} are not changed lines under review; report only problems in the change",
                finding.line, finding.end_line
            ));
        }
        self.reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(as_checks(name, &finding, &text));
        Ok("reported".to_owned())
    }
}

/// What `meshls review` needs besides the check.
pub struct Review<'a> {
    pub root: &'a Path,
    pub base: Option<&'a str>,
    pub all: bool,
    pub config: &'a AgentConfig,
    pub scope: Scope,
}

/// Reviews the change with the agent; its findings, or one sentence on
/// why the review could not be done. `step` hears each step.
pub async fn review(
    review: Review<'_>,
    servers: Arc<Servers>,
    documents: &[OpenDocument],
    heard: &HashMap<PathBuf, BTreeMap<String, Vec<Diagnostic>>>,
    mut step: impl FnMut(&run::Progress),
) -> Result<(Vec<Finding>, Option<String>), String> {
    let Review {
        root,
        base,
        all,
        config,
        scope,
    } = review;
    let models = Models::new(config, config.policy(), |variable| {
        std::env::var(variable).ok()
    })
    .map_err(|err| format!("the review could not start: {err}"))?;
    let (docs, _) = Documents::new();
    let host = ReviewHost {
        senses: Senses {
            docs,
            servers,
            root: root.to_path_buf(),
            read_dependencies: config.read_dependencies,
        },
        root: root.to_path_buf(),
        diagnostics: heard
            .iter()
            .map(|(path, by_server)| {
                (
                    path.clone(),
                    by_server.values().flatten().cloned().collect(),
                )
            })
            .collect(),
        scope,
        all,
        reported: Mutex::new(Vec::new()),
    };
    let policy = crate::config::agent_policy(config, true, true);
    let tools = Tools {
        host: &host,
        root,
        policy: &policy,
    };
    let request = request(root, base, documents, &host);
    let mut conversation = Conversation {
        messages: vec![Message::User(request)],
        ..Conversation::default()
    };
    let mut limits = config.limits();
    // Nothing is edited, so nothing to verify.
    limits.verify_rounds = 0;
    let report = run::run(
        &models,
        &tools,
        SYSTEM,
        &mut conversation,
        &limits,
        &CancellationToken::new(),
        |progress| step(&progress),
    )
    .await
    .map_err(|err| format!("the review failed: {err}"))?;
    let unfinished = match report.ended {
        Ended::Answered => None,
        Ended::MaxSteps => Some(format!(
            "the review stopped after {} steps without finishing (raise agent.max_steps); its findings so far are reported",
            report.steps
        )),
        Ended::Budget => Some("the review used up its token budget (agent.token_budget) before finishing; its findings so far are reported".to_owned()),
        Ended::AnswerTooLong => Some("the model's answer hit agent.max_tokens; the findings so far are reported".to_owned()),
        Ended::Cancelled => Some("the review was cancelled".to_owned()),
    };
    let reported = host
        .reported
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok((reported, unfinished))
}

/// What the model is asked: the change (or the files), and what the
/// language servers already said.
fn request(
    root: &Path,
    base: Option<&str>,
    documents: &[OpenDocument],
    host: &ReviewHost,
) -> String {
    let files: Vec<String> = documents
        .iter()
        .filter_map(|doc| doc.uri.to_file_path().ok())
        .map(|path| paths::relative(root, &path))
        .collect();
    let diagnostics: usize = host.diagnostics.values().map(Vec::len).sum();
    let mut request = match base {
        Some(base) => {
            let mut diff = host.scope.diff.clone();
            if diff.len() > DIFF_LIMIT {
                let mut cut = DIFF_LIMIT;
                while !diff.is_char_boundary(cut) {
                    cut -= 1;
                }
                diff.truncate(cut);
                diff.push_str("\n[the diff goes on; read the changed files for the rest]\n");
            }
            format!("Review the change since {base}.\n\n```diff\n{diff}```\n")
        }
        None => format!("Review these files: {}.\n", files.join(", ")),
    };
    request.push_str(&format!(
        "\nThe language servers report {diagnostics} diagnostic(s) in the changed files (the diagnostics tool lists them); do not report those again.\n"
    ));
    request
}

/// A reported finding as the check's, in the file at `path` (relative)
/// whose text is `text`: the whole lines it is about.
fn as_checks(path: String, reported: &Reported, text: &str) -> Finding {
    let end_column = text
        .lines()
        .nth(reported.end_line.saturating_sub(1) as usize)
        .map_or(0, |line| line.encode_utf16().count() as u32);
    let message = match &reported.suggestion {
        Some(suggestion) => format!("{}\nSuggestion: {suggestion}", reported.message),
        None => reported.message.clone(),
    };
    Finding {
        path,
        line: reported.line,
        column: 1,
        end_line: reported.end_line,
        end_column: end_column + 1,
        severity: match reported.severity.as_str() {
            "error" => "error",
            "warning" => "warning",
            _ => "info",
        },
        source: SOURCE.to_owned(),
        code: Some(reported.category.clone()),
        message,
        fingerprint: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{hunks, unquote};

    #[test]
    fn hunks_give_the_new_sides_lines() {
        let diff = "diff --git a/src/a.ts b/src/a.ts\n--- a/src/a.ts\n+++ b/src/a.ts\n@@ -1 +1 @@\n-x\n+y\n@@ -5,0 +6,3 @@\n+a\n+b\n+c\n@@ -9,2 +11,0 @@\n-gone\n-too\n\
                    diff --git a/new.ts b/new.ts\n--- /dev/null\n+++ b/new.ts\n@@ -0,0 +1,2 @@\n+1\n+2\n\
                    --- a/\"caf\\303\\251.ts\"\n+++ \"b/caf\\303\\251.ts\"\n@@ -2 +2 @@\n-a\n+b\n\
                    --- a/my file.ts\t\n+++ b/my file.ts\t\n@@ -1 +1,2 @@\n-++ x\n+++ y\n+z\n@@ -9 +10 @@\n-q\n+r\n";
        let found = hunks(diff, Path::new("/top"));
        assert_eq!(found[Path::new("/top/src/a.ts")], [1..=1, 6..=8, 11..=11]);
        assert_eq!(found[Path::new("/top/new.ts")], [1..=2]);
        assert_eq!(found[Path::new("/top/café.ts")], [2..=2]);
        // A name with a space ends in a tab; an added `++ y` is no header.
        assert_eq!(found[Path::new("/top/my file.ts")], [1..=2, 10..=10]);
        assert_eq!(found.len(), 4);
    }

    #[test]
    fn quoted_names_are_unquoted() {
        assert_eq!(unquote("a\\\"b\\\\c\\303\\251"), "a\"b\\cé");
    }
}
