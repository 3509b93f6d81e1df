//! Loading `meshls.toml`: layers from built-in defaults to the editor's
//! settings, each checked on its own so an error names its file and key.
//!
//! Order, later wins: built-in defaults, the user file
//! (`$XDG_CONFIG_HOME/meshls/config.toml`), the workspace files
//! (`.meshls/config.toml`, then `meshls.toml`), `MESHLS_<SECTION>__<KEY>`
//! environment variables, then the editor's `initializationOptions` or
//! `workspace/didChangeConfiguration` settings. Tables merge key by key;
//! any other value replaces the one below it.

use std::{
    collections::BTreeMap,
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            analysis: AnalysisConfig::default(),
            servers: meshls_proxy::builtin_servers(),
            agent: AgentConfig::default(),
        }
    }
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
}

/// Where the configuration comes from, apart from built-in defaults.
pub struct Sources<'a> {
    pub workspace_root: Option<&'a Path>,
    /// The user's config directory (normally `$XDG_CONFIG_HOME`).
    pub user_config_dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// `initializationOptions` or `didChangeConfiguration` settings, either
    /// the meshls table itself or an object holding it under `meshls`.
    pub client: Option<&'a Value>,
}

impl<'a> Sources<'a> {
    /// The process's own environment and the user's config directory.
    pub fn from_process(workspace_root: Option<&'a Path>, client: Option<&'a Value>) -> Self {
        Sources {
            workspace_root,
            user_config_dir: dirs::config_dir(),
            env: std::env::vars().collect(),
            client,
        }
    }
}

pub fn load(sources: &Sources<'_>) -> Loaded {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut merged = serde_json::to_value(Config::default()).unwrap_or(Value::Null);

    let mut paths = Vec::new();
    if let Some(dir) = &sources.user_config_dir {
        paths.push(dir.join("meshls").join("config.toml"));
    }
    if let Some(root) = sources.workspace_root {
        paths.push(root.join(".meshls").join("config.toml"));
        paths.push(root.join("meshls.toml"));
    }
    let mut layers = Vec::new();
    for path in paths {
        let source = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                files.push(ConfigFile { path, found: true });
                match toml::from_str::<toml::Table>(&text) {
                    Ok(table) => {
                        layers.push((source, serde_json::to_value(table).unwrap_or_default()))
                    }
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
    let mut env_vars = Vec::new();
    for (name, value) in &sources.env {
        if let Some(layer) = env_layer(name, value) {
            env_vars.push(name.clone());
            layers.push((format!("environment variable {name}"), layer));
        }
    }
    env_vars.sort();
    if let Some(client) = sources.client.filter(|v| !v.is_null()) {
        let table = client.get("meshls").unwrap_or(client);
        layers.push(("editor settings".to_owned(), table.clone()));
    }

    for (source, layer) in layers {
        match check_layer(&layer) {
            Ok(()) => merge(&mut merged, layer),
            Err((key, message)) => errors.push(ConfigError {
                source,
                key,
                message,
            }),
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
    }
}

/// Deserializes one layer alone; on error, the dotted key and the message.
fn check_layer(layer: &Value) -> Result<(), (String, String)> {
    match serde_path_to_error::deserialize::<_, Config>(layer) {
        Ok(_) => Ok(()),
        Err(err) => {
            let key = err.path().to_string();
            let key = if key == "." { String::new() } else { key };
            Err((key, err.into_inner().to_string()))
        }
    }
}

/// `MESHLS_AGENT__MAX_STEPS=30` is `{"agent": {"max_steps": 30}}`. Values that
/// read as JSON numbers, booleans, arrays or objects are taken as such; any
/// other value is a string. Variables without `__` (such as `MESHLS_LOG`)
/// are not configuration.
fn env_layer(name: &str, value: &str) -> Option<Value> {
    let path = name.strip_prefix("MESHLS_")?;
    if !path.contains("__") {
        return None;
    }
    let mut value = match serde_json::from_str::<Value>(value) {
        Ok(v) if !v.is_string() && !v.is_null() => v,
        _ => Value::String(value.to_owned()),
    };
    for key in path.rsplit("__") {
        value = Value::Object([(key.to_lowercase(), value)].into_iter().collect());
    }
    Some(value)
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

    fn check(files: &[(&str, &str)], env: &[(&str, &str)], client: Option<Value>, expect: Expect) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let root = dir.path().join("ws");
        let sources = Sources {
            workspace_root: Some(&root),
            user_config_dir: Some(dir.path().join("user")),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            client: client.as_ref(),
        };
        let loaded = load(&sources);
        let prefix = format!("{}/", dir.path().display());
        let mut out = String::new();
        for err in &loaded.errors {
            out.push_str(&format!("error: {err}\n").replace(&prefix, ""));
        }
        let c = &loaded.config;
        out.push_str(&format!(
            "agent: {:?} {:?} {} steps={} fallback={}\nsyntax_diagnostics: {}\nservers: {}\nra args: {:?}\n",
            c.agent.provider,
            c.agent.model,
            c.agent.primary().base_url(),
            c.agent.max_steps,
            c.agent.fallback.len(),
            c.analysis.syntax_diagnostics,
            c.servers.keys().cloned().collect::<Vec<_>>().join(","),
            c.servers.get("rust-analyzer").map(|s| &s.args),
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
            ra args: Some([])
        "#]],
        );
    }

    #[test]
    fn layers_override_in_order_and_tables_merge() {
        check(
            &[
                ("user/meshls/config.toml", "[agent]\nmodel = \"user-model\"\nmax_steps = 5\n"),
                (
                    "ws/meshls.toml",
                    "[agent]\nprovider = \"anthropic\"\napi_key_env = \"ANTHROPIC_API_KEY\"\n[[agent.fallback]]\nprovider = \"openai\"\n[servers.rust-analyzer]\nargs = [\"--log\"]\n[servers.ruff]\ncommand = \"ruff\"\nargs = [\"server\"]\nlanguages = [\"python\"]\n",
                ),
            ],
            &[("MESHLS_AGENT__MAX_STEPS", "7"), ("MESHLS_LOG", "debug")],
            Some(serde_json::json!({"meshls": {"analysis": {"syntax_diagnostics": false}}})),
            expect![[r#"
                agent: Anthropic Some("user-model") https://api.anthropic.com steps=7 fallback=1
                syntax_diagnostics: false
                servers: clangd,gopls,pyright,ruff,rust-analyzer,typescript-language-server
                ra args: Some(["--log"])
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
                ra args: Some([])
            "#]],
        );
    }
}
