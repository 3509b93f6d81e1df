//! The `meshls` command: the language server, and tools around it.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use meshls::{doctor, logging, transport::Ending};

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
    /// Show the configuration, language servers, model provider and database
    /// meshls finds; exits 1 when the configuration has errors.
    Doctor {
        /// The workspace to inspect.
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Some(Command::Doctor { .. }) => "warn,sled=error",
        _ => "info,sled=warn",
    };
    if let Err(err) = logging::init(cli.log_file.as_deref(), default_filter) {
        let _ = writeln_stderr(&format!("meshls: {err:#}"));
        return ExitCode::from(2);
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

fn writeln_stderr(line: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stderr().lock(), "{line}")
}
