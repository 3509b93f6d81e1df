//! Test workspaces on disk: [`Workspace`], built from a fixture of
//! `//- /path` headers, with XDG and temporary directories of its own, and
//! helpers that write the user's meshls config into it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use lsp_types::Url;

use crate::env::meshls_bin;

/// A temporary project on disk, plus XDG directories kept outside of it so the
/// server's database and user configuration never show up among the project's files,
/// and a TMPDIR for the processes a test starts: typescript-language-server
/// leaves an empty directory in the temporary directory each time it runs,
/// which would pile up in /tmp.
pub struct Workspace {
    dir: tempfile::TempDir,
    root: PathBuf,
    data_home: PathBuf,
    config_home: PathBuf,
    tmp: PathBuf,
}

impl Workspace {
    /// Creates the files of a fixture: `//- /relative/path` lines introduce files,
    /// and the text up to the next such line is that file's exact content.
    pub fn new(fixture: &str) -> Workspace {
        let dir = tempfile::Builder::new()
            .prefix("meshls-e2e-")
            .tempdir()
            .expect("create a temporary directory");
        // The server may canonicalise paths, so URIs must be built from the canonical form.
        let base = dir
            .path()
            .canonicalize()
            .expect("canonicalise the temporary directory");
        let workspace = Workspace {
            root: base.join("ws"),
            data_home: base.join("xdg").join("data"),
            config_home: base.join("xdg").join("config"),
            tmp: base.join("tmp"),
            dir,
        };
        for path in [
            &workspace.root,
            &workspace.data_home,
            &workspace.config_home,
            &workspace.tmp,
        ] {
            fs::create_dir_all(path).expect("create workspace directories");
        }
        for (rel, text) in parse_fixture(fixture) {
            workspace.write(&rel, &text);
        }
        workspace
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The URI an editor would send as `rootUri` (no trailing slash, as VS Code does).
    pub fn root_uri(&self) -> Url {
        Url::from_file_path(&self.root).expect("the workspace root is absolute")
    }

    pub fn data_home(&self) -> &Path {
        &self.data_home
    }

    pub fn config_home(&self) -> &Path {
        &self.config_home
    }

    /// The temporary directory holding both the workspace and the XDG directories.
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The TMPDIR of the processes the test starts, inside `temp_dir`.
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Resolves a workspace-relative path; a leading `/` is accepted so fixture paths can be reused.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    pub fn uri(&self, rel: &str) -> Url {
        Url::from_file_path(self.path(rel)).expect("workspace paths are absolute")
    }

    pub fn read(&self, rel: &str) -> String {
        let path = self.path(rel);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Runs git in the workspace, as a user named t; fails the test if git does.
    pub fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t.invalid"])
            .args(args)
            .current_dir(self.root())
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }

    /// The meshls binary as a command run in the workspace, with `path` as
    /// PATH and the workspace's own config and data directories.
    pub fn meshls(&self, path: &str) -> Command {
        let mut command = Command::new(meshls_bin());
        command
            .current_dir(self.root())
            .env("PATH", path)
            .env("XDG_CONFIG_HOME", self.config_home())
            .env("XDG_DATA_HOME", self.data_home())
            .env("TMPDIR", &self.tmp);
        command
    }

    /// Trusts the workspace as a user who answered "Trust" did: its root in
    /// the list meshls keeps in the user's data directory.
    pub fn trust(&self) {
        let dir = self.data_home().join("meshls");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("trusted-workspaces.toml"),
            format!("workspaces = [{:?}]\n", self.root().display().to_string()),
        )
        .unwrap();
    }

    /// Writes the user's own config file (`$XDG_CONFIG_HOME/meshls/config.toml`).
    pub fn write_user_config(&self, text: &str) {
        let dir = self.config_home().join("meshls");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("config.toml"), text).unwrap();
    }

    /// The user's config: the agent asks the OpenAI-compatible endpoint
    /// at `base_url` (the scripted model's `url()` + `/v1`), model
    /// "scripted", without retries; `more` is appended under `[agent]`.
    pub fn use_model(&self, base_url: &str, more: &str) {
        self.use_model_retrying(base_url, 0, more);
    }

    /// [`Workspace::use_model`], with `retries` after a failed answer.
    pub fn use_model_retrying(&self, base_url: &str, retries: u32, more: &str) {
        self.write_user_config(&format!(
            "[agent]\nprovider = \"openai\"\nmodel = \"scripted\"\nbase_url = \"{base_url}\"\nretries = {retries}\n{more}"
        ));
    }

    /// Writes a file, creating its directories, for tests that change files behind the server's back.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// Splits a fixture into `(relative path, content)` pairs.
fn parse_fixture(fixture: &str) -> Vec<(String, String)> {
    // Fixtures are written as `r#"` followed by a line break, which is layout rather than content.
    let fixture = fixture.strip_prefix('\n').unwrap_or(fixture);
    let mut files: Vec<(String, String)> = Vec::new();
    for line in fixture.split_inclusive('\n') {
        if let Some(header) = line.strip_prefix("//-") {
            let header = header.trim();
            let rel = header
                .strip_prefix('/')
                .unwrap_or_else(|| panic!("fixture header path must start with `/`: {line:?}"));
            // A path escaping the workspace would write into the XDG directories or elsewhere.
            assert!(
                !rel.is_empty() && !rel.split('/').any(|part| part == ".." || part.is_empty()),
                "bad fixture path: {line:?}"
            );
            assert!(
                files.iter().all(|(path, _)| path != rel),
                "fixture lists {rel} twice"
            );
            files.push((rel.to_owned(), String::new()));
        } else if let Some((_, text)) = files.last_mut() {
            text.push_str(line);
        } else {
            // Text that belongs to no file is almost certainly a forgotten header.
            assert!(
                line.trim().is_empty(),
                "fixture text before the first `//- /path` header: {line:?}"
            );
        }
    }
    files
}

/// Configures, in the user's own config, servers run by the scripted
/// `lsp-proxy/tests/fake_server.py`: `(name, mode, language)` each.
pub fn configure_fake_servers(ws: &Workspace, servers: &[(&str, &str, &str)]) {
    let fake = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../lsp-proxy/tests/fake_server.py");
    let mut config = String::new();
    for (name, mode, language) in servers {
        config.push_str(&format!(
            "[servers.{name}]\ncommand = \"python3\"\nargs = [{:?}, {mode:?}]\nlanguages = [{language:?}]\n",
            fake.display().to_string()
        ));
    }
    ws.write_user_config(&config);
}

/// A user config with a server that dies as it starts, saying "dying".
pub const BROKEN_SERVER: &str = "[servers.broken]\ncommand = \"sh\"\nargs = [\"-c\", \"echo dying >&2; exit 7\"]\nlanguages = [\"typescript\"]\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_files_keep_their_exact_content() {
        let files = parse_fixture(
            r#"
//- /src/main.rs
fn main() {}

//- /a b/c.ts
  indented
no newline"#,
        );
        assert_eq!(
            files,
            [
                ("src/main.rs".to_owned(), "fn main() {}\n\n".to_owned()),
                ("a b/c.ts".to_owned(), "  indented\nno newline".to_owned()),
            ]
        );
        assert_eq!(
            parse_fixture("//- /x\r\na\r\n"),
            [("x".to_owned(), "a\r\n".to_owned())]
        );
    }

    #[test]
    fn fixture_without_headers_is_empty() {
        assert!(parse_fixture("").is_empty());
        assert!(parse_fixture("\n  \n").is_empty());
    }

    #[test]
    #[should_panic(expected = "fixture text before the first")]
    fn fixture_text_without_header_panics() {
        parse_fixture("fn main() {}\n");
    }

    #[test]
    fn workspace_writes_fixture_outside_xdg_dirs() {
        let ws = Workspace::new("\n//- /src/lib.rs\npub fn f() {}\n");
        assert_eq!(ws.read("src/lib.rs"), "pub fn f() {}\n");
        assert!(ws.uri("src/lib.rs").as_str().ends_with("/ws/src/lib.rs"));
        assert!(!ws.data_home().starts_with(ws.root()));
        assert!(!ws.config_home().starts_with(ws.root()));
        assert!(ws.data_home().is_dir() && ws.config_home().is_dir());
    }
}
