//! The test's side of the LSP connection: [`ServerBuilder`] starts meshls
//! (or another server) over stdio, and [`Server`] sends it requests and
//! notifications and shuts it down. Plain threads are used instead of an
//! async runtime so that a test reads top to bottom and a hang turns into a
//! panic with the server's recent output instead of a silent timeout.
//!
//! What arrives is kept and waited for in [`inbox`]; the frames themselves
//! are read and written in [`transport`].

mod inbox;
mod transport;

use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use lsp_types::notification::Notification;
use lsp_types::request::Request;
use lsp_types::Url;
use serde_json::{json, Value};

use crate::editor::EditorSide;
use crate::env::meshls_bin;
use crate::fixtures::Workspace;
use crate::matcher::mismatch;
use inbox::Inbox;
use transport::{frame, read_stdout, write_all, Event, SharedStdin, Violation};

/// Waits are a guard against hangs, not a performance assertion, so the limit is generous.
const WAIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to exit after `exit` before it is killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often waits look at the child process while no message arrives.
const POLL: Duration = Duration::from_millis(50);

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
            root: workspace.root().to_owned(),
            root_uri: workspace.root_uri(),
            data_home: workspace.data_home().to_owned(),
            config_home: workspace.config_home().to_owned(),
            tmp: workspace.tmp().to_owned(),
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

    /// Writes bytes exactly as given, for tests of malformed input.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.check_protocol();
        if let Err(e) = write_all(&self.stdin, bytes) {
            self.panic_write_failed(&e);
        }
    }

    /// Sends a notification exactly as given. A `didClose` also closes the
    /// document in the editor's side, however it was opened, so that
    /// [`Server::open`] may open it again and edits to it go to the file.
    pub fn notify(&mut self, method: &str, params: Value) {
        if method == "textDocument/didClose" {
            if let Some(uri) = params.pointer("/textDocument/uri").and_then(Value::as_str) {
                self.editor().documents.remove(uri);
            }
        }
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

    /// Sends a request, asserts that its result matches `expected` (see
    /// [`crate::assert_matches`]) and returns the whole result. An error
    /// answer fails the test too.
    pub fn request_matches(&mut self, method: &str, params: Value, expected: Value) -> Value {
        let result = self
            .request(method, params)
            .unwrap_or_else(|error| panic!("{method} answered an error: {error:#}"));
        if let Some(mismatch) = mismatch(&result, &expected) {
            panic!("{method}: {mismatch}");
        }
        result
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

    /// The editor's side of the session, which the stdout reader shares.
    pub(crate) fn editor(&self) -> MutexGuard<'_, EditorSide> {
        lock(&self.editor)
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

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not hide the data a failure message needs.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
