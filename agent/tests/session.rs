//! Sessions and the audit log in a real sled database: they survive a
//! restart, hold one run at a time, record every tool call, approval and
//! edit, and never hold an API key.

mod support;

use std::{
    collections::HashMap,
    io::Write,
    path::Path,
    sync::{Arc, Mutex},
};

use meshls_agent::{
    config::{AgentConfig, Provider},
    endpoints::Endpoints,
    model::{Message, Usage},
    permissions::Policy,
    provider,
    run::{Ended, Limits, Report},
    session::{Busy, Event, Sessions, Store, Trees, SCHEMA_VERSION},
};
use meshls_e2e::model_server::{openai_sse, ModelServer, Reply};
use support::Editor;
use tokio_util::sync::CancellationToken;

const MAIN: &str = "fn main() {\n    println!(\"helo\");\n}\n";
const KEY: &str = "sk-meshls-test-5ecret-4e1d9a";

fn models(server: &ModelServer) -> Endpoints {
    let config = AgentConfig {
        provider: Provider::OpenAi,
        model: Some("scripted".to_owned()),
        base_url: Some(format!("{}/v1", server.url())),
        api_key_env: Some("MESHLS_TEST_KEY".to_owned()),
        ..AgentConfig::default()
    };
    let policy = provider::Policy {
        attempts: 1,
        ..provider::Policy::default()
    };
    Endpoints::new(&config, policy, |variable| {
        (variable == "MESHLS_TEST_KEY").then(|| KEY.to_owned())
    })
    .unwrap()
}

fn open(dir: &Path) -> (sled::Db, Sessions) {
    let db = sled::open(dir).unwrap();
    let store = Store::open(Trees::of(&db).unwrap()).unwrap();
    (db, Sessions::new(store))
}

/// A run that reads main.rs, fixes it, and answers.
fn fixing_script() -> Vec<Reply> {
    vec![
        Reply::sse(
            &openai_sse(
                "",
                &[("c1", "read_file", r#"{"path": "src/main.rs"}"#)],
                (100, 10),
            ),
            16,
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
            16,
        ),
        Reply::sse(&openai_sse("Fixed.", &[], (200, 5)), 16),
    ]
}

async fn go(
    sessions: &Sessions,
    id: &str,
    server: &ModelServer,
    editor: &Editor,
    root: &Path,
    request: &str,
) -> Report {
    let mut running = sessions.begin(id).expect("the session exists").unwrap();
    sessions
        .run(
            &mut running,
            &models(server),
            editor,
            root,
            &Policy::default(),
            "You edit code.",
            request,
            &Limits::default(),
            &CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap()
}

fn editor_with_main(root: &Path) -> Editor {
    Editor {
        open: HashMap::from([(root.join("src/main.rs"), (MAIN.to_owned(), 1))]),
        ..Editor::default()
    }
}

#[tokio::test]
async fn a_session_survives_a_restart_and_goes_on_from_where_it_was() {
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN)]);
    let data = tempfile::tempdir().unwrap();
    let server = ModelServer::start(fixing_script());
    let editor = editor_with_main(&root);
    let id = {
        let (db, sessions) = open(data.path());
        let id = sessions.latest();
        let report = go(
            &sessions,
            &id,
            &server,
            &editor,
            &root,
            "Fix the typo.\nPlease.",
        )
        .await;
        assert_eq!((report.ended, report.steps), (Ended::Answered, 3));
        db.flush().unwrap();
        id
    };

    // meshls restarts.
    let (_db, sessions) = open(data.path());
    assert_eq!(sessions.latest(), id);
    let running = sessions.begin(&id).unwrap().unwrap();
    assert_eq!(running.title, "Fix the typo.");
    assert_eq!(running.runs, 1);
    assert_eq!(
        running.usage,
        Usage {
            input_tokens: 450,
            output_tokens: 35
        }
    );
    assert_eq!(running.conversation.messages.len(), 6);
    assert_eq!(
        running.conversation.messages[5],
        Message::Assistant {
            text: "Fixed.".to_owned(),
            tool_calls: vec![]
        }
    );
    drop(running);

    // The next run starts from the conversation so far, and adds to the totals.
    let server = ModelServer::start(vec![Reply::sse(
        &openai_sse("It printed helo.", &[], (300, 7)),
        16,
    )]);
    let report = go(&sessions, &id, &server, &editor, &root, "What was wrong?").await;
    assert_eq!(report.answer, "It printed helo.");
    let sent = &server.received()[0].body["messages"];
    assert_eq!(sent[1]["content"], "Fix the typo.\nPlease.");
    assert_eq!(sent[6]["content"], "Fixed.");
    assert_eq!(sent[7]["content"], "What was wrong?");
    let running = sessions.begin(&id).unwrap().unwrap();
    assert_eq!((running.runs, running.usage.input_tokens), (2, 750));

    // A new session starts empty, and is the latest.
    drop(running);
    let fresh = sessions.create();
    assert_ne!(fresh, id);
    assert_eq!(sessions.latest(), fresh);
    assert!(sessions
        .begin(&fresh)
        .unwrap()
        .unwrap()
        .conversation
        .messages
        .is_empty());
    assert!(sessions.begin("no-such-session").is_none());
}

#[tokio::test]
async fn a_session_runs_one_run_at_a_time() {
    let data = tempfile::tempdir().unwrap();
    let (_db, sessions) = open(data.path());
    let id = sessions.create();
    let first = sessions.begin(&id).unwrap().unwrap();
    let Some(Err(busy)) = sessions.begin(&id) else {
        panic!("a second run was let in")
    };
    assert_eq!(busy, Busy(id.clone()));
    assert_eq!(
        busy.to_string(),
        format!("the agent is already working in session {id}; wait for it to finish, or cancel it, then ask again")
    );
    // Another session is not held up.
    let other = sessions.create();
    assert!(sessions.begin(&other).unwrap().is_ok());
    drop(first);
    assert!(sessions.begin(&id).unwrap().is_ok());
}

#[tokio::test]
async fn every_tool_call_approval_and_edit_goes_to_the_audit_log_in_order() {
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN), ("src/lib.rs", "// helo\n")]);
    let data = tempfile::tempdir().unwrap();
    let server = ModelServer::start(vec![
        Reply::sse(
            &openai_sse(
                "",
                &[
                    (
                        "c1",
                        "edit_file",
                        r#"{"path": "src/main.rs", "old_string": "helo", "new_string": "hello"}"#,
                    ),
                    // Not open in the editor: the user is asked, and says no.
                    (
                        "c2",
                        "edit_file",
                        r#"{"path": "src/lib.rs", "old_string": "helo", "new_string": "hello"}"#,
                    ),
                ],
                (10, 5),
            ),
            16,
        ),
        Reply::sse(&openai_sse("Fixed one.", &[], (10, 5)), 16),
    ]);
    let editor = editor_with_main(&root);
    let (_db, sessions) = open(data.path());
    let id = sessions.create();
    go(&sessions, &id, &server, &editor, &root, "Fix the typos.").await;

    let log: Vec<Event> = sessions
        .store()
        .audit_log()
        .into_iter()
        .inspect(|entry| assert_eq!(entry.session, id))
        .map(|entry| entry.event)
        .collect();
    assert_eq!(
        log,
        [
            Event::RunStarted {
                request: "Fix the typos.".to_owned()
            },
            Event::Edit {
                path: root.join("src/main.rs"),
                created: false,
                refused: None
            },
            Event::ToolCall {
                tool: "edit_file".to_owned(),
                about: "src/main.rs".to_owned(),
                ok: true
            },
            Event::Approval {
                action: "Edit src/lib.rs".to_owned(),
                allowed: false
            },
            Event::ToolCall {
                tool: "edit_file".to_owned(),
                about: "src/lib.rs".to_owned(),
                ok: false
            },
            Event::RunEnded {
                ended: "Answered".to_owned(),
                steps: 2,
                usage: Usage {
                    input_tokens: 20,
                    output_tokens: 10
                },
                cost: 0.0
            },
        ]
    );
}

/// Everything written to `buffer`, for a tracing subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every file under `dir`, concatenated.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.to_ascii_lowercase();
    haystack
        .to_ascii_lowercase()
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Every log line of this test binary, from every test in it (a global
/// subscriber: a thread's own can miss events whose interest another
/// thread's absence of one had cached).
fn captured_logs() -> &'static Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
}

#[tokio::test]
async fn the_api_key_is_never_written_to_the_database_or_the_log() {
    let logs = captured_logs();
    let (_dir, root) = support::workspace(&[("src/main.rs", MAIN)]);
    let data = tempfile::tempdir().unwrap();
    let server = ModelServer::start(fixing_script());
    let editor = editor_with_main(&root);
    {
        let (db, sessions) = open(data.path());
        let id = sessions.latest();
        go(&sessions, &id, &server, &editor, &root, "Fix the typo.").await;
        sessions.store().flush().unwrap();
        db.flush().unwrap();
    }
    // The key was sent to the model, where it belongs.
    assert_eq!(
        server.received()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );

    let stored = all_bytes(data.path());
    // What the run did is there, in plain bytes, so the search below can
    // find what is there.
    assert!(contains(&stored, "Fix the typo."));
    assert!(contains(&stored, "edit_file"));
    for secret in [KEY, "5ecret", "Bearer", "authorization", "MESHLS_TEST_KEY"] {
        assert!(!contains(&stored, secret), "the database holds {secret}");
    }
    let logs = logs.0.lock().unwrap().clone();
    // The endpoint that holds the key was logged, and the run.
    assert!(
        contains(&logs, "asking the model"),
        "{}",
        String::from_utf8_lossy(&logs)
    );
    assert!(contains(&logs, "api_key: Some(\"<redacted>\")"));
    assert!(contains(&logs, "an agent run ended"));
    for secret in [KEY, "5ecret", "Bearer"] {
        assert!(
            !contains(&logs, secret),
            "the log holds {secret}: {}",
            String::from_utf8_lossy(&logs)
        );
    }
}

#[tokio::test]
async fn a_database_from_a_newer_meshls_is_read_but_never_written() {
    let data = tempfile::tempdir().unwrap();
    let id = {
        let (db, sessions) = open(data.path());
        let id = sessions.create();
        let trees = Trees::of(&db).unwrap();
        trees
            .meta
            .insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
        id
    };
    let db = sled::open(data.path()).unwrap();
    let store = Store::open(Trees::of(&db).unwrap()).unwrap();
    let why = store.read_only().expect("read-only").to_owned();
    assert!(why.contains("saved by a newer meshls"), "{why}");
    assert!(store.load(&id).is_some());
    let sessions = Sessions::new(store);
    let other = sessions.create();
    sessions.store().audit(
        &other,
        Event::RunStarted {
            request: "x".to_owned(),
        },
    );
    assert_eq!(sessions.store().ids(), [id]);
    assert!(sessions.store().audit_log().is_empty());
    // The version stays what the newer meshls wrote.
    let trees = Trees::of(&db).unwrap();
    assert_eq!(
        trees.meta.get("schema_version").unwrap().unwrap().as_ref(),
        (SCHEMA_VERSION + 1).to_be_bytes()
    );
    // A session that cannot be read is left out, not a crash.
    trees
        .sessions
        .insert("broken", b"{not json".as_slice())
        .unwrap();
    let store = Store::open(trees).unwrap();
    assert!(store.load("broken").is_none());
}

#[test]
fn an_output_id_from_before_a_restart_never_names_another_output() {
    let mut conversation = meshls_agent::run::Conversation::default();
    let first = conversation.outputs.keep("before the restart".to_owned());
    let saved = serde_json::to_string(&conversation).unwrap();
    let mut restored: meshls_agent::run::Conversation = serde_json::from_str(&saved).unwrap();
    let next = restored.outputs.keep("after the restart".to_owned());
    assert_ne!(first, next);
    let read = restored
        .outputs
        .read(&serde_json::json!({"id": first}), 100);
    assert!(read.unwrap_err().contains("is not kept"));
    // Sessions saved before the id was saved still load.
    let old: meshls_agent::run::Conversation = serde_json::from_str(r#"{"messages": []}"#).unwrap();
    assert!(old.messages.is_empty());
}

/// A database written by meshls at schema 1 (tests/fixtures/README.md) is
/// migrated in place when opened: its sessions are listed as before, and
/// each of its runs gets a record (none undoable: schema 1 kept no
/// checkpoints).
#[test]
fn a_schema_1_database_is_migrated_and_its_sessions_listed() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-1");
    let copy = || {
        let data = tempfile::tempdir().unwrap();
        for name in ["conf", "db"] {
            std::fs::copy(fixture.join(name), data.path().join(name)).unwrap();
        }
        data
    };
    let untouched = copy();
    let db = sled::open(untouched.path()).unwrap();
    assert_eq!(
        Trees::of(&db)
            .unwrap()
            .meta
            .get("schema_version")
            .unwrap()
            .unwrap()
            .as_ref(),
        1u32.to_be_bytes(),
        "the fixture is a schema-1 database"
    );
    let data = copy();
    let (db, sessions) = open(data.path());
    let listed = sessions.list();
    let titles: Vec<&str> = listed.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(titles, ["What is label?", "Fix the type error."]);
    assert_eq!(listed[1].runs, 1);
    assert_eq!(listed[1].tokens.input, 300);
    let runs = sessions.store().runs();
    let first = runs.of_session(&listed[1].id);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].instruction, "Fix the type error.");
    assert_eq!(first[0].ended.as_deref(), Some("Answered"));
    assert_eq!(first[0].id, format!("{}-000001", listed[1].id));
    assert!(first[0].files.is_empty() && runs.states(&first[0].id).is_empty());
    assert_eq!(runs.latest_undoable(&listed[1].id), None);
    assert_eq!(runs.of_session(&listed[0].id).len(), 1);
    // The audit log is as it was, and the version now says 2.
    assert_eq!(sessions.store().audit_log().len(), 7);
    let trees = Trees::of(&db).unwrap();
    assert_eq!(
        trees.meta.get("schema_version").unwrap().unwrap().as_ref(),
        SCHEMA_VERSION.to_be_bytes()
    );
    assert_eq!(SCHEMA_VERSION, 2);
    // Migrating again (as a second open would not) adds no second record.
    sessions.store().flush().unwrap();
    drop(sessions);
    let store = Store::open(trees).unwrap();
    assert_eq!(store.runs().of_session(&listed[1].id).len(), 1);
    drop(db);
}
