//! The per-workspace sled database: where it lives and opening it. Its
//! trees go to the agent (sessions, audit: `meshls_agent::session`).

use std::path::{Path, PathBuf};

use meshls_agent::session::{Sessions, Store, Trees};

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
    let dir = transcripts_dir(workspace_root)
        .ok_or("there is no data directory to keep transcripts in (set XDG_DATA_HOME)")?;
    let path = dir.join(format!("{id}.md"));
    let text = meshls_agent::transcript::markdown(&session);
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    Ok(path)
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
pub fn open_sessions(path: &Path) -> anyhow::Result<(sled::Db, Sessions, Option<String>)> {
    let (db, mut warning) = match open(path) {
        Ok(db) => (db, None),
        // Expected when a second editor opens the same workspace.
        Err(err) => (
            temporary()?,
            Some(format!(
                "{err:#}; this meshls keeps the agent's sessions only until it exits"
            )),
        ),
    };
    let store = Store::open(Trees::of(&db)?)?;
    if let Some(why) = store.read_only() {
        warning = Some(why.to_owned());
    }
    Ok((db, Sessions::new(store), warning))
}
