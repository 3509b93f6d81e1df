//! What the handlers share, for serving the editor and for the agent's
//! hosts: the one ordered way out to the editor (`editor`), the open
//! documents (`documents`), the diagnostics of every source (`diagnostics`)
//! and the running language servers (`downstream`). Nothing here knows of
//! the agent, the CLI or how requests are routed.

pub mod diagnostics;
pub mod documents;
pub mod downstream;
pub mod editor;
