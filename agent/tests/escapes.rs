//! Every way out of the workspace, tried on every tool that takes a path:
//! `..`, absolute paths elsewhere, symlinks inside that point out (to a
//! file, to a directory, to something not there yet), and `.git`, read or
//! written. Each must be refused in one sentence before the host hears of
//! it. The user here approves everything and the rules allow every edit,
//! so a refusal is the paths' doing, not the user's; and the host applies
//! changes to disk as an editor does (following symlinks), so an escape
//! would show as a changed file outside.
//!
//! The tools and their path arguments are read from the specs the model
//! is offered, so a new tool (or a new argument) that takes a path fails
//! here until it is added to [`arguments`].

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Mutex,
};

use meshls_agent::{
    host::{FileChange, Host, Place, Problem, Question, Reported, Spot, Symbol},
    model::{ToolCall, ToolSpec},
    outputs,
    permissions::Policy,
    tools::{specs, Outcome, Tools},
};
use serde_json::{json, Value};

/// Text only the files outside the workspace hold: a tool output with it
/// read something it must not.
const OUTSIDE_ONLY: &str = "outside-only-text";
/// A line every file has, so that an edit would apply wherever it lands.
const MARKER: &str = "marker = 1";

/// The most permissive policy: every tool offered, every edit allowed.
fn policy() -> Policy {
    Policy {
        rules: toml::from_str("edit_file = \"allow\"\nwrite_file = \"allow\"\n").unwrap(),
        read_only: false,
        run_command: true,
        review: true,
        hidden_env: Vec::new(),
        protected: Vec::new(),
        read_dependencies: true,
    }
}

/// Every tool the model can be offered, `read_output` included.
fn every_spec() -> Vec<ToolSpec> {
    let mut all = specs(&policy());
    all.push(outputs::spec());
    all
}

/// Whether an argument's name says it is a path (or part of one).
fn path_like(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "path", "file", "dir", "folder", "cwd", "root", "uri", "target", "dest", "location",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// The arguments of a call of `tool` with `path` as its path: the rest
/// filled in so that the call would succeed if the path were fine. `None`
/// for a tool (or argument) this test does not know yet.
fn arguments(tool: &str, argument: &str, path: &str) -> Option<Value> {
    if argument != "path" {
        return None;
    }
    Some(match tool {
        "read_file" | "list_files" | "diagnostics" | "symbols" => json!({"path": path}),
        "grep" => json!({"pattern": "marker|outside", "path": path}),
        "definition" | "references" | "hover" => {
            json!({"path": path, "line": 1, "character": 0})
        }
        "edit_file" => json!({"path": path, "old_string": MARKER, "new_string": "marker = 2"}),
        "write_file" => json!({"path": path, "content": "written\n"}),
        "report_finding" => json!({"path": path, "line": 1, "severity": "error",
            "category": "security", "message": "something"}),
        _ => return None,
    })
}

/// The tools that change files.
const WRITING: &[&str] = &["edit_file", "write_file"];

/// Every path-like argument of every tool: `(tool, argument)`.
fn path_arguments() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for spec in every_spec() {
        let properties = spec.parameters["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for name in properties.keys() {
            if path_like(name) {
                found.push((spec.name.clone(), name.clone()));
            }
        }
    }
    found
}

/// A host that approves everything, applies changes to disk as an editor
/// does, and records every path it is asked about.
#[derive(Default)]
struct Recorder {
    /// Every call, with the path it named.
    seen: Mutex<Vec<(&'static str, PathBuf)>>,
    asked: Mutex<Vec<String>>,
}

impl Recorder {
    fn saw(&self, what: &'static str, path: &Path) {
        self.seen.lock().unwrap().push((what, path.to_path_buf()));
    }

    fn seen(&self) -> Vec<(&'static str, PathBuf)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Host for Recorder {
    fn open_document(&self, path: &Path) -> Option<(String, i32)> {
        self.saw("open_document", path);
        None
    }

    async fn apply(&self, change: FileChange) -> Result<(), String> {
        match change {
            FileChange::Create { path, content } => {
                self.saw("apply", &path);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|err| err.to_string())?;
                }
                std::fs::write(&path, content).map_err(|err| err.to_string())
            }
            FileChange::Edit {
                path,
                read,
                replacements,
                ..
            } => {
                self.saw("apply", &path);
                let mut text = read;
                for (range, new) in replacements.into_iter().rev() {
                    text.replace_range(range, &new);
                }
                std::fs::write(&path, text).map_err(|err| err.to_string())
            }
        }
    }

    async fn diagnostics(&self, path: Option<&Path>) -> Vec<Problem> {
        if let Some(path) = path {
            self.saw("diagnostics", path);
        }
        Vec::new()
    }

    async fn fresh_diagnostics(&self, paths: &[PathBuf]) -> Vec<Problem> {
        for path in paths {
            self.saw("fresh_diagnostics", path);
        }
        Vec::new()
    }

    async fn symbols(&self, path: &Path) -> Result<Vec<Symbol>, String> {
        self.saw("symbols", path);
        Ok(Vec::new())
    }

    async fn workspace_symbols(&self, _: &str) -> Result<Vec<Symbol>, String> {
        Ok(Vec::new())
    }

    async fn definition(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.saw("definition", &at.path);
        Ok(Vec::new())
    }

    async fn references(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.saw("references", &at.path);
        Ok(Vec::new())
    }

    async fn hover(&self, at: &Spot) -> Result<Option<String>, String> {
        self.saw("hover", &at.path);
        Ok(None)
    }

    async fn approve(&self, question: &Question<'_>) -> bool {
        self.asked.lock().unwrap().push(question.action.to_owned());
        true
    }

    async fn report(&self, finding: Reported) -> Result<String, String> {
        self.saw("report", &finding.path);
        Ok("noted".to_owned())
    }
}

/// A workspace `ws/` beside a directory `outside/`, with every kind of
/// link out of it.
struct Fixture {
    _dir: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let root = base.join("ws");
    let write = |path: &str, text: &str| {
        let path = base.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "outside/secret.txt",
        &format!("{MARKER}\n{OUTSIDE_ONLY} in a file\n"),
    );
    write(
        "outside/dir/inner.txt",
        &format!("{MARKER}\n{OUTSIDE_ONLY} in a directory\n"),
    );
    write("ws/src/main.rs", &format!("// {MARKER}\nfn main() {{}}\n"));
    write("ws/.git/HEAD", "ref: refs/heads/main\n");
    write("ws/.git/config", &format!("[core]\n\t{MARKER}\n"));
    write("ws/.git/hooks/pre-commit.sample", "#!/bin/sh\n");
    let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, root.join(name));
    link(&base.join("outside/secret.txt"), "link_file").unwrap();
    link(&base.join("outside"), "link_dir").unwrap();
    // Links to what does not exist yet: writing through them would create
    // a file, or a directory, outside.
    link(&base.join("outside/new.txt"), "dangling").unwrap();
    link(&base.join("outside/later"), "later").unwrap();
    // A relative link that climbs out.
    link(Path::new("../outside/secret.txt"), "relative_link").unwrap();
    // A link inside the workspace, into .git.
    link(&root.join(".git/hooks"), "hooks").unwrap();
    Fixture {
        _dir: dir,
        base,
        root,
    }
}

impl Fixture {
    /// The call's outcome, and the file the run loop would take it to
    /// change (`Tools::target`).
    fn run(&self, host: &Recorder, tool: &str, arguments: &Value) -> (Outcome, Option<PathBuf>) {
        let policy = policy();
        let tools = Tools {
            host,
            root: &self.root,
            policy: &policy,
        };
        let call = ToolCall {
            id: "call_1".to_owned(),
            name: tool.to_owned(),
            arguments: arguments.to_string(),
        };
        let target = tools.target(&call);
        let outcome = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(tools.run(&call));
        (outcome, target)
    }

    /// Every file and link outside the workspace and in `.git`, with what
    /// it holds or points at.
    fn protected(&self) -> BTreeMap<PathBuf, String> {
        let mut all = BTreeMap::new();
        for top in [self.base.join("outside"), self.root.join(".git")] {
            for entry in walk(&top) {
                let meta = std::fs::symlink_metadata(&entry).unwrap();
                let what = if meta.is_symlink() {
                    format!("-> {}", std::fs::read_link(&entry).unwrap().display())
                } else if meta.is_dir() {
                    "dir".to_owned()
                } else {
                    std::fs::read_to_string(&entry).unwrap()
                };
                all.insert(entry, what);
            }
        }
        all
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Why a path is refused.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    /// For every tool: it leads out of the workspace.
    Outside,
    /// For every tool too: it is git's own.
    Git,
}

/// The ways out, `{base}` standing for the directory that holds both the
/// workspace and `outside/`, `{root}` for the workspace.
const ESCAPES: &[(&str, Refusal)] = &[
    ("../outside/secret.txt", Refusal::Outside),
    ("src/../../outside/secret.txt", Refusal::Outside),
    ("..", Refusal::Outside),
    ("{base}/outside/secret.txt", Refusal::Outside),
    ("{base}/outside/brand-new.txt", Refusal::Outside),
    ("{root}/../outside/secret.txt", Refusal::Outside),
    ("/etc/passwd", Refusal::Outside),
    ("/", Refusal::Outside),
    ("link_file", Refusal::Outside),
    ("relative_link", Refusal::Outside),
    ("link_dir", Refusal::Outside),
    ("link_dir/secret.txt", Refusal::Outside),
    ("link_dir/dir/inner.txt", Refusal::Outside),
    ("link_dir/brand-new.txt", Refusal::Outside),
    ("dangling", Refusal::Outside),
    ("later/brand-new.txt", Refusal::Outside),
    (".git/config", Refusal::Git),
    (".git/hooks/pre-commit", Refusal::Git),
    (".git/brand-new/file", Refusal::Git),
    (".git", Refusal::Git),
    ("src/../.git/hooks/post-checkout", Refusal::Git),
    ("{root}/.git/hooks/pre-push", Refusal::Git),
    ("hooks/pre-commit", Refusal::Git),
    ("hooks/pre-commit.sample", Refusal::Git),
    // Case-insensitive file systems (macOS, Windows) take this for .git.
    (".GIT/hooks/pre-commit", Refusal::Git),
];

fn expand(fixture: &Fixture, path: &str) -> String {
    path.replace("{base}", fixture.base.to_str().unwrap())
        .replace("{root}", fixture.root.to_str().unwrap())
}

#[test]
fn every_tool_that_takes_a_path_is_covered_here() {
    let found = path_arguments();
    let names: Vec<&str> = found.iter().map(|(tool, _)| tool.as_str()).collect();
    // The list is what the specs say; a few are known for sure, so that a
    // broken derivation cannot pass by finding nothing.
    for expected in [
        "read_file",
        "list_files",
        "grep",
        "edit_file",
        "write_file",
        "diagnostics",
        "symbols",
        "definition",
        "references",
        "hover",
        "report_finding",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    for (tool, argument) in &found {
        assert!(
            arguments(tool, argument, "x").is_some(),
            "{tool} takes a path in `{argument}`, which escapes.rs does not try: add it to `arguments`"
        );
    }
    // The writing tools are those the policy takes away in read-only mode.
    let read_only = specs(&Policy {
        read_only: true,
        ..policy()
    });
    for spec in specs(&policy()) {
        let writes = !read_only.iter().any(|kept| kept.name == spec.name);
        assert_eq!(
            writes && spec.name != "run_command",
            WRITING.contains(&spec.name.as_str()),
            "{}: update WRITING",
            spec.name
        );
    }
}

#[test]
fn every_way_out_is_refused_by_every_tool_before_the_host_hears_of_it() {
    let mut failures = Vec::new();
    for (tool, argument) in path_arguments() {
        for (given, refusal) in ESCAPES {
            let fixture = fixture();
            let before = fixture.protected();
            let given = expand(&fixture, given);
            let host = Recorder::default();
            let call = arguments(&tool, &argument, &given).unwrap();
            let (outcome, target) = fixture.run(&host, &tool, &call);
            let expected = match refusal {
                Refusal::Outside => "is outside the workspace",
                Refusal::Git => "is git's own",
            };
            let one_sentence = !outcome.content.contains('\n')
                && !outcome.content.trim_end().ends_with('.')
                && !outcome.content.contains(". ");
            let problems: Vec<String> = [
                (!outcome.is_error).then(|| "not an error".to_owned()),
                (!outcome.content.contains(expected)).then(|| format!("does not say {expected:?}")),
                (!one_sentence).then(|| "not one sentence".to_owned()),
                outcome
                    .content
                    .contains(OUTSIDE_ONLY)
                    .then(|| "read what is outside".to_owned()),
                target
                    .map(|target| format!("the run loop takes it to change {}", target.display())),
                (!host.seen().is_empty()).then(|| format!("the host was asked: {:?}", host.seen())),
                (!host.asked.lock().unwrap().is_empty()).then(|| "the user was asked".to_owned()),
                (fixture.protected() != before)
                    .then(|| "a file outside or in .git changed".to_owned()),
                fixture
                    .base
                    .join("outside/new.txt")
                    .exists()
                    .then(|| "a file was created outside".to_owned()),
                fixture
                    .base
                    .join("outside/later")
                    .exists()
                    .then(|| "a directory was created outside".to_owned()),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !problems.is_empty() {
                failures.push(format!(
                    "{tool} {call}: {} (it answered {:?})",
                    problems.join("; "),
                    outcome.content
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} escape(s) not refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn paths_inside_the_workspace_work_relative_or_absolute() {
    for (tool, argument) in path_arguments() {
        // write_file creates: it is given a file that does not exist yet.
        let file = if tool == "write_file" {
            "src/new.rs"
        } else {
            "src/main.rs"
        };
        for given in [file.to_owned(), format!("{{root}}/{file}")] {
            let fixture = fixture();
            let before = fixture.protected();
            let given = expand(&fixture, &given);
            let host = Recorder::default();
            let call = arguments(&tool, &argument, &given).unwrap();
            let (outcome, _) = fixture.run(&host, &tool, &call);
            assert!(!outcome.is_error, "{tool} {call}: {outcome:?}");
            assert!(!outcome.content.contains(OUTSIDE_ONLY), "{tool} {call}");
            let seen = host.seen();
            assert!(
                seen.iter().all(|(_, path)| path == &fixture.root.join(file)
                    || path == &fixture.root.join("src")),
                "{tool} {call}: {seen:?}"
            );
            assert_eq!(fixture.protected(), before, "{tool} {call}");
        }
    }
    // The writes landed where they were meant to.
    let fixture = fixture();
    let host = Recorder::default();
    let edit = arguments("edit_file", "path", "src/main.rs").unwrap();
    assert!(!fixture.run(&host, "edit_file", &edit).0.is_error);
    assert_eq!(
        std::fs::read_to_string(fixture.root.join("src/main.rs")).unwrap(),
        "// marker = 2\nfn main() {}\n"
    );
}

#[test]
fn git_files_are_not_read_by_name_and_walks_skip_them() {
    let fixture = fixture();
    let host = Recorder::default();
    // .git/config can hold credentials in a remote's URL.
    let (read, _) = fixture.run(&host, "read_file", &json!({"path": ".git/config"}));
    assert!(read.is_error, "{}", read.content);
    assert!(!read.content.contains(MARKER), "{}", read.content);
    let (listed, _) = fixture.run(&host, "list_files", &json!({}));
    assert_eq!(listed.content, "src/main.rs\n");
    let (found, _) = fixture.run(&host, "grep", &json!({"pattern": "marker"}));
    assert_eq!(found.content, "src/main.rs:1: // marker = 1\n");
}

#[test]
fn walking_the_workspace_never_follows_a_link_out() {
    let fixture = fixture();
    let host = Recorder::default();
    for arguments in [
        json!({}),
        json!({"glob": "**"}),
        json!({"glob": "../**"}),
        json!({"glob": "link_dir/**"}),
        json!({"glob": "{base}/outside/**"}),
        json!({"path": "src", "glob": "../../**"}),
    ] {
        let arguments: Value =
            serde_json::from_str(&expand(&fixture, &arguments.to_string())).unwrap();
        let (listed, _) = fixture.run(&host, "list_files", &arguments);
        assert!(
            listed.content == "src/main.rs\n" || listed.content == "no files",
            "list_files {arguments}: {listed:?}"
        );
        let mut search = arguments.clone();
        search["pattern"] = json!("outside|marker");
        let (found, _) = fixture.run(&host, "grep", &search);
        assert!(
            !found.content.contains(OUTSIDE_ONLY) && !found.content.contains("link"),
            "grep {search}: {found:?}"
        );
    }
    // Globs are the other path-like argument: every tool with one was
    // tried above.
    let with_glob: Vec<String> = every_spec()
        .into_iter()
        .filter(|spec| spec.parameters["properties"].get("glob").is_some())
        .map(|spec| spec.name)
        .collect();
    assert_eq!(with_glob, ["list_files", "grep"]);
}

#[test]
fn a_link_swapped_between_the_check_and_the_open_is_never_followed_out() {
    // While the agent reads `swap` again and again, another thread points
    // it now at a file inside, now at one outside (each change one atomic
    // rename). What was checked must be what is read: the file inside, or
    // a refusal, never the outside file's text.
    let f = fixture();
    std::fs::write(f.root.join("inside.txt"), "inside\n").unwrap();
    let (to_inside, to_outside) = (f.root.join(".in"), f.root.join(".out"));
    let swap = f.root.join("swap");
    std::os::unix::fs::symlink("inside.txt", &swap).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, swap, outside) = (
            stop.clone(),
            swap.clone(),
            f.base.join("outside/secret.txt"),
        );
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::os::unix::fs::symlink("inside.txt", &to_inside);
                let _ = std::fs::rename(&to_inside, &swap);
                let _ = std::os::unix::fs::symlink(&outside, &to_outside);
                let _ = std::fs::rename(&to_outside, &swap);
            }
        })
    };
    let host = Recorder::default();
    let policy = policy();
    let tools = Tools {
        host: &host,
        root: &f.root,
        policy: &policy,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut inside, mut refused, mut leaked) = (0, 0, Vec::new());
    for n in 0..4000 {
        let call = ToolCall {
            id: format!("call_{n}"),
            name: "read_file".to_owned(),
            arguments: json!({"path": "swap"}).to_string(),
        };
        let outcome = runtime.block_on(tools.run(&call));
        if outcome.content.contains(OUTSIDE_ONLY) {
            leaked.push(outcome.content);
        } else if outcome.is_error {
            refused += 1;
        } else {
            assert_eq!(outcome.content, "1\tinside\n");
            inside += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    assert!(
        leaked.is_empty(),
        "{} of 4000 reads got the outside file",
        leaked.len()
    );
    // The race was run: both outcomes happened.
    assert!(
        inside > 0 && refused > 0,
        "inside {inside}, refused {refused}"
    );
}
