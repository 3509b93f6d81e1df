//! Editor requests and notifications that meshls forwards to the servers,
//! kept as JSON from end to end: chosen by method, routed by the document's
//! language and the servers' capabilities, merged when several servers
//! answer, and tagged so a resolve goes back to the server that made the
//! item. Typing them would cost two conversions each way and lose every
//! field lsp-types does not know.
//!
//! An answer that needs no change (one server answered, and no tag is
//! needed because no other server makes such items) goes on as the text the
//! server sent: a completion list of a thousand items is never parsed.
//!
//! The transport calls [`Router::request`] and [`Router::notification`] in
//! message order; each picks its server and queues the message before the
//! transport reads the next one.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use futures::{future::BoxFuture, FutureExt as _};
use lsp_types::Url;
use serde_json::{json, value::RawValue, Map, Value};

use meshls_proxy::{jsonrpc::ResponseError, Client, Servers};

use crate::ext;
use crate::{
    lsp::actions, state::documents::Documents, state::downstream::Downstream, state::editor::Editor,
};

/// How long a forwarded request may take. Generous: servers index.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// LSP's RequestFailed: the request was valid, the answer could not be had.
const REQUEST_FAILED: i64 = -32803;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

pub type Answer = BoxFuture<'static, Result<Box<RawValue>, ResponseError>>;

#[derive(Clone, Copy)]
enum Route {
    /// The first server of the document's language that offers the
    /// provider; null when there is none.
    First(&'static str),
    /// Every such server; the answers are concatenated, items tagged.
    Merge(&'static str, Items),
    /// meshls answers itself for the languages it parses; otherwise First.
    OwnElseFirst(&'static str),
    /// Back to the server named in the tag of the item at this pointer of
    /// the params (the params themselves when empty), or else to the only
    /// server offering the provider that made it; items in the answer are
    /// tagged again.
    Resolve(&'static str, &'static str, Items),
    /// `workspace/executeCommand`: meshls's own commands to meshls, the
    /// others to the server that advertised the command.
    Command(&'static str),
}

/// Where the items to tag are in an answer.
#[derive(Clone, Copy)]
enum Items {
    /// The answer is one item.
    One,
    /// A list of items (or `{items: [...]}` for completion).
    List,
    /// A list of code actions and commands: only the actions have `data`.
    Actions,
    /// A list of `{from: item}` or `{to: item}` (call hierarchy calls).
    Field(&'static str),
    /// Locations: concatenated without duplicates, nothing tagged.
    Locations,
}

/// The one table of what meshls forwards: each standard method, its route,
/// and through it the provider a server must offer. What meshls
/// advertises of the servers' capabilities is derived from it
/// ([`advertised_providers`]), so a method is routed exactly when its
/// provider is advertised.
const ROUTES: &[(&str, Route)] = {
    use Items::*;
    use Route::*;
    &[
        ("textDocument/hover", First("hoverProvider")),
        ("textDocument/definition", First("definitionProvider")),
        ("textDocument/declaration", First("declarationProvider")),
        (
            "textDocument/typeDefinition",
            First("typeDefinitionProvider"),
        ),
        (
            "textDocument/implementation",
            First("implementationProvider"),
        ),
        (
            "textDocument/documentHighlight",
            First("documentHighlightProvider"),
        ),
        ("textDocument/signatureHelp", First("signatureHelpProvider")),
        (
            "textDocument/formatting",
            First("documentFormattingProvider"),
        ),
        (
            "textDocument/rangeFormatting",
            First("documentRangeFormattingProvider"),
        ),
        (
            "textDocument/onTypeFormatting",
            First("documentOnTypeFormattingProvider"),
        ),
        ("textDocument/rename", First("renameProvider")),
        ("textDocument/prepareRename", First("renameProvider")),
        (
            "textDocument/linkedEditingRange",
            First("linkedEditingRangeProvider"),
        ),
        ("textDocument/moniker", First("monikerProvider")),
        ("textDocument/documentColor", First("colorProvider")),
        ("textDocument/colorPresentation", First("colorProvider")),
        ("textDocument/inlineValue", First("inlineValueProvider")),
        (
            "textDocument/semanticTokens/full",
            First("semanticTokensProvider"),
        ),
        (
            "textDocument/semanticTokens/full/delta",
            First("semanticTokensProvider"),
        ),
        (
            "textDocument/semanticTokens/range",
            First("semanticTokensProvider"),
        ),
        (
            "textDocument/references",
            Merge("referencesProvider", Locations),
        ),
        ("textDocument/completion", Merge("completionProvider", List)),
        (
            "textDocument/codeAction",
            Merge("codeActionProvider", Actions),
        ),
        ("textDocument/codeLens", Merge("codeLensProvider", List)),
        ("textDocument/inlayHint", Merge("inlayHintProvider", List)),
        (
            "textDocument/documentLink",
            Merge("documentLinkProvider", List),
        ),
        (
            "textDocument/prepareCallHierarchy",
            Merge("callHierarchyProvider", List),
        ),
        (
            "textDocument/prepareTypeHierarchy",
            Merge("typeHierarchyProvider", List),
        ),
        ("workspace/symbol", Merge("workspaceSymbolProvider", List)),
        (
            "textDocument/documentSymbol",
            OwnElseFirst("documentSymbolProvider"),
        ),
        (
            "textDocument/foldingRange",
            OwnElseFirst("foldingRangeProvider"),
        ),
        (
            "textDocument/selectionRange",
            OwnElseFirst("selectionRangeProvider"),
        ),
        (
            "completionItem/resolve",
            Resolve("", "completionProvider", One),
        ),
        ("codeAction/resolve", Resolve("", "codeActionProvider", One)),
        ("codeLens/resolve", Resolve("", "codeLensProvider", One)),
        ("inlayHint/resolve", Resolve("", "inlayHintProvider", One)),
        (
            "documentLink/resolve",
            Resolve("", "documentLinkProvider", One),
        ),
        (
            "workspaceSymbol/resolve",
            Resolve("", "workspaceSymbolProvider", One),
        ),
        (
            "callHierarchy/incomingCalls",
            Resolve("/item", "callHierarchyProvider", Field("from")),
        ),
        (
            "callHierarchy/outgoingCalls",
            Resolve("/item", "callHierarchyProvider", Field("to")),
        ),
        (
            "typeHierarchy/supertypes",
            Resolve("/item", "typeHierarchyProvider", List),
        ),
        (
            "typeHierarchy/subtypes",
            Resolve("/item", "typeHierarchyProvider", List),
        ),
        (
            "workspace/executeCommand",
            Command("executeCommandProvider"),
        ),
    ]
};

/// The server-specific part of the capabilities (`experimental`): passed
/// on as the servers send it, for the methods of their own that meshls
/// forwards by name (see [`Router::owner`]).
const PASSED_ON: &str = "experimental";

/// Which route a standard method takes; `None` for the methods meshls
/// handles itself and those it does not know.
fn route_of(method: &str) -> Option<Route> {
    static BY_METHOD: std::sync::OnceLock<HashMap<&'static str, Route>> =
        std::sync::OnceLock::new();
    BY_METHOD
        .get_or_init(|| ROUTES.iter().copied().collect())
        .get(method)
        .copied()
}

impl Route {
    /// The provider a server must offer for this route.
    fn provider(self) -> &'static str {
        match self {
            Route::First(provider)
            | Route::Merge(provider, _)
            | Route::OwnElseFirst(provider)
            | Route::Resolve(_, provider, _)
            | Route::Command(provider) => provider,
        }
    }
}

/// The providers of the servers' capabilities that meshls advertises:
/// those of its routes, and what it passes on.
pub fn advertised_providers() -> Vec<&'static str> {
    let mut providers: Vec<&'static str> =
        ROUTES.iter().map(|(_, route)| route.provider()).collect();
    providers.push(PASSED_ON);
    providers.sort_unstable();
    providers.dedup();
    providers
}

/// Whether items from `provider` must carry the name of the server that
/// made them: only when more than one server makes such items. With one,
/// an untagged item can only have come from it, and the answer goes on
/// unchanged.
fn needs_tags(servers: &Servers, provider: &str) -> bool {
    servers.route_any(provider).len() > 1
}

/// Methods meshls itself answers (through tower-lsp), whatever the servers do.
pub fn is_own(method: &str) -> bool {
    matches!(
        method,
        "initialize"
            | "initialized"
            | "shutdown"
            | "exit"
            | "textDocument/didOpen"
            | "textDocument/didChange"
            | "textDocument/didClose"
            | "textDocument/didSave"
            | "textDocument/willSave"
            | "workspace/didChangeConfiguration"
    ) || method.starts_with(ext::METHOD_PREFIX)
        || method.starts_with("$/")
}

pub struct Router {
    docs: Arc<Documents>,
    downstream: Arc<Downstream>,
    editor: Arc<Editor>,
}

impl Router {
    pub fn new(docs: Arc<Documents>, downstream: Arc<Downstream>, editor: Arc<Editor>) -> Router {
        Router {
            docs,
            downstream,
            editor,
        }
    }

    /// The answer to a request meshls forwards, or `None` for one meshls
    /// answers itself. The server is chosen now, and the request is queued
    /// to it when the answer is first polled.
    pub fn request(&self, method: &str, params: Value) -> Option<Answer> {
        let servers = self.downstream.get();
        if let Some(Route::Command(_)) = route_of(method) {
            let command = params.get("command").and_then(Value::as_str).unwrap_or("");
            if command.starts_with(ext::COMMAND_PREFIX) {
                return None;
            }
            let advertised = servers.route_command(command);
            let Some(server) = advertised.or_else(|| named_by(&servers.all(), command, '.')) else {
                return Some(fail(
                    INVALID_PARAMS,
                    format!("no language server meshls runs offers the command {command}"),
                ));
            };
            return Some(forward(server, method, params));
        }
        if method == "textDocument/codeAction" {
            return Some(self.code_actions(&servers, params));
        }
        let Some(route) = route_of(method) else {
            if is_own(method) {
                return None;
            }
            return Some(match self.owner(&servers, method, &params) {
                Some(server) => forward(server, method, params),
                None => fail(
                    METHOD_NOT_FOUND,
                    format!(
                        "meshls does not handle {method}, and no language server it runs claims it"
                    ),
                ),
            });
        };
        let language = self.language(&params);
        match route {
            // Handled above, before the route was looked up.
            Route::Command(_) => None,
            Route::OwnElseFirst(_)
                if language
                    .as_deref()
                    .is_some_and(|id| meshls_analysis::Language::for_lsp_id(id).is_some()) =>
            {
                None
            }
            // Unknown documents: meshls's own handler says why.
            Route::OwnElseFirst(_) if language.is_none() => None,
            Route::First(provider) | Route::OwnElseFirst(provider) => {
                let target = language.and_then(|language| servers.route(&language, provider));
                Some(match target {
                    None => async { Ok(null()) }.boxed(),
                    Some(server) if provider == "semanticTokensProvider" => {
                        let remap = self.downstream.token_remap(&servers, server.name());
                        let answer = forward(server, method, params);
                        let Some(remap) = remap else {
                            return Some(answer);
                        };
                        async move {
                            let mut value = parse(answer.await?)?;
                            remap.apply(&mut value);
                            Ok(text(&value))
                        }
                        .boxed()
                    }
                    Some(server) => forward(server, method, params),
                })
            }
            Route::Merge(provider, items) => {
                let targets = if method == "workspace/symbol" {
                    servers.route_any(provider)
                } else {
                    language
                        .map(|language| servers.route_all(&language, provider))
                        .unwrap_or_default()
                };
                let tagged = needs_tags(&servers, provider);
                Some(merge(targets, method, params, items, tagged))
            }
            Route::Resolve(pointer, provider, items) => {
                let mut params = params;
                let producers = servers.route_any(provider);
                let tagged = producers.len() > 1;
                let server = match params.pointer_mut(pointer).and_then(untag) {
                    // meshls's own code actions are whole already.
                    Some(name) if name == ext::OWN_TAG => {
                        let item = params.pointer(pointer).cloned().unwrap_or_default();
                        return Some(async move { Ok(text(&item)) }.boxed());
                    }
                    Some(name) => servers.client(&name),
                    None if !tagged => producers.into_iter().next(),
                    None => None,
                };
                let Some(server) = server else {
                    return Some(fail(
                        INVALID_PARAMS,
                        "this item did not come from a language server meshls runs, so there is nothing to resolve".to_owned(),
                    ));
                };
                let name = server.name().to_owned();
                let answer = forward(server, method, params);
                if !tagged {
                    return Some(answer);
                }
                Some(
                    async move {
                        let mut value = parse(answer.await?)?;
                        tag_items(&mut value, items, &name);
                        Ok(text(&value))
                    }
                    .boxed(),
                )
            }
        }
    }

    /// The servers' code actions for the document's language, merged, then
    /// meshls's own (`actions.rs`), computed from the document as it is
    /// now. When every server fails, meshls's own still come.
    fn code_actions(&self, servers: &Servers, params: Value) -> Answer {
        let method = "textDocument/codeAction";
        let language = self.language(&params);
        let targets = language
            .map(|language| servers.route_all(&language, "codeActionProvider"))
            .unwrap_or_default();
        let own = self.own_actions(&params);
        let only: Option<Vec<String>> = params
            .pointer("/context/only")
            .and_then(|o| serde_json::from_value(o.clone()).ok());
        let questions = actions::questions(&self.editor.pending_questions(), only.as_deref());
        let theirs = if targets.is_empty() {
            None
        } else {
            let tagged = needs_tags(servers, "codeActionProvider");
            Some(merge(targets, method, params, Items::Actions, tagged))
        };
        async move {
            let own = match own {
                Some(own) => own.await,
                None => Vec::new(),
            };
            let merged = match theirs {
                None => Vec::new(),
                Some(theirs) => match theirs.await.and_then(parse) {
                    Ok(Value::Array(list)) => list,
                    Ok(_) => Vec::new(),
                    Err(err) if own.is_empty() => return Err(err),
                    Err(err) => {
                        tracing::warn!("code actions: {}", err.message);
                        Vec::new()
                    }
                },
            };
            if merged.is_empty() && own.is_empty() && questions.is_empty() {
                return Ok(null());
            }
            // The agent's questions first: the user is waiting on them.
            let mut merged: Vec<Value> = questions.into_iter().chain(merged).collect();
            merged.extend(own);
            Ok(text(&Value::Array(merged)))
        }
        .boxed()
    }

    /// meshls's own code actions, from the document captured now and
    /// computed off the async workers; `None` for a document not open.
    fn own_actions(&self, params: &Value) -> Option<BoxFuture<'static, Vec<Value>>> {
        let uri = Url::parse(params.pointer("/textDocument/uri")?.as_str()?).ok()?;
        let range: lsp_types::Range = serde_json::from_value(params.get("range")?.clone()).ok()?;
        let diagnostics: Vec<lsp_types::Diagnostic> = params
            .pointer("/context/diagnostics")
            .and_then(|d| serde_json::from_value(d.clone()).ok())
            .unwrap_or_default();
        let only: Option<Vec<String>> = params
            .pointer("/context/only")
            .and_then(|o| serde_json::from_value(o.clone()).ok());
        let capture = self.docs.capture(&uri).ok()?;
        let docs = self.docs.clone();
        Some(
            async move {
                let listed = docs
                    .compute(&uri.clone(), capture, move |snap| {
                        actions::list(snap, &uri, range, &diagnostics, only.as_deref())
                    })
                    .await;
                listed.unwrap_or_else(|err| {
                    tracing::error!("listing meshls's code actions failed: {err}");
                    Vec::new()
                })
            }
            .boxed(),
        )
    }

    /// Forwards a notification meshls does not handle itself; returns
    /// whether it was one of those.
    pub fn notification(&self, method: &str, params: &Value) -> bool {
        if is_own(method) {
            return false;
        }
        let servers = self.downstream.get();
        match method {
            "workspace/didChangeWatchedFiles" => {
                for server in self.downstream.watchers(&servers) {
                    let _ = server.notify_raw(method, params.clone());
                }
            }
            "workspace/didChangeWorkspaceFolders" => {
                for server in servers.all() {
                    let _ = server.notify_raw(method, params.clone());
                }
            }
            "window/workDoneProgress/cancel" => {
                let token = params.get("token").cloned().unwrap_or_default();
                if token
                    .as_str()
                    .is_some_and(|token| self.editor.cancel_progress(token))
                {
                    return true;
                }
                if let Some((server, token)) = self.downstream.progress_owner(&token) {
                    if let Some(server) = servers.client(&server) {
                        let _ = server.notify_raw(method, json!({ "token": token }));
                    }
                }
            }
            _ => match self.owner(&servers, method, params) {
                Some(server) => {
                    let _ = server.notify_raw(method, params.clone());
                }
                None => tracing::debug!(%method, "a notification no server claims"),
            },
        }
        true
    }

    /// The language of the document the params name, if it is open.
    fn language(&self, params: &Value) -> Option<String> {
        let uri = document_of(params)?;
        self.docs.language_id(&Url::parse(uri).ok()?)
    }

    /// The server that owns a method meshls does not know, such as
    /// `rust-analyzer/expandMacro` or clangd's `textDocument/switchSourceHeader`:
    /// the one named by its prefix, else the first of the document's language,
    /// else the only server running.
    fn owner(&self, servers: &Servers, method: &str, params: &Value) -> Option<Client> {
        let all = servers.all();
        if let Some(server) = named_by(&all, method, '/') {
            return Some(server);
        }
        if let Some(language) = self.language(params) {
            return servers.of_language(&language).into_iter().next();
        }
        match all.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        }
    }
}

/// The server a method or command names before its first `separator`
/// (`rust-analyzer/expandMacro`, `pyright.createtypestub`: servers run
/// commands they do not list, as pyright does with its code actions').
fn named_by(servers: &[Client], name: &str, separator: char) -> Option<Client> {
    let prefix = name
        .split(separator)
        .next()
        .unwrap_or("")
        .trim_start_matches('_');
    let named = servers.iter().find(|server| {
        let server = server.name();
        !prefix.is_empty() && (server.starts_with(prefix) || prefix.starts_with(server))
    });
    named.cloned()
}

/// The URI of the document a request is about.
fn document_of(params: &Value) -> Option<&str> {
    params
        .pointer("/textDocument/uri")
        .or_else(|| params.pointer("/item/uri"))
        .and_then(Value::as_str)
}

fn fail(code: i64, message: String) -> Answer {
    async move {
        Err(ResponseError {
            code,
            message,
            data: None,
        })
    }
    .boxed()
}

/// Sends one request to `server`; the answer as the server sent it, or its
/// error as the editor should see it.
fn forward(server: Client, method: &str, params: Value) -> Answer {
    let method = method.to_owned();
    async move {
        server
            .request_verbatim(&method, params, REQUEST_TIMEOUT)
            .await
            .map_err(proxy_error)
    }
    .boxed()
}

fn null() -> Box<RawValue> {
    Box::<RawValue>::default()
}

/// An answer's text as JSON, for the answers meshls changes.
fn parse(answer: impl AsRef<RawValue>) -> Result<Value, ResponseError> {
    serde_json::from_str(answer.as_ref().get()).map_err(|err| ResponseError {
        code: REQUEST_FAILED,
        message: format!("a language server answered with JSON meshls cannot read: {err}"),
        data: None,
    })
}

fn text(value: &Value) -> Box<RawValue> {
    // A JSON value always serializes.
    serde_json::value::to_raw_value(value).unwrap_or_default()
}

/// Asks every server at once and merges their answers, tagging the items
/// when `tagged`. Fails only when every server failed; a server that
/// answers null adds nothing. One server's answer, untagged, goes on as it
/// came.
fn merge(servers: Vec<Client>, method: &str, params: Value, items: Items, tagged: bool) -> Answer {
    if let ([server], false) = (servers.as_slice(), tagged) {
        return forward(server.clone(), method, params);
    }
    let calls: Vec<_> = servers
        .iter()
        .map(|server| {
            let name = server.name().to_owned();
            forward(server.clone(), method, params.clone()).map(move |answer| (name, answer))
        })
        .collect();
    let method = method.to_owned();
    async move {
        let answers = futures::future::join_all(calls).await;
        if answers.is_empty() {
            return Ok(null());
        }
        let mut merged = Vec::new();
        let mut incomplete = false;
        let mut first_error = None;
        let mut any = false;
        for (name, answer) in answers {
            let mut value = match answer.and_then(parse) {
                Ok(value) => value,
                Err(err) => {
                    tracing::warn!(server = %name, %method, "{}", err.message);
                    first_error.get_or_insert(err);
                    continue;
                }
            };
            any = true;
            // Completion may answer `{isIncomplete, items}`.
            if let Some(object) = value.as_object_mut() {
                incomplete |= object.get("isIncomplete") == Some(&Value::Bool(true));
                value = object.remove("items").unwrap_or(Value::Null);
            }
            if tagged {
                tag_items(&mut value, items, &name);
            }
            if let Value::Array(list) = value {
                merged.extend(list);
            }
        }
        if !any {
            return Err(first_error.unwrap_or_else(|| ResponseError {
                code: REQUEST_FAILED,
                message: format!("no language server answered {method}"),
                data: None,
            }));
        }
        if let Items::Locations = items {
            let mut seen = HashSet::new();
            merged.retain(|location| seen.insert(location.to_string()));
        }
        Ok(text(&if method == "textDocument/completion" {
            json!({ "isIncomplete": incomplete, "items": merged })
        } else {
            Value::Array(merged)
        }))
    }
    .boxed()
}

/// Marks the items of an answer as `server`'s.
fn tag_items(answer: &mut Value, items: Items, server: &str) {
    match items {
        Items::Locations => {}
        Items::One => tag(answer, server),
        Items::List => {
            let list = match answer {
                Value::Object(object) => object.get_mut("items"),
                other => Some(other),
            };
            if let Some(Value::Array(list)) = list {
                list.iter_mut().for_each(|item| tag(item, server));
            }
        }
        Items::Actions => {
            if let Value::Array(list) = answer {
                // A bare Command has a string `command`; an action does not.
                list.iter_mut()
                    .filter(|item| !item.get("command").is_some_and(Value::is_string))
                    .for_each(|item| tag(item, server));
            }
        }
        Items::Field(field) => {
            if let Value::Array(list) = answer {
                list.iter_mut()
                    .filter_map(|call| call.get_mut(field))
                    .for_each(|item| tag(item, server));
            }
        }
    }
}

/// Wraps an item's `data` with the name of the server that made it.
pub fn tag(item: &mut Value, server: &str) {
    let Some(object) = item.as_object_mut() else {
        return;
    };
    let original = object.remove("data").unwrap_or(Value::Null);
    let mut marked = Map::new();
    marked.insert(ext::SERVER_TAG.to_owned(), Value::from(server));
    marked.insert("data".to_owned(), original);
    object.insert("data".to_owned(), Value::Object(marked));
}

/// Takes the mark off an item's `data`, restoring the server's own; returns
/// the server it names.
pub fn untag(item: &mut Value) -> Option<String> {
    let object = item.as_object_mut()?;
    let Some(Value::Object(mut marked)) = object.remove("data") else {
        return None;
    };
    let Some(Value::String(server)) = marked.remove(ext::SERVER_TAG) else {
        // Not ours after all: put it back as it was.
        object.insert("data".to_owned(), Value::Object(marked));
        return None;
    };
    match marked.remove("data") {
        Some(data) if !data.is_null() => {
            object.insert("data".to_owned(), data);
        }
        _ => {}
    }
    Some(server)
}

/// A downstream failure as the editor sees it: the server's own error as
/// it sent it, or RequestFailed with one sentence saying what happened.
pub fn proxy_error(err: meshls_proxy::Error) -> ResponseError {
    match err {
        meshls_proxy::Error::Server {
            code,
            message,
            data,
            ..
        } => ResponseError {
            code,
            message,
            data,
        },
        other => ResponseError {
            code: REQUEST_FAILED,
            message: other.to_string(),
            data: None,
        },
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn what_meshls_advertises_is_what_it_routes() {
        let advertised = super::advertised_providers();
        for (method, route) in super::ROUTES {
            assert!(advertised.contains(&route.provider()), "{method}");
            assert!(super::route_of(method).is_some(), "{method}");
        }
        for provider in &advertised {
            assert!(
                *provider == super::PASSED_ON
                    || super::ROUTES
                        .iter()
                        .any(|(_, route)| route.provider() == *provider),
                "{provider} is advertised but nothing is routed by it"
            );
        }
        // Routed, so advertised: lsp-types has no field for it, but the
        // editor gets it (the transport adds it to `initialize`'s answer).
        assert!(advertised.contains(&"typeHierarchyProvider"));
        assert!(advertised.contains(&"executeCommandProvider"));
        assert!(
            !advertised.contains(&"diagnosticProvider"),
            "pull diagnostics are not routed"
        );
    }

    use super::*;

    #[test]
    fn tags_come_off_as_they_went_on() {
        for original in [
            json!({"label": "x"}),
            json!({"label": "x", "data": 7}),
            json!({"label": "x", "data": {"meshlsServer": 1}}),
        ] {
            let mut item = original.clone();
            tag(&mut item, "pyright");
            assert_eq!(item["data"]["meshlsServer"], "pyright");
            assert_eq!(untag(&mut item).as_deref(), Some("pyright"));
            assert_eq!(item, original);
        }
        let mut foreign = json!({"data": {"other": 1}});
        assert_eq!(untag(&mut foreign), None);
        assert_eq!(foreign, json!({"data": {"other": 1}}));
    }

    #[test]
    fn only_code_actions_are_tagged_not_bare_commands() {
        let mut answer = json!([
            {"title": "Run", "command": "x.run", "arguments": []},
            {"title": "Fix", "kind": "quickfix", "command": {"title": "t", "command": "c"}},
        ]);
        tag_items(&mut answer, Items::Actions, "ts");
        assert!(answer[0].get("data").is_none());
        assert_eq!(answer[1]["data"]["meshlsServer"], "ts");
    }

    #[test]
    fn call_hierarchy_calls_tag_their_items() {
        let mut answer = json!([{"from": {"name": "f"}, "fromRanges": []}]);
        tag_items(&mut answer, Items::Field("from"), "clangd");
        assert_eq!(answer[0]["from"]["data"]["meshlsServer"], "clangd");
    }
}
