//! `[agent]`: which model provider the agent talks to. API keys are never
//! configured here: the config names the environment variable that holds one.

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub provider: Provider,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    /// Most model calls in one run.
    pub max_steps: u32,
    /// Providers tried in order when the primary one fails.
    pub fallback: Vec<ProviderConfig>,
}

impl AgentConfig {
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
            max_steps: 20,
            fallback: Vec::new(),
        }
    }
}
