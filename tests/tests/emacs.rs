//! meshls in a real editor: Emacs with eglot, in batch, runs
//! `tests/editors/emacs/fix-with-agent.el`, which opens a TypeScript file
//! the way a user does, picks "Fix with agent" from `eglot-code-actions`
//! and shuts eglot down. Behind meshls are the real
//! typescript-language-server and a scripted model; the script writes what
//! it saw as JSON, and this test asserts on it.

use std::{
    fs::{self, File},
    io::ErrorKind,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use meshls_e2e::{
    meshls_bin,
    model_server::{text_answer, ModelServer},
    path_with_node_servers,
    type_error::{fix_main, read_main, PROJECT},
    Workspace,
};
use serde_json::Value;

/// The script waits at most 60 s for each of its steps; this only stops a
/// wedged Emacs from hanging the test run.
const EMACS_TIMEOUT: Duration = Duration::from_secs(300);
/// How long meshls and its language servers may take to go after Emacs
/// has exited: a guard, not a measure.
const GONE_TIMEOUT: Duration = Duration::from_secs(15);
const INSTALL: &str = "install Debian's emacs-nox and elpa-eglot (tests/run.sh installs them)";

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("editors/emacs")
        .join(name)
}

/// What Emacs did: its exit status, stderr, and the script's result file.
struct EmacsRun {
    status: ExitStatus,
    stderr: String,
    result: Value,
}

/// Runs `emacs --batch -Q -l SCRIPT` in the workspace, with meshls's
/// environment (servers on PATH, the workspace's XDG directories) and a
/// home of its own.
fn run_emacs(ws: &Workspace, script: &Path, file: &str) -> EmacsRun {
    let home = ws.temp_dir().join("home");
    fs::create_dir_all(&home).unwrap();
    let result_path = ws.temp_dir().join("emacs-result.json");
    let stdout_path = ws.temp_dir().join("emacs-stdout.txt");
    let stderr_path = ws.temp_dir().join("emacs-stderr.txt");
    let spawned = Command::new("emacs")
        .args(["--batch", "-Q", "-l"])
        .arg(script)
        .current_dir(ws.root())
        .env("PATH", path_with_node_servers())
        .env("XDG_CONFIG_HOME", ws.config_home())
        .env("XDG_DATA_HOME", ws.data_home())
        .env("HOME", &home)
        .env("TMPDIR", ws.tmp())
        .env("MESHLS_TEST_BIN", meshls_bin())
        .env("MESHLS_TEST_FILE", ws.path(file))
        .env("MESHLS_TEST_RESULT", &result_path)
        // A prompt that reads stdin gets end of file, not a hang.
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn();
    let mut emacs = match spawned {
        Ok(emacs) => emacs,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            panic!("emacs is not on PATH: {INSTALL}")
        }
        Err(err) => panic!("cannot start emacs: {err}"),
    };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = emacs.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > EMACS_TIMEOUT {
            let _ = emacs.kill();
            let _ = emacs.wait();
            panic!(
                "emacs did not finish in {EMACS_TIMEOUT:?}; its stderr:\n{}",
                fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(100));
    };
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default()
        + &fs::read_to_string(&stdout_path).unwrap_or_default();
    assert_ne!(
        status.code(),
        Some(3),
        "eglot cannot be loaded: {INSTALL}\n{stderr}"
    );
    let result = match fs::read_to_string(&result_path) {
        Ok(text) => serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("the result file is not JSON ({err}):\n{text}")),
        Err(err) => panic!("emacs ({status}) wrote no result ({err}); its stderr:\n{stderr}"),
    };
    EmacsRun {
        status,
        stderr,
        result,
    }
}

/// Whether `pid` is still a live process running `args` (a pid reused by
/// something else, or a zombie, does not count).
fn alive(pid: u64, args: &str) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses.
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    if state.is_some_and(|rest| rest.starts_with('Z')) {
        return false;
    }
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    // Emacs shows the arguments joined by spaces.
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    cmdline.split_whitespace().eq(args.split_whitespace())
}

/// Texts of the diagnostics the script saw under `key`.
fn texts<'a>(result: &'a Value, key: &str) -> Vec<&'a str> {
    result[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {result:#}"))
        .iter()
        .map(|text| text.as_str().unwrap())
        .collect()
}

#[test]
fn eglot_fixes_a_real_type_error_with_the_agent_from_its_code_actions() {
    let ws = Workspace::new(PROJECT);
    // The project eglot finds, and so the root meshls gets, is the git
    // repository: without one it would be the file's own directory.
    ws.git(&["init", "-q"]);
    let model = ModelServer::start(vec![read_main(), fix_main(), text_answer("Fixed.")]);
    ws.use_model(&format!("{}/v1", model.url()), "");

    let run = run_emacs(&ws, &script("fix-with-agent.el"), "src/main.ts");
    let result = &run.result;
    assert!(
        run.status.success(),
        "emacs: {}\n{:#}\nstderr:\n{}",
        run.status,
        result,
        run.stderr
    );

    // eglot connected to meshls for the TypeScript buffer, under the
    // language id meshls knows.
    assert_eq!(result["major_mode"], "meshls-test-ts-mode", "{result:#}");
    assert_eq!(result["server_name"], "meshls", "{result:#}");
    assert_eq!(result["language_id"], "typescript", "{result:#}");

    // The workspace is not trusted: meshls asked once, in eglot's prompt,
    // and this user said not now (its TypeScript runs in safe mode).
    assert_eq!(
        result["trust_question"],
        serde_json::json!(["Trust", "Not now"]),
        "{result:#}"
    );

    // meshls.status, run the way editors/emacs.md shows, names the server
    // behind meshls; asked quietly, it showed nothing (checked below).
    assert_eq!(
        texts(result, "status_servers"),
        ["typescript-language-server running"]
    );

    // TypeScript's error reached Flymake, as eglot shows it.
    let before = texts(result, "diagnostics_before");
    assert!(
        before.contains(&"typescript [2322]: Type 'number' is not assignable to type 'string'."),
        "{before:?}"
    );

    // eglot-code-actions offered meshls's actions with TypeScript's; the
    // script picked the fix and meshls started a run.
    let actions = texts(result, "actions");
    assert!(
        actions.iter().any(|title| title
            .starts_with("Fix with agent: Type 'number' is not assignable to type 'string'")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"Review this file with agent"),
        "{actions:?}"
    );
    assert!(
        result["run_started"]["token"].is_string() && result["run_started"]["session"].is_string(),
        "{result:#}"
    );

    // The model was asked to fix that error, and read the buffer's text.
    let received = model.received();
    assert_eq!(received.len(), 3, "{received:#?}");
    let request = received[0].body["messages"][1]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(
        request.starts_with("Fix this problem in src/main.ts at line 1: Type 'number' is not assignable to type 'string'. [typescript 2322]"),
        "{request}"
    );
    assert_eq!(
        received[1].body["messages"][3]["content"],
        "1\tconst label: string = 42;\n2\texport const text = label.toUpperCase();\n"
    );

    // eglot applied the edit to the buffer, unsaved; the file on disk is
    // untouched.
    assert_eq!(
        result["buffer_text"],
        "const label: string = \"42\";\nexport const text = label.toUpperCase();\n"
    );
    assert_eq!(result["buffer_modified"], true);
    assert_eq!(
        ws.read("src/main.ts"),
        "const label: string = 42;\nexport const text = label.toUpperCase();\n"
    );
    // TypeScript, told of the change by eglot, took the error back.
    let after = texts(result, "diagnostics_after");
    assert!(
        !after.iter().any(|text| text.contains("not assignable")),
        "{after:?}"
    );

    // The answer was shown; the settings eglot sent were taken.
    let messages = texts(result, "messages");
    assert!(
        messages.contains(
            &"meshls agent: Fixed.\n(Changed src/main.ts: undo the whole run with meshls.undoRun.)"
        ),
        "{messages:?}"
    );
    assert!(
        !messages
            .iter()
            .any(|m| m.contains("editor settings") || m.starts_with("meshls language servers")),
        "{messages:?}"
    );

    // After eglot-shutdown, neither meshls nor anything it started is left.
    let tree: Vec<(u64, String)> = result["server_tree"]
        .as_array()
        .expect("meshls's processes")
        .iter()
        .map(|process| {
            (
                process["pid"].as_u64().unwrap(),
                process["args"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        tree.first().map(|(pid, _)| *pid),
        result["server_pid"].as_u64(),
        "meshls heads its process tree: {tree:?}"
    );
    assert!(
        tree.iter()
            .any(|(_, args)| args.contains("typescript-language-server")),
        "typescript-language-server ran under meshls: {tree:?}"
    );
    let deadline = Instant::now() + GONE_TIMEOUT;
    loop {
        let left: Vec<&(u64, String)> = tree
            .iter()
            .filter(|(pid, args)| alive(*pid, args))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running {GONE_TIMEOUT:?} after emacs exited: {left:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    // eglot 1.9 kills the process right after `exit` (jsonrpc.el does not
    // wait for it), so how meshls ended says nothing; that the shutdown
    // request was answered does.
    assert_ne!(result["server_status"], "run", "{result:#}");
    assert_eq!(
        result["shutdown_error"],
        Value::Null,
        "eglot-shutdown failed: eglot sends `\"params\": null` with shutdown and exit, which meshls must take as no params"
    );
}

/// Emacs users often edit TypeScript in the built-in `js-mode`, and eglot
/// names the language after the major mode (`js`); Emacs 29's tree-sitter
/// modes send `typescript-ts`, `rust-ts`. With no `:language-id` in the
/// user's configuration, meshls routes the file by its extension.
#[test]
fn eglot_with_a_ts_file_in_js_mode_gets_typescripts_diagnostics() {
    let ws = Workspace::new(PROJECT);
    ws.git(&["init", "-q"]);

    let run = run_emacs(&ws, &script("js-mode-typescript.el"), "src/main.ts");
    let result = &run.result;
    assert!(
        run.status.success(),
        "emacs: {}\n{:#}\nstderr:\n{}",
        run.status,
        result,
        run.stderr
    );
    assert_eq!(result["major_mode"], "js-mode", "{result:#}");
    assert_eq!(result["server_name"], "meshls", "{result:#}");
    // What eglot sent, unchanged by any configuration.
    assert_eq!(result["language_id"], "js", "{result:#}");
    let diagnostics = texts(result, "diagnostics");
    assert!(
        diagnostics
            .contains(&"typescript [2322]: Type 'number' is not assignable to type 'string'."),
        "{diagnostics:?}"
    );
    assert_eq!(result["shutdown_error"], Value::Null, "{result:#}");
}
