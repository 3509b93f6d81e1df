//! `meshls sessions` and `meshls audit`: the agent's sessions in a
//! workspace and its audit log, read from the workspace's database, for a
//! person (text) or a program (`--json`). Nothing they print holds an API
//! key: the store redacts what it writes, and what is printed is redacted
//! again.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use meshls_agent::{
    redact::redact,
    session::{Entry, Event, Sessions, Store, Trees},
    transcript,
};

use crate::{
    cli::{stderr_line, write_output},
    storage,
};

/// What `meshls sessions` does.
pub enum Action {
    /// Lists them, newest first.
    List,
    /// Prints one as markdown.
    Show(String),
    /// Removes those not used for this many days.
    Prune(u64),
}

/// The workspace's sessions, or why they cannot be read (one sentence);
/// `None` when the workspace has no database yet.
fn open(root: &Path) -> Result<Option<(sled::Db, Sessions)>, String> {
    let root = root
        .canonicalize()
        .ok()
        .filter(|root| root.is_dir())
        .ok_or_else(|| {
            format!(
                "{} is not a directory: pass the workspace with --root",
                root.display()
            )
        })?;
    let path: PathBuf = storage::database_path(&root)
        .ok_or("there is no data directory to keep sessions in (set XDG_DATA_HOME)")?;
    if !path.exists() {
        return Ok(None);
    }
    let db = storage::open(&path).map_err(|err| {
        format!("{err:#}; close the editor's meshls on this workspace, or wait for it to end, and run this again")
    })?;
    let store = Trees::of(&db)
        .and_then(Store::open)
        .map_err(|err| format!("the agent's sessions cannot be read: {err}"))?;
    Ok(Some((db, Sessions::new(store))))
}

fn fail(command: &str, why: &str) -> ExitCode {
    let _ = stderr_line(&format!("meshls {command}: {why}"));
    ExitCode::from(2)
}

fn print(command: &str, text: &str) -> ExitCode {
    match write_output(None, &redact(text)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(command, &format!("cannot write: {err}")),
    }
}

/// `meshls sessions [--json] [show ID | prune --older-than DAYS]`.
pub fn main(root: &Path, action: Action, json: bool) -> ExitCode {
    // A meshls serving an editor holds the database: what it publishes
    // beside it is read instead, for listing and showing.
    let (opened, held) = match (open(root), &action) {
        (Ok(opened), _) => (opened, None),
        (Err(why), Action::List | Action::Show(_)) => (None, Some(why)),
        (Err(why), Action::Prune(_)) => return fail("sessions", &why),
    };
    match action {
        Action::List => {
            let listed = root
                .canonicalize()
                .map(|root| {
                    storage::all_sessions(&root, opened.as_ref().map(|(_, sessions)| sessions))
                })
                .unwrap_or_default();
            if let Some(why) = held {
                if listed.is_empty() {
                    return fail("sessions", &why);
                }
                let _ = stderr_line("meshls sessions: the workspace's database is held by the meshls of an editor; these are the sessions it lists");
            }
            if json {
                let text = serde_json::to_string_pretty(&listed).unwrap_or_default();
                return print("sessions", &format!("{text}\n"));
            }
            if listed.is_empty() {
                return print("sessions", "no agent sessions in this workspace\n");
            }
            let mut out = String::new();
            for session in listed {
                let number = |pointer: &str| {
                    session
                        .pointer(pointer)
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(0)
                };
                out.push_str(&format!(
                    "{}  {}  {} run(s)  {} in / {} out tokens  ${:.4}  {}  {}\n",
                    session["id"].as_str().unwrap_or_default(),
                    transcript::utc(number("/updated")),
                    number("/runs"),
                    number("/tokens/input"),
                    number("/tokens/output"),
                    session["cost"].as_f64().unwrap_or(0.0),
                    session["state"].as_str().unwrap_or_default(),
                    session["title"].as_str().unwrap_or_default(),
                ));
            }
            print("sessions", &out)
        }
        Action::Show(id) => {
            let session = opened
                .as_ref()
                .and_then(|(_, sessions)| sessions.store().load(&id));
            if let Some(session) = session {
                return print("sessions", &transcript::markdown(&session));
            }
            // Another meshls's session: its transcript, as last written.
            let written = root
                .canonicalize()
                .ok()
                .and_then(|root| storage::transcript_path(&root, &id))
                .and_then(|path| std::fs::read_to_string(path).ok());
            match written {
                Some(text) => print("sessions", &text),
                None => fail(
                    "sessions",
                    &held.unwrap_or_else(|| {
                        format!(
                            "there is no session {id} in this workspace (`meshls sessions` lists them)"
                        )
                    }),
                ),
            }
        }
        Action::Prune(days) => {
            let pruned = opened
                .as_ref()
                .map_or(0, |(_, sessions)| sessions.prune(days));
            if let Some((db, _)) = &opened {
                if let Err(err) = db.flush() {
                    return fail(
                        "sessions",
                        &format!("the database could not be written: {err}"),
                    );
                }
            }
            print(
                "sessions",
                &format!("removed {pruned} session(s) not used for {days} days\n"),
            )
        }
    }
}

/// `meshls audit [--session ID] [--json]`: the audit log, oldest first.
pub fn audit(root: &Path, session: Option<&str>, json: bool) -> ExitCode {
    let opened = match open(root) {
        Ok(opened) => opened,
        Err(why) => return fail("audit", &why),
    };
    let entries: Vec<Entry> = opened
        .as_ref()
        .map(|(_, sessions)| sessions.store().audit_log())
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| session.is_none_or(|id| entry.session == id))
        .collect();
    if json {
        let text = serde_json::to_string_pretty(&entries).unwrap_or_default();
        return print("audit", &format!("{text}\n"));
    }
    let mut out = Vec::new();
    for entry in &entries {
        let _ = writeln!(
            out,
            "{}  {}  {}",
            transcript::utc(entry.at / 1000),
            entry.session,
            said(&entry.event)
        );
    }
    print("audit", &String::from_utf8_lossy(&out))
}

/// An audit event in one line.
fn said(event: &Event) -> String {
    match event {
        Event::RunStarted { request } => {
            format!("run started: {}", request.lines().next().unwrap_or(""))
        }
        Event::ToolCall { tool, about, ok } => {
            let how = if *ok { "ok" } else { "failed" };
            format!("tool {tool} {about}: {how}")
        }
        Event::Approval { action, allowed } => {
            let how = if *allowed { "allowed" } else { "denied" };
            format!("asked to allow {action}: {how}")
        }
        Event::Edit {
            path,
            created,
            refused,
        } => match refused {
            Some(why) => format!("edit of {} refused: {why}", path.display()),
            None if *created => format!("created {}", path.display()),
            None => format!("edited {}", path.display()),
        },
        Event::RunEnded {
            ended,
            steps,
            usage,
            cost,
        } => format!(
            "run ended ({ended}) after {steps} step(s), {} in / {} out tokens, ${cost:.4}",
            usage.input_tokens, usage.output_tokens
        ),
    }
}
