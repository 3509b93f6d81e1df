//! Loading `meshls.toml`: layers from built-in defaults to the editor's
//! settings, each checked on its own so an error names its file and key.
//!
//! Order, later wins: built-in defaults, the user file
//! (`$XDG_CONFIG_HOME/meshls/config.toml`), the workspace files
//! (`.meshls/config.toml`, then `meshls.toml`), `MESHLS_<SECTION>__<KEY>`
//! environment variables, then the editor's latest
//! `workspace/didChangeConfiguration` settings, or its
//! `initializationOptions` until it sends some. Tables merge key by key;
//! any other value replaces the one below it.
//!
//! A workspace file comes with the repository, and a repository is not
//! trusted until the user trusts it (`trusted_workspaces` in their own
//! config, the answer to meshls's question remembered in their data
//! directory, or `meshls check --trust`). Until then its files may set
//! nothing that reaches a language server (only `servers.<name>.enabled =
//! false`), nothing that picks the model, its provider, where API keys go
//! or what the agent may do unasked, and may lower the agent's limits but
//! not raise them (see [`untrusted_refusal`]).

pub mod trust;

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fmt,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use meshls_agent::AgentConfig;
use meshls_analysis::AnalysisConfig;
use meshls_proxy::ServerConfig;

/// Everything meshls can be configured with; each crate owns its section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub analysis: AnalysisConfig,
    pub servers: BTreeMap<String, ServerConfig>,
    pub agent: AgentConfig,
    /// Workspace roots the user trusts. Only the user's file and
    /// environment may set this.
    pub trusted_workspaces: Vec<PathBuf>,
    /// Whether meshls asks the editor to trust an untrusted workspace.
    /// Only the user's file and environment may set this.
    pub trust: TrustMode,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            analysis: AnalysisConfig::default(),
            servers: meshls_proxy::builtin_servers(),
            agent: AgentConfig::default(),
            trusted_workspaces: Vec::new(),
            trust: TrustMode::default(),
        }
    }
}

/// `trust`: what meshls does in a workspace the user has not trusted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustMode {
    /// Ask once per session with `window/showMessageRequest` (Trust / Not
    /// now); "Trust" is remembered in the user's data directory.
    #[default]
    Ask,
    /// Never ask: only `trusted_workspaces` trusts a workspace.
    Never,
}

/// A config file meshls looked for.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub found: bool,
}

/// One wrong setting: where it came from, which key, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub source: String,
    /// Dotted path of the key, empty when the whole source is unreadable.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: key `{}`: {}", self.source, self.key, self.message)
        }
    }
}

/// The result of loading: the config from every valid layer, the files
/// looked at, and the problems found. A layer with a problem is left out
/// whole, so no setting silently falls back to a default.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub files: Vec<ConfigFile>,
    pub env_vars: Vec<String>,
    pub errors: Vec<ConfigError>,
    /// Whether the workspace is trusted (and by what), or not.
    pub trust: Trust,
    /// Keys of the workspace's files refused because it is not trusted.
    pub refused_for_trust: Vec<String>,
}

/// Whether a workspace is trusted, and who said so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Trust {
    /// Not trusted (or no workspace).
    #[default]
    No,
    /// Listed in `trusted_workspaces`.
    Listed,
    /// The user said so in the editor (remembered in their data).
    Remembered,
    /// `--trust` on the command line.
    CommandLine,
}

impl Trust {
    pub fn trusted(self) -> bool {
        self != Trust::No
    }
}

/// Where the configuration comes from, apart from built-in defaults.
#[derive(Default)]
pub struct Sources<'a> {
    pub workspace_root: Option<&'a Path>,
    /// The user's config directory (normally `$XDG_CONFIG_HOME`).
    pub user_config_dir: Option<PathBuf>,
    /// `MESHLS_*` variables; a value that is not UTF-8 is an error.
    pub env: Vec<(String, Result<String, OsString>)>,
    /// The editor's `initializationOptions`, and its latest
    /// `didChangeConfiguration` settings (which replace them): each either
    /// the meshls table itself or an object holding it under `meshls`.
    pub initialization_options: Option<&'a Value>,
    pub settings: Option<&'a Value>,
    /// Workspaces the user trusted when meshls asked (in their data
    /// directory: `trust::remembered`).
    pub remembered: Vec<PathBuf>,
    /// `--trust`: the workspace is trusted for this run.
    pub trust_override: bool,
    /// The editor's other workspace folders: the workspace is trusted only
    /// when each of them is (the servers get them all).
    pub other_roots: Vec<PathBuf>,
    /// Whether the editor's settings are the user's own for certain: VS
    /// Code (and its family) takes meshls's sensitive settings from the
    /// user's settings only (they are machine-scoped). Other editors may
    /// take them from the workspace (eglot from a repository's
    /// `.dir-locals.el`, Neovim through neoconf's `.neoconf.json`, Zed and
    /// Helix from its project settings), so in an untrusted workspace what
    /// they send is held to the workspace files' rules.
    pub editor_is_users: bool,
}

impl<'a> Sources<'a> {
    /// The process's own environment, the user's config directory and the
    /// workspaces they trusted.
    pub fn from_process(workspace_root: Option<&'a Path>) -> Self {
        // `vars()` would panic on any variable that is not UTF-8, ours or not.
        let env = std::env::vars_os()
            .filter_map(|(name, value)| {
                let name = name.into_string().ok()?;
                name.starts_with("MESHLS_")
                    .then(|| (name, value.into_string()))
            })
            .collect();
        Sources {
            workspace_root,
            user_config_dir: user_config_dir(),
            env,
            remembered: crate::config::trust::remembered(),
            ..Sources::default()
        }
    }
}

/// `$XDG_CONFIG_HOME` wherever it is set (macOS included), else the
/// platform's config directory.
pub fn user_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(dirs::config_dir)
}

/// Where meshls keeps what is the user's: their config and its data
/// (sessions, answers, trusted workspaces). The agent's tools never write
/// there, even when a workspace holds them (a home directory opened as a
/// workspace).
pub fn protected_dirs() -> Vec<PathBuf> {
    [user_config_dir(), dirs::data_dir()]
        .into_iter()
        .flatten()
        .map(|dir| dir.join("meshls"))
        .collect()
}

/// The agent's permission policy from its config: `read_only` for runs
/// that only read (explain, review), `review` for `meshls review`, which
/// reports findings and never runs commands.
pub fn agent_policy(
    agent: &AgentConfig,
    read_only: bool,
    review: bool,
) -> meshls_agent::permissions::Policy {
    meshls_agent::permissions::Policy {
        rules: agent.permissions.clone(),
        read_only,
        run_command: agent.run_command && !review,
        review,
        hidden_env: agent.key_variables(),
        protected: protected_dirs(),
        read_dependencies: agent.read_dependencies,
    }
}

/// Makes every configured API key (the values of the variables the agent's
/// providers name) one that meshls takes out of everything it logs, saves
/// and says, from now on.
pub fn register_keys(agent: &AgentConfig) {
    for variable in agent.key_variables() {
        if let Ok(key) = std::env::var(&variable) {
            meshls_agent::redact::register(&key);
        }
    }
}

/// Who wrote a layer, which decides what it may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    User,
    Workspace,
    Environment,
    Editor,
}

struct Layer {
    origin: Origin,
    source: String,
    value: Value,
}

/// The dotted key of the first `nan` or `inf` in a TOML table.
fn non_finite(table: &toml::Table) -> Option<String> {
    type Entries<'a> = Box<dyn Iterator<Item = (String, &'a toml::Value)> + 'a>;
    fn within(entries: Entries<'_>) -> Option<Vec<String>> {
        entries.into_iter().find_map(|(key, value)| {
            let mut path = match value {
                toml::Value::Float(number) if !number.is_finite() => Vec::new(),
                toml::Value::Table(table) => within(of_table(table))?,
                toml::Value::Array(items) => within(Box::new(
                    items.iter().enumerate().map(|(i, v)| (i.to_string(), v)),
                ))?,
                _ => return None,
            };
            path.insert(0, key);
            Some(path)
        })
    }
    fn of_table(table: &toml::Table) -> Entries<'_> {
        Box::new(table.iter().map(|(k, v)| (k.clone(), v)))
    }
    within(of_table(table)).map(|path| path.join("."))
}

pub fn load(sources: &Sources<'_>) -> Loaded {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut layers = Vec::new();

    let mut paths = Vec::new();
    if let Some(dir) = &sources.user_config_dir {
        paths.push((Origin::User, dir.join("meshls").join("config.toml")));
    }
    if let Some(root) = sources.workspace_root {
        paths.push((Origin::Workspace, root.join(".meshls").join("config.toml")));
        paths.push((Origin::Workspace, root.join("meshls.toml")));
    }
    for (origin, path) in paths {
        let source = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                files.push(ConfigFile { path, found: true });
                match toml::from_str::<toml::Table>(&text) {
                    Ok(table) => match non_finite(&table) {
                        // JSON has no nan or inf: they would turn into null
                        // and a confusing "invalid type: null".
                        Some(key) => errors.push(ConfigError {
                            source,
                            key,
                            message:
                                "nan and inf are not numbers meshls can use; give a finite number"
                                    .to_owned(),
                        }),
                        None => {
                            let value = serde_json::to_value(table).unwrap_or_default();
                            layers.push(Layer {
                                origin,
                                source,
                                value,
                            });
                        }
                    },
                    Err(err) => errors.push(ConfigError {
                        source,
                        key: String::new(),
                        message: format!("invalid TOML: {}", one_line(&err.to_string())),
                    }),
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                files.push(ConfigFile { path, found: false });
            }
            Err(err) => {
                files.push(ConfigFile { path, found: true });
                errors.push(ConfigError {
                    source,
                    key: String::new(),
                    message: err.to_string(),
                });
            }
        }
    }

    let mut env: Vec<_> = sources.env.iter().collect();
    // A fixed order, whatever order the environment lists them in.
    env.sort_by(|a, b| a.0.cmp(&b.0));
    let mut env_vars = Vec::new();
    for (name, value) in env {
        let Some(path) = env_path(name) else { continue };
        env_vars.push(name.clone());
        let source = format!("environment variable {name}");
        match value {
            Ok(value) => layers.push(Layer {
                origin: Origin::Environment,
                source,
                value: env_layer(&path, value),
            }),
            Err(_) => errors.push(ConfigError {
                source,
                key: path.join("."),
                message: "the value is not valid UTF-8".to_owned(),
            }),
        }
    }

    let settings = editor_table(sources.settings);
    // The editor's latest settings are all of them: they replace what it
    // sent at `initialize`, so a setting the user removed goes.
    let initialization_options = match &settings {
        Some(_) => None,
        None => editor_table(sources.initialization_options),
    };
    for (source, value) in [
        ("editor initializationOptions", initialization_options),
        ("editor settings", settings),
    ] {
        if let Some(value) = value {
            layers.push(Layer {
                origin: Origin::Editor,
                source: source.to_owned(),
                value,
            });
        }
    }

    for layer in &mut layers {
        if layer.origin == Origin::Environment && check_layer(&layer.value).is_err() {
            // `MESHLS_AGENT__MODEL=42` means the string "42".
            let mut as_string = layer.value.clone();
            string_leaves(&mut as_string);
            if check_layer(&as_string).is_ok() {
                layer.value = as_string;
            }
        }
    }
    let listed = trusted_roots(&layers);
    let roots: Vec<&Path> = sources
        .workspace_root
        .into_iter()
        .chain(sources.other_roots.iter().map(PathBuf::as_path))
        .collect();
    let all_in = |list: &[PathBuf]| {
        roots
            .iter()
            .all(|root| list.iter().any(|trusted| same_path(trusted, root)))
    };
    // Each folder by one or the other.
    let either: Vec<PathBuf> = listed.iter().chain(&sources.remembered).cloned().collect();
    let trust = match sources.workspace_root {
        None => Trust::No,
        Some(_) if sources.trust_override => Trust::CommandLine,
        Some(_) if all_in(&listed) => Trust::Listed,
        Some(_) if all_in(&either) => Trust::Remembered,
        Some(_) => Trust::No,
    };
    let trust_hint = match &sources.user_config_dir {
        Some(dir) => dir.join("meshls").join("config.toml").display().to_string(),
        None => "your meshls config.toml".to_owned(),
    };
    let mut refused_for_trust = Vec::new();
    let mut merged = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    for mut layer in layers {
        let held_to_workspace_rules = !trust.trusted()
            && sources.workspace_root.is_some()
            && match layer.origin {
                Origin::Workspace => true,
                Origin::Editor => !sources.editor_is_users,
                Origin::User | Origin::Environment => false,
            };
        // A bad key is named; in the editor's settings it is left out and
        // their other keys apply.
        for _ in 0..MAX_ERRORS_PER_LAYER {
            let refused = check_layer(&layer.value)
                .and_then(|()| only_users_trust(&layer))
                .and_then(|()| {
                    if !held_to_workspace_rules {
                        return Ok(());
                    }
                    let Some(refused) = untrusted_refusal(&layer.value, &merged) else {
                        return Ok(());
                    };
                    refused_for_trust.push(refused.key.clone());
                    let whose = match layer.origin {
                        Origin::Editor => "; this editor's settings may come from the workspace (as eglot's do from .dir-locals.el), so they may set it only in a trusted workspace",
                        _ => ", so a workspace file may set it only in a trusted workspace",
                    };
                    Err(Refused {
                        message: format!(
                            "{}{whose}; trust the workspace (meshls asks in the editor; `meshls check --trust` in CI), or set it in your own {trust_hint} (`trusted_workspaces` there trusts a workspace)",
                            refused.message
                        ),
                        ..refused
                    })
                });
            let Err(refused) = refused else {
                merge(&mut merged, std::mem::take(&mut layer.value));
                break;
            };
            errors.push(ConfigError {
                source: layer.source.clone(),
                key: refused.key,
                message: refused.message,
            });
            // The editor's settings are edited in a settings UI, a key at a
            // time: one mistake must not undo the rest. A file with one is
            // left out whole, as `meshls doctor` then says, until fixed.
            if layer.origin != Origin::Editor || !take_out(&mut layer.value, &refused.path) {
                break;
            }
        }
    }
    // Each layer was valid on its own, and merging valid tables keeps them
    // valid; should that ever fail, say so rather than guess.
    let config = match serde_json::from_value(merged) {
        Ok(config) => config,
        Err(err) => {
            errors.push(ConfigError {
                source: "merged configuration".to_owned(),
                key: String::new(),
                message: err.to_string(),
            });
            Config::default()
        }
    };
    Loaded {
        config,
        files,
        env_vars,
        errors,
        trust,
        refused_for_trust,
    }
}

/// Whether an editor's settings say nothing: `null`, `{}` or `[]`.
pub fn no_settings(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

/// The meshls table of an editor's settings, when there is one: under a
/// `meshls` key, or the settings themselves. Settings that are `null`,
/// `{}` or `[]` (how Lua clients send an empty table) are none: eglot
/// sends `{}` when its user configured nothing. An empty table under
/// `meshls` is one: the user removed every setting.
fn editor_table(value: Option<&Value>) -> Option<Value> {
    match value?.get("meshls") {
        Some(Value::Null) => None,
        Some(table) if no_settings(table) => Some(Value::Object(serde_json::Map::new())),
        Some(table) => Some(table.clone()),
        None => value.filter(|value| !no_settings(value)).cloned(),
    }
}

/// Deserializes one layer alone; on error, the dotted key and the message.
fn check_layer(layer: &Value) -> Result<(), Refused> {
    if !layer.is_object() {
        return Err(Refused {
            key: String::new(),
            path: Vec::new(),
            message: format!("expected a table of settings, found {layer}"),
        });
    }
    match serde_path_to_error::deserialize::<_, Config>(layer) {
        Ok(_) => Ok(()),
        Err(err) => {
            let key = printable(&err.path().to_string());
            let key = if key == "." { String::new() } else { key };
            let path = err
                .path()
                .iter()
                .map_while(|segment| match segment {
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    _ => None,
                })
                .collect();
            // The message may quote a key too.
            let message = err.into_inner().to_string();
            Err(Refused {
                key,
                path,
                message: message.replace(|c: char| c.is_control(), "?"),
            })
        }
    }
}

/// Only the user's own file or environment says which workspaces are
/// trusted.
fn only_users_trust(layer: &Layer) -> Result<(), Refused> {
    if matches!(layer.origin, Origin::User | Origin::Environment) {
        return Ok(());
    }
    match ["trusted_workspaces", "trust"]
        .into_iter()
        .find(|key| layer.value.get(key).is_some())
    {
        Some(key) => Err(Refused {
            key: key.to_owned(),
            path: vec![key.to_owned()],
            message: "only your own config file or environment may say which workspaces you trust"
                .to_owned(),
        }),
        None => Ok(()),
    }
}

/// At most this many errors are reported, and keys left out, per layer.
const MAX_ERRORS_PER_LAYER: usize = 20;

/// A key a layer may not set: `key` as shown, `path` its keys in the
/// layer (up to the first list), and why.
#[derive(Debug)]
pub struct Refused {
    pub key: String,
    pub path: Vec<String>,
    pub message: String,
}

/// Takes the key at `path` out of `layer`, and the tables left empty by
/// that, so the layer's other keys still apply. False when there is no
/// such key (the layer as a whole is wrong).
fn take_out(layer: &mut Value, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let Some(table) = layer.as_object_mut() else {
        return false;
    };
    if rest.is_empty() {
        return table.remove(first).is_some();
    }
    let Some(inner) = table.get_mut(first) else {
        return false;
    };
    if !take_out(inner, rest) {
        return false;
    }
    if inner.as_object().is_some_and(serde_json::Map::is_empty) {
        table.remove(first);
    }
    true
}

/// The config path a variable sets: `MESHLS_AGENT__MAX_STEPS` is
/// `agent.max_steps`. Server names use `-` where a variable has `_`
/// (`MESHLS_SERVERS__RUST_ANALYZER__ARGS`). Variables without `__` (such as
/// `MESHLS_LOG`) are not configuration.
fn env_path(name: &str) -> Option<Vec<String>> {
    let path = name.strip_prefix("MESHLS_")?;
    if !path.contains("__") {
        return None;
    }
    let mut keys: Vec<String> = path.split("__").map(str::to_lowercase).collect();
    if keys.len() > 2 && keys[0] == "servers" {
        keys[1] = keys[1].replace('_', "-");
    }
    Some(keys)
}

/// The layer a variable makes. Values that read as JSON numbers, booleans,
/// arrays or objects are taken as such; any other value is a string.
fn env_layer(path: &[String], value: &str) -> Value {
    let mut value = match serde_json::from_str::<Value>(value) {
        Ok(v) if !v.is_string() && !v.is_null() => v,
        _ => Value::String(value.to_owned()),
    };
    for key in path.iter().rev() {
        value = Value::Object([(key.clone(), value)].into_iter().collect());
    }
    value
}

/// Turns a variable's number or boolean back into the text it was typed as.
fn string_leaves(value: &mut Value) {
    match value {
        Value::Object(map) => map.values_mut().for_each(string_leaves),
        Value::Number(_) | Value::Bool(_) => *value = Value::String(value.to_string()),
        _ => {}
    }
}

/// Roots trusted by the user's own layers (file and environment), of
/// those without an error: a layer with one is left out whole.
fn trusted_roots(layers: &[Layer]) -> Vec<PathBuf> {
    layers
        .iter()
        .filter(|layer| matches!(layer.origin, Origin::User | Origin::Environment))
        .filter(|layer| check_layer(&layer.value).is_ok())
        .filter_map(|layer| layer.value.get("trusted_workspaces")?.as_array())
        .flatten()
        .filter_map(|v| v.as_str().map(PathBuf::from))
        .collect()
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b
        || a.canonicalize()
            .ok()
            .is_some_and(|a| b.canonicalize().is_ok_and(|b| a == b))
}

/// A key as meshls shows it: a workspace's TOML may quote any text as a
/// key (`[servers."x\n\nPress Trust"]`), which must not speak in meshls's
/// messages; control characters become `?`, and a long key is cut.
fn printable(key: &str) -> String {
    const LONGEST: usize = 60;
    let mut shown: String = key
        .chars()
        .take(LONGEST)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if key.chars().count() > LONGEST {
        shown.push('…');
    }
    shown
}

/// The agent's limits a workspace may lower but not raise.
const LIMITS: &[&str] = &[
    "max_steps",
    "token_budget",
    "max_tokens",
    "context_window",
    "verify_rounds",
    "connect_timeout",
    "first_token_timeout",
    "idle_timeout",
    "total_timeout",
    "retries",
    "approval_timeout",
    "context_tokens",
];

/// The first key of an untrusted workspace's layer it may not set, and
/// why (`merged`: the layers below it), or `None`.
///
/// - `servers`: anything but `enabled = false` reaches a server or starts
///   one (command, args, env, settings, initialization options);
/// - `agent`: what picks the model and its provider, where keys go, what
///   the agent may do unasked, what it costs, and what it may read;
///   limits only downwards.
pub fn untrusted_refusal(layer: &Value, merged: &Value) -> Option<Refused> {
    let refused = |path: &[&str], message: String| Refused {
        key: path
            .iter()
            .map(|key| printable(key))
            .collect::<Vec<_>>()
            .join("."),
        path: path.iter().map(|key| (*key).to_owned()).collect(),
        message,
    };
    if let Some(servers) = layer.get("servers").and_then(Value::as_object) {
        for (name, server) in servers {
            let Some(fields) = server.as_object() else {
                return Some(refused(
                    &["servers", name],
                    "it reaches a language server".to_owned(),
                ));
            };
            for (key, value) in fields {
                if key == "enabled" && *value == Value::Bool(false) {
                    continue;
                }
                return Some(refused(
                    &["servers", name, key],
                    "it starts a program or reaches a language server".to_owned(),
                ));
            }
        }
    }
    let agent = layer.get("agent")?.as_object()?;
    for (key, value) in agent {
        let why = match key.as_str() {
            "provider" | "model" | "base_url" | "api_key_env" | "fallback" => {
                "it decides which model answers and where API keys are sent"
            }
            "prices" => "it decides the costs meshls shows you",
            "keep_sessions_days" => "it decides how long your agent sessions are kept",
            "checkpoint_bytes" => "it decides how much of your disk the agent keeps to undo runs",
            "instruction_files" => {
                "it decides which files are sent to the model with every request"
            }
            "permissions" | "run_command" => "it decides what the agent may do without asking",
            "read_dependencies" if *value == Value::Bool(false) => continue,
            "read_dependencies" => "it decides what the agent may read",
            limit if LIMITS.contains(&limit) => {
                let (Some(wanted), now) = (value.as_u64(), current_limit(merged, limit)) else {
                    continue;
                };
                if wanted <= now {
                    continue;
                }
                return Some(refused(
                    &["agent", key],
                    format!("a workspace may lower agent.{key} (now {now}) but not raise it"),
                ));
            }
            _ => continue,
        };
        return Some(refused(&["agent", key], why.to_owned()));
    }
    None
}

/// A limit as the layers so far set it (`context_window`'s default
/// depends on the provider).
fn current_limit(merged: &Value, key: &str) -> u64 {
    let agent: AgentConfig = merged
        .get("agent")
        .cloned()
        .and_then(|agent| serde_json::from_value(agent).ok())
        .unwrap_or_default();
    match key {
        "context_window" => agent.context_window(),
        _ => merged["agent"][key].as_u64().unwrap_or(0),
    }
}

fn merge(base: &mut Value, layer: Value) {
    match (base, layer) {
        (Value::Object(base), Value::Object(layer)) => {
            for (key, value) in layer {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, layer) => *base = layer,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    /// Files relative to a temporary directory holding `user/` (the user's
    /// config dir) and `ws/` (the workspace); `$ROOT` in variables is `ws/`.
    fn check(
        files: &[(&str, &str)],
        env: &[(&str, &str)],
        settings: Option<Value>,
        expect: Expect,
    ) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let root = dir.path().join("ws");
        let root_text = root.display().to_string();
        let sources = Sources {
            workspace_root: Some(&root),
            user_config_dir: Some(dir.path().join("user")),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), Ok(v.replace("$ROOT", &root_text))))
                .collect(),
            initialization_options: None,
            settings: settings.as_ref(),
            ..Sources::default()
        };
        let loaded = load(&sources);
        let prefix = format!("{}/", dir.path().display());
        let mut out = String::new();
        for err in &loaded.errors {
            out.push_str(&format!("error: {err}\n").replace(&prefix, ""));
        }
        let c = &loaded.config;
        let ra = c.servers.get("rust-analyzer");
        out.push_str(&format!(
            "agent: {:?} {:?} {} steps={} fallback={}\nsyntax_diagnostics: {}\nservers: {}\nra: {:?} {:?}\n",
            c.agent.provider,
            c.agent.model,
            c.agent.primary().base_url(),
            c.agent.max_steps,
            c.agent.fallback.len(),
            c.analysis.syntax_diagnostics,
            c.servers
                .iter()
                .map(|(name, s)| if s.enabled { name.clone() } else { format!("{name}(off)") })
                .collect::<Vec<_>>()
                .join(","),
            ra.map(|s| &s.command),
            ra.map(|s| &s.args),
        ));
        expect.assert_eq(&out);
    }

    #[test]
    fn defaults_without_any_file() {
        check(
            &[],
            &[],
            None,
            expect![[r#"
                agent: OpenAi None http://127.0.0.1:11434/v1 steps=20 fallback=0
                syntax_diagnostics: true
                servers: clangd,gopls,pyright,rust-analyzer,typescript-language-server
                ra: Some("rust-analyzer") Some([])
            "#]],
        );
    }

    #[test]
    fn nan_and_inf_are_named_and_leave_their_file_out() {
        check(
            &[
                (
                    "user/meshls/config.toml",
                    "[agent]\nmax_steps = 7\n[agent.prices.m]\ninput = 1.0\noutput = nan\n",
                ),
                (
                    "ws/meshls.toml",
                    "[servers.rust-analyzer.settings]\nlimits = [1.5, { ratio = -inf }]\n",
                ),
            ],
            &[],
            None,
            expect![[r#"
                error: user/meshls/config.toml: key `agent.prices.m.output`: nan and inf are not numbers meshls can use; give a finite number
                error: ws/meshls.toml: key `servers.rust-analyzer.settings.limits.1.ratio`: nan and inf are not numbers meshls can use; give a finite number
                agent: OpenAi None http://127.0.0.1:11434/v1 steps=20 fallback=0
                syntax_diagnostics: true
                servers: clangd,gopls,pyright,rust-analyzer,typescript-language-server
                ra: Some("rust-analyzer") Some([])
            "#]],
        );
    }

    #[test]
    fn layers_override_in_order_and_tables_merge() {
        check(
            &[
                (
                    "user/meshls/config.toml",
                    "[agent]\nmodel = \"user-model\"\nmax_steps = 5\napi_key_env = \"KEY\"\n[servers.ruff]\ncommand = \"ruff\"\nlanguages = [\"python\"]\n",
                ),
                (
                    "ws/meshls.toml",
                    "[agent]\nmax_steps = 3\n[servers.gopls]\nenabled = false\n",
                ),
            ],
            &[
                ("MESHLS_AGENT__PROVIDER", "anthropic"),
                ("MESHLS_AGENT__MAX_STEPS", "7"),
                ("MESHLS_LOG", "debug"),
                ("MESHLS_SERVERS__RUST_ANALYZER__ARGS", "[\"--log\"]"),
            ],
            Some(serde_json::json!({"meshls": {"analysis": {"syntax_diagnostics": false}}})),
            expect![[r#"
                agent: Anthropic Some("user-model") https://api.anthropic.com steps=7 fallback=0
                syntax_diagnostics: false
                servers: clangd,gopls(off),pyright,ruff,rust-analyzer,typescript-language-server
                ra: Some("rust-analyzer") Some(["--log"])
            "#]],
        );
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_expected_type() {
        check(
            &[
                ("ws/meshls.toml", "[agent]\nmax_steps = \"many\"\n"),
                (
                    "ws/.meshls/config.toml",
                    "[servers.clangd]\ncomand = \"clangd-15\"\n",
                ),
                ("user/meshls/config.toml", "[agent\n"),
            ],
            &[("MESHLS_ANALYSIS__SYNTAX_DIAGNOSTICS", "maybe")],
            Some(serde_json::json!({"agent": {"provider": "gemini"}})),
            expect![[r#"
                error: user/meshls/config.toml: invalid TOML: TOML parse error at line 1, column 7 | 1 | [agent | ^ invalid table header expected `.`, `]`
                error: ws/.meshls/config.toml: key `servers.clangd.comand`: unknown field `comand`, expected one of `command`, `args`, `languages`, `root_markers`, `env`, `initialization_options`, `settings`, `enabled`
                error: ws/meshls.toml: key `agent.max_steps`: invalid type: string "many", expected u32
                error: environment variable MESHLS_ANALYSIS__SYNTAX_DIAGNOSTICS: key `analysis.syntax_diagnostics`: invalid type: string "maybe", expected a boolean
                error: editor settings: key `agent.provider`: unknown variant `gemini`, expected `openai` or `anthropic`
                agent: OpenAi None http://127.0.0.1:11434/v1 steps=20 fallback=0
                syntax_diagnostics: true
                servers: clangd,gopls,pyright,rust-analyzer,typescript-language-server
                ra: Some("rust-analyzer") Some([])
            "#]],
        );
    }

    #[test]
    fn a_bad_key_in_the_editors_settings_is_named_and_the_good_keys_apply() {
        check(
            &[],
            &[],
            Some(serde_json::json!({"meshls": {
                "agent": {"modle": "typo", "max_steps": 7, "provider": "gemini"},
                "analysis": {"syntax_diagnostics": false},
                "servers": {"clangd": {"comand": "clangd-15"}}
            }})),
            expect![[r#"
                error: editor settings: key `agent.modle`: unknown field `modle`, expected one of `provider`, `model`, `base_url`, `api_key_env`, `max_steps`, `token_budget`, `max_tokens`, `context_window`, `verify_rounds`, `connect_timeout`, `first_token_timeout`, `idle_timeout`, `total_timeout`, `retries`, `fallback`, `prices`, `permissions`, `run_command`, `approval_timeout`, `read_dependencies`, `keep_sessions_days`, `checkpoint_bytes`, `context_tokens`, `instruction_files`
                error: editor settings: key `agent.provider`: unknown variant `gemini`, expected `openai` or `anthropic`
                error: editor settings: key `servers.clangd.comand`: unknown field `comand`, expected one of `command`, `args`, `languages`, `root_markers`, `env`, `initialization_options`, `settings`, `enabled`
                agent: OpenAi None http://127.0.0.1:11434/v1 steps=7 fallback=0
                syntax_diagnostics: false
                servers: clangd,gopls,pyright,rust-analyzer,typescript-language-server
                ra: Some("rust-analyzer") Some([])
            "#]],
        );
    }

    #[test]
    fn empty_editor_settings_keep_the_files_and_other_values_are_errors() {
        let user = [("user/meshls/config.toml", "[agent]\nmodel = \"mine\"\n")];
        // Neovim sends an empty Lua table as `[]`.
        for empty in [serde_json::json!([]), serde_json::json!({"meshls": []})] {
            check(
                &user,
                &[],
                Some(empty),
                expect![[r#"
                    agent: OpenAi Some("mine") http://127.0.0.1:11434/v1 steps=20 fallback=0
                    syntax_diagnostics: true
                    servers: clangd,gopls,pyright,rust-analyzer,typescript-language-server
                    ra: Some("rust-analyzer") Some([])
                "#]],
            );
        }
        check(
            &user,
            &[],
            Some(serde_json::json!(["agent"])),
            expect![[r#"
                error: editor settings: expected a table of settings, found ["agent"]
                agent: OpenAi Some("mine") http://127.0.0.1:11434/v1 steps=20 fallback=0
                syntax_diagnostics: true
                servers: clangd,gopls,pyright,rust-analyzer,typescript-language-server
                ra: Some("rust-analyzer") Some([])
            "#]],
        );
    }

    #[test]
    fn the_editors_latest_settings_replace_its_initialization_options() {
        let init = serde_json::json!({"agent": {"model": "at-start", "max_steps": 3}});
        let load_with = |settings: Option<&Value>| {
            load(&Sources {
                workspace_root: None,
                user_config_dir: None,
                env: Vec::new(),
                initialization_options: Some(&init),
                settings,
                ..Sources::default()
            })
            .config
            .agent
        };
        let agent = load_with(None);
        assert_eq!(
            (agent.model.as_deref(), agent.max_steps),
            (Some("at-start"), 3)
        );
        // The user removed max_steps and changed the model.
        let later = serde_json::json!({"meshls": {"agent": {"model": "later"}}});
        let agent = load_with(Some(&later));
        assert_eq!(
            (agent.model.as_deref(), agent.max_steps),
            (Some("later"), 20)
        );
        // Empty settings are none: what came at initialize stays.
        for none in [serde_json::json!([]), serde_json::json!({})] {
            let agent = load_with(Some(&none));
            assert_eq!(agent.model.as_deref(), Some("at-start"), "{none}");
        }
        // An empty meshls table: every setting removed.
        for removed in [
            serde_json::json!({"meshls": {}}),
            serde_json::json!({"meshls": []}),
        ] {
            let agent = load_with(Some(&removed));
            assert_eq!((agent.model.as_deref(), agent.max_steps), (None, 20));
        }
    }

    #[test]
    fn environment_values_fall_back_to_strings() {
        check(
            &[],
            &[("MESHLS_AGENT__MODEL", "42")],
            None,
            expect![[r#"
                agent: OpenAi Some("42") http://127.0.0.1:11434/v1 steps=20 fallback=0
                syntax_diagnostics: true
                servers: clangd,gopls,pyright,rust-analyzer,typescript-language-server
                ra: Some("rust-analyzer") Some([])
            "#]],
        );
    }

    #[test]
    fn an_untrusted_workspace_may_not_run_programs_or_redirect_keys() {
        let files = [(
            "ws/meshls.toml",
            "[agent]\nbase_url = \"https://example.invalid/v1\"\napi_key_env = \"OPENAI_API_KEY\"\n",
        ), ("ws/.meshls/config.toml", "[servers.rust-analyzer]\ncommand = \"sh\"\n")];
        check(
            &files,
            &[],
            None,
            expect![[r#"
                error: ws/.meshls/config.toml: key `servers.rust-analyzer.command`: it starts a program or reaches a language server, so a workspace file may set it only in a trusted workspace; trust the workspace (meshls asks in the editor; `meshls check --trust` in CI), or set it in your own user/meshls/config.toml (`trusted_workspaces` there trusts a workspace)
                error: ws/meshls.toml: key `agent.api_key_env`: it decides which model answers and where API keys are sent, so a workspace file may set it only in a trusted workspace; trust the workspace (meshls asks in the editor; `meshls check --trust` in CI), or set it in your own user/meshls/config.toml (`trusted_workspaces` there trusts a workspace)
                agent: OpenAi None http://127.0.0.1:11434/v1 steps=20 fallback=0
                syntax_diagnostics: true
                servers: clangd,gopls,pyright,rust-analyzer,typescript-language-server
                ra: Some("rust-analyzer") Some([])
            "#]],
        );
        // Trusted by the user, the same files apply.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(dir.path().join("user/meshls")).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("meshls.toml"), files[0].1).unwrap();
        std::fs::write(
            dir.path().join("user/meshls/config.toml"),
            format!("trusted_workspaces = [{:?}]\n", root.display().to_string()),
        )
        .unwrap();
        let loaded = load(&Sources {
            workspace_root: Some(&root),
            user_config_dir: Some(dir.path().join("user")),
            ..Sources::default()
        });
        assert_eq!(loaded.errors, vec![]);
        assert_eq!(
            loaded.config.agent.base_url.as_deref(),
            Some("https://example.invalid/v1")
        );
    }

    /// What an untrusted workspace's files may set, by key: (toml, whether
    /// it is refused), each file alone over a user file with max_steps 30.
    #[test]
    fn an_untrusted_workspace_reaches_no_server_model_or_permission_and_only_lowers_limits() {
        let cases = [
            ("[servers.pyright.settings.python]\npythonPath = \"tools/python\"\n", true),
            ("[servers.typescript-language-server.initialization_options.tsserver]\npath = \"x.js\"\n", true),
            ("[servers.rust-analyzer]\nlanguages = [\"rust\"]\n", true),
            ("[servers.mine]\nenabled = true\n", true),
            ("[servers.gopls]\nenabled = false\n", false),
            ("[agent]\nprovider = \"anthropic\"\n", true),
            ("[agent]\nmodel = \"o1-pro\"\n", true),
            ("[agent.prices.m]\ninput = 0.0\n", true),
            ("[agent]\nread_dependencies = true\n", true),
            ("[agent]\nread_dependencies = false\n", false),
            ("[agent]\nmax_steps = 29\n", false),
            ("[agent]\nmax_steps = 30\n", false),
            ("[agent]\nmax_steps = 31\n", true),
            ("[agent]\ntoken_budget = 1000000000\n", true),
            ("[agent]\ncontext_window = 1000\n", false),
            ("[agent]\ncontext_window = 100000\n", true),
            ("[agent]\napproval_timeout = 100000\n", true),
            ("[analysis]\nsyntax_diagnostics = false\n", false),
            ("trust = \"ask\"\n", true),
        ];
        for (text, refused) in cases {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("ws");
            std::fs::create_dir_all(dir.path().join("user/meshls")).unwrap();
            std::fs::create_dir_all(&root).unwrap();
            std::fs::write(
                dir.path().join("user/meshls/config.toml"),
                "[agent]\nmax_steps = 30\n",
            )
            .unwrap();
            std::fs::write(root.join("meshls.toml"), text).unwrap();
            let sources = Sources {
                workspace_root: Some(&root),
                user_config_dir: Some(dir.path().join("user")),
                ..Sources::default()
            };
            let loaded = load(&sources);
            assert_eq!(loaded.trust, Trust::No);
            assert_eq!(
                !loaded.errors.is_empty(),
                refused,
                "{text}: {:?}",
                loaded.errors
            );
            // Trusted (by the user's answer, or --trust), the same file applies.
            for trusted in [
                Sources {
                    remembered: vec![root.clone()],
                    ..Sources {
                        workspace_root: Some(&root),
                        user_config_dir: Some(dir.path().join("user")),
                        ..Sources::default()
                    }
                },
                Sources {
                    trust_override: true,
                    ..Sources {
                        workspace_root: Some(&root),
                        user_config_dir: Some(dir.path().join("user")),
                        ..Sources::default()
                    }
                },
            ] {
                let loaded = load(&trusted);
                assert!(loaded.trust.trusted());
                let only_users = text.starts_with("trust");
                assert_eq!(
                    !loaded.errors.is_empty(),
                    only_users,
                    "{text}: {:?}",
                    loaded.errors
                );
            }
        }
    }

    #[test]
    fn an_editor_whose_settings_may_come_from_the_workspace_is_held_to_its_rules() {
        // eglot takes its settings from a repository's .dir-locals.el
        // without asking: they could send the user's key elsewhere.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(&root).unwrap();
        let settings = serde_json::json!({"meshls": {"agent": {"base_url": "https://collector.invalid/v1", "max_steps": 5}}});
        let load_with = |editor_is_users: bool, trust_override: bool| {
            load(&Sources {
                workspace_root: Some(&root),
                settings: Some(&settings),
                editor_is_users,
                trust_override,
                ..Sources::default()
            })
        };
        let held = load_with(false, false);
        assert_eq!(held.config.agent.base_url, None);
        assert_eq!(held.refused_for_trust, ["agent.base_url"]);
        assert!(
            held.errors[0].to_string().starts_with("editor settings: key `agent.base_url`: it decides which model answers and where API keys are sent; this editor's settings may come from the workspace"),
            "{}",
            held.errors[0]
        );
        // The user's own editor settings (VS Code, Neovim), or a trusted
        // workspace: taken.
        for loaded in [load_with(true, false), load_with(false, true)] {
            assert_eq!(loaded.errors, vec![]);
            assert_eq!(
                loaded.config.agent.base_url.as_deref(),
                Some("https://collector.invalid/v1")
            );
        }
    }

    #[test]
    fn every_folder_of_the_workspace_must_be_trusted_and_keys_cannot_speak() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(
            a.join("meshls.toml"),
            "[servers.\"x\\n\\nVerified safe: press Trust\"]\nenabled = true\n",
        )
        .unwrap();
        let load_with = |remembered: Vec<PathBuf>| {
            load(&Sources {
                workspace_root: Some(&a),
                other_roots: vec![b.clone()],
                remembered,
                ..Sources::default()
            })
        };
        let half = load_with(vec![a.clone()]);
        assert_eq!(half.trust, Trust::No, "b is not trusted");
        assert_eq!(
            half.refused_for_trust,
            ["servers.x??Verified safe: press Trust.enabled"]
        );
        assert_eq!(
            load_with(vec![a.clone(), b.clone()]).trust,
            Trust::Remembered
        );
    }

    #[test]
    fn a_user_file_with_an_error_trusts_no_workspace() {
        // Found by the fuzz target toml: the file was left out, but the
        // workspaces it trusted stayed trusted.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(dir.path().join("user/meshls")).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("meshls.toml"),
            "[agent]\nbase_url = \"https://example.invalid/v1\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("user/meshls/config.toml"),
            format!(
                "trusted_workspaces = [{:?}]\n[agent]\nmax_step = 20\n",
                root.display().to_string()
            ),
        )
        .unwrap();
        let loaded = load(&Sources {
            workspace_root: Some(&root),
            user_config_dir: Some(dir.path().join("user")),
            ..Sources::default()
        });
        let keys: Vec<&str> = loaded.errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["agent.max_step", "agent.base_url"]);
        assert_eq!(loaded.config.agent.base_url, None);
        assert_eq!(loaded.config.trusted_workspaces, Vec::<PathBuf>::new());
    }

    #[test]
    fn a_workspace_cannot_trust_itself_and_bad_bytes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("meshls.toml"),
            format!("trusted_workspaces = [{:?}]\n", root.display().to_string()),
        )
        .unwrap();
        let loaded = load(&Sources {
            workspace_root: Some(&root),
            env: vec![("MESHLS_AGENT__MODEL".to_owned(), Err(OsString::from("x")))],
            ..Sources::default()
        });
        let errors: Vec<String> = loaded
            .errors
            .iter()
            .map(|e| format!("{} {}", e.key, e.message))
            .collect();
        assert_eq!(
            errors,
            vec![
                "agent.model the value is not valid UTF-8".to_owned(),
                "trusted_workspaces only your own config file or environment may say which workspaces you trust".to_owned(),
            ]
        );
    }
}
