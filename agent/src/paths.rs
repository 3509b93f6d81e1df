//! Every path a tool is given is resolved against the workspace root and
//! refused when it leads outside: a `..` that climbs out, an absolute path
//! elsewhere, or a symlink inside the workspace that points out of it.

use std::path::{Component, Path, PathBuf};

/// `given` (relative to `root`, or absolute) as a path inside `root`, or a
/// sentence saying why not, for the model to read. The file need not
/// exist (a tool may create it); the part of it that exists must not
/// leave the workspace through a symlink.
pub fn resolve(root: &Path, given: &str) -> Result<PathBuf, String> {
    let outside = || {
        format!(
            "`{given}` is outside the workspace; tools only reach files under {}",
            root.display()
        )
    };
    let given_path = Path::new(given);
    let joined = if given_path.is_absolute() {
        given_path.to_path_buf()
    } else {
        root.join(given_path)
    };
    // Lexically first: `..` may not climb above the root.
    let mut normal = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                if !normal.pop() {
                    return Err(outside());
                }
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    if !normal.starts_with(root) {
        return Err(outside());
    }
    // Then through the file system: the deepest part that exists, with its
    // symlinks followed, must still be inside the (real) root.
    let real_root = root.canonicalize().map_err(|err| {
        format!(
            "the workspace root {} cannot be read: {err}",
            root.display()
        )
    })?;
    let mut existing = normal.as_path();
    loop {
        match existing.canonicalize() {
            Ok(real) if real.starts_with(&real_root) => return Ok(normal),
            Ok(_) => return Err(outside()),
            Err(_) => match existing.parent() {
                Some(parent) => existing = parent,
                None => return Err(outside()),
            },
        }
    }
}

/// `path` relative to `root`, with `/` separators, as tools show it.
pub fn relative(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_pass_and_every_way_out_is_refused() {
        let outside_dir = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
        std::os::unix::fs::symlink(outside_dir.path(), root.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.join("src"), root.join("inner")).unwrap();
        let ok = |given: &str| resolve(&root, given).map(|path| relative(&root, &path));
        assert_eq!(ok("src/main.rs"), Ok("src/main.rs".to_owned()));
        assert_eq!(ok("./src/../src/main.rs"), Ok("src/main.rs".to_owned()));
        assert_eq!(
            ok("src/new/deeper/file.rs"),
            Ok("src/new/deeper/file.rs".to_owned())
        );
        assert_eq!(ok(""), Ok(".".to_owned()));
        assert_eq!(
            ok(root.join("src/main.rs").to_str().unwrap()),
            Ok("src/main.rs".to_owned())
        );
        assert_eq!(ok("inner/main.rs"), Ok("inner/main.rs".to_owned()));
        for escape in [
            "..",
            "../ws2/x",
            "src/../../x",
            "/etc/passwd",
            "escape/secret",
            "escape/new/file",
        ] {
            let refused = ok(escape).unwrap_err();
            assert!(
                refused.contains("is outside the workspace"),
                "{escape}: {refused}"
            );
        }
    }
}
