//! Where the tests find what they run: the meshls binary, the language
//! servers (npm's node servers, pyright, clangd) and PATH values that put
//! them first; and what a command the tests ran printed.

use std::path::{Path, PathBuf};

/// Returns the `meshls` binary the tests run, panicking if it has not been built.
pub fn meshls_bin() -> PathBuf {
    let workspace_root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace");
    let exe = format!("meshls{}", std::env::consts::EXE_SUFFIX);
    let path = match (
        std::env::var_os("MESHLS_BIN"),
        std::env::var_os("CARGO_TARGET_DIR"),
    ) {
        (Some(bin), _) => PathBuf::from(bin),
        // Cargo runs tests from the crate directory, so a relative target directory
        // is taken to be relative to the workspace root where builds are started.
        (None, Some(target)) => workspace_root.join(target).join("debug").join(exe),
        (None, None) => workspace_root.join("target").join("debug").join(exe),
    };
    assert!(
        path.exists(),
        "meshls binary not found at {}: build it first with `cargo build -p meshls` (tests/run.sh does this)",
        path.display()
    );
    path
}

/// Where `npm ci` in tests/ put the real language servers' commands
/// (`MESHLS_TEST_NODE_BIN` overrides). Panics, saying what to run, when
/// typescript-language-server is not there.
pub fn node_bin() -> PathBuf {
    let bin = match std::env::var_os("MESHLS_TEST_NODE_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin"),
    };
    assert!(
        bin.join("typescript-language-server").exists(),
        "typescript-language-server not found in {}: run `npm ci` in tests/ (tests/run.sh does)",
        bin.display()
    );
    bin
}

/// A command's standard output, as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// PATH with the npm-installed servers first.
pub fn path_with_node_servers() -> String {
    path_with_first(&node_bin())
}

/// PATH with `dir` first, so the commands there win over any of the same name.
pub fn path_with_first(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// PATH with the npm-installed servers first, after checking pyright is there.
pub fn pyright_path() -> String {
    let bin = node_bin();
    assert!(
        bin.join("pyright-langserver").is_file(),
        "pyright-langserver not found in {}: run `npm ci` in tests/ (tests/run.sh does)",
        bin.display()
    );
    path_with_node_servers()
}

/// PATH, after checking clangd is on it.
pub fn clangd_path() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    assert!(
        std::env::split_paths(&path).any(|dir| dir.join("clangd").is_file()),
        "clangd is not on PATH: install it (Debian: `apt-get install clangd`), or run tests/run.sh, which does"
    );
    path.to_string_lossy().into_owned()
}
