//! `meshls check`: the workspace's real language servers, without an
//! editor, so CI reports what developers see. It starts the servers the
//! editor would (same config, same defaults), opens the files, waits until
//! the servers are done with them, and reports their diagnostics and
//! meshls's own syntax errors.
//!
//! "Done" is: every server of a file's language has published for it, no
//! server has progress under way, and nothing new came for a settle period;
//! all bounded by the timeout. A check that could not finish (a timeout, a
//! server that would not start or crashed) fails loudly with exit code 2,
//! never passes with findings missing.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Url};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use meshls_agent::paths;
use meshls_analysis::{Document, Language, PositionEncoding};
use meshls_proxy::{
    jsonrpc::RequestId, FromServer, Incoming, OpenDocument, OpenDocuments, Servers, StartOptions,
};

use crate::{config, languages::language_of, review, runs, sarif};

/// How the findings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `path:line:col: severity [source code] message`, and a summary.
    Text,
    /// One JSON document (see [`Report`]).
    Json,
    /// GitHub Actions workflow commands (`::error file=...::message`).
    Github,
    /// SARIF 2.1.0, for GitHub code scanning and other viewers.
    Sarif,
}

/// The least severity that fails the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
}

pub struct Options {
    pub root: PathBuf,
    /// Files or directories; the whole workspace when empty.
    pub paths: Vec<PathBuf>,
    /// Only the files changed since this git revision (committed or not,
    /// and new ones git does not ignore).
    pub base: Option<String>,
    /// Only shard `I` of `N` (from 1) of the files: `(I, N)`.
    pub shard: Option<(usize, usize)>,
    pub format: Format,
    pub fail_on: FailOn,
    pub timeout: Duration,
    /// Quiet time after the last diagnostics before the check is done.
    pub settle: Duration,
    /// Also review the change with the agent (`meshls review`).
    pub review: Option<ReviewOptions>,
    /// `--trust`: the workspace is trusted for this run (its config may
    /// reach the servers, which start in full, not in safe mode).
    pub trust: bool,
}

impl Options {
    /// `check`, or `review`: the command's name in what it says.
    pub fn command(&self) -> &'static str {
        if self.review.is_some() {
            "review"
        } else {
            "check"
        }
    }
}

pub struct ReviewOptions {
    /// Keep the findings outside the changed lines too.
    pub all: bool,
}

/// What a check or review gives: the findings written in the format, the
/// exit code, and what stderr should say besides.
pub struct Outcome {
    pub out: String,
    pub code: u8,
    pub warnings: Vec<String>,
}

impl Outcome {
    fn failed(why: String) -> Outcome {
        Outcome {
            out: why,
            code: 2,
            warnings: Vec::new(),
        }
    }
}

/// One diagnostic, in repository terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Relative to the workspace root, with `/`.
    pub path: String,
    /// From 1.
    pub line: u32,
    /// From 1, in UTF-16 code units as LSP counts them.
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    /// `error`, `warning`, `info` or `hint`.
    pub severity: &'static str,
    /// Who found it: the diagnostic's source, else the server's name.
    pub source: String,
    pub code: Option<String>,
    pub message: String,
    /// Stays the same when lines move above it (see [`sarif::fingerprint`]).
    pub fingerprint: String,
}

impl Finding {
    /// Who found it and its code: `typescript 2322`, `meshls syntax-error`.
    pub fn rule(&self) -> String {
        match &self.code {
            Some(code) => format!("{} {code}", self.source),
            None => self.source.clone(),
        }
    }

    /// The same as an identifier: `typescript/2322`, SARIF's `ruleId`.
    pub fn rule_id(&self) -> String {
        match &self.code {
            Some(code) => format!("{}/{code}", self.source),
            None => self.source.clone(),
        }
    }
}

/// The JSON output (`--format json`), schema version 1.
#[derive(Debug, Serialize)]
pub struct Report {
    pub version: u32,
    pub files_checked: usize,
    pub servers: Vec<String>,
    pub findings: Vec<Finding>,
    /// Why the findings may be incomplete (a review that stopped early).
    pub warnings: Vec<String>,
}

/// Runs the check (and the review); the exit code is 0 clean, 1 findings
/// at or above `fail_on`, 2 the check could not be done.
pub fn run(options: &Options) -> Outcome {
    let command = format!("meshls {}", options.command());
    let loaded = config::load(&config::Sources {
        trust_override: options.trust,
        ..config::Sources::from_process(Some(&options.root))
    });
    if let Some(error) = loaded.errors.first() {
        return Outcome::failed(format!(
            "{command}: the configuration has errors ({error}); `meshls doctor` lists them all\n"
        ));
    }
    let files = match files(&options.root, &options.paths).and_then(|files| {
        let files = match &options.base {
            Some(base) => {
                let changed = changed_since(&options.root, base)?;
                files
                    .into_iter()
                    .filter(|file| changed.contains(file))
                    .collect()
            }
            None => files,
        };
        Ok(shard(files, options.shard))
    }) {
        Ok(files) => files,
        Err(why) => return Outcome::failed(format!("{command}: {why}\n")),
    };
    let scope = match &options.review {
        Some(_) => match review::scope(&options.root, options.base.as_deref(), &files) {
            Ok(scope) => Some(scope),
            Err(why) => return Outcome::failed(format!("{command}: {why}\n")),
        },
        None => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return Outcome::failed(format!("{command}: cannot start: {err}\n")),
    };
    let repository = Repository::of(&options.root);
    let checked = runtime.block_on(check(options, &loaded, files, scope, repository.as_ref()));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match checked {
        Ok(report) => finish(report, options, repository.as_ref()),
        Err(why) => Outcome::failed(format!("{command}: {why}\n")),
    }
}

/// The report as `options.format` has it, and the exit code.
fn finish(mut report: Report, options: &Options, repository: Option<&Repository>) -> Outcome {
    let top = match options.format {
        // GitHub places findings by their path in the repository.
        Format::Github | Format::Sarif => match repository {
            Some(repository) => {
                for finding in &mut report.findings {
                    finding.path = repository.path(&finding.path);
                }
                Url::from_directory_path(&repository.top).ok()
            }
            None => Url::from_directory_path(&options.root).ok(),
        },
        Format::Text | Format::Json => None,
    };
    let failing = report
        .findings
        .iter()
        .any(|finding| rank(finding.severity) <= options.fail_on as u8);
    Outcome {
        out: render(&report, options.format, top.as_ref()),
        code: u8::from(failing),
        warnings: report.warnings.clone(),
    }
}

/// 0 error, 1 warning, 2 info, 3 hint: compared with [`FailOn`].
fn rank(severity: &str) -> u8 {
    match severity {
        "error" => 0,
        "warning" => 1,
        "info" => 2,
        _ => 3,
    }
}

/// The files to check, sorted: the given ones (directories walked), or the
/// workspace's, `.gitignore` respected; only those of a language meshls or
/// a server may know.
fn files(root: &Path, paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
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
                && language_of(entry.path()).is_some()
            {
                files.push(entry.into_path());
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Runs git in `root`: what it printed, or why it failed.
pub(crate) fn git(root: &Path, args: &[&str]) -> Result<String, String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|err| format!("git did not run: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The top of the git repository `root` is in.
pub(crate) fn repository_top(root: &Path) -> Result<PathBuf, String> {
    let top = PathBuf::from(git(root, &["rev-parse", "--show-toplevel"])?.trim());
    Ok(top.canonicalize().unwrap_or(top))
}

/// The git repository the workspace is in.
pub(crate) struct Repository {
    top: PathBuf,
    /// The workspace's path from `top`, "" when it is the top.
    prefix: String,
}

impl Repository {
    /// `None` outside a repository.
    fn of(root: &Path) -> Option<Repository> {
        let top = repository_top(root)
            .ok()
            .filter(|top| root.starts_with(top))?;
        let prefix = if top == root {
            String::new()
        } else {
            paths::relative(&top, root)
        };
        Some(Repository { top, prefix })
    }

    /// A workspace-relative path as a path in the repository.
    fn path(&self, relative: &str) -> String {
        if self.prefix.is_empty() {
            relative.to_owned()
        } else {
            format!("{}/{relative}", self.prefix)
        }
    }
}

/// The files changed since `base`: in commits since, in the working tree,
/// and new files git does not ignore; deleted ones are left out.
fn changed_since(root: &Path, base: &str) -> Result<HashSet<PathBuf>, String> {
    let git = |args: &[&str]| git(root, args).map_err(|why| format!("--base {base}: {why}"));
    // Paths git prints are relative to the top of the repository.
    let top = repository_top(root).map_err(|why| format!("--base {base}: {why}"))?;
    // NUL-separated: names with spaces or non-ASCII letters come as they are.
    let changed = git(&[
        "diff",
        "-z",
        "--name-only",
        "--diff-filter=d",
        "--end-of-options",
        base,
        "--",
    ])?;
    let new = git(&["ls-files", "-z", "--others", "--exclude-standard"])?;
    Ok(changed
        .split('\0')
        .filter(|name| !name.is_empty())
        .map(|name| top.join(name))
        .chain(
            new.split('\0')
                .filter(|name| !name.is_empty())
                .map(|name| root.join(name)),
        )
        .collect())
}

/// Shard `i` of `n` (from 1): every `n`th file of the sorted list, so the
/// shards are the same on every machine and together hold every file once.
fn shard(files: Vec<PathBuf>, shard: Option<(usize, usize)>) -> Vec<PathBuf> {
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

/// What the servers said per file, and what the check waits for.
#[derive(Default)]
struct Heard {
    /// Per file and server, the last diagnostics. By path: a server may
    /// write a file's URI otherwise than meshls did.
    diagnostics: HashMap<PathBuf, BTreeMap<String, Vec<Diagnostic>>>,
    /// (file, server) pairs still to publish.
    awaited: HashSet<(PathBuf, String)>,
    /// Progress tokens under way, per server.
    busy: HashSet<(String, String)>,
    last_news: Option<Instant>,
}

impl Heard {
    /// The servers still to publish for a file or with progress under
    /// way, sorted.
    fn busy_servers(&self) -> Vec<&str> {
        let mut busy: Vec<&str> = self
            .awaited
            .iter()
            .map(|(_, server)| server.as_str())
            .chain(self.busy.iter().map(|(server, _)| server.as_str()))
            .collect();
        busy.sort_unstable();
        busy.dedup();
        busy
    }
}

struct Opened(Vec<OpenDocument>);

impl OpenDocuments for Opened {
    fn open_documents(&self, language_ids: &[String]) -> Vec<OpenDocument> {
        self.0
            .iter()
            .filter(|doc| language_ids.contains(&doc.language_id))
            .cloned()
            .collect()
    }
}

async fn check(
    options: &Options,
    loaded: &config::Loaded,
    files: Vec<PathBuf>,
    scope: Option<review::Scope>,
    repository: Option<&Repository>,
) -> Result<Report, String> {
    let config = &loaded.config;
    config::register_keys(&config.agent);
    let mut documents = Vec::new();
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue; // Not text: nothing to check.
        };
        let (Ok(uri), Some(language_id)) = (Url::from_file_path(path), language_of(path)) else {
            continue;
        };
        documents.push(OpenDocument {
            uri,
            language_id: language_id.to_owned(),
            version: 1,
            text,
        });
    }
    let root_uri = Url::from_directory_path(&options.root).ok();
    let params = json!({
        "processId": std::process::id(),
        "clientInfo": {"name": "meshls check"},
        "rootUri": root_uri,
        "workspaceFolders": root_uri.as_ref().map(|uri| json!([{"uri": uri, "name": "workspace"}])),
        "capabilities": {
            "textDocument": {"publishDiagnostics": {"relatedInformation": true, "versionSupport": true}},
            "window": {"workDoneProgress": true},
            "workspace": {"configuration": true},
        },
    });
    let start = StartOptions {
        root: options.root.clone(),
        editor_params: params,
        timeout: options.timeout.min(Duration::from_secs(60)),
        path: std::env::var_os("PATH"),
        documents: Arc::new(Opened(documents.clone())),
        hidden_env: config.agent.key_variables(),
        trusted: loaded.trust.trusted(),
        other_roots: Vec::new(),
    };
    let (servers, problems, mut incoming) = Servers::start(&config.servers, start).await;
    let servers = Arc::new(servers);
    if !problems.is_empty() {
        let not_started: Vec<String> = servers
            .status()
            .into_iter()
            .filter(|status| status.pid.is_none())
            .map(|status| match status.last_error {
                Some(why) => format!("{} did not start ({why})", status.name),
                None => format!("{} did not start", status.name),
            })
            .collect();
        servers.shutdown(Duration::from_secs(5)).await;
        return Err(format!(
            "{}, so its findings would be missing; check it with `meshls doctor`",
            not_started.join("; ")
        ));
    }
    let mut heard = Heard::default();
    for doc in &documents {
        let serving = servers.of_language(&doc.language_id);
        let Ok(path) = doc.uri.to_file_path() else {
            continue;
        };
        for server in &serving {
            heard
                .awaited
                .insert((path.clone(), server.name().to_owned()));
        }
        if serving.is_empty() {
            continue;
        }
        let params = json!({"textDocument": {
            "uri": doc.uri, "languageId": doc.language_id, "version": 1, "text": doc.text,
        }});
        let _guard = servers.documents_lock();
        servers.notify_document(&doc.language_id, "textDocument/didOpen", &params);
    }
    let mut progress = ProgressLine::new(options.command());
    let waited = wait(options, &servers, &mut incoming, &mut heard, &mut progress).await;
    let names: Vec<String> = servers
        .status()
        .into_iter()
        .map(|status| status.name)
        .collect();
    let mut reviewed = Ok((Vec::new(), None));
    if let (Ok(()), Some(review), Some(scope)) = (&waited, &options.review, scope) {
        // The servers go on answering what they ask while the agent asks
        // them.
        let answering = tokio::spawn(keep_answering(Arc::clone(&servers), incoming));
        let review = review::Review {
            root: &options.root,
            base: options.base.as_deref(),
            all: review.all,
            config: &config.agent,
            scope,
        };
        reviewed = review::review(
            review,
            Arc::clone(&servers),
            &documents,
            &heard.diagnostics,
            |step| {
                if let Some(message) = runs::step_message(step) {
                    progress.show(&format!("reviewing: {message}"));
                }
            },
        )
        .await;
        progress.clear();
        answering.abort();
    }
    servers.shutdown(Duration::from_secs(5)).await;
    waited?;
    let (reviewed, unfinished) = reviewed?;

    let mut findings = Vec::new();
    for doc in &documents {
        let path = relative(&options.root, &doc.uri);
        let file = doc.uri.to_file_path().unwrap_or_default();
        if let Some(by_server) = heard.diagnostics.get(&file) {
            for (server, diagnostics) in by_server {
                findings.extend(diagnostics.iter().map(|d| finding(&path, server, d)));
            }
        }
        // meshls's own: syntax errors, for the languages it parses.
        if let Some(language) = Language::for_lsp_id(&doc.language_id) {
            let mut document = Document::new(&doc.text, 1, Some(language));
            let snapshot = document.snapshot(PositionEncoding::Utf16);
            findings.extend(
                snapshot
                    .syntax_diagnostics()
                    .iter()
                    .map(|d| finding(&path, meshls_analysis::DIAGNOSTIC_SOURCE, d)),
            );
        }
    }
    findings.extend(reviewed);
    findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, &a.source, &a.message)
            .cmp(&(&b.path, b.line, b.column, &b.source, &b.message))
    });
    findings.dedup();
    let mut texts: HashMap<String, String> = documents
        .iter()
        .map(|doc| (relative(&options.root, &doc.uri), doc.text.clone()))
        .collect();
    // A review may find something in a file it was not asked about.
    for finding in &findings {
        if !texts.contains_key(&finding.path) {
            let text =
                std::fs::read_to_string(options.root.join(&finding.path)).unwrap_or_default();
            texts.insert(finding.path.clone(), text);
        }
    }
    // Hashed with their paths in the repository, so alerts stay the same
    // whichever directory of it was checked.
    sarif::fingerprint(
        &mut findings,
        |path| repository.map_or_else(|| path.to_owned(), |r| r.path(path)),
        |path, line| texts.get(path)?.lines().nth(line.checked_sub(1)? as usize),
    );
    Ok(Report {
        version: 1,
        files_checked: documents.len(),
        servers: names,
        findings,
        warnings: unfinished.into_iter().collect(),
    })
}

/// Takes in what the servers send until they are done with the files.
async fn wait(
    options: &Options,
    servers: &Servers,
    incoming: &mut mpsc::UnboundedReceiver<FromServer>,
    heard: &mut Heard,
    progress: &mut ProgressLine,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + options.timeout;
    let files: HashSet<PathBuf> = heard.awaited.iter().map(|(file, _)| file.clone()).collect();
    loop {
        let quiet = heard
            .last_news
            .is_none_or(|at| at.elapsed() >= options.settle);
        if heard.awaited.is_empty() && heard.busy.is_empty() && quiet {
            progress.clear();
            return Ok(());
        }
        if progress.on {
            let waiting: HashSet<&PathBuf> = heard.awaited.iter().map(|(file, _)| file).collect();
            let busy = heard.busy_servers();
            progress.show(&format!(
                "{} of {} file(s) done{}",
                files.len() - waiting.len(),
                files.len(),
                if busy.is_empty() {
                    ", settling".to_owned()
                } else {
                    format!("; busy: {}", busy.join(", "))
                }
            ));
        }
        let tick = tokio::time::sleep(Duration::from_millis(100));
        let event = tokio::select! {
            event = incoming.recv() => event,
            () = tick => continue,
            () = tokio::time::sleep_until(deadline) => {
                progress.clear();
                let waiting = heard.busy_servers();
                return Err(format!(
                    "timed out after {} s waiting for {}; raise --timeout, or check the servers with `meshls doctor`",
                    options.timeout.as_secs(),
                    if waiting.is_empty() { "the servers to settle".to_owned() } else { waiting.join(", ") }
                ));
            }
        };
        let Some(event) = event else {
            progress.clear();
            return Err("the language servers went away during the check".to_owned());
        };
        let (server, incoming) = match event {
            FromServer::Message { server, incoming } => (server, incoming),
            FromServer::Restarted { server } => {
                progress.clear();
                return Err(format!(
                    "{server} crashed during the check, so its findings would be incomplete; its log says why (run with MESHLS_LOG=debug)"
                ));
            }
            FromServer::Failed { reason, .. } => {
                progress.clear();
                return Err(reason);
            }
        };
        match incoming {
            Incoming::Notification { method, params } => {
                // Only diagnostics and progress are news: a server that
                // keeps logging has still settled.
                match method.as_str() {
                    "textDocument/publishDiagnostics" => {
                        heard.last_news = Some(Instant::now());
                        let Some(path) = params["uri"]
                            .as_str()
                            .and_then(|u| Url::parse(u).ok())
                            .and_then(|uri| uri.to_file_path().ok())
                        else {
                            continue;
                        };
                        let diagnostics: Vec<Diagnostic> =
                            serde_json::from_value(params["diagnostics"].clone())
                                .unwrap_or_default();
                        heard.awaited.remove(&(path.clone(), server.clone()));
                        heard
                            .diagnostics
                            .entry(path)
                            .or_default()
                            .insert(server, diagnostics);
                    }
                    "$/progress" => {
                        heard.last_news = Some(Instant::now());
                        let token = params["token"].to_string();
                        match params["value"]["kind"].as_str() {
                            Some("begin") => {
                                heard.busy.insert((server, token));
                            }
                            Some("end") => {
                                heard.busy.remove(&(server, token));
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            Incoming::Request { id, method, params } => {
                answer(servers, &server, id, &method, &params);
            }
        }
    }
}

/// One line on stderr, rewritten in place, saying how far the check is;
/// only when stderr is a terminal (a person watching), never in a log.
pub struct ProgressLine {
    command: &'static str,
    on: bool,
    shown: String,
}

impl ProgressLine {
    fn new(command: &'static str) -> ProgressLine {
        use std::io::IsTerminal as _;
        ProgressLine {
            command,
            on: std::io::stderr().is_terminal(),
            shown: String::new(),
        }
    }

    fn show(&mut self, text: &str) {
        if !self.on || self.shown == text {
            return;
        }
        use std::io::Write as _;
        // Back to the start of the line, the line cleared, the news.
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[Kmeshls {}: {text}", self.command);
        let _ = stderr.flush();
        text.clone_into(&mut self.shown);
    }

    /// Takes the line away, so what comes after starts clean.
    fn clear(&mut self) {
        if self.on && !self.shown.is_empty() {
            use std::io::Write as _;
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
            self.shown.clear();
        }
    }
}

/// Answers a server's request as an editor that shows nothing would.
fn answer(servers: &Servers, server: &str, id: RequestId, method: &str, params: &Value) {
    let answer = match method {
        "workspace/configuration" => servers.configuration(server, params),
        _ => Value::Null,
    };
    if let Some(client) = servers.client(server) {
        let _ = client.respond(id, Ok(answer));
    }
}

/// After the wait: answers the servers' requests, until aborted.
async fn keep_answering(servers: Arc<Servers>, mut incoming: mpsc::UnboundedReceiver<FromServer>) {
    while let Some(event) = incoming.recv().await {
        if let FromServer::Message {
            server,
            incoming: Incoming::Request { id, method, params },
        } = event
        {
            answer(&servers, &server, id, &method, &params);
        }
    }
}

fn relative(root: &Path, uri: &Url) -> String {
    paths::relative(root, &uri.to_file_path().unwrap_or_default())
}

fn finding(path: &str, server: &str, diagnostic: &Diagnostic) -> Finding {
    let severity = match diagnostic.severity {
        Some(DiagnosticSeverity::WARNING) => "warning",
        Some(DiagnosticSeverity::INFORMATION) => "info",
        Some(DiagnosticSeverity::HINT) => "hint",
        // LSP leaves a missing severity to the client: an error, to be safe.
        _ => "error",
    };
    Finding {
        path: path.to_owned(),
        line: diagnostic.range.start.line + 1,
        column: diagnostic.range.start.character + 1,
        end_line: diagnostic.range.end.line + 1,
        end_column: diagnostic.range.end.character + 1,
        severity,
        source: diagnostic
            .source
            .clone()
            .unwrap_or_else(|| server.to_owned()),
        code: diagnostic.code.as_ref().map(|code| match code {
            NumberOrString::Number(n) => n.to_string(),
            NumberOrString::String(s) => s.clone(),
        }),
        message: diagnostic.message.clone(),
        fingerprint: String::new(),
    }
}

/// The report in `format`; `top` is what SARIF's paths are relative to.
fn render(report: &Report, format: Format, top: Option<&Url>) -> String {
    match format {
        Format::Json => pretty(report),
        Format::Sarif => pretty(&sarif::log(report, top.map(Url::as_str))),
        Format::Text => {
            let mut out = String::new();
            for f in &report.findings {
                let _ = writeln!(
                    out,
                    "{}:{}:{}: {} [{}] {}",
                    f.path,
                    f.line,
                    f.column,
                    f.severity,
                    f.rule(),
                    f.message.replace('\n', " ")
                );
            }
            let count = |severity: &str| {
                report
                    .findings
                    .iter()
                    .filter(|f| f.severity == severity)
                    .count()
            };
            let servers = if report.servers.is_empty() {
                "no language servers".to_owned()
            } else {
                report.servers.join(", ")
            };
            let _ = writeln!(
                out,
                "{} error(s), {} warning(s), {} other in {} file(s) checked ({servers}, meshls)",
                count("error"),
                count("warning"),
                report.findings.len() - count("error") - count("warning"),
                report.files_checked
            );
            out
        }
        Format::Github => {
            let mut out = String::new();
            for f in &report.findings {
                let command = match f.severity {
                    "error" => "error",
                    "warning" => "warning",
                    _ => "notice",
                };
                let _ = writeln!(
                    out,
                    "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
                    escape_property(&f.path),
                    f.line,
                    f.column,
                    f.end_line,
                    f.end_column,
                    escape_property(&f.rule()),
                    escape_data(&f.message)
                );
            }
            out
        }
    }
}

/// JSON as people read it, ending in a line break.
pub fn pretty(value: &impl Serialize) -> String {
    let mut out = serde_json::to_string_pretty(value).unwrap_or_default();
    out.push('\n');
    out
}

/// GitHub's escaping of a workflow command's message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's escaping of a workflow command's property.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
