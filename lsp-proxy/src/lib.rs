//! The workspace's real language servers behind one connection.
//!
//! `Content-Length` framing (shared with the editor side), the
//! `[servers.<name>]` configuration with built-in defaults, the client for
//! one downstream server (spawn, JSON-RPC, timeouts, cancellation, crash
//! handling), and the set of a workspace's servers: starting them,
//! merging their capabilities, routing by language.
//!
//! This crate knows nothing of documents' contents, tree-sitter or models.

pub mod capabilities;
mod client;
pub mod config;
pub mod framing;
pub mod jsonrpc;
pub mod outbox;
pub mod safe;
pub mod semantic;
mod servers;
mod stats;
mod transport;

use std::time::Duration;

pub use client::Client;
pub use config::{builtin_servers, ServerConfig};
pub use servers::{
    FromServer, OpenDocument, OpenDocuments, ServerState, ServerStatus, Servers, StartOptions,
};
pub use stats::RequestStats;
pub use transport::{spawn, Incoming, SpawnSpec};

/// Why a call to a downstream server failed. Each message names the server
/// and says what to check.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("could not start {name} (`{command}`): {reason}; install it, or set `command` under [servers.{name}] in meshls.toml")]
    Spawn {
        name: String,
        command: String,
        reason: String,
    },
    #[error("{name} is not running: {reason}")]
    Gone { name: String, reason: String },
    #[error("{name} did not answer {method} within {after:?}; it may be busy indexing, or stuck")]
    Timeout {
        name: String,
        method: String,
        after: Duration,
    },
    #[error("{name} answered with error {code}: {message}")]
    Server {
        name: String,
        code: i64,
        message: String,
        data: Option<serde_json::Value>,
    },
    #[error("{name} answered {method} with a result meshls cannot read: {reason}")]
    BadResult {
        name: String,
        method: String,
        reason: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
