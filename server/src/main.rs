//! The `meshls` command: the language server, and tools around it.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use meshls::{check, doctor, logging, transport::Ending};

#[derive(Parser)]
#[command(
    name = "meshls",
    version,
    about = "A language server that runs your real language servers and an LLM coding agent behind one connection"
)]
struct Cli {
    /// Write logs to this file instead of stderr (the filter comes from MESHLS_LOG).
    #[arg(long, global = true, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Serve LSP on stdin/stdout, the default. Accepted because clients such
    /// as vscode-languageclient pass it.
    #[arg(long, global = true)]
    stdio: bool,
    /// Passed by vscode-languageclient; meshls ends when its stdin closes.
    #[arg(long = "clientProcessId", global = true, hide = true)]
    client_process_id: Option<u32>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the language server on stdin/stdout (the default).
    Serve,
    /// Check the workspace with its language servers, without an editor
    /// (for CI): exits 0 when clean, 1 with findings at or above
    /// --fail-on, 2 when the check could not be done.
    Check(CheckArgs),
    /// Check the workspace, then have the agent review the change (since
    /// --base) with read-only tools, for CI: its findings come with the
    /// servers' diagnostics, in the same formats and with the same exit
    /// codes. A model that cannot be reached fails it (exit 2).
    Review {
        #[command(flatten)]
        check: CheckArgs,
        /// Keep the review's findings outside the changed lines too.
        #[arg(long)]
        all: bool,
    },
    /// Join SARIF logs (the --shard parts of a check) into one, for one
    /// upload to GitHub code scanning.
    MergeSarif {
        /// The logs to join.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write the joined log here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Show the configuration, language servers, model provider and database
    /// meshls finds; exits 1 when the configuration has errors.
    Doctor {
        /// The workspace to inspect.
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Files or directories to check; the whole workspace when none.
    paths: Vec<PathBuf>,
    /// The workspace.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: check::Format,
    /// The least severity that fails the check.
    #[arg(long, value_enum, default_value = "error")]
    fail_on: check::FailOn,
    /// Seconds the servers may take in all.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Write the findings here instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Only the files changed since this git revision (such as
    /// origin/main), committed or not.
    #[arg(long)]
    base: Option<String>,
    /// Only shard I of N (such as 2/4), for N CI jobs in parallel:
    /// the same split on every machine.
    #[arg(long, value_parser = check::parse_shard)]
    shard: Option<(usize, usize)>,
    /// Trust the workspace for this run: its meshls.toml may reach the
    /// language servers, which start in full rather than in their safe
    /// modes (build scripts, the workspace's TypeScript and Python run).
    /// Only for code you trust: in CI, not for pull requests from forks
    /// in a job that holds secrets (see editors/ci/).
    #[arg(long)]
    trust: bool,
}

fn main() -> ExitCode {
    // Programs meshls starts (language servers, the agent's commands, and
    // what they run) are the user's, but may come from the repository:
    // they must not read the API keys from /proc/<meshls>/environ or its
    // memory. A process that is not dumpable is readable there by root
    // only.
    #[cfg(target_os = "linux")]
    let not_dumpable = nix::sys::prctl::set_dumpable(false);
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Some(Command::Doctor { .. }) => "warn,sled=error",
        // What goes wrong is said once, at the end, as the check's result.
        Some(Command::Check(_) | Command::Review { .. }) => "error,sled=error",
        _ => "info,sled=warn",
    };
    if let Err(err) = logging::init(cli.log_file.as_deref(), default_filter) {
        let _ = writeln_stderr(&format!("meshls: {err:#}"));
        return ExitCode::from(2);
    }
    #[cfg(target_os = "linux")]
    if let Err(err) = not_dumpable {
        tracing::warn!(
            "programs meshls starts may read its environment (prctl PR_SET_DUMPABLE failed: {err})"
        );
    }
    // Both are accepted only for compatibility: stdio is the only transport,
    // and the end of stdin ends the session.
    let _ = (cli.stdio, cli.client_process_id);
    match cli.command {
        Some(Command::Doctor { root }) => {
            let root = match root.canonicalize() {
                Ok(root) if root.is_dir() => root,
                _ => {
                    let message = format!(
                        "meshls doctor: {} is not a directory: pass the workspace with --root",
                        root.display()
                    );
                    let _ = writeln_stderr(&message);
                    return ExitCode::from(2);
                }
            };
            match doctor::run(&root, &mut std::io::stdout().lock()) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(err) => {
                    let _ = writeln_stderr(&format!("meshls doctor: {err}"));
                    ExitCode::from(2)
                }
            }
        }
        Some(Command::Check(args)) => check(args, None),
        Some(Command::Review { check: args, all }) => {
            check(args, Some(check::ReviewOptions { all }))
        }
        Some(Command::MergeSarif { files, output }) => {
            let mut logs = Vec::new();
            for file in &files {
                let name = file.display().to_string();
                let read = std::fs::read_to_string(file)
                    .map_err(|err| format!("cannot read {name}: {err}"))
                    .and_then(|text| {
                        serde_json::from_str(&text)
                            .map_err(|err| format!("{name} is not JSON: {err}"))
                    });
                match read {
                    Ok(log) => logs.push((name, log)),
                    Err(why) => {
                        let _ = writeln_stderr(&format!("meshls merge-sarif: {why}"));
                        return ExitCode::from(2);
                    }
                }
            }
            let merged = match meshls::sarif::merge(&logs) {
                Ok(merged) => check::pretty(&merged),
                Err(why) => {
                    let _ = writeln_stderr(&format!("meshls merge-sarif: {why}"));
                    return ExitCode::from(2);
                }
            };
            match write_output(output.as_deref(), &merged) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    let _ = writeln_stderr(&format!("meshls merge-sarif: cannot write: {err}"));
                    ExitCode::from(2)
                }
            }
        }
        Some(Command::Serve) | None => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    tracing::error!("cannot start the async runtime: {err}");
                    return ExitCode::from(2);
                }
            };
            // On a worker, not on this thread: the reader's hand-offs to the
            // tasks it wakes then stay on one thread instead of crossing two.
            let ending = runtime
                .block_on(async { tokio::spawn(meshls::serve_stdio()).await })
                .unwrap_or(Ending::Abrupt);
            tracing::info!(?ending, "session ended");
            // Handlers still running (a slow request the editor gave up on)
            // must not keep the process alive after exit.
            runtime.shutdown_timeout(std::time::Duration::from_millis(500));
            match ending {
                Ending::Clean => ExitCode::SUCCESS,
                Ending::Abrupt => ExitCode::FAILURE,
            }
        }
    }
}

/// `meshls check` and `meshls review`.
fn check(args: CheckArgs, review: Option<check::ReviewOptions>) -> ExitCode {
    let command = if review.is_some() { "review" } else { "check" };
    let Some(root) = args.root.canonicalize().ok().filter(|root| root.is_dir()) else {
        let message = format!(
            "meshls {command}: {} is not a directory: pass the workspace with --root",
            args.root.display()
        );
        let _ = writeln_stderr(&message);
        return ExitCode::from(2);
    };
    let options = check::Options {
        root,
        paths: args.paths,
        base: args.base,
        shard: args.shard,
        format: args.format,
        fail_on: args.fail_on,
        timeout: std::time::Duration::from_secs(args.timeout),
        settle: std::time::Duration::from_millis(1500),
        review,
        trust: args.trust,
    };
    let outcome = check::run(&options);
    // A finding may quote a line that holds a key (a server's message, the
    // review's): none goes into a CI log or an uploaded report.
    let redact = |text: &str| meshls_agent::redact::redact(text).into_owned();
    for warning in &outcome.warnings {
        let _ = writeln_stderr(&redact(&format!("meshls {command}: {warning}")));
    }
    let out = redact(&outcome.out);
    let written = match (&args.output, outcome.code) {
        // The reason a check could not be done goes to stderr.
        (_, 2) => writeln_stderr(out.trim_end()),
        (output, _) => write_output(output.as_deref(), &out),
    };
    if let Err(err) = written {
        let _ = writeln_stderr(&format!(
            "meshls {command}: cannot write the findings: {err}"
        ));
        return ExitCode::from(2);
    }
    ExitCode::from(outcome.code)
}

/// Writes a command's result to `file`, or else to stdout.
fn write_output(file: Option<&std::path::Path>, text: &str) -> std::io::Result<()> {
    match file {
        Some(file) => std::fs::write(file, text),
        None => {
            use std::io::Write as _;
            std::io::stdout().lock().write_all(text.as_bytes())
        }
    }
}

fn writeln_stderr(line: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stderr().lock(), "{line}")
}
