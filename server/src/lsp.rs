//! Serving the editor: stdin and stdout (`stdio`), the connection and its
//! message loop (`transport`), the `tower_lsp` server (`backend`), which
//! server answers what (`route`), and meshls's own code actions
//! (`actions`).

pub mod actions;
pub mod backend;
pub mod route;
pub mod stdio;
pub mod transport;

use std::sync::Arc;

use tower_lsp::LspService;

use crate::{
    ext,
    lsp::{
        backend::Backend,
        transport::{Ending, Session},
    },
    state::{
        diagnostics::DiagnosticsHub,
        documents::{self, Documents},
        downstream::Downstream,
        editor::{self, Editor},
    },
};

/// `meshls` (`serve`, `--stdio`): the language server on stdin/stdout, on
/// a runtime of its own, until the editor exits or closes the pipe.
pub fn serve() -> std::process::ExitCode {
    use std::process::ExitCode;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    // On a worker, not on this thread: the reader's hand-offs to the tasks
    // it wakes then stay on one thread instead of crossing two.
    let ending = runtime
        .block_on(async { tokio::spawn(serve_stdio()).await })
        .unwrap_or(Ending::Abrupt);
    tracing::info!(?ending, "session ended");
    // Handlers still running (a slow request the editor gave up on) must
    // not keep the process alive after exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match ending {
        Ending::Clean => ExitCode::SUCCESS,
        Ending::Abrupt => ExitCode::FAILURE,
    }
}

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
    .custom_method(ext::VIEW_DOCUMENT, Backend::view_document)
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
