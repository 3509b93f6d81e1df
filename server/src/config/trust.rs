//! The workspaces a user trusted when meshls asked: a list kept in their
//! data directory (`<data dir>/meshls/trusted-workspaces.toml`), never in
//! a workspace, which could trust itself. `trusted_workspaces` in the
//! user's config trusts a workspace too; `config::load` takes both.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Store {
    workspaces: Vec<PathBuf>,
}

/// Where the list is.
pub fn store_path() -> Option<PathBuf> {
    Some(
        dirs::data_dir()?
            .join("meshls")
            .join("trusted-workspaces.toml"),
    )
}

/// The workspaces the user trusted; none when the list is missing, and
/// none (with a warning in the log) when it cannot be read.
pub fn remembered() -> Vec<PathBuf> {
    let Some(path) = store_path() else {
        return Vec::new();
    };
    read(&path).unwrap_or_else(|err| {
        tracing::warn!("{err:#}; no workspace counts as trusted by it");
        Vec::new()
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    let store: Store =
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    Ok(store.workspaces)
}

/// Adds `root` (as its real path) to the list, written whole to a new
/// file that then replaces the old one, readable by the user only.
pub fn remember(root: &Path) -> anyhow::Result<PathBuf> {
    let path = store_path().context("there is no data directory to remember it in")?;
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut workspaces = read(&path)?;
    if !workspaces.contains(&root) {
        workspaces.push(root);
    }
    let dir = path.parent().context("the list has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = toml::to_string(&Store { workspaces }).context("the list serialises")?;
    let text = format!(
        "# Workspaces you trusted when meshls asked; remove a line to take it back.\n{text}"
    );
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    // NamedTempFile is created 0600 already.
    file.persist(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
