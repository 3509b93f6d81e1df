//! A downstream server process and the tasks that speak to it: the writer
//! (one ordered queue of outgoing frames), the reader (responses to their
//! pending requests; the server's own requests and notifications to the
//! caller), the stderr reader (into our log, keeping the last lines for
//! error messages), and the waiter (reaps the process, kills it when the
//! last client handle goes).

use std::{
    collections::{HashMap, VecDeque},
    path::PathBuf,
    process::{ExitStatus, Stdio},
    sync::{atomic::AtomicI64, Arc, Mutex, MutexGuard},
};

use futures::StreamExt as _;
use serde_json::{value::RawValue, Value};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{ChildStdin, Command},
    sync::{mpsc, oneshot, watch},
};
use tokio_util::codec::FramedRead;

use crate::{
    framing::{Frame, LspCodec},
    jsonrpc::{Message, RequestId},
    outbox::Outbox,
    stats::Recorder,
    Client, Error, Result,
};

/// How to start one server.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// The name errors and logs use, e.g. `typescript-language-server`.
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Variables it must not inherit from meshls (the agent's API keys),
    /// unless `env` sets them.
    pub hidden_env: Vec<String>,
    pub cwd: Option<PathBuf>,
}

/// What a server sends on its own: requests it wants answered (with
/// [`Client::respond`]) and notifications.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Request {
        id: RequestId,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
        params: Value,
    },
}

/// How many lines of a server's stderr are kept for error messages.
const STDERR_TAIL: usize = 20;
/// How long a dead server's stderr may take to end.
const STDERR_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether a line of stderr says what went wrong: `error: ...` (rustup,
/// cargo, most CLIs) or `SomethingError: ...` (Node, Python).
fn is_error_line(line: &str) -> bool {
    let line = line.trim_start();
    line.get(..5)
        .is_some_and(|head| head.eq_ignore_ascii_case("error"))
        || line
            .split_once(':')
            .is_some_and(|(head, _)| head.ends_with("Error") && !head.contains(' '))
}

/// What to do about a known failure quoted from stderr.
fn advice(line: &str) -> String {
    // rustup's proxy, when the toolchain lacks the component: `error:
    // Unknown binary 'rust-analyzer' in official toolchain '...'` (older)
    // or `error: 'rust-analyzer' is not installed for the toolchain '...'`.
    let component = line
        .split_once("Unknown binary '")
        .or_else(|| {
            line.split_once("error: '")
                .filter(|_| line.contains("is not installed"))
        })
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(name, _)| name);
    match component {
        Some(name) if !name.is_empty() => {
            format!(" (rustup's proxy: install it with `rustup component add {name}`)")
        }
        _ => String::new(),
    }
}

pub(crate) type Pending = HashMap<RequestId, oneshot::Sender<Result<Box<RawValue>>>>;

/// What the client handles and the tasks share.
pub(crate) struct State {
    pub(crate) name: String,
    pub(crate) outgoing: Outbox<ChildStdin>,
    pub(crate) pending: Mutex<Pending>,
    pub(crate) next_id: AtomicI64,
    /// Why the server is gone, once it is.
    pub(crate) gone: Mutex<Option<String>>,
    stderr_tail: Mutex<VecDeque<String>>,
    /// The first line of its stderr that reads as an error, kept however
    /// much follows (rustup's proxy follows its one line with a backtrace).
    stderr_error: Mutex<Option<String>>,
    /// Whether its stderr has ended, so a death's reason can quote it.
    stderr_done: watch::Receiver<bool>,
    stats: Mutex<Recorder>,
    /// `exit` was sent: the end of its output is expected, not news.
    pub(crate) exiting: std::sync::atomic::AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent, so a panic
    // elsewhere does not poison anything that matters.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    pub(crate) fn pending(&self) -> MutexGuard<'_, Pending> {
        lock(&self.pending)
    }

    pub(crate) fn stats(&self) -> MutexGuard<'_, Recorder> {
        lock(&self.stats)
    }

    pub(crate) fn gone_reason(&self) -> Option<String> {
        lock(&self.gone).clone()
    }

    pub(crate) fn gone_error(&self, reason: String) -> Error {
        Error::Gone {
            name: self.name.clone(),
            reason,
        }
    }

    /// Marks the server gone and fails every pending request at once, so no
    /// caller waits for an answer that cannot come.
    fn die(&self, reason: String) {
        let said = lock(&self.stderr_error)
            .clone()
            .or_else(|| lock(&self.stderr_tail).back().cloned());
        let reason = match said {
            Some(line) => format!("{reason}; it said on stderr: {line}{}", advice(&line)),
            None => reason,
        };
        {
            let mut gone = lock(&self.gone);
            if gone.is_some() {
                return;
            }
            if self.exiting.load(std::sync::atomic::Ordering::Relaxed) {
                tracing::debug!(server = %self.name, "ended after exit: {reason}");
            } else {
                tracing::warn!(server = %self.name, "{reason}");
            }
            *gone = Some(reason.clone());
        }
        // Its input closes, and the task that drains it ends.
        self.outgoing.close();
        for (_, waiter) in self.pending().drain() {
            let _ = waiter.send(Err(self.gone_error(reason.clone())));
        }
    }

    /// Waits a moment for its stderr to end, so that what it said before
    /// dying is read before its death is reported. A helper it started may
    /// hold stderr open, hence the limit.
    async fn stderr_read(&self) {
        let mut done = self.stderr_done.clone();
        let _ = tokio::time::timeout(STDERR_GRACE, done.wait_for(|done| *done)).await;
    }

    pub(crate) fn send(&self, message: &Message) -> Result<()> {
        if let Some(reason) = self.gone_reason() {
            return Err(self.gone_error(reason));
        }
        // Messages hold only JSON values and text: serializing cannot fail.
        let bytes = serde_json::to_vec(message).unwrap_or_default();
        self.outgoing
            .send(&bytes)
            .map_err(|_| self.gone_error("its input is closed".to_owned()))
    }
}

/// The part of a client that owns the process: when the last handle goes,
/// the kill switch drops and the waiter kills and reaps the server.
pub(crate) struct Process {
    pub(crate) pid: Option<u32>,
    pub(crate) kill: Mutex<Option<oneshot::Sender<()>>>,
    pub(crate) exited: watch::Receiver<Option<ExitStatus>>,
}

impl Process {
    pub(crate) fn kill(&self) {
        if let Some(kill) = lock(&self.kill).take() {
            let _ = kill.send(());
        }
    }
}

/// Starts a server. Returns its client and the stream of what it sends on
/// its own. Must be called within a tokio runtime.
pub fn spawn(spec: SpawnSpec) -> Result<(Client, mpsc::UnboundedReceiver<Incoming>)> {
    let mut command = Command::new(&spec.command);
    for name in &spec.hidden_env {
        command.env_remove(name);
    }
    command
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Dropped without being reaped (the runtime going away) still kills it.
        .kill_on_drop(true)
        // Its own process group, so the helpers it starts (tsserver, its
        // typings installer, ...) can be ended with it.
        .process_group(0);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    let spawn_error = |reason: String| Error::Spawn {
        name: spec.name.clone(),
        command: spec.command.clone(),
        reason,
    };
    let mut child = command
        .spawn()
        .map_err(|err| spawn_error(err.to_string()))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(spawn_error(
            "its standard streams could not be opened".to_owned(),
        ));
    };
    let pid = child.id();
    tracing::info!(server = %spec.name, pid, command = %spec.command, "started");

    // Frames go into its stdin from the task that has them; only when the
    // pipe is full does the drain task write them.
    let (outgoing, drain) = Outbox::new(stdin);
    tokio::spawn(drain);
    let (stderr_done, stderr_done_rx) = watch::channel(false);
    let state = Arc::new(State {
        name: spec.name.clone(),
        outgoing,
        pending: Mutex::new(HashMap::new()),
        next_id: AtomicI64::new(1),
        gone: Mutex::new(None),
        stderr_tail: Mutex::new(VecDeque::new()),
        stderr_error: Mutex::new(None),
        stderr_done: stderr_done_rx,
        stats: Mutex::new(Recorder::default()),
        exiting: std::sync::atomic::AtomicBool::new(false),
    });

    let (incoming_tx, incoming) = mpsc::unbounded_channel();
    let reader_state = Arc::clone(&state);
    tokio::spawn(async move {
        let state = reader_state;
        let mut frames = FramedRead::new(stdout, LspCodec::default());
        while let Some(frame) = frames.next().await {
            let body = match frame {
                Ok(Frame::Message(body)) => body,
                Ok(Frame::Malformed(why)) => {
                    tracing::warn!(server = %state.name, "ignored a malformed message: {why}");
                    continue;
                }
                Err(err) => {
                    tracing::warn!(server = %state.name, "reading its output failed: {err}");
                    break;
                }
            };
            let message = Message::parse(&body);
            match message {
                Ok(Message::Response {
                    id: Some(id),
                    result,
                }) => {
                    let waiter = state.pending().remove(&id);
                    match waiter {
                        Some(waiter) => {
                            let _ = waiter.send(result.map_err(|error| Error::Server {
                                name: state.name.clone(),
                                code: error.code,
                                message: error.message,
                                data: error.data,
                            }));
                        }
                        // Answered after a timeout or cancellation: nobody waits.
                        None => tracing::debug!(server = %state.name, %id, "late response dropped"),
                    }
                }
                Ok(Message::Response { id: None, result }) => {
                    tracing::warn!(server = %state.name, ?result, "a response without an id");
                }
                Ok(Message::Request { id, method, params }) => {
                    let _ = incoming_tx.send(Incoming::Request { id, method, params });
                }
                Ok(Message::Notification { method, params }) => {
                    let _ = incoming_tx.send(Incoming::Notification { method, params });
                }
                Err(why) => {
                    tracing::warn!(server = %state.name, "ignored a message that is not JSON-RPC: {why}")
                }
            }
        }
        state.stderr_read().await;
        state.die("it closed its output".to_owned());
    });

    let stderr_state = Arc::clone(&state);
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::debug!(server = %stderr_state.name, "stderr: {line}");
            if is_error_line(&line) {
                lock(&stderr_state.stderr_error).get_or_insert_with(|| line.clone());
            }
            let mut tail = lock(&stderr_state.stderr_tail);
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        let _ = stderr_done.send(true);
    });

    let (kill, kill_rx) = oneshot::channel::<()>();
    let (exited_tx, exited) = watch::channel(None);
    let waiter_state = Arc::clone(&state);
    tokio::spawn(async move {
        let status = tokio::select! {
            status = child.wait() => status,
            // An explicit kill, or every client handle dropped.
            _ = kill_rx => {
                let _ = child.start_kill();
                child.wait().await
            }
        };
        // Whatever it started and left behind goes with it.
        if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let reason = match &status {
            Ok(status) => format!("it exited ({status})"),
            Err(err) => format!("waiting for it failed: {err}"),
        };
        waiter_state.stderr_read().await;
        waiter_state.die(reason);
        let _ = exited_tx.send(status.ok());
    });

    let process = Process {
        pid,
        kill: Mutex::new(Some(kill)),
        exited,
    };
    Ok((Client::new(state, process), incoming))
}

#[cfg(test)]
mod tests {
    use super::{advice, is_error_line};

    #[test]
    fn error_lines_are_told_from_the_rest() {
        for line in [
            "error: Unknown binary 'rust-analyzer' in official toolchain 'stable-x86_64-unknown-linux-gnu'.",
            "Error: Cannot find module 'typescript'",
            "ModuleNotFoundError: No module named 'pyright'",
            "  ERROR: something",
        ] {
            assert!(is_error_line(line), "{line}");
        }
        for line in [
            "15: <unknown>",
            "stack backtrace:",
            "Traceback (most recent call last):",
            "  File \"/usr/lib/python3/errors.py\", line 3",
            "the error was: none",
        ] {
            assert!(!is_error_line(line), "{line}");
        }
    }

    #[test]
    fn rustups_missing_component_gets_the_command_that_installs_it() {
        let old = "error: Unknown binary 'rust-analyzer' in official toolchain 'stable-x86_64-unknown-linux-gnu'.";
        let new = "error: 'rust-analyzer' is not installed for the toolchain 'stable-x86_64-unknown-linux-gnu'.";
        for line in [old, new] {
            assert_eq!(
                advice(line),
                " (rustup's proxy: install it with `rustup component add rust-analyzer`)"
            );
        }
        assert_eq!(advice("error: 'x' is the wrong thing"), "");
        assert_eq!(advice("Error: Cannot find module 'typescript'"), "");
    }
}
