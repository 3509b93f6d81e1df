//! The per-workspace sled database: where it lives and opening it. Its
//! trees go to the agent (sessions, audit, runs: `meshls_agent::session`).
//! One process at a time holds it; the others on the workspace share
//! their sessions through files beside it (`shared/`).

use std::path::{Path, PathBuf};

use meshls_agent::session::{Dump, Sessions, Store, Trees};

/// `<data dir>/meshls/workspaces/<name>-<hash>/db`, one per workspace root.
/// The hash (FNV-1a, stable across Rust versions) keeps two workspaces with
/// the same folder name apart.
pub fn database_path(workspace_root: &Path) -> Option<PathBuf> {
    let root = workspace_root
        .canonicalize()
        .unwrap_or_else(|_| workspace_root.to_path_buf());
    let name: String = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".to_owned())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let hash = root
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    Some(
        dirs::data_dir()?
            .join("meshls")
            .join("workspaces")
            .join(format!("{name}-{hash:016x}"))
            .join("db"),
    )
}

/// Where the agent's long answers for a workspace go: beside its
/// database, in the user's data directory (never in the workspace).
pub fn answers_dir(workspace_root: &Path) -> Option<PathBuf> {
    Some(database_path(workspace_root)?.parent()?.join("answers"))
}

/// Where the sessions' transcripts (markdown) go: beside the database,
/// never in the workspace.
pub fn transcripts_dir(workspace_root: &Path) -> Option<PathBuf> {
    Some(database_path(workspace_root)?.parent()?.join("transcripts"))
}

/// Where session `id`'s transcript is; `None` for an id that is not one
/// (ids are letters and digits: never a path).
pub fn transcript_path(workspace_root: &Path, id: &str) -> Option<PathBuf> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(transcripts_dir(workspace_root)?.join(format!("{id}.md")))
}

/// Writes session `id`'s transcript; its path, or why it could not be
/// written. Nothing in it holds an API key.
pub fn write_transcript(
    workspace_root: &Path,
    sessions: &Sessions,
    id: &str,
) -> Result<PathBuf, String> {
    let session = sessions
        .store()
        .load(id)
        .ok_or_else(|| format!("there is no session {id} in this workspace"))?;
    let path = transcript_path(workspace_root, id)
        .ok_or("there is no data directory to keep transcripts in (set XDG_DATA_HOME)")?;
    let text = meshls_agent::transcript::markdown(&session);
    path.parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    Ok(path)
}

/// Where the meshls processes on a workspace tell each other of their
/// sessions: `index-<pid>.json` (each process's listing, rewritten when
/// it changes) and `handover-<pid>.json` (all that a process which could
/// not open the database holds, for the next one that opens it).
fn shared_dir(workspace_root: &Path) -> Option<PathBuf> {
    Some(database_path(workspace_root)?.parent()?.join("shared"))
}

/// Writes `bytes` to `path` whole: to a file beside it, then renamed.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let part = path.with_extension("part");
    std::fs::write(&part, bytes)?;
    std::fs::rename(&part, path)
}

/// The pid in a shared file's name (`index-<pid>.json`), and whether that
/// process is alive.
fn owner(name: &str, prefix: &str) -> Option<(i32, bool)> {
    let pid: i32 = name
        .strip_prefix(prefix)?
        .strip_suffix(".json")?
        .parse()
        .ok()?;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    Some((pid, alive))
}

/// The shared files with `prefix` (`index-`, `handover-`): path, pid, alive.
fn shared_files(workspace_root: &Path, prefix: &str) -> Vec<(PathBuf, i32, bool)> {
    let Some(dir) = shared_dir(workspace_root) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let (pid, alive) = owner(&name, prefix)?;
            Some((entry.path(), pid, alive))
        })
        .collect()
}

/// Tells the other meshls processes on the workspace which sessions this
/// one has; and, when it could not open the workspace's database, hands
/// all it holds over to the next that does (`handing_over`).
pub fn publish(workspace_root: &Path, sessions: &Sessions, handing_over: bool) {
    let Some(dir) = shared_dir(workspace_root) else {
        return;
    };
    let pid = std::process::id();
    let listed = serde_json::to_vec(&sessions.list()).unwrap_or_default();
    if let Err(err) = write_whole(&dir.join(format!("index-{pid}.json")), &listed) {
        tracing::warn!("cannot tell other meshls processes of the sessions: {err}");
    }
    if handing_over {
        let dump = serde_json::to_vec(&sessions.store().dump()).unwrap_or_default();
        let dump = meshls_agent::redact::redact_bytes(&dump).into_owned();
        if let Err(err) = write_whole(&dir.join(format!("handover-{pid}.json")), &dump) {
            tracing::warn!("cannot keep the sessions for the next meshls: {err}");
        }
    }
}

/// This process no longer lists its sessions (it is ending).
pub fn unpublish(workspace_root: &Path) {
    if let Some(dir) = shared_dir(workspace_root) {
        let _ = std::fs::remove_file(dir.join(format!("index-{}.json", std::process::id())));
    }
}

/// The sessions other live meshls processes on the workspace have and
/// this one does not (`except`), as they list them, with `state`
/// `elsewhere`.
fn sessions_elsewhere(workspace_root: &Path, except: &[String]) -> Vec<serde_json::Value> {
    let own = std::process::id() as i32;
    let mut found: Vec<serde_json::Value> = Vec::new();
    for (path, pid, alive) in shared_files(workspace_root, "index-") {
        if !alive {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if pid == own {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(serde_json::Value::Array(listed)) = serde_json::from_slice(&bytes) else {
            continue;
        };
        for mut session in listed {
            let Some(id) = session["id"].as_str().map(str::to_owned) else {
                continue;
            };
            if except.contains(&id) || found.iter().any(|f| f["id"] == id.as_str()) {
                continue;
            }
            session["state"] = "elsewhere".into();
            found.push(session);
        }
    }
    found
}

/// Every session of the workspace, newest first, as `meshls.sessions`
/// answers: `sessions`' own, then those other live meshls processes list.
pub fn all_sessions(workspace_root: &Path, sessions: Option<&Sessions>) -> Vec<serde_json::Value> {
    let own = sessions.map(Sessions::list).unwrap_or_default();
    let ids: Vec<String> = own.iter().map(|s| s.id.clone()).collect();
    let mut listed: Vec<serde_json::Value> = own.iter().map(|s| serde_json::json!(s)).collect();
    listed.extend(sessions_elsewhere(workspace_root, &ids));
    listed.sort_by(|a, b| b["id"].as_str().cmp(&a["id"].as_str()));
    listed
}

/// Takes in the sessions that meshls processes which could not open the
/// database handed over; how many came. A live process's file is taken
/// and kept (it may write more); a dead one's is removed once taken.
fn take_handovers(workspace_root: &Path, store: &Store) -> usize {
    let mut taken = 0;
    for (path, _, alive) in shared_files(workspace_root, "handover-") {
        let dump = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Dump>(&bytes).ok());
        let Some(dump) = dump else {
            tracing::warn!("{} cannot be read, and is left as it is", path.display());
            continue;
        };
        match store.import(&dump) {
            Ok(n) => taken += n,
            Err(err) => {
                tracing::warn!("taking over {} failed: {err}", path.display());
                continue;
            }
        }
        if !alive {
            let _ = std::fs::remove_file(&path);
        }
    }
    taken
}

/// Opens (creating) the database. sled allows one process per database, so a
/// second editor on the same workspace gets an error here, not a corrupt file.
pub fn open(path: &Path) -> anyhow::Result<sled::Db> {
    use anyhow::Context as _;
    std::fs::create_dir_all(path)
        .with_context(|| format!("cannot create the database directory {}", path.display()))?;
    sled::open(path).with_context(|| {
        format!(
            "cannot open the database at {} (is another meshls using this workspace?)",
            path.display()
        )
    })
}

/// A database that lasts until this process exits, for when the workspace's
/// own cannot be opened.
pub fn temporary() -> anyhow::Result<sled::Db> {
    use anyhow::Context as _;
    sled::Config::new()
        .temporary(true)
        .open()
        .context("cannot create a temporary database")
}

/// The workspace's database, or a temporary one with a sentence saying why
/// and what that means; the agent's sessions in it, with a sentence when
/// they cannot be saved.
///
/// A second meshls on the workspace (another editor) finds the database
/// held, and works in a temporary one: the sessions of each are listed in
/// the other ([`publish`], [`all_sessions`]), and the second's are
/// handed over, whole, to the next meshls that opens the database
/// (`Opened::handing_over`).
pub fn open_sessions(workspace_root: &Path) -> anyhow::Result<Opened> {
    let path = database_path(workspace_root)
        .ok_or_else(|| anyhow::anyhow!("there is no data directory (set XDG_DATA_HOME)"))?;
    let (db, mut warning, handing_over) = match open(&path) {
        Ok(db) => (db, None, false),
        // Expected when a second editor opens the same workspace.
        Err(err) => (
            temporary()?,
            Some(format!(
                "{err:#}; this meshls lists that one's sessions beside its own, and hands its own over when that one has closed"
            )),
            true,
        ),
    };
    let store = Store::open(Trees::of(&db)?)?;
    if let Some(why) = store.read_only() {
        warning = Some(why.to_owned());
    }
    if !handing_over {
        let taken = take_handovers(workspace_root, &store);
        if taken > 0 {
            tracing::info!(
                "took over {taken} session(s) another meshls kept while this database was held"
            );
        }
    }
    Ok(Opened {
        db,
        sessions: Sessions::new(store),
        warning,
        handing_over,
    })
}

/// The workspace's sessions, as [`open_sessions`] opened them.
pub struct Opened {
    pub db: sled::Db,
    pub sessions: Sessions,
    /// What the user should know (a temporary database, a newer one).
    pub warning: Option<String>,
    /// The database was held by another meshls: this one's sessions go
    /// to the next that opens it.
    pub handing_over: bool,
}
