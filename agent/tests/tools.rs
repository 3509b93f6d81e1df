//! The file tools against a workspace on disk and a host that stands in for
//! the editor: unsaved buffers win over disk, edits go to the host as byte
//! ranges of what was read, and anything not allowed outright is asked.

mod support;

use support::Editor;

use std::path::PathBuf;

use meshls_agent::{
    host::{FileChange, Place, Problem, Reported, Spot, Symbol},
    model::ToolCall,
    permissions::Policy,
    tools::{specs, Outcome, Tools},
};
use serde_json::{json, Value};

/// Runs a tool to completion on a runtime of its own (run_command needs
/// tokio's processes and timers).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    editor: Editor,
    policy: Policy,
}

fn fixture() -> Fixture {
    let (dir, root) = support::workspace(&[
        (".gitignore", "target/\n"),
        (
            "src/main.rs",
            "fn main() {\n    let x = 1;\n    let y = 1;\n}\n",
        ),
        ("src/lib.rs", "pub fn on_disk() {}\n"),
        ("README.md", "# demo\n"),
        ("target/debug/junk.rs", "fn junk() {}\n"),
        (".git/HEAD", "ref: refs/heads/main\n"),
    ]);
    let mut editor = Editor::default();
    // The user has typed in lib.rs without saving.
    editor.open.insert(
        root.join("src/lib.rs"),
        ("pub fn unsaved() {}\npub fn on_disk() {}\n".to_owned(), 7),
    );
    Fixture {
        _dir: dir,
        root,
        editor,
        policy: Policy::default(),
    }
}

impl Fixture {
    fn run(&self, name: &str, arguments: Value) -> Outcome {
        let tools = Tools {
            host: &self.editor,
            root: &self.root,
            policy: &self.policy,
        };
        let call = ToolCall {
            id: "call_1".to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_string(),
        };
        block_on(tools.run(&call))
    }

    fn ok(&self, name: &str, arguments: Value) -> String {
        let outcome = self.run(name, arguments);
        assert!(!outcome.is_error, "{outcome:?}");
        outcome.content
    }

    fn error(&self, name: &str, arguments: Value) -> String {
        let outcome = self.run(name, arguments);
        assert!(outcome.is_error, "{outcome:?}");
        outcome.content
    }

    fn applied(&self) -> Vec<FileChange> {
        self.editor.applied.lock().unwrap().clone()
    }
}

#[test]
fn read_file_reads_what_the_editor_has_with_numbered_lines() {
    let f = fixture();
    assert_eq!(
        f.ok("read_file", json!({"path": "src/lib.rs"})),
        "1\tpub fn unsaved() {}\n2\tpub fn on_disk() {}\n"
    );
    assert_eq!(
        f.ok(
            "read_file",
            json!({"path": "src/main.rs", "offset": 2, "limit": 2})
        ),
        "2\t    let x = 1;\n3\t    let y = 1;\n(lines 2-3 of 4; read on with offset 4)\n"
    );
    assert!(f
        .error("read_file", json!({"path": "src/nope.rs"}))
        .starts_with("cannot read src/nope.rs: "));
    assert!(f
        .error("read_file", json!({"path": "../secret"}))
        .contains("is outside the workspace"));
    assert!(f
        .error("read_file", json!({"path": "src/main.rs", "offset": 9}))
        .contains("past the end"));
    assert_eq!(
        f.error("read_file", json!({"path": 5})),
        "`path` must be a string"
    );
}

#[test]
fn list_files_and_grep_skip_what_gitignore_excludes() {
    let f = fixture();
    assert_eq!(
        f.ok("list_files", json!({})),
        ".gitignore\nREADME.md\nsrc/lib.rs\nsrc/main.rs\n"
    );
    assert_eq!(
        f.ok("list_files", json!({"glob": "**/*.rs"})),
        "src/lib.rs\nsrc/main.rs\n"
    );
    assert_eq!(
        f.ok("list_files", json!({"path": "src"})),
        "src/lib.rs\nsrc/main.rs\n"
    );
    // The unsaved buffer is searched, not the file on disk.
    assert_eq!(f.ok("grep", json!({"pattern": "fn \\w+\\(\\)"})), "src/lib.rs:1: pub fn unsaved() {}\nsrc/lib.rs:2: pub fn on_disk() {}\nsrc/main.rs:1: fn main() {\n");
    assert_eq!(
        f.ok("grep", json!({"pattern": "junk"})),
        "no matches for `junk`"
    );
    assert!(f
        .error("grep", json!({"pattern": "("}))
        .starts_with("`(` is not a regular expression"));
}

#[test]
fn edit_file_replaces_one_exact_match_through_the_editor() {
    let mut f = fixture();
    let lib = f.root.join("src/lib.rs");
    // An open file is edited without asking, at the version that was read.
    assert_eq!(
        f.ok(
            "edit_file",
            json!({"path": "src/lib.rs", "old_string": "unsaved", "new_string": "saved"})
        ),
        "edited src/lib.rs: 1 replacement(s)"
    );
    assert_eq!(
        f.applied(),
        vec![FileChange::Edit {
            path: lib.clone(),
            version: Some(7),
            read: "pub fn unsaved() {}\npub fn on_disk() {}\n".to_owned(),
            replacements: vec![(7..14, "saved".to_owned())],
        }]
    );
    assert!(f.editor.asked.lock().unwrap().is_empty());

    let missing = f.error(
        "edit_file",
        json!({"path": "src/main.rs", "old_string": "let z", "new_string": "let w"}),
    );
    assert!(
        missing.starts_with("old_string was not found in src/main.rs"),
        "{missing}"
    );
    let twice = f.error(
        "edit_file",
        json!({"path": "src/main.rs", "old_string": " = 1;", "new_string": " = 2;"}),
    );
    assert!(
        twice.starts_with("old_string appears 2 times in src/main.rs"),
        "{twice}"
    );

    // A file that is not open asks first; no answer is no.
    let denied = f.error("edit_file", json!({"path": "src/main.rs", "old_string": " = 1;", "new_string": " = 2;", "replace_all": true}));
    assert_eq!(denied, "the user did not allow edit_file on src/main.rs");
    assert_eq!(
        f.editor.asked.lock().unwrap().as_slice(),
        ["Edit src/main.rs"]
    );
    assert_eq!(f.applied().len(), 1);

    f.editor.answers.lock().unwrap().push_back(true);
    f.ok("edit_file", json!({"path": "src/main.rs", "old_string": " = 1;", "new_string": " = 2;", "replace_all": true}));
    let Some(FileChange::Edit {
        version,
        replacements,
        ..
    }) = f.applied().pop()
    else {
        panic!("an edit");
    };
    assert_eq!(version, None);
    assert_eq!(
        replacements,
        vec![(21..26, " = 2;".to_owned()), (36..41, " = 2;".to_owned())]
    );

    f.policy.read_only = true;
    let refused = f.error(
        "edit_file",
        json!({"path": "src/lib.rs", "old_string": "on_disk", "new_string": "x"}),
    );
    assert!(
        refused.starts_with("edit_file on src/lib.rs is not allowed here"),
        "{refused}"
    );
}

#[test]
fn edit_file_refuses_a_match_that_overlaps_another_and_replace_all_takes_the_first() {
    let f = {
        let mut f = fixture();
        let aaa = f.root.join("src/aaa.txt");
        f.editor.open.insert(aaa, ("aaa\nééé\n".to_owned(), 3));
        f
    };
    // "aa" is in "aaa" at 0 and at 1 (found by the fuzz target edit_file):
    // which one the model means is as unclear as with two apart.
    for old in ["aa", "éé"] {
        assert_eq!(
            f.error(
                "edit_file",
                json!({"path": "src/aaa.txt", "old_string": old, "new_string": "b"})
            ),
            "old_string appears more than once in src/aaa.txt, at places that overlap; include more of the surrounding text to pick one"
        );
    }
    assert_eq!(f.applied(), []);
    // replace_all goes left to right as `str::replace` does: of two
    // matches that overlap, the first.
    assert_eq!(
        f.ok(
            "edit_file",
            json!({"path": "src/aaa.txt", "old_string": "éé", "new_string": "e", "replace_all": true})
        ),
        "edited src/aaa.txt: 1 replacement(s)"
    );
    assert_eq!(
        f.applied(),
        [FileChange::Edit {
            path: f.root.join("src/aaa.txt"),
            version: Some(3),
            read: "aaa\nééé\n".to_owned(),
            replacements: vec![(4..8, "e".to_owned())],
        }]
    );
}

#[test]
fn write_file_creates_only_new_files_and_asks_first() {
    let f = fixture();
    assert_eq!(
        f.error("write_file", json!({"path": "src/main.rs", "content": "x"})),
        "src/main.rs exists; change it with edit_file"
    );
    f.editor.answers.lock().unwrap().push_back(true);
    assert_eq!(
        f.ok(
            "write_file",
            json!({"path": "src/new/mod.rs", "content": "pub mod x;\n"})
        ),
        "created src/new/mod.rs"
    );
    assert_eq!(
        f.applied(),
        vec![FileChange::Create {
            path: f.root.join("src/new/mod.rs"),
            content: "pub mod x;\n".to_owned(),
        }]
    );
    assert_eq!(
        f.editor.asked.lock().unwrap().as_slice(),
        ["Create src/new/mod.rs"]
    );
    assert!(f
        .error("write_file", json!({"path": "/tmp/x", "content": ""}))
        .contains("is outside the workspace"));
}

#[test]
fn report_finding_hands_a_checked_finding_to_the_host_only_in_a_review() {
    let mut f = fixture();
    let finding = json!({"path": "src/main.rs", "line": 2, "end_line": 3, "severity": "Warning",
        "category": "Bug", "message": " x and y are the same ", "suggestion": "use one"});
    assert_eq!(
        f.error("report_finding", finding.clone()),
        "there is no tool named report_finding"
    );
    f.policy.review = true;
    f.policy.read_only = true;
    assert_eq!(f.ok("report_finding", finding), "noted");
    assert_eq!(
        *f.editor.reported.lock().unwrap(),
        [Reported {
            path: f.root.join("src/main.rs"),
            line: 2,
            end_line: 3,
            severity: "warning".to_owned(),
            category: "bug".to_owned(),
            message: "x and y are the same".to_owned(),
            suggestion: Some("use one".to_owned()),
        }]
    );
    let base = json!({"path": "src/main.rs", "line": 1, "severity": "error", "category": "bug", "message": "m"});
    let with = |key: &str, value: Value| {
        let mut arguments = base.clone();
        arguments[key] = value;
        arguments
    };
    for (arguments, why) in [
        (
            with("line", json!(0)),
            "`line` must be a line number, from 1",
        ),
        (
            with("severity", json!("fatal")),
            "`severity` must be error, warning or info, not fatal",
        ),
        (
            with("message", json!(" ")),
            "`message` must be a non-empty string",
        ),
        (with("path", json!("../outside.rs")), "outside"),
        (
            with("path", json!("src/missing.rs")),
            "src/missing.rs is not a file of the workspace",
        ),
    ] {
        let said = f.error("report_finding", arguments);
        assert!(said.contains(why), "{said} / {why}");
    }
    let mut no_category = base.clone();
    no_category.as_object_mut().unwrap().remove("category");
    assert_eq!(
        f.error("report_finding", no_category),
        "`category` is required"
    );
    assert_eq!(
        f.editor.reported.lock().unwrap().len(),
        1,
        "none of those reached the host"
    );
    // An end before the start is the start.
    let mut backwards = with("line", json!(3));
    backwards["end_line"] = json!(1);
    f.ok("report_finding", backwards);
    let last = f.editor.reported.lock().unwrap().pop().unwrap();
    assert_eq!((last.line, last.end_line), (3, 3));
}

#[test]
fn the_model_sees_the_writing_tools_only_when_it_may_write() {
    let names = |policy: &Policy| {
        specs(policy)
            .into_iter()
            .map(|spec| spec.name)
            .collect::<Vec<_>>()
    };
    let reading = [
        "read_file",
        "list_files",
        "grep",
        "diagnostics",
        "symbols",
        "definition",
        "references",
        "hover",
    ];
    assert_eq!(
        names(&Policy::default()),
        [&reading[..], &["edit_file", "write_file"]].concat()
    );
    let read_only = Policy {
        read_only: true,
        ..Policy::default()
    };
    assert_eq!(names(&read_only), reading);
    let review = Policy {
        read_only: true,
        review: true,
        ..Policy::default()
    };
    assert_eq!(names(&review), [&reading[..], &["report_finding"]].concat());
    let f = fixture();
    let outcome = f.run("no_such_tool", json!({}));
    assert_eq!(
        outcome,
        Outcome {
            content: "there is no tool named no_such_tool".to_owned(),
            is_error: true
        }
    );
    let bad = ToolCall {
        id: "c".to_owned(),
        name: "read_file".to_owned(),
        arguments: "{\"path\": ".to_owned(),
    };
    let tools = Tools {
        host: &f.editor,
        root: &f.root,
        policy: &f.policy,
    };
    assert!(block_on(tools.run(&bad))
        .content
        .starts_with("the arguments of read_file are not a JSON object"));
}

#[test]
fn the_language_servers_answer_through_the_host_in_the_models_terms() {
    let mut f = fixture();
    let main = f.root.join("src/main.rs");
    let lib = f.root.join("src/lib.rs");
    let spot = |path: &PathBuf, line, column| Spot {
        path: path.clone(),
        line,
        column,
    };
    f.editor.findings = vec![
        Problem {
            at: spot(&main, 2, 8),
            severity: "warning".to_owned(),
            source: "rustc".to_owned(),
            code: "unused_variables".to_owned(),
            message: "unused variable: `x`".to_owned(),
        },
        Problem {
            at: spot(&lib, 1, 0),
            severity: "error".to_owned(),
            source: "rust-analyzer".to_owned(),
            code: String::new(),
            message: "syntax error".to_owned(),
        },
    ];
    f.editor.outline = vec![
        Symbol {
            name: "main".to_owned(),
            kind: "function".to_owned(),
            at: spot(&main, 1, 3),
            depth: 0,
        },
        Symbol {
            name: "x".to_owned(),
            kind: "variable".to_owned(),
            at: spot(&main, 2, 8),
            depth: 1,
        },
    ];
    f.editor.places = vec![
        Place {
            at: spot(&lib, 2, 7),
            line_text: Some("pub fn on_disk() {}".to_owned()),
            outside: false,
        },
        Place {
            at: spot(&main, 3, 4),
            line_text: None,
            outside: false,
        },
    ];
    f.editor.hover = Some("```rust\nfn on_disk()\n```".to_owned());

    assert_eq!(
        f.ok("diagnostics", json!({})),
        "src/main.rs:2:8: warning [rustc unused_variables] unused variable: `x`\nsrc/lib.rs:1:0: error [rust-analyzer] syntax error\n"
    );
    assert_eq!(
        f.ok("diagnostics", json!({"path": "src/lib.rs"})),
        "src/lib.rs:1:0: error [rust-analyzer] syntax error\n"
    );
    assert_eq!(
        f.ok("diagnostics", json!({"path": "README.md"})),
        "no diagnostics"
    );
    assert_eq!(
        f.ok("symbols", json!({"path": "src/main.rs"})),
        "function main (line 1)\n  variable x (line 2)\n"
    );
    assert_eq!(
        f.ok("symbols", json!({"query": "mai"})),
        "src/main.rs:1:3 function main\n"
    );
    assert_eq!(
        f.ok(
            "definition",
            json!({"path": "src/main.rs", "line": 2, "character": 5})
        ),
        "src/lib.rs:2:7: pub fn on_disk() {}\n"
    );
    assert_eq!(
        f.ok(
            "references",
            json!({"path": "src/main.rs", "line": 2, "character": 5})
        ),
        "src/lib.rs:2:7: pub fn on_disk() {}\nsrc/main.rs:3:4\n"
    );
    assert_eq!(
        f.ok(
            "hover",
            json!({"path": "src/main.rs", "line": 2, "character": 5})
        ),
        "```rust\nfn on_disk()\n```"
    );
    assert_eq!(
        f.editor.spots.lock().unwrap().as_slice(),
        [spot(&main, 2, 5), spot(&main, 2, 5), spot(&main, 2, 5)]
    );
    assert_eq!(
        f.error(
            "hover",
            json!({"path": "src/main.rs", "line": 0, "character": 5})
        ),
        "`line` counts from 1, as read_file shows it"
    );
    assert_eq!(
        f.error("definition", json!({"path": "src/main.rs", "line": 2})),
        "`character` must be a whole number"
    );
    assert!(f.error("symbols", json!({})).starts_with("give `path`"));
    // Reading tools run in read-only mode; their paths stay in the workspace.
    f.policy.read_only = true;
    f.ok(
        "references",
        json!({"path": "src/main.rs", "line": 1, "character": 3}),
    );
    assert!(f
        .error(
            "references",
            json!({"path": "../x", "line": 1, "character": 0})
        )
        .contains("is outside the workspace"));
}

#[test]
fn run_command_is_off_unless_enabled_asks_unless_allowed_and_is_bounded() {
    let mut f = fixture();
    assert!(!specs(&f.policy)
        .iter()
        .any(|spec| spec.name == "run_command"));
    let off = f.error("run_command", json!({"command": "echo hi"}));
    assert!(
        off.starts_with("running `echo hi` is not allowed here"),
        "{off}"
    );

    f.policy.run_command = true;
    assert!(specs(&f.policy)
        .iter()
        .any(|spec| spec.name == "run_command"));
    // Asked, and no answer is no: nothing runs.
    let denied = f.error("run_command", json!({"command": "touch ran"}));
    assert_eq!(denied, "the user did not allow running `touch ran`");
    assert!(!f.root.join("ran").exists());
    assert_eq!(
        f.editor.asked.lock().unwrap().as_slice(),
        ["Run `touch ran`"]
    );

    // Approved: it runs in the workspace root, output and exit code back.
    f.editor.answers.lock().unwrap().push_back(true);
    assert_eq!(
        f.ok(
            "run_command",
            json!({"command": "ls src; echo oops >&2; exit 3"})
        ),
        "exit code 3\nlib.rs\nmain.rs\noops\n"
    );

    // An allow rule runs without asking; its output is cut to its end.
    f.policy.rules =
        toml::from_str("run_command = { allow = [\"seq *\", \"sleep *\", \"echo *\"] }").unwrap();
    let long = f.ok("run_command", json!({"command": "seq 1 100000"}));
    assert!(long.starts_with("exit code 0\n(first "), "{}", &long[..80]);
    assert!(long.ends_with("99999\n100000\n"));
    assert!(long.len() < 21_000);

    // The variables holding API keys are not the command's to see. (A
    // variable in a command line is allowed only by a rule naming the line.)
    f.policy.rules =
        toml::from_str("run_command = { allow = [\"sleep *\", \"echo ${HOME:-hidden}\"] }")
            .unwrap();
    f.policy.hidden_env = vec!["HOME".to_owned()];
    assert_eq!(
        f.ok("run_command", json!({"command": "echo ${HOME:-hidden}"})),
        "exit code 0\nhidden\n"
    );

    // Too slow: stopped, with what it started.
    let slow = f.error("run_command", json!({"command": "sleep 30", "timeout": 1}));
    assert_eq!(slow, "`sleep 30` did not finish within 1 s and was stopped");
    assert_eq!(f.editor.asked.lock().unwrap().len(), 2);
}
