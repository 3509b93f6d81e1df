//! The agent's hosts: what a run starts with (`context`); its senses, the real language servers asked about a
//! file as the editor has it (`senses`); the host in the editor, whose
//! changes are `workspace/applyEdit`s (`editor_host`); the headless one of
//! `meshls review` (`review_host`); and the editor's runs (`runs`), whose
//! `$/progress` reports stream the model's words (`progress`), and whose
//! steps reach the clients that ask as `meshls/runEvent`s (`events`).

pub mod context;
pub mod editor_host;
pub mod events;
pub mod progress;
pub mod review_host;
pub mod runs;
pub mod senses;
pub mod undo;
