//! The editor's side of a session, emulated: the documents it has open and
//! their versions, how it applies `workspace/applyEdit` (to open documents,
//! with their `didChange`, or to files on disk; file creations and
//! deletions, closing a deleted file's document), and which button it presses
//! on a `window/showMessageRequest`, if any.

use std::collections::HashMap;
use std::path::PathBuf;

use lsp_types::{Range, Url};
use serde_json::{json, Value};

use crate::client::Server;
use crate::oracle::TextModel;

impl Server {
    /// Opens a document at version 1, as an editor does when a file is shown.
    ///
    /// Panics if the document is already open: the protocol forbids a
    /// second `didOpen` without a `didClose` between them, so an editor
    /// closes a document ([`Server::close`]) before opening it again. (A test
    /// of meshls's answer to that very mistake sends it with
    /// [`Server::notify`].)
    pub fn open(&mut self, uri: &Url, language_id: &str, text: &str) {
        let mut editor = self.editor();
        assert!(
            !editor.documents.contains_key(uri.as_str()),
            "the test opens {uri} a second time: close it first (Server::close), or change it (Server::retype)"
        );
        editor
            .documents
            .insert(uri.to_string(), (1, TextModel::new(text)));
        drop(editor);
        let item = json!({"uri": uri, "languageId": language_id, "version": 1, "text": text});
        self.notify("textDocument/didOpen", json!({ "textDocument": item }));
    }

    /// Closes an open document, as an editor does when its last view of the
    /// file goes: from now on edits to it go to the file on disk.
    pub fn close(&mut self, uri: &Url) {
        assert!(
            self.editor().documents.contains_key(uri.as_str()),
            "the test closes {uri}, which is not open"
        );
        self.notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": uri}}),
        );
    }

    /// From now on, answers `workspace/applyEdit` as an editor does: applies
    /// the edit to the open documents (or the files on disk), sends their
    /// `didChange`, then answers `applied: true`, or `applied: false` when
    /// a versioned edit does not match the document's version.
    pub fn apply_edits(&mut self) {
        self.editor().apply_edits = true;
    }

    /// The button pressed on every `window/showMessageRequest` from now on
    /// (none: the request is answered with null, as dismissing it does).
    pub fn choose(&mut self, title: Option<&str>) {
        self.editor().choice = title.map(str::to_owned);
    }

    /// Leaves every `window/showMessageRequest` from now on unanswered.
    pub fn answer_no_questions(&mut self) {
        self.editor().away = true;
    }

    /// Whether the user turns down the changes the editor previews for
    /// confirmation (those annotated `needsConfirmation`).
    pub fn reject_confirmations(&mut self, reject: bool) {
        self.editor().reject_confirmations = reject;
    }

    /// An open document's text and version, as this editor holds it.
    pub fn document(&self, uri: &Url) -> Option<(String, i32)> {
        self.editor()
            .documents
            .get(uri.as_str())
            .map(|(version, text)| (text.text().to_owned(), *version))
    }

    /// The user replaces an open document's whole text (one `didChange`).
    pub fn retype(&mut self, uri: &Url, text: &str) {
        let version = {
            let mut editor = self.editor();
            let (version, model) = editor
                .documents
                .get_mut(uri.as_str())
                .expect("the document is open");
            *version += 1;
            *model = TextModel::new(text);
            *version
        };
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        );
    }

    /// The questions meshls's agent asked (`window/showMessageRequest`
    /// messages starting `meshls agent:`), in order; not meshls's question
    /// about trusting the workspace, nor the servers' own.
    pub fn agent_questions(&mut self) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m["method"] == "window/showMessageRequest")
            .filter_map(|m| m["params"]["message"].as_str().map(str::to_owned))
            .filter(|message| message.starts_with("meshls agent:"))
            .collect()
    }
}

/// The test editor's side of the documents, and how it answers the server.
#[derive(Default)]
pub(crate) struct EditorSide {
    /// Open documents by URI: version and text.
    pub(crate) documents: HashMap<String, (i32, TextModel)>,
    apply_edits: bool,
    choice: Option<String>,
    /// `window/showMessageRequest` is left unanswered, as by a user away
    /// from the keyboard.
    away: bool,
    /// The user turns down every change annotated `needsConfirmation`.
    reject_confirmations: bool,
}

impl EditorSide {
    /// Applies a `workspace/applyEdit` as an editor does, all or nothing;
    /// the `didChange` notifications to send first, and the answer.
    fn apply(&mut self, params: &Value) -> (Vec<Value>, Value) {
        let asks = params["edit"]["changeAnnotations"]
            .as_object()
            .is_some_and(|notes| notes.values().any(|note| note["needsConfirmation"] == true));
        if asks && self.reject_confirmations {
            return (
                Vec::new(),
                json!({"applied": false, "failureReason": "the user did not confirm the change"}),
            );
        }
        let changes = params["edit"]["documentChanges"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut documents = self.documents.clone();
        let mut files: Vec<(PathBuf, String)> = Vec::new();
        let mut touched = Vec::new();
        let (mut deleted, mut closed) = (Vec::new(), Vec::new());
        for change in &changes {
            let uri = change
                .pointer("/textDocument/uri")
                .or_else(|| change.get("uri"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let path = Url::parse(&uri)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .unwrap_or_default();
            if change["kind"] == "delete" {
                // The file goes, and with it the editor's document.
                if !path.exists() && change["options"]["ignoreIfNotExists"] != true {
                    return (
                        Vec::new(),
                        json!({"applied": false, "failureReason": "the file does not exist"}),
                    );
                }
                deleted.push(path);
                if documents.remove(&uri).is_some() {
                    closed.push(uri);
                }
                continue;
            }
            if change["kind"] == "create" {
                if path.exists() {
                    return (
                        Vec::new(),
                        json!({"applied": false, "failureReason": "the file exists"}),
                    );
                }
                files.push((path, String::new()));
                continue;
            }
            let edits: Vec<(Range, String)> = change["edits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|edit| {
                    (
                        serde_json::from_value(edit["range"].clone()).expect("an LSP range"),
                        edit["newText"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let apply = |model: &mut TextModel| {
                // From the last, so earlier positions stay valid.
                let mut edits = edits.clone();
                edits.sort_by_key(|(range, _)| (range.start.line, range.start.character));
                for (range, text) in edits.iter().rev() {
                    model.apply(*range, text);
                }
            };
            match documents.get_mut(&uri) {
                Some((version, model)) => {
                    let wanted = &change["textDocument"]["version"];
                    if !wanted.is_null() && wanted.as_i64() != Some(i64::from(*version)) {
                        return (
                            Vec::new(),
                            json!({"applied": false, "failureReason": format!("{uri} is at version {version}, not {wanted}")}),
                        );
                    }
                    apply(model);
                    *version += 1;
                    touched.push(uri);
                }
                None => {
                    let text = match files.iter().position(|(p, _)| *p == path) {
                        Some(at) => files.remove(at).1,
                        None => std::fs::read_to_string(&path).unwrap_or_default(),
                    };
                    let mut model = TextModel::new(text);
                    apply(&mut model);
                    files.push((path, model.text().to_owned()));
                }
            }
        }
        for (path, text) in files {
            std::fs::write(path, text).expect("write an edited file");
        }
        for path in deleted {
            if path.exists() {
                std::fs::remove_file(path).expect("delete a file");
            }
        }
        self.documents = documents;
        let closing = closed.iter().map(|uri| {
            json!({"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {
                "textDocument": {"uri": uri},
            }})
        });
        let notes = touched
            .iter()
            .map(|uri| {
                let (version, model) = &self.documents[uri];
                json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"text": model.text()}],
                }})
            })
            .chain(closing)
            .collect();
        (notes, json!({"applied": true}))
    }
}

/// The client's reply to a request from the server: whatever means "no
/// preference" for each method, unless the test asked the editor to apply
/// edits or press a button (none when it asked the editor to leave
/// questions unanswered); with the notifications to send first.
pub(crate) fn answer(request: &Value, editor: &mut EditorSide) -> (Vec<Value>, Option<Value>) {
    let mut notes = Vec::new();
    let result = match request["method"].as_str() {
        Some("workspace/configuration") => {
            let items = request["params"]["items"].as_array().map_or(0, Vec::len);
            Value::Array(vec![Value::Null; items])
        }
        Some("workspace/applyEdit") if editor.apply_edits => {
            let (changes, result) = editor.apply(&request["params"]);
            notes = changes;
            result
        }
        Some("window/showMessageRequest") if editor.away => return (notes, None),
        Some("window/showMessageRequest") => match &editor.choice {
            Some(title) => json!({ "title": title }),
            None => Value::Null,
        },
        // Progress creation, capability (un)registration, message requests and
        // anything newer all accept a null result.
        _ => Value::Null,
    };
    (
        notes,
        Some(json!({ "jsonrpc": "2.0", "id": request["id"], "result": result })),
    )
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use crate::fixtures::Workspace;

    use super::*;

    /// A "server" that echoes every frame back, so the test sees exactly
    /// what the editor's side sent.
    fn echo(ws: &Workspace) -> Server {
        Server::builder(ws).program("cat").start()
    }

    #[test]
    fn a_document_is_opened_once_until_it_is_closed() {
        let ws = Workspace::new("");
        let mut server = echo(&ws);
        let uri = ws.uri("a.rs");
        server.open(&uri, "rust", "fn a() {}\n");
        server.wait_notification("textDocument/didOpen", |_| true);

        let again = catch_unwind(AssertUnwindSafe(|| {
            server.open(&uri, "rust", "fn b() {}\n")
        }))
        .expect_err("a second didOpen is refused");
        let message = again.downcast_ref::<String>().expect("a message");
        assert!(
            message.contains(&format!("the test opens {uri} a second time")),
            "{message}"
        );
        assert_eq!(
            server.document(&uri),
            Some(("fn a() {}\n".to_owned(), 1)),
            "the open document is unchanged"
        );

        server.close(&uri);
        server.wait_notification("textDocument/didClose", |_| true);
        assert_eq!(server.document(&uri), None);
        server.open(&uri, "rust", "fn c() {}\n");
        let reopened = server.wait_notification("textDocument/didOpen", |_| true);
        assert_eq!(reopened["textDocument"]["text"], "fn c() {}\n");
        let opens = server
            .messages()
            .iter()
            .filter(|m| m["method"] == "textDocument/didOpen")
            .count();
        assert_eq!(opens, 2, "the refused didOpen was not sent");
    }

    #[test]
    fn a_did_close_sent_by_hand_closes_the_document_too() {
        let ws = Workspace::new("");
        let mut server = echo(&ws);
        let uri = ws.uri("a.rs");
        server.open(&uri, "rust", "fn a() {}\n");
        server.notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": uri}}),
        );
        assert_eq!(server.document(&uri), None);
        server.open(&uri, "rust", "fn a() {}\n");
        assert_eq!(server.document(&uri), Some(("fn a() {}\n".to_owned(), 1)));
    }
}
