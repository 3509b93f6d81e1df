//! The LLM coding agent: model providers, the agent loop, tools,
//! permissions and sessions.
//!
//! For now this holds the `[agent]` configuration; the agent itself comes
//! with its own issue. This crate reaches the editor, documents and language
//! servers only through a host trait it defines, never through other crates
//! of meshls.

pub mod config;

pub use config::{AgentConfig, Provider, ProviderConfig};
