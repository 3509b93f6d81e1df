//! The workspace's running servers: which ones start, initializing them
//! concurrently within a bound, routing by language, forwarding document
//! notifications in order, restarting a server that dies (replaying the
//! open documents), and shutting them all down.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, RwLock, RwLockReadGuard,
    },
    time::{Duration, Instant},
};

use lsp_types::Url;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::{capabilities, spawn, Client, Incoming, RequestStats, ServerConfig, SpawnSpec};

/// An open document as the editor holds it, for replaying to a restarted
/// server.
#[derive(Debug, Clone)]
pub struct OpenDocument {
    pub uri: Url,
    pub language_id: String,
    pub version: i32,
    pub text: String,
}

/// Where the open documents live (the `server` crate's document store).
pub trait OpenDocuments: Send + Sync + 'static {
    /// The open documents of these languages, as they are now.
    fn open_documents(&self, language_ids: &[String]) -> Vec<OpenDocument>;
}

/// What the servers send on their own, and what happens to them.
#[derive(Debug)]
pub enum FromServer {
    Message {
        server: String,
        incoming: Incoming,
    },
    /// The server died and runs again, with every open document replayed.
    Restarted {
        server: String,
    },
    /// The server died too often and is not restarted again.
    Failed {
        server: String,
        reason: String,
    },
}

/// Where and how to start the servers.
pub struct StartOptions {
    pub root: PathBuf,
    /// The editor's `initialize` params, passed on (with each server's own
    /// `initializationOptions`), so each server sees the editor's real
    /// capabilities.
    pub editor_params: Value,
    /// How long one server may take to start and answer `initialize`.
    pub timeout: Duration,
    /// The PATH to find commands on.
    pub path: Option<OsString>,
    pub documents: Arc<dyn OpenDocuments>,
    /// Variables no server inherits (the agent's API keys); a server's own
    /// `env` can still set them.
    pub hidden_env: Vec<String>,
    /// Whether the user trusts the workspace. Untrusted, each known server
    /// starts in its safe mode (`safe.rs`), or not at all.
    pub trusted: bool,
    /// The editor's other workspace folders, which the servers get too:
    /// safe mode looks at them as at `root`.
    pub other_roots: Vec<PathBuf>,
}

/// A server that died before answering any request since it started, and
/// within this time, crashed quickly; this many quick crashes in a row and
/// it is given up. One that stays up long enough to answer something is
/// not in a crash loop, however often it is killed.
const STABLE_AFTER: Duration = Duration::from_secs(30);
const MAX_QUICK_CRASHES: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub struct Servers {
    slots: Vec<Arc<Slot>>,
    /// Servers that were wanted but did not start, with why.
    not_started: Vec<(String, Vec<String>, String)>,
    /// How many of them safe mode kept from starting.
    kept_out: usize,
    shared: Arc<Shared>,
}

/// One server as `meshls.status` and `meshls doctor` report it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    pub name: String,
    pub languages: Vec<String>,
    pub state: ServerState,
    pub pid: Option<u32>,
    /// How often it was restarted after dying.
    pub restarts: u32,
    /// Why it last stopped, or failed to start.
    pub last_error: Option<String>,
    /// Its requests since it last (re)started.
    pub requests: RequestStats,
    /// It runs in its safe mode: the workspace is not trusted.
    pub safe_mode: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ServerState {
    Running,
    /// It died and is being started again.
    Restarting,
    /// It crashed too often and is not restarted again.
    Failed,
    /// It did not start, or did not answer `initialize` in time.
    NotStarted,
}

impl std::fmt::Display for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ServerState::Running => "running",
            ServerState::Restarting => "restarting",
            ServerState::Failed => "failed",
            ServerState::NotStarted => "not started",
        })
    }
}

struct Shared {
    options: Option<StartOptions>,
    events: mpsc::UnboundedSender<FromServer>,
    /// Held for reading while a document notification is applied and
    /// queued, for writing while a restarted server is given the open
    /// documents: no edit is lost or sent twice across a restart.
    documents: RwLock<()>,
    shutting_down: AtomicBool,
}

struct Slot {
    name: String,
    config: ServerConfig,
    command: PathBuf,
    /// Its config was restricted for an untrusted workspace.
    safe_mode: bool,
    live: RwLock<Live>,
}

#[derive(Clone)]
struct Live {
    client: Client,
    /// Its `ServerCapabilities`, as it sent them.
    capabilities: Value,
    started: Instant,
    /// Answers counted when it started (its `initialize`): more since then
    /// means it did some work.
    answered_at_start: u64,
    failed: bool,
    restarts: u32,
    last_error: Option<String>,
}

impl Live {
    fn new(client: Client, capabilities: Value) -> Live {
        Live {
            answered_at_start: client.stats().answered,
            client,
            capabilities,
            started: Instant::now(),
            failed: false,
            restarts: 0,
            last_error: None,
        }
    }
}

impl Slot {
    fn live(&self) -> Live {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Live)) {
        f(&mut self.live.write().unwrap_or_else(|p| p.into_inner()));
    }

    fn serves(&self, language_id: &str) -> bool {
        self.config.languages.iter().any(|l| l == language_id)
    }
}

impl Servers {
    pub fn none() -> Servers {
        let (events, _) = mpsc::unbounded_channel();
        let shared = Shared {
            options: None,
            events,
            documents: RwLock::new(()),
            shutting_down: AtomicBool::new(false),
        };
        Servers {
            slots: Vec::new(),
            not_started: Vec::new(),
            kept_out: 0,
            shared: Arc::new(shared),
        }
    }

    /// Starts every enabled server whose command is on PATH and one of whose
    /// root markers (if it has any) is in the workspace (see
    /// [`has_marker`]), all at once. A server that fails or is slow is left
    /// out, with one sentence in the returned problems; it never holds the
    /// others up beyond the timeout.
    pub async fn start(
        configs: &BTreeMap<String, ServerConfig>,
        options: StartOptions,
    ) -> (Servers, Vec<String>, mpsc::UnboundedReceiver<FromServer>) {
        let (events, rx) = mpsc::unbounded_channel();
        let enabled: Vec<_> = configs
            .iter()
            .filter(|(_, config)| config.enabled && !config.command.is_empty())
            .map(|(name, config)| (name.clone(), config.clone()))
            .collect();
        // Looking for markers and commands, and what safe mode needs, reads
        // directories: off the runtime.
        let (root, path, trusted) = (options.root.clone(), options.path.clone(), options.trusted);
        let roots: Vec<PathBuf> = std::iter::once(root.clone())
            .chain(options.other_roots.iter().cloned())
            .collect();
        let wanted: Vec<_> = tokio::task::spawn_blocking(move || {
            enabled
                .into_iter()
                .filter(|(_, config)| {
                    config.root_markers.is_empty() || has_marker(&root, &config.root_markers)
                })
                .filter_map(|(name, config)| {
                    let command = which::which_in(&config.command, path.clone(), &root).ok()?;
                    if trusted {
                        return Some((name, Ok(config), command, false));
                    }
                    let safe = crate::safe::has_safe_mode(&config);
                    let restricted = crate::safe::restrict(&name, &config, &command, &roots)
                        .map_err(|problem| (config.languages.clone(), problem));
                    Some((name, restricted, command, safe))
                })
                .collect()
        })
        .await
        .unwrap_or_else(|err| {
            tracing::error!("choosing the servers to start failed: {err}");
            Vec::new()
        });
        let mut problems = Vec::new();
        let mut not_started = Vec::new();
        let mut ready = Vec::new();
        for (name, config, command, safe_mode) in wanted {
            match config {
                Ok(config) => ready.push((name, config, command, safe_mode)),
                Err((languages, problem)) => {
                    tracing::warn!("{problem}");
                    problems.push(problem.clone());
                    not_started.push((name, languages, problem));
                }
            }
        }
        let kept_out = not_started.len();
        let starts = ready.into_iter().map(|(name, config, command, safe_mode)| {
            let (options, events) = (&options, events.clone());
            async move {
                let started = start_one(&name, &config, &command, options, events).await;
                started
                    .map_err(|problem| (name.clone(), config.languages.clone(), problem))
                    .map(|(client, capabilities)| Slot {
                        name,
                        config,
                        command,
                        safe_mode,
                        live: RwLock::new(Live::new(client, capabilities)),
                    })
            }
        });
        let mut slots = Vec::new();
        for result in futures::future::join_all(starts).await {
            match result {
                Ok(slot) => slots.push(Arc::new(slot)),
                Err((name, languages, problem)) => {
                    tracing::warn!("{problem}");
                    problems.push(problem.clone());
                    not_started.push((name, languages, problem));
                }
            }
        }
        let shared = Arc::new(Shared {
            options: Some(options),
            events,
            documents: RwLock::new(()),
            shutting_down: AtomicBool::new(false),
        });
        for slot in &slots {
            tokio::spawn(supervise(Arc::clone(slot), Arc::clone(&shared)));
        }
        let servers = Servers {
            slots,
            not_started,
            kept_out,
            shared,
        };
        (servers, problems, rx)
    }

    /// Hold this while applying a document notification and queueing it
    /// with [`Servers::notify_document`].
    pub fn documents_lock(&self) -> RwLockReadGuard<'_, ()> {
        self.shared
            .documents
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The union of the servers' capabilities, added to `own`, for the
    /// providers in `routed` only: advertising what is not routed would
    /// bring requests meshls cannot answer.
    pub fn merge_capabilities(&self, own: &mut Map<String, Value>, routed: &[&str]) {
        for slot in &self.slots {
            let live = slot.live();
            let Some(theirs) = live.capabilities.as_object() else {
                continue;
            };
            let offered: Map<String, Value> = theirs
                .iter()
                .filter(|(key, _)| routed.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            capabilities::merge(own, &Value::Object(offered));
        }
    }

    /// Sends a document notification to every server of `language_id`,
    /// queued now, so servers see notifications in the editor's order.
    pub fn notify_document(&self, language_id: &str, method: &str, params: &Value) {
        for slot in self.slots.iter().filter(|slot| slot.serves(language_id)) {
            if let Err(err) = slot.live().client.notify_raw(method, params.clone()) {
                // Restarting: the replay will bring it up to date.
                tracing::debug!(server = %slot.name, "not forwarded: {err}");
            }
        }
    }

    /// The running servers that offer `provider` (a `ServerCapabilities`
    /// field such as `hoverProvider`), in configuration order.
    fn capable<'a>(&'a self, provider: &'a str) -> impl Iterator<Item = (&'a Slot, Client)> + 'a {
        self.slots.iter().filter_map(move |slot| {
            let live = slot.live();
            (!live.failed && capabilities::offers(&live.capabilities, provider))
                .then_some((slot.as_ref(), live.client))
        })
    }

    /// The first running server of `language_id` that offers `provider`.
    pub fn route(&self, language_id: &str, provider: &str) -> Option<Client> {
        self.capable(provider)
            .find(|(slot, _)| slot.serves(language_id))
            .map(|(_, client)| client)
    }

    /// Every running server of `language_id` that offers `provider`, for
    /// requests whose answers are merged.
    pub fn route_all(&self, language_id: &str, provider: &str) -> Vec<Client> {
        self.capable(provider)
            .filter(|(slot, _)| slot.serves(language_id))
            .map(|(_, client)| client)
            .collect()
    }

    /// Every running server that offers `provider`, whatever its language.
    pub fn route_any(&self, provider: &str) -> Vec<Client> {
        self.capable(provider).map(|(_, client)| client).collect()
    }

    /// The server that advertised `command` in its `executeCommandProvider`.
    pub fn route_command(&self, command: &str) -> Option<Client> {
        self.slots.iter().find_map(|slot| {
            let live = slot.live();
            let commands = live
                .capabilities
                .pointer("/executeCommandProvider/commands")?
                .as_array()?;
            (!live.failed && commands.iter().any(|c| c == command)).then_some(live.client)
        })
    }

    /// Every wanted server: the running, restarting and failed ones, in
    /// configuration order, then those that did not start.
    pub fn status(&self) -> Vec<ServerStatus> {
        let running = self.slots.iter().map(|slot| {
            let live = slot.live();
            let state = if live.failed {
                ServerState::Failed
            } else if live.client.gone().is_some() {
                ServerState::Restarting
            } else {
                ServerState::Running
            };
            ServerStatus {
                name: slot.name.clone(),
                languages: slot.config.languages.clone(),
                state,
                pid: (state == ServerState::Running)
                    .then(|| live.client.pid())
                    .flatten(),
                restarts: live.restarts,
                last_error: live.client.gone().or(live.last_error),
                requests: live.client.stats(),
                safe_mode: slot.safe_mode,
            }
        });
        let not_started = self
            .not_started
            .iter()
            .map(|(name, languages, problem)| ServerStatus {
                name: name.clone(),
                languages: languages.clone(),
                state: ServerState::NotStarted,
                pid: None,
                restarts: 0,
                last_error: Some(problem.clone()),
                requests: RequestStats::default(),
                safe_mode: false,
            });
        running.chain(not_started).collect()
    }

    /// Every server not given up, in configuration order.
    pub fn all(&self) -> Vec<Client> {
        self.slots
            .iter()
            .map(|slot| slot.live())
            .filter(|live| !live.failed)
            .map(|live| live.client)
            .collect()
    }

    /// Every server of `language_id` not given up, whatever it offers.
    pub fn of_language(&self, language_id: &str) -> Vec<Client> {
        self.slots
            .iter()
            .filter(|slot| slot.serves(language_id))
            .map(|slot| slot.live())
            .filter(|live| !live.failed)
            .map(|live| live.client)
            .collect()
    }

    /// The capabilities a server sent when it (last) started.
    pub fn capabilities(&self, name: &str) -> Option<Value> {
        self.slots
            .iter()
            .find(|slot| slot.name == name)
            .map(|slot| slot.live().capabilities)
    }

    pub fn client(&self, name: &str) -> Option<Client> {
        self.slots
            .iter()
            .find(|slot| slot.name == name)
            .map(|slot| slot.live().client)
    }

    /// The answer to a server's `workspace/configuration` request: for
    /// each item, its section of `[servers.<name>].settings`, or null.
    pub fn configuration(&self, name: &str, params: &Value) -> Value {
        let settings = self
            .slots
            .iter()
            .find(|slot| slot.name == name)
            .and_then(|slot| slot.config.settings.as_ref());
        let items = params
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let answers = items.iter().map(|item| {
            let section = item.get("section").and_then(Value::as_str).unwrap_or("");
            let mut value = settings;
            for key in section.split('.').filter(|k| !k.is_empty()) {
                value = value.and_then(|v| v.get(key));
            }
            value.cloned().unwrap_or(Value::Null)
        });
        Value::Array(answers.collect())
    }

    /// Sends every open document to every server of its language, as
    /// `didOpen`: for servers started while the editor had documents open
    /// (the set that replaces another when the workspace is trusted). The
    /// caller holds what keeps document notifications out meanwhile.
    pub fn replay_open_documents(&self) {
        let Some(options) = self.shared.options.as_ref() else {
            return;
        };
        // A server of this set restarting now replays after this, to its
        // new process: no document twice.
        let _documents = self
            .shared
            .documents
            .write()
            .unwrap_or_else(|p| p.into_inner());
        for slot in &self.slots {
            let client = slot.live().client;
            for doc in options.documents.open_documents(&slot.config.languages) {
                let item = json!({"uri": doc.uri, "languageId": doc.language_id, "version": doc.version, "text": doc.text});
                let _ = client.notify_raw("textDocument/didOpen", json!({ "textDocument": item }));
            }
        }
    }

    /// Whether any server runs in its safe mode, or was kept from starting
    /// by it: trusting the workspace would change something.
    pub fn restricted(&self) -> bool {
        self.slots.iter().any(|slot| slot.safe_mode) || self.kept_out > 0
    }

    /// Shuts every server down at once, each within `timeout`; none is
    /// restarted after this.
    pub async fn shutdown(&self, timeout: Duration) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        let clients: Vec<Client> = self.slots.iter().map(|slot| slot.live().client).collect();
        futures::future::join_all(clients.iter().map(|client| client.shutdown(timeout))).await;
    }
}

/// Watches one server: when it dies, restarts it with backoff and replays
/// the open documents; after too many quick crashes, gives it up.
async fn supervise(slot: Arc<Slot>, shared: Arc<Shared>) {
    let Some(options) = shared.options.as_ref() else {
        return;
    };
    let mut quick_crashes = 0;
    loop {
        let live = slot.live();
        live.client.closed().await;
        if shared.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let reason = live
            .client
            .gone()
            .unwrap_or_else(|| "it stopped".to_owned());
        let worked = live.client.stats().answered > live.answered_at_start;
        quick_crashes = if live.started.elapsed() < STABLE_AFTER && !worked {
            quick_crashes + 1
        } else {
            1
        };
        slot.update(|live| live.last_error = Some(reason.clone()));
        if quick_crashes > MAX_QUICK_CRASHES {
            slot.update(|live| live.failed = true);
            let reason = format!(
                "{} stopped {MAX_QUICK_CRASHES} times in a row and is not restarted again ({reason}); reopen the workspace to try again",
                slot.name
            );
            let _ = shared.events.send(FromServer::Failed {
                server: slot.name.clone(),
                reason,
            });
            return;
        }
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << (quick_crashes - 1))
            .min(MAX_BACKOFF);
        tracing::warn!(server = %slot.name, "{reason}; restarting in {backoff:?}");
        tokio::time::sleep(backoff).await;
        if shared.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        match start_one(
            &slot.name,
            &slot.config,
            &slot.command,
            options,
            shared.events.clone(),
        )
        .await
        {
            Ok((client, capabilities)) => {
                // Under the lock, no edit slips between the replay and the
                // switch to the new client.
                let _documents = shared.documents.write().unwrap_or_else(|p| p.into_inner());
                for doc in options.documents.open_documents(&slot.config.languages) {
                    let item = json!({"uri": doc.uri, "languageId": doc.language_id, "version": doc.version, "text": doc.text});
                    let _ =
                        client.notify_raw("textDocument/didOpen", json!({ "textDocument": item }));
                }
                slot.update(|live| {
                    *live = Live {
                        restarts: live.restarts + 1,
                        last_error: live.last_error.take(),
                        ..Live::new(client, capabilities)
                    }
                });
                let _ = shared.events.send(FromServer::Restarted {
                    server: slot.name.clone(),
                });
            }
            Err(problem) => {
                tracing::warn!(server = %slot.name, "restart failed: {problem}");
                // Counts as a quick crash: the old client is closed already
                // and answers nothing more.
                slot.update(|live| {
                    live.started = Instant::now();
                    live.answered_at_start = live.client.stats().answered;
                    live.last_error = Some(problem);
                });
            }
        }
    }
}

/// Spawns and initializes one server; returns its client and capabilities.
async fn start_one(
    name: &str,
    config: &ServerConfig,
    command: &Path,
    options: &StartOptions,
    events: mpsc::UnboundedSender<FromServer>,
) -> Result<(Client, Value), String> {
    let failed = |err: String| format!("{name} failed to start, so meshls runs without it: {err}");
    let (client, mut incoming) = spawn(SpawnSpec {
        name: name.to_owned(),
        command: command.display().to_string(),
        args: config.args.clone(),
        env: config
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        hidden_env: options.hidden_env.clone(),
        cwd: Some(options.root.clone()),
    })
    .map_err(|err| failed(err.to_string()))?;
    // Forward what it sends from the start: servers log and ask for
    // configuration during initialize.
    let server = name.to_owned();
    tokio::spawn(async move {
        while let Some(incoming) = incoming.recv().await {
            if events
                .send(FromServer::Message {
                    server: server.clone(),
                    incoming,
                })
                .is_err()
            {
                break;
            }
        }
    });

    let mut params = options.editor_params.clone();
    if let Some(object) = params.as_object_mut() {
        object.insert("processId".to_owned(), Value::from(std::process::id()));
        match &config.initialization_options {
            Some(init) => object.insert("initializationOptions".to_owned(), init.clone()),
            None => object.remove("initializationOptions"),
        };
    }
    let result = match client
        .request_raw("initialize", params, options.timeout)
        .await
    {
        Ok(result) => result,
        Err(crate::Error::Timeout { .. }) => {
            client.kill();
            return Err(format!(
                "{name} did not answer initialize within {:?}, so meshls runs without it; see `meshls doctor` and the log",
                options.timeout
            ));
        }
        Err(err) => {
            client.kill();
            return Err(failed(err.to_string()));
        }
    };
    client
        .notify_raw("initialized", Value::Object(Map::new()))
        .map_err(|err| failed(err.to_string()))?;
    let capabilities = result.get("capabilities").cloned().unwrap_or(Value::Null);
    tracing::info!(server = name, pid = client.pid(), "initialized");
    Ok((client, capabilities))
}

/// How deep below the workspace root a root marker counts: a monorepo
/// opened at its top has `packages/web/package.json`.
const MARKER_DEPTH: usize = 2;
/// Directories looked into at most, so a workspace as wide as a home
/// directory does not hold `initialize` up.
const MARKER_DIRECTORIES: usize = 500;

/// Whether one of `markers` is in `root` or a directory up to
/// [`MARKER_DEPTH`] below it, not counting hidden directories, symlinks
/// and the usual homes of dependencies and build output. The server still
/// gets the workspace root as its root, as editors that start one server
/// per workspace folder do; the servers meshls knows find each file's own
/// project from there (tsserver its `tsconfig.json`, clangd its
/// `compile_commands.json`).
fn has_marker(root: &Path, markers: &[String]) -> bool {
    const SKIPPED: &[&str] = &[
        "node_modules",
        "target",
        "vendor",
        "dist",
        "build",
        "out",
        "__pycache__",
        "venv",
    ];
    let mut queue = std::collections::VecDeque::from([(root.to_path_buf(), 0)]);
    let mut looked = 0;
    while let Some((dir, depth)) = queue.pop_front() {
        if looked == MARKER_DIRECTORIES {
            return false;
        }
        looked += 1;
        if markers.iter().any(|marker| dir.join(marker).exists()) {
            return true;
        }
        if depth == MARKER_DEPTH {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut children: Vec<PathBuf> = entries
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
            .filter(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .is_some_and(|name| !name.starts_with('.') && !SKIPPED.contains(&name))
            })
            .map(|entry| entry.path())
            .collect();
        // The same answer whatever order the file system lists them in.
        children.sort();
        queue.extend(children.into_iter().map(|child| (child, depth + 1)));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_count_at_the_root_and_two_levels_below_it_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let markers = ["package.json".to_owned(), "tsconfig.json".to_owned()];
        let found = |markers: &[String]| has_marker(root, markers);
        assert!(!found(&markers));
        for (path, counts) in [
            ("a/b/c/package.json", false),
            ("node_modules/x/package.json", false),
            (".hidden/package.json", false),
            ("packages/web/tsconfig.json", true),
        ] {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "{}").unwrap();
            assert_eq!(found(&markers), counts, "{}", path.display());
            std::fs::remove_file(&path).unwrap();
        }
        std::fs::write(root.join("package.json"), "{}").unwrap();
        assert!(found(&markers));
        assert!(!found(&["Cargo.toml".to_owned()]));
        // A symlinked directory is not followed.
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("Cargo.toml"), "").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.join("linked")).unwrap();
        assert!(!found(&["Cargo.toml".to_owned()]));
    }
}
