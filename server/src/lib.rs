//! meshls: the editor-facing language server and the composition root that
//! hands each crate its configuration.

pub mod backend;
pub mod config;
pub mod doctor;
pub mod documents;
pub mod logging;
pub mod storage;
pub mod transport;

use tower_lsp::LspService;

use crate::{backend::Backend, documents::Documents, transport::Ending};

/// Serves LSP on stdin/stdout until the editor exits or closes the pipe.
pub async fn serve_stdio() -> Ending {
    let (docs, events) = Documents::new();
    let (service, socket) = LspService::build(|client| {
        tokio::spawn(documents::publish_diagnostics(
            docs.clone(),
            client.clone(),
            events,
        ));
        Backend::new(client, docs.clone())
    })
    .custom_method("meshls/viewDocument", Backend::view_document)
    .finish();
    transport::serve(
        tokio::io::stdin(),
        tokio::io::stdout(),
        service,
        socket,
        docs,
    )
    .await
}
