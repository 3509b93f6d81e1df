//! The LLM coding agent: model providers, the agent loop, tools,
//! permissions and sessions.
//!
//! So far: the `[agent]` configuration, and the providers' wire formats
//! (request bodies, and streamed answers decoded into one [`model::Turn`]).
//! This crate reaches the editor, documents and language servers only
//! through a host trait it defines, never through other crates of meshls.

pub mod anthropic;
pub mod config;
pub mod model;
pub mod openai;
pub mod stream;

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
    /// The provider reported an error (in a body, or mid-stream).
    #[error("{provider} reported an error{}: {message}", if kind.is_empty() { String::new() } else { format!(" ({kind})") })]
    Provider {
        provider: &'static str,
        kind: String,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
