//! `[agent]`: which model provider the agent talks to. API keys are never
//! configured here: the config names the environment variable that holds one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::permissions::Rule;

/// The defaults of the limits and timeouts, here so that this file needs
/// nothing of the loop or the providers; `run::Limits` and
/// `provider::Policy` take them.
pub mod defaults {
    /// Model calls in one run.
    pub const MAX_STEPS: u32 = 20;
    /// Tokens (in and out) in one run.
    pub const TOKEN_BUDGET: u64 = 1_000_000;
    /// Tokens in one answer.
    pub const MAX_TOKENS: u32 = 8192;
    /// The context window when nothing says otherwise.
    pub const CONTEXT_WINDOW: u64 = 128_000;
    /// Times the model is told of new errors its edits caused.
    pub const VERIFY_ROUNDS: u32 = 2;
    /// Seconds to connect, to the first bytes, of silence mid-answer, for
    /// a whole answer.
    pub const CONNECT: u64 = 10;
    pub const FIRST_TOKEN: u64 = 90;
    pub const IDLE: u64 = 60;
    pub const TOTAL: u64 = 600;
    /// Tries in all, the first included.
    pub const ATTEMPTS: u32 = 4;
    /// Days a session is kept after its last use.
    pub const KEEP_SESSIONS_DAYS: u64 = 90;
    pub const CHECKPOINT_BYTES: u64 = 20 * 1024 * 1024;
    pub const CONTEXT_TOKENS: u64 = 6_000;
    pub const INSTRUCTION_FILES: [&str; 4] = [
        "AGENTS.md",
        "CLAUDE.md",
        ".github/copilot-instructions.md",
        ".cursorrules",
    ];
}

/// Where a local OpenAI-compatible server (Ollama, llama.cpp) listens by
/// default: the endpoint used when nothing is configured.
pub const LOCAL_BASE_URL: &str = "http://127.0.0.1:11434/v1";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// OpenAI's chat completions API, and every server that speaks it.
    #[default]
    #[serde(rename = "openai")]
    OpenAi,
    Anthropic,
}

/// One model endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    pub provider: Provider,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// The name of the environment variable holding the API key.
    pub api_key_env: Option<String>,
}

impl ProviderConfig {
    /// The model: the configured one, else a sensible default for the
    /// endpoint (the example for OpenAI, a coding model for a local
    /// server).
    pub fn model(&self) -> &str {
        match (&self.model, self.provider, &self.api_key_env) {
            (Some(model), _, _) => model,
            (None, Provider::Anthropic, _) => "claude-sonnet-4-5",
            (None, Provider::OpenAi, Some(_)) => "gpt-4o-mini",
            (None, Provider::OpenAi, None) => "qwen2.5-coder:7b",
        }
    }

    /// The endpoint: the configured one, else the provider's own, else (for an
    /// OpenAI-compatible provider without a key) a local server.
    pub fn base_url(&self) -> &str {
        match (&self.base_url, self.provider, &self.api_key_env) {
            (Some(url), _, _) => url,
            (None, Provider::Anthropic, _) => "https://api.anthropic.com",
            (None, Provider::OpenAi, Some(_)) => "https://api.openai.com/v1",
            (None, Provider::OpenAi, None) => LOCAL_BASE_URL,
        }
    }
}

/// `[agent]`: the primary provider's fields inline (serde cannot flatten a
/// struct and still refuse unknown keys), then the limits and fallbacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub provider: Provider,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    /// Most model calls in one run.
    pub max_steps: u32,
    /// Most tokens (in and out) one run may use.
    pub token_budget: u64,
    /// Most tokens one answer may have.
    pub max_tokens: u32,
    /// Tokens the model takes in at once; unset, a guess from the provider
    /// (`context_window()`).
    pub context_window: Option<u64>,
    /// Times the agent is told of new errors its edits caused, and tries
    /// again; 0 turns the check off.
    pub verify_rounds: u32,
    /// Seconds to connect, to the first token of an answer, of silence
    /// once an answer has begun, and for a whole answer.
    pub connect_timeout: u64,
    pub first_token_timeout: u64,
    pub idle_timeout: u64,
    pub total_timeout: u64,
    /// Tries after the first, before the next provider is asked.
    pub retries: u32,
    /// Providers tried in order when the primary one fails.
    pub fallback: Vec<ProviderConfig>,
    /// Prices by model name, for the cost shown with token counts.
    pub prices: BTreeMap<String, Price>,
    /// Per tool: allow, ask or deny, or rules (`permissions.rs`).
    pub permissions: BTreeMap<String, Rule>,
    /// Whether the agent has `run_command` at all.
    pub run_command: bool,
    /// Seconds a question to the user (may the agent do this?) waits for
    /// an answer; none by then means no.
    pub approval_timeout: u64,
    /// Whether `definition` and `references` quote lines of dependency
    /// sources outside the workspace (the toolchain, the package
    /// registries' caches, `node_modules`); other lines outside the
    /// workspace are never quoted.
    pub read_dependencies: bool,
    /// Days a session is kept after it was last used; older ones are
    /// removed, with their audit lines, when meshls starts.
    pub keep_sessions_days: u64,
    /// The most bytes of file text a run keeps to undo it
    /// (`meshls.undoRun`); past it, its oldest files' go first.
    pub checkpoint_bytes: u64,
    /// The most tokens of context a run starts with (the selection or the
    /// enclosing item, diagnostics, the project's instructions, the open
    /// files), besides the instruction.
    pub context_tokens: u64,
    /// The project's instruction files the agent reads before each run:
    /// `AGENTS.md` from the file's folder up to the root (nearest last),
    /// the others at the root.
    pub instruction_files: Vec<String>,
}

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

impl Price {
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input + output_tokens as f64 * self.output) / 1_000_000.0
    }
}

impl AgentConfig {
    /// The configured context window, else one every current model of the
    /// provider has (a local server's is often smaller, and set by it).
    pub fn context_window(&self) -> u64 {
        match (self.context_window, self.provider, &self.api_key_env) {
            (Some(tokens), _, _) => tokens,
            (None, Provider::Anthropic, _) => 200_000,
            (None, Provider::OpenAi, Some(_)) => 128_000,
            (None, Provider::OpenAi, None) => 32_768,
        }
    }

    /// The variables that hold API keys, the fallbacks' included.
    pub fn key_variables(&self) -> Vec<String> {
        std::iter::once(&self.api_key_env)
            .chain(self.fallback.iter().map(|f| &f.api_key_env))
            .flatten()
            .cloned()
            .collect()
    }

    pub fn primary(&self) -> ProviderConfig {
        ProviderConfig {
            provider: self.provider,
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            api_key_env: self.api_key_env.clone(),
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            provider: Provider::default(),
            model: None,
            base_url: None,
            api_key_env: None,
            max_steps: defaults::MAX_STEPS,
            token_budget: defaults::TOKEN_BUDGET,
            max_tokens: defaults::MAX_TOKENS,
            context_window: None,
            verify_rounds: defaults::VERIFY_ROUNDS,
            connect_timeout: defaults::CONNECT,
            first_token_timeout: defaults::FIRST_TOKEN,
            idle_timeout: defaults::IDLE,
            total_timeout: defaults::TOTAL,
            retries: defaults::ATTEMPTS - 1,
            fallback: Vec::new(),
            prices: BTreeMap::new(),
            permissions: BTreeMap::new(),
            run_command: false,
            approval_timeout: 120,
            read_dependencies: true,
            keep_sessions_days: defaults::KEEP_SESSIONS_DAYS,
            checkpoint_bytes: defaults::CHECKPOINT_BYTES,
            context_tokens: defaults::CONTEXT_TOKENS,
            instruction_files: defaults::INSTRUCTION_FILES
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
        }
    }
}
