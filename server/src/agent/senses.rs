//! The agent's senses: the real language servers behind meshls, asked
//! about a file as the editor has it (its open buffer, else the disk), with
//! their answers in the agent's plain terms (lines from 1, columns in
//! characters). The editor's host and `meshls review`'s headless one both
//! see through it.
//!
//! A server may point anywhere (a repository can make one import a file
//! outside the workspace). The lines of places it points at are quoted to
//! the agent only inside the workspace (not in `.git`, not a file that
//! looks like secrets), or in a dependency's source when
//! `agent.read_dependencies` allows; elsewhere the place is given, marked
//! outside, without its text.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use lsp_types::{Position, Url};
use serde_json::{json, Value};

use meshls_agent::{
    files,
    host::{Place, Problem, Spot, Symbol},
    paths, permissions,
};
use meshls_proxy::Servers;

use meshls_analysis::{lsp_id_of_path, text};

use crate::state::documents::Documents;

/// How long a language server may take to answer the agent.
const QUERY_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone)]
pub struct Senses {
    /// The editor's open documents (none, headless).
    pub docs: Arc<Documents>,
    pub servers: Arc<Servers>,
    /// The workspace root: lines inside it may be quoted.
    pub root: PathBuf,
    /// Whether lines of dependencies' sources may be quoted too.
    pub read_dependencies: bool,
}

/// Whether the agent may be shown the text of a file a server points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    Inside,
    Dependency,
    Outside,
}

impl Senses {
    /// The file's URI as the editor named it when it is open (editors
    /// escape characters differently), else one made from the path.
    pub fn uri_for(&self, path: &Path) -> Result<Url, String> {
        match self.docs.uri_of(path) {
            Some(uri) => Ok(uri),
            None => uri(path),
        }
    }

    /// The editor's language id for a file: its open document's, else one
    /// from its extension.
    pub fn language_id(&self, uri: &Url, path: &Path) -> Option<String> {
        self.docs
            .language_id(uri)
            .or_else(|| lsp_id_of_path(path).map(str::to_owned))
    }

    /// The text of a file as the editor has it, else as it is on disk
    /// (a regular file only: opening a FIFO would wait for a writer).
    pub fn text(&self, path: &Path) -> Option<String> {
        self.open_document(path)
            .map(|(text, _)| text)
            .or_else(|| files::read_regular(path, files::MAX_READ).ok())
    }

    /// What the agent may see of a file a server points at.
    fn quote(&self, path: &Path) -> Quote {
        let Some(given) = path.to_str() else {
            return Quote::Outside;
        };
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if let Ok(inside) = paths::resolve(&self.root, given) {
            let relative = paths::relative(&self.root, &inside);
            // By its name, or that of the file a link leads to.
            let secret = permissions::looks_secret(&relative)
                || real.to_str().is_some_and(permissions::looks_secret);
            return if secret {
                Quote::Outside
            } else {
                Quote::Inside
            };
        }
        let secret = real.to_str().is_some_and(permissions::looks_secret);
        if self.read_dependencies && !secret && is_dependency(&real) {
            Quote::Dependency
        } else {
            Quote::Outside
        }
    }

    /// Asks the language server of `at`'s file that offers `provider`.
    pub async fn ask(
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
            .servers
            .route(&language, provider)
            .ok_or_else(|| format!("no language server for {language} answers {method} here"))?;
        let text = self.text(&at.path).unwrap_or_default();
        let mut params = json!({
            "textDocument": {"uri": uri},
            "position": text::char_column_position(&text, at.line.saturating_sub(1), at.column),
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
    pub fn places(&self, answer: &Value) -> Vec<Place> {
        let items: Vec<&Value> = match answer {
            Value::Array(items) => items.iter().collect(),
            Value::Null => Vec::new(),
            one => vec![one],
        };
        // Each file is judged and read once, however many places are in it.
        let mut texts: HashMap<PathBuf, (Quote, Option<String>)> = HashMap::new();
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
                let (quote, text) = texts.entry(path.clone()).or_insert_with(|| {
                    let quote = self.quote(&path);
                    let text = match quote {
                        Quote::Inside => self
                            .open_document(&path)
                            .map(|(text, _)| text)
                            .or_else(|| files::read_text(&self.root, &path, files::MAX_READ).ok()),
                        Quote::Dependency => files::read_regular(&path, files::MAX_READ).ok(),
                        Quote::Outside => None,
                    };
                    (quote, text)
                });
                let quote = *quote;
                let at = spot(path, text.as_deref(), &range["start"]);
                let line_text = text
                    .as_deref()
                    .and_then(|text| text::line(text, at.line - 1))
                    .map(str::to_owned);
                Some(Place {
                    at,
                    line_text,
                    outside: quote == Quote::Outside,
                })
            })
            .collect()
    }

    pub fn finding(&self, path: PathBuf, text: Option<&str>, diagnostic: &Value) -> Problem {
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
        Problem {
            at: spot(path, text, &diagnostic["range"]["start"]),
            severity: severity.to_owned(),
            source: diagnostic["source"].as_str().unwrap_or("").to_owned(),
            code,
            message: diagnostic["message"].as_str().unwrap_or("").to_owned(),
        }
    }

    pub fn findings(&self, uri: &Url, diagnostics: Vec<lsp_types::Diagnostic>) -> Vec<Problem> {
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

    /// The editor's copy of a file it has open: the text and its version.
    pub fn open_document(&self, path: &Path) -> Option<(String, i32)> {
        let uri = self.docs.uri_of(path)?;
        let (version, text, _) = self.docs.view(&uri).ok()?;
        Some((text, version))
    }

    pub async fn symbols(&self, path: &Path) -> Result<Vec<Symbol>, String> {
        let uri = uri(path)?;
        let language = self
            .language_id(&uri, path)
            .ok_or_else(|| format!("meshls does not know the language of {}", name(path)))?;
        let server = self
            .servers
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

    pub async fn workspace_symbols(&self, query: &str) -> Result<Vec<Symbol>, String> {
        let servers = self.servers.route_any("workspaceSymbolProvider");
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

    pub async fn definition(&self, at: &Spot) -> Result<Vec<Place>, String> {
        let answer = self
            .ask(
                at,
                "definitionProvider",
                "textDocument/definition",
                json!({}),
            )
            .await?;
        self.places_off_the_runtime(answer).await
    }

    /// [`Senses::places`], on the blocking pool: it reads files.
    async fn places_off_the_runtime(&self, answer: Value) -> Result<Vec<Place>, String> {
        let senses = self.clone();
        tokio::task::spawn_blocking(move || senses.places(&answer))
            .await
            .map_err(|err| format!("reading the places failed inside meshls: {err}"))
    }

    pub async fn references(&self, at: &Spot) -> Result<Vec<Place>, String> {
        let answer = self
            .ask(
                at,
                "referencesProvider",
                "textDocument/references",
                json!({"context": {"includeDeclaration": true}}),
            )
            .await?;
        self.places_off_the_runtime(answer).await
    }

    pub async fn hover(&self, at: &Spot) -> Result<Option<String>, String> {
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
}

/// Where the toolchains and package caches keep dependencies' sources,
/// found once (they do not move while meshls runs).
fn dependency_roots() -> &'static [PathBuf] {
    static ROOTS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let home = dirs::home_dir().unwrap_or_default();
        let from_env = |name: &str, default: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(default))
        };
        let (cargo, rustup) = (
            from_env("CARGO_HOME", ".cargo"),
            from_env("RUSTUP_HOME", ".rustup"),
        );
        let go = from_env("GOPATH", "go");
        let mut roots = vec![
            cargo.join("registry"),
            cargo.join("git"),
            rustup.join("toolchains"),
            go.join("pkg").join("mod"),
            PathBuf::from("/usr/include"),
            PathBuf::from("/usr/local/include"),
            PathBuf::from("/usr/lib/gcc"),
            PathBuf::from("/usr/lib/go"),
            PathBuf::from("/usr/local/go"),
        ];
        roots.extend(std::env::var_os("GOROOT").map(PathBuf::from));
        roots.extend(std::env::var_os("GOMODCACHE").map(PathBuf::from));
        roots
            .into_iter()
            .map(|root| root.canonicalize().unwrap_or(root))
            .collect()
    })
}

/// Whether `path` (real) is a dependency's source: in a `node_modules`,
/// a Python `site-packages` or typeshed's stubs, the Rust toolchain or
/// cargo's registry and git caches, Go's module cache or root, or the
/// system's C and C++ headers.
fn is_dependency(path: &Path) -> bool {
    let by_name = path.components().any(|part| {
        part.as_os_str().to_str().is_some_and(|name| {
            matches!(
                name,
                "node_modules" | "site-packages" | "dist-packages" | "typeshed-fallback"
            )
        })
    });
    if by_name {
        return true;
    }
    dependency_roots()
        .iter()
        .any(|root| path.starts_with(root) && path != root)
        || path
            .to_str()
            .is_some_and(|path| path.starts_with("/usr/lib/llvm-"))
}

pub fn uri(path: &Path) -> Result<Url, String> {
    Url::from_file_path(path).map_err(|()| format!("{} is not an absolute path", path.display()))
}

pub fn name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// The agent's spot (line from 1, column in characters) for an LSP
/// position; without the text, UTF-16 units count as characters.
fn spot(path: PathBuf, text: Option<&str>, position: &Value) -> Spot {
    let line = position["line"].as_u64().unwrap_or(0) as u32;
    let units = position["character"].as_u64().unwrap_or(0) as u32;
    let column = text.map_or(units, |text| {
        text::char_column(text, Position::new(line, units))
    });
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
