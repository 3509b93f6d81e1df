//! The agent's tools, by their stable names (part of the product's
//! contract): the file tools `read_file`, `list_files`, `grep`,
//! `edit_file`, `write_file`, and the language servers' `diagnostics`,
//! `symbols`, `definition`, `references` and `hover`; in a review,
//! `report_finding`.
//! Each resolves its path under the workspace root, asks the permission
//! policy, and answers the model in plain text, errors included: a tool
//! that fails tells the model why, so it can correct itself. Disk reads
//! run on the blocking pool (a slow disk never holds the runtime, and a
//! cancelled run does not wait for them), through [`crate::files`]; what a
//! tool answers has every API key taken out ([`crate::redact`]).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::{
    files,
    host::{FileChange, Host, Place, Problem, Question, Reported, Spot, Symbol},
    model::{ToolCall, ToolSpec},
    paths,
    permissions::{self, Call, Decision, READ_SECRETS},
    redact::redact,
    shell,
};

/// Lines `read_file` returns when no `limit` is given.
pub const READ_LIMIT: usize = 2000;
/// Entries `list_files` returns at most.
pub const LIST_LIMIT: usize = 500;
/// Matches `grep` returns at most.
pub const GREP_LIMIT: usize = 200;
/// Files larger than this are not searched.
const GREP_MAX_FILE: u64 = 2 * 1024 * 1024;

/// What a tool call gives back to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub content: String,
    pub is_error: bool,
}

impl Outcome {
    fn ok(content: String) -> Outcome {
        Outcome {
            content,
            is_error: false,
        }
    }

    fn error(content: impl Into<String>) -> Outcome {
        Outcome {
            content: content.into(),
            is_error: true,
        }
    }
}

/// The tools the model is offered: the reading ones always, the writing
/// ones unless the policy is read-only.
pub fn specs(policy: &permissions::Policy) -> Vec<ToolSpec> {
    let spec = |name: &str, description: &str, parameters: Value| ToolSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters,
    };
    let mut specs = vec![
        spec(
            "read_file",
            "Read a file of the workspace, as the editor has it (unsaved changes included). Lines are numbered from 1.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Path relative to the workspace root"},
                "offset": {"type": "integer", "description": "First line to read, from 1"},
                "limit": {"type": "integer", "description": "How many lines"}},
                "required": ["path"]}),
        ),
        spec(
            "list_files",
            "List files under a directory of the workspace, skipping what .gitignore excludes.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Directory relative to the workspace root; the root when absent"},
                "glob": {"type": "string", "description": "Only files whose path matches, e.g. **/*.rs"}}}),
        ),
        spec(
            "grep",
            "Search the workspace's files for a regular expression; .gitignore is respected.",
            json!({"type": "object", "properties": {
                "pattern": {"type": "string", "description": "A regular expression (Rust syntax)"},
                "path": {"type": "string", "description": "Directory or file to search; the root when absent"},
                "glob": {"type": "string", "description": "Only files whose path matches, e.g. **/*.ts"}},
                "required": ["pattern"]}),
        ),
    ];
    let position = |what: &str| {
        json!({"type": "object", "properties": {
            "path": {"type": "string"},
            "line": {"type": "integer", "description": "Line number as read_file shows it, from 1"},
            "character": {"type": "integer", "description": format!("Column of the {what}, in characters from 0")}},
            "required": ["path", "line", "character"]})
    };
    specs.extend([
        spec(
            "diagnostics",
            "Errors and warnings from the real language servers, now: for one file, or for every file that has some.",
            json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        ),
        spec(
            "symbols",
            "The outline of a file (give path), or a search for symbols across the workspace (give query).",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "query": {"type": "string"}}}),
        ),
        spec("definition", "Where the symbol at a position is defined, from the language server.", position("symbol")),
        spec("references", "Every reference to the symbol at a position, from the language server.", position("symbol")),
        spec("hover", "The language server's hover text (type, documentation) at a position.", position("symbol")),
    ]);
    if !policy.read_only {
        specs.push(spec(
            "edit_file",
            "Replace old_string with new_string in a file. old_string must match the file exactly, in one place (\"aa\" is in \"aaa\" twice, at overlapping places), or set replace_all to replace every match from left to right (of two that overlap, the first).",
            json!({"type": "object", "properties": {
                "path": {"type": "string"},
                "old_string": {"type": "string"},
                "new_string": {"type": "string"},
                "replace_all": {"type": "boolean"}},
                "required": ["path", "old_string", "new_string"]}),
        ));
        specs.push(spec(
            "write_file",
            "Create a new file with the given content. Use edit_file to change a file that exists.",
            json!({"type": "object", "properties": {
                "path": {"type": "string"},
                "content": {"type": "string"}},
                "required": ["path", "content"]}),
        ));
    }
    if policy.review {
        specs.push(spec(
            "report_finding",
            "Report one problem you found in the code under review: call it once per finding; findings written as text are not reported.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Path relative to the workspace root"},
                "line": {"type": "integer", "description": "First line of the problem, from 1, as read_file shows it"},
                "end_line": {"type": "integer", "description": "Last line, when it spans several"},
                "severity": {"type": "string", "enum": ["error", "warning", "info"]},
                "category": {"type": "string", "description": "bug, security, performance, error-handling, maintainability, style, ..."},
                "message": {"type": "string", "description": "What is wrong and why, in a sentence or two"},
                "suggestion": {"type": "string", "description": "How to fix it"}},
                "required": ["path", "line", "severity", "category", "message"]}),
        ));
    }
    if policy.run_command && !policy.read_only {
        specs.push(spec(
            "run_command",
            "Run a shell command in the workspace root (the user approves it first). Output and time are bounded.",
            json!({"type": "object", "properties": {
                "command": {"type": "string"},
                "timeout": {"type": "integer", "description": format!("Seconds, at most {}", COMMAND_MAX_TIMEOUT.as_secs())}},
                "required": ["command"]}),
        ));
    }
    specs
}

/// How long a command may run when the model does not say.
pub const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// The longest a command may run.
pub const COMMAND_MAX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// Bytes of a command's output kept (its end, where errors are).
pub const COMMAND_OUTPUT_LIMIT: usize = 20_000;

/// Runs the tools for one workspace.
pub struct Tools<'a, H> {
    pub host: &'a H,
    pub root: &'a Path,
    pub policy: &'a permissions::Policy,
}

impl<H: Host> Tools<'_, H> {
    /// The file `call` would change (`edit_file`, `write_file`), if its
    /// path is one.
    pub fn target(&self, call: &ToolCall) -> Option<PathBuf> {
        if !matches!(call.name.as_str(), "edit_file" | "write_file") {
            return None;
        }
        let arguments: Value = serde_json::from_str(&call.arguments).ok()?;
        self.path_for_write(&arguments).ok()
    }

    /// Runs `call`; never fails, an error is an outcome the model reads.
    pub async fn run(&self, call: &ToolCall) -> Outcome {
        let arguments: Value = match serde_json::from_str(&call.arguments) {
            Ok(Value::Object(map)) => Value::Object(map),
            Ok(_) | Err(_) => {
                return Outcome::error(format!(
                    "the arguments of {} are not a JSON object: {}",
                    call.name, call.arguments
                ))
            }
        };
        let result = match call.name.as_str() {
            "read_file" => self.read_file(&arguments).await,
            "list_files" => self.list_files(&arguments).await,
            "grep" => self.grep(&arguments).await,
            "edit_file" => self.edit_file(&arguments).await,
            "write_file" => self.write_file(&arguments).await,
            "run_command" => self.run_command(&arguments).await,
            "diagnostics" => self.diagnostics(&arguments).await,
            "symbols" => self.symbols(&arguments).await,
            "definition" => {
                async {
                    let places = self.host.definition(&self.spot(&arguments)?).await?;
                    Ok(self.places(&places, "no definition found"))
                }
                .await
            }
            "references" => {
                async {
                    let places = self.host.references(&self.spot(&arguments)?).await?;
                    Ok(self.places(&places, "no references found"))
                }
                .await
            }
            "hover" => {
                async {
                    let text = self.host.hover(&self.spot(&arguments)?).await?;
                    Ok(text.unwrap_or_else(|| "no hover information there".to_owned()))
                }
                .await
            }
            "report_finding" if self.policy.review => self.report_finding(&arguments).await,
            other => Err(format!("there is no tool named {other}")),
        };
        // A key in a file, a command's output or a server's answer goes no
        // further: not to the model, not into the session.
        match result {
            Ok(content) => Outcome::ok(redact(&content).into_owned()),
            Err(why) => Outcome::error(redact(&why).into_owned()),
        }
    }

    async fn report_finding(&self, arguments: &Value) -> Result<String, String> {
        let path = self.path(arguments, "path", true)?;
        if !path.is_file() {
            return Err(format!(
                "{} is not a file of the workspace",
                self.relative(&path)
            ));
        }
        let text = |key: &str| match arguments.get(key) {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                Ok(Some(text.trim().to_owned()))
            }
            None | Some(Value::Null) => Ok(None),
            _ => Err(format!("`{key}` must be a non-empty string")),
        };
        let required = |key: &str| text(key)?.ok_or(format!("`{key}` is required"));
        let line = |key: &str| {
            arguments
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n >= 1)
                .ok_or(format!("`{key}` must be a line number, from 1"))
        };
        let start = line("line")?;
        let end = match arguments.get("end_line") {
            None | Some(Value::Null) => start,
            Some(_) => line("end_line")?.max(start),
        };
        let severity = match required("severity")?.to_ascii_lowercase().as_str() {
            "error" => "error",
            "warning" => "warning",
            "info" | "information" | "note" | "hint" => "info",
            other => {
                return Err(format!(
                    "`severity` must be error, warning or info, not {other}"
                ))
            }
        };
        self.host
            .report(Reported {
                path,
                line: start,
                end_line: end,
                severity: severity.to_owned(),
                category: required("category")?.to_ascii_lowercase(),
                message: required("message")?,
                suggestion: text("suggestion")?,
            })
            .await
    }

    /// The `path` of a tool that changes a file: as [`Self::path`], and not
    /// configuration that decides what meshls or the editor may do.
    fn path_for_write(&self, arguments: &Value) -> Result<PathBuf, String> {
        match arguments.get("path") {
            Some(Value::String(given)) => {
                paths::resolve_for_write(self.root, given, &self.policy.protected)
            }
            _ => Err("`path` must be a string".to_owned()),
        }
    }

    fn path(&self, arguments: &Value, key: &str, required: bool) -> Result<PathBuf, String> {
        match arguments.get(key) {
            Some(Value::String(given)) => paths::resolve(self.root, given),
            None | Some(Value::Null) if !required => Ok(self.root.to_path_buf()),
            _ => Err(format!("`{key}` must be a string")),
        }
    }

    /// `path`, `line` (from 1) and `character` (from 0) of a position tool.
    fn spot(&self, arguments: &Value) -> Result<Spot, String> {
        let path = self.path(arguments, "path", true)?;
        let number = |key: &str| {
            arguments
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(format!("`{key}` must be a whole number"))
        };
        let line = number("line")?;
        if line == 0 {
            return Err("`line` counts from 1, as read_file shows it".to_owned());
        }
        Ok(Spot {
            path,
            line,
            column: number("character")?,
        })
    }

    fn at(&self, at: &Spot) -> String {
        format!("{}:{}:{}", self.relative(&at.path), at.line, at.column)
    }

    fn places(&self, places: &[Place], none: &str) -> String {
        if places.is_empty() {
            return none.to_owned();
        }
        places
            .iter()
            .map(|place| match &place.line_text {
                Some(text) => format!("{}: {}\n", self.at(&place.at), text.trim()),
                None if place.outside => format!(
                    "{} (outside the workspace; its text is not shown)\n",
                    self.at(&place.at)
                ),
                None => format!("{}\n", self.at(&place.at)),
            })
            .collect()
    }

    fn outline(&self, symbols: &[Symbol], with_path: bool) -> String {
        symbols
            .iter()
            .map(|symbol| {
                let indent = "  ".repeat(symbol.depth as usize);
                if with_path {
                    format!("{} {} {}\n", self.at(&symbol.at), symbol.kind, symbol.name)
                } else {
                    format!(
                        "{indent}{} {} (line {})\n",
                        symbol.kind, symbol.name, symbol.at.line
                    )
                }
            })
            .collect()
    }

    async fn diagnostics(&self, arguments: &Value) -> Result<String, String> {
        let path = match arguments.get("path") {
            None | Some(Value::Null) => None,
            Some(_) => Some(self.path(arguments, "path", true)?),
        };
        let findings = self.host.diagnostics(path.as_deref()).await;
        if findings.is_empty() {
            return Ok("no diagnostics".to_owned());
        }
        Ok(findings
            .iter()
            .map(|finding| self.finding(finding))
            .collect())
    }

    /// One line for a diagnostic: where, how bad, from whom, what.
    pub fn finding(&self, finding: &Problem) -> String {
        let code = if finding.code.is_empty() {
            String::new()
        } else {
            format!(" {}", finding.code)
        };
        format!(
            "{}: {} [{}{code}] {}\n",
            self.at(&finding.at),
            finding.severity,
            finding.source,
            finding.message
        )
    }

    async fn symbols(&self, arguments: &Value) -> Result<String, String> {
        if let Some(query) = arguments.get("query").and_then(Value::as_str) {
            let found = self.host.workspace_symbols(query).await?;
            if found.is_empty() {
                return Ok(format!("no symbols match `{query}`"));
            }
            return Ok(self.outline(&found, true));
        }
        if arguments.get("path").is_none() {
            return Err(
                "give `path` for a file's outline, or `query` to search the workspace".to_owned(),
            );
        }
        let path = self.path(arguments, "path", true)?;
        let outline = self.host.symbols(&path).await?;
        if outline.is_empty() {
            return Ok(format!("no symbols in {}", self.relative(&path)));
        }
        Ok(self.outline(&outline, false))
    }

    fn relative(&self, path: &Path) -> String {
        paths::relative(self.root, path)
    }

    /// The editor's copy if the file is open, else the file on disk (read
    /// beneath the root, off the runtime); a file that looks like secrets
    /// only when the policy allows it.
    async fn text(&self, path: &Path) -> Result<(String, Option<i32>), String> {
        self.secrets_allowed(path).await?;
        if let Some((text, version)) = self.host.open_document(path) {
            return Ok((text, Some(version)));
        }
        let (root, owned) = (self.root.to_path_buf(), path.to_path_buf());
        blocking(move || files::read_text(&root, &owned, files::MAX_READ))
            .await
            .map(|text| (text, None))
    }

    /// Whether a file that looks like it holds secrets may be read
    /// (`read_secrets`); any other file may.
    async fn secrets_allowed(&self, path: &Path) -> Result<(), String> {
        let subject = self.relative(path);
        // By its name, or by the name of the file a link leads to
        // (`notes.txt -> .env`).
        let real = path.canonicalize().ok();
        let secret = permissions::looks_secret(&subject)
            || real
                .as_deref()
                .and_then(Path::to_str)
                .is_some_and(permissions::looks_secret);
        if !secret {
            return Ok(());
        }
        let call = Call {
            tool: READ_SECRETS,
            subject: &subject,
            open_in_editor: false,
        };
        let action = format!("Read {subject} (it looks like it holds secrets)");
        self.decide(
            call,
            &format!("reading {subject}, which looks like it holds secrets,"),
            "agent.permissions.read_secrets in meshls's config",
            &Question {
                action: &action,
                always: Some(&action),
            },
        )
        .await
    }

    /// Asks the policy about a call on a file, and the user when it says so.
    async fn permitted(&self, tool: &str, path: &Path, action: &str) -> Result<(), String> {
        let subject = self.relative(path);
        let call = Call {
            tool,
            subject: &subject,
            open_in_editor: self.host.open_document(path).is_some(),
        };
        let what = format!("{tool} on {subject}");
        // "Always" for an edit is for every edit, for a creation every one.
        let kind = action.split_once(' ').map_or(action, |(verb, _)| verb);
        let question = Question {
            action,
            always: Some(kind),
        };
        self.decide(
            call,
            &what,
            "[agent.permissions] in meshls.toml, or read-only mode",
            &question,
        )
        .await
    }

    /// The policy's decision on `call`; `what` names the call in messages,
    /// `settings` says where it is decided, `question` is what the user is
    /// asked.
    async fn decide(
        &self,
        call: Call<'_>,
        what: &str,
        settings: &str,
        question: &Question<'_>,
    ) -> Result<(), String> {
        match self.policy.decide(call) {
            Decision::Allow => Ok(()),
            Decision::Deny => Err(format!("{what} is not allowed here ({settings})")),
            Decision::Ask if self.host.approve(question).await => Ok(()),
            Decision::Ask => Err(format!("the user did not allow {what}")),
        }
    }

    async fn read_file(&self, arguments: &Value) -> Result<String, String> {
        let path = self.path(arguments, "path", true)?;
        let (text, _) = self.text(&path).await?;
        let offset = arguments
            .get("offset")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1) as usize;
        let limit = arguments
            .get("limit")
            .and_then(Value::as_u64)
            .map_or(READ_LIMIT, |limit| limit as usize);
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            return Ok(format!("{} is empty", self.relative(&path)));
        }
        if offset > lines.len() {
            return Err(format!(
                "{} has {} lines; offset {offset} is past the end",
                self.relative(&path),
                lines.len()
            ));
        }
        let end = lines.len().min(offset - 1 + limit);
        let mut out = String::new();
        for (number, line) in lines.iter().enumerate().take(end).skip(offset - 1) {
            out.push_str(&format!("{}\t{line}\n", number + 1));
        }
        if end < lines.len() {
            out.push_str(&format!(
                "(lines {offset}-{end} of {}; read on with offset {})\n",
                lines.len(),
                end + 1
            ));
        }
        Ok(out)
    }

    /// Files under `path` (a directory or one file), .gitignore respected,
    /// sorted, filtered by `glob`; walked on the blocking pool.
    async fn walk(&self, path: &Path, glob: Option<&str>) -> Result<Vec<PathBuf>, String> {
        let (root, path, glob) = (
            self.root.to_path_buf(),
            path.to_path_buf(),
            glob.map(str::to_owned),
        );
        blocking(move || walk(&root, &path, glob.as_deref())).await
    }

    async fn list_files(&self, arguments: &Value) -> Result<String, String> {
        let path = self.path(arguments, "path", false)?;
        let glob = arguments.get("glob").and_then(Value::as_str);
        let files = self.walk(&path, glob).await?;
        if files.is_empty() {
            return Ok("no files".to_owned());
        }
        let mut out: String = files
            .iter()
            .take(LIST_LIMIT)
            .map(|file| format!("{}\n", self.relative(file)))
            .collect();
        if files.len() > LIST_LIMIT {
            out.push_str(&format!(
                "({} more; narrow it with path or glob)\n",
                files.len() - LIST_LIMIT
            ));
        }
        Ok(out)
    }

    async fn grep(&self, arguments: &Value) -> Result<String, String> {
        let pattern = arguments
            .get("pattern")
            .and_then(Value::as_str)
            .ok_or("`pattern` must be a string")?;
        let regex = regex::Regex::new(pattern)
            .map_err(|err| format!("`{pattern}` is not a regular expression: {err}"))?;
        let path = self.path(arguments, "path", false)?;
        let glob = arguments.get("glob").and_then(Value::as_str);
        // The editor's copies of open files; the rest is read from disk.
        let mut texts: Vec<(PathBuf, Option<String>)> = Vec::new();
        let mut secrets = 0;
        for file in self.walk(&path, glob).await? {
            let relative = self.relative(&file);
            if permissions::looks_secret(&relative)
                && self.policy.decide(Call {
                    tool: READ_SECRETS,
                    subject: &relative,
                    open_in_editor: false,
                }) != Decision::Allow
            {
                secrets += 1;
                continue;
            }
            let open = self.host.open_document(&file).map(|(text, _)| text);
            texts.push((file, open));
        }
        let root = self.root.to_path_buf();
        let (matches, more) = blocking(move || {
            let mut matches = Vec::new();
            let mut more = 0;
            for (file, open) in texts {
                let text = match open {
                    Some(text) => text,
                    // Unreadable, binary or large files are not searched.
                    None => match files::read_text(&root, &file, GREP_MAX_FILE) {
                        Ok(text) => text,
                        Err(_) => continue,
                    },
                };
                for (number, line) in text.lines().enumerate() {
                    if regex.is_match(line) {
                        if matches.len() < GREP_LIMIT {
                            let name = paths::relative(&root, &file);
                            matches.push(format!("{name}:{}: {line}", number + 1));
                        } else {
                            more += 1;
                        }
                    }
                }
            }
            Ok((matches, more))
        })
        .await?;
        let skipped = match secrets {
            0 => String::new(),
            n => format!(
                "({n} file(s) that look like they hold secrets were not searched: agent.permissions.read_secrets)\n"
            ),
        };
        if matches.is_empty() {
            return Ok(format!("no matches for `{pattern}`\n{skipped}")
                .trim_end()
                .to_owned());
        }
        let mut out = matches.join("\n");
        out.push('\n');
        if more > 0 {
            out.push_str(&format!(
                "({more} more matches; narrow it with path or glob)\n"
            ));
        }
        out.push_str(&skipped);
        Ok(out)
    }

    async fn edit_file(&self, arguments: &Value) -> Result<String, String> {
        let path = self.path_for_write(arguments)?;
        let string = |key: &str| {
            arguments
                .get(key)
                .and_then(Value::as_str)
                .ok_or(format!("`{key}` must be a string"))
        };
        let (old, new) = (string("old_string")?, string("new_string")?);
        let replace_all = arguments
            .get("replace_all")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if old.is_empty() {
            return Err("old_string is empty; to create a file use write_file".to_owned());
        }
        if old == new {
            return Err("old_string and new_string are the same".to_owned());
        }
        let (text, version) = self.text(&path).await?;
        // Left to right, not overlapping, as `str::replace` finds them.
        let found: Vec<usize> = text.match_indices(old).map(|(at, _)| at).collect();
        let name = self.relative(&path);
        let first_char = old.chars().next().map_or(1, char::len_utf8);
        match found.as_slice() {
            [] => return Err(format!("old_string was not found in {name}; read the file again: it may differ from what you expect")),
            // `match_indices` skips a match that overlaps the one it found:
            // "aa" is in "aaa" at 0 and at 1, and which the model means is
            // as unclear as with two apart.
            [at] if !replace_all && text[at + first_char..].contains(old) => return Err(format!("old_string appears more than once in {name}, at places that overlap; include more of the surrounding text to pick one")),
            [_] => {}
            _ if !replace_all => return Err(format!("old_string appears {} times in {name}; include more of the surrounding text to pick one, or set replace_all", found.len())),
            _ => {}
        }
        self.permitted("edit_file", &path, &format!("Edit {name}"))
            .await?;
        let replacements = found
            .iter()
            .map(|&at| (at..at + old.len(), new.to_owned()))
            .collect();
        self.host
            .apply(FileChange::Edit {
                path: path.clone(),
                version,
                read: text,
                replacements,
            })
            .await?;
        Ok(format!("edited {name}: {} replacement(s)", found.len()))
    }

    async fn run_command(&self, arguments: &Value) -> Result<String, String> {
        let command = arguments
            .get("command")
            .and_then(Value::as_str)
            .ok_or("`command` must be a string")?;
        let timeout = arguments
            .get("timeout")
            .and_then(Value::as_u64)
            .map_or(COMMAND_TIMEOUT, std::time::Duration::from_secs)
            .min(COMMAND_MAX_TIMEOUT);
        let call = Call {
            tool: "run_command",
            subject: command,
            open_in_editor: false,
        };
        // The question shows one line: a command of many would hide its
        // tail below what the editor shows. "Always" is then not offered:
        // it would be for lines the user did not see.
        let shown = shell::one_line(command, 200);
        let action = format!("Run {shown}");
        let whole = shown == format!("`{command}`");
        self.decide(
            call,
            &format!("running {shown}"),
            "[agent.permissions] and agent.run_command in meshls.toml",
            &Question {
                action: &action,
                always: whole.then_some(action.as_str()),
            },
        )
        .await?;
        let mut child = tokio::process::Command::new("sh");
        child
            .arg("-c")
            .arg(command)
            .current_dir(self.root)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            // Its own process group, so that when it ends (or times out, or
            // the run is cancelled) what it started ends too.
            .process_group(0)
            .kill_on_drop(true);
        for name in &self.policy.hidden_env {
            child.env_remove(name);
        }
        let mut child = child
            .spawn()
            .map_err(|err| format!("cannot run {shown}: {err}"))?;
        let mut group = Group(child.id().and_then(|pid| i32::try_from(pid).ok()));
        let (mut stdout, mut stderr) = (Tail::default(), Tail::default());
        let (out_pipe, err_pipe) = (child.stdout.take(), child.stderr.take());
        let status = {
            let mut reading = std::pin::pin!(async {
                tokio::join!(stdout.read(out_pipe), stderr.read(err_pipe))
            });
            let mut waiting = std::pin::pin!(tokio::time::timeout(timeout, child.wait()));
            let mut read_all = false;
            let status = loop {
                tokio::select! {
                    status = &mut waiting => break status,
                    _ = &mut reading, if !read_all => read_all = true,
                }
            };
            // `sh` is done (or out of time): the rest of its group goes, so
            // a job it left in the background does not outlive it.
            group.kill();
            if !read_all {
                // A process that left the group may hold the pipes open.
                let _ = tokio::time::timeout(PIPE_GRACE, &mut reading).await;
            }
            status
        };
        drop(group);
        match status {
            Ok(Ok(status)) => {
                let mut text = stdout.text();
                text.push_str(&stderr.text());
                let dropped = stdout.dropped + stderr.dropped;
                let status = match status.code() {
                    Some(code) => format!("exit code {code}"),
                    None => "killed by a signal".to_owned(),
                };
                Ok(format!(
                    "{status}\n{}",
                    tail(&text, COMMAND_OUTPUT_LIMIT, dropped)
                ))
            }
            Ok(Err(err)) => Err(format!("running {shown} failed: {err}")),
            Err(_) => Err(format!(
                "{shown} did not finish within {} s and was stopped",
                timeout.as_secs()
            )),
        }
    }

    async fn write_file(&self, arguments: &Value) -> Result<String, String> {
        let path = self.path_for_write(arguments)?;
        let content = arguments
            .get("content")
            .and_then(Value::as_str)
            .ok_or("`content` must be a string")?;
        let name = self.relative(&path);
        if path.exists() || self.host.open_document(&path).is_some() {
            return Err(format!("{name} exists; change it with edit_file"));
        }
        self.permitted("write_file", &path, &format!("Create {name}"))
            .await?;
        self.host
            .apply(FileChange::Create {
                path: path.clone(),
                content: content.to_owned(),
            })
            .await?;
        Ok(format!("created {name}"))
    }
}

/// How long a command's output is still read after it ended, when
/// something it started keeps the pipes open.
const PIPE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// A command's process group, killed when the command ends, however it
/// ends: finished, timed out, or its run cancelled (the future dropped).
struct Group(Option<i32>);

impl Group {
    /// Kills the group, once: its id could be another's later.
    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            // The group may be gone already; that is what we want.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The end of what a pipe gave: at most twice the output kept, so a
/// command that prints forever does not fill the memory.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    dropped: usize,
}

impl Tail {
    async fn read(&mut self, pipe: Option<impl tokio::io::AsyncRead + Unpin>) {
        use tokio::io::AsyncReadExt as _;
        let Some(mut pipe) = pipe else { return };
        let mut buffer = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut buffer).await {
            self.bytes.extend_from_slice(&buffer[..n]);
            let keep = 2 * COMMAND_OUTPUT_LIMIT;
            if self.bytes.len() > keep {
                let extra = self.bytes.len() - keep;
                self.bytes.drain(..extra);
                self.dropped += extra;
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Runs `f` on the blocking pool; a panic there is an error for the model.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|err| Err(format!("the tool failed inside meshls: {err}")))
}

/// Files under `path` (a directory or one file), .gitignore respected,
/// sorted, filtered by `glob` (relative to `root`).
fn walk(root: &Path, path: &Path, glob: Option<&str>) -> Result<Vec<PathBuf>, String> {
    let mut walk = ignore::WalkBuilder::new(path);
    // .gitignore applies even outside a git checkout. Dotfiles
    // (.github/, .eslintrc) are the project's too; .git is not.
    walk.require_git(false)
        .hidden(false)
        .filter_entry(|entry| entry.file_name() != ".git");
    if let Some(glob) = glob {
        let mut overrides = ignore::overrides::OverrideBuilder::new(root);
        overrides
            .add(glob)
            .map_err(|err| format!("`{glob}` is not a glob: {err}"))?;
        walk.overrides(
            overrides
                .build()
                .map_err(|err| format!("`{glob}` is not a glob: {err}"))?,
        );
    }
    let mut files: Vec<PathBuf> = walk
        .build()
        .flatten()
        .filter(|entry| entry.file_type().is_some_and(|kind| kind.is_file()))
        .map(ignore::DirEntry::into_path)
        .collect();
    files.sort();
    Ok(files)
}

/// The last `limit` bytes of `text` (at a character boundary), with a note
/// when some were left out, counting `dropped_before` bytes already gone.
fn tail(text: &str, limit: usize, dropped_before: usize) -> String {
    if text.len() <= limit && dropped_before == 0 {
        return text.to_owned();
    }
    let mut start = text.len().saturating_sub(limit);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!(
        "(first {} bytes of output left out)\n{}",
        start + dropped_before,
        &text[start..]
    )
}
