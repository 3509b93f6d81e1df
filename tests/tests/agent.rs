//! The agent in the editor, end to end: the real meshls binary, the real
//! typescript-language-server behind it, a scripted model over HTTP, and a
//! test editor that applies the edits it is sent, as editors do.

use meshls_e2e::{
    model_server::{openai_sse, text_answer, tool_call, unused_base_url, Gate, ModelServer, Reply},
    path_with_node_servers,
    type_error::{fix_main, read_main, PROJECT},
    Server, Workspace,
};
use serde_json::{json, Value};
use std::time::Duration;

/// The user's config: the agent talks to `model`. (A workspace file may
/// not say where the agent's requests go.)
fn use_model(ws: &Workspace, model: &ModelServer) {
    ws.use_model(&format!("{}/v1", model.url()), "");
}

/// Starts meshls with typescript-language-server, opens main.ts, and waits
/// for TypeScript's type error in it.
fn start(ws: &Workspace) -> Server {
    start_with(ws, json!({}))
}

/// [`start`], for an editor with these client `capabilities` besides.
fn start_with(ws: &Workspace, capabilities: Value) -> Server {
    let (mut server, _) = Server::builder(ws)
        .env("PATH", path_with_node_servers())
        .capabilities(capabilities)
        .start_initialized();
    server.apply_edits();
    let main = ws.uri("src/main.ts");
    server.open(&main, "typescript", &ws.read("src/main.ts"));
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == main.as_str() && has_type_error(p)
    });
    server.skip_notifications("textDocument/publishDiagnostics");
    server
}

/// Opens `main` and waits for TypeScript's type error in it; TypeScript's
/// diagnostics as published then.
fn open_until_type_error(server: &mut Server, ws: &Workspace, main: &lsp_types::Url) -> Vec<Value> {
    server.open(main, "typescript", &ws.read("src/main.ts"));
    let published = server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == main.as_str() && has_type_error(p)
    });
    published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["source"] == "typescript")
        .cloned()
        .collect()
}

fn has_type_error(published: &Value) -> bool {
    published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| {
            d["source"] == "typescript" && d["message"].as_str().unwrap().contains("not assignable")
        })
}

fn ask(server: &mut Server, instruction: &str, uri: &str) -> String {
    let started = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.ask", "arguments": [instruction, {"uri": uri, "range": {"start": {"line": 0, "character": 6}, "end": {"line": 0, "character": 6}}}]}),
        )
        .expect("meshls.ask starts a run");
    started["token"].as_str().unwrap().to_owned()
}

/// Waits for the run's progress to end; every report it made.
/// Asks the agent about `uri` and waits for the run to end done, in
/// `steps` steps.
fn ask_until_done(server: &mut Server, uri: &lsp_types::Url, instruction: &str, steps: u32) {
    let token = ask(server, instruction, uri.as_str());
    let reports = reports_until_end(server, &token);
    assert_eq!(
        reports.last().unwrap(),
        &format!("end: done in {steps} step(s)"),
        "{reports:?}"
    );
}

fn reports_until_end(server: &mut Server, token: &str) -> Vec<String> {
    let mut reports = Vec::new();
    loop {
        let progress = server.wait_notification("$/progress", |p| p["token"] == token);
        let value = &progress["value"];
        match value["kind"].as_str() {
            Some("end") => {
                reports.push(format!("end: {}", value["message"].as_str().unwrap_or("")));
                return reports;
            }
            _ => reports.push(value["message"].as_str().unwrap_or("").to_owned()),
        }
    }
}

#[test]
fn ask_fixes_a_real_type_error_through_the_editor() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![
        read_main(),
        fix_main(),
        text_answer("Fixed: label holds a string now."),
    ]);
    use_model(&ws, &model);
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");

    let token = ask(&mut server, "Fix the type error.", main.as_str());
    let reports = reports_until_end(&mut server, &token);
    let shown = server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls agent"))
    });
    assert_eq!(
        shown["message"],
        "meshls agent: Fixed: label holds a string now.\n(Changed src/main.ts: undo the whole run with meshls.undoRun.)",
        "progress: {reports:?}"
    );

    // The edit came as one versioned workspace/applyEdit, which the editor
    // applied to its copy.
    let edits: Vec<Value> = server
        .messages()
        .into_iter()
        .filter(|m| m["method"] == "workspace/applyEdit")
        .collect();
    assert_eq!(edits.len(), 1, "{edits:?}");
    let change = &edits[0]["params"]["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"], json!({"uri": main, "version": 1}));
    assert_eq!(
        change["edits"],
        json!([{"range": {"start": {"line": 0, "character": 20}, "end": {"line": 0, "character": 25}}, "newText": "= \"42\";"}])
    );
    assert_eq!(
        server.document(&main),
        Some((
            "const label: string = \"42\";\nexport const text = label.toUpperCase();\n".to_owned(),
            2
        ))
    );
    // The model read the editor's copy, with numbered lines.
    let received = model.received();
    assert_eq!(received.len(), 3, "verify found nothing new to fix");
    assert_eq!(
        received[1].body["messages"][3]["content"],
        "1\tconst label: string = 42;\n2\texport const text = label.toUpperCase();\n"
    );
    assert!(received[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .contains("(The user is at src/main.ts line 1.)"));
    // Progress told what the run was doing, verify included.
    for expected in [
        "step 1: asking the model",
        "reading src/main.ts",
        "editing src/main.ts",
        "waiting for the language servers' diagnostics of 1 file(s)",
        "end: done in 3 step(s)",
    ] {
        assert!(
            reports.iter().any(|r| r == expected),
            "{expected:?} in {reports:?}"
        );
    }
    // And the type error is gone from the diagnostics that follow.
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == main.as_str() && !has_type_error(p)
    });

    // meshls.status tells the session's totals and the model; asked
    // quietly (as a status bar does), it shows nothing.
    let quiet = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.status", "arguments": [{"quiet": true}]}),
        )
        .unwrap();
    let status = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.status"}),
        )
        .unwrap();
    assert_eq!(quiet["agent"], status["agent"]);
    let agent = &status["agent"];
    assert_eq!(agent["model"]["model"], "scripted");
    assert_eq!(agent["session"]["runs"], 1);
    assert_eq!(
        agent["session"]["usage"],
        json!({"input_tokens": 300, "output_tokens": 30})
    );
    assert_eq!(agent["session"]["title"], "Fix the type error.");
    assert_eq!(status["servers"][0]["name"], "typescript-language-server");
    let shown = server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls language servers"))
    });
    assert!(
        shown["message"]
            .as_str()
            .unwrap()
            .contains("meshls agent: scripted at http://127.0.0.1:"),
        "{shown}"
    );
    let shown = server
        .messages()
        .into_iter()
        .filter(|m| {
            m["method"] == "window/showMessage"
                && m["params"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("meshls language servers"))
        })
        .count();
    assert_eq!(shown, 1, "the quiet status showed nothing");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn an_edit_over_what_the_user_just_typed_is_refused_and_one_elsewhere_still_lands() {
    let ws = Workspace::new(PROJECT);
    let gate = Gate::default();
    let model = ModelServer::start(vec![
        read_main(),
        // While the model thinks, the user edits the same line.
        fix_main().after(&gate),
        text_answer("I could not apply it."),
    ]);
    use_model(&ws, &model);
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");

    let token = ask(&mut server, "Fix the type error.", main.as_str());
    server.wait_notification("$/progress", |p| {
        p["value"]["message"] == "step 2: asking the model"
    });
    let typed = "const label: string = 42 + 1;\nexport const text = label.toUpperCase();\n";
    server.retype(&main, typed);
    // meshls has the new text before the model answers.
    let view = server.view_document(&main).unwrap();
    assert_eq!(view["version"], 2);
    gate.open();
    reports_until_end(&mut server, &token);

    // Nothing was sent over the user's text, and the model was told why.
    assert!(server
        .messages()
        .iter()
        .all(|m| m["method"] != "workspace/applyEdit"));
    assert_eq!(server.document(&main), Some((typed.to_owned(), 2)));
    let told = &model.received()[2].body["messages"][5];
    assert_eq!(told["role"], "tool");
    assert!(
        told["content"]
            .as_str()
            .unwrap()
            .contains("old_string was not found in src/main.ts"),
        "{told}"
    );

    // An edit of a line the user did not touch goes through, made on the
    // new text, at the editor's current version.
    let gate = Gate::default();
    let model2 = ModelServer::start(vec![
        read_main(),
        tool_call(
            "c2",
            "edit_file",
            json!({"path": "src/main.ts", "old_string": "toUpperCase()", "new_string": "toLowerCase()"}),
        )
        .after(&gate),
        text_answer("Lower case it is."),
    ]);
    use_model(&ws, &model2);
    server.notify("workspace/didChangeConfiguration", json!({"settings": {}}));
    let token = ask(&mut server, "Use lower case.", main.as_str());
    server.wait_notification("$/progress", |p| {
        p["token"] == token.as_str() && p["value"]["message"] == "step 2: asking the model"
    });
    let typed = format!("// the user's comment\n{typed}");
    server.retype(&main, &typed);
    server.view_document(&main).unwrap();
    gate.open();
    reports_until_end(&mut server, &token);
    assert_eq!(
        server.document(&main),
        Some((typed.replace("toUpperCase", "toLowerCase"), 4))
    );
    let edit = server
        .messages()
        .into_iter()
        .find(|m| m["method"] == "workspace/applyEdit")
        .expect("the moved edit was sent");
    assert_eq!(
        edit["params"]["edit"]["documentChanges"][0]["textDocument"]["version"],
        3
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_run_cancelled_from_the_editor_applies_nothing_and_its_progress_ends() {
    let ws = Workspace::new(PROJECT);
    let gate = Gate::default();
    let model = ModelServer::start(vec![read_main(), fix_main().after(&gate)]);
    use_model(&ws, &model);
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");
    let token = ask(&mut server, "Fix the type error.", main.as_str());
    server.wait_notification("$/progress", |p| {
        p["value"]["message"] == "step 2: asking the model"
    });
    // The user presses cancel on the progress notification.
    server.notify("window/workDoneProgress/cancel", json!({"token": token}));
    let reports = reports_until_end(&mut server, &token);
    gate.open();
    assert_eq!(reports.last().unwrap(), "end: cancelled");
    let shown = server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls agent"))
    });
    assert!(
        shown["message"].as_str().unwrap().contains("cancelled"),
        "{shown}"
    );
    assert!(server
        .messages()
        .iter()
        .all(|m| m["method"] != "workspace/applyEdit"));
    assert_eq!(server.document(&main).unwrap().1, 1);

    // meshls.cancel stops a run too.
    let gate = Gate::default();
    let model = ModelServer::start(vec![text_answer("never seen").after(&gate)]);
    use_model(&ws, &model);
    server.notify("workspace/didChangeConfiguration", json!({"settings": {}}));
    let token = ask(&mut server, "Explain.", main.as_str());
    server.wait_notification("$/progress", |p| {
        p["token"] == token.as_str() && p["value"]["message"] == "step 1: asking the model"
    });
    let cancelled = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.cancel"}),
        )
        .unwrap();
    assert_eq!(cancelled["cancelled"], 1);
    assert_eq!(
        reports_until_end(&mut server, &token).last().unwrap(),
        "end: cancelled"
    );
    gate.open();
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn the_models_words_stream_into_the_runs_progress_before_it_ends() {
    let ws = Workspace::new(PROJECT);
    // A long answer in many small pieces, with pauses, as models stream.
    let answer = "The label is declared as a string but holds the number 42. \
Assigning a string literal fixes the type error, and toUpperCase then works as written.";
    let mut streamed = Reply::sse(&openai_sse(answer, &[], (100, 40)), 24);
    streamed.pause = Duration::from_millis(15);
    let model = ModelServer::start(vec![streamed]);
    use_model(&ws, &model);
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");
    let token = ask(&mut server, "Why is this an error?", main.as_str());
    let reports = reports_until_end(&mut server, &token);

    // Between "asking the model" and the end, the model's words as they
    // came: each report the end of the text so far, one line, growing.
    let words: Vec<&str> = reports
        .iter()
        .filter_map(|report| report.strip_prefix("step 1: "))
        .filter(|message| *message != "asking the model")
        .collect();
    assert!(
        words.len() >= 2,
        "several reports of the words: {reports:?}"
    );
    let mut written = 0;
    for shown in &words {
        let tail = shown.trim_start_matches('…');
        assert!(
            !shown.contains('\n') && tail.chars().count() <= 80,
            "{shown}"
        );
        let end = answer
            .find(tail)
            .map(|at| at + tail.len())
            .unwrap_or_else(|| panic!("{shown:?} is not of the answer: {reports:?}"));
        assert!(
            end >= written,
            "each report shows as much of the answer or more: {reports:?}"
        );
        written = end;
    }
    let first = words[0].trim_start_matches('…');
    assert!(
        written > answer.find(first).unwrap() + first.len(),
        "the words grew: {reports:?}"
    );
    assert_eq!(
        reports.last().unwrap(),
        "end: done in 1 step(s)",
        "{reports:?}"
    );
    // This editor did not ask for run events, so it gets none.
    server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls agent"))
    });
    let events = server
        .messages()
        .into_iter()
        .filter(|m| m["method"] == "meshls/runEvent")
        .count();
    assert_eq!(events, 0);
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_client_that_asks_for_run_events_sees_each_step_of_the_run() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![read_main(), fix_main(), text_answer("Fixed it.")]);
    use_model(&ws, &model);
    let mut server = start_with(&ws, json!({"experimental": {"meshlsRunEvents": true}}));
    let main = ws.uri("src/main.ts");
    let started = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.ask", "arguments": ["Fix the type error.", main.as_str()]}),
        )
        .unwrap();
    let (session, token) = (started["session"].clone(), started["token"].clone());
    server.wait_notification("meshls/runEvent", |p| p["kind"] == "end");
    let events: Vec<Value> = server
        .messages()
        .into_iter()
        .filter(|m| m["method"] == "meshls/runEvent")
        .map(|m| m["params"].clone())
        .collect();

    // One run's events, numbered from 0, in order; the run is the
    // session's first, by the id meshls.undoRun takes.
    let run = json!(format!("{}-000001", session.as_str().unwrap()));
    for (seq, event) in events.iter().enumerate() {
        assert_eq!(event["seq"], seq, "{events:#?}");
        assert_eq!(
            (&event["session"], &event["run"]),
            (&session, &run),
            "{event}"
        );
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"start"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"end"), "{kinds:?}");
    assert_eq!(events[0]["instruction"], "Fix the type error.");
    assert_eq!(events[0]["action"], "ask");
    assert_eq!(events[0]["token"], token);

    // Each tool call as it started, then how it went.
    let tools: Vec<(String, Value)> = events
        .iter()
        .filter(|e| e["kind"] == "tool")
        .map(|e| {
            let name = format!(
                "{} {}",
                e["name"].as_str().unwrap(),
                e["about"].as_str().unwrap()
            );
            (name, e["outcome"].clone())
        })
        .collect();
    assert_eq!(
        tools,
        [
            ("read_file src/main.ts".to_owned(), Value::Null),
            ("read_file src/main.ts".to_owned(), json!("ok")),
            ("edit_file src/main.ts".to_owned(), Value::Null),
            ("edit_file src/main.ts".to_owned(), json!("ok")),
        ],
        "{events:#?}"
    );
    // The edit, where it was; then TypeScript's errors after it: none.
    let edit = events
        .iter()
        .find(|e| e["kind"] == "edit")
        .expect("an edit event");
    assert_eq!(edit["uri"], main.as_str());
    assert_eq!(edit["summary"], "line 1");
    let after = events
        .iter()
        .find(|e| e["kind"] == "diagnostics")
        .expect("a diagnostics event");
    assert_eq!(after["errors"], json!([]), "{after}");
    // The answer, as it streamed.
    let text: String = events
        .iter()
        .filter(|e| e["kind"] == "text")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Fixed it.");
    // The end: how, what it used, what it changed.
    let end = events.last().unwrap();
    assert_eq!(end["outcome"], "done in 3 step(s)");
    assert_eq!(end["tokens"], json!({"input": 300, "output": 30}));
    assert_eq!(end["files"], json!(["src/main.ts"]));
    assert_eq!(end["undo"], true);
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_new_session_is_refused_while_a_run_is_going() {
    let ws = Workspace::new(PROJECT);
    let gate = Gate::default();
    let model = ModelServer::start(vec![text_answer("Done.").after(&gate), text_answer("Hi.")]);
    use_model(&ws, &model);
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");
    let token = ask(&mut server, "Explain.", main.as_str());
    server.wait_notification("$/progress", |p| {
        p["token"] == token.as_str() && p["value"]["message"] == "step 1: asking the model"
    });
    // Two runs must never edit the workspace at once: the old session's
    // run is going, so no new session starts beside it.
    let refused = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.newSession"}),
        )
        .expect_err("a new session during a run");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("a run is going") && message.contains("meshls.cancel"),
        "{refused}"
    );
    gate.open();
    reports_until_end(&mut server, &token);
    // Once it has ended, the new session starts, and runs go there.
    let first = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.newSession"}),
        )
        .unwrap();
    let session = first["session"].as_str().expect("a session id").to_owned();
    let started = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.ask", "arguments": ["Hello?", main.as_str()]}),
        )
        .unwrap();
    assert_eq!(started["session"], session.as_str());
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_command_the_user_denies_never_runs() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![
        tool_call("c1", "run_command", json!({"command": "touch ran.txt"})),
        text_answer("You did not let me."),
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "run_command = true\n");
    let mut server = start(&ws);
    server.choose(Some("Deny"));
    let token = ask(&mut server, "Touch a file.", ws.uri("src/main.ts").as_str());
    reports_until_end(&mut server, &token);
    let asked = server.wait_server_request_where("window/showMessageRequest", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls agent:"))
    });
    assert_eq!(asked["message"], "meshls agent: Run `touch ran.txt`?");
    assert_eq!(
        asked["actions"],
        json!([{"title": "Allow"}, {"title": "Always for this session"}, {"title": "Deny"}])
    );
    assert!(!ws.path("ran.txt").exists(), "the command ran");
    let told = &model.received()[1].body["messages"][3];
    assert_eq!(
        told["content"],
        "the user did not allow running `touch ran.txt`"
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_model_that_is_down_gets_one_clear_sentence_and_the_editor_keeps_working() {
    let ws = Workspace::new(PROJECT);
    let base_url = unused_base_url();
    ws.use_model(&base_url, "");
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");
    let token = ask(&mut server, "Fix the type error.", main.as_str());
    let reports = reports_until_end(&mut server, &token);
    assert!(
        reports.last().unwrap().starts_with("end: failed"),
        "{reports:?}"
    );
    let shown = server.wait_notification("window/showMessage", |p| p["type"] == 1);
    let message = shown["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "meshls agent: cannot reach the OpenAI-compatible endpoint at {base_url}"
        )) && message.contains("check base_url"),
        "{message}"
    );
    assert!(!message.contains('\n'), "one sentence: {message}");
    // The editor session goes on.
    let hover = server
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": main}, "position": {"line": 0, "character": 7}}),
        )
        .unwrap();
    assert!(hover["contents"].to_string().contains("label"), "{hover}");
    // A buffer never saved cannot be reviewed: said, not run on no file.
    let unsaved = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.review", "arguments": ["untitled:Untitled-1"]}),
        )
        .unwrap_err();
    assert_eq!(
        unsaved["message"],
        "meshls.review works on files saved on disk, not untitled:Untitled-1"
    );
    assert!(server.shutdown_and_exit().success());
}

fn code_actions(server: &mut Server, uri: &str, line: u32, diagnostics: Value) -> Vec<Value> {
    let answer = server
        .request(
            "textDocument/codeAction",
            json!({
                "textDocument": {"uri": uri},
                "range": {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}},
                "context": {"diagnostics": diagnostics},
            }),
        )
        .expect("code actions answer");
    answer.as_array().cloned().unwrap_or_default()
}

fn titles(actions: &[Value]) -> Vec<String> {
    actions
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn fix_with_agent_is_offered_on_a_real_type_error_and_fixes_it_when_chosen() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![read_main(), fix_main(), text_answer("Fixed.")]);
    use_model(&ws, &model);
    let (mut server, init) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();
    let kinds = &init["capabilities"]["codeActionProvider"]["codeActionKinds"];
    assert!(
        kinds.as_array().unwrap().contains(&json!("quickfix")),
        "{kinds}"
    );
    server.apply_edits();
    let main = ws.uri("src/main.ts");
    let type_error = open_until_type_error(&mut server, &ws, &main);

    let actions = code_actions(&mut server, main.as_str(), 0, json!(type_error));
    let fix = actions
        .iter()
        .find(|a| {
            a["title"]
                .as_str()
                .unwrap()
                .starts_with("Fix with agent: Type 'number' is not assignable")
        })
        .unwrap_or_else(|| panic!("{:?}", titles(&actions)));
    assert_eq!(fix["kind"], "quickfix");
    assert_eq!(fix["diagnostics"], json!(type_error));
    assert_eq!(fix["command"]["command"], "meshls.runAction");
    assert!(titles(&actions).contains(&"Review this file with agent".to_owned()));
    // Listing never asks the model.
    assert!(model.received().is_empty());

    server.skip_notifications("textDocument/publishDiagnostics");
    let started = server
        .request(
            "workspace/executeCommand",
            json!({"command": fix["command"]["command"], "arguments": fix["command"]["arguments"]}),
        )
        .unwrap();
    let token = started["token"].as_str().unwrap().to_owned();
    reports_until_end(&mut server, &token);
    let request = model.received()[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        request.starts_with("Fix this problem in src/main.ts at line 1: Type 'number' is not assignable to type 'string'. [typescript 2322]"),
        "{request}"
    );
    assert_eq!(
        server.document(&main).unwrap().0,
        "const label: string = \"42\";\nexport const text = label.toUpperCase();\n"
    );
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == main.as_str() && !has_type_error(p)
    });
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn an_agent_comment_offers_its_instruction_in_rust_and_typescript() {
    let ws = Workspace::new(
        r#"
//- /src/lib.rs
pub fn total(items: &[u32]) -> u32 {
    // @agent: make this overflow-safe
    items.iter().sum()
}
//- /src/app.ts
export function greet(name: string): string {
  return "hi " + name; /* @agent: use a template string */
}
"#,
    );
    // No language servers: meshls's own actions need none.
    let (mut server, _) = Server::start_initialized(&ws);
    let lib = ws.uri("src/lib.rs");
    let app = ws.uri("src/app.ts");
    server.open(&lib, "rust", &ws.read("src/lib.rs"));
    server.open(&app, "typescript", &ws.read("src/app.ts"));

    let rust = code_actions(&mut server, lib.as_str(), 1, json!([]));
    assert_eq!(
        titles(&rust),
        [
            "Apply @agent instruction: make this overflow-safe",
            "Explain total",
            "Document total",
            "Write tests for total",
            "Refactor total with agent",
            "Review this file with agent",
        ]
    );
    let instruction = &rust[0]["command"]["arguments"][0];
    assert_eq!(
        *instruction,
        json!({"action": "instruction", "uri": lib, "line": 1, "instruction": "make this overflow-safe"})
    );
    let explain = &rust[1]["command"]["arguments"][0];
    assert_eq!(explain["action"], "explain");
    assert_eq!(explain["range"]["start"]["line"], 0);
    assert_eq!(explain["range"]["end"]["line"], 3);

    let ts = code_actions(&mut server, app.as_str(), 1, json!([]));
    assert_eq!(
        titles(&ts)[0],
        "Apply @agent instruction: use a template string"
    );
    assert!(titles(&ts).contains(&"Write tests for greet".to_owned()));
    // A line without such a comment offers none.
    let plain = code_actions(&mut server, app.as_str(), 0, json!([]));
    assert!(!titles(&plain).iter().any(|t| t.starts_with("Apply @agent")));
    // Only the kinds asked for.
    let only = server
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": lib}, "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}},
                   "context": {"diagnostics": [], "only": ["source"]}}),
        )
        .unwrap();
    assert_eq!(
        titles(only.as_array().unwrap()),
        ["Review this file with agent"]
    );
    // Resolving one of meshls's own gives it back whole.
    let resolved = server
        .request("codeAction/resolve", rust[0].clone())
        .unwrap();
    assert_eq!(resolved["command"], rust[0]["command"]);
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_review_reads_only_and_its_findings_become_diagnostics_until_the_next_review() {
    let ws = Workspace::new("//- /src/lib.rs\npub fn a() {}\npub fn b() { panic!() }\n");
    // Findings come through report_finding, as in `meshls review`.
    let model = ModelServer::start(vec![
        tool_call(
            "c1",
            "report_finding",
            json!({"path": "src/lib.rs", "line": 2, "severity": "error", "category": "bug", "message": "b panics on every call"}),
        ),
        tool_call(
            "c2",
            "report_finding",
            json!({"path": "src/lib.rs", "line": 1, "severity": "info", "category": "maintainability", "message": "a does nothing"}),
        ),
        text_answer("Two findings."),
        text_answer("no findings"),
    ]);
    use_model(&ws, &model);
    let (mut server, _) = Server::start_initialized(&ws);
    let lib = ws.uri("src/lib.rs");
    server.open(&lib, "rust", &ws.read("src/lib.rs"));
    let actions = code_actions(&mut server, lib.as_str(), 0, json!([]));
    let review = actions
        .iter()
        .find(|a| a["title"] == "Review this file with agent")
        .unwrap()
        .clone();
    let run = |server: &mut Server| {
        let started = server
            .request(
                "workspace/executeCommand",
                json!({"command": review["command"]["command"], "arguments": review["command"]["arguments"]}),
            )
            .unwrap();
        reports_until_end(server, started["token"].as_str().unwrap());
    };
    run(&mut server);
    let published = server.wait_publication(&lib, |d| d["source"] == "meshls-review");
    let findings: Vec<(u64, u64, &str)> = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["source"] == "meshls-review")
        .map(|d| {
            (
                d["range"]["start"]["line"].as_u64().unwrap(),
                d["severity"].as_u64().unwrap(),
                d["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        [(1, 1, "b panics on every call"), (0, 3, "a does nothing")]
    );
    let shown = server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls agent"))
    });
    assert_eq!(
        shown["message"],
        "meshls agent: 2 finding(s) in lib.rs, with its diagnostics (source meshls-review)"
    );
    // A review only reads: the model was not offered the editing tools.
    let received = model.received();
    let tools: Vec<&str> = received[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(tools.contains(&"read_file"), "{tools:?}");
    assert!(
        !tools.contains(&"edit_file") && !tools.contains(&"write_file"),
        "{tools:?}"
    );

    // The next review (by meshls.review, this time) replaces the
    // findings: none now.
    server.skip_notifications("textDocument/publishDiagnostics");
    let started = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.review", "arguments": [lib]}),
        )
        .unwrap();
    reports_until_end(&mut server, started["token"].as_str().unwrap());
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == lib.as_str()
            && !p["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["source"] == "meshls-review")
    });
    assert!(server.shutdown_and_exit().success());
}

/// meshls for an editor named `name` that declares
/// `changeAnnotationSupport`.
fn declaring_change_annotations(ws: &Workspace, name: &str) -> Server {
    let (server, _) = Server::builder(ws)
        .client_name(name)
        .capabilities(json!({"workspace": {"workspaceEdit": {
            "documentChanges": true,
            "changeAnnotationSupport": {"groupsOnLabel": true},
        }}}))
        .start_initialized();
    server
}

#[test]
fn an_editor_that_previews_edits_confirms_them_there_instead_of_being_asked_first() {
    let ws = Workspace::new("//- /src/main.rs\nfn main() {}\n//- /src/util.rs\npub fn helo() {}\n");
    let rename = || {
        tool_call(
            "c1",
            "edit_file",
            json!({"path": "src/util.rs", "old_string": "helo", "new_string": "hello"}),
        )
    };
    let model = ModelServer::start(vec![
        rename(),
        text_answer("Renamed."),
        rename(),
        text_answer("You turned it down."),
    ]);
    use_model(&ws, &model);
    // VS Code, which shows its refactor preview for an edit marked
    // needsConfirmation.
    let mut server = declaring_change_annotations(&ws, "Visual Studio Code");
    server.apply_edits();
    // util.rs is not open: changing it needs the user's say.
    let main = ws.uri("src/main.rs");
    server.open(&main, "rust", &ws.read("src/main.rs"));

    let token = ask(&mut server, "Fix the typo in util.", main.as_str());
    reports_until_end(&mut server, &token);
    assert_eq!(
        server.agent_questions(),
        Vec::<String>::new(),
        "asked first, though the editor confirms edits itself"
    );
    let messages = server.messages();
    let edit = messages
        .iter()
        .find(|m| m["method"] == "workspace/applyEdit")
        .unwrap();
    let edit = &edit["params"]["edit"];
    assert_eq!(
        edit["changeAnnotations"]["meshls-agent"],
        json!({"label": "meshls agent", "needsConfirmation": true, "description": "The agent's change to util.rs"})
    );
    let change = &edit["documentChanges"][0];
    assert_eq!(change["textDocument"]["version"], Value::Null);
    assert_eq!(change["edits"][0]["annotationId"], "meshls-agent");
    assert_eq!(ws.read("src/util.rs"), "pub fn hello() {}\n");

    // Turned down in the preview: nothing changes, and the model hears it.
    std::fs::write(ws.path("src/util.rs"), "pub fn helo() {}\n").unwrap();
    server.reject_confirmations(true);
    let token = ask(&mut server, "Fix the typo in util again.", main.as_str());
    reports_until_end(&mut server, &token);
    assert_eq!(ws.read("src/util.rs"), "pub fn helo() {}\n");
    let told = &model.received()[3].body["messages"];
    let told = told.as_array().unwrap().last().unwrap();
    assert_eq!(
        told["content"],
        "the editor did not apply the edit to util.rs (the user did not confirm the change)"
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn an_editor_that_only_declares_change_annotations_is_asked_first() {
    // A client may declare changeAnnotationSupport and apply marked edits
    // as they come: only the editors known to show them get none.
    let ws = Workspace::new("//- /src/main.rs\nfn main() {}\n//- /src/util.rs\npub fn helo() {}\n");
    let model = ModelServer::start(vec![
        tool_call(
            "c1",
            "edit_file",
            json!({"path": "src/util.rs", "old_string": "helo", "new_string": "hello"}),
        ),
        text_answer("Not allowed."),
    ]);
    use_model(&ws, &model);
    let mut server = declaring_change_annotations(&ws, "some-editor");
    server.apply_edits();
    server.choose(Some("Deny"));
    let main = ws.uri("src/main.rs");
    server.open(&main, "rust", &ws.read("src/main.rs"));
    let token = ask(&mut server, "Fix the typo in util.", main.as_str());
    reports_until_end(&mut server, &token);
    assert_eq!(
        server.agent_questions(),
        ["meshls agent: Edit src/util.rs?"],
        "an edit to a file that is not open is asked about"
    );
    assert!(server
        .messages()
        .iter()
        .all(|m| m["method"] != "workspace/applyEdit"));
    assert_eq!(ws.read("src/util.rs"), "pub fn helo() {}\n");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_long_answer_is_written_to_a_file_the_editor_is_asked_to_show() {
    let ws = Workspace::new("//- /src/lib.rs\npub fn a() {}\n");
    let long: String = (1..=12)
        .map(|n| format!("Point {n}: something worth saying.\n"))
        .collect();
    let model = ModelServer::start(vec![text_answer(&long)]);
    use_model(&ws, &model);
    let (mut server, _) = Server::start_initialized(&ws);
    let lib = ws.uri("src/lib.rs");
    server.open(&lib, "rust", &ws.read("src/lib.rs"));
    let token = ask(&mut server, "Explain the crate.", lib.as_str());
    reports_until_end(&mut server, &token);
    let shown = server.wait_server_request("window/showDocument");
    let uri = shown["uri"].as_str().unwrap();
    // In the user's data, beside the workspace's database; never in the
    // workspace, which could ship a symlink where answers go.
    let path = lsp_types::Url::parse(uri).unwrap().to_file_path().unwrap();
    assert!(path.starts_with(ws.data_home()), "{uri}");
    assert_eq!(
        path.parent().unwrap().file_name().unwrap(),
        "answers",
        "{uri}"
    );
    assert_eq!(shown["takeFocus"], true);
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written,
        format!("# Explain the crate.\n\n{}\n", long.trim())
    );
    // This editor did not say it showed it: the user is told where it is.
    let told = server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls agent"))
    });
    assert_eq!(
        told["message"],
        format!("meshls agent answered in {}", path.display())
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn new_errors_from_typescript_after_an_edit_go_back_to_the_agent() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![
        // An edit that brings an error of its own.
        tool_call(
            "c1",
            "edit_file",
            json!({"path": "src/main.ts", "old_string": "toUpperCase()", "new_string": "toUpperCas()"}),
        ),
        text_answer("Done."),
        tool_call(
            "c2",
            "edit_file",
            json!({"path": "src/main.ts", "old_string": "toUpperCas()", "new_string": "toUpperCase()"}),
        ),
        text_answer("Done, properly this time."),
    ]);
    use_model(&ws, &model);
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");
    ask_until_done(&mut server, &main, "Tidy main.", 4);
    let received = model.received();
    assert_eq!(received.len(), 4);
    // What the model was told after its first answer: TypeScript's new
    // error, not the type error main.ts had before.
    let told = received[2].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        told.starts_with("After your changes the language servers report 1 new error(s):"),
        "{told}"
    );
    assert!(told.contains("src/main.ts:2:"), "{told}");
    assert!(told.contains("toUpperCas"), "{told}");
    assert!(!told.contains("not assignable"), "{told}");
    assert_eq!(
        server.document(&main).unwrap().0,
        "const label: string = 42;\nexport const text = label.toUpperCase();\n"
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_file_the_editor_names_with_an_escaped_uri_is_edited_as_the_editor_has_it() {
    let ws = Workspace::new("//- /src/[id]/page.ts\nexport const a: number = 1;\n");
    let model = ModelServer::start(vec![
        tool_call(
            "c1",
            "edit_file",
            json!({"path": "src/[id]/page.ts", "old_string": "= 1", "new_string": "= 2"}),
        ),
        text_answer("Done."),
    ]);
    use_model(&ws, &model);
    let (mut server, _) = Server::start_initialized(&ws);
    server.apply_edits();
    // As VS Code names it: brackets escaped, which a URI made from the path
    // does not do.
    let plain = ws.uri("src/[id]/page.ts");
    let escaped: lsp_types::Url = plain
        .as_str()
        .replace('[', "%5B")
        .replace(']', "%5D")
        .parse()
        .unwrap();
    assert_ne!(plain, escaped);
    // Unsaved in the editor: the agent must edit this text, not the disk's.
    let unsaved = "// draft\nexport const a: number = 1;\n";
    server.open(&escaped, "typescript", unsaved);
    let token = ask(&mut server, "Make it two.", escaped.as_str());
    reports_until_end(&mut server, &token);
    let edit = server
        .messages()
        .into_iter()
        .find(|m| m["method"] == "workspace/applyEdit")
        .expect("an edit");
    let change = &edit["params"]["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"]["uri"], escaped.as_str());
    assert_eq!(change["textDocument"]["version"], 1);
    assert_eq!(
        server.document(&escaped),
        Some(("// draft\nexport const a: number = 2;\n".to_owned(), 2))
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_model_that_rate_limits_and_sends_bad_tool_calls_still_gets_the_fix_applied_once() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![
        Reply::json(429, json!({"error": {"message": "slow down"}})).header("retry-after", "1"),
        read_main(),
        Reply::sse(
            &openai_sse(
                "",
                &[("c3", "edit_file", "{\"path\": \"src/main.ts\", \"old_str")],
                (100, 10),
            ),
            64,
        ),
        tool_call("c4", "format_disk", json!({"really": true})),
        fix_main(),
        text_answer("Fixed."),
    ]);
    ws.use_model_retrying(&format!("{}/v1", model.url()), 2, "");
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");
    ask_until_done(&mut server, &main, "Fix the type error.", 5);
    // The 429 was waited out and asked again; the broken and the unknown
    // tool calls went back to the model as errors it read.
    let received = model.received();
    assert_eq!(received.len(), 6);
    let tool_results = |request: usize| -> String {
        let results = received[request].tool_results().into_iter();
        results
            .map(|(_, content)| content)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        tool_results(3).contains("the arguments of edit_file are not a JSON object"),
        "{}",
        tool_results(3)
    );
    assert!(
        tool_results(4).contains("there is no tool named format_disk"),
        "{}",
        tool_results(4)
    );
    // The fix landed once, where it belongs.
    assert_fixed_once(&mut server, &main);
    assert!(server.shutdown_and_exit().success());
}

/// main.ts holds the fix, which came in one `workspace/applyEdit`.
fn assert_fixed_once(server: &mut Server, main: &lsp_types::Url) {
    assert_eq!(
        server.document(main).unwrap().0,
        "const label: string = \"42\";\nexport const text = label.toUpperCase();\n"
    );
    let edits = server
        .messages()
        .iter()
        .filter(|m| m["method"] == "workspace/applyEdit")
        .count();
    assert_eq!(edits, 1);
}

/// The model's fix of main.ts, as the wire carries it.
fn fix_main_wire() -> String {
    openai_sse(
        "",
        &[(
            "c2",
            "edit_file",
            &json!({"path": "src/main.ts", "old_string": "= 42;", "new_string": "= \"42\";"})
                .to_string(),
        )],
        (100, 10),
    )
}

#[test]
fn a_stream_cut_in_the_middle_of_an_edit_applies_nothing_and_says_so_once() {
    let cut = Reply::sse(&fix_main_wire(), 64).cut_after(150);
    let error = broken_edit_fails_once(cut, "");
    assert!(error.contains("stopped answering midway"), "{error}");
}

#[test]
fn a_stream_that_goes_silent_in_the_middle_of_an_edit_applies_nothing_and_says_so_once() {
    let wire = fix_main_wire();
    let silent = Reply::sse(&wire, 64).stall_after(wire.len() - 20, Duration::from_secs(30));
    let error = broken_edit_fails_once(silent, "idle_timeout = 1\n");
    assert!(error.contains("raise idle_timeout"), "{error}");
}

/// Reads main.ts, then gets `broken` for its edit (no retries): nothing
/// is applied, the progress ends as failed, and the user is told once, in
/// one sentence, which is returned.
fn broken_edit_fails_once(broken: Reply, more_config: &str) -> String {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![read_main(), broken]);
    ws.use_model(&format!("{}/v1", model.url()), more_config);
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");
    let before = server.document(&main).unwrap().0;
    let token = ask(&mut server, "Fix the type error.", main.as_str());
    let reports = reports_until_end(&mut server, &token);
    assert!(
        reports.last().unwrap().starts_with("end: failed"),
        "{reports:?}"
    );
    // The message may come after the progress ends; a request answered
    // after it shows that no second one followed.
    server.wait_notification("window/showMessage", |p| p["type"] == 1);
    server
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": main}, "position": {"line": 0, "character": 7}}),
        )
        .unwrap();
    let errors: Vec<String> = server
        .messages()
        .iter()
        .filter(|m| m["method"] == "window/showMessage" && m["params"]["type"] == 1)
        .map(|m| m["params"]["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(!errors[0].contains('\n'), "one sentence: {}", errors[0]);
    assert_eq!(server.document(&main).unwrap().0, before);
    assert!(!server
        .messages()
        .iter()
        .any(|m| m["method"] == "workspace/applyEdit"));
    assert!(server.shutdown_and_exit().success());
    errors[0].clone()
}

#[test]
fn a_model_that_stalls_or_fails_before_answering_is_asked_again_and_the_fix_lands_once() {
    let ws = Workspace::new(PROJECT);
    let wire = openai_sse(
        "",
        &[(
            "c1",
            "read_file",
            &json!({"path": "src/main.ts"}).to_string(),
        )],
        (100, 10),
    );
    let model = ModelServer::start(vec![
        // Silent before its first byte, then a 500, then silent inside
        // its first event: each time nothing was shown, so it is asked
        // again.
        Reply::stall(200, Duration::from_secs(30)),
        Reply::json(500, json!({"error": {"message": "overloaded"}})),
        Reply::sse(&wire, 64).stall_after(10, Duration::from_secs(30)),
        read_main(),
        fix_main(),
        text_answer("Fixed."),
    ]);
    ws.use_model_retrying(
        &format!("{}/v1", model.url()),
        3,
        "first_token_timeout = 1\nidle_timeout = 1\n",
    );
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");
    ask_until_done(&mut server, &main, "Fix the type error.", 3);
    assert_eq!(model.received().len(), 6);
    assert_fixed_once(&mut server, &main);
    assert!(!server
        .messages()
        .iter()
        .any(|m| m["method"] == "window/showMessage" && m["params"]["type"] == 1));
    assert!(server.shutdown_and_exit().success());
}

/// The key the model is reached with in the sessions test: none of the
/// commands that read sessions back may print it.
const SESSIONS_KEY: &str = "sk-meshlstest-4f9a8b7c6d5e4f3a2b1c0d9e8f7a";

#[test]
fn sessions_and_the_audit_log_read_back_from_the_command_line_without_the_key() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![text_answer("One."), text_answer("Two.")]);
    ws.use_model(
        &format!("{}/v1", model.url()),
        "api_key_env = \"MESHLS_TEST_SESSIONS_KEY\"\n",
    );
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .env("MESHLS_TEST_SESSIONS_KEY", SESSIONS_KEY)
        .start_initialized();
    let main = ws.uri("src/main.ts");
    server.open(&main, "typescript", &ws.read("src/main.ts"));
    // The user pastes the key into an instruction: it is kept redacted.
    let token = ask(
        &mut server,
        &format!("First: my key is {SESSIONS_KEY}"),
        main.as_str(),
    );
    reports_until_end(&mut server, &token);
    let second = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.newSession"}),
        )
        .unwrap();
    let token = ask(&mut server, "Second question", main.as_str());
    reports_until_end(&mut server, &token);
    let listed = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.sessions"}),
        )
        .unwrap();
    assert_eq!(
        listed[0]["id"], second["session"],
        "newest first: {listed:#}"
    );
    assert_eq!(listed[0]["title"], "Second question", "{listed:#}");
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed:#}");
    // meshls.showSession opens a session's transcript, the current one by
    // default: in the user's data, never in the workspace.
    for (arguments, id, says) in [
        (json!([]), &listed[0]["id"], "## You\n\nSecond question"),
        (
            json!([listed[1]["id"]]),
            &listed[1]["id"],
            "## You\n\nFirst: my key is",
        ),
    ] {
        let shown = server
            .request(
                "workspace/executeCommand",
                json!({"command": "meshls.showSession", "arguments": arguments}),
            )
            .unwrap();
        assert_eq!(&shown["session"], id, "{shown}");
        let asked = server.wait_server_request("window/showDocument");
        assert_eq!(asked["uri"], shown["uri"]);
        let path = lsp_types::Url::parse(asked["uri"].as_str().unwrap())
            .unwrap()
            .to_file_path()
            .unwrap();
        assert!(path.starts_with(ws.data_home()), "{path:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(says) && !text.contains(SESSIONS_KEY),
            "{text}"
        );
    }
    assert!(server.shutdown_and_exit().success());

    let run = |args: &[&str]| {
        let output = ws
            .meshls(&path_with_node_servers())
            .args(args)
            .arg("--root")
            .arg(ws.root())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "meshls {args:?}: {stderr}\n{stdout}"
        );
        assert!(
            !stdout.contains(SESSIONS_KEY) && !stderr.contains(SESSIONS_KEY),
            "meshls {args:?} printed the key: {stdout}{stderr}"
        );
        stdout
    };

    // The list, as the command answered it in the editor.
    let sessions: Value = serde_json::from_str(&run(&["sessions", "--json"])).unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 2, "{sessions:#}");
    let first = &sessions[1];
    assert!(
        first["title"]
            .as_str()
            .unwrap()
            .starts_with("First: my key is"),
        "{first}"
    );
    for session in sessions.as_array().unwrap() {
        assert_eq!(session["runs"], 1, "{session}");
        assert_eq!(
            session["tokens"],
            json!({"input": 100, "output": 10}),
            "{session}"
        );
        assert_eq!(session["state"], "idle", "{session}");
    }
    let text = run(&["sessions"]);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines().next().unwrap().ends_with("Second question"),
        "{text}"
    );

    // One session as markdown.
    let id = first["id"].as_str().unwrap();
    let shown = run(&["sessions", "show", id]);
    assert!(shown.contains("## You\n\nFirst: my key is"), "{shown}");
    assert!(shown.contains("## Agent\n\nOne."), "{shown}");

    // The audit log: both runs, each under its session.
    let audit: Value = serde_json::from_str(&run(&["audit", "--json"])).unwrap();
    let started: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["event"] == "run_started")
        .map(|entry| entry["session"].as_str().unwrap())
        .collect();
    assert_eq!(
        started,
        [id, sessions[0]["id"].as_str().unwrap()],
        "{audit:#}"
    );
    let only: Value = serde_json::from_str(&run(&["audit", "--json", "--session", id])).unwrap();
    assert!(
        only.as_array()
            .unwrap()
            .iter()
            .all(|entry| entry["session"] == id),
        "{only:#}"
    );
    assert!(run(&["audit"]).contains("run started: First: my key is"));

    // Pruning keeps what is newer than asked, and removes the rest.
    assert_eq!(
        run(&["sessions", "prune", "--older-than", "1"]),
        "removed 0 session(s) not used for 1 days\n"
    );
    // The sessions were last used a second ago at least.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        run(&["sessions", "prune", "--older-than", "0"]),
        "removed 2 session(s) not used for 0 days\n"
    );
    assert_eq!(run(&["sessions", "--json"]), "[]\n");
    assert_eq!(run(&["audit", "--json"]), "[]\n");
}

/// The type-error project with a second file, which stays closed.
const TWO_FILES: &str = r#"
//- /tsconfig.json
{"compilerOptions": {"strict": true}}
//- /src/main.ts
const label: string = 42;
export const text = label.toUpperCase();
//- /src/other.ts
export const other = 1;
"#;

/// The user's config: the agent talks to `model` and may change and create
/// files that are not open without asking.
fn use_model_editing_freely(ws: &Workspace, model: &ModelServer) {
    ws.use_model(
        &format!("{}/v1", model.url()),
        "[agent.permissions]\nedit_file = \"allow\"\nwrite_file = \"allow\"\n",
    );
}

fn undo_run(server: &mut Server, arguments: Value) -> Result<Value, String> {
    server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.undoRun", "arguments": arguments}),
        )
        .map_err(|err| err.to_string())
}

fn undo_edits(server: &mut Server) -> Vec<Value> {
    server
        .messages()
        .into_iter()
        .filter(|m| m["method"] == "workspace/applyEdit")
        .filter(|m| {
            m["params"]["label"]
                .as_str()
                .is_some_and(|label| label.starts_with("Undo: "))
        })
        .collect()
}

#[test]
fn undo_run_takes_a_whole_run_back_in_one_edit_once_and_keeps_the_users_own_edits() {
    let ws = Workspace::new(TWO_FILES);
    let model = ModelServer::start(vec![
        read_main(),
        fix_main(),
        tool_call(
            "c3",
            "edit_file",
            json!({"path": "src/other.ts", "old_string": "= 1;", "new_string": "= 2;"}),
        ),
        tool_call(
            "c4",
            "write_file",
            json!({"path": "src/added.ts", "content": "export const added = true;\n"}),
        ),
        text_answer("Done."),
        // The second run.
        fix_main(),
        text_answer("Fixed again."),
    ]);
    use_model_editing_freely(&ws, &model);
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");
    let (main_before, other_before) = (ws.read("src/main.ts"), ws.read("src/other.ts"));
    ask_until_done(&mut server, &main, "Fix it and more.", 5);
    let shown = server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls agent: Done."))
    });
    // The end of a run that changed files says how to undo it.
    assert_eq!(
        shown["message"],
        "meshls agent: Done.\n(Changed 3 files: undo the whole run with meshls.undoRun.)"
    );
    assert_ne!(server.document(&main).unwrap().0, main_before);
    assert_eq!(ws.read("src/other.ts"), "export const other = 2;\n");
    assert!(ws.root().join("src/added.ts").exists());

    // One edit takes the whole run back: the open file by its version,
    // the closed one on disk, the created one deleted.
    let undone = undo_run(&mut server, json!([])).unwrap();
    assert_eq!(undone["undone"], true, "{undone}");
    assert_eq!(
        undone["restored"],
        json!(["src/main.ts", "src/other.ts"]),
        "{undone}"
    );
    assert_eq!(undone["deleted"], json!(["src/added.ts"]), "{undone}");
    assert_eq!(undone["left"], json!([]), "{undone}");
    let edits = undo_edits(&mut server);
    assert_eq!(edits.len(), 1, "{edits:#?}");
    assert_eq!(edits[0]["params"]["label"], "Undo: Fix it and more.");
    assert_eq!(
        edits[0]["params"]["edit"]["documentChanges"][0]["textDocument"]["version"],
        2
    );
    assert_eq!(server.document(&main).unwrap().0, main_before);
    assert_eq!(ws.read("src/other.ts"), other_before);
    assert!(!ws.root().join("src/added.ts").exists());
    let run = undone["run"].clone();

    // A second undo of the same run changes nothing; with no run named,
    // there is none left to undo.
    let again = undo_run(&mut server, json!([{"run": run}])).unwrap();
    assert_eq!(again["undone"], false, "{again}");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("undone already"),
        "{again}"
    );
    let none = undo_run(&mut server, json!([])).unwrap_err();
    assert!(none.contains("nothing to undo"), "{none}");
    assert_eq!(undo_edits(&mut server).len(), 1);
    assert_eq!(server.document(&main).unwrap().0, main_before);

    // A run, then the user edits another part of the same file: undo
    // takes back the run's change and keeps the user's.
    ask_until_done(&mut server, &main, "Fix it again.", 2);
    let fixed = server.document(&main).unwrap().0;
    assert!(fixed.contains("\"42\""), "{fixed}");
    server.retype(&main, &format!("// mine\n{fixed}"));
    let undone = undo_run(&mut server, json!([])).unwrap();
    assert_eq!(undone["restored"], json!(["src/main.ts"]), "{undone}");
    assert_eq!(
        server.document(&main).unwrap().0,
        format!("// mine\n{main_before}")
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_cancelled_runs_edits_are_undone_in_one_step_from_its_closing_message() {
    let ws = Workspace::new(TWO_FILES);
    let gate = Gate::default();
    let model = ModelServer::start(vec![
        read_main(),
        fix_main(),
        tool_call(
            "c3",
            "write_file",
            json!({"path": "src/added.ts", "content": "export const added = true;\n"}),
        ),
        text_answer("never seen").after(&gate),
    ]);
    use_model_editing_freely(&ws, &model);
    let mut server = start(&ws);
    server.choose(Some("Undo"));
    let main = ws.uri("src/main.ts");
    let main_before = ws.read("src/main.ts");
    let token = ask(&mut server, "Fix it.", main.as_str());
    server.wait_notification("$/progress", |p| {
        p["token"] == token.as_str() && p["value"]["message"] == "step 4: asking the model"
    });
    assert!(ws.root().join("src/added.ts").exists());
    server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.cancel"}),
        )
        .unwrap();
    assert_eq!(
        reports_until_end(&mut server, &token).last().unwrap(),
        "end: cancelled"
    );
    gate.open();
    // The closing message offers "Undo"; the user takes it.
    let offered = server.wait_server_request_where("window/showMessageRequest", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls agent:"))
    });
    assert!(
        offered["message"]
            .as_str()
            .unwrap()
            .starts_with("meshls agent: cancelled; the run had already changed 2 files"),
        "{offered}"
    );
    assert_eq!(offered["actions"], json!([{"title": "Undo"}]));
    let said = server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls agent: undid"))
    });
    assert_eq!(
        said["message"],
        "meshls agent: undid \"Fix it.\": 1 file(s) restored, 1 created file(s) deleted"
    );
    assert_eq!(undo_edits(&mut server).len(), 1);
    assert_eq!(server.document(&main).unwrap().0, main_before);
    assert!(!ws.root().join("src/added.ts").exists());
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_follow_up_ask_continues_the_conversation() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![
        text_answer("label is a string that holds 42."),
        text_answer("Because 42 is a number."),
    ]);
    use_model(&ws, &model);
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");
    ask_until_done(&mut server, &main, "What is label?", 1);
    ask_until_done(&mut server, &main, "Why is it an error?", 1);
    let received = model.received();
    assert_eq!(received.len(), 2);
    // The second request holds the first instruction and its answer,
    // then the follow-up.
    let messages = received[1].body["messages"].as_array().unwrap();
    let said: Vec<(String, String)> = messages
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(said.len(), 3, "{said:#?}");
    assert_eq!(said[0].0, "user");
    assert!(said[0].1.starts_with("What is label?"), "{said:#?}");
    assert_eq!(
        said[1],
        (
            "assistant".to_owned(),
            "label is a string that holds 42.".to_owned()
        )
    );
    assert!(said[2].1.starts_with("Why is it an error?"), "{said:#?}");
    assert!(server.shutdown_and_exit().success());
}

/// Helix shows no message with buttons: the question waits in the run's
/// progress, in `meshls.status` and as code actions at the cursor, which
/// answer it.
#[test]
fn an_editor_without_message_buttons_answers_the_agent_with_code_actions() {
    let ws = Workspace::new(TWO_FILES);
    let model = ModelServer::start(vec![
        tool_call(
            "c1",
            "edit_file",
            json!({"path": "src/other.ts", "old_string": "= 1;", "new_string": "= 2;"}),
        ),
        tool_call(
            "c2",
            "write_file",
            json!({"path": "src/added.ts", "content": "export const added = true;\n"}),
        ),
        text_answer("Done."),
    ]);
    use_model(&ws, &model);
    let mut server = start(&ws);
    server.answer_no_questions();
    let main = ws.uri("src/main.ts");
    let token = ask(&mut server, "Change other.ts.", main.as_str());
    let waiting = server.wait_notification("$/progress", |p| {
        p["token"] == token.as_str()
            && p["value"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("waiting for your answer: Edit src/other.ts?"))
    });
    assert!(
        waiting["value"]["message"]
            .as_str()
            .unwrap()
            .contains("code actions"),
        "{waiting}"
    );
    let status = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.status", "arguments": [{"quiet": true}]}),
        )
        .unwrap();
    assert_eq!(
        status["agent"]["questions"][0]["action"], "Edit src/other.ts",
        "{status}"
    );
    // At any line of any open file, the answers come first.
    let actions = code_actions(&mut server, main.as_str(), 1, json!([]));
    let offered = titles(&actions);
    assert_eq!(
        offered[..3],
        [
            "Allow: Edit src/other.ts",
            "Always for this session: Edit src/other.ts",
            "Deny: Edit src/other.ts"
        ],
        "{offered:?}"
    );
    let allow = actions[0]["command"].clone();
    server
        .request(
            "workspace/executeCommand",
            json!({"command": allow["command"], "arguments": allow["arguments"]}),
        )
        .unwrap();
    // The next question, denied the same way.
    server.wait_notification("$/progress", |p| {
        p["token"] == token.as_str()
            && p["value"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("waiting for your answer: Create src/added.ts?"))
    });
    let actions = code_actions(&mut server, main.as_str(), 0, json!([]));
    let deny = actions
        .iter()
        .find(|a| a["title"] == "Deny: Create src/added.ts")
        .expect("a Deny action")["command"]
        .clone();
    server
        .request(
            "workspace/executeCommand",
            json!({"command": deny["command"], "arguments": deny["arguments"]}),
        )
        .unwrap();
    assert_eq!(
        reports_until_end(&mut server, &token).last().unwrap(),
        "end: done in 3 step(s)"
    );
    assert_eq!(ws.read("src/other.ts"), "export const other = 2;\n");
    assert!(!ws.root().join("src/added.ts").exists());
    // Answered, the questions are no longer offered; a late answer is
    // said to be too late.
    let actions = code_actions(&mut server, main.as_str(), 0, json!([]));
    assert!(
        !titles(&actions).iter().any(|t| t.starts_with("Allow:")),
        "{actions:?}"
    );
    let late = server
        .request(
            "workspace/executeCommand",
            json!({"command": allow["command"], "arguments": allow["arguments"]}),
        )
        .unwrap();
    assert_eq!(late["answered"], false);
    assert!(server.shutdown_and_exit().success());
}

/// The sessions, as `meshls.sessions` lists them.
fn listed_sessions(server: &mut Server) -> Vec<Value> {
    server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.sessions"}),
        )
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Two editors on one workspace: the first's meshls holds the database,
/// the second's works in a temporary one. Each lists the other's sessions
/// (so does `meshls sessions`), and the second's are handed over to the
/// next meshls that opens the database.
#[test]
fn a_second_editor_on_the_workspace_sees_the_sessions_and_hands_its_own_over() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![text_answer("One."), text_answer("Two.")]);
    use_model(&ws, &model);
    let main = ws.uri("src/main.ts");
    let mut first = start(&ws);
    ask_until_done(&mut first, &main, "First editor's question", 1);
    let mut second = start(&ws);
    ask_until_done(&mut second, &main, "Second editor's question", 1);

    let in_first = listed_sessions(&mut first);
    let in_second = listed_sessions(&mut second);
    let titles = |listed: &[Value]| -> Vec<(String, String)> {
        listed
            .iter()
            .map(|s| {
                (
                    s["title"].as_str().unwrap().to_owned(),
                    s["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        titles(&in_first),
        [
            (
                "Second editor's question".to_owned(),
                "elsewhere".to_owned()
            ),
            ("First editor's question".to_owned(), "idle".to_owned()),
        ]
    );
    assert_eq!(
        titles(&in_second),
        [
            ("Second editor's question".to_owned(), "idle".to_owned()),
            ("First editor's question".to_owned(), "elsewhere".to_owned()),
        ]
    );
    // The other's transcript opens too.
    let shown = first
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.showSession", "arguments": [in_first[0]["id"]]}),
        )
        .unwrap();
    let path = lsp_types::Url::parse(shown["uri"].as_str().unwrap())
        .unwrap()
        .to_file_path()
        .unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains("Second editor's question") && text.contains("Two."),
        "{text}"
    );
    // The command line, while the first holds the database, lists both.
    let output = ws
        .meshls(&path_with_node_servers())
        .args(["sessions", "--json", "--root"])
        .arg(ws.root())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let listed: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed.len(), 2, "{listed:#?}");

    // Both close; the next meshls has both sessions in the database.
    assert!(second.shutdown_and_exit().success());
    assert!(first.shutdown_and_exit().success());
    let mut third = start(&ws);
    let in_third = listed_sessions(&mut third);
    assert_eq!(
        titles(&in_third),
        [
            ("Second editor's question".to_owned(), "idle".to_owned()),
            ("First editor's question".to_owned(), "idle".to_owned()),
        ]
    );
    assert_eq!(in_third[0]["runs"], 1);
    assert!(third.shutdown_and_exit().success());
    let shared = std::fs::read_dir(
        ws.data_home()
            .join("meshls/workspaces")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("shared"),
    )
    .unwrap()
    .count();
    assert_eq!(shared, 0, "the handed-over file and the indexes are gone");
}

/// The session's transcript is kept live while a run goes: what the run
/// did so far is in it before the run ends, for editors that read the
/// conversation there (Helix, Emacs).
#[test]
fn the_transcript_shows_a_run_while_it_goes() {
    let ws = Workspace::new(PROJECT);
    let gate = Gate::default();
    let model = ModelServer::start(vec![
        read_main(),
        text_answer("Streamed and done.").after(&gate),
    ]);
    use_model(&ws, &model);
    let mut server = start(&ws);
    let main = ws.uri("src/main.ts");
    let token = ask(&mut server, "Look at main.ts.", main.as_str());
    server.wait_notification("$/progress", |p| {
        p["token"] == token.as_str() && p["value"]["message"] == "step 2: asking the model"
    });
    let shown = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.showSession"}),
        )
        .unwrap();
    let path = lsp_types::Url::parse(shown["uri"].as_str().unwrap())
        .unwrap()
        .to_file_path()
        .unwrap();
    let during = std::fs::read_to_string(&path).unwrap();
    assert!(
        during.contains("## You\n\nLook at main.ts.\n\n## Agent (working)")
            && during.contains("- `read_file` src/main.ts"),
        "{during}"
    );
    assert!(!during.contains("Streamed and done."), "{during}");
    gate.open();
    reports_until_end(&mut server, &token);
    // Once the run is over, the transcript is written whole.
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.contains("Streamed and done."), "{after}");
    assert!(!after.contains("(working)"), "{after}");
    assert!(server.shutdown_and_exit().success());
}

/// A run whose verify rounds end with new errors offers "Undo" when it
/// ends; taking it puts the file back as it was before the run.
#[test]
fn a_run_that_leaves_new_errors_offers_to_undo_it() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![
        tool_call(
            "c1",
            "edit_file",
            json!({"path": "src/main.ts", "old_string": "toUpperCase()", "new_string": "toUpperCas()"}),
        ),
        text_answer("Done."),
        // Told of the new error, the model leaves it.
        text_answer("It is fine as it is."),
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "verify_rounds = 1\n");
    let mut server = start(&ws);
    server.choose(Some("Undo"));
    let main = ws.uri("src/main.ts");
    let before = server.document(&main).unwrap().0;
    ask_until_done(&mut server, &main, "Tidy main.", 3);
    let offered = server.wait_server_request_where("window/showMessageRequest", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls agent:"))
    });
    assert_eq!(
        offered["message"],
        "meshls agent: 1 new error(s) remain after the agent's changes to src/main.ts. Undo the run?"
    );
    server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("meshls agent: undid \"Tidy main.\""))
    });
    assert_eq!(server.document(&main).unwrap().0, before);
    assert!(server.shutdown_and_exit().success());
}

/// A project whose type error sits inside a function, with instructions
/// for agents at the root and in `src/`.
const WITH_INSTRUCTIONS: &str = r#"
//- /tsconfig.json
{"compilerOptions": {"strict": true}}
//- /AGENTS.md
Run `npm test` before you say you are done.
//- /src/AGENTS.md
Use single quotes in TypeScript.
//- /src/main.ts
export function label(): string {
  const value: string = 42;
  return value;
}
"#;

/// "Fix with agent" starts the run knowing what a user would see: the
/// diagnostic among the file's, the enclosing function's text, and the
/// project's instructions, nearest last.
#[test]
fn a_fix_starts_with_the_diagnostics_the_enclosing_function_and_the_projects_instructions() {
    let ws = Workspace::new(WITH_INSTRUCTIONS);
    let model = ModelServer::start(vec![text_answer("Noted.")]);
    use_model(&ws, &model);
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();
    server.apply_edits();
    let main = ws.uri("src/main.ts");
    let type_error = open_until_type_error(&mut server, &ws, &main);
    let actions = code_actions(&mut server, main.as_str(), 1, json!(type_error));
    let fix = actions
        .iter()
        .find(|a| a["title"].as_str().unwrap().starts_with("Fix with agent"))
        .unwrap_or_else(|| panic!("{:?}", titles(&actions)))["command"]
        .clone();
    let started = server
        .request(
            "workspace/executeCommand",
            json!({"command": fix["command"], "arguments": fix["arguments"]}),
        )
        .unwrap();
    reports_until_end(&mut server, started["token"].as_str().unwrap());
    let request = model.received()[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        request.starts_with("Fix this problem in src/main.ts at line 2"),
        "{request}"
    );
    // The diagnostic, with its source, code and severity.
    assert!(
        request.contains(
            "- line 2: error [typescript 2322] Type 'number' is not assignable to type 'string'."
        ),
        "{request}"
    );
    // The enclosing function, whole, with its line numbers.
    assert!(
        request.contains("## Around the cursor: label in src/main.ts, lines 1 to 4")
            && request.contains("1\texport function label(): string {\n2\t  const value: string = 42;\n3\t  return value;\n4\t}\n"),
        "{request}"
    );
    // The instructions: the root's, then the nearer one.
    let root_rule = request.find("Run `npm test` before you say you are done.");
    let near_rule = request.find("Use single quotes in TypeScript.");
    assert!(
        matches!((root_rule, near_rule), (Some(a), Some(b)) if a < b),
        "{request}"
    );
    // The open file, unchanged.
    assert!(
        request.contains("## Open in the editor\n\n- src/main.ts\n"),
        "{request}"
    );
    assert!(server.shutdown_and_exit().success());
}
