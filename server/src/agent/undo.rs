//! `meshls.undoRun`: a whole run taken back in one `workspace/applyEdit`
//! labelled "Undo: <instruction>", from the run's checkpoint (see
//! `meshls_agent::checkpoint`): versioned edits for open documents, edits
//! of the files on disk for the rest, deletions of the files the run
//! created. A file the user changed since keeps their changes (only the
//! run's own hunks go), or, when those no longer apply cleanly, is left
//! alone and named. A run undone once is not undone again.

use std::{path::Path, time::Duration};

use serde_json::{json, Value};

use meshls_agent::{
    checkpoint::{plan, RunRecord, Step},
    paths::relative,
    redact::redact,
    session::Sessions,
};

use crate::agent::{editor_host::text_edits, runs::Runs, senses::uri};

/// How long the user may take to press "Undo" on a run's closing message.
const OFFER_TIMEOUT: Duration = Duration::from_secs(600);

/// The button that undoes a run from its closing message.
pub const UNDO: &str = "Undo";

impl Runs {
    /// Undoes run `run`, else the session's latest run that changed files;
    /// the outcome as `meshls.undoRun` answers it, or why nothing was done.
    pub async fn undo(
        &self,
        root: &Path,
        sessions: &Sessions,
        session: &str,
        run: Option<&str>,
    ) -> Result<Value, String> {
        let runs = sessions.store().runs();
        let record = match run {
            Some(id) => runs
                .get(id)
                .ok_or_else(|| format!("meshls agent: there is no run {id} to undo"))?,
            None => runs.latest_undoable(session).ok_or_else(|| {
                "meshls agent: no run of this session changed a file, so there is nothing to undo"
                    .to_owned()
            })?,
        };
        let instruction = redact(&record.instruction).into_owned();
        let answer = |undone: bool,
                      restored: &[String],
                      deleted: &[String],
                      left: &[Value],
                      message: &str| {
            json!({
                "run": record.id,
                "undone": undone,
                "restored": restored,
                "deleted": deleted,
                "left": left,
                "message": message,
            })
        };
        if record.undone {
            let message =
                format!("meshls agent: \"{instruction}\" was undone already; nothing changed");
            self.tell(3, &message);
            return Ok(answer(false, &[], &[], &[], &message));
        }
        if record.ended.is_none() && self.any_going() {
            return Err(format!(
                "meshls agent: \"{instruction}\" is still going; cancel it (meshls.cancel) or let it end, then undo it"
            ));
        }
        let states = runs.states(&record.id);
        if states.is_empty() && !record.dropped.is_empty() {
            return Err(format!(
                "meshls agent: \"{instruction}\" can no longer be undone: only the latest {} runs keep what their files were, within agent.checkpoint_bytes",
                meshls_agent::checkpoint::RUNS_KEPT
            ));
        }
        // Each file as it is now, read once: its text for the plan, its
        // version for the edit.
        let now: std::collections::HashMap<&Path, (String, Option<i32>)> = states
            .iter()
            .filter_map(|state| Some((state.path.as_path(), self.text_now(&state.path)?)))
            .collect();
        let steps = plan(&states, |path| now.get(path).map(|(text, _)| text.clone()));
        let mut changes = Vec::new();
        let (mut restored, mut deleted, mut left) = (Vec::new(), Vec::new(), Vec::new());
        for step in &steps {
            match step {
                Step::Restore {
                    path,
                    current,
                    replacements,
                } => {
                    let Ok(uri) = uri(path) else { continue };
                    let version = now.get(path.as_path()).and_then(|(_, version)| *version);
                    let edits = text_edits(current, replacements);
                    changes.push(
                        json!({"textDocument": {"uri": uri, "version": version}, "edits": edits}),
                    );
                    restored.push(relative(root, path));
                }
                Step::Delete { path } => {
                    let Ok(uri) = uri(path) else { continue };
                    changes.push(json!({"kind": "delete", "uri": uri, "options": {"ignoreIfNotExists": true}}));
                    deleted.push(relative(root, path));
                }
                Step::Leave { path, why } => {
                    left.push(json!({"file": relative(root, path), "why": why}));
                }
            }
        }
        for path in &record.dropped {
            left.push(json!({
                "file": relative(root, path),
                "why": "its checkpoint was dropped to keep within agent.checkpoint_bytes",
            }));
        }
        if !changes.is_empty() {
            let applied = self
                .editor
                .request(
                    "workspace/applyEdit",
                    json!({"label": format!("Undo: {instruction}"), "edit": {"documentChanges": changes}}),
                )
                .await;
            match applied {
                Ok(answer) if answer["applied"] == Value::Bool(true) => {}
                Ok(answer) => {
                    let why = answer["failureReason"]
                        .as_str()
                        .map(|why| format!(" ({why})"))
                        .unwrap_or_default();
                    return Err(format!(
                        "meshls agent: the editor did not apply the undo of \"{instruction}\"{why}; nothing was undone"
                    ));
                }
                Err(err) => {
                    return Err(format!(
                        "meshls agent: the editor did not take the undo of \"{instruction}\" ({}); nothing was undone",
                        err.message
                    ))
                }
            }
        }
        runs.save(&RunRecord {
            undone: true,
            ..record.clone()
        });
        let mut message = match (restored.len(), deleted.len()) {
            (0, 0) => format!("meshls agent: undid \"{instruction}\": its files were already as before it"),
            (r, 0) => format!("meshls agent: undid \"{instruction}\": {r} file(s) restored"),
            (0, d) => format!("meshls agent: undid \"{instruction}\": {d} created file(s) deleted"),
            (r, d) => format!(
                "meshls agent: undid \"{instruction}\": {r} file(s) restored, {d} created file(s) deleted"
            ),
        };
        if !left.is_empty() {
            let named: Vec<String> = left
                .iter()
                .map(|file| {
                    format!(
                        "{} ({})",
                        file["file"].as_str().unwrap_or_default(),
                        file["why"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            message.push_str(&format!("; left as they are: {}", named.join(", ")));
        }
        self.tell(if left.is_empty() { 3 } else { 2 }, &message);
        Ok(answer(true, &restored, &deleted, &left, &message))
    }

    /// A file's text as the editor has it (with its version) when open,
    /// else as on disk; `None` when it does not exist.
    fn text_now(&self, path: &Path) -> Option<(String, Option<i32>)> {
        match self.docs.uri_of(path) {
            Some(uri) => self
                .docs
                .view(&uri)
                .ok()
                .map(|(version, text, _)| (text, Some(version))),
            None => std::fs::read_to_string(path).ok().map(|text| (text, None)),
        }
    }

    /// Offers "Undo" for a run that is over, in a message that blocks
    /// nothing: the run has ended either way.
    pub fn offer_undo(
        &self,
        root: &Path,
        sessions: &std::sync::Arc<Sessions>,
        record: &RunRecord,
        message: String,
    ) {
        let runs = self.clone();
        let (root, sessions, record) = (root.to_owned(), sessions.clone(), record.clone());
        tokio::spawn(async move {
            let asked = runs.editor.request(
                "window/showMessageRequest",
                json!({"type": 2, "message": redact(&message), "actions": [{"title": UNDO}]}),
            );
            let Ok(Ok(answer)) = tokio::time::timeout(OFFER_TIMEOUT, asked).await else {
                return;
            };
            if answer["title"] == UNDO {
                if let Err(why) = runs
                    .undo(&root, &sessions, &record.session, Some(&record.id))
                    .await
                {
                    runs.tell(1, &why);
                }
            }
        });
    }
}
