//! Sessions and the audit log, kept in the workspace's sled database, whose
//! trees `server` hands down ([`Trees`]).
//!
//! A session is a conversation that goes on across runs and restarts of
//! meshls, with its token and cost totals. One run at a time per session:
//! a second is refused with a sentence saying why ([`Busy`]). The audit log
//! is append-only: every tool call, approval, applied (or refused) edit and
//! run, in order. Neither ever holds an API key: the model's endpoints are
//! not part of a session, and what is recorded comes from the conversation
//! and the host.
//!
//! The trees carry a schema version. An older database is migrated when it
//! is opened; one written by a newer meshls is read but never written.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;

use crate::{
    checkpoint::{self, Checkpoint, RunRecord},
    endpoints::Endpoints,
    host::{FileChange, Host, Place, Problem, Question, Reported, Spot, Symbol},
    model::{Message, Usage},
    permissions,
    run::{self, Conversation, Limits, Progress, Report},
    tools::Tools,
    Result,
};

/// The version of what is stored; raise it, and add a step to
/// [`MIGRATIONS`], whenever the stored form changes.
///
/// 1. Sessions and the audit log.
/// 2. Runs (`agent.runs`) and their checkpoints (`agent.checkpoints`).
pub const SCHEMA_VERSION: u32 = 2;

/// Steps from each older version to the next: `MIGRATIONS[v - 1]` turns a
/// version `v` database into version `v + 1`.
const MIGRATIONS: [fn(&Trees) -> sled::Result<()>; SCHEMA_VERSION as usize - 1] =
    [runs_from_the_audit_log];

/// Version 1 to 2: a record for each run the audit log tells of, so every
/// run is listed the same way; none has a checkpoint, since version 1 kept
/// none, so none can be undone.
fn runs_from_the_audit_log(trees: &Trees) -> sled::Result<()> {
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut open: HashMap<String, RunRecord> = HashMap::new();
    let runs = checkpoint::Runs::new(trees.run_trees(), false);
    for bytes in trees.audit.iter().values() {
        let Ok(entry) = serde_json::from_slice::<Entry>(&bytes?) else {
            continue;
        };
        match entry.event {
            Event::RunStarted { request } => {
                let n = counts.entry(entry.session.clone()).or_default();
                *n += 1;
                let record = RunRecord {
                    id: RunRecord::id_of(&entry.session, *n),
                    session: entry.session.clone(),
                    instruction: request.lines().next().unwrap_or("").to_owned(),
                    started: entry.at / 1000,
                    ..RunRecord::default()
                };
                if let Some(unended) = open.insert(entry.session, record) {
                    runs.save(&unended);
                }
            }
            Event::RunEnded { ended, .. } => {
                if let Some(mut record) = open.remove(&entry.session) {
                    record.ended = Some(ended);
                    runs.save(&record);
                }
            }
            _ => {}
        }
    }
    for record in open.into_values() {
        runs.save(&record);
    }
    Ok(())
}

const VERSION_KEY: &[u8] = b"schema_version";

/// The trees of the workspace's database the agent keeps its things in.
#[derive(Clone)]
pub struct Trees {
    pub meta: sled::Tree,
    pub sessions: sled::Tree,
    pub audit: sled::Tree,
    pub runs: sled::Tree,
    pub checkpoints: sled::Tree,
}

impl Trees {
    /// Those that hold runs and their checkpoints.
    fn run_trees(&self) -> checkpoint::RunTrees {
        checkpoint::RunTrees {
            runs: self.runs.clone(),
            checkpoints: self.checkpoints.clone(),
        }
    }

    /// The agent's trees of `db`.
    pub fn of(db: &sled::Db) -> sled::Result<Trees> {
        Ok(Trees {
            meta: db.open_tree("agent.meta")?,
            sessions: db.open_tree("agent.sessions")?,
            audit: db.open_tree("agent.audit")?,
            runs: db.open_tree("agent.runs")?,
            checkpoints: db.open_tree("agent.checkpoints")?,
        })
    }
}

/// A session: its conversation and what it has cost so far.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    /// The first line of its first request.
    pub title: String,
    /// Unix time in seconds.
    pub created: u64,
    pub updated: u64,
    #[serde(flatten)]
    pub conversation: Conversation,
    pub runs: u32,
    pub usage: Usage,
    /// US dollars, for the models with a price.
    pub cost: f64,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Unix time in milliseconds.
    pub at: u64,
    pub session: String,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        request: String,
    },
    ToolCall {
        tool: String,
        /// Its path, pattern or command.
        about: String,
        ok: bool,
    },
    Approval {
        action: String,
        allowed: bool,
    },
    Edit {
        path: PathBuf,
        created: bool,
        /// Why it was not applied, when it was not.
        refused: Option<String>,
    },
    RunEnded {
        ended: String,
        steps: u32,
        usage: Usage,
        cost: f64,
    },
}

/// What a session has used so far, for `meshls.status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub id: String,
    pub title: String,
    pub runs: u32,
    pub usage: Usage,
    pub cost: f64,
    /// A run is going on now.
    pub running: bool,
}

/// A session as `meshls.sessions` and `meshls sessions` list it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listed {
    pub id: String,
    /// The first line of its first request, cut.
    pub title: String,
    /// Unix time in seconds.
    pub started: u64,
    pub updated: u64,
    pub runs: u32,
    pub tokens: Tokens,
    /// US dollars, for the models with a price.
    pub cost: f64,
    /// `running` while a run holds it, else `idle`.
    pub state: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
}

/// The longest title a listing shows, in characters.
const TITLE_SHOWN: usize = 80;

impl Listed {
    fn of(session: &Session, running: bool) -> Listed {
        let mut title: String = session.title.chars().take(TITLE_SHOWN).collect();
        if session.title.chars().count() > TITLE_SHOWN {
            title.push('…');
        }
        Listed {
            id: session.id.clone(),
            title,
            started: session.created,
            updated: session.updated,
            runs: session.runs,
            tokens: Tokens {
                input: session.usage.input_tokens,
                output: session.usage.output_tokens,
            },
            cost: session.cost,
            state: if running { "running" } else { "idle" },
        }
    }
}

/// A second run asked of a session that is running one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the agent is already working in session {0}; wait for it to finish, or cancel it, then ask again")]
pub struct Busy(pub String);

/// Where sessions and the audit log are kept.
pub struct Store {
    trees: Trees,
    /// Why nothing is written, when the database is a newer meshls's.
    read_only: Option<String>,
    last_key: AtomicU64,
}

impl Store {
    /// Opens the agent's part of the database, migrating an older one.
    pub fn open(trees: Trees) -> sled::Result<Store> {
        let stored = match trees.meta.get(VERSION_KEY)? {
            Some(bytes) => bytes
                .as_ref()
                .try_into()
                .map(u32::from_be_bytes)
                .unwrap_or(u32::MAX),
            None => SCHEMA_VERSION,
        };
        let mut read_only = None;
        if stored > SCHEMA_VERSION {
            read_only = Some(format!(
                "the agent's sessions were saved by a newer meshls (schema {stored}, this one knows {SCHEMA_VERSION}); they are kept as they are, and this meshls saves nothing"
            ));
        } else {
            for (from, step) in MIGRATIONS
                .iter()
                .enumerate()
                .skip((stored as usize).saturating_sub(1))
            {
                tracing::info!(from = from + 1, "migrating the agent's sessions");
                step(&trees)?;
            }
            trees
                .meta
                .insert(VERSION_KEY, &SCHEMA_VERSION.to_be_bytes())?;
        }
        let last_key = trees
            .audit
            .last()?
            .and_then(|(key, _)| key.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        Ok(Store {
            trees,
            read_only,
            last_key: AtomicU64::new(last_key),
        })
    }

    /// The runs and their checkpoints.
    pub fn runs(&self) -> checkpoint::Runs {
        checkpoint::Runs::new(self.trees.run_trees(), self.read_only.is_some())
    }

    /// Why sessions are not saved, if they are not.
    pub fn read_only(&self) -> Option<&str> {
        self.read_only.as_deref()
    }

    pub fn load(&self, id: &str) -> Option<Session> {
        let bytes = self.trees.sessions.get(id).ok()??;
        match serde_json::from_slice(&bytes) {
            Ok(session) => Some(session),
            Err(err) => {
                tracing::warn!(id, "a saved session cannot be read, and is left out: {err}");
                None
            }
        }
    }

    pub fn save(&self, session: &Session) {
        if self.read_only.is_some() {
            return;
        }
        let saved = serde_json::to_vec(session)
            .map_err(|err| err.to_string())
            .and_then(|json| {
                // No API key reaches the disk, whatever the conversation holds.
                let json = crate::redact::redact_bytes(&json).into_owned();
                self.trees
                    .sessions
                    .insert(session.id.as_bytes(), json)
                    .map_err(|err| err.to_string())
            });
        if let Err(err) = saved {
            tracing::warn!(id = session.id, "saving the session failed: {err}");
        }
    }

    /// The saved sessions' ids, oldest first.
    pub fn ids(&self) -> Vec<String> {
        self.trees
            .sessions
            .iter()
            .keys()
            .flatten()
            .map(|key| String::from_utf8_lossy(&key).into_owned())
            .collect()
    }

    pub fn audit(&self, session: &str, event: Event) {
        if self.read_only.is_some() {
            return;
        }
        let at = now_nanos();
        // Keys grow with every entry, even when the clock does not.
        let key = self
            .last_key
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(at.max(last + 1))
            })
            .map_or(at, |last| at.max(last + 1));
        let entry = Entry {
            at: at / 1_000_000,
            session: session.to_owned(),
            event,
        };
        let written = serde_json::to_vec(&entry)
            .map_err(|err| err.to_string())
            .and_then(|json| {
                let json = crate::redact::redact_bytes(&json).into_owned();
                self.trees
                    .audit
                    .insert(key.to_be_bytes(), json)
                    .map_err(|err| err.to_string())
            });
        if let Err(err) = written {
            tracing::warn!("writing the audit log failed: {err}");
        }
    }

    /// Removes the sessions last updated before `before` (Unix seconds),
    /// and their lines of the audit log, except those in `keep`; how many
    /// sessions went.
    pub fn prune(&self, before: u64, keep: &[String]) -> usize {
        if self.read_only.is_some() {
            return 0;
        }
        let old: Vec<String> = self
            .ids()
            .into_iter()
            .filter(|id| !keep.contains(id))
            .filter(|id| {
                self.load(id)
                    .is_some_and(|session| session.updated < before)
            })
            .collect();
        for id in &old {
            if let Err(err) = self.trees.sessions.remove(id.as_bytes()) {
                tracing::warn!(id, "removing an old session failed: {err}");
            }
        }
        let entries = self.trees.audit.iter().flatten().filter(|(_, bytes)| {
            serde_json::from_slice::<Entry>(bytes).is_ok_and(|entry| old.contains(&entry.session))
        });
        for (key, _) in entries {
            let _ = self.trees.audit.remove(key);
        }
        let runs = self.runs();
        for id in &old {
            for run in runs.of_session(id) {
                runs.remove(&run.id);
            }
        }
        old.len()
    }

    /// The audit log, oldest first.
    pub fn audit_log(&self) -> Vec<Entry> {
        self.trees
            .audit
            .iter()
            .values()
            .flatten()
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect()
    }

    /// Waits until everything written is on disk.
    pub fn flush(&self) -> sled::Result<()> {
        self.trees.sessions.flush()?;
        self.trees.audit.flush()?;
        self.trees.runs.flush()?;
        self.trees.checkpoints.flush()?;
        Ok(())
    }
}

/// Everything a store holds, to hand over to the workspace's own database
/// from a meshls that could not open it (another meshls had it): the
/// sessions, the audit log by key, the runs and their checkpoints.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Dump {
    pub sessions: Vec<Session>,
    pub audit: Vec<(u64, Entry)>,
    pub runs: Vec<RunRecord>,
    pub checkpoints: Vec<(String, checkpoint::FileState)>,
}

impl Store {
    /// Everything in the store.
    pub fn dump(&self) -> Dump {
        let decoded = |tree: &sled::Tree| -> Vec<(sled::IVec, sled::IVec)> {
            tree.iter().flatten().collect()
        };
        fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
            serde_json::from_slice(bytes).ok()
        }
        Dump {
            sessions: decoded(&self.trees.sessions)
                .iter()
                .filter_map(|(_, value)| json(value))
                .collect(),
            audit: decoded(&self.trees.audit)
                .iter()
                .filter_map(|(key, value)| {
                    let key = u64::from_be_bytes(key.as_ref().try_into().ok()?);
                    Some((key, json(value)?))
                })
                .collect(),
            runs: decoded(&self.trees.runs)
                .iter()
                .filter_map(|(_, value)| json(value))
                .collect(),
            checkpoints: decoded(&self.trees.checkpoints)
                .iter()
                .filter_map(|(key, value)| {
                    Some((String::from_utf8(key.to_vec()).ok()?, json(value)?))
                })
                .collect(),
        }
    }

    /// Takes in what another store handed over: each session this store
    /// lacks, or holds in an older state, with its audit lines, runs and
    /// checkpoints; how many sessions came in.
    pub fn import(&self, dump: &Dump) -> sled::Result<usize> {
        if self.read_only.is_some() {
            return Ok(0);
        }
        let newer = |session: &Session| {
            self.load(&session.id)
                .is_none_or(|held| held.updated <= session.updated && held.runs <= session.runs)
        };
        let taken: Vec<&Session> = dump.sessions.iter().filter(|s| newer(s)).collect();
        let ids: Vec<&str> = taken.iter().map(|s| s.id.as_str()).collect();
        for session in &taken {
            self.save(session);
        }
        for (key, entry) in &dump.audit {
            if ids.contains(&entry.session.as_str()) {
                let json = serde_json::to_vec(entry).unwrap_or_default();
                self.trees.audit.insert(key.to_be_bytes(), json)?;
            }
        }
        let runs = self.runs();
        for run in &dump.runs {
            if ids.contains(&run.session.as_str()) {
                runs.save(run);
            }
        }
        for (key, state) in &dump.checkpoints {
            let session = key.split('-').next().unwrap_or_default();
            if ids.contains(&session) {
                let json = serde_json::to_vec(state).unwrap_or_default();
                self.trees.checkpoints.insert(key.as_bytes(), json)?;
            }
        }
        if let Some((key, _)) = self.trees.audit.last()? {
            if let Ok(bytes) = key.as_ref().try_into() {
                self.last_key
                    .fetch_max(u64::from_be_bytes(bytes), Ordering::Relaxed);
            }
        }
        Ok(taken.len())
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

/// The sessions of a workspace: the store, and the ones in use, each
/// locked while it runs.
pub struct Sessions {
    store: Store,
    live: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Session>>>>,
}

/// A session held for one run; saved when the run ends.
pub struct Running {
    session: OwnedMutexGuard<Session>,
}

impl std::ops::Deref for Running {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

impl Sessions {
    pub fn new(store: Store) -> Sessions {
        Sessions {
            store,
            live: Mutex::new(HashMap::new()),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts a new, empty session; its id.
    pub fn create(&self) -> String {
        let now = now_nanos();
        let mut session = Session {
            // Zero-padded, so ids sort by age.
            id: format!("{now:020}"),
            created: now / 1_000_000_000,
            ..Session::default()
        };
        session.updated = session.created;
        let id = session.id.clone();
        self.store.save(&session);
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone(), Arc::new(tokio::sync::Mutex::new(session)));
        id
    }

    /// The most recent session, saved or not; a new one if there is none.
    pub fn latest(&self) -> String {
        let live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .max()
            .cloned();
        let saved = self.store.ids().pop();
        match live.max(saved) {
            Some(id) => id,
            None => self.create(),
        }
    }

    /// A session's totals as they are now, and whether a run holds it
    /// (then the totals are those saved when its last run ended).
    pub fn totals(&self, id: &str) -> Option<Totals> {
        let live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned();
        let of = |session: &Session, running: bool| Totals {
            id: session.id.clone(),
            title: session.title.clone(),
            runs: session.runs,
            usage: session.usage,
            cost: session.cost,
            running,
        };
        let Some(live) = live else {
            return self.store.load(id).map(|session| of(&session, false));
        };
        let held = live.try_lock().map(|session| of(&session, false)).ok();
        held.or_else(|| self.store.load(id).map(|session| of(&session, true)))
    }

    /// Every session, newest first.
    pub fn list(&self) -> Vec<Listed> {
        let live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut ids = self.store.ids();
        ids.extend(
            live.keys()
                .filter(|id| !ids.contains(id))
                .cloned()
                .collect::<Vec<_>>(),
        );
        ids.sort();
        ids.into_iter()
            .rev()
            .filter_map(|id| match live.get(&id) {
                Some(held) => match held.try_lock() {
                    Ok(session) => Some(Listed::of(&session, false)),
                    // Its run has it: as saved when its last run ended.
                    Err(_) => self
                        .store
                        .load(&id)
                        .map(|session| Listed::of(&session, true)),
                },
                None => self
                    .store
                    .load(&id)
                    .map(|session| Listed::of(&session, false)),
            })
            .collect()
    }

    /// Removes the sessions not updated for `days` days, but never one in
    /// use; how many went.
    pub fn prune(&self, days: u64) -> usize {
        let before = (now_nanos() / 1_000_000_000).saturating_sub(days.saturating_mul(86_400));
        let live: Vec<String> = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        self.store.prune(before, &live)
    }

    /// Holds session `id` for a run, or says it is busy. `None` when there
    /// is no such session.
    pub fn begin(&self, id: &str) -> Option<Result<Running, Busy>> {
        let session = {
            let mut live = self
                .live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match live.get(id) {
                Some(session) => session.clone(),
                None => {
                    let session = Arc::new(tokio::sync::Mutex::new(self.store.load(id)?));
                    live.insert(id.to_owned(), session.clone());
                    session
                }
            }
        };
        Some(
            session
                .try_lock_owned()
                .map(|session| Running { session })
                .map_err(|_| Busy(id.to_owned())),
        )
    }

    /// The checkpoint of the run about to start in the held session, on
    /// `instruction`, keeping at most `limit` bytes (`agent.checkpoint_bytes`).
    pub fn checkpoint(&self, running: &Running, instruction: &str, limit: u64) -> Checkpoint {
        let record = RunRecord {
            id: RunRecord::id_of(&running.id, running.runs + 1),
            session: running.id.clone(),
            instruction: crate::redact::redact(instruction.lines().next().unwrap_or(""))
                .into_owned(),
            started: now_nanos() / 1_000_000_000,
            ..RunRecord::default()
        };
        Checkpoint::start(self.store.runs(), record, limit)
    }

    /// Runs the agent on `request` in the held session: the conversation
    /// goes on from where it was, the tool calls, approvals and edits go to
    /// the audit log as they happen, and the session, with its totals, is
    /// saved when the run ends, however it ends.
    #[allow(clippy::too_many_arguments)]
    pub async fn run<H: Host>(
        &self,
        running: &mut Running,
        models: &Endpoints,
        host: &H,
        root: &std::path::Path,
        policy: &permissions::Policy,
        system: &str,
        request: &str,
        limits: &Limits,
        cancel: &CancellationToken,
        mut progress: impl FnMut(Progress),
    ) -> Result<Report> {
        let session = &mut *running.session;
        tracing::info!(session = session.id, "an agent run starts");
        // A key the user pasted goes to no model and no file.
        let request = &*crate::redact::redact(request);
        if session.title.is_empty() {
            session.title = request
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(100)
                .collect();
        }
        self.store.audit(
            &session.id,
            Event::RunStarted {
                request: request.to_owned(),
            },
        );
        session
            .conversation
            .messages
            .push(Message::User(request.to_owned()));
        let audited = Audited {
            host,
            store: &self.store,
            session: &session.id,
        };
        let tools = Tools {
            host: &audited,
            root,
            policy,
        };
        let report = run::run(
            models,
            &tools,
            system,
            &mut session.conversation,
            limits,
            cancel,
            |step| {
                if let Progress::ToolDone {
                    name,
                    about,
                    is_error,
                } = &step
                {
                    self.store.audit(
                        &session.id,
                        Event::ToolCall {
                            tool: name.clone(),
                            about: about.clone(),
                            ok: !is_error,
                        },
                    );
                }
                progress(step);
            },
        )
        .await;
        session.runs += 1;
        session.updated = now_nanos() / 1_000_000_000;
        let ended = match &report {
            Ok(report) => {
                session.usage.input_tokens += report.usage.input_tokens;
                session.usage.output_tokens += report.usage.output_tokens;
                session.cost += report.cost;
                Event::RunEnded {
                    ended: format!("{:?}", report.ended),
                    steps: report.steps,
                    usage: report.usage,
                    cost: report.cost,
                }
            }
            Err(err) => Event::RunEnded {
                ended: err.to_string(),
                steps: 0,
                usage: Usage::default(),
                cost: 0.0,
            },
        };
        tracing::info!(session = session.id, outcome = ?ended, "an agent run ended");
        self.store.audit(&session.id, ended);
        self.store.save(session);
        report
    }
}

/// The host, with its approvals and edits written to the audit log.
struct Audited<'a, H> {
    host: &'a H,
    store: &'a Store,
    session: &'a str,
}

impl<H: Host> Host for Audited<'_, H> {
    fn open_document(&self, path: &std::path::Path) -> Option<(String, i32)> {
        self.host.open_document(path)
    }

    async fn apply(&self, change: FileChange) -> Result<(), String> {
        let (path, created) = match &change {
            FileChange::Edit { path, .. } => (path.clone(), false),
            FileChange::Create { path, .. } => (path.clone(), true),
        };
        let applied = self.host.apply(change).await;
        self.store.audit(
            self.session,
            Event::Edit {
                path,
                created,
                refused: applied.as_ref().err().cloned(),
            },
        );
        applied
    }

    async fn diagnostics(&self, path: Option<&std::path::Path>) -> Vec<Problem> {
        self.host.diagnostics(path).await
    }

    async fn fresh_diagnostics(&self, paths: &[PathBuf]) -> Vec<Problem> {
        self.host.fresh_diagnostics(paths).await
    }

    async fn symbols(&self, path: &std::path::Path) -> Result<Vec<Symbol>, String> {
        self.host.symbols(path).await
    }

    async fn workspace_symbols(&self, query: &str) -> Result<Vec<Symbol>, String> {
        self.host.workspace_symbols(query).await
    }

    async fn definition(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.host.definition(at).await
    }

    async fn references(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.host.references(at).await
    }

    async fn hover(&self, at: &Spot) -> Result<Option<String>, String> {
        self.host.hover(at).await
    }

    async fn approve(&self, question: &Question<'_>) -> bool {
        let allowed = self.host.approve(question).await;
        self.store.audit(
            self.session,
            Event::Approval {
                action: question.action.to_owned(),
                allowed,
            },
        );
        allowed
    }

    async fn report(&self, finding: Reported) -> Result<String, String> {
        self.host.report(finding).await
    }
}
