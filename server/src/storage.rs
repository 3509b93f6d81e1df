//! The per-workspace sled database: where it lives and opening it. Later
//! issues hand its trees to the agent (sessions, audit).

use std::path::{Path, PathBuf};

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
