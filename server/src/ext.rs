//! meshls's own LSP contract, in one place: every command id it answers
//! (`workspace/executeCommand`), every method of its own, the sources of
//! the diagnostics it publishes and the tags it puts in items' `data`. The
//! VS Code extension and the Neovim plugin name the commands too; a test
//! (`tests::the_clients_name_the_commands_meshls_answers`) compares them.

/// Reports each language server and the agent (`{"quiet": true}`: no
/// message, only the answer).
pub const STATUS: &str = "meshls.status";
/// Asks the agent: an instruction, and where the user is.
pub const ASK: &str = "meshls.ask";
/// Runs one of meshls's code actions (the argument its action carries).
pub const RUN_ACTION: &str = "meshls.runAction";
/// Fixes every error the servers report in a file.
pub const FIX: &str = "meshls.fix";
/// Reviews a file; its findings become its diagnostics.
pub const REVIEW: &str = "meshls.review";
/// Cancels the runs under way.
pub const CANCEL: &str = "meshls.cancel";
/// Starts a new agent session.
pub const NEW_SESSION: &str = "meshls.newSession";

/// Every command meshls answers itself, as it advertises them.
pub const COMMANDS: [&str; 7] = [STATUS, ASK, RUN_ACTION, FIX, REVIEW, CANCEL, NEW_SESSION];

/// Commands and methods with these prefixes are meshls's, never a
/// language server's.
pub const COMMAND_PREFIX: &str = "meshls.";
pub const METHOD_PREFIX: &str = "meshls/";

/// meshls's copy of a document (`{textDocument: {uri}}` to `{uri,
/// version, languageId, text}`).
pub const VIEW_DOCUMENT: &str = "meshls/viewDocument";

/// The source of meshls's own syntax-error diagnostics.
pub const SYNTAX_SOURCE: &str = meshls_analysis::DIAGNOSTIC_SOURCE;
/// The source of a review's findings, in the editor and in CI.
pub const REVIEW_SOURCE: &str = "meshls-review";

/// The key in an item's `data` naming the server that made it, so that a
/// resolve goes back to it.
pub const SERVER_TAG: &str = "meshlsServer";
/// [`SERVER_TAG`]'s value on meshls's own items.
pub const OWN_TAG: &str = "meshls";

/// The change annotation of agent edits the editor has the user confirm.
pub const CONFIRM_ANNOTATION: &str = "meshls-agent";
/// The start of the progress tokens of the agent's runs.
pub const RUN_TOKEN_PREFIX: &str = "meshls-agent-";
/// The start of the ids of meshls's requests to the editor, apart from
/// tower-lsp's numbers.
pub const REQUEST_ID_PREFIX: &str = "meshls:";
