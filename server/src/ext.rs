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

/// The workspace's agent sessions, newest first: `[{id, title, started,
/// updated, runs, tokens: {input, output}, cost, state}]`.
pub const SESSIONS: &str = "meshls.sessions";

/// Opens a session's transcript (markdown) with `window/showDocument`:
/// the session given, else the current one.
pub const SHOW_SESSION: &str = "meshls.showSession";

/// Undoes a whole run in one workspace edit (`[{run}]`, else the current
/// session's latest run that changed files): `{run, undone, restored,
/// deleted, left: [{file, why}], message}`.
pub const UNDO_RUN: &str = "meshls.undoRun";

/// Answers a question of the agent's (`[{question, answer}]`, the answer
/// `allow`, `always` or `deny`): the command of the code actions that
/// offer the questions waiting for the user.
pub const ANSWER: &str = "meshls.answer";

/// Every command meshls answers itself, as it advertises them.
pub const COMMANDS: [&str; 11] = [
    STATUS,
    ASK,
    RUN_ACTION,
    FIX,
    REVIEW,
    CANCEL,
    NEW_SESSION,
    SESSIONS,
    SHOW_SESSION,
    UNDO_RUN,
    ANSWER,
];

/// Commands and methods with these prefixes are meshls's, never a
/// language server's.
pub const COMMAND_PREFIX: &str = "meshls.";
pub const METHOD_PREFIX: &str = "meshls/";

/// What a run does, as it does it, to a client that asked for it with the
/// experimental capability [`RUN_EVENTS_CAPABILITY`].
pub const RUN_EVENT: &str = "meshls/runEvent";
/// `experimental.meshlsRunEvents: true` in the client's capabilities.
pub const RUN_EVENTS_CAPABILITY: &str = "meshlsRunEvents";

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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::COMMANDS;

    fn read(relative: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(relative);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
    }

    /// The quoted strings in `text`, with `quote` as the quote mark.
    fn quoted(text: &str, quote: char) -> Vec<&str> {
        text.split(quote).skip(1).step_by(2).collect()
    }

    /// The text between `start` and the first `end` after it.
    fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
        let from = text
            .find(start)
            .unwrap_or_else(|| panic!("no {start:?} in the file"))
            + start.len();
        let to = text[from..].find(end).expect("the end of the block") + from;
        &text[from..to]
    }

    #[test]
    fn the_clients_name_the_commands_meshls_answers() {
        // VS Code: the ids its `meshls.client.*` commands send.
        let vscode = read("vscode-extension/src/commands.ts");
        let block = between(&vscode, "export const SERVER_COMMANDS = {", "}");
        let named = quoted(block, '"');
        assert!(named.len() >= 4, "{block}");
        for id in &named {
            assert!(
                COMMANDS.contains(id),
                "the VS Code extension sends {id}, which meshls does not answer"
            );
        }
        // Neovim: every `M.execute('meshls.…', ...)` of the plugin.
        let nvim = read("nvim-plugin/lua/meshls/init.lua");
        let executed: Vec<&str> = nvim
            .split("M.execute('")
            .skip(1)
            .filter_map(|rest| rest.split('\'').next())
            .collect();
        assert!(executed.len() >= 5, "{executed:?}");
        for id in &executed {
            assert!(
                COMMANDS.contains(id),
                "the Neovim plugin sends {id}, which meshls does not answer"
            );
        }
        // Between them, the clients reach every command a user runs by name
        // (`meshls.runAction`, `meshls.fix` and `meshls.answer` come with
        // code actions).
        for id in COMMANDS {
            if [super::RUN_ACTION, super::FIX, super::ANSWER].contains(&id) {
                continue;
            }
            assert!(
                named.contains(&id) || executed.contains(&id),
                "no client sends {id}"
            );
        }
    }

    #[test]
    fn the_clients_start_meshls_for_every_language_it_knows() {
        let known: Vec<&str> = meshls_analysis::KNOWN
            .iter()
            .map(|known| known.id)
            .collect();
        let extension = read("vscode-extension/src/extension.ts");
        let block = between(
            &extension,
            "export const LANGUAGES: readonly string[] = [",
            "]",
        );
        assert_eq!(
            quoted(block, '"'),
            known,
            "vscode-extension/src/extension.ts LANGUAGES"
        );
        let package = read("vscode-extension/package.json");
        let package: serde_json::Value = serde_json::from_str(&package).unwrap();
        let activation: Vec<&str> = package["activationEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|event| event.as_str()?.strip_prefix("onLanguage:"))
            .collect();
        assert_eq!(
            activation, known,
            "vscode-extension/package.json activationEvents"
        );
        let nvim = read("nvim-plugin/lua/meshls/init.lua");
        let block = between(&nvim, "filetypes = {", "}");
        assert_eq!(quoted(block, '\''), known, "nvim-plugin defaults.filetypes");
    }
}
