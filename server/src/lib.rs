//! meshls: the editor-facing language server, the headless commands for CI,
//! and the composition root that hands each crate its configuration.
//!
//! Folders by role, with dependencies one way: `lsp` (serving the editor)
//! and `cli` (the headless commands) use `agent` (the agent's hosts and
//! runs), which uses `state` (what the handlers share). Any of them may use
//! `ext` (meshls's own LSP contract), `config`, `storage` and `logging`.
//! Nothing uses `lsp` or `cli`; `tests/layout.rs` keeps it so.

mod agent;
pub mod cli;
pub mod config;
pub mod ext;
pub mod logging;
mod lsp;
mod state;
mod storage;

pub use lsp::{actions, serve, serve_stdio, session, transport};
