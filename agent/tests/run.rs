//! The agent loop, end to end within the crate: a scripted model over real
//! HTTP calls real tools on a real workspace, through a stand-in editor.

mod support;

use std::time::Duration;

use meshls_agent::{
    config::{AgentConfig, Provider},
    host::FileChange,
    model::Message,
    models::Models,
    permissions::Policy,
    provider,
    run::{run, Ended, Limits, Progress, Report},
    tools::Tools,
};
use meshls_e2e::model_server::{openai_sse, ModelServer, Reply};
use support::Editor;
use tokio_util::sync::CancellationToken;

const MAIN: &str = "fn main() {\n    println!(\"helo\");\n}\n";

fn models(server: &ModelServer) -> Models {
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
    Models::new(&config, policy, |_| None).unwrap()
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
    let mut history = vec![Message::User("Fix the typo in main.".to_owned())];
    let mut progress = Vec::new();
    let report = run(
        &models(server),
        &tools,
        "You edit code.",
        &mut history,
        limits,
        cancel,
        |p| progress.push(p),
    )
    .await
    .unwrap();
    (report, history, progress)
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

    // What the model was sent: the tools, and each result after its call.
    let received = server.received();
    assert_eq!(received.len(), 3);
    let names: Vec<&str> = received[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert_eq!(names[8..], ["edit_file", "write_file"]);
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
    let mut history = vec![Message::User("Explain main.".to_owned())];
    // The user cancels as soon as the answer starts to show.
    let cancel = CancellationToken::new();
    let mut shown = Vec::new();
    let report = run(
        &models(&server),
        &tools,
        "",
        &mut history,
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
    assert_eq!(history.len(), 1);
}
