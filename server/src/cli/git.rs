//! What git says of the workspace: the repository it is in, the files
//! changed since a revision (for `--base`), and the lines a review looks
//! at (the new side of `git diff -U0`).

use std::{
    collections::{HashMap, HashSet},
    ops::RangeInclusive,
    path::{Path, PathBuf},
};

use meshls_agent::paths;

use crate::agent::review_host::Scope;

/// Runs git in `root`: what it printed, or why it failed.
pub fn git(root: &Path, args: &[&str]) -> Result<String, String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|err| format!("git did not run: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The top of the git repository `root` is in.
pub fn repository_top(root: &Path) -> Result<PathBuf, String> {
    let top = PathBuf::from(git(root, &["rev-parse", "--show-toplevel"])?.trim());
    Ok(top.canonicalize().unwrap_or(top))
}

/// The git repository the workspace is in.
pub struct Repository {
    pub top: PathBuf,
    /// The workspace's path from `top`, "" when it is the top.
    prefix: String,
}

impl Repository {
    /// `None` outside a repository.
    pub fn of(root: &Path) -> Option<Repository> {
        let top = repository_top(root)
            .ok()
            .filter(|top| root.starts_with(top))?;
        let prefix = if top == root {
            String::new()
        } else {
            paths::relative(&top, root)
        };
        Some(Repository { top, prefix })
    }

    /// A workspace-relative path as a path in the repository.
    pub fn path(&self, relative: &str) -> String {
        if self.prefix.is_empty() {
            relative.to_owned()
        } else {
            format!("{}/{relative}", self.prefix)
        }
    }
}

/// The files changed since `base`: in commits since, in the working tree,
/// and new files git does not ignore; deleted ones are left out.
pub fn changed_since(root: &Path, base: &str) -> Result<HashSet<PathBuf>, String> {
    let git = |args: &[&str]| git(root, args).map_err(|why| format!("--base {base}: {why}"));
    // Paths git prints are relative to the top of the repository.
    let top = repository_top(root).map_err(|why| format!("--base {base}: {why}"))?;
    // NUL-separated: names with spaces or non-ASCII letters come as they are.
    let changed = git(&[
        "diff",
        "-z",
        "--name-only",
        "--diff-filter=d",
        "--end-of-options",
        base,
        "--",
    ])?;
    let new = git(&["ls-files", "-z", "--others", "--exclude-standard"])?;
    Ok(changed
        .split('\0')
        .filter(|name| !name.is_empty())
        .map(|name| top.join(name))
        .chain(
            new.split('\0')
                .filter(|name| !name.is_empty())
                .map(|name| root.join(name)),
        )
        .collect())
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
    let git = |args: &[&str]| git(root, args).map_err(|why| format!("--base {base}: {why}"));
    let top = repository_top(root).map_err(|why| format!("--base {base}: {why}"))?;
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
