//! `[servers.<name>]`: which downstream language servers run, and the
//! built-in defaults that make a workspace without configuration just work.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One downstream language server. Every field is optional in a config file,
/// so a user can change one field of a built-in server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The program to run, looked up on PATH.
    pub command: String,
    pub args: Vec<String>,
    /// LSP language ids this server handles.
    pub languages: Vec<String>,
    /// Files whose presence marks a project root for this server.
    pub root_markers: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub initialization_options: Option<serde_json::Value>,
    /// Answers to the server's `workspace/configuration` requests.
    pub settings: Option<serde_json::Value>,
    /// `false` turns a built-in server off.
    pub enabled: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            command: String::new(),
            args: Vec::new(),
            languages: Vec::new(),
            root_markers: Vec::new(),
            env: BTreeMap::new(),
            initialization_options: None,
            settings: None,
            // A server the user adds is meant to run.
            enabled: true,
        }
    }
}

/// The servers meshls runs when their command is on PATH.
pub fn builtin_servers() -> BTreeMap<String, ServerConfig> {
    let server = |command: &str, args: &[&str], languages: &[&str], root_markers: &[&str]| {
        let strings = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        ServerConfig {
            command: command.to_owned(),
            args: strings(args),
            languages: strings(languages),
            root_markers: strings(root_markers),
            ..ServerConfig::default()
        }
    };
    BTreeMap::from([
        (
            "rust-analyzer".to_owned(),
            server("rust-analyzer", &[], &["rust"], &["Cargo.toml"]),
        ),
        (
            "typescript-language-server".to_owned(),
            server(
                "typescript-language-server",
                &["--stdio"],
                &[
                    "typescript",
                    "typescriptreact",
                    "javascript",
                    "javascriptreact",
                ],
                &["tsconfig.json", "jsconfig.json", "package.json"],
            ),
        ),
        (
            "pyright".to_owned(),
            server(
                "pyright-langserver",
                &["--stdio"],
                &["python"],
                &["pyproject.toml", "pyrightconfig.json", "setup.py"],
            ),
        ),
        (
            "clangd".to_owned(),
            server(
                "clangd",
                &[],
                &["c", "cpp", "objective-c", "objective-cpp"],
                &["compile_commands.json", ".clangd"],
            ),
        ),
        (
            "gopls".to_owned(),
            server("gopls", &[], &["go"], &["go.mod", "go.work"]),
        ),
    ])
}
