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

use lsp_types::{Position, Url};
use serde_json::{json, Value};

use meshls_agent::host::{rebase, FileChange, Finding, Host, Place, Reported, Spot, Symbol};

use crate::{
    diagnostics::DiagnosticsHub, documents::Documents, downstream::Downstream, editor::Editor,
    languages::language_of,
};

/// How long a language server may take to answer the agent.
const QUERY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the agent waits for the servers' diagnostics after its edits.
const FRESH_TIMEOUT: Duration = Duration::from_secs(15);
/// After the first fresh publication, how long to wait for others (servers
/// often publish twice: syntax, then semantics).
const SETTLE: Duration = Duration::from_millis(300);
/// How long the user has to answer an approval; no answer means no.
const APPROVAL_TIMEOUT: Duration = Duration::from_secs(120);

const ALLOW: &str = "Allow";
const ALWAYS: &str = "Always for this session";
const DENY: &str = "Deny";

pub struct ServerHost {
    pub docs: Arc<Documents>,
    pub downstream: Arc<Downstream>,
    pub hub: Arc<DiagnosticsHub>,
    pub editor: Arc<Editor>,
    /// Kinds of action the user allowed for the whole session.
    pub always: Arc<Mutex<HashSet<String>>>,
    /// The editor previews edits marked `needsConfirmation` (VS Code does):
    /// a file edit or creation to approve is then confirmed there, on the
    /// edit itself, instead of by a question before it.
    confirm_in_editor: bool,
    root: PathBuf,
    /// Files whose next change the editor must have the user confirm.
    to_confirm: Mutex<HashSet<String>>,
    /// Per file the agent changed, the servers' publications for it by then.
    changed: Mutex<HashMap<PathBuf, u64>>,
}

/// The change annotation of edits the user confirms in the editor.
const CONFIRM: &str = "meshls-agent";

impl ServerHost {
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
        }
    }

    /// Marks every edit of a change for confirmation in the editor.
    fn annotate(edit: &mut Value, path: &Path) {
        for change in edit["documentChanges"].as_array_mut().into_iter().flatten() {
            if change.get("kind").is_some() {
                change["annotationId"] = json!(CONFIRM);
            }
            for text_edit in change["edits"].as_array_mut().into_iter().flatten() {
                text_edit["annotationId"] = json!(CONFIRM);
            }
        }
        edit["changeAnnotations"] = json!({CONFIRM: {
            "label": "meshls agent",
            "needsConfirmation": true,
            "description": format!("The agent's change to {}", name(path)),
        }});
    }

    /// The file's URI as the editor named it when it is open (editors
    /// escape characters differently), else one made from the path.
    fn uri_for(&self, path: &Path) -> Result<Url, String> {
        match self.docs.uri_of(path) {
            Some(uri) => Ok(uri),
            None => uri(path),
        }
    }

    /// The editor's language id for a file: its open document's, else one
    /// from its extension.
    fn language_id(&self, uri: &Url, path: &Path) -> Option<String> {
        self.docs
            .language_id(uri)
            .or_else(|| language_of(path).map(str::to_owned))
    }

    /// The text of a file as the editor has it, else as it is on disk.
    fn text(&self, path: &Path) -> Option<String> {
        self.open_document(path)
            .map(|(text, _)| text)
            .or_else(|| std::fs::read_to_string(path).ok())
    }

    /// Asks the language server of `at`'s file that offers `provider`.
    async fn ask(
        &self,
        at: &Spot,
        provider: &str,
        method: &str,
        extra: Value,
    ) -> Result<Value, String> {
        let uri = self.uri_for(&at.path)?;
        let language = self
            .language_id(&uri, &at.path)
            .ok_or_else(|| format!("meshls does not know the language of {}", at.path.display()))?;
        let server = self
            .downstream
            .get()
            .route(&language, provider)
            .ok_or_else(|| format!("no language server for {language} answers {method} here"))?;
        let text = self.text(&at.path).unwrap_or_default();
        let mut params = json!({
            "textDocument": {"uri": uri},
            "position": lsp_position(&text, at.line.saturating_sub(1), at.column),
        });
        if let (Value::Object(params), Value::Object(extra)) = (&mut params, extra) {
            params.extend(extra);
        }
        server
            .request_raw(method, params, QUERY_TIMEOUT)
            .await
            .map_err(|err| err.to_string())
    }

    /// Places from a `Location`, `Location[]` or `LocationLink[]` answer.
    fn places(&self, answer: &Value) -> Vec<Place> {
        let items: Vec<&Value> = match answer {
            Value::Array(items) => items.iter().collect(),
            Value::Null => Vec::new(),
            one => vec![one],
        };
        let mut texts: HashMap<PathBuf, Option<String>> = HashMap::new();
        items
            .into_iter()
            .filter_map(|item| {
                let uri = item
                    .get("targetUri")
                    .or_else(|| item.get("uri"))?
                    .as_str()?;
                let range = item
                    .get("targetSelectionRange")
                    .or_else(|| item.get("range"))?;
                let path = Url::parse(uri).ok()?.to_file_path().ok()?;
                let text = texts
                    .entry(path.clone())
                    .or_insert_with(|| self.text(&path));
                let at = spot(path, text.as_deref(), &range["start"]);
                let line_text = text
                    .as_deref()
                    .and_then(|text| line_of(text, at.line - 1))
                    .map(str::to_owned);
                Some(Place { at, line_text })
            })
            .collect()
    }

    fn finding(&self, path: PathBuf, text: Option<&str>, diagnostic: &Value) -> Finding {
        let severity = match diagnostic["severity"].as_u64() {
            Some(1) | None => "error",
            Some(2) => "warning",
            Some(3) => "information",
            _ => "hint",
        };
        let code = match &diagnostic["code"] {
            Value::String(code) => code.clone(),
            Value::Number(code) => code.to_string(),
            _ => String::new(),
        };
        Finding {
            at: spot(path, text, &diagnostic["range"]["start"]),
            severity: severity.to_owned(),
            source: diagnostic["source"].as_str().unwrap_or("").to_owned(),
            code,
            message: diagnostic["message"].as_str().unwrap_or("").to_owned(),
        }
    }

    fn findings(&self, uri: &Url, diagnostics: Vec<lsp_types::Diagnostic>) -> Vec<Finding> {
        let Ok(path) = uri.to_file_path() else {
            return Vec::new();
        };
        let text = self.text(&path);
        diagnostics
            .iter()
            .map(|diagnostic| {
                let value = serde_json::to_value(diagnostic).unwrap_or_default();
                self.finding(path.clone(), text.as_deref(), &value)
            })
            .collect()
    }

    /// The `workspace/applyEdit` for a change, against the editor's text now.
    fn edit(&self, change: FileChange) -> Result<(String, Value), String> {
        match change {
            FileChange::Create { path, content } => {
                let uri = uri(&path)?;
                let edit = json!({"documentChanges": [
                    {"kind": "create", "uri": uri, "options": {"overwrite": false, "ignoreIfExists": false}},
                    {"textDocument": {"uri": uri, "version": null}, "edits": [
                        {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "newText": content}
                    ]},
                ]});
                Ok((format!("create {}", name(&path)), edit))
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
                let edits: Vec<Value> = keep_line_breaks(&current, replacements)
                    .iter()
                    .map(|(range, new)| {
                        json!({"range": {
                            "start": byte_position(&current, range.start),
                            "end": byte_position(&current, range.end),
                        }, "newText": new})
                    })
                    .collect();
                let edit = json!({"documentChanges": [
                    {"textDocument": {"uri": uri, "version": version}, "edits": edits},
                ]});
                Ok((format!("edit {}", name(&path)), edit))
            }
        }
    }
}

impl Host for ServerHost {
    fn open_document(&self, path: &Path) -> Option<(String, i32)> {
        let uri = self.docs.uri_of(path)?;
        let (version, text, _) = self.docs.view(&uri).ok()?;
        Some((text, version))
    }

    async fn apply(&self, change: FileChange) -> Result<(), String> {
        let path = match &change {
            FileChange::Edit { path, .. } | FileChange::Create { path, .. } => path.clone(),
        };
        let seen = self.hub.publications(&path);
        let (label, mut edit) = self.edit(change)?;
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
        self.changed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path, seen);
        Ok(())
    }

    async fn diagnostics(&self, path: Option<&Path>) -> Vec<Finding> {
        match path {
            Some(path) => match uri(path) {
                Ok(uri) => {
                    let diagnostics = self.hub.for_path(path).await;
                    self.findings(&uri, diagnostics)
                }
                Err(_) => Vec::new(),
            },
            None => {
                let mut all = self.hub.all().await;
                all.sort_by(|a, b| a.0.cmp(&b.0));
                all.into_iter()
                    .flat_map(|(uri, diagnostics)| self.findings(&uri, diagnostics))
                    .collect()
            }
        }
    }

    async fn fresh_diagnostics(&self, paths: &[PathBuf]) -> Vec<Finding> {
        let waits: Vec<(&Path, u64)> = {
            let changed = self
                .changed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            paths
                .iter()
                .filter_map(|path| {
                    let seen = *changed.get(path)?;
                    // Only files a language server looks at get fresh diagnostics.
                    let language = self.language_id(&self.uri_for(path).ok()?, path)?;
                    (!self.downstream.get().of_language(&language).is_empty())
                        .then_some((path.as_path(), seen))
                })
                .collect()
        };
        if !waits.is_empty() {
            let all = futures::future::join_all(
                waits
                    .iter()
                    .map(|(path, seen)| self.hub.published_after(path, *seen)),
            );
            if tokio::time::timeout(FRESH_TIMEOUT, all).await.is_ok() {
                tokio::time::sleep(SETTLE).await;
            } else {
                tracing::info!(
                    "the language servers published no fresh diagnostics within {FRESH_TIMEOUT:?}"
                );
            }
        }
        let mut findings = Vec::new();
        for path in paths {
            findings.extend(self.diagnostics(Some(path)).await);
        }
        findings
    }

    async fn symbols(&self, path: &Path) -> Result<Vec<Symbol>, String> {
        let uri = uri(path)?;
        let language = self
            .language_id(&uri, path)
            .ok_or_else(|| format!("meshls does not know the language of {}", name(path)))?;
        let server = self
            .downstream
            .get()
            .route(&language, "documentSymbolProvider")
            .ok_or_else(|| format!("no language server for {language} lists symbols"))?;
        let answer = server
            .request_raw(
                "textDocument/documentSymbol",
                json!({"textDocument": {"uri": uri}}),
                QUERY_TIMEOUT,
            )
            .await
            .map_err(|err| err.to_string())?;
        let text = self.text(path);
        let mut out = Vec::new();
        symbols_of(&answer, path, text.as_deref(), 0, &mut out);
        Ok(out)
    }

    async fn workspace_symbols(&self, query: &str) -> Result<Vec<Symbol>, String> {
        let servers = self.downstream.get().route_any("workspaceSymbolProvider");
        if servers.is_empty() {
            return Err("no language server searches the workspace's symbols".to_owned());
        }
        let mut out = Vec::new();
        for server in servers {
            let answer = server
                .request_raw("workspace/symbol", json!({"query": query}), QUERY_TIMEOUT)
                .await
                .map_err(|err| err.to_string())?;
            for item in answer.as_array().into_iter().flatten() {
                let Some(path) = item["location"]["uri"]
                    .as_str()
                    .and_then(|uri| Url::parse(uri).ok()?.to_file_path().ok())
                else {
                    continue;
                };
                let text = self.text(&path);
                out.push(Symbol {
                    name: item["name"].as_str().unwrap_or("").to_owned(),
                    kind: kind_name(&item["kind"]).to_owned(),
                    at: spot(path, text.as_deref(), &item["location"]["range"]["start"]),
                    depth: 0,
                });
            }
        }
        Ok(out)
    }

    async fn definition(&self, at: &Spot) -> Result<Vec<Place>, String> {
        let answer = self
            .ask(
                at,
                "definitionProvider",
                "textDocument/definition",
                json!({}),
            )
            .await?;
        Ok(self.places(&answer))
    }

    async fn references(&self, at: &Spot) -> Result<Vec<Place>, String> {
        let answer = self
            .ask(
                at,
                "referencesProvider",
                "textDocument/references",
                json!({"context": {"includeDeclaration": true}}),
            )
            .await?;
        Ok(self.places(&answer))
    }

    async fn hover(&self, at: &Spot) -> Result<Option<String>, String> {
        let answer = self
            .ask(at, "hoverProvider", "textDocument/hover", json!({}))
            .await?;
        let text = match &answer["contents"] {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts
                .iter()
                .map(|part| part["value"].as_str().or(part.as_str()).unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n\n"),
            Value::Object(content) => content
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            _ => String::new(),
        };
        Ok((!text.is_empty()).then_some(text))
    }

    async fn report(&self, _: Reported) -> Result<String, String> {
        Err("findings are reported only in `meshls review`".to_owned())
    }

    async fn approve(&self, action: &str) -> bool {
        // "Always" covers every edit, or every creation, or that command.
        let kind = match action.split_once(' ') {
            Some((verb @ ("Edit" | "Create"), _)) => verb.to_owned(),
            _ => action.to_owned(),
        };
        let always = || {
            self.always
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if always().contains(&kind) {
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
        let asked = self.editor.request(
            "window/showMessageRequest",
            json!({
                "type": 3,
                "message": format!("meshls agent: {action}?"),
                "actions": [{"title": ALLOW}, {"title": ALWAYS}, {"title": DENY}],
            }),
        );
        let answer = match tokio::time::timeout(APPROVAL_TIMEOUT, asked).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(err)) => {
                tracing::info!("approval of {action:?} failed: {}", err.message);
                return false;
            }
            Err(_) => {
                tracing::info!("no answer to the approval of {action:?}: denied");
                return false;
            }
        };
        match answer["title"].as_str() {
            Some(ALLOW) => true,
            Some(ALWAYS) => {
                always().insert(kind);
                true
            }
            _ => false,
        }
    }
}

fn uri(path: &Path) -> Result<Url, String> {
    Url::from_file_path(path).map_err(|()| format!("{} is not an absolute path", path.display()))
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// Line `line` (from 0) of `text`, without its line break.
fn line_of(text: &str, line: u32) -> Option<&str> {
    text.split('\n')
        .nth(line as usize)
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// The LSP position (UTF-16) of byte `offset` of `text`.
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

/// Lines end at `\n`, `\r\n` or a lone `\r`, as LSP counts them.
pub fn byte_position(text: &str, offset: usize) -> Position {
    let bytes = text.as_bytes();
    let (mut line, mut start) = (0, 0);
    for (at, &byte) in bytes[..offset].iter().enumerate() {
        if byte == b'\n' || (byte == b'\r' && bytes.get(at + 1) != Some(&b'\n')) {
            line += 1;
            start = at + 1;
        }
    }
    let character = text[start..offset].encode_utf16().count() as u32;
    Position { line, character }
}

/// The LSP position of column `column` (in characters) of line `line`
/// (from 0).
fn lsp_position(text: &str, line: u32, column: u32) -> Position {
    let character = line_of(text, line).map_or(column, |l| {
        l.chars()
            .take(column as usize)
            .map(char::len_utf16)
            .sum::<usize>() as u32
    });
    Position { line, character }
}

/// The agent's spot (line from 1, column in characters) for an LSP
/// position; without the text, UTF-16 units count as characters.
fn spot(path: PathBuf, text: Option<&str>, position: &Value) -> Spot {
    let line = position["line"].as_u64().unwrap_or(0) as u32;
    let units = position["character"].as_u64().unwrap_or(0) as usize;
    let column = match text.and_then(|text| line_of(text, line)) {
        Some(l) => {
            let mut seen = 0;
            l.chars()
                .take_while(|c| {
                    seen += c.len_utf16();
                    seen <= units
                })
                .count() as u32
        }
        None => units as u32,
    };
    Spot {
        path,
        line: line + 1,
        column,
    }
}

fn symbols_of(answer: &Value, path: &Path, text: Option<&str>, depth: u32, out: &mut Vec<Symbol>) {
    for item in answer.as_array().into_iter().flatten() {
        let start = item
            .get("selectionRange")
            .or_else(|| item.pointer("/location/range"))
            .or_else(|| item.get("range"))
            .map(|range| &range["start"]);
        out.push(Symbol {
            name: item["name"].as_str().unwrap_or("").to_owned(),
            kind: kind_name(&item["kind"]).to_owned(),
            at: spot(path.to_path_buf(), text, start.unwrap_or(&Value::Null)),
            depth,
        });
        if let Some(children) = item.get("children") {
            symbols_of(children, path, text, depth + 1, out);
        }
    }
}

/// The name of an LSP `SymbolKind`.
fn kind_name(kind: &Value) -> &'static str {
    const NAMES: [&str; 26] = [
        "file",
        "module",
        "namespace",
        "package",
        "class",
        "method",
        "property",
        "field",
        "constructor",
        "enum",
        "interface",
        "function",
        "variable",
        "constant",
        "string",
        "number",
        "boolean",
        "array",
        "object",
        "key",
        "null",
        "enum member",
        "struct",
        "event",
        "operator",
        "type parameter",
    ];
    kind.as_u64()
        .and_then(|kind| NAMES.get((kind as usize).checked_sub(1)?))
        .copied()
        .unwrap_or("symbol")
}
