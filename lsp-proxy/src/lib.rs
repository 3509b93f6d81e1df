//! The workspace's real language servers behind one connection.
//!
//! For now this holds what both sides of meshls share: `Content-Length`
//! framing, and the `[servers.<name>]` configuration with the built-in
//! defaults. Spawning, routing and merging come with the proxy itself.
//!
//! This crate knows nothing of documents' contents, tree-sitter or models.

pub mod config;
pub mod framing;

pub use config::{builtin_servers, ServerConfig};
