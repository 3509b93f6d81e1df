//! The `meshls` command: its arguments (clap), then the language server on
//! stdio (`meshls::serve`) or one of the headless commands (`meshls::cli`).

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use meshls::{cli, logging};

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
    /// The agent's sessions in the workspace, newest first (`show ID`: one
    /// as markdown; `prune --older-than DAYS`: remove old ones).
    Sessions {
        /// The workspace.
        #[arg(long, default_value = ".", global = true)]
        root: PathBuf,
        /// As JSON, for programs.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: Option<SessionsAction>,
    },
    /// The agent's audit log in the workspace (every run, tool call,
    /// approval and edit), oldest first.
    Audit {
        /// The workspace.
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Only this session's.
        #[arg(long)]
        session: Option<String>,
        /// As JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Show the configuration, language servers, model provider and database
    /// meshls finds; exits 1 when the configuration has errors.
    Doctor {
        /// The workspace to inspect.
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

#[derive(Subcommand)]
enum SessionsAction {
    /// One session as markdown: instructions, answers, tool calls, diffs.
    Show {
        /// Its id, as `meshls sessions` lists it.
        id: String,
    },
    /// Remove the sessions (and their audit lines) not used for DAYS days.
    Prune {
        #[arg(long, value_name = "DAYS")]
        older_than: u64,
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
    format: cli::render::Format,
    /// The least severity that fails the check.
    #[arg(long, value_enum, default_value = "error")]
    fail_on: cli::check::FailOn,
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
    #[arg(long, value_parser = cli::files::parse_shard)]
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
        Some(Command::Doctor { .. } | Command::Sessions { .. } | Command::Audit { .. }) => {
            "warn,sled=error"
        }
        // What goes wrong is said once, at the end, as the check's result.
        Some(Command::Check(_) | Command::Review { .. }) => "error,sled=error",
        _ => "info,sled=warn",
    };
    if let Err(err) = logging::init(cli.log_file.as_deref(), default_filter) {
        let _ = cli::stderr_line(&format!("meshls: {err:#}"));
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
        Some(Command::Doctor { root }) => cli::doctor::main(&root),
        Some(Command::Check(args)) => cli::check::main(args.options(None), args.output.as_deref()),
        Some(Command::Review { check: args, all }) => {
            let review = Some(cli::check::ReviewOptions { all });
            cli::check::main(args.options(review), args.output.as_deref())
        }
        Some(Command::MergeSarif { files, output }) => {
            cli::merge_sarif::main(&files, output.as_deref())
        }
        Some(Command::Sessions { root, json, action }) => {
            let action = match action {
                None => cli::sessions::Action::List,
                Some(SessionsAction::Show { id }) => cli::sessions::Action::Show(id),
                Some(SessionsAction::Prune { older_than }) => {
                    cli::sessions::Action::Prune(older_than)
                }
            };
            cli::sessions::main(&root, action, json)
        }
        Some(Command::Audit {
            root,
            session,
            json,
        }) => cli::sessions::audit(&root, session.as_deref(), json),
        Some(Command::Serve) | None => meshls::serve(),
    }
}

impl CheckArgs {
    /// The check's options, the root as given (`cli::check::main` checks it).
    fn options(&self, review: Option<cli::check::ReviewOptions>) -> cli::check::Options {
        cli::check::Options {
            root: self.root.clone(),
            paths: self.paths.clone(),
            base: self.base.clone(),
            shard: self.shard,
            format: self.format,
            fail_on: self.fail_on,
            timeout: std::time::Duration::from_secs(self.timeout),
            settle: std::time::Duration::from_millis(1500),
            review,
            trust: self.trust,
        }
    }
}
