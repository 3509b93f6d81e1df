//! The LLM coding agent: model providers, the agent loop, tools,
//! permissions and sessions.
//!
//! The `[agent]` configuration; the providers' wire formats (request
//! bodies, and streamed answers decoded into one [`model::Turn`]); one
//! endpoint over HTTP with timeouts and retries (`provider.rs`), and the
//! configured endpoints in order with fallback, circuit breakers and cost
//! (`endpoints.rs`); the host trait, workspace paths, permissions, and the
//! tools (`tools.rs`, `outputs.rs`); the agent loop with its verify rounds
//! and compaction (`run.rs`); sessions and the audit log (`session.rs`),
//! runs' checkpoints and how to undo them (`checkpoint.rs`), and a session
//! as markdown (`transcript.rs`).
//! This crate reaches the editor, documents and language servers only
//! through a host trait it defines, never through other crates of meshls.

pub mod anthropic;
pub mod checkpoint;
pub mod config;
pub mod endpoints;
pub mod files;
pub mod host;
pub mod model;
pub mod openai;
pub mod outputs;
pub mod paths;
pub mod permissions;
pub mod provider;
pub mod redact;
pub mod run;
pub mod session;
pub mod shell;
pub mod sse;
pub mod stream;
pub mod tools;
pub mod transcript;

pub use config::{AgentConfig, Provider, ProviderConfig};

/// Why talking to a model failed. Each message names the provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The answer stopped before its end: the connection dropped, or the
    /// server closed the stream early. Worth retrying.
    #[error("{provider} stopped answering midway ({reason}); try again")]
    CutOff {
        provider: &'static str,
        reason: String,
    },
    /// What came back is not the provider's format: the `base_url` may
    /// point at something else.
    #[error("{provider} sent an answer meshls cannot read: {reason}; check that base_url points at the right API")]
    Malformed {
        provider: &'static str,
        reason: String,
    },
    /// An error status, with what the provider said about it.
    #[error("{provider} answered HTTP {status}{}: {message}; {advice}", if kind.is_empty() { String::new() } else { format!(" ({kind})") })]
    Http {
        provider: &'static str,
        status: u16,
        kind: String,
        message: String,
        advice: String,
        /// How long the provider asked to wait (`Retry-After`).
        retry_after: Option<std::time::Duration>,
    },
    #[error("cannot reach {provider} at {url} ({reason}); {advice}")]
    Unreachable {
        provider: &'static str,
        url: String,
        reason: String,
        advice: String,
    },
    #[error("{provider} did not {} within {} s; try again, or raise {} under [agent] in meshls's config", what.doing(), after.as_secs_f64(), what.setting())]
    Timeout {
        provider: &'static str,
        what: Wait,
        after: std::time::Duration,
    },
    /// The answer went on past what any model's answer needs.
    #[error("{provider}'s answer passed {} MiB, so meshls stopped reading it; lower agent.max_tokens, or check that base_url points at a model's API", limit / (1024 * 1024))]
    TooLarge {
        provider: &'static str,
        limit: usize,
    },
    #[error("the environment variable {variable}, named by api_key_env in meshls's config, is not set: set it to your API key")]
    NoApiKey { variable: String },
    /// The provider reported an error (in a body, or mid-stream).
    #[error("{provider} reported an error{}: {message}", if kind.is_empty() { String::new() } else { format!(" ({kind})") })]
    Provider {
        provider: &'static str,
        kind: String,
        message: String,
    },
}

impl Error {
    /// Whether a provider's own error report (mid-stream) says it is
    /// overloaded, limiting, or failing, rather than that the request was
    /// wrong.
    pub fn provider_in_trouble(&self) -> bool {
        matches!(self, Error::Provider { kind, .. } if matches!(
            kind.as_str(),
            "overloaded_error" | "rate_limit_error" | "api_error" | "server_error"
        ))
    }
}

/// What a model endpoint took too long to do, each bounded by its own
/// setting under `[agent]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The first bytes of the answer (`first_token_timeout`).
    Start,
    /// The next bytes, once the answer has begun (`idle_timeout`): a stream
    /// that stalls halfway would otherwise hold the run until the total
    /// bound.
    GoOn,
    /// The whole answer (`total_timeout`).
    Finish,
}

impl Wait {
    fn doing(self) -> &'static str {
        match self {
            Wait::Start => "start answering",
            Wait::GoOn => "go on answering",
            Wait::Finish => "finish answering",
        }
    }

    fn setting(self) -> &'static str {
        match self {
            Wait::Start => "first_token_timeout",
            Wait::GoOn => "idle_timeout",
            Wait::Finish => "total_timeout",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
