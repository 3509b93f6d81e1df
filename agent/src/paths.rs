//! Every path a tool is given is resolved against the workspace root and
//! refused when it leads outside: a `..` that climbs out, an absolute path
//! elsewhere, or a symlink inside the workspace that points out of it
//! (one that points at nothing yet included: writing through it would
//! create its target). Every tool is also kept out of `.git`: a hook or a
//! config key there is a program git runs, and its config can hold
//! credentials in a remote's URL. Tools that change files are also kept
//! off configuration that decides what meshls, the editor or a language
//! server may do ([`resolve_for_write`]): the agent must not be able to
//! grant itself permissions, or lift a server's safe mode.

use std::{
    collections::VecDeque,
    ffi::OsString,
    path::{Component, Path, PathBuf},
};

/// `given` (relative to `root`, or absolute) as a path inside `root`, or a
/// sentence saying why not, for the model to read. The file need not
/// exist (a tool may create it); wherever its symlinks lead, existing or
/// not, must be inside the workspace and outside `.git`.
pub fn resolve(root: &Path, given: &str) -> Result<PathBuf, String> {
    resolve_checked(root, given).map(|(normal, _)| normal)
}

/// Directories of configuration the writing tools never touch, anywhere
/// in the workspace: meshls's, and the editors' (which can hand meshls
/// settings, or run tasks).
const PROTECTED_DIRECTORIES: &[&str] = &[".meshls", ".vscode", ".zed", ".helix"];

/// Files the writing tools never touch, anywhere in the workspace:
/// meshls's config, editors' settings that reach meshls (eglot takes
/// `.dir-locals.el` unasked) or run code (Neovim's exrc), and
/// rust-analyzer's, which overrides its safe mode.
const PROTECTED_FILES: &[&str] = &[
    "meshls.toml",
    ".dir-locals.el",
    ".dir-locals-2.el",
    ".nvim.lua",
    ".nvimrc",
    ".exrc",
    "rust-analyzer.toml",
    ".rust-analyzer.toml",
];

/// `given` as a path a tool may change: as [`resolve`], and neither
/// configuration that decides what meshls, the editor or a language server
/// may do ([`PROTECTED_DIRECTORIES`], [`PROTECTED_FILES`]) nor anything
/// under `protected` (the user's meshls config and data), wherever its
/// symlinks lead.
pub fn resolve_for_write(
    root: &Path,
    given: &str,
    protected: &[PathBuf],
) -> Result<PathBuf, String> {
    let (normal, real) = resolve_checked(root, given)?;
    let configuration = |path: &Path| {
        let parts: Vec<&str> = path
            .components()
            .filter_map(|part| part.as_os_str().to_str())
            .collect();
        let named =
            |list: &[&str], name: &&str| list.iter().any(|it| name.eq_ignore_ascii_case(it));
        parts.iter().any(|name| named(PROTECTED_DIRECTORIES, name))
            || parts
                .last()
                .is_some_and(|name| named(PROTECTED_FILES, name))
    };
    let in_workspace = normal.strip_prefix(root).unwrap_or(&normal);
    let real_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let really = real.strip_prefix(&real_root).unwrap_or(&real);
    let in_protected = protected.iter().any(|dir| {
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        real.starts_with(&dir)
    });
    if configuration(in_workspace) || configuration(really) || in_protected {
        return Err(format!(
            "`{given}` is configuration that decides what meshls, the editor or a language server may do; the agent's tools never change it (change it yourself if you mean to)"
        ));
    }
    Ok(normal)
}

/// The path as the tools use it, and where it really leads (absolute),
/// refused when it leads out or into `.git`.
fn resolve_checked(root: &Path, given: &str) -> Result<(PathBuf, PathBuf), String> {
    let (normal, real, real_root) = resolve_both(root, given)?;
    let in_git = |path: &Path| {
        path.components().any(|part| {
            // Case-insensitive file systems (macOS, Windows) take `.GIT`
            // for `.git`.
            part.as_os_str()
                .to_str()
                .is_some_and(|name| name.eq_ignore_ascii_case(".git"))
        })
    };
    if in_git(normal.strip_prefix(root).unwrap_or(&normal)) || in_git(&real) {
        return Err(format!(
            "`{given}` is git's own (under .git); the agent's tools neither read nor change git's files"
        ));
    }
    Ok((normal, real_root.join(real)))
}

/// The path as the tools use it, where it really leads relative to the
/// real root, and the real root.
fn resolve_both(root: &Path, given: &str) -> Result<(PathBuf, PathBuf, PathBuf), String> {
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
    // Then through the file system: with its symlinks followed, it must
    // still be inside the (real) root.
    let real_root = root.canonicalize().map_err(|err| {
        format!(
            "the workspace root {} cannot be read: {err}",
            root.display()
        )
    })?;
    let real = real_path(&normal).ok_or_else(outside)?;
    let real = real
        .strip_prefix(&real_root)
        .map_err(|_| outside())?
        .to_path_buf();
    Ok((normal, real, real_root))
}

/// Where `path` (absolute) leads once every symlink in it is followed, as
/// the system does when the file is opened or created: a link that points
/// at nothing counts for where it points. `None` for a loop of links.
fn real_path(path: &Path) -> Option<PathBuf> {
    enum Part {
        Root,
        Up,
        Name(OsString),
    }
    let parts = |path: &Path| -> Vec<Part> {
        path.components()
            .filter_map(|component| match component {
                Component::Prefix(_) | Component::RootDir => Some(Part::Root),
                Component::CurDir => None,
                Component::ParentDir => Some(Part::Up),
                Component::Normal(name) => Some(Part::Name(name.to_owned())),
            })
            .collect()
    };
    let mut pending: VecDeque<Part> = parts(path).into();
    let mut real = PathBuf::from("/");
    // As many as Linux follows before it says ELOOP.
    let mut links_left = 40;
    while let Some(part) = pending.pop_front() {
        match part {
            Part::Root => real = PathBuf::from("/"),
            Part::Up => {
                real.pop();
            }
            Part::Name(name) => {
                let next = real.join(&name);
                let is_link = std::fs::symlink_metadata(&next)
                    .is_ok_and(|meta| meta.file_type().is_symlink());
                if !is_link {
                    real = next;
                    continue;
                }
                links_left -= 1;
                if links_left == 0 {
                    return None;
                }
                // The link's target takes its place, relative to the
                // directory that holds it (`real` already).
                let target = std::fs::read_link(&next).ok()?;
                for part in parts(&target).into_iter().rev() {
                    pending.push_front(part);
                }
            }
        }
    }
    Some(real)
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
        // Links to nothing yet: where they point decides.
        std::os::unix::fs::symlink(root.join("src/later.rs"), root.join("soon")).unwrap();
        std::os::unix::fs::symlink(outside_dir.path().join("new"), root.join("away")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
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
        assert_eq!(ok("soon"), Ok("soon".to_owned()));
        for escape in [
            "..",
            "../ws2/x",
            "src/../../x",
            "/etc/passwd",
            "escape/secret",
            "escape/new/file",
            "away",
            "away/deeper",
            "loop",
        ] {
            let refused = ok(escape).unwrap_err();
            assert!(
                refused.contains("is outside the workspace"),
                "{escape}: {refused}"
            );
        }
        let write = |given: &str| resolve(&root, given).map(|_| ());
        assert_eq!(write("src/main.rs"), Ok(()));
        std::os::unix::fs::symlink(root.join(".git"), root.join("git")).unwrap();
        for git in [".git/hooks/pre-commit", "src/../.git/config", "git/config"] {
            assert_eq!(
                write(git),
                Err(format!(
                    "`{git}` is git's own (under .git); the agent's tools neither read nor change git's files"
                ))
            );
        }
        // A workspace that holds the user's config (a home directory).
        let config = root.join(".config/meshls");
        std::fs::create_dir_all(&config).unwrap();
        std::os::unix::fs::symlink(&config, root.join("mine")).unwrap();
        std::os::unix::fs::symlink(root.join("meshls.toml"), root.join("settings.toml")).unwrap();
        let protected = [config.clone()];
        let write = |given: &str| resolve_for_write(&root, given, &protected).map(|_| ());
        assert_eq!(write("src/main.rs"), Ok(()));
        // Reading them is fine.
        assert!(resolve(&root, "meshls.toml").is_ok());
        for own in [
            "meshls.toml",
            "MESHLS.TOML",
            "sub/meshls.toml",
            ".meshls/config.toml",
            ".meshls/answers/x.md",
            "settings.toml",
            "mine/config.toml",
            ".config/meshls/config.toml",
            ".dir-locals.el",
            "sub/.dir-locals-2.el",
            ".zed/settings.json",
            ".helix/languages.toml",
            ".vscode/tasks.json",
            ".nvim.lua",
            "crates/a/rust-analyzer.toml",
        ] {
            assert!(
                write(own)
                    .unwrap_err()
                    .contains("the agent's tools never change it"),
                "{own}"
            );
        }
    }
}
