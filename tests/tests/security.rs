//! Security checks, end to end with the real binary and a scripted model:
//! the API key goes into the request header and nowhere else (not the
//! log, stderr, the frames meshls writes to the editor, nor any file it
//! writes), even when the provider's errors echo it back; a review never
//! writes, whatever tools the model calls; and a command the user has not
//! allowed never runs.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::Output,
    time::Duration,
};

use meshls_e2e::{
    model_server::{openai_sse, text_answer, tool_call, ModelServer, Received, Reply},
    Server, Workspace,
};
use serde_json::{json, Value};

/// The key, distinctive enough that finding it anywhere is a leak.
const KEY: &str = "sk-meshls-test-SECRET-7f3a9c2e5b81d046";
/// The variable the config names.
const VARIABLE: &str = "MESHLS_TEST_API_KEY";
/// What would give the key away: the key, its secret part alone (a
/// provider that masks the start), and the header lines that carry it.
const SECRETS: &[&str] = &[
    KEY,
    "SECRET-7f3a9c2e5b81d046",
    "Bearer sk-meshls",
    "x-api-key: sk-meshls",
];

/// The secrets found in `bytes`.
fn leaked(bytes: &[u8]) -> Vec<&'static str> {
    SECRETS
        .iter()
        .copied()
        .filter(|secret| {
            bytes
                .windows(secret.len())
                .any(|window| window.eq_ignore_ascii_case(secret.as_bytes()))
        })
        .collect()
}

/// Every file under `dir` (links not followed), with its bytes.
fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => files.extend(files_under(&path)),
            Ok(kind) if kind.is_file() => {
                let bytes = std::fs::read(&path).unwrap_or_default();
                files.insert(path, bytes);
            }
            _ => {}
        }
    }
    files
}

/// A provider's error that echoes the key back, as a broken gateway or a
/// careless proxy might: in the message, in a field, and in a header.
fn echoing_openai_error(status: u16) -> Reply {
    Reply::json(
        status,
        json!({"error": {
            "message": format!("Incorrect API key provided: {KEY}. You sent Authorization: Bearer {KEY}"),
            "type": "invalid_request_error",
            "param": KEY,
            "code": format!("invalid_api_key {KEY}")}}),
    )
    .header("x-echo-authorization", &format!("Bearer {KEY}"))
}

fn echoing_anthropic_error(status: u16) -> Reply {
    Reply::json(
        status,
        json!({"type": "error", "error": {
            "type": "authentication_error",
            "message": format!("invalid x-api-key: {KEY}")}}),
    )
    .header("x-echo-api-key", KEY)
}

/// The same echo as an error event in the middle of a 200 stream.
fn echoing_openai_stream() -> Reply {
    let error = json!({"error": {"message": format!("the key {KEY} was revoked"), "type": "invalid_request_error"}});
    Reply::sse(&format!("data: {error}\n\n"), 16)
}

fn echoing_anthropic_stream() -> Reply {
    let error = json!({"type": "error", "error": {"type": "authentication_error", "message": format!("x-api-key: {KEY} is not valid")}});
    Reply::sse(&format!("event: error\ndata: {error}\n\n"), 16)
}

const LIB: &str = "// the answer\npub fn answer() -> u32 {\n    41\n}\n";

/// Where meshls's logs go in a scenario.
#[derive(Clone, Copy, PartialEq)]
enum Logs {
    File,
    Stderr,
}

/// Runs the agent three times in the editor, with every log at trace
/// level: once to a fix, once into a rate limit and an error status that
/// echo the key, once into an error event that echoes it. Then looks for
/// the key everywhere meshls writes.
fn the_key_stays_in_the_request_header(logs: Logs) {
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    let model = ModelServer::start(vec![
        // 1: a fix.
        tool_call("c1", "read_file", json!({"path": "src/lib.rs"})),
        tool_call(
            "c2",
            "edit_file",
            json!({"path": "src/lib.rs", "old_string": "41", "new_string": "42"}),
        ),
        text_answer("The answer is 42 now."),
        // 2: 429, retried; 401; then the fallback's 401.
        echoing_openai_error(429).header("retry-after", "0"),
        echoing_openai_error(401),
        echoing_anthropic_error(401),
        // 3: an error event in each stream.
        echoing_openai_stream(),
        echoing_anthropic_stream(),
    ]);
    ws.write_user_config(&format!(
        "[agent]\nprovider = \"openai\"\nmodel = \"scripted\"\nbase_url = \"{url}/v1\"\napi_key_env = \"{VARIABLE}\"\nretries = 1\n\
         [[agent.fallback]]\nprovider = \"anthropic\"\nmodel = \"scripted-claude\"\nbase_url = \"{url}\"\napi_key_env = \"{VARIABLE}\"\n",
        url = model.url()
    ));
    let log_file = ws.temp_dir().join("meshls.log");
    let mut builder = Server::builder(&ws)
        // No language server starts: only meshls and the model.
        .env("PATH", "/usr/bin:/bin")
        .env(VARIABLE, KEY)
        .env("MESHLS_LOG", "trace");
    if logs == Logs::File {
        builder = builder.args(&["--log-file", log_file.to_str().unwrap(), "serve", "--stdio"]);
    }
    let (mut server, _) = builder.start_initialized();
    server.apply_edits();
    let lib = ws.uri("src/lib.rs");
    server.open(&lib, "rust", LIB);
    let ends: Vec<String> = ["Make it 42.", "Try again.", "Once more."]
        .into_iter()
        .map(|instruction| ask(&mut server, &ws, instruction))
        .collect();
    server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.status"}),
        )
        .unwrap();
    // The runs did what was scripted, so there was something to leak.
    assert_eq!(server.document(&lib).unwrap().0, LIB.replace("41", "42"));
    assert!(ends[0].contains("done"), "{ends:?}");
    assert!(
        ends[1].contains("failed") && ends[2].contains("failed"),
        "{ends:?}"
    );
    // Each failure was told the user, in words that tempt a leak.
    let told: Vec<String> = (0..2)
        .map(|_| {
            let shown = server.wait_notification("window/showMessage", |p| p["type"] == 1);
            shown["message"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(told[0].contains("HTTP 401"), "{told:?}");
    assert!(told[1].contains("revoked"), "{told:?}");
    let stderr = shut_down(&mut server);
    let frames: Vec<String> = server.messages().iter().map(Value::to_string).collect();
    match logs {
        Logs::File => {
            let log = std::fs::read_to_string(&log_file).unwrap();
            assert!(log.contains("TRACE"), "the log is at trace level");
            assert!(log.contains("HTTP 401"), "the errors were logged: {log}");
        }
        Logs::Stderr => {
            assert!(stderr.contains("TRACE"), "the log is at trace level");
            assert!(
                stderr.contains("HTTP 401"),
                "the errors were logged: {stderr}"
            );
        }
    }

    // The key went to the model, in the header of each provider, where it
    // belongs.
    let received = model.received();
    assert_eq!(received.len(), 8, "{received:#?}");
    let header = |request: &Received, name: &str| request.header(name).map(str::to_owned);
    assert_eq!(
        header(&received[0], "authorization"),
        Some(format!("Bearer {KEY}"))
    );
    assert_eq!(header(&received[5], "x-api-key"), Some(KEY.to_owned()));
    assert_eq!(header(&received[7], "x-api-key"), Some(KEY.to_owned()));

    // And nowhere else.
    let mut found = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        for secret in leaked(frame.as_bytes()) {
            found.push(format!("frame {i} to the editor holds {secret}: {frame}"));
        }
    }
    for secret in leaked(stderr.as_bytes()) {
        found.push(format!("stderr holds {secret}"));
    }
    // Every file meshls may have written: the log, the database, the
    // workspace (answers, .meshls).
    let files = files_under(ws.temp_dir());
    let database: Vec<&PathBuf> = files
        .keys()
        .filter(|path| path.starts_with(ws.data_home()))
        .collect();
    assert!(
        database.iter().any(|path| path.ends_with("conf")),
        "the sled database is under the data directory: {database:?}"
    );
    let stored: Vec<u8> = files
        .iter()
        .filter(|(path, _)| path.starts_with(ws.data_home()))
        .flat_map(|(_, bytes)| bytes.clone())
        .collect();
    assert!(
        contains(&stored, "Make it 42.") && contains(&stored, "edit_file"),
        "the session is in the database, in plain bytes, so a key there would be found"
    );
    for (path, bytes) in &files {
        for secret in leaked(bytes) {
            found.push(format!("{} holds {secret}", path.display()));
        }
    }
    assert!(found.is_empty(), "the key leaked:\n{}", found.join("\n"));
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Shuts meshls down and waits for it to exit; everything it wrote to
/// stderr, to the end.
fn shut_down(server: &mut Server) -> String {
    assert_eq!(server.request("shutdown", Value::Null), Ok(Value::Null));
    server.notify("exit", Value::Null);
    let status = server
        .exit_status_within(Duration::from_secs(10))
        .expect("meshls exits after `exit`");
    assert!(status.success(), "{status}");
    // The reader thread drains the pipe to its end: wait until nothing
    // more comes.
    let mut stderr = server.stderr();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = server.stderr();
        if now.len() == stderr.len() {
            break;
        }
        stderr = now;
    }
    stderr
}

#[test]
fn the_api_key_reaches_only_the_model_with_logs_in_a_file() {
    the_key_stays_in_the_request_header(Logs::File);
}

#[test]
fn the_api_key_reaches_only_the_model_with_logs_on_stderr() {
    the_key_stays_in_the_request_header(Logs::Stderr);
}

/// The model's turn that calls every one of `calls` (`(id, tool,
/// arguments)`) at once.
fn calls(calls: &[(&str, &str, Value)]) -> Reply {
    let arguments: Vec<String> = calls.iter().map(|(_, _, a)| a.to_string()).collect();
    let calls: Vec<(&str, &str, &str)> = calls
        .iter()
        .zip(&arguments)
        .map(|((id, name, _), arguments)| (*id, *name, arguments.as_str()))
        .collect();
    Reply::sse(&openai_sse("", &calls, (100, 10)), 64)
}

/// What the model was told of each tool call, by call id, in a request.
fn tool_results(request: &Received) -> BTreeMap<String, String> {
    request.tool_results().into_iter().collect()
}

/// The names of the tools a request offered.
fn offered(request: &Received) -> Vec<String> {
    request.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Every file of the tree under `dir`, `.git` included, with its bytes
/// (or a link's target); but git's index, a cache git itself may refresh
/// while meshls asks it for the diff.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.ends_with(".git/index") {
            continue;
        }
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            all.insert(path, target.into_os_string().into_encoded_bytes());
        } else if kind.is_dir() {
            all.insert(path.clone(), b"dir".to_vec());
            all.extend(tree(&path));
        } else {
            all.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    all
}

fn review(ws: &Workspace) -> Output {
    ws.meshls("/usr/bin:/bin")
        .args(["review", "--base", "HEAD", "--all", "--root"])
        .arg(ws.root())
        .output()
        .expect("meshls runs")
}

#[test]
fn a_review_writes_nothing_whatever_the_model_calls_and_the_config_allows() {
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    ws.git(&["init", "-q"]);
    ws.git(&["add", "."]);
    ws.git(&["commit", "-q", "-m", "start"]);
    ws.write("src/lib.rs", &LIB.replace("41", "40"));
    let model = ModelServer::start(vec![
        calls(&[
            (
                "c1",
                "edit_file",
                json!({"path": "src/lib.rs", "old_string": "40", "new_string": "42"}),
            ),
            // A write into git's hooks would run at the next commit.
            (
                "c2",
                "write_file",
                json!({"path": "src/new.rs", "content": "pub fn new() {}\n"}),
            ),
            (
                "c3",
                "write_file",
                json!({"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\ntouch pwned\n"}),
            ),
            ("c4", "run_command", json!({"command": "touch ran.txt"})),
        ]),
        text_answer("Nothing to report."),
    ]);
    // The user's own config allows every change and every command: a
    // review still only reads.
    ws.use_model(
        &format!("{}/v1", model.url()),
        "run_command = true\n[agent.permissions]\nedit_file = \"allow\"\nwrite_file = \"allow\"\nrun_command = \"allow\"\n",
    );
    let before = tree(ws.root());
    let out = review(&ws);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(tree(ws.root()), before, "the review changed the workspace");

    let received = model.received();
    assert_eq!(received.len(), 2, "{received:#?}");
    let tools = offered(&received[0]);
    assert!(tools.contains(&"read_file".to_owned()), "{tools:?}");
    for writing in ["edit_file", "write_file", "run_command"] {
        assert!(
            !tools.contains(&writing.to_owned()),
            "{writing} offered: {tools:?}"
        );
    }
    let results = tool_results(&received[1]);
    assert_eq!(
        results["c1"],
        "edit_file on src/lib.rs is not allowed here ([agent.permissions] in meshls.toml, or read-only mode)"
    );
    assert_eq!(
        results["c2"],
        "write_file on src/new.rs is not allowed here ([agent.permissions] in meshls.toml, or read-only mode)"
    );
    assert!(results["c3"].contains("git's own"), "{results:?}");
    assert!(
        results["c4"].starts_with("running `touch ran.txt` is not allowed here"),
        "{results:?}"
    );
}

/// What a model that tries to change things calls.
fn tries_to_write() -> Reply {
    calls(&[
        (
            "c1",
            "edit_file",
            json!({"path": "src/lib.rs", "old_string": "41", "new_string": "42"}),
        ),
        (
            "c2",
            "write_file",
            json!({"path": "src/new.rs", "content": "pub fn new() {}\n"}),
        ),
        ("c3", "run_command", json!({"command": "touch ran.txt"})),
    ])
}

#[test]
fn a_review_in_the_editor_sends_no_edit_and_asks_nothing_whatever_the_model_calls() {
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    let model = ModelServer::start(vec![tries_to_write(), text_answer("no findings")]);
    ws.use_model(
        &format!("{}/v1", model.url()),
        "run_command = true\n[agent.permissions]\nedit_file = \"allow\"\nwrite_file = \"allow\"\nrun_command = \"allow\"\n",
    );
    let before = tree(ws.root());
    let mut server = editor(&ws, Some("Allow"));
    let started = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.review", "arguments": [ws.uri("src/lib.rs")]}),
        )
        .unwrap();
    let token = started["token"].as_str().unwrap().to_owned();
    server.wait_notification("$/progress", |p| {
        p["token"] == token && p["value"]["kind"] == "end"
    });
    let sent: Vec<Value> = server
        .messages()
        .into_iter()
        .filter(|m| {
            m["method"] == "workspace/applyEdit" || m["method"] == "window/showMessageRequest"
        })
        .collect();
    assert_eq!(
        sent,
        Vec::<Value>::new(),
        "a review changes nothing, asks nothing"
    );
    assert_eq!(
        server.document(&ws.uri("src/lib.rs")).unwrap(),
        (LIB.to_owned(), 1)
    );
    shut_down(&mut server);
    assert_eq!(tree(ws.root()), before, "the review changed the workspace");
    let received = model.received();
    for writing in ["edit_file", "write_file", "run_command"] {
        assert!(!offered(&received[0]).contains(&writing.to_owned()));
    }
    let results = tool_results(&received[1]);
    assert_eq!(results.len(), 3, "{results:?}");
    for (id, result) in &results {
        assert!(result.contains("is not allowed here"), "{id}: {result}");
    }
}

/// meshls with no language server, a model, and the editor holding
/// src/lib.rs open, as a user who answers approvals with `choice`.
fn editor(ws: &Workspace, choice: Option<&str>) -> Server {
    let (mut server, _) = Server::builder(ws)
        .env("PATH", "/usr/bin:/bin")
        .start_initialized();
    server.apply_edits();
    server.choose(choice);
    server.open(&ws.uri("src/lib.rs"), "rust", LIB);
    server
}

/// Asks the agent in the editor and waits for the run to end.
fn ask(server: &mut Server, ws: &Workspace, instruction: &str) -> String {
    let started = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.ask", "arguments": [instruction, {"uri": ws.uri("src/lib.rs"), "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}}}]}),
        )
        .expect("meshls.ask starts a run");
    let token = started["token"].as_str().unwrap().to_owned();
    loop {
        let progress = server.wait_notification("$/progress", |p| p["token"] == token);
        if progress["value"]["kind"] == "end" {
            return progress["value"]["message"].as_str().unwrap().to_owned();
        }
    }
}

/// The approvals the editor was asked for, in order.
fn approvals(server: &mut Server) -> Vec<String> {
    server
        .messages()
        .into_iter()
        .filter(|m| m["method"] == "window/showMessageRequest")
        .map(|m| m["params"]["message"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_command_runs_only_when_the_user_allows_that_command() {
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    let model = ModelServer::start(vec![
        // Dismissed (the request answered with null): not run.
        tool_call(
            "c1",
            "run_command",
            json!({"command": "touch dismissed.txt"}),
        ),
        text_answer("You did not answer."),
        // "Always" for one command, in a later run...
        tool_call("c2", "run_command", json!({"command": "touch always.txt"})),
        text_answer("Done."),
        // ...runs that command again unasked, and not another one.
        calls(&[
            ("c3", "run_command", json!({"command": "touch always.txt"})),
            ("c4", "run_command", json!({"command": "touch other.txt"})),
        ]),
        text_answer("Half done."),
        // A rule that denies it: not even asked.
        tool_call("c5", "run_command", json!({"command": "touch denied.txt"})),
        text_answer("Not allowed."),
    ]);
    ws.use_model(
        &format!("{}/v1", model.url()),
        "run_command = true\n[agent.permissions]\nrun_command = { deny = [\"*denied*\"] }\n",
    );
    let mut server = editor(&ws, None);
    ask(&mut server, &ws, "Touch a file.");
    assert!(!ws.path("dismissed.txt").exists(), "the command ran");
    assert_eq!(
        approvals(&mut server),
        ["meshls agent: Run `touch dismissed.txt`?"]
    );

    server.choose(Some("Always for this session"));
    ask(&mut server, &ws, "Touch another.");
    assert!(ws.path("always.txt").exists(), "an allowed command runs");
    std::fs::remove_file(ws.path("always.txt")).unwrap();

    server.choose(None);
    ask(&mut server, &ws, "Touch both.");
    assert!(ws.path("always.txt").exists(), "always is for that command");
    assert!(
        !ws.path("other.txt").exists(),
        "always is for that command only"
    );

    ask(&mut server, &ws, "Touch a denied one.");
    assert!(!ws.path("denied.txt").exists(), "a denied command ran");
    assert_eq!(
        approvals(&mut server),
        [
            "meshls agent: Run `touch dismissed.txt`?",
            "meshls agent: Run `touch always.txt`?",
            "meshls agent: Run `touch other.txt`?",
        ],
        "asked once for `always`, once for the other, never for the denied"
    );

    // The model was told each time.
    let received = model.received();
    assert_eq!(received.len(), 8);
    assert_eq!(
        tool_results(&received[1])["c1"],
        "the user did not allow running `touch dismissed.txt`"
    );
    assert!(tool_results(&received[5])["c3"].starts_with("exit code 0"));
    assert_eq!(
        tool_results(&received[5])["c4"],
        "the user did not allow running `touch other.txt`"
    );
    assert_eq!(
        tool_results(&received[7])["c5"],
        "running `touch denied.txt` is not allowed here ([agent.permissions] and agent.run_command in meshls.toml)"
    );
    let stderr = shut_down(&mut server);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_question_nobody_answers_is_a_no_after_approval_timeout() {
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    let model = ModelServer::start(vec![
        tool_call("c1", "run_command", json!({"command": "touch away.txt"})),
        text_answer("Nobody answered."),
    ]);
    ws.use_model(
        &format!("{}/v1", model.url()),
        "run_command = true\napproval_timeout = 1\n",
    );
    let mut server = editor(&ws, None);
    server.answer_no_questions();
    // The run ends: without the setting it would wait 120 s, past the
    // harness's 60 s wait.
    ask(&mut server, &ws, "Touch a file.");
    assert!(!ws.path("away.txt").exists(), "the command ran");
    assert_eq!(
        approvals(&mut server),
        ["meshls agent: Run `touch away.txt`?"]
    );
    let received = model.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        tool_results(&received[1])["c1"],
        "the user did not allow running `touch away.txt`"
    );
    shut_down(&mut server);
}

#[test]
fn a_workspace_cannot_turn_on_commands_for_itself() {
    // The repository's own config enables commands and allows them all;
    // the user's does not trust it.
    let ws = Workspace::new(&format!(
        "//- /src/lib.rs\n{LIB}//- /meshls.toml\n[agent]\nrun_command = true\n[agent.permissions]\nrun_command = \"allow\"\n"
    ));
    let model = ModelServer::start(vec![
        tool_call("c1", "run_command", json!({"command": "touch ran.txt"})),
        text_answer("It did not run."),
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "");
    // Even a user who would allow it is not asked.
    let mut server = editor(&ws, Some("Allow"));
    ask(&mut server, &ws, "Touch a file.");
    assert!(!ws.path("ran.txt").exists(), "the command ran");
    assert_eq!(approvals(&mut server), Vec::<String>::new());
    let received = model.received();
    assert!(
        !offered(&received[0]).contains(&"run_command".to_owned()),
        "{:?}",
        offered(&received[0])
    );
    assert!(
        tool_results(&received[1])["c1"].starts_with("running `touch ran.txt` is not allowed here"),
        "{:?}",
        tool_results(&received[1])
    );
    // And the user was told why the workspace's settings were refused.
    let told = server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.contains("only in a trusted workspace"))
    });
    assert!(
        told["message"]
            .as_str()
            .unwrap()
            .contains("meshls.toml: key `agent."),
        "{told}"
    );
    shut_down(&mut server);
}

#[test]
fn a_command_the_agent_runs_does_not_see_the_api_key() {
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    let model = ModelServer::start(vec![
        tool_call(
            "c1",
            "run_command",
            json!({"command": format!("echo \"key: ${{{VARIABLE}:-not set}}\"")}),
        ),
        text_answer("Done."),
    ]);
    ws.use_model(
        &format!("{}/v1", model.url()),
        &format!("api_key_env = \"{VARIABLE}\"\nrun_command = true\n[agent.permissions]\nrun_command = \"allow\"\n"),
    );
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", "/usr/bin:/bin")
        .env(VARIABLE, KEY)
        .start_initialized();
    server.open(&ws.uri("src/lib.rs"), "rust", LIB);
    ask(&mut server, &ws, "Show the key.");
    let received = model.received();
    assert_eq!(received.len(), 2);
    // The model asked with the key, and the command ran without it.
    assert_eq!(
        received[1].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        tool_results(&received[1])["c1"],
        "exit code 0\nkey: not set\n"
    );
    shut_down(&mut server);
}

/// A server that writes the environment it was started with to `file`
/// (next to the workspace), then serves as `echo-lsp`.
fn env_recording_server(name: &str, file: &Path, env: &str) -> String {
    format!(
        "[servers.{name}]\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"env > '{}'; exec '{}'\"]\nlanguages = [\"plaintext\"]\n{env}",
        file.display(),
        env!("CARGO_BIN_EXE_echo-lsp"),
    )
}

#[test]
fn language_servers_do_not_inherit_the_api_key_unless_their_config_sets_it() {
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    let (plain, given) = (
        ws.temp_dir().join("plain.env"),
        ws.temp_dir().join("given.env"),
    );
    ws.use_model(
        "http://127.0.0.1:9/v1",
        &format!(
            "api_key_env = \"{VARIABLE}\"\n{}{}",
            env_recording_server("plain", &plain, ""),
            env_recording_server(
                "given",
                &given,
                &format!("env = {{ {VARIABLE} = \"set in its config\" }}\n")
            ),
        ),
    );
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", "/usr/bin:/bin")
        .env(VARIABLE, KEY)
        .env("MESHLS_TEST_INHERITED", "yes")
        .start_initialized();
    // Both started during initialize, so both have written their files.
    let plain = fs::read_to_string(&plain).expect("the first server started");
    let given = fs::read_to_string(&given).expect("the second server started");
    // Everything else is inherited, as before.
    for env in [&plain, &given] {
        assert!(env.contains("MESHLS_TEST_INHERITED=yes\n"), "{env}");
        assert!(!contains(env.as_bytes(), KEY), "{env}");
    }
    assert!(!plain.contains(&format!("{VARIABLE}=")), "{plain}");
    assert!(
        given.contains(&format!("{VARIABLE}=set in its config\n")),
        "{given}"
    );
    shut_down(&mut server);
}
