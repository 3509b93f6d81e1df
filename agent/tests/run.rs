//! The agent loop, end to end within the crate: a scripted model over real
//! HTTP calls real tools on a real workspace, through a stand-in editor.

mod support;

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::Duration,
};

use meshls_agent::{
    config::{AgentConfig, Provider},
    endpoints::Endpoints,
    host::{FileChange, Problem, Spot},
    model::{Message, ToolCall},
    outputs::Outputs,
    permissions::Policy,
    provider,
    run::{compact, run, Conversation, Ended, Limits, Progress, Report},
    tools::Tools,
};
use meshls_e2e::model_server::{openai_sse, ModelServer, Reply};
use support::Editor;
use tokio_util::sync::CancellationToken;

const MAIN: &str = "fn main() {\n    println!(\"helo\");\n}\n";

fn models(server: &ModelServer) -> Endpoints {
    let config = AgentConfig {
        provider: Provider::OpenAi,
        model: Some("scripted".to_owned()),
        base_url: Some(format!("{}/v1", server.url())),
        ..AgentConfig::default()
    };
    let policy = provider::Policy {
        attempts: 1,
        first_token: Duration::from_secs(10),
        ..provider::Policy::default()
    };
    Endpoints::new(&config, policy, |_| None).unwrap()
}

async fn go(
    server: &ModelServer,
    editor: &Editor,
    root: &std::path::Path,
    limits: &Limits,
    cancel: &CancellationToken,
) -> (Report, Vec<Message>, Vec<Progress>) {
    let policy = Policy::default();
    let tools = Tools {
        host: editor,
        root,
        policy: &policy,
    };
    let mut conversation = Conversation {
        messages: vec![Message::User("Fix the typo in main.".to_owned())],
        ..Conversation::default()
    };
    let mut progress = Vec::new();
    let report = run(
        &models(server),
        &tools,
        "You edit code.",
        &mut conversation,
        limits,
        cancel,
        |p| progress.push(p),
    )
    .await
    .unwrap();
    (report, conversation.messages, progress)
}

#[tokio::test]
async fn a_tool_using_run_reads_edits_and_answers() {
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN)]);
    let server = ModelServer::start(vec![
        Reply::sse(
            &openai_sse(
                "Let me look.",
                &[("c1", "read_file", r#"{"path": "src/main.rs"}"#)],
                (100, 10),
            ),
            11,
        ),
        Reply::sse(
            &openai_sse(
                "",
                &[(
                    "c2",
                    "edit_file",
                    r#"{"path": "src/main.rs", "old_string": "helo", "new_string": "hello"}"#,
                )],
                (150, 20),
            ),
            11,
        ),
        Reply::sse(
            &openai_sse("Fixed the typo: helo is now hello.", &[], (200, 12)),
            11,
        ),
    ]);
    let mut editor = Editor::default();
    editor
        .open
        .insert(root.join("src/main.rs"), (MAIN.to_owned(), 3));
    let (report, history, progress) = go(
        &server,
        &editor,
        &root,
        &Limits::default(),
        &CancellationToken::new(),
    )
    .await;

    assert_eq!(report.ended, Ended::Answered);
    assert_eq!(report.answer, "Fixed the typo: helo is now hello.");
    assert_eq!(report.steps, 3);
    assert_eq!(
        (report.usage.input_tokens, report.usage.output_tokens),
        (450, 42)
    );
    let applied = editor.applied.lock().unwrap().clone();
    assert_eq!(
        applied,
        vec![FileChange::Edit {
            path: root.join("src/main.rs"),
            version: Some(3),
            read: MAIN.to_owned(),
            replacements: vec![(26..30, "hello".to_owned())],
        }]
    );
    assert!(progress.contains(&Progress::Tool {
        name: "edit_file".to_owned(),
        about: "src/main.rs".to_owned()
    }));
    // User, then per step the assistant's turn and its tools' results.
    assert_eq!(history.len(), 6);
    assert_eq!(report.changed, [root.join("src/main.rs")]);
    // The run waited for the fresh diagnostics of the file it changed,
    // which brought no new error.
    assert_eq!(
        *editor.waited.lock().unwrap(),
        [vec![root.join("src/main.rs")]]
    );
    assert!(progress.contains(&Progress::Verifying { files: 1 }));
    assert!(report.errors_left.is_empty());

    // What the model was sent: the tools, and each result after its call.
    let received = server.received();
    assert_eq!(received.len(), 3);
    let names: Vec<&str> = received[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 11, "{names:?}");
    assert_eq!(names[8..], ["edit_file", "write_file", "read_output"]);
    let second = &received[1].body["messages"];
    assert_eq!(second[2]["tool_calls"][0]["id"], "c1");
    assert_eq!(second[3]["role"], "tool");
    assert_eq!(second[3]["tool_call_id"], "c1");
    assert_eq!(
        second[3]["content"],
        "1\tfn main() {\n2\t    println!(\"helo\");\n3\t}\n"
    );
    let third = &received[2].body["messages"];
    assert_eq!(third[5]["content"], "edited src/main.rs: 1 replacement(s)");
}

#[tokio::test]
async fn a_tool_error_goes_back_to_the_model_and_the_run_goes_on() {
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN)]);
    let server = ModelServer::start(vec![
        Reply::sse(
            &openai_sse(
                "",
                &[("c1", "read_file", r#"{"path": "../../etc/passwd"}"#)],
                (10, 5),
            ),
            64,
        ),
        Reply::sse(&openai_sse("I may not read that.", &[], (10, 5)), 64),
    ]);
    let editor = Editor::default();
    let (report, _, _) = go(
        &server,
        &editor,
        &root,
        &Limits::default(),
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.answer, "I may not read that.");
    let sent = &server.received()[1].body["messages"][3];
    assert!(
        sent["content"]
            .as_str()
            .unwrap()
            .contains("is outside the workspace"),
        "{sent}"
    );
}

#[tokio::test]
async fn max_steps_and_the_token_budget_end_a_run() {
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN)]);
    let looping = || Reply::sse(&openai_sse("", &[("c", "list_files", "{}")], (600, 10)), 64);
    let server = ModelServer::start(vec![looping(), looping(), looping()]);
    let limits = Limits {
        max_steps: 2,
        ..Limits::default()
    };
    let (report, _, _) = go(
        &server,
        &Editor::default(),
        &root,
        &limits,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!((report.ended, report.steps), (Ended::MaxSteps, 2));
    assert_eq!(server.received().len(), 2);

    let server = ModelServer::start(vec![looping(), looping(), looping()]);
    let limits = Limits {
        token_budget: 1000,
        ..Limits::default()
    };
    let (report, _, _) = go(
        &server,
        &Editor::default(),
        &root,
        &limits,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!((report.ended, report.steps), (Ended::Budget, 2));
}

#[tokio::test]
async fn a_run_is_cancelled_while_the_model_is_streaming() {
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN)]);
    let mut slow = Reply::sse(
        &openai_sse(
            "This answer takes a long time to arrive, word by word.",
            &[],
            (1, 1),
        ),
        64,
    );
    slow.pause = Duration::from_millis(50);
    let server = ModelServer::start(vec![slow]);
    let editor = Editor::default();
    let policy = Policy::default();
    let tools = Tools {
        host: &editor,
        root: &root,
        policy: &policy,
    };
    let mut conversation = Conversation {
        messages: vec![Message::User("Explain main.".to_owned())],
        ..Conversation::default()
    };
    // The user cancels as soon as the answer starts to show.
    let cancel = CancellationToken::new();
    let mut shown = Vec::new();
    let report = run(
        &models(&server),
        &tools,
        "",
        &mut conversation,
        &Limits::default(),
        &cancel,
        |p| {
            if let Progress::Model(delta) = p {
                shown.push(delta);
                cancel.cancel();
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(report.ended, Ended::Cancelled);
    assert_eq!(
        shown.len(),
        1,
        "nothing more is read after the cancel: {shown:?}"
    );
    // The unfinished answer does not become part of the conversation.
    assert_eq!(conversation.messages.len(), 1);
}

fn error(root: &std::path::Path, line: u32, message: &str) -> Problem {
    Problem {
        at: Spot {
            path: root.join("src/main.rs"),
            line,
            column: 4,
        },
        severity: "error".to_owned(),
        source: "rustc".to_owned(),
        code: "E0425".to_owned(),
        message: message.to_owned(),
    }
}

fn edit(id: &str, old: &str, new: &str) -> Reply {
    let arguments =
        serde_json::json!({"path": "src/main.rs", "old_string": old, "new_string": new});
    Reply::sse(
        &openai_sse("", &[(id, "edit_file", &arguments.to_string())], (10, 5)),
        64,
    )
}

#[tokio::test]
async fn new_errors_after_the_edits_go_back_to_the_model_until_they_are_gone() {
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN)]);
    let server = ModelServer::start(vec![
        edit("c1", "helo", "hello\", nme"),
        Reply::sse(&openai_sse("Done.", &[], (10, 5)), 64),
        // The stand-in editor does not change its text: the same edit again.
        edit("c2", "helo", "hello"),
        Reply::sse(&openai_sse("Done, and it compiles.", &[], (10, 5)), 64),
    ]);
    let old = error(&root, 9, "cannot find value `elsewhere` in this scope");
    let new = error(&root, 2, "cannot find value `nme` in this scope");
    let editor = Editor {
        // An error the file had before the run is not the agent's doing.
        findings: vec![old.clone()],
        after_edits: Mutex::new(VecDeque::from([
            vec![old.clone(), new.clone()],
            vec![old.clone()],
        ])),
        open: HashMap::from([(root.join("src/main.rs"), (MAIN.to_owned(), 1))]),
        ..Editor::default()
    };
    let (report, history, progress) = go(
        &server,
        &editor,
        &root,
        &Limits::default(),
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.ended, Ended::Answered);
    assert_eq!(
        report.answer, "Done, and it compiles.",
        "{report:?} {history:?}"
    );
    assert!(report.errors_left.is_empty(), "{:?}", report.errors_left);
    assert_eq!(editor.waited.lock().unwrap().len(), 2);
    assert_eq!(
        progress
            .iter()
            .filter(|p| matches!(p, Progress::Verifying { .. }))
            .count(),
        2
    );
    // What the model was told after its first answer: the new error only.
    let Message::User(feedback) = &history[4] else {
        panic!("{:?}", history[4])
    };
    assert!(feedback.contains("1 new error(s)"), "{feedback}");
    assert!(
        feedback.contains("src/main.rs:2:4: error [rustc E0425] cannot find value `nme`"),
        "{feedback}"
    );
    assert!(!feedback.contains("elsewhere"), "{feedback}");
    let sent = &server.received()[2].body["messages"];
    assert_eq!(sent[5]["role"], "user");
    assert_eq!(sent[5]["content"], feedback.as_str());
}

#[tokio::test]
async fn verifying_stops_after_its_rounds_and_reports_the_errors_left() {
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN)]);
    let server = ModelServer::start(vec![
        edit("c1", "helo", "hello\", nme"),
        Reply::sse(&openai_sse("Done.", &[], (10, 5)), 64),
        Reply::sse(&openai_sse("It is fine as it is.", &[], (10, 5)), 64),
    ]);
    let new = error(&root, 2, "cannot find value `nme` in this scope");
    let editor = Editor {
        after_edits: Mutex::new(VecDeque::from([vec![new.clone()], vec![new.clone()]])),
        open: HashMap::from([(root.join("src/main.rs"), (MAIN.to_owned(), 1))]),
        ..Editor::default()
    };
    let limits = Limits {
        verify_rounds: 1,
        ..Limits::default()
    };
    let (report, _, _) = go(&server, &editor, &root, &limits, &CancellationToken::new()).await;
    assert_eq!(report.answer, "It is fine as it is.");
    assert_eq!(report.steps, 3);
    assert_eq!(report.errors_left, [new]);

    // With no verify rounds the run does not wait for diagnostics at all.
    let server = ModelServer::start(vec![
        edit("c1", "helo", "hello"),
        Reply::sse(&openai_sse("Done.", &[], (10, 5)), 64),
    ]);
    let editor = Editor {
        open: HashMap::from([(root.join("src/main.rs"), (MAIN.to_owned(), 1))]),
        ..Editor::default()
    };
    let limits = Limits {
        verify_rounds: 0,
        ..Limits::default()
    };
    let (report, _, _) = go(&server, &editor, &root, &limits, &CancellationToken::new()).await;
    assert_eq!((report.steps, report.ended), (2, Ended::Answered));
    assert!(editor.waited.lock().unwrap().is_empty());
}

/// A file of numbered lines, `lines` of them.
fn long_file(lines: usize) -> String {
    (1..=lines)
        .map(|n| format!("// line {n:05} of a long file\n"))
        .collect()
}

#[tokio::test]
async fn a_cut_tool_output_can_be_read_on_with_read_output() {
    let long = long_file(2000); // 60 KB
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN), ("src/long.rs", &long)]);
    let server = ModelServer::start(vec![
        Reply::sse(
            &openai_sse(
                "",
                &[("c1", "read_file", r#"{"path": "src/long.rs"}"#)],
                (10, 5),
            ),
            4096,
        ),
        Reply::sse(
            &openai_sse(
                "",
                &[(
                    "c2",
                    "read_output",
                    r#"{"id": 1, "offset": 30000, "limit": 100}"#,
                )],
                (10, 5),
            ),
            4096,
        ),
        Reply::sse(&openai_sse("Read it.", &[], (10, 5)), 4096),
    ]);
    let (report, history, _) = go(
        &server,
        &Editor::default(),
        &root,
        &Limits::default(),
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.answer, "Read it.");
    let Message::ToolResult { content: cut, .. } = &history[2] else {
        panic!("{:?}", history[2])
    };
    assert!(cut.len() < 30_200, "{}", cut.len());
    assert!(
        cut.ends_with("more bytes; read_output with id 1 and offset 30000 reads on)"),
        "{}",
        &cut[29_900..]
    );
    let Message::ToolResult {
        content: more,
        is_error,
        ..
    } = &history[4]
    else {
        panic!("{:?}", history[4])
    };
    assert!(!is_error, "{more}");
    // read_file numbers lines: the whole output is what read_file returned.
    let whole: String = long
        .lines()
        .enumerate()
        .map(|(n, line)| format!("{}\t{line}\n", n + 1))
        .collect();
    assert!(more.starts_with(&whole[30_000..30_100]), "{more}");
    assert!(
        more.ends_with(&format!(
            "(bytes 30000-30100 of {}; read on with offset 30100)",
            whole.len()
        )),
        "{more}"
    );
}

#[tokio::test]
async fn old_tool_outputs_make_room_when_the_conversation_nears_the_context_window() {
    let long = long_file(600); // 18 KB, about 4500 tokens
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN), ("src/long.rs", &long)]);
    let read = |id: &str, tokens: u64| {
        Reply::sse(
            &openai_sse(
                "",
                &[(id, "read_file", r#"{"path": "src/long.rs"}"#)],
                (tokens, 5),
            ),
            4096,
        )
    };
    let server = ModelServer::start(vec![
        read("c1", 100),
        // The provider counts what it was sent: the first output is in it.
        read("c2", 4600),
        Reply::sse(
            &openai_sse(
                "",
                &[("c3", "read_output", r#"{"id": 1, "limit": 40}"#)],
                (5000, 5),
            ),
            4096,
        ),
        Reply::sse(&openai_sse("Both read.", &[], (600, 5)), 4096),
    ]);
    let limits = Limits {
        context_window: 10_000,
        max_tokens: 1000,
        ..Limits::default()
    };
    let (report, history, _) = go(
        &server,
        &Editor::default(),
        &root,
        &limits,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.answer, "Both read.");
    let received = server.received();
    // The second request had the first output whole; by the third, with two
    // outputs (about 9000 tokens) in a window of 10000, the older one made
    // room, and the newer stayed.
    let output = |request: usize, message: usize| {
        received[request].body["messages"][message]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(output(1, 3).contains("line 00600"));
    assert_eq!(
        output(2, 3),
        "(output dropped to make room; read_output with id 1 reads it back)"
    );
    assert!(output(2, 5).contains("line 00600"));
    // And the model read it back.
    let Message::ToolResult { content, .. } = &history[6] else {
        panic!("{:?}", history[6])
    };
    assert!(content.starts_with("1\t// line 00001"), "{content}");
    // Nothing but the old output went.
    assert_eq!(
        received[2].body["messages"][1]["content"],
        "Fix the typo in main."
    );
    assert_eq!(received[2].body["messages"].as_array().unwrap().len(), 6);
}

#[test]
fn when_dropping_outputs_is_not_enough_whole_old_steps_go_but_never_half_a_step() {
    let call = |id: &str| Message::Assistant {
        text: "looking".to_owned(),
        tool_calls: vec![ToolCall {
            id: id.to_owned(),
            name: "grep".to_owned(),
            arguments: "{}".repeat(500),
        }],
    };
    let result = |id: &str| Message::ToolResult {
        call_id: id.to_owned(),
        content: "match\n".repeat(10),
        is_error: false,
    };
    let mut messages = vec![
        Message::User("Find it.".to_owned()),
        call("a"),
        result("a"),
        call("b"),
        result("b"),
        call("c"),
        result("c"),
    ];
    let mut outputs = Outputs::default();
    // Small outputs are not worth dropping; the first step's call is.
    let freed = compact(&mut messages, &mut outputs, &mut 0, 1500, 1000);
    assert!(freed >= 1000, "{freed}");
    assert_eq!(
        messages,
        [
            Message::User("Find it.".to_owned()),
            Message::User("(meshls dropped 2 earlier messages to make room)".to_owned()),
            call("b"),
            result("b"),
            call("c"),
            result("c"),
        ]
    );
    // The last step stays whatever is asked.
    compact(&mut messages, &mut outputs, &mut 0, usize::MAX, usize::MAX);
    assert_eq!(messages[messages.len() - 2..], [call("c"), result("c")]);
    assert_eq!(messages[0], Message::User("Find it.".to_owned()));
    assert!(matches!(&messages[1], Message::User(note) if note.starts_with("(meshls dropped")));
    assert_eq!(messages.len(), 4);
}

#[tokio::test]
async fn a_run_cancelled_during_a_tool_call_leaves_no_call_without_its_result() {
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN)]);
    let server = ModelServer::start(vec![Reply::sse(
        &openai_sse(
            "",
            &[
                ("c1", "run_command", r#"{"command": "sleep 30"}"#),
                ("c2", "read_file", r#"{"path": "src/main.rs"}"#),
            ],
            (10, 5),
        ),
        64,
    )]);
    let editor = Editor::default();
    let policy = Policy {
        run_command: true,
        rules: toml::from_str("run_command = { allow = [\"sleep *\"] }").unwrap(),
        ..Policy::default()
    };
    let tools = Tools {
        host: &editor,
        root: &root,
        policy: &policy,
    };
    let mut conversation = Conversation {
        messages: vec![Message::User("Wait.".to_owned())],
        ..Conversation::default()
    };
    let cancel = CancellationToken::new();
    let report = run(
        &models(&server),
        &tools,
        "",
        &mut conversation,
        &Limits::default(),
        &cancel,
        |p| {
            if matches!(p, Progress::Tool { .. }) {
                cancel.cancel();
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(report.ended, Ended::Cancelled);
    // The session can go on: both calls have a result.
    let results: Vec<(&str, &str)> = conversation.messages[2..]
        .iter()
        .map(|m| match m {
            Message::ToolResult {
                call_id, content, ..
            } => (call_id.as_str(), content.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        results,
        [
            ("c1", "cancelled by the user before it finished"),
            ("c2", "cancelled by the user before it finished"),
        ]
    );
}

#[test]
fn compaction_drops_earlier_runs_first_and_never_this_runs_request() {
    let step = |id: &str| {
        [
            Message::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    id: id.to_owned(),
                    name: "grep".to_owned(),
                    arguments: "{}".repeat(200),
                }],
            },
            Message::ToolResult {
                call_id: id.to_owned(),
                content: "x".to_owned(),
                is_error: false,
            },
        ]
    };
    let mut messages = vec![Message::User("First run.".to_owned())];
    messages.extend(step("a"));
    messages.push(Message::Assistant {
        text: "Done.".to_owned(),
        tool_calls: vec![],
    });
    messages.push(Message::User("Second run.".to_owned()));
    messages.extend(step("b"));
    messages.extend(step("c"));
    let mut request = 4;
    compact(
        &mut messages,
        &mut Outputs::default(),
        &mut request,
        usize::MAX,
        usize::MAX,
    );
    assert_eq!(messages[request], Message::User("Second run.".to_owned()));
    // What is left: the first request, the note, this run's request and
    // its last step; this run's first step went after the first run's.
    assert_eq!(messages.len(), 5, "{messages:#?}");
    assert_eq!(messages[0], Message::User("First run.".to_owned()));
    assert!(matches!(&messages[1], Message::User(note) if note.starts_with("(meshls dropped 5")));
    assert_eq!(messages[3..], step("c"));
}
