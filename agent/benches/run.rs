//! The agent's own time per step, without the model's: a three-step run
//! (read a 2,000-line file, edit it, answer) against a scripted model that
//! answers at once, next to the same three model calls made alone. The
//! difference is what the loop, the tools and the growing conversation
//! cost.
//!
//! `cargo bench -p meshls-agent --bench run`

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Mutex,
};

use criterion::{criterion_group, criterion_main, Criterion};
use meshls_agent::{
    config::{AgentConfig, Provider},
    endpoints::Endpoints,
    host::{FileChange, Host, Place, Problem, Question, Reported, Spot, Symbol},
    model::{Message, ModelRequest},
    permissions::Policy,
    provider,
    run::{run, Conversation, Limits},
    tools::{specs, Tools},
};
use meshls_e2e::model_server::{openai_sse, ModelServer, Reply};
use tokio_util::sync::CancellationToken;

/// An editor with one file open, which applies every edit it is given.
struct Editor {
    open: HashMap<PathBuf, (String, i32)>,
    edits: Mutex<usize>,
}

impl Host for Editor {
    fn open_document(&self, path: &Path) -> Option<(String, i32)> {
        self.open.get(path).cloned()
    }
    async fn apply(&self, _: FileChange) -> Result<(), String> {
        *self.edits.lock().unwrap() += 1;
        Ok(())
    }
    async fn approve(&self, _: &Question<'_>) -> bool {
        true
    }
    async fn report(&self, _: Reported) -> Result<String, String> {
        Ok(String::new())
    }
    async fn diagnostics(&self, _: Option<&Path>) -> Vec<Problem> {
        Vec::new()
    }
    async fn fresh_diagnostics(&self, _: &[PathBuf]) -> Vec<Problem> {
        Vec::new()
    }
    async fn symbols(&self, _: &Path) -> Result<Vec<Symbol>, String> {
        Ok(Vec::new())
    }
    async fn workspace_symbols(&self, _: &str) -> Result<Vec<Symbol>, String> {
        Ok(Vec::new())
    }
    async fn definition(&self, _: &Spot) -> Result<Vec<Place>, String> {
        Ok(Vec::new())
    }
    async fn references(&self, _: &Spot) -> Result<Vec<Place>, String> {
        Ok(Vec::new())
    }
    async fn hover(&self, _: &Spot) -> Result<Option<String>, String> {
        Ok(None)
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let text: String = (0..2000)
        .map(|i| format!("fn f{i}() -> u32 {{ {i} }}\n"))
        .collect();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/main.rs"), &text).unwrap();
    let editor = Editor {
        open: [(root.join("src/main.rs"), (text, 1))].into(),
        edits: Mutex::new(0),
    };
    let script = || {
        vec![
            Reply::sse(
                &openai_sse(
                    "",
                    &[("c1", "read_file", r#"{"path": "src/main.rs"}"#)],
                    (1, 1),
                ),
                1 << 16,
            ),
            Reply::sse(
                &openai_sse(
                    "",
                    &[(
                        "c2",
                        "edit_file",
                        r#"{"path": "src/main.rs", "old_string": "fn f1234()", "new_string": "fn g1234()"}"#,
                    )],
                    (1, 1),
                ),
                1 << 16,
            ),
            Reply::sse(&openai_sse("Renamed f1234.", &[], (1, 1)), 1 << 16),
        ]
    };
    let models = |server: &ModelServer| {
        let config = AgentConfig {
            provider: Provider::OpenAi,
            model: Some("bench".to_owned()),
            base_url: Some(format!("{}/v1", server.url())),
            ..AgentConfig::default()
        };
        Endpoints::new(&config, provider::Policy::default(), |_| None).unwrap()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let policy = Policy::default();
    let tools = Tools {
        host: &editor,
        root: &root,
        policy: &policy,
    };

    let mut group = c.benchmark_group("agent");
    let server = ModelServer::cycling(script());
    let alone = models(&server);
    let request = ModelRequest {
        model: String::new(),
        system: String::new(),
        messages: vec![Message::User("Rename f1234.".to_owned())],
        tools: specs(&policy),
        max_tokens: 1024,
    };
    group.bench_function("three_model_calls", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for _ in 0..3 {
                    alone.complete(&request, |_| {}).await.unwrap();
                }
            })
        })
    });
    let server = ModelServer::cycling(script());
    let looped = models(&server);
    group.bench_function("three_step_run", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut conversation = Conversation {
                    messages: vec![Message::User("Rename f1234.".to_owned())],
                    ..Conversation::default()
                };
                let report = run(
                    &looped,
                    &tools,
                    "",
                    &mut conversation,
                    &Limits::default(),
                    &CancellationToken::new(),
                    |_| {},
                )
                .await
                .unwrap();
                assert_eq!(report.steps, 3);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
