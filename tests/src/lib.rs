//! A synchronous LSP test client for the end-to-end tests.
//!
//! The tests spawn the real `meshls` binary over stdio, exactly as an editor
//! would, and talk to it through [`Server`]. Plain threads are used instead of
//! an async runtime so that a test reads top to bottom and a hang turns into a
//! panic with the server's recent output instead of a silent timeout.
//!
//! Besides the client, this crate provides fixtures ([`Workspace`]) and an
//! edit oracle ([`TextModel`], [`Rng`]) that shares no code with the server, so
//! that what the tests expect is computed independently of what they test.

pub mod model_server;
pub mod processes;
pub mod type_error;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use lsp_types::notification::Notification;
use lsp_types::request::Request;
use lsp_types::{Position, Range, Url};
use serde_json::{json, Value};

/// Waits are a guard against hangs, not a performance assertion, so the limit is generous.
const WAIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to exit after `exit` before it is killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often waits look at the child process while no message arrives.
const POLL: Duration = Duration::from_millis(50);
/// How much of a protocol violation is shown: enough to recognise a stray log line.
const VIOLATION_BYTES: usize = 200;
/// A larger frame is certainly a broken header, and allocating it could abort the test.
const MAX_FRAME: usize = 256 << 20;

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

/// Fails, listing what is wrong, unless `log` is valid against the
/// official SARIF 2.1.0 schema shipped in `tests/fixtures`, formats (URIs)
/// included.
pub fn assert_valid_sarif(log: &Value) {
    let errors = sarif_errors(log);
    assert!(errors.is_empty(), "invalid SARIF: {errors:#?}\n{log:#}");
}

/// What makes `log` invalid SARIF 2.1.0 (see [`assert_valid_sarif`]).
pub fn sarif_errors(log: &Value) -> Vec<String> {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sarif-schema-2.1.0.json");
    let mut schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&schema).expect("the schema is shipped"))
            .expect("the schema is JSON");
    // The schema's pattern for a language tag has a lone `]`, a literal in
    // JavaScript's regexes (which JSON Schema uses) that this validator's
    // strict check of the schema refuses: escaped, it means the same.
    fn escape_lone_bracket(schema: &mut Value) -> usize {
        match schema {
            Value::Object(fields) => fields
                .iter_mut()
                .map(|(key, value)| {
                    if key == "pattern" && value == "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$" {
                        *value = json!(r"^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\]?$");
                        1
                    } else {
                        escape_lone_bracket(value)
                    }
                })
                .sum(),
            Value::Array(items) => items.iter_mut().map(escape_lone_bracket).sum(),
            _ => 0,
        }
    }
    assert_eq!(
        escape_lone_bracket(&mut schema),
        2,
        "the shipped schema changed"
    );
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    validator
        .iter_errors(log)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

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

/// Configures how `meshls` is started; see [`Server::builder`].
pub struct ServerBuilder {
    root: PathBuf,
    root_uri: Url,
    data_home: PathBuf,
    config_home: PathBuf,
    tmp: PathBuf,
    program: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    initialization_options: Option<Value>,
    capabilities: Option<Value>,
    client_name: Option<String>,
}

impl ServerBuilder {
    /// Starts another language server instead of meshls (with no default
    /// arguments), to compare meshls with the server it proxies.
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self.args.clear();
        self
    }

    /// Replaces the default arguments `serve --stdio`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(OsString::from).collect();
        self
    }

    /// Sets an environment variable for the child; this overrides the defaults, `MESHLS_LOG` included.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Options sent by [`ServerBuilder::start_initialized`].
    pub fn initialization_options(mut self, options: Value) -> Self {
        self.initialization_options = Some(options);
        self
    }

    /// Client capabilities sent by [`ServerBuilder::start_initialized`] on
    /// top of the usual ones (each section's keys added or replaced).
    pub fn capabilities(mut self, capabilities: Value) -> Self {
        self.capabilities = Some(capabilities);
        self
    }

    /// The editor's name in `clientInfo` (`meshls-e2e` by default).
    pub fn client_name(mut self, name: &str) -> Self {
        self.client_name = Some(name.to_owned());
        self
    }

    /// Spawns the server without initialising it, for tests of the lifecycle itself.
    pub fn start(self) -> Server {
        let bin = self.program.clone().unwrap_or_else(meshls_bin);
        let mut command = Command::new(&bin);
        command
            .args(&self.args)
            .current_dir(&self.root)
            .env("XDG_DATA_HOME", &self.data_home)
            .env("XDG_CONFIG_HOME", &self.config_home)
            .env("TMPDIR", &self.tmp)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Someone debugging a failure may have asked for a different log level on purpose.
        if std::env::var_os("MESHLS_LOG").is_none() {
            command.env("MESHLS_LOG", "debug");
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));

        let stdin: SharedStdin = Arc::new(Mutex::new(child.stdin.take()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");

        // stderr must be drained continuously, or a chatty server blocks on a full pipe.
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_done = Arc::new(AtomicBool::new(false));
        let (text, done) = (Arc::clone(&stderr), Arc::clone(&stderr_done));
        thread::Builder::new()
            .name("meshls-stderr".into())
            .spawn(move || {
                // Whole lines are converted so that a UTF-8 sequence is never split.
                let mut reader = BufReader::new(stderr_pipe);
                let mut line = Vec::new();
                while matches!(reader.read_until(b'\n', &mut line), Ok(1..)) {
                    lock(&text).push_str(&String::from_utf8_lossy(&line));
                    line.clear();
                }
                done.store(true, Ordering::SeqCst);
            })
            .expect("spawn the stderr reader");

        let (events_tx, events) = mpsc::channel();
        let violation = Arc::new(Mutex::new(None));
        let (reply_to, found) = (Arc::clone(&stdin), Arc::clone(&violation));
        let editor = Arc::new(Mutex::new(EditorSide::default()));
        let editor_side = Arc::clone(&editor);
        thread::Builder::new()
            .name("meshls-stdout".into())
            .spawn(move || read_stdout(stdout, &reply_to, &found, &events_tx, &editor_side))
            .expect("spawn the stdout reader");

        Server {
            child,
            stdin,
            events,
            violation,
            stderr,
            stderr_done,
            inbox: Inbox::default(),
            next_id: 1,
            editor,
            extra_capabilities: None,
            client_name: None,
        }
    }

    /// Spawns the server, sends `initialize` and `initialized`, and returns the initialize result.
    pub fn start_initialized(self) -> (Server, Value) {
        let root_uri = self.root_uri.clone();
        let options = self.initialization_options.clone();
        let capabilities = self.capabilities.clone();
        let client_name = self.client_name.clone();
        let mut server = self.start();
        server.extra_capabilities = capabilities;
        server.client_name = client_name;
        let result = server.initialize(root_uri, options);
        (server, result)
    }
}

type SharedStdin = Arc<Mutex<Option<ChildStdin>>>;

/// What the stdout reader tells the test thread.
enum Event {
    Message(Value),
    /// Details are in `Server::violation`; the event only wakes a waiting test.
    Violation,
    Closed,
}

struct Violation {
    bytes: Vec<u8>,
    reason: String,
}

/// Everything received so far, and what tests have not consumed yet.
#[derive(Default)]
struct Inbox {
    log: Vec<Value>,
    responses: Vec<Value>,
    notifications: Vec<Value>,
    server_requests: Vec<Value>,
    stdout_closed: bool,
}

impl Inbox {
    fn accept(&mut self, event: Event) {
        let message = match event {
            Event::Message(message) => message,
            Event::Violation => return,
            Event::Closed => {
                self.stdout_closed = true;
                return;
            }
        };
        self.log.push(message.clone());
        match (message.get("id").is_some(), message.get("method").is_some()) {
            (true, true) => self.server_requests.push(message),
            (false, true) => self.notifications.push(message),
            _ => self.responses.push(message),
        }
    }
}

/// A running `meshls` process and the client side of its LSP connection.
pub struct Server {
    child: Child,
    stdin: SharedStdin,
    events: Receiver<Event>,
    violation: Arc<Mutex<Option<Violation>>>,
    stderr: Arc<Mutex<String>>,
    stderr_done: Arc<AtomicBool>,
    inbox: Inbox,
    editor: Arc<Mutex<EditorSide>>,
    /// Added to the capabilities `initialize` sends.
    extra_capabilities: Option<Value>,
    /// The `clientInfo` name `initialize` sends.
    client_name: Option<String>,
    next_id: i64,
}

impl Server {
    pub fn builder(workspace: &Workspace) -> ServerBuilder {
        ServerBuilder {
            root: workspace.root.clone(),
            root_uri: workspace.root_uri(),
            data_home: workspace.data_home.clone(),
            config_home: workspace.config_home.clone(),
            tmp: workspace.tmp.clone(),
            program: None,
            args: vec!["serve".into(), "--stdio".into()],
            env: Vec::new(),
            initialization_options: None,
            capabilities: None,
            client_name: None,
        }
    }

    /// Starts the server with the defaults and completes the initialize handshake.
    pub fn start_initialized(workspace: &Workspace) -> (Server, Value) {
        Server::builder(workspace).start_initialized()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server has written to stderr so far.
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// Drops the unconsumed `method` notifications received so far, so the
    /// next wait sees only newer ones.
    pub fn skip_notifications(&mut self, method: &str) {
        self.pump();
        self.inbox.notifications.retain(|m| m["method"] != method);
    }

    /// Forgets the log of every message received so far and the
    /// notifications not waited for, as a long session must to stay
    /// bounded. Responses not yet waited for stay.
    pub fn forget_received(&mut self) {
        self.pump();
        self.inbox.log.clear();
        self.inbox.notifications.clear();
    }

    /// Every message received so far, in order, consumed or not.
    pub fn messages(&mut self) -> Vec<Value> {
        self.pump();
        self.check_protocol();
        self.inbox.log.clone()
    }

    /// Writes bytes exactly as given, for tests of malformed input.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.check_protocol();
        if let Err(e) = write_all(&self.stdin, bytes) {
            self.panic_write_failed(&e);
        }
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method }), params);
    }

    pub fn notify_typed<N: Notification>(&mut self, params: N::Params) {
        let params = serde_json::to_value(params).expect("notification params serialise");
        self.notify(N::METHOD, params);
    }

    /// meshls's copy of an open document (`meshls/viewDocument`): its
    /// `uri`, `version` and `text`.
    pub fn view_document(&mut self, uri: &Url) -> Result<Value, Value> {
        self.request("meshls/viewDocument", json!({"textDocument": {"uri": uri}}))
    }

    /// Sends a request without waiting for its response and returns its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(
            json!({ "jsonrpc": "2.0", "id": id, "method": method }),
            params,
        );
        id
    }

    /// Sends a request and waits for its result, or its error object.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.send_request(method, params);
        self.wait_response(id)
    }

    pub fn request_typed<R: Request>(&mut self, params: R::Params) -> Result<R::Result, Value> {
        let params = serde_json::to_value(params).expect("request params serialise");
        let result = self.request(R::METHOD, params)?;
        Ok(serde_json::from_value(result.clone()).unwrap_or_else(|e| {
            panic!(
                "{} result does not match lsp-types ({e}): {result}",
                R::METHOD
            )
        }))
    }

    pub fn wait_response(&mut self, id: i64) -> Result<Value, Value> {
        let response = self.wait_for(&format!("the response to request {id}"), |inbox| {
            take_first(&mut inbox.responses, |m| m["id"].as_i64() == Some(id))
        });
        match response.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(response.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// Returns the next whole response whose id is `null`, as sent for messages that could not be parsed.
    pub fn wait_response_null(&mut self) -> Value {
        self.wait_for("a response with a null id", |inbox| {
            take_first(&mut inbox.responses, |m| m["id"].is_null())
        })
    }

    /// Returns the params of the first unconsumed `method` notification that satisfies `predicate`.
    pub fn wait_notification(&mut self, method: &str, predicate: impl Fn(&Value) -> bool) -> Value {
        let message = self.wait_for(&format!("a {method} notification"), |inbox| {
            take_first(&mut inbox.notifications, |m| {
                m["method"] == method && predicate(m.get("params").unwrap_or(&Value::Null))
            })
        });
        params_of(message)
    }

    /// The params of the first unconsumed publication of diagnostics for
    /// `uri` in which one diagnostic `matches`.
    pub fn wait_publication(&mut self, uri: &Url, matches: impl Fn(&Value) -> bool) -> Value {
        self.wait_notification("textDocument/publishDiagnostics", |p| {
            p["uri"] == uri.as_str()
                && p["diagnostics"]
                    .as_array()
                    .is_some_and(|ds| ds.iter().any(&matches))
        })
    }

    /// Returns the params of the first unconsumed request of `method` from the server (already answered).
    pub fn wait_server_request(&mut self, method: &str) -> Value {
        self.wait_server_request_where(method, |_| true)
    }

    /// [`Server::wait_server_request`] for the first whose params match.
    pub fn wait_server_request_where(
        &mut self,
        method: &str,
        predicate: impl Fn(&Value) -> bool,
    ) -> Value {
        let message = self.wait_for(&format!("a {method} request from the server"), |inbox| {
            take_first(&mut inbox.server_requests, |m| {
                m["method"] == method && predicate(m.get("params").unwrap_or(&Value::Null))
            })
        });
        params_of(message)
    }

    /// The questions meshls's agent asked (`window/showMessageRequest`
    /// messages starting `meshls agent:`), in order; not meshls's question
    /// about trusting the workspace, nor the servers' own.
    pub fn agent_questions(&mut self) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m["method"] == "window/showMessageRequest")
            .filter_map(|m| m["params"]["message"].as_str().map(str::to_owned))
            .filter(|message| message.starts_with("meshls agent:"))
            .collect()
    }

    /// Sends a realistic `initialize` followed by `initialized`, and returns the initialize result.
    pub fn initialize(&mut self, root_uri: Url, initialization_options: Option<Value>) -> Value {
        let mut params = json!({
            "processId": std::process::id(),
            "clientInfo": { "name": self.client_name.as_deref().unwrap_or("meshls-e2e") },
            "rootUri": root_uri,
            "workspaceFolders": [{ "uri": root_uri, "name": "ws" }],
            "capabilities": {
                "general": { "positionEncodings": ["utf-16"] },
                "textDocument": {
                    "synchronization": { "dynamicRegistration": false, "didSave": true },
                    "documentSymbol": { "hierarchicalDocumentSymbolSupport": true },
                    "publishDiagnostics": { "relatedInformation": true, "versionSupport": true }
                },
                "window": { "workDoneProgress": true, "showMessage": {} },
                "workspace": {
                    "configuration": true,
                    "didChangeConfiguration": { "dynamicRegistration": false }
                }
            }
        });
        if let Some(options) = initialization_options {
            params["initializationOptions"] = options;
        }
        if let Some(Value::Object(extra)) = &self.extra_capabilities {
            for (section, fields) in extra {
                match (&mut params["capabilities"][section], fields) {
                    (Value::Object(ours), Value::Object(theirs)) => {
                        ours.extend(theirs.clone());
                    }
                    (ours, theirs) => *ours = theirs.clone(),
                }
            }
        }
        let result = self.request("initialize", params).unwrap_or_else(|error| {
            let context = self.context();
            panic!("initialize failed: {error}\n{context}")
        });
        self.notify("initialized", json!({}));
        result
    }

    /// Shuts the server down the polite way and returns how it exited.
    pub fn shutdown_and_exit(mut self) -> ExitStatus {
        let response = self.request("shutdown", Value::Null);
        if response != Ok(Value::Null) {
            let context = self.context();
            panic!("shutdown should answer a null result, got {response:?}\n{context}");
        }
        self.notify("exit", Value::Null);
        // Closing stdin as well checks that the server does not wait for more input.
        lock(&self.stdin).take();
        let Some(status) = self.exit_status_within(EXIT_TIMEOUT) else {
            let _ = self.child.kill();
            let context = self.context();
            panic!("meshls did not exit within {EXIT_TIMEOUT:?} of `exit`\n{context}");
        };
        // Anything written after the shutdown response must be a frame too, so read to the end.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.inbox.stdout_closed && Instant::now() < deadline {
            if let Ok(event) = self.events.recv_timeout(POLL) {
                self.inbox.accept(event);
            }
        }
        self.check_protocol();
        status
    }

    /// Opens a document at version 1, as an editor does when a file is shown.
    pub fn open(&mut self, uri: &Url, language_id: &str, text: &str) {
        lock(&self.editor)
            .documents
            .insert(uri.to_string(), (1, TextModel::new(text)));
        let item = json!({"uri": uri, "languageId": language_id, "version": 1, "text": text});
        self.notify("textDocument/didOpen", json!({ "textDocument": item }));
    }

    /// From now on, answers `workspace/applyEdit` as an editor does: applies
    /// the edit to the open documents (or the files on disk), sends their
    /// `didChange`, then answers `applied: true`, or `applied: false` when
    /// a versioned edit does not match the document's version.
    pub fn apply_edits(&mut self) {
        lock(&self.editor).apply_edits = true;
    }

    /// The button pressed on every `window/showMessageRequest` from now on
    /// (none: the request is answered with null, as dismissing it does).
    pub fn choose(&mut self, title: Option<&str>) {
        lock(&self.editor).choice = title.map(str::to_owned);
    }

    /// Leaves every `window/showMessageRequest` from now on unanswered.
    pub fn answer_no_questions(&mut self) {
        lock(&self.editor).away = true;
    }

    /// Whether the user turns down the changes the editor previews for
    /// confirmation (those annotated `needsConfirmation`).
    pub fn reject_confirmations(&mut self, reject: bool) {
        lock(&self.editor).reject_confirmations = reject;
    }

    /// An open document's text and version, as this editor holds it.
    pub fn document(&self, uri: &Url) -> Option<(String, i32)> {
        lock(&self.editor)
            .documents
            .get(uri.as_str())
            .map(|(version, text)| (text.text().to_owned(), *version))
    }

    /// The user replaces an open document's whole text (one `didChange`).
    pub fn retype(&mut self, uri: &Url, text: &str) {
        let version = {
            let mut editor = lock(&self.editor);
            let (version, model) = editor
                .documents
                .get_mut(uri.as_str())
                .expect("the document is open");
            *version += 1;
            *model = TextModel::new(text);
            *version
        };
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        );
    }

    /// Closes the server's stdin, as an editor that dies without `exit` does.
    pub fn close_stdin(&mut self) {
        lock(&self.stdin).take();
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn exit_status_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn send(&mut self, mut message: Value, params: Value) {
        self.check_protocol();
        // Methods without params (shutdown, exit) are sent without the field, as editors do.
        if !params.is_null() {
            message["params"] = params;
        }
        let body = message.to_string();
        if let Err(e) = write_all(&self.stdin, &frame(&body)) {
            self.panic_write_failed(&e);
        }
    }

    /// Moves whatever the reader thread has delivered into the inbox, without blocking.
    fn pump(&mut self) {
        loop {
            match self.events.try_recv() {
                Ok(event) => self.inbox.accept(event),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.inbox.stdout_closed = true;
                    return;
                }
            }
        }
    }

    /// Waits until `take` finds something in the inbox, panicking with context on a hang or exit.
    fn wait_for<T>(&mut self, what: &str, mut take: impl FnMut(&mut Inbox) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let mut exited_at = None;
        loop {
            self.pump();
            self.check_protocol();
            if let Some(found) = take(&mut self.inbox) {
                return found;
            }
            if self.inbox.stdout_closed {
                self.panic_exited(what);
            }
            if Instant::now() >= deadline {
                let context = self.context();
                panic!("timed out after {WAIT_TIMEOUT:?} waiting for {what}\n{context}");
            }
            // A child that exited while something else holds its stdout never closes the
            // stream, so the process itself is watched too, with a grace period for the reader.
            if let Ok(Some(_)) = self.child.try_wait() {
                if exited_at.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(2) {
                    self.panic_exited(what);
                }
            }
            match self.events.recv_timeout(POLL) {
                Ok(event) => self.inbox.accept(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.inbox.stdout_closed = true,
            }
        }
    }

    fn check_protocol(&self) {
        let message = lock(&self.violation).as_ref().map(|v| {
            format!(
                "meshls wrote something other than an LSP frame to stdout: {} ({})",
                v.bytes.escape_ascii(),
                v.reason
            )
        });
        if let Some(message) = message {
            panic!("{message}");
        }
    }

    fn panic_exited(&mut self, what: &str) -> ! {
        let status = self.exit_status_within(Duration::from_secs(5));
        let status = status.map_or("stdout closed, still running".to_owned(), |s| s.to_string());
        let context = self.context();
        panic!("meshls exited ({status}) while the test waited for {what}\n{context}");
    }

    fn panic_write_failed(&mut self, error: &io::Error) -> ! {
        let status = self.exit_status_within(Duration::from_secs(5));
        let status = status.map_or("still running".to_owned(), |s| s.to_string());
        let context = self.context();
        panic!("could not write to meshls's stdin ({error}); meshls: {status}\n{context}");
    }

    /// The recent history a failure message needs: the last messages and the end of stderr.
    fn context(&mut self) -> String {
        self.pump();
        // Give the stderr reader a moment to catch up, since a crash report is usually the last thing written.
        let deadline = Instant::now() + Duration::from_secs(1);
        while !self.stderr_done.load(Ordering::SeqCst) && Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_none() {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let log = &self.inbox.log;
        let mut out = format!("last {} messages received:\n", log.len().min(20));
        for message in &log[log.len().saturating_sub(20)..] {
            let text = message.to_string();
            out.push_str("  ");
            out.push_str(truncate_start(&text, 0, 1000));
            out.push('\n');
        }
        let stderr = self.stderr();
        out.push_str("stderr (last 4 KB):\n");
        out.push_str(truncate_start(
            &stderr,
            stderr.len().saturating_sub(4096),
            usize::MAX,
        ));
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // A violation after the test's last call must still fail the test.
        if !thread::panicking() {
            self.pump();
            self.check_protocol();
        }
    }
}

/// Returns `text[start..start + max]`, with both ends moved to character boundaries.
fn truncate_start(text: &str, mut start: usize, max: usize) -> &str {
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let mut end = start.saturating_add(max).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[start..end]
}

fn take_first(messages: &mut Vec<Value>, matches: impl Fn(&Value) -> bool) -> Option<Value> {
    let index = messages.iter().position(matches)?;
    Some(messages.remove(index))
}

fn params_of(mut message: Value) -> Value {
    message
        .get_mut("params")
        .map(Value::take)
        .unwrap_or(Value::Null)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not hide the data a failure message needs.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn frame(body: &str) -> Vec<u8> {
    let mut bytes = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// Writes under the lock, so frames from the test and from automatic replies never interleave.
fn write_all(stdin: &SharedStdin, bytes: &[u8]) -> io::Result<()> {
    let mut stdin = lock(stdin);
    let stdin = stdin
        .as_mut()
        .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "stdin was closed"))?;
    stdin.write_all(bytes)?;
    stdin.flush()
}

/// The test editor's side of the documents, and how it answers the server.
#[derive(Default)]
struct EditorSide {
    /// Open documents by URI: version and text.
    documents: HashMap<String, (i32, TextModel)>,
    apply_edits: bool,
    choice: Option<String>,
    /// `window/showMessageRequest` is left unanswered, as by a user away
    /// from the keyboard.
    away: bool,
    /// The user turns down every change annotated `needsConfirmation`.
    reject_confirmations: bool,
}

impl EditorSide {
    /// Applies a `workspace/applyEdit` as an editor does, all or nothing;
    /// the `didChange` notifications to send first, and the answer.
    fn apply(&mut self, params: &Value) -> (Vec<Value>, Value) {
        let asks = params["edit"]["changeAnnotations"]
            .as_object()
            .is_some_and(|notes| notes.values().any(|note| note["needsConfirmation"] == true));
        if asks && self.reject_confirmations {
            return (
                Vec::new(),
                json!({"applied": false, "failureReason": "the user did not confirm the change"}),
            );
        }
        let changes = params["edit"]["documentChanges"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut documents = self.documents.clone();
        let mut files: Vec<(PathBuf, String)> = Vec::new();
        let mut touched = Vec::new();
        for change in &changes {
            let uri = change
                .pointer("/textDocument/uri")
                .or_else(|| change.get("uri"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let path = Url::parse(&uri)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .unwrap_or_default();
            if change["kind"] == "create" {
                if path.exists() {
                    return (
                        Vec::new(),
                        json!({"applied": false, "failureReason": "the file exists"}),
                    );
                }
                files.push((path, String::new()));
                continue;
            }
            let edits: Vec<(Range, String)> = change["edits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|edit| {
                    (
                        serde_json::from_value(edit["range"].clone()).expect("an LSP range"),
                        edit["newText"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let apply = |model: &mut TextModel| {
                // From the last, so earlier positions stay valid.
                let mut edits = edits.clone();
                edits.sort_by_key(|(range, _)| (range.start.line, range.start.character));
                for (range, text) in edits.iter().rev() {
                    model.apply(*range, text);
                }
            };
            match documents.get_mut(&uri) {
                Some((version, model)) => {
                    let wanted = &change["textDocument"]["version"];
                    if !wanted.is_null() && wanted.as_i64() != Some(i64::from(*version)) {
                        return (
                            Vec::new(),
                            json!({"applied": false, "failureReason": format!("{uri} is at version {version}, not {wanted}")}),
                        );
                    }
                    apply(model);
                    *version += 1;
                    touched.push(uri);
                }
                None => {
                    let text = match files.iter().position(|(p, _)| *p == path) {
                        Some(at) => files.remove(at).1,
                        None => std::fs::read_to_string(&path).unwrap_or_default(),
                    };
                    let mut model = TextModel::new(text);
                    apply(&mut model);
                    files.push((path, model.text().to_owned()));
                }
            }
        }
        for (path, text) in files {
            std::fs::write(path, text).expect("write an edited file");
        }
        self.documents = documents;
        let notes = touched
            .iter()
            .map(|uri| {
                let (version, model) = &self.documents[uri];
                json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"text": model.text()}],
                }})
            })
            .collect();
        (notes, json!({"applied": true}))
    }
}

/// The stdout reader thread: parses frames, answers server requests and reports violations.
fn read_stdout(
    stdout: ChildStdout,
    stdin: &SharedStdin,
    violation: &Mutex<Option<Violation>>,
    events: &Sender<Event>,
    editor: &Mutex<EditorSide>,
) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut seen = Vec::new();
        match read_frame(&mut reader, &mut seen) {
            Ok(Some(message)) => {
                // Answering here rather than in the test thread means the server is never
                // left waiting just because the test is busy doing something else.
                if message.get("id").is_some() && message.get("method").is_some() {
                    let (notes, reply) = answer(&message, &mut lock(editor));
                    // The server may already be gone, and then nobody needs the answer.
                    for note in notes {
                        let _ = write_all(stdin, &frame(&note.to_string()));
                    }
                    if let Some(reply) = reply {
                        let _ = write_all(stdin, &frame(&reply.to_string()));
                    }
                }
                if events.send(Event::Message(message)).is_err() {
                    return;
                }
            }
            Ok(None) => break,
            Err(reason) => {
                // What is already buffered usually completes the offending line, so show it too.
                let buffered = reader.buffer().len();
                seen.extend_from_slice(reader.buffer());
                reader.consume(buffered);
                seen.truncate(VIOLATION_BYTES);
                *lock(violation) = Some(Violation {
                    bytes: seen,
                    reason,
                });
                let _ = events.send(Event::Violation);
                // Keep what follows for the panic message, and keep draining so the server never blocks.
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = reader.read(&mut buf) {
                    if let Some(v) = lock(violation).as_mut() {
                        let room = VIOLATION_BYTES.saturating_sub(v.bytes.len());
                        v.bytes.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
                break;
            }
        }
    }
    let _ = events.send(Event::Closed);
}

/// The client's reply to a request from the server: whatever means "no
/// preference" for each method, unless the test asked the editor to apply
/// edits or press a button (none when it asked the editor to leave
/// questions unanswered); with the notifications to send first.
fn answer(request: &Value, editor: &mut EditorSide) -> (Vec<Value>, Option<Value>) {
    let mut notes = Vec::new();
    let result = match request["method"].as_str() {
        Some("workspace/configuration") => {
            let items = request["params"]["items"].as_array().map_or(0, Vec::len);
            Value::Array(vec![Value::Null; items])
        }
        Some("workspace/applyEdit") if editor.apply_edits => {
            let (changes, result) = editor.apply(&request["params"]);
            notes = changes;
            result
        }
        Some("window/showMessageRequest") if editor.away => return (notes, None),
        Some("window/showMessageRequest") => match &editor.choice {
            Some(title) => json!({ "title": title }),
            None => Value::Null,
        },
        // Progress creation, capability (un)registration, message requests and
        // anything newer all accept a null result.
        _ => Value::Null,
    };
    (
        notes,
        Some(json!({ "jsonrpc": "2.0", "id": request["id"], "result": result })),
    )
}

/// Reads one byte, recording it; a read error counts as the end of the stream.
fn next_byte(reader: &mut impl BufRead, seen: &mut Vec<u8>) -> Option<u8> {
    let byte = *reader.fill_buf().ok()?.first()?;
    reader.consume(1);
    seen.push(byte);
    Some(byte)
}

/// Whether `line` can still become a header we accept; checked per byte so that a stray
/// log line is reported at once instead of waiting for a `\r\n` that may never come.
fn header_prefix_ok(line: &[u8]) -> bool {
    fn viable(line: &[u8], name: &[u8], value_byte: fn(&u8) -> bool) -> bool {
        match line.strip_prefix(name) {
            Some(value) => value.iter().all(value_byte),
            None => name.starts_with(line),
        }
    }
    line.len() <= 256
        && (viable(line, b"Content-Length: ", u8::is_ascii_digit)
            || viable(line, b"Content-Type: ", |b| (b' '..=b'~').contains(b)))
}

/// Reads one frame strictly; `Ok(None)` is a clean end of stream between frames.
fn read_frame(reader: &mut impl BufRead, seen: &mut Vec<u8>) -> Result<Option<Value>, String> {
    let mut length = None;
    loop {
        let mut line = Vec::new();
        loop {
            let Some(byte) = next_byte(reader, seen) else {
                return match seen.is_empty() {
                    true => Ok(None),
                    false => Err("stdout ended in the middle of a frame".into()),
                };
            };
            if byte == b'\r' {
                break;
            }
            line.push(byte);
            if !header_prefix_ok(&line) {
                return Err("not an LSP header".into());
            }
        }
        if next_byte(reader, seen) != Some(b'\n') {
            return Err("header line not ended by \\r\\n".into());
        }
        if line.is_empty() {
            break;
        }
        if let Some(digits) = line.strip_prefix(b"Content-Length: ") {
            let value = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<usize>().ok());
            match (length, value) {
                (None, Some(n)) if n <= MAX_FRAME => length = Some(n),
                (Some(_), _) => return Err("two Content-Length headers".into()),
                _ => return Err("bad Content-Length".into()),
            }
        } else if !line.starts_with(b"Content-Type: ") {
            return Err("incomplete header".into());
        }
    }
    let length = length.ok_or("frame without Content-Length")?;
    let mut body = Vec::with_capacity(length);
    let read = reader.take(length as u64).read_to_end(&mut body);
    seen.extend_from_slice(&body[..body.len().min(VIOLATION_BYTES)]);
    if read.is_err() || body.len() < length {
        return Err("stdout ended in the middle of a frame".into());
    }
    let message: Value =
        serde_json::from_slice(&body).map_err(|e| format!("body is not JSON: {e}"))?;
    let is_message = message["jsonrpc"] == "2.0"
        && (message.get("id").is_some() || message.get("method").is_some());
    if !is_message {
        return Err("body is not a JSON-RPC 2.0 message".into());
    }
    Ok(Some(message))
}

/// A document's text with LSP edit semantics, written independently of the server
/// so that tests compare the server's view of a document against an honest oracle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextModel {
    text: String,
}

impl TextModel {
    pub fn new(text: impl Into<String>) -> TextModel {
        TextModel { text: text.into() }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn len_chars(&self) -> usize {
        self.text.chars().count()
    }

    /// Applies an LSP edit whose positions count UTF-16 code units.
    pub fn apply(&mut self, range: Range, new_text: &str) {
        let start = self.offset_of(range.start);
        let end = self.offset_of(range.end);
        assert!(start <= end, "edit range ends before it starts: {range:?}");
        self.text.replace_range(start..end, new_text);
    }

    /// The byte offset of an LSP position. A character past the end of its line clamps
    /// to the line end and a line past the end clamps to the end of the text; a position
    /// inside a surrogate pair rounds down to the start of that character.
    pub fn offset_of(&self, position: Position) -> usize {
        let mut start = 0;
        for _ in 0..position.line {
            match line_break(&self.text[start..]) {
                Some((at, len)) => start += at + len,
                None => return self.text.len(),
            }
        }
        let end = line_break(&self.text[start..]).map_or(self.text.len(), |(at, _)| start + at);
        let mut units = 0;
        for (index, c) in self.text[start..end].char_indices() {
            units += c.len_utf16() as u32;
            if units > position.character {
                return start + index;
            }
        }
        end
    }

    /// The LSP position before the character at `char_index` (clamped to the end of the text).
    /// An index between the `\r` and `\n` of a CRLF maps to the end of that line, the only
    /// position that exists there.
    pub fn position_of(&self, char_index: usize) -> Position {
        let (mut line, mut character) = (0, 0);
        let mut chars = self.text.chars().peekable();
        let mut index = 0;
        while index < char_index {
            let Some(c) = chars.next() else { break };
            index += 1;
            match c {
                '\r' if chars.peek() == Some(&'\n') => {
                    if index == char_index {
                        break;
                    }
                    chars.next();
                    index += 1;
                    (line, character) = (line + 1, 0);
                }
                '\r' | '\n' => (line, character) = (line + 1, 0),
                c => character += c.len_utf16() as u32,
            }
        }
        Position::new(line, character)
    }

    /// The LSP range covering the characters in `chars`.
    pub fn range_of(&self, chars: std::ops::Range<usize>) -> Range {
        Range::new(self.position_of(chars.start), self.position_of(chars.end))
    }

    pub fn end_position(&self) -> Position {
        self.position_of(usize::MAX)
    }
}

/// The byte offset and length of the first line break in `text`.
fn line_break(text: &str) -> Option<(usize, usize)> {
    let at = text.find(['\r', '\n'])?;
    let len = if text[at..].starts_with("\r\n") { 2 } else { 1 };
    Some((at, len))
}

/// A small deterministic PRNG (xorshift64*), so random edit sequences are reproducible from a seed.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // xorshift is stuck at zero, so the seed is mixed with a constant that makes zero unlikely.
        let state = seed ^ 0x9E37_79B9_7F4A_7C15;
        Rng {
            state: if state == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                state
            },
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`; the multiply-high mapping avoids the bias of `%`.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below(0) has no possible result");
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    pub fn chance(&mut self, numerator: usize, denominator: usize) -> bool {
        self.below(denominator) < numerator
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Range {
        Range::new(Position::new(l1, c1), Position::new(l2, c2))
    }

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

    #[test]
    fn emoji_counts_two_utf16_units() {
        let mut model = TextModel::new("a😀b");
        assert_eq!(model.position_of(2), Position::new(0, 3));
        model.apply(range(0, 3, 0, 4), "c");
        assert_eq!(model.text(), "a😀c");
        model.apply(range(0, 1, 0, 3), "");
        assert_eq!(model.text(), "ac");
    }

    #[test]
    fn all_line_breaks_end_lines() {
        let mut model = TextModel::new("ab\r\ncd\ref\ngh");
        model.apply(range(1, 1, 1, 1), "X");
        model.apply(range(2, 0, 2, 0), "Y");
        model.apply(range(3, 2, 3, 2), "Z");
        assert_eq!(model.text(), "ab\r\ncXd\rYef\nghZ");
        assert_eq!(model.position_of(4), Position::new(1, 0));
        // Between `\r` and `\n` only the end of the line exists.
        assert_eq!(model.position_of(3), Position::new(0, 2));
        assert_eq!(model.end_position(), Position::new(3, 3));
        // Deleting a CRLF joins the lines.
        model.apply(range(0, 2, 1, 0), "");
        assert_eq!(model.text(), "abcXd\rYef\nghZ");
    }

    #[test]
    fn positions_past_the_end_clamp() {
        let mut model = TextModel::new("abc\r\ndef");
        model.apply(range(0, 99, 0, 99), "!");
        assert_eq!(model.text(), "abc!\r\ndef");
        model.apply(range(1, 1, 7, 0), "");
        assert_eq!(model.text(), "abc!\r\nd");
        assert_eq!(model.position_of(100), Position::new(1, 1));
    }

    #[test]
    fn position_of_and_apply_agree() {
        let mut rng = Rng::new(7);
        let pieces = ["a", "é", "😀", "\n", "\r\n", "\r", ""];
        let mut model = TextModel::new("");
        let mut chars: Vec<char> = Vec::new();
        for _ in 0..2000 {
            let len = chars.len();
            let start = rng.below(len + 1);
            let end = start + rng.below(len - start + 1);
            let insert: String = (0..rng.below(3)).map(|_| *rng.pick(&pieces)).collect();
            let edit = model.range_of(start..end);
            model.apply(edit, &insert);
            // The oracle's oracle: the same edit on characters, unless it split a CRLF.
            let splits_crlf =
                |i: usize| i > 0 && i < len && chars[i - 1] == '\r' && chars[i] == '\n';
            if !splits_crlf(start) && !splits_crlf(end) {
                chars.splice(start..end, insert.chars());
                assert_eq!(model.text(), chars.iter().collect::<String>());
            } else {
                chars = model.text().chars().collect();
            }
        }
    }

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for n in 1..1000 {
            let x = a.below(n);
            assert_eq!(x, b.below(n));
            assert!(x < n);
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn frames_are_parsed_strictly() {
        let parse = |bytes: &[u8]| read_frame(&mut &bytes[..], &mut Vec::new());
        let body = r#"{"jsonrpc":"2.0","method":"x"}"#;
        let good = format!(
            "Content-Length: {}\r\nContent-Type: a/b\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(parse(good.as_bytes()).unwrap().unwrap()["method"], "x");
        assert_eq!(parse(b""), Ok(None));
        assert!(parse(b"hello\n").is_err());
        assert!(parse(b"Content-Length: 2\n\n{}").is_err());
        assert!(parse(b"Content-Length: 3\r\n\r\nnah").is_err());
        assert!(parse(b"Content-Length: 9\r\n\r\n{}").is_err());
        assert!(parse(b"\r\n").is_err());
    }
}
