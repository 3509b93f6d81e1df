//! A synchronous LSP test client for the end-to-end tests.
//!
//! The tests spawn the real `meshls` binary over stdio, exactly as an editor
//! would, and talk to it through [`Server`]. Plain threads are used instead of
//! an async runtime so that a test reads top to bottom and a hang turns into a
//! panic with the server's recent output instead of a silent timeout.
//!
//! Besides the client, this crate provides fixtures ([`Workspace`]), an
//! emulated editor side (applying edits, answering questions), a subset
//! matcher for JSON answers ([`assert_matches`]) and an edit oracle
//! ([`TextModel`], [`Rng`]) that shares no code with the server, so that what
//! the tests expect is computed independently of what they test.
//!
//! The modules, one job each:
//!
//! - `env`: where the meshls binary and the language servers are, and PATH;
//! - `fixtures`: [`Workspace`] and its `//- /path` fixtures, the user config;
//! - `client`: [`Server`] and [`ServerBuilder`], framing, waiting for messages;
//! - `editor`: the editor's side: open documents, `workspace/applyEdit`,
//!   `window/showMessageRequest`;
//! - `matcher`: [`assert_matches`], the subset matcher for JSON;
//! - `oracle`: [`TextModel`] and [`Rng`], the independent models;
//! - `sarif`: [`assert_valid_sarif`] against the official schema.
//!
//! `model_server` (a scripted model provider), `processes` (the processes a
//! test left) and `type_error` (a project and the agent's fix for it) are
//! public modules of their own.
//!
//! Everything a test uses is re-exported here, so tests name
//! `meshls_e2e::Server`, not the module it lives in.

pub mod model_server;
pub mod processes;
pub mod type_error;

mod client;
mod editor;
mod env;
mod fixtures;
mod matcher;
mod oracle;
mod sarif;

pub use client::{Server, ServerBuilder};
pub use env::{
    clangd_path, meshls_bin, node_bin, path_with_first, path_with_node_servers, pyright_path,
    stdout,
};
pub use fixtures::{configure_fake_servers, Workspace, BROKEN_SERVER};
pub use matcher::assert_matches;
pub use oracle::{Rng, TextModel};
pub use sarif::{assert_valid_sarif, sarif_errors};
