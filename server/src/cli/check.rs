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
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Url};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use meshls_agent::paths;
use meshls_analysis::{Document, Language, PositionEncoding};
use meshls_proxy::{
    jsonrpc::RequestId, FromServer, Incoming, OpenDocument, OpenDocuments, Servers, StartOptions,
};

use crate::{
    agent::{progress, review_host::Scope},
    cli::{
        files::{files, shard},
        git::{self, changed_since, Repository},
        render::{render, Format},
        report::{Finding, Report},
        review, sarif, stderr_line, write_output,
    },
    config, ext,
};

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

/// `meshls check` and `meshls review`: runs it, writes the findings to
/// `output` (stdout when none) or why it could not be done to stderr, and
/// exits 0 clean, 1 with findings at or above `--fail-on`, 2 when it could
/// not be done.
pub fn main(mut options: Options, output: Option<&Path>) -> ExitCode {
    let command = options.command();
    let Some(root) = options
        .root
        .canonicalize()
        .ok()
        .filter(|root| root.is_dir())
    else {
        let message = format!(
            "meshls {command}: {} is not a directory: pass the workspace with --root",
            options.root.display()
        );
        let _ = stderr_line(&message);
        return ExitCode::from(2);
    };
    options.root = root;
    let outcome = run(&options);
    // A finding may quote a line that holds a key (a server's message, the
    // review's): none goes into a CI log or an uploaded report.
    let redact = |text: &str| meshls_agent::redact::redact(text).into_owned();
    for warning in &outcome.warnings {
        let _ = stderr_line(&redact(&format!("meshls {command}: {warning}")));
    }
    let out = redact(&outcome.out);
    let written = match outcome.code {
        // The reason a check could not be done goes to stderr.
        2 => stderr_line(out.trim_end()),
        _ => write_output(output, &out),
    };
    if let Err(err) = written {
        let _ = stderr_line(&format!(
            "meshls {command}: cannot write the findings: {err}"
        ));
        return ExitCode::from(2);
    }
    ExitCode::from(outcome.code)
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
        Some(_) => match git::scope(&options.root, options.base.as_deref(), &files) {
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
    scope: Option<Scope>,
    repository: Option<&Repository>,
) -> Result<Report, String> {
    let config = &loaded.config;
    config::register_keys(&config.agent);
    let mut documents = Vec::new();
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue; // Not text: nothing to check.
        };
        let (Ok(uri), Some(language_id)) = (
            Url::from_file_path(path),
            meshls_analysis::lsp_id_of_path(path),
        ) else {
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
                if let Some(message) = progress::step_message(step) {
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
                    .map(|d| finding(&path, ext::SYNTAX_SOURCE, d)),
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
        |path, line| meshls_analysis::text::line(texts.get(path)?, line.checked_sub(1)?),
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
