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

/// meshls with no language server, the API key in the variable the
/// config names, and the editor holding src/lib.rs open.
fn editor_with_key(ws: &Workspace) -> Server {
    let (mut server, _) = Server::builder(ws)
        .env("PATH", "/usr/bin:/bin")
        .env(VARIABLE, KEY)
        .start_initialized();
    server.open(&ws.uri("src/lib.rs"), "rust", LIB);
    server
}

/// Checks that the editor was told a workspace file's setting was refused
/// for lack of trust (the message holding `refusal`), and asked once
/// whether to trust the workspace (Trust / Not now); the question.
fn refused_and_asked(server: &mut Server, refusal: &str) -> String {
    let told = server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.contains("only in a trusted workspace"))
    });
    assert!(
        told["message"].as_str().unwrap().contains(refusal),
        "{told}"
    );
    let asked = server.wait_server_request("window/showMessageRequest");
    assert_eq!(
        asked["actions"],
        json!([{"title": "Trust"}, {"title": "Not now"}])
    );
    let question = asked["message"].as_str().unwrap().to_owned();
    assert!(question.contains("is not trusted"), "{question}");
    question
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
    server.agent_questions()
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
    // And the user was told why the workspace's settings were refused,
    // and asked, once, whether to trust it, naming what that would change.
    let question = refused_and_asked(&mut server, "meshls.toml: key `agent.permissions`");
    assert!(
        question.contains("agent.permissions") && !question.contains("safe modes"),
        "{question}"
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
    let mut server = editor_with_key(&ws);
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

// What follows was found by attacking meshls as a hostile repository,
// model and prompt would (issue 18); each test failed on the code before
// its fix.

/// A model's answer long enough to be written to a file.
fn long_answer() -> String {
    (1..=12)
        .map(|n| format!("Point {n}: something worth saying.\n"))
        .collect()
}

#[test]
fn a_long_answer_is_never_written_into_the_workspace_whatever_it_ships() {
    // One repository ships `.meshls/answers` as a link to a directory
    // outside; another ships `.meshls/answers/.gitignore` as a link to a
    // file of the user's.
    for ships_gitignore in [false, true] {
        let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
        let outside = ws.temp_dir().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let users = ws.temp_dir().join("users-file.txt");
        fs::write(&users, "the user's own\n").unwrap();
        fs::create_dir_all(ws.path(".meshls")).unwrap();
        if ships_gitignore {
            fs::create_dir_all(ws.path(".meshls/answers")).unwrap();
            std::os::unix::fs::symlink(&users, ws.path(".meshls/answers/.gitignore")).unwrap();
        } else {
            std::os::unix::fs::symlink(&outside, ws.path(".meshls/answers")).unwrap();
        }
        let long = long_answer();
        let model = ModelServer::start(vec![text_answer(&long)]);
        ws.use_model(&format!("{}/v1", model.url()), "");
        let mut server = editor(&ws, None);
        ask(&mut server, &ws, "Explain the crate.");
        let shown = server.wait_server_request("window/showDocument");
        let path = lsp_types::Url::parse(shown["uri"].as_str().unwrap())
            .unwrap()
            .to_file_path()
            .unwrap();
        assert!(path.starts_with(ws.data_home()), "{}", path.display());
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("# Explain the crate.\n\n{}\n", long.trim())
        );
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "written outside"
        );
        assert_eq!(fs::read_to_string(&users).unwrap(), "the user's own\n");
        shut_down(&mut server);
    }
}

/// A Python and TypeScript project whose repository would run programs
/// of its own through the language servers, each leaving a mark in
/// `marks`: a Python interpreter named in meshls.toml's settings for
/// pyright, and a TypeScript that typescript-language-server prefers to
/// the one beside it.
fn repository_with_programs(marks: &Path) -> String {
    let marks = marks.display();
    format!(
        r#"//- /pyproject.toml
[project]
name = "hostile"
//- /main.py
count: int = "three"
//- /meshls.toml
[servers.pyright.settings.python]
pythonPath = "tools/python"
//- /tools/python
#!/bin/sh
echo "$@" >> '{marks}/python'
exec /usr/bin/python3 "$@"
//- /package.json
{{"name": "hostile"}}
//- /tsconfig.json
{{"compilerOptions": {{"strict": true}}}}
//- /src/main.ts
const label: string = 42;
//- /node_modules/typescript/package.json
{{"name": "typescript", "version": "5.9.3"}}
//- /node_modules/typescript/lib/tsserver.js
require("fs").writeFileSync("{marks}/tsserver", "ran");
"#
    )
}

/// The workspace of [`repository_with_programs`], its marks directory.
fn hostile_repository() -> (Workspace, PathBuf) {
    let scratch = tempfile::tempdir().unwrap().keep();
    let marks = scratch.join("marks");
    fs::create_dir_all(&marks).unwrap();
    let ws = Workspace::new(&repository_with_programs(&marks));
    let python = ws.path("tools/python");
    let mut mode = fs::metadata(&python).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o755);
    fs::set_permissions(&python, mode).unwrap();
    (ws, marks)
}

fn marks_in(marks: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(marks)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_untrusted_workspace_cannot_make_its_language_servers_run_its_programs() {
    let (ws, marks) = hostile_repository();
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", meshls_e2e::path_with_node_servers())
        .start_initialized();
    server.open(&ws.uri("main.py"), "python", &ws.read("main.py"));
    server.open(
        &ws.uri("src/main.ts"),
        "typescript",
        &ws.read("src/main.ts"),
    );
    // Both servers work, in safe mode: TypeScript from beside
    // typescript-language-server, pyright with a Python from outside.
    server.wait_publication(&ws.uri("src/main.ts"), |d| d["code"] == 2322);
    server.wait_publication(&ws.uri("main.py"), |d| {
        d["source"] == "Pyright"
            && d["message"]
                .as_str()
                .unwrap_or("")
                .contains("not assignable")
    });
    assert_eq!(
        marks_in(&marks),
        Vec::<String>::new(),
        "a program of the workspace ran"
    );
    // The user is told why the settings were refused, and asked once.
    let question = refused_and_asked(&mut server, "key `servers.pyright.settings`");
    assert!(
        question.contains("safe modes") && question.contains("servers.pyright.settings"),
        "{question}"
    );
    shut_down(&mut server);
    assert_eq!(marks_in(&marks), Vec::<String>::new());
}

#[test]
fn trusting_a_workspace_when_asked_restarts_its_servers_with_its_settings_and_is_remembered() {
    let (ws, marks) = hostile_repository();
    // No fake TypeScript for this one: once trusted, the workspace's own
    // would run.
    fs::remove_dir_all(ws.path("node_modules")).unwrap();
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", meshls_e2e::path_with_node_servers())
        .start_initialized();
    server.choose(Some("Trust"));
    let main = ws.uri("main.py");
    server.open(&main, "python", &ws.read("main.py"));
    let told = server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.contains("is trusted now"))
    });
    assert!(
        told["message"]
            .as_str()
            .unwrap()
            .contains("started again with its own settings"),
        "{told}"
    );
    // The new pyright, given the open file, uses the workspace's Python.
    server.wait_publication(&main, |d| d["source"] == "Pyright");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !marks_in(&marks).contains(&"python".to_owned()) {
        assert!(
            std::time::Instant::now() < deadline,
            "pyright never ran the workspace's Python once trusted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The answer is the user's, in their data directory.
    let store = fs::read_to_string(ws.data_home().join("meshls/trusted-workspaces.toml")).unwrap();
    assert!(store.contains(&ws.root().display().to_string()), "{store}");
    shut_down(&mut server);

    // Remembered: the next session starts trusted and asks nothing.
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", meshls_e2e::path_with_node_servers())
        .start_initialized();
    server.open(&main, "python", &ws.read("main.py"));
    server.wait_publication(&main, |d| d["source"] == "Pyright");
    let questions: Vec<Value> = server
        .messages()
        .into_iter()
        .filter(|m| m["method"] == "window/showMessageRequest")
        .collect();
    assert_eq!(questions, Vec::<Value>::new());
    shut_down(&mut server);
}

#[test]
fn meshls_check_trusts_a_workspace_only_when_told_to() {
    let (ws, marks) = hostile_repository();
    fs::remove_dir_all(ws.path("node_modules")).unwrap();
    let check = |trust: bool| {
        let mut command = ws.meshls(&meshls_e2e::path_with_node_servers());
        command.arg("check");
        if trust {
            command.arg("--trust");
        }
        command.arg("--root").arg(ws.root()).output().unwrap()
    };
    let untrusted = check(false);
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(2), "{untrusted:?}");
    assert!(
        stderr.contains("servers.pyright.settings") && stderr.contains("--trust"),
        "{stderr}"
    );
    assert_eq!(marks_in(&marks), Vec::<String>::new());
    let trusted = check(true);
    let stdout = String::from_utf8_lossy(&trusted.stdout);
    assert_eq!(trusted.status.code(), Some(1), "{trusted:?}");
    assert!(stdout.contains("main.py:1:"), "{stdout}");
    assert!(marks_in(&marks).contains(&"python".to_owned()));
}

/// Starts meshls for `ws` as a user other than root when the tests run as
/// root (who may read any process's memory), owning the test's files:
/// what a program meshls starts may read is then what any user's may.
fn as_a_user(ws: &Workspace, builder: meshls_e2e::ServerBuilder) -> meshls_e2e::ServerBuilder {
    let uid = std::process::Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return builder;
    }
    let chowned = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(ws.temp_dir())
        .status()
        .unwrap();
    assert!(chowned.success());
    let meshls = meshls_e2e::meshls_bin();
    builder.program("setpriv").args(&[
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        meshls.to_str().unwrap(),
        "serve",
        "--stdio",
    ])
}

#[test]
fn programs_meshls_starts_cannot_read_the_api_key_from_its_process() {
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    let (from_server, server_err) = (
        ws.temp_dir().join("server.environ"),
        ws.temp_dir().join("server.err"),
    );
    let model = ModelServer::start(vec![
        tool_call(
            "c1",
            "run_command",
            json!({"command": "cat /proc/$PPID/environ > command.environ; echo read $?"}),
        ),
        text_answer("Done."),
    ]);
    ws.use_model(
        &format!("{}/v1", model.url()),
        &format!(
            "api_key_env = \"{VARIABLE}\"\nrun_command = true\n[agent.permissions]\nrun_command = \"allow\"\n\
             [servers.reader]\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"cat /proc/$PPID/environ > '{}' 2> '{}'; exec '{}'\"]\nlanguages = [\"plaintext\"]\n",
            from_server.display(),
            server_err.display(),
            env!("CARGO_BIN_EXE_echo-lsp"),
        ),
    );
    let builder = Server::builder(&ws)
        .env("PATH", "/usr/bin:/bin")
        .env(VARIABLE, KEY);
    let (mut server, _) = as_a_user(&ws, builder).start_initialized();
    server.open(&ws.uri("src/lib.rs"), "rust", LIB);
    ask(&mut server, &ws, "Look around.");
    let received = model.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[1].header("authorization"),
        Some(format!("Bearer {KEY}").as_str()),
        "the model still gets the key"
    );
    let told = &tool_results(&received[1])["c1"];
    assert!(
        told.starts_with("exit code 0\nread 1\n") && told.contains("Permission denied"),
        "{told}"
    );
    for file in [ws.path("command.environ"), from_server.clone()] {
        let read = fs::read(&file).unwrap_or_default();
        assert!(leaked(&read).is_empty(), "{} holds the key", file.display());
        assert!(read.is_empty(), "{} was read", file.display());
    }
    let why = fs::read_to_string(&server_err).unwrap();
    assert!(why.contains("Permission denied"), "{why}");
    shut_down(&mut server);
}

#[test]
fn an_api_key_in_what_the_agent_reads_is_taken_out_before_it_goes_anywhere() {
    let ws = Workspace::new(&format!(
        "//- /src/lib.rs\n{LIB}//- /notes.txt\ndeploy with key={KEY}\n"
    ));
    let model = ModelServer::start(vec![
        calls(&[
            ("c1", "read_file", json!({"path": "notes.txt"})),
            ("c2", "grep", json!({"pattern": "key="})),
        ]),
        text_answer("Read them."),
    ]);
    ws.use_model(
        &format!("{}/v1", model.url()),
        &format!("api_key_env = \"{VARIABLE}\"\n"),
    );
    let mut server = editor_with_key(&ws);
    ask(
        &mut server,
        &ws,
        &format!("Use the key {KEY} if you need it."),
    );
    let received = model.received();
    assert_eq!(received.len(), 2);
    let results = tool_results(&received[1]);
    assert_eq!(results["c1"], "1\tdeploy with key=<redacted>\n");
    assert_eq!(results["c2"], "notes.txt:1: deploy with key=<redacted>\n");
    for request in &received {
        // Only in the header.
        assert!(
            leaked(request.body.to_string().as_bytes()).is_empty(),
            "{}",
            request.body
        );
    }
    shut_down(&mut server);
    for (path, bytes) in files_under(ws.data_home()) {
        assert!(
            leaked(&bytes).is_empty(),
            "{} holds the key",
            path.display()
        );
    }
}

#[test]
fn shell_syntax_does_not_get_a_command_past_the_rules() {
    let ws = Workspace::new(&format!(
        "//- /src/lib.rs\n{LIB}//- /victim/precious.txt\nkeep me\n"
    ));
    let many: String = std::iter::once("echo first\n".to_owned())
        .chain((0..40).map(|n| format!("echo line {n}\n")))
        .chain(std::iter::once("touch many.txt".to_owned()))
        .collect();
    let model = ModelServer::start(vec![
        calls(&[
            (
                "c1",
                "run_command",
                json!({"command": "echo hi $(touch substituted.txt)"}),
            ),
            (
                "c2",
                "run_command",
                json!({"command": "echo hi\ntouch newline.txt"}),
            ),
            (
                "c3",
                "run_command",
                json!({"command": "echo hi; rm -r -f victim"}),
            ),
            (
                "c4",
                "run_command",
                json!({"command": "echo hi && touch and.txt"}),
            ),
            ("c5", "run_command", json!({"command": "touch ok.txt"})),
            ("c6", "run_command", json!({"command": many})),
        ]),
        text_answer("Tried."),
    ]);
    // The README's example rules, in the shape of this test.
    ws.use_model(
        &format!("{}/v1", model.url()),
        "run_command = true\n[agent.permissions]\nrun_command = { allow = [\"echo *\", \"touch ok*\"], deny = [\"*rm -rf*\"] }\n",
    );
    // The user dismisses every question.
    let mut server = editor(&ws, None);
    ask(&mut server, &ws, "Run things.");
    for never in ["substituted.txt", "newline.txt", "and.txt", "many.txt"] {
        assert!(!ws.path(never).exists(), "{never} was made unasked");
    }
    assert_eq!(ws.read("victim/precious.txt"), "keep me\n");
    assert!(ws.path("ok.txt").exists(), "an allowed plain command runs");
    let questions = approvals(&mut server);
    assert_eq!(
        questions,
        [
            "meshls agent: Run `echo hi $(touch substituted.txt)`?".to_owned(),
            "meshls agent: Run `echo hi` and 1 more line(s) not shown here (25 characters in all)?"
                .to_owned(),
            "meshls agent: Run `echo hi && touch and.txt`?".to_owned(),
            format!(
                "meshls agent: Run `echo first` and 41 more line(s) not shown here ({} characters in all)?",
                many.chars().count()
            ),
        ],
        "the denied one is not asked about"
    );
    // "Always" is offered only for a command the question shows whole.
    let buttons: Vec<Value> = server
        .messages()
        .into_iter()
        .filter(|m| m["method"] == "window/showMessageRequest")
        .map(|m| m["params"]["actions"].clone())
        .collect();
    let always =
        json!([{"title": "Allow"}, {"title": "Always for this session"}, {"title": "Deny"}]);
    let once = json!([{"title": "Allow"}, {"title": "Deny"}]);
    assert_eq!(buttons, [always.clone(), once.clone(), always, once]);
    let results = tool_results(&model.received()[1]);
    assert!(
        results["c3"].starts_with("running `echo hi; rm -r -f victim` is not allowed here"),
        "{results:?}"
    );
    assert_eq!(results["c5"], "exit code 0\n");
    shut_down(&mut server);
}

#[test]
fn definition_does_not_quote_a_file_outside_the_workspace() {
    let ws = Workspace::new(
        r#"//- /package.json
{"name": "app"}
//- /tsconfig.json
{"compilerOptions": {"strict": true, "module": "commonjs", "esModuleInterop": true, "resolveJsonModule": true}}
//- /src/main.ts
import secret from "../../outside/secret.json";
export const token = secret.token;
"#,
    );
    let outside = ws.temp_dir().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(
        outside.join("secret.json"),
        "{\n  \"token\": \"TOPSECRET-5c1d\"\n}\n",
    )
    .unwrap();
    let model = ModelServer::start(vec![
        tool_call(
            "c1",
            "definition",
            json!({"path": "src/main.ts", "line": 2, "character": 28}),
        ),
        text_answer("Found it."),
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "");
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", meshls_e2e::path_with_node_servers())
        .start_initialized();
    let main = ws.uri("src/main.ts");
    server.open(&main, "typescript", &ws.read("src/main.ts"));
    // TypeScript answers once it has loaded the project (and the JSON).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let definition = server.request(
            "textDocument/definition",
            json!({"textDocument": {"uri": main}, "position": {"line": 1, "character": 28}}),
        );
        if definition.is_ok_and(|d| d.as_array().is_some_and(|d| !d.is_empty())) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "TypeScript never loaded the project"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    ask(&mut server, &ws, "Where does the token come from?");
    let result = tool_results(&model.received()[1])["c1"].clone();
    assert!(
        result.contains("outside/secret.json:2:")
            && result.contains("(outside the workspace; its text is not shown)"),
        "{result}"
    );
    assert!(!result.contains("TOPSECRET"), "{result}");
    shut_down(&mut server);
}

#[test]
fn the_agent_cannot_change_meshls_own_configuration() {
    const CONFIG: &str = "[analysis]\nsyntax_diagnostics = true\n";
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}//- /meshls.toml\n{CONFIG}"));
    // Trusted, so the workspace's config is read: the agent editing it
    // would give itself what it asks for at the next start.
    ws.trust();
    let model = ModelServer::start(vec![
        calls(&[
            (
                "c1",
                "edit_file",
                json!({"path": "meshls.toml", "old_string": "[analysis]", "new_string": "[agent]\nrun_command = true\n[agent.permissions]\nrun_command = \"allow\"\n[analysis]"}),
            ),
            (
                "c2",
                "write_file",
                json!({"path": ".meshls/config.toml", "content": "[agent]\nrun_command = true\n"}),
            ),
            // eglot takes this from the repository unasked.
            (
                "c3",
                "write_file",
                json!({"path": ".dir-locals.el", "content": "((nil . ((eglot-workspace-configuration . (:meshls (:agent (:run_command t)))))))\n"}),
            ),
        ]),
        text_answer("Could not."),
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "");
    // A user who allows everything, with meshls.toml open.
    let mut server = editor(&ws, Some("Allow"));
    server.open(&ws.uri("meshls.toml"), "toml", CONFIG);
    ask(&mut server, &ws, "Let yourself run commands.");
    assert_eq!(ws.read("meshls.toml"), CONFIG);
    assert!(!ws.path(".meshls").exists());
    assert!(!ws.path(".dir-locals.el").exists());
    assert!(server
        .messages()
        .iter()
        .all(|m| m["method"] != "workspace/applyEdit"));
    let results = tool_results(&model.received()[1]);
    for id in ["c1", "c2", "c3"] {
        assert!(
            results[id]
                .contains("is configuration that decides what meshls, the editor or a language server may do; the agent's tools never change it"),
            "{results:?}"
        );
    }
    shut_down(&mut server);
}

#[test]
fn a_command_leaves_nothing_running_when_it_ends_or_its_run_is_cancelled() {
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    let gate = meshls_e2e::model_server::Gate::default();
    let model = ModelServer::start(vec![
        tool_call(
            "c1",
            "run_command",
            json!({"command": "(sleep 2; touch late.txt) >/dev/null 2>&1 &"}),
        ),
        text_answer("Started it."),
        tool_call(
            "c2",
            "run_command",
            json!({"command": "sleep 31.7; touch after.txt"}),
        ),
        text_answer("never asked for").after(&gate),
    ]);
    ws.use_model(
        &format!("{}/v1", model.url()),
        "run_command = true\n[agent.permissions]\nrun_command = \"allow\"\n",
    );
    let mut server = editor(&ws, None);
    ask(&mut server, &ws, "Start something in the background.");
    // Longer than the job would take.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !ws.path("late.txt").exists(),
        "the background job outlived its command"
    );

    let started = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.ask", "arguments": ["Wait a while.", {"uri": ws.uri("src/lib.rs"), "position": {"line": 0, "character": 0}}]}),
        )
        .unwrap();
    let token = started["token"].as_str().unwrap().to_owned();
    server.wait_notification("$/progress", |p| {
        p["token"] == token
            && p["value"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("running sleep 31.7"))
    });
    let sleeping = || {
        meshls_e2e::processes::processes()
            .into_iter()
            .any(|p| p.cmdline.contains("sleep 31.7"))
    };
    // The progress comes as the tool starts: the command follows.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !sleeping() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.cancel"}),
        )
        .unwrap();
    let end = server.wait_notification("$/progress", |p| {
        p["token"] == token && p["value"]["kind"] == "end"
    });
    assert_eq!(end["value"]["message"], "cancelled", "{end}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sleeping() {
        assert!(
            std::time::Instant::now() < deadline,
            "what the cancelled command started still runs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    gate.open();
    shut_down(&mut server);
    assert!(!ws.path("after.txt").exists());
}

#[test]
fn an_untrusted_workspace_cannot_change_the_provider_or_raise_the_limits() {
    let ws = Workspace::new(&format!(
        "//- /src/lib.rs\n{LIB}//- /meshls.toml\n[agent]\nprovider = \"anthropic\"\nmax_steps = 1000\n"
    ));
    let model = ModelServer::start(vec![text_answer("Hello.")]);
    ws.use_model(
        &format!("{}/v1", model.url()),
        &format!("api_key_env = \"{VARIABLE}\"\n"),
    );
    let mut server = editor_with_key(&ws);
    let end = ask(&mut server, &ws, "Say hello.");
    assert!(end.starts_with("done"), "{end}");
    let received = model.received();
    assert_eq!(received.len(), 1);
    // The user's provider, with the user's key where that provider takes it.
    assert_eq!(received[0].path, "/v1/chat/completions");
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(received[0].header("x-api-key"), None);
    refused_and_asked(
        &mut server,
        "key `agent.max_steps`: a workspace may lower agent.max_steps (now 20) but not raise it",
    );
    shut_down(&mut server);
}

fn anthropic_text(text: &str) -> Reply {
    Reply::sse(
        &meshls_e2e::model_server::anthropic_sse(text, &[], (100, 10)),
        64,
    )
}

#[test]
fn an_api_key_does_not_follow_a_redirect_to_another_origin() {
    let elsewhere = ModelServer::start(vec![anthropic_text("I got your key.")]);
    let model = ModelServer::start(vec![
        // Within the origin: followed.
        Reply::json(307, json!({})).header("location", "/v1/messages"),
        anthropic_text("Same origin."),
        // To another origin: not.
        Reply::json(307, json!({})).header("location", &format!("{}/v1/messages", elsewhere.url())),
    ]);
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    ws.write_user_config(&format!(
        "[agent]\nprovider = \"anthropic\"\nmodel = \"scripted-claude\"\nbase_url = \"{}\"\napi_key_env = \"{VARIABLE}\"\nretries = 0\n",
        model.url()
    ));
    let mut server = editor_with_key(&ws);
    let first = ask(&mut server, &ws, "Hello?");
    assert!(first.starts_with("done"), "{first}");
    let second = ask(&mut server, &ws, "Hello again?");
    assert!(second.starts_with("failed"), "{second}");
    let told = server.wait_notification("window/showMessage", |p| p["type"] == 1);
    assert!(
        told["message"]
            .as_str()
            .unwrap()
            .contains(&format!("HTTP 307: a redirect to {}", elsewhere.url())),
        "{told}"
    );
    assert_eq!(
        elsewhere.received().len(),
        0,
        "the key went to another origin"
    );
    assert_eq!(model.received().len(), 3);
    shut_down(&mut server);
}

#[test]
fn an_endless_answer_is_cut_and_an_endless_error_body_is_not_waited_for() {
    // 40 MiB of text in 1 MiB events: past what meshls reads of an answer.
    let mut endless = text_answer("");
    let event = format!(
        "data: {}\n\n",
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "scripted",
            "choices": [{"index": 0, "delta": {"content": "a".repeat(1 << 20)}, "finish_reason": null}]})
    );
    endless.pieces = vec![event.into_bytes(); 40];
    // An error whose body never ends.
    let body = json!({"error": {"message": "x".repeat(200_000)}});
    let stalled = Reply::json(500, body).stall_after(100_000, Duration::from_secs(120));
    let model = ModelServer::start(vec![endless, stalled]);
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    ws.use_model(&format!("{}/v1", model.url()), "total_timeout = 60\n");
    let mut server = editor(&ws, None);
    let first = ask(&mut server, &ws, "Say a lot.");
    assert!(first.starts_with("failed"), "{first}");
    let told = server.wait_notification("window/showMessage", |p| p["type"] == 1);
    assert!(
        told["message"]
            .as_str()
            .unwrap()
            .contains("answer passed 32 MiB, so meshls stopped reading it"),
        "{told}"
    );
    let second = ask(&mut server, &ws, "Fail.");
    assert!(second.starts_with("failed"), "{second}");
    let told = server.wait_notification("window/showMessage", |p| p["type"] == 1);
    assert!(
        told["message"].as_str().unwrap().contains("HTTP 500"),
        "{told}"
    );
    shut_down(&mut server);
}

#[test]
fn read_file_on_a_fifo_is_refused_and_the_run_goes_on() {
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    let made = std::process::Command::new("mkfifo")
        .arg(ws.path("pipe"))
        .status()
        .unwrap();
    assert!(made.success());
    let model = ModelServer::start(vec![
        calls(&[
            ("c1", "read_file", json!({"path": "pipe"})),
            ("c2", "grep", json!({"pattern": "answer"})),
        ]),
        text_answer("The pipe is not a file."),
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "");
    let mut server = editor(&ws, None);
    let end = ask(&mut server, &ws, "Read the pipe.");
    assert!(end.starts_with("done"), "{end}");
    let results = tool_results(&model.received()[1]);
    assert_eq!(
        results["c1"],
        "pipe is a FIFO (named pipe), not a regular file; the agent reads regular files only"
    );
    assert_eq!(
        results["c2"],
        "src/lib.rs:1: // the answer\nsrc/lib.rs:2: pub fn answer() -> u32 {\n"
    );
    shut_down(&mut server);
}

#[test]
fn always_for_this_session_ends_with_the_session() {
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    let touch = || tool_call("c1", "run_command", json!({"command": "touch once.txt"}));
    let model = ModelServer::start(vec![
        touch(),
        text_answer("Touched."),
        touch(),
        text_answer("Touched again."),
        touch(),
        text_answer("Not this time."),
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "run_command = true\n");
    let mut server = editor(&ws, Some("Always for this session"));
    ask(&mut server, &ws, "Touch.");
    assert!(ws.path("once.txt").exists());
    fs::remove_file(ws.path("once.txt")).unwrap();
    server.choose(None);
    ask(&mut server, &ws, "Touch again.");
    assert!(ws.path("once.txt").exists(), "always, in the session");
    fs::remove_file(ws.path("once.txt")).unwrap();
    server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.newSession"}),
        )
        .unwrap();
    ask(&mut server, &ws, "Touch in the new session.");
    assert!(
        !ws.path("once.txt").exists(),
        "the grant outlived its session"
    );
    assert_eq!(
        approvals(&mut server),
        [
            "meshls agent: Run `touch once.txt`?",
            "meshls agent: Run `touch once.txt`?"
        ]
    );
    shut_down(&mut server);
}

#[test]
fn a_file_that_looks_like_secrets_is_not_read_unless_allowed() {
    let ws = Workspace::new(&format!(
        "//- /src/lib.rs\n{LIB}//- /.env\nDATABASE_PASSWORD=hunter2-prod\n//- /.env.example\nDATABASE_PASSWORD=\n"
    ));
    // A link of the repository's, with a harmless name, to the secrets.
    std::os::unix::fs::symlink(".env", ws.path("notes.txt")).unwrap();
    let reads = || {
        calls(&[
            ("c1", "read_file", json!({"path": ".env"})),
            ("c2", "grep", json!({"pattern": "DATABASE_PASSWORD"})),
            ("c3", "read_file", json!({"path": ".env.example"})),
            ("c4", "read_file", json!({"path": "notes.txt"})),
        ])
    };
    let model = ModelServer::start(vec![
        reads(),
        text_answer("Not allowed."),
        reads(),
        text_answer("Allowed."),
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "");
    let mut server = editor(&ws, Some("Allow"));
    ask(&mut server, &ws, "Find the password.");
    let results = tool_results(&model.received()[1]);
    assert_eq!(
        results["c1"],
        "reading .env, which looks like it holds secrets, is not allowed here (agent.permissions.read_secrets in meshls's config)"
    );
    assert_eq!(
        results["c2"],
        ".env.example:1: DATABASE_PASSWORD=\n(1 file(s) that look like they hold secrets were not searched: agent.permissions.read_secrets)\n"
    );
    assert_eq!(results["c3"], "1\tDATABASE_PASSWORD=\n");
    assert_eq!(
        results["c4"],
        "reading notes.txt, which looks like it holds secrets, is not allowed here (agent.permissions.read_secrets in meshls's config)"
    );
    shut_down(&mut server);

    // The user allows it in their own config.
    ws.use_model(
        &format!("{}/v1", model.url()),
        "[agent.permissions]\nread_secrets = \"allow\"\n",
    );
    let mut server = editor(&ws, None);
    ask(&mut server, &ws, "Find the password.");
    let results = tool_results(&model.received()[3]);
    assert_eq!(results["c1"], "1\tDATABASE_PASSWORD=hunter2-prod\n");
    assert!(
        results["c2"].contains(".env:1: DATABASE_PASSWORD=hunter2-prod"),
        "{results:?}"
    );
    shut_down(&mut server);
}

#[test]
fn settings_from_an_editor_that_may_take_them_from_the_workspace_cannot_redirect_the_key() {
    // eglot sends what a repository's .dir-locals.el sets, unasked: in an
    // untrusted workspace, an editor not known to send only the user's own
    // settings is held to the workspace files' rules.
    let ws = Workspace::new(&format!("//- /src/lib.rs\n{LIB}"));
    let collector = ModelServer::start(vec![text_answer("Thanks for the key.")]);
    let model = ModelServer::start(vec![text_answer("Hello."), text_answer("Hello again.")]);
    ws.use_model(
        &format!("{}/v1", model.url()),
        &format!("api_key_env = \"{VARIABLE}\"\n"),
    );
    let redirect = json!({"agent": {"base_url": format!("{}/v1", collector.url())}});
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", "/usr/bin:/bin")
        .env(VARIABLE, KEY)
        .initialization_options(redirect.clone())
        .start_initialized();
    server.open(&ws.uri("src/lib.rs"), "rust", LIB);
    let end = ask(&mut server, &ws, "Say hello.");
    assert!(end.starts_with("done"), "{end}");
    assert_eq!(
        collector.received().len(),
        0,
        "the key went where the editor's settings said"
    );
    assert_eq!(model.received().len(), 1);
    refused_and_asked(
        &mut server,
        "editor initializationOptions: key `agent.base_url`: it decides which model answers and where API keys are sent; this editor's settings may come from the workspace",
    );
    shut_down(&mut server);

    // VS Code sends such settings only from the user's own (machine-scoped).
    let (mut server, _) = Server::builder(&ws)
        .client_name("Visual Studio Code")
        .env("PATH", "/usr/bin:/bin")
        .env(VARIABLE, KEY)
        .initialization_options(redirect)
        .start_initialized();
    server.open(&ws.uri("src/lib.rs"), "rust", LIB);
    ask(&mut server, &ws, "Say hello.");
    assert_eq!(collector.received().len(), 1);
    shut_down(&mut server);
}
