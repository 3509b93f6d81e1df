//! The files a check looks at: the given ones (directories walked) or the
//! workspace's, `.gitignore` respected, only those of a language meshls or
//! a server knows; and the shard of them a CI job takes.

use std::path::{Path, PathBuf};

/// The files to check, sorted: the given ones (directories walked), or the
/// workspace's, `.gitignore` respected; only those of a language meshls or
/// a server may know.
pub fn files(root: &Path, paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let starts: Vec<PathBuf> = if paths.is_empty() {
        vec![root.to_path_buf()]
    } else {
        paths
            .iter()
            .map(|path| {
                let path = if path.is_absolute() {
                    path.clone()
                } else {
                    root.join(path)
                };
                if path.exists() {
                    Ok(path)
                } else {
                    Err(format!("{} does not exist", path.display()))
                }
            })
            .collect::<Result<_, _>>()?
    };
    let mut files = Vec::new();
    for start in starts {
        let mut walk = ignore::WalkBuilder::new(&start);
        walk.require_git(false).hidden(false).filter_entry(|entry| {
            entry.file_name() != ".git" && entry.file_name() != "node_modules"
        });
        for entry in walk.build().flatten() {
            if entry.file_type().is_some_and(|kind| kind.is_file())
                && meshls_analysis::lsp_id_of_path(entry.path()).is_some()
            {
                files.push(entry.into_path());
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Shard `i` of `n` (from 1): every `n`th file of the sorted list, so the
/// shards are the same on every machine and together hold every file once.
pub fn shard(files: Vec<PathBuf>, shard: Option<(usize, usize)>) -> Vec<PathBuf> {
    let Some((i, n)) = shard else {
        return files;
    };
    files
        .into_iter()
        .enumerate()
        .filter(|(index, _)| index % n == i - 1)
        .map(|(_, file)| file)
        .collect()
}

/// `I/N` for `--shard`, with 1 <= I <= N.
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((i, n)) if (1..=n).contains(&i) => Ok((i, n)),
        _ => Err(format!(
            "`{text}` is not a shard: write I/N with 1 <= I <= N, such as 2/4"
        )),
    }
}
