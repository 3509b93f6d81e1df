//! The agent's host in the editor: what the agent reads is the editor's
//! copy of a file, its changes go to the editor as one versioned
//! `workspace/applyEdit` each, its questions to the user are
//! `window/showMessageRequest`s, and its senses are the real language
//! servers behind meshls. Every conversion between the agent's plain types
//! (byte ranges, lines from 1, columns in characters) and LSP's (UTF-16
//! positions) is here.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use meshls_analysis::text;
use serde_json::{json, Value};

use meshls_agent::{
    checkpoint::Checkpoint,
    host::{rebase, FileChange, Host, Place, Problem, Question, Reported, Spot, Symbol},
};

use crate::ext;
use crate::{
    agent::events::RunEvents,
    agent::progress::Reports,
    agent::senses::{name, uri, Senses},
    state::diagnostics::DiagnosticsHub,
    state::documents::Documents,
    state::downstream::Downstream,
    state::editor::Editor,
};

/// How long the agent waits for the servers' diagnostics after its edits.
const FRESH_TIMEOUT: Duration = Duration::from_secs(15);
/// The same for a file the servers had published for, with no diagnostic
/// in it: some servers (typescript-language-server) publish nothing when a
/// clean file stays clean, so silence this long means it did. New errors
/// come sooner.
const CLEAN_TIMEOUT: Duration = Duration::from_secs(3);
/// After the first fresh publication, how long to wait for others (servers
/// often publish twice: syntax, then semantics).
const SETTLE: Duration = Duration::from_millis(300);

/// What the servers had said about a file when the agent changed it.
#[derive(Debug, Clone, Copy)]
struct Published {
    /// How often they had published for it.
    publications: u64,
    /// Whether none of them had a diagnostic in it.
    clean: bool,
}

const ALLOW: &str = "Allow";
const ALWAYS: &str = "Always for this session";
const DENY: &str = "Deny";

pub struct ServerHost {
    pub docs: Arc<Documents>,
    pub downstream: Arc<Downstream>,
    pub hub: Arc<DiagnosticsHub>,
    pub editor: Arc<Editor>,
    /// Kinds of action the user allowed for the whole agent session (its
    /// own set: a new session starts with none).
    pub always: Arc<Mutex<HashSet<String>>>,
    /// The editor previews edits marked `needsConfirmation` (VS Code does):
    /// a file edit or creation to approve is then confirmed there, on the
    /// edit itself, instead of by a question before it.
    confirm_in_editor: bool,
    root: PathBuf,
    /// Files whose next change the editor must have the user confirm.
    to_confirm: Mutex<HashSet<String>>,
    /// Per file the agent changed, the servers' publications for it by then.
    changed: Mutex<HashMap<PathBuf, Published>>,
    /// How long the user has to answer an approval; no answer means no.
    approval_timeout: Duration,
    /// Whether definition and references quote dependencies' sources.
    read_dependencies: bool,
    /// What a review reported with `report_finding`.
    reported: Mutex<Vec<Reported>>,
    /// The run's events, for a client that asked for them.
    events: Arc<RunEvents>,
    /// What each file was before the run changed it, for `meshls.undoRun`.
    checkpoint: Option<Arc<Checkpoint>>,
    /// The run's progress, which says when a question waits for the user.
    reports: Option<Arc<Reports>>,
}

/// A change as the editor is asked to make it, with the file's text
/// before (`None`: the change creates it) and after.
struct Planned {
    label: String,
    edit: Value,
    before: Option<String>,
    after: String,
}

impl ServerHost {
    /// The language servers, as of now, and the editor's documents.
    fn senses(&self) -> Senses {
        Senses {
            docs: self.docs.clone(),
            servers: self.downstream.get(),
            root: self.root.clone(),
            read_dependencies: self.read_dependencies,
        }
    }

    pub fn new(
        docs: Arc<Documents>,
        downstream: Arc<Downstream>,
        hub: Arc<DiagnosticsHub>,
        editor: Arc<Editor>,
        always: Arc<Mutex<HashSet<String>>>,
        root: PathBuf,
        confirm_in_editor: bool,
    ) -> ServerHost {
        ServerHost {
            docs,
            downstream,
            hub,
            editor,
            always,
            confirm_in_editor,
            root,
            to_confirm: Mutex::new(HashSet::new()),
            changed: Mutex::new(HashMap::new()),
            approval_timeout: Duration::from_secs(120),
            read_dependencies: true,
            reported: Mutex::new(Vec::new()),
            events: Arc::new(RunEvents::off()),
            checkpoint: None,
            reports: None,
        }
    }

    /// Says in the run's progress when a question waits for the user.
    pub fn with_reports(self, reports: Arc<Reports>) -> ServerHost {
        ServerHost {
            reports: Some(reports),
            ..self
        }
    }

    /// Keeps each file's text before the run changes it in `checkpoint`.
    pub fn with_checkpoint(self, checkpoint: Arc<Checkpoint>) -> ServerHost {
        ServerHost {
            checkpoint: Some(checkpoint),
            ..self
        }
    }

    pub fn with_events(self, events: Arc<RunEvents>) -> ServerHost {
        ServerHost { events, ..self }
    }

    /// The findings a review reported, taken.
    pub fn take_reported(&self) -> Vec<Reported> {
        std::mem::take(
            &mut self
                .reported
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Whether the agent is shown lines of dependencies' sources
    /// (`agent.read_dependencies`).
    pub fn with_read_dependencies(self, read_dependencies: bool) -> ServerHost {
        ServerHost {
            read_dependencies,
            ..self
        }
    }

    /// How long the user has to answer an approval (`agent.approval_timeout`).
    pub fn with_approval_timeout(self, approval_timeout: Duration) -> ServerHost {
        ServerHost {
            approval_timeout,
            ..self
        }
    }

    /// Marks every edit of a change for confirmation in the editor.
    fn annotate(edit: &mut Value, path: &Path) {
        for change in edit["documentChanges"].as_array_mut().into_iter().flatten() {
            if change.get("kind").is_some() {
                change["annotationId"] = json!(ext::CONFIRM_ANNOTATION);
            }
            for text_edit in change["edits"].as_array_mut().into_iter().flatten() {
                text_edit["annotationId"] = json!(ext::CONFIRM_ANNOTATION);
            }
        }
        edit["changeAnnotations"] = json!({(ext::CONFIRM_ANNOTATION): {
            "label": "meshls agent",
            "needsConfirmation": true,
            "description": format!("The agent's change to {}", name(path)),
        }});
    }

    /// The `workspace/applyEdit` for a change, against the editor's text now.
    fn edit(&self, change: FileChange) -> Result<Planned, String> {
        match change {
            FileChange::Create { path, content } => {
                let uri = uri(&path)?;
                let edit = json!({"documentChanges": [
                    {"kind": "create", "uri": uri, "options": {"overwrite": false, "ignoreIfExists": false}},
                    {"textDocument": {"uri": uri, "version": null}, "edits": [
                        {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "newText": content}
                    ]},
                ]});
                Ok(Planned {
                    label: format!("create {}", name(&path)),
                    edit,
                    before: None,
                    after: content,
                })
            }
            FileChange::Edit {
                path,
                read,
                replacements,
                // What counts is whether the text is still what was read.
                version: _,
            } => {
                let (uri, current, version) = match self.docs.uri_of(&path) {
                    // Open: the editor's text, or nothing if meshls's copy
                    // of it cannot be trusted; never the disk's instead.
                    Some(uri) => {
                        let (version, text, _) = self.docs.view(&uri).map_err(|_| {
                            format!(
                                "meshls's copy of {} is out of sync with the editor, so the edit was not made; close and reopen the file",
                                name(&path)
                            )
                        })?;
                        (uri, text, Some(version))
                    }
                    None => (
                        uri(&path)?,
                        std::fs::read_to_string(&path)
                            .map_err(|err| format!("cannot read {}: {err}", name(&path)))?,
                        None,
                    ),
                };
                let replacements = if current == read {
                    replacements
                } else {
                    rebase(&read, &current, &replacements).ok_or_else(|| {
                        format!(
                            "{} changed where the agent's edit goes since the agent read it, so the edit was not applied; ask again",
                            name(&path)
                        )
                    })?
                };
                let replacements = keep_line_breaks(&current, replacements);
                let mut after = current.clone();
                for (range, new) in replacements.iter().rev() {
                    after.replace_range(range.clone(), new);
                }
                let edits = text_edits(&current, &replacements);
                let edit = json!({"documentChanges": [
                    {"textDocument": {"uri": uri, "version": version}, "edits": edits},
                ]});
                Ok(Planned {
                    label: format!("edit {}", name(&path)),
                    edit,
                    before: Some(current),
                    after,
                })
            }
        }
    }
}

impl Host for ServerHost {
    fn open_document(&self, path: &Path) -> Option<(String, i32)> {
        self.senses().open_document(path)
    }

    async fn apply(&self, change: FileChange) -> Result<(), String> {
        let path = match &change {
            FileChange::Edit { path, .. } | FileChange::Create { path, .. } => path.clone(),
        };
        let seen = Published {
            publications: self.hub.publications(&path),
            clean: self.hub.clean(&path).await,
        };
        let Planned {
            label,
            mut edit,
            before,
            after,
        } = self.edit(change)?;
        let confirm = self
            .to_confirm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&meshls_agent::paths::relative(&self.root, &path));
        if confirm {
            Self::annotate(&mut edit, &path);
        }
        let answer = self
            .editor
            .request(
                "workspace/applyEdit",
                json!({"label": format!("meshls agent: {label}"), "edit": edit}),
            )
            .await
            .map_err(|err| {
                format!(
                    "the editor did not take the edit to {}: {}",
                    name(&path),
                    err.message
                )
            })?;
        if answer["applied"] != Value::Bool(true) {
            let why = answer["failureReason"]
                .as_str()
                .map(|why| format!(" ({why})"))
                .unwrap_or_default();
            return Err(format!(
                "the editor did not apply the edit to {}{why}",
                name(&path)
            ));
        }
        if let Some(checkpoint) = &self.checkpoint {
            checkpoint.record(&path, before.as_deref(), &after);
        }
        self.events.edit(&path, &edit);
        self.changed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path, seen);
        Ok(())
    }

    async fn diagnostics(&self, path: Option<&Path>) -> Vec<Problem> {
        let senses = self.senses();
        match path {
            Some(path) => match uri(path) {
                Ok(uri) => {
                    let diagnostics = self.hub.for_path(path).await;
                    senses.findings(&uri, diagnostics)
                }
                Err(_) => Vec::new(),
            },
            None => {
                let mut all = self.hub.all().await;
                all.sort_by(|a, b| a.0.cmp(&b.0));
                all.into_iter()
                    .flat_map(|(uri, diagnostics)| senses.findings(&uri, diagnostics))
                    .collect()
            }
        }
    }

    async fn fresh_diagnostics(&self, paths: &[PathBuf]) -> Vec<Problem> {
        let senses = self.senses();
        let waits: Vec<(&Path, Published)> = {
            let changed = self
                .changed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            paths
                .iter()
                .filter_map(|path| {
                    let seen = *changed.get(path)?;
                    // Only files a language server looks at get fresh diagnostics.
                    let language = senses.language_id(&senses.uri_for(path).ok()?, path)?;
                    (!senses.servers.of_language(&language).is_empty())
                        .then_some((path.as_path(), seen))
                })
                .collect()
        };
        if !waits.is_empty() {
            let all = futures::future::join_all(waits.iter().map(|(path, seen)| {
                // A file no server has published for may not be analysed
                // yet (a new file, a server still loading): no shortcut.
                let timeout = if seen.clean && seen.publications > 0 {
                    CLEAN_TIMEOUT
                } else {
                    FRESH_TIMEOUT
                };
                tokio::time::timeout(timeout, self.hub.published_after(path, seen.publications))
            }))
            .await;
            let silent = all.iter().filter(|waited| waited.is_err()).count();
            if silent < all.len() {
                tokio::time::sleep(SETTLE).await;
            }
            if silent > 0 {
                tracing::info!(
                    "the language servers published no fresh diagnostics for {silent} of {} file(s) in time",
                    all.len()
                );
            }
        }
        let mut findings = Vec::new();
        for path in paths {
            findings.extend(self.diagnostics(Some(path)).await);
        }
        self.events.diagnostics(&findings);
        findings
    }

    async fn symbols(&self, path: &Path) -> Result<Vec<Symbol>, String> {
        self.senses().symbols(path).await
    }

    async fn workspace_symbols(&self, query: &str) -> Result<Vec<Symbol>, String> {
        self.senses().workspace_symbols(query).await
    }

    async fn definition(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.senses().definition(at).await
    }

    async fn references(&self, at: &Spot) -> Result<Vec<Place>, String> {
        self.senses().references(at).await
    }

    async fn hover(&self, at: &Spot) -> Result<Option<String>, String> {
        self.senses().hover(at).await
    }

    async fn report(&self, finding: Reported) -> Result<String, String> {
        // Only a review offers `report_finding`: its findings become the
        // files' diagnostics when it ends (`Runs`).
        self.reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(finding);
        Ok("reported".to_owned())
    }

    async fn approve(&self, question: &Question<'_>) -> bool {
        let action = question.action;
        let always = || {
            self.always
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        // "Always" covers what the question says it does: every edit, every
        // creation, or that exact action.
        if question.always.is_some_and(|kind| always().contains(kind)) {
            return true;
        }
        if self.confirm_in_editor {
            if let Some(("Edit" | "Create", file)) = action.split_once(' ') {
                // The editor's preview of the edit asks instead.
                self.to_confirm
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(file.to_owned());
                return true;
            }
        }
        let buttons = match question.always {
            Some(_) => json!([{"title": ALLOW}, {"title": ALWAYS}, {"title": DENY}]),
            None => json!([{"title": ALLOW}, {"title": DENY}]),
        };
        // The question is asked in a message with buttons, and offered as
        // code actions at the cursor too, for editors without such
        // messages (Helix): the first answer counts.
        let (id, by_action) = self.editor.pose_question(action, question.always.is_some());
        if let Some(reports) = &self.reports {
            reports.say(&format!(
                "waiting for your answer: {action}? (in the message, or the code actions \"Allow\"/\"Deny\" at the cursor)"
            ));
        }
        let asked = self.editor.request(
            "window/showMessageRequest",
            json!({
                "type": 3,
                "message": format!("meshls agent: {action}?"),
                "actions": buttons,
            }),
        );
        let answered = async {
            let by_message = async {
                match asked.await {
                    Ok(answer) => match answer["title"].as_str() {
                        Some(ALLOW) => "allow".to_owned(),
                        Some(ALWAYS) => "always".to_owned(),
                        _ => "deny".to_owned(),
                    },
                    // An editor without such messages: the code actions answer.
                    Err(err) => {
                        tracing::info!("asking {action:?} in a message failed: {}", err.message);
                        std::future::pending().await
                    }
                }
            };
            tokio::select! {
                said = by_message => Some(said),
                said = by_action => said.ok(),
            }
        };
        let answer = tokio::time::timeout(self.approval_timeout, answered).await;
        self.editor.withdraw_question(id);
        let (allowed, said) = match (answer, question.always) {
            (Ok(Some(said)), _) if said == "allow" => (true, "allow"),
            (Ok(Some(said)), Some(kind)) if said == "always" => {
                always().insert(kind.to_owned());
                (true, "always")
            }
            (Ok(Some(_)), _) => (false, "deny"),
            (Ok(None) | Err(_), _) => {
                tracing::info!("no answer to the approval of {action:?}: denied");
                (false, "no answer")
            }
        };
        self.events.approval(action, said);
        allowed
    }
}

/// `replacements` (byte ranges of `text`) as LSP `TextEdit`s.
pub fn text_edits(text: &str, replacements: &[(std::ops::Range<usize>, String)]) -> Vec<Value> {
    replacements
        .iter()
        .map(|(range, new)| {
            json!({"range": {
                "start": text::byte_position(text, range.start),
                "end": text::byte_position(text, range.end),
            }, "newText": new})
        })
        .collect()
}

/// Replacements that start or end between the `\r` and `\n` of a line
/// break widened to hold the whole break (and given it back in their
/// text): LSP has no position inside a `\r\n`, and an editor would move
/// one there to the line's end, so the `\r` would be lost.
fn keep_line_breaks(
    text: &str,
    replacements: Vec<(std::ops::Range<usize>, String)>,
) -> Vec<(std::ops::Range<usize>, String)> {
    let inside_break = |at: usize| {
        at > 0
            && text.as_bytes().get(at - 1) == Some(&b'\r')
            && text.as_bytes().get(at) == Some(&b'\n')
    };
    replacements
        .into_iter()
        .map(|(mut range, mut new)| {
            if inside_break(range.start) {
                range.start -= 1;
                new.insert(0, '\r');
            }
            if inside_break(range.end) {
                range.end += 1;
                new.push('\n');
            }
            (range, new)
        })
        .collect()
}
