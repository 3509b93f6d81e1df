//! Safe mode: how the known servers start in a workspace the user has not
//! trusted, so that the repository cannot make them run its programs.
//! Each is known by its command's name, whoever configured it:
//!
//! - rust-analyzer: no build scripts, no proc macros, no `cargo check`;
//!   cargo's program keys (`build.rustc`, the wrappers) overridden from the
//!   environment, the toolchain pinned to the user's default over a
//!   `rust-toolchain.toml`, cargo offline (a registry's credential
//!   provider is a program). A workspace's `rust-analyzer.toml` overrides
//!   what meshls sends, so with one rust-analyzer does not start at all.
//! - typescript-language-server: the TypeScript installed beside it, not
//!   the workspace's `node_modules/typescript` (which it prefers, and which
//!   would run), and no automatic type acquisition; without one outside
//!   the workspace it does not start.
//! - pyright: a Python interpreter outside the workspace, given as
//!   `python.pythonPath`, so no workspace interpreter runs.
//! - gopls: the local Go toolchain only, no cgo.
//! - clangd, and servers the user added: as configured. No workspace key
//!   reaches them (the `server` crate refuses them), and clangd runs
//!   nothing of the workspace by itself.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::ServerConfig;

/// The entries looked at, at most, when searching the workspace for a
/// file that would lift safe mode; a larger workspace is not searched
/// through, and the server does not start.
const SEARCH_LIMIT: usize = 200_000;

/// The servers that have a safe mode of their own, by program name.
const KNOWN: &[&str] = &[
    "rust-analyzer",
    "typescript-language-server",
    "pyright-langserver",
    "basedpyright-langserver",
    "gopls",
];

/// The known server a config runs: its command's name, or, for a
/// launcher (`npx typescript-language-server`, `rustup run stable
/// rust-analyzer`), the first argument that names one.
fn known_program(config: &ServerConfig) -> Option<&'static str> {
    let name = |word: &str| {
        Path::new(word)
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| KNOWN.iter().find(|known| **known == name).copied())
    };
    name(&config.command).or_else(|| {
        config
            .args
            .iter()
            .filter(|arg| !arg.starts_with('-'))
            .find_map(|arg| name(arg))
    })
}

/// `config` as the server starts in an untrusted workspace whose folders
/// are `roots` (`command`: the program found on PATH), or why it does not
/// start.
pub fn restrict(
    name: &str,
    config: &ServerConfig,
    command: &Path,
    roots: &[PathBuf],
) -> Result<ServerConfig, String> {
    // A command of the workspace's own (a relative `command`, found there)
    // is the workspace's program, whoever configured it.
    if command
        .canonicalize()
        .is_ok_and(|real| roots.iter().any(|root| inside(&real, root)))
    {
        return Err(format!(
            "{name} does not start in an untrusted workspace: its command {} is in the workspace; trust the workspace, or configure a command outside it",
            command.display()
        ));
    }
    let mut config = config.clone();
    match known_program(&config).unwrap_or("") {
        "rust-analyzer" => rust_analyzer(name, &mut config, roots)?,
        "typescript-language-server" => typescript(name, &mut config, command, roots)?,
        "pyright-langserver" | "basedpyright-langserver" => python(name, &mut config, roots)?,
        "gopls" => {
            config
                .env
                .insert("GOTOOLCHAIN".to_owned(), "local".to_owned());
            config.env.insert("CGO_ENABLED".to_owned(), "0".to_owned());
        }
        _ => {}
    }
    Ok(config)
}

/// Whether a server has a safe mode of its own (beyond "as configured").
pub fn has_safe_mode(config: &ServerConfig) -> bool {
    known_program(config).is_some()
}

/// Whether `path` (real) is under `root`.
fn inside(path: &Path, root: &Path) -> bool {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    path.starts_with(root)
}

fn rust_analyzer(name: &str, config: &mut ServerConfig, roots: &[PathBuf]) -> Result<(), String> {
    if let Some(found) = find_in(roots, &["rust-analyzer.toml", ".rust-analyzer.toml"])? {
        return Err(format!(
            "{name} does not start in an untrusted workspace that has {}: rust-analyzer takes its settings over meshls's, and they can run programs; trust the workspace to start it",
            found.display()
        ));
    }
    let off = json!({
        "cargo": {"buildScripts": {"enable": false}},
        "procMacro": {"enable": false},
        "checkOnSave": false,
    });
    over(&mut config.initialization_options, &off);
    // rust-analyzer also asks for its settings (section `rust-analyzer`).
    over(&mut config.settings, &json!({ "rust-analyzer": off }));
    let env = &mut config.env;
    // Empty wrappers turn a configured one off; RUSTC beats `build.rustc`.
    env.insert("RUSTC_WRAPPER".to_owned(), String::new());
    env.insert("RUSTC_WORKSPACE_WRAPPER".to_owned(), String::new());
    env.insert("CARGO_NET_OFFLINE".to_owned(), "true".to_owned());
    if let Some(rustc) = outside_on_path("rustc", roots) {
        env.insert("RUSTC".to_owned(), rustc.display().to_string());
    }
    if std::env::var_os("RUSTUP_TOOLCHAIN").is_none() && !env.contains_key("RUSTUP_TOOLCHAIN") {
        if let Some(toolchain) = rustup_default() {
            env.insert("RUSTUP_TOOLCHAIN".to_owned(), toolchain);
        }
    }
    Ok(())
}

fn typescript(
    name: &str,
    config: &mut ServerConfig,
    command: &Path,
    roots: &[PathBuf],
) -> Result<(), String> {
    let given = config
        .initialization_options
        .as_ref()
        .and_then(|options| options.pointer("/tsserver/path"))
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .filter(|path| usable_outside(path, roots));
    let tsserver = given
        .or_else(|| beside(command, roots))
        .or_else(|| from_tsc(roots))
        .ok_or_else(|| {
            format!(
                "{name} does not start in an untrusted workspace: it would run the workspace's own TypeScript, and no TypeScript was found outside it (beside the server, or a tsc on PATH); install typescript next to typescript-language-server, set initialization_options.tsserver.path in your own config, or trust the workspace"
            )
        })?;
    over(
        &mut config.initialization_options,
        &json!({
            "tsserver": {"path": tsserver.display().to_string()},
            "disableAutomaticTypingAcquisition": true,
        }),
    );
    Ok(())
}

/// `node_modules/typescript/lib/tsserver.js` in a directory above the
/// server's real program (where npm installs the two together), with the
/// package's `package.json` beside it, outside the workspace.
fn beside(command: &Path, roots: &[PathBuf]) -> Option<PathBuf> {
    let real = command.canonicalize().ok()?;
    real.ancestors().skip(1).find_map(|dir| {
        let tsserver = dir.join("node_modules/typescript/lib/tsserver.js");
        let package = dir.join("node_modules/typescript/package.json");
        (tsserver.is_file() && package.is_file())
            .then(|| tsserver.canonicalize().ok())
            .flatten()
            .filter(|path| usable_outside(path, roots))
    })
}

/// The `tsserver.js` of the TypeScript whose `tsc` is on PATH, outside the
/// workspace: where a package manager installs TypeScript apart from the
/// server (Homebrew, volta, nix).
fn from_tsc(roots: &[PathBuf]) -> Option<PathBuf> {
    let tsc = outside_on_path("tsc", roots)?.canonicalize().ok()?;
    // `<typescript>/bin/tsc`, linked from wherever PATH has it.
    let package = tsc.parent()?.parent()?;
    let tsserver = package.join("lib/tsserver.js");
    (package.join("package.json").is_file() && usable_outside(&tsserver, roots)).then_some(tsserver)
}

fn python(name: &str, config: &mut ServerConfig, roots: &[PathBuf]) -> Result<(), String> {
    let given = config
        .settings
        .as_ref()
        .and_then(|settings| settings.pointer("/python/pythonPath"))
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .filter(|path| usable_outside(path, roots));
    let interpreter = given
        .or_else(|| outside_on_path("python3", roots))
        .or_else(|| outside_on_path("python", roots))
        .ok_or_else(|| {
            format!(
                "{name} does not start in an untrusted workspace: no Python interpreter outside the workspace was found, and it would look for one there; install python3, or trust the workspace"
            )
        })?;
    over(
        &mut config.settings,
        &json!({"python": {"pythonPath": interpreter.display().to_string()}}),
    );
    Ok(())
}

/// `program` as found on PATH, when the file it really is lies outside the
/// workspace (a PATH entry such as `.` could find one inside it). The path
/// is kept as found: rustup's `rustc` is a link to `rustup`, which tells
/// what to run by the name it was started under.
fn outside_on_path(program: &str, roots: &[PathBuf]) -> Option<PathBuf> {
    let cwd = roots.first()?.clone();
    let found = which::which_in(program, std::env::var_os("PATH"), cwd).ok()?;
    let absolute = if found.is_absolute() {
        found
    } else {
        std::env::current_dir().ok()?.join(found)
    };
    usable_outside(&absolute, roots).then_some(absolute)
}

/// An absolute path to a file that exists, and is outside every folder of
/// the workspace wherever its links lead.
fn usable_outside(path: &Path, roots: &[PathBuf]) -> bool {
    if !path.is_absolute() {
        return false;
    }
    let Ok(real) = path.canonicalize() else {
        return false;
    };
    real.is_file() && !roots.iter().any(|root| inside(&real, root))
}

/// The user's default rustup toolchain (`default_toolchain` in
/// `$RUSTUP_HOME/settings.toml`).
fn rustup_default() -> Option<String> {
    let home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|home| home.join(".rustup")))?;
    let text = std::fs::read_to_string(home.join("settings.toml")).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    table.get("default_toolchain")?.as_str().map(str::to_owned)
}

/// The first file named one of `names` under the `roots` (not in `.git`,
/// `target` or `node_modules`, links not followed); an error when the
/// workspace is too large to search.
fn find_in(roots: &[PathBuf], names: &[&str]) -> Result<Option<PathBuf>, String> {
    let mut pending = roots.to_vec();
    let mut seen = 0;
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > SEARCH_LIMIT {
                return Err(format!(
                    "the workspace has more than {SEARCH_LIMIT} files, too many to check that none would lift safe mode; trust the workspace to start its servers"
                ));
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !matches!(name.as_ref(), ".git" | "target" | "node_modules") {
                    pending.push(entry.path());
                }
            } else if names.contains(&name.as_ref()) {
                return Ok(Some(entry.path()));
            }
        }
    }
    Ok(None)
}

/// Merges `safe` over `value` (created when absent), table by table:
/// what safe mode sets wins.
fn over(value: &mut Option<Value>, safe: &Value) {
    fn merge(base: &mut Value, top: &Value) {
        match (base, top) {
            (Value::Object(base), Value::Object(top)) => {
                for (key, value) in top {
                    match base.get_mut(key) {
                        Some(existing) => merge(existing, value),
                        None => {
                            base.insert(key.clone(), value.clone());
                        }
                    }
                }
            }
            (base, top) => *base = top.clone(),
        }
    }
    let base = value.get_or_insert_with(|| json!({}));
    if !base.is_object() {
        *base = json!({});
    }
    merge(base, safe);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(command: &str) -> ServerConfig {
        ServerConfig {
            command: command.to_owned(),
            ..ServerConfig::default()
        }
    }

    #[test]
    fn rust_analyzer_runs_nothing_of_the_workspace_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut user = config("rust-analyzer");
        user.initialization_options =
            Some(json!({"cargo": {"features": "all", "buildScripts": {"enable": true}}}));
        let roots = [root.to_path_buf()];
        let safe = restrict("rust-analyzer", &user, Path::new("/bin/true"), &roots).unwrap();
        let options = safe.initialization_options.unwrap();
        assert_eq!(options["cargo"]["buildScripts"]["enable"], false);
        assert_eq!(options["cargo"]["features"], "all", "the user's own stay");
        assert_eq!(options["procMacro"]["enable"], false);
        assert_eq!(options["checkOnSave"], false);
        assert_eq!(
            safe.settings.unwrap()["rust-analyzer"]["checkOnSave"],
            false
        );
        assert_eq!(safe.env["RUSTC_WRAPPER"], "");
        assert_eq!(safe.env["CARGO_NET_OFFLINE"], "true");

        std::fs::create_dir_all(root.join("crates/a")).unwrap();
        std::fs::write(root.join("crates/a/rust-analyzer.toml"), "").unwrap();
        let refused = restrict("rust-analyzer", &user, Path::new("/bin/true"), &roots).unwrap_err();
        assert!(refused.contains("crates/a/rust-analyzer.toml"), "{refused}");
    }

    #[test]
    fn typescript_runs_the_typescript_beside_it_never_the_workspaces() {
        let install = tempfile::tempdir().unwrap();
        let server = install
            .path()
            .join("node_modules/typescript-language-server/lib/cli.mjs");
        let tsserver = install
            .path()
            .join("node_modules/typescript/lib/tsserver.js");
        for file in [&server, &tsserver] {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, "").unwrap();
        }
        std::fs::write(
            install.path().join("node_modules/typescript/package.json"),
            "{}",
        )
        .unwrap();
        let ws = tempfile::tempdir().unwrap();
        let safe = restrict(
            "ts",
            &config("typescript-language-server"),
            &server,
            &[ws.path().to_path_buf()],
        )
        .unwrap();
        let options = safe.initialization_options.unwrap();
        assert_eq!(
            options["tsserver"]["path"],
            tsserver.canonicalize().unwrap().display().to_string()
        );
        assert_eq!(options["disableAutomaticTypingAcquisition"], true);
        // Installed inside the workspace: it is the workspace's.
        let refused = restrict(
            "ts",
            &config("typescript-language-server"),
            &server,
            &[install.path().to_path_buf()],
        )
        .unwrap_err();
        assert!(refused.contains("untrusted workspace"), "{refused}");
    }

    #[test]
    fn a_launcher_gets_the_safe_mode_of_the_server_it_runs_and_no_command_of_the_workspace_runs() {
        let ws = tempfile::tempdir().unwrap();
        let roots = [ws.path().to_path_buf()];
        let mut rustup = config("rustup");
        rustup.args = vec!["run".into(), "stable".into(), "rust-analyzer".into()];
        assert!(has_safe_mode(&rustup));
        let safe = restrict("ra", &rustup, Path::new("/bin/true"), &roots).unwrap();
        assert_eq!(
            safe.initialization_options.unwrap()["procMacro"]["enable"],
            false
        );
        assert!(!has_safe_mode(&config("clangd")));
        // A command that is the workspace's own file.
        let own = ws.path().join("bin/server");
        std::fs::create_dir_all(own.parent().unwrap()).unwrap();
        std::fs::write(&own, "").unwrap();
        let refused = restrict("mine", &config("bin/server"), &own, &roots).unwrap_err();
        assert!(refused.contains("is in the workspace"), "{refused}");
    }

    #[test]
    fn pyright_gets_an_interpreter_outside_the_workspace() {
        let ws = tempfile::tempdir().unwrap();
        let mut user = config("pyright-langserver");
        // The user's own setting, pointing into the workspace, is not used.
        user.settings = Some(
            json!({"python": {"pythonPath": ".venv/bin/python", "analysis": {"typeCheckingMode": "strict"}}}),
        );
        let safe = restrict(
            "pyright",
            &user,
            Path::new("/bin/true"),
            &[ws.path().to_path_buf()],
        )
        .unwrap();
        let settings = safe.settings.unwrap();
        let python = PathBuf::from(settings["python"]["pythonPath"].as_str().unwrap());
        assert!(python.is_absolute() && python.is_file(), "{python:?}");
        assert!(!python.starts_with(ws.path()));
        assert_eq!(settings["python"]["analysis"]["typeCheckingMode"], "strict");
    }
}
