//! meshls: the editor-facing language server and the composition root that
//! hands each crate its configuration.

pub mod actions;
pub mod agent_host;
pub mod backend;
pub mod check;
pub mod config;
pub mod diagnostics;
pub mod doctor;
pub mod documents;
pub mod downstream;
pub mod editor;
pub mod languages;
pub mod logging;
pub mod review;
pub mod route;
pub mod runs;
pub mod sarif;
pub mod senses;
pub mod stdio;
pub mod storage;
pub mod transport;
pub mod trust;

use std::sync::Arc;

use tower_lsp::LspService;

use crate::{
    backend::Backend,
    diagnostics::DiagnosticsHub,
    documents::Documents,
    downstream::Downstream,
    editor::Editor,
    transport::{Ending, Session},
};

/// Serves LSP on stdin/stdout until the editor exits or closes the pipe.
pub async fn serve_stdio() -> Ending {
    let (input, output, _blocking_again) = stdio::open();
    let session = session(output);
    let downstream = session.downstream.clone();
    let ending = transport::serve(input, session).await;
    // However the session ended (an editor that dies sends no `shutdown`),
    // the servers and whatever they started go with it. Servers already
    // shut down return at once.
    downstream.get().shutdown(SERVER_STOP).await;
    ending
}

/// A session with the editor behind `output`, for [`transport::serve`];
/// its tasks are spawned on the current tokio runtime. `serve_stdio` uses
/// it, and so do tests and fuzzing that run a session in-process.
pub fn session(output: editor::Output) -> Session {
    let (docs, events) = Documents::new();
    let downstream = Downstream::new();
    let (editor, writer) = Editor::new(output);
    let writer = tokio::spawn(writer);
    let (service, socket) = LspService::build(|client| {
        let hub = Arc::new(DiagnosticsHub::new(client.clone()));
        tokio::spawn(documents::publish_diagnostics(
            docs.clone(),
            hub.clone(),
            client.clone(),
            events,
        ));
        Backend::new(
            client,
            editor.clone(),
            docs.clone(),
            downstream.clone(),
            hub,
        )
    })
    .custom_method("meshls/viewDocument", Backend::view_document)
    .finish();
    Session {
        service,
        socket,
        docs,
        downstream,
        editor,
        writer,
    }
}

/// How long each server gets to stop when the session ends without
/// `shutdown`.
const SERVER_STOP: std::time::Duration = std::time::Duration::from_secs(2);
