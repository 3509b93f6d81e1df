//! The real language servers behind meshls: typescript-language-server
//! (from tests/node_modules, installed by tests/run.sh) answers through
//! meshls, its diagnostics merge with meshls's own, and it goes away with
//! meshls.

use meshls_e2e::{
    configure_fake_servers, path_with_node_servers, processes, Server, Workspace, BROKEN_SERVER,
};

/// Every process whose working directory is `dir`: the servers meshls
/// started there, and meshls itself.
fn processes_in(dir: &std::path::Path) -> Vec<processes::Process> {
    processes::processes_in(dir, 0)
}
use serde_json::{json, Value};

/// Configures one server run by the scripted `fake_server.py` in `mode`,
/// for TypeScript documents.
fn configure_fake_server(ws: &Workspace, name: &str, mode: &str) {
    configure_fake_servers(ws, &[(name, mode, "typescript")]);
}

const PROJECT: &str = r#"
//- /tsconfig.json
{"compilerOptions": {"strict": true}}
//- /src/util.ts
export function double(n: number): number {
  return n * 2;
}
//- /src/main.ts
import { double } from "./util";
const label: string = double(21);
export const text = label.toUpperCase(;
"#;

/// Waits until no process runs in `dir`. Signals take a moment to land;
/// the deadline only guards against a hang.
fn assert_nothing_left_in(dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left = processes_in(dir);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "processes left running: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn typescript_answers_through_meshls_and_diagnostics_merge() {
    let ws = Workspace::new(PROJECT);
    let (mut server, init) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();
    let caps = &init["capabilities"];
    for provider in [
        "hoverProvider",
        "definitionProvider",
        "referencesProvider",
        "renameProvider",
    ] {
        assert!(
            caps.get(provider).is_some_and(|v| v != &json!(false)),
            "{provider}: {caps}"
        );
    }
    assert_eq!(
        caps["textDocumentSync"]["change"], 2,
        "meshls's own sync stays: {caps}"
    );
    assert_eq!(
        caps["semanticTokensProvider"]["legend"]["tokenTypes"][10], "function",
        "typescript-language-server's legend, as it sent it: {caps}"
    );

    let main = ws.uri("src/main.ts");
    let util = ws.uri("src/util.ts");
    server.open(&util, "typescript", &ws.read("src/util.ts"));
    server.open(&main, "typescript", &ws.read("src/main.ts"));

    // One publication holds both meshls's syntax error and TypeScript's type error.
    let published = server.wait_notification("textDocument/publishDiagnostics", |p| {
        let sources: Vec<&str> = p["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["source"].as_str())
            .collect();
        p["uri"] == main.as_str() && sources.contains(&"meshls") && sources.contains(&"typescript")
    });
    let type_error = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == 2322)
        .unwrap_or_else(|| panic!("a type error: {published}"));
    assert_eq!(type_error["range"]["start"]["line"], 1);

    let at_double =
        json!({"textDocument": {"uri": main}, "position": {"line": 1, "character": 24}});
    let hover = server
        .request("textDocument/hover", at_double.clone())
        .unwrap();
    assert!(
        hover.to_string().contains("double(n: number): number"),
        "{hover}"
    );

    let definition = server
        .request("textDocument/definition", at_double.clone())
        .unwrap();
    let target = if definition.is_array() {
        definition[0].clone()
    } else {
        definition
    };
    assert_eq!(target["uri"], util.as_str(), "{target}");
    assert_eq!(target["range"]["start"]["line"], 0);

    let mut references = at_double.clone();
    references["context"] = json!({"includeDeclaration": true});
    let references = server
        .request("textDocument/references", references)
        .unwrap();
    let files: Vec<&str> = references
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["uri"].as_str())
        .collect();
    assert!(
        files.contains(&util.as_str()) && files.contains(&main.as_str()),
        "{references}"
    );

    // A request on a document of a language no server handles is null, not an error.
    server.open(&ws.uri("notes.txt"), "plaintext", "hello");
    let none = server.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": ws.uri("notes.txt")}, "position": {"line": 0, "character": 1}}),
    );
    assert_eq!(none, Ok(Value::Null));

    assert!(
        !processes_in(ws.root()).is_empty(),
        "typescript-language-server runs in the workspace"
    );
    assert!(server.shutdown_and_exit().success());
    assert_nothing_left_in(ws.root());
}

#[test]
fn a_monorepo_opened_at_its_top_gets_the_servers_of_its_packages() {
    // Markers only in packages/web (two levels down); pyright's only
    // deeper than that, and in node_modules.
    let ws = Workspace::new(
        "//- /README.md\nmonorepo\n\
         //- /packages/web/package.json\n{\"name\": \"web\"}\n\
         //- /packages/web/tsconfig.json\n{\"compilerOptions\": {\"strict\": true}}\n\
         //- /packages/web/src/main.ts\nexport const n: number = \"not a number\";\n\
         //- /packages/web/tools/py/deeper/pyproject.toml\n[project]\nname = \"x\"\n\
         //- /node_modules/dep/pyproject.toml\n[project]\nname = \"y\"\n",
    );
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();
    let main = ws.uri("packages/web/src/main.ts");
    server.open(&main, "typescript", &ws.read("packages/web/src/main.ts"));
    let published =
        server.wait_publication(&main, |d| d["source"] == "typescript" && d["code"] == 2322);
    assert_eq!(published["diagnostics"][0]["range"]["start"]["line"], 0);
    let status = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.status", "arguments": []}),
        )
        .unwrap();
    let names: Vec<&str> = status["servers"]
        .as_array()
        .unwrap_or_else(|| panic!("{status}"))
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"typescript-language-server"), "{status}");
    assert!(!names.contains(&"pyright"), "{status}");
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_server_that_fails_to_start_is_reported_and_the_others_still_serve() {
    let ws = Workspace::new(PROJECT);
    ws.write_user_config(BROKEN_SERVER);
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();
    let shown = server.wait_notification("window/showMessage", |p| {
        p["message"].as_str().unwrap_or("").contains("broken")
    });
    let message = shown["message"].as_str().unwrap();
    assert!(
        message.contains("broken failed to start") && message.contains("runs without it"),
        "{message}"
    );
    assert_eq!(shown["type"], 2);

    let main = ws.uri("src/main.ts");
    server.open(&main, "typescript", &ws.read("src/main.ts"));
    let hover = server
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": main}, "position": {"line": 1, "character": 24}}),
        )
        .unwrap();
    assert!(hover.to_string().contains("double"), "{hover}");
    assert!(server.shutdown_and_exit().success());
}

/// The pid of the typescript-language-server meshls started in `dir`.
fn typescript_server_pid(dir: &std::path::Path) -> Option<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            (cwd == dir && String::from_utf8_lossy(&cmdline).contains("typescript-language-server"))
                .then_some(pid)
        })
}

#[test]
fn a_killed_server_is_restarted_with_the_current_documents() {
    let ws = Workspace::new(PROJECT);
    let (mut server, _) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();
    let main = ws.uri("src/main.ts");
    let util = ws.uri("src/util.ts");
    server.open(&util, "typescript", &ws.read("src/util.ts"));
    server.open(&main, "typescript", &ws.read("src/main.ts"));
    let has_type_error_on = |p: &Value, line: u64| {
        p["uri"] == main.as_str()
            && p["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["code"] == 2322 && d["range"]["start"]["line"] == line)
    };
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        has_type_error_on(p, 1)
    });

    for round in 0..3u64 {
        let pid = typescript_server_pid(ws.root()).expect("typescript-language-server runs");
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        // Edited while the server is down or restarting: the type error moves.
        let line = 2 + round;
        let mut text = String::from("import { double } from \"./util\";\n");
        for _ in 1..line {
            text.push_str("export const ok: number = double(1);\n");
        }
        text.push_str(&format!(
            "export const bad{round}: string = double({round});\n"
        ));
        server.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": main, "version": 2 + round}, "contentChanges": [{"text": text}]}),
        );
        server.wait_notification("window/logMessage", |p| {
            p["message"]
                .as_str()
                .unwrap_or("")
                .contains("typescript-language-server stopped and was restarted")
        });
        server.wait_notification("textDocument/publishDiagnostics", |p| {
            has_type_error_on(p, line)
        });
        assert_ne!(typescript_server_pid(ws.root()), Some(pid), "a new process");
    }

    let hover = server
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": main}, "position": {"line": 0, "character": 10}}),
        )
        .unwrap();
    assert!(hover.to_string().contains("double"), "{hover}");
    let view = server.view_document(&main).unwrap();
    assert_eq!(view["version"], 4);
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_server_that_keeps_dying_is_given_up_and_reported_once() {
    let ws = Workspace::new("//- /a.ts\nexport const a = 1;\n");
    configure_fake_server(&ws, "dies", "dies");
    // Only the dying server: no typescript-language-server on this PATH.
    let (mut server, init) = Server::builder(&ws).start_initialized();
    assert_eq!(init["capabilities"]["hoverProvider"], true);
    let shown = server.wait_notification("window/showMessage", |p| p["type"] == 1);
    let message = shown["message"].as_str().unwrap();
    assert!(
        message.contains("dies stopped 5 times in a row and is not restarted again"),
        "{message}"
    );
    // With its only server gone, hover is simply empty, and meshls serves on.
    let uri = ws.uri("a.ts");
    server.open(&uri, "typescript", "export const a = 1;\n");
    let hover = server.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 14}}),
    );
    assert_eq!(hover, Ok(Value::Null));
    let failures = server
        .messages()
        .iter()
        .filter(|m| m["method"] == "window/showMessage" && m["params"]["type"] == 1)
        .count();
    assert_eq!(failures, 1);
    assert!(server.shutdown_and_exit().success());
}

const EDITING: &str = r#"
//- /tsconfig.json
{"compilerOptions": {"strict": true}}
//- /src/util.ts
export function double(n: number): number {
  return n * 2;
}
export function triple(n: number): number {
  return n * 3;
}
//- /src/main.ts
import { double } from "./util";
export const a = double(21).toFi;
export const b = triple(2);
import { double as unusedDouble } from "./util";
"#;

#[test]
fn completion_code_actions_rename_symbols_and_commands_go_through() {
    let ws = Workspace::new(EDITING);
    let (mut server, init) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();
    let caps = &init["capabilities"];
    assert_eq!(
        caps["completionProvider"]["resolveProvider"], true,
        "{caps}"
    );
    assert!(caps["completionProvider"]["triggerCharacters"]
        .as_array()
        .unwrap()
        .contains(&json!(".")));
    let main = ws.uri("src/main.ts");
    let util = ws.uri("src/util.ts");
    server.open(&util, "typescript", &ws.read("src/util.ts"));
    server.open(&main, "typescript", &ws.read("src/main.ts"));

    // Completion after `double(21).toFi`, then resolve. TypeScript is the
    // only server that completes, so its items come as it made them and
    // their resolve can only be for it.
    let list = server
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": main}, "position": {"line": 1, "character": 32}}),
        )
        .unwrap();
    let to_fixed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["label"] == "toFixed")
        .unwrap_or_else(|| panic!("toFixed offered: {list}"))
        .clone();
    assert!(
        to_fixed["data"].is_object() && to_fixed["data"].get("meshlsServer").is_none(),
        "{to_fixed}"
    );
    let resolved = server.request("completionItem/resolve", to_fixed).unwrap();
    assert!(
        resolved.to_string().contains("fractionDigits"),
        "resolved with its signature: {resolved}"
    );
    assert!(resolved["data"].get("meshlsServer").is_none(), "{resolved}");

    // `triple` is not imported: TypeScript reports it, and offers the import.
    let published = server.wait_publication(&main, |d| d["code"] == 2304);
    let missing: Vec<Value> = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == 2304)
        .cloned()
        .collect();
    let actions = server
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": main}, "range": missing[0]["range"], "context": {"diagnostics": missing}}),
        )
        .unwrap();
    let add_import = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"].as_str().unwrap_or("").contains("import"))
        .unwrap_or_else(|| panic!("an import fix: {actions}"));
    assert!(add_import.to_string().contains("triple"), "{add_import}");

    // Rename `double` across both files.
    let edit = server
        .request(
            "textDocument/rename",
            json!({"textDocument": {"uri": util}, "position": {"line": 0, "character": 17}, "newName": "twice"}),
        )
        .unwrap();
    let text = edit.to_string();
    assert!(
        text.contains(util.as_str()) && text.contains(main.as_str()) && text.contains("twice"),
        "{edit}"
    );

    let symbols = server
        .request("workspace/symbol", json!({"query": "triple"}))
        .unwrap();
    assert!(
        symbols
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "triple" && s["location"]["uri"] == util.as_str()),
        "{symbols}"
    );

    // A server command: organizing imports (the unused one goes) makes the
    // server ask the editor to apply an edit, which meshls relays.
    let commands = caps["executeCommandProvider"]["commands"]
        .as_array()
        .unwrap();
    assert!(
        commands.contains(&json!("_typescript.organizeImports")),
        "{caps}"
    );
    let id = server.send_request(
        "workspace/executeCommand",
        json!({"command": "_typescript.organizeImports", "arguments": [ws.path("src/main.ts")]}),
    );
    let relayed = server.wait_server_request("workspace/applyEdit");
    assert!(relayed.to_string().contains(main.as_str()), "{relayed}");
    let _ = server.wait_response(id);

    let unknown = server.request(
        "workspace/executeCommand",
        json!({"command": "no.such.command"}),
    );
    assert_eq!(unknown.unwrap_err()["code"], -32602);
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn an_editor_that_dies_takes_the_servers_with_it() {
    // A scripted server that starts a helper (a long `sleep`) which does not
    // end when its parent does: only meshls's shutdown of the server's
    // process group ends it.
    let ws = Workspace::new("//- /a.ts\nexport const a = 1;\n");
    configure_fake_server(&ws, "forks", "forks");
    let mut server = Server::builder(&ws).start();
    server.initialize(ws.root_uri(), None);
    let helper_running = || {
        processes_in(ws.root())
            .iter()
            .any(|p| p.cmdline.starts_with("sleep 600"))
    };
    // The helper is forked as the server starts; on a busy machine its
    // exec can come a moment after initialize is answered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !helper_running() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server's helper runs: {:?}",
            processes_in(ws.root())
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // No shutdown, no exit: the pipe just closes.
    server.close_stdin();
    let status = server
        .exit_status_within(std::time::Duration::from_secs(60))
        .expect("meshls exits");
    assert_eq!(status.code(), Some(1));
    assert_nothing_left_in(ws.root());
}

#[test]
fn progress_watchers_tokens_hierarchies_and_server_methods_are_relayed() {
    let ws = Workspace::new(&format!("{PROJECT}//- /notes.fake\nabc\n"));
    // After typescript-language-server in configuration order, for a
    // language of its own.
    configure_fake_servers(&ws, &[("zz-fake", "relays", "fakelang")]);
    let (mut server, init) = Server::builder(&ws)
        .env("PATH", path_with_node_servers())
        .start_initialized();

    // One legend for both servers: TypeScript's first, then what the fake adds.
    let legend = &init["capabilities"]["semanticTokensProvider"]["legend"];
    assert_eq!(legend["tokenTypes"][10], "function", "{legend}");
    assert_eq!(legend["tokenTypes"][12], "macro", "{legend}");
    assert_eq!(legend["tokenModifiers"][3], "readonly", "{legend}");
    assert!(init["capabilities"]["callHierarchyProvider"].is_boolean());

    // Progress and file watching reach the editor under names that say whose they are.
    let created = server.wait_server_request("window/workDoneProgress/create");
    assert_eq!(created["token"], "zz-fake/1");
    for kind in ["begin", "end"] {
        server.wait_notification("$/progress", |p| {
            p["token"] == "zz-fake/1" && p["value"]["kind"] == kind
        });
    }
    let registered = server.wait_server_request("client/registerCapability");
    let registrations = registered["registrations"].as_array().unwrap();
    assert_eq!(
        registrations.len(),
        1,
        "only file watching is relayed: {registered}"
    );
    assert_eq!(registrations[0]["id"], "zz-fake/w1");
    assert_eq!(
        registrations[0]["method"],
        "workspace/didChangeWatchedFiles"
    );

    let changed = ws.uri("notes.fake");
    server.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": changed, "type": 2}]}),
    );
    server.wait_notification("window/logMessage", |p| {
        let message = p["message"].as_str().unwrap_or("");
        message.starts_with("zz-fake: watched") && message.contains("notes.fake")
    });

    // Semantic tokens: TypeScript's as they are, the fake's renumbered into the legend.
    let main = ws.uri("src/main.ts");
    server.open(&main, "typescript", &ws.read("src/main.ts"));
    let tokens = server
        .request(
            "textDocument/semanticTokens/full",
            json!({"textDocument": {"uri": main}}),
        )
        .unwrap();
    let data = tokens["data"].as_array().unwrap();
    assert!(!data.is_empty() && data.len() % 5 == 0, "{tokens}");
    server.open(&changed, "fakelang", "abc\n");
    let tokens = server
        .request(
            "textDocument/semanticTokens/full",
            json!({"textDocument": {"uri": changed}}),
        )
        .unwrap();
    assert_eq!(tokens["data"], json!([0, 0, 3, 12, 8, 1, 0, 3, 10, 0]));

    // Document symbols for a language meshls does not parse come from the server.
    let symbols = server
        .request(
            "textDocument/documentSymbol",
            json!({"textDocument": {"uri": changed}}),
        )
        .unwrap();
    assert_eq!(symbols[0]["name"], "fromFake", "{symbols}");

    // Both servers complete, so their items carry the name of the server
    // that made them, and each resolve goes back to it with its own data.
    let position =
        json!({"textDocument": {"uri": changed}, "position": {"line": 0, "character": 1}});
    let list = server
        .request("textDocument/completion", position.clone())
        .unwrap();
    let item = &list["items"][0];
    assert_eq!(item["data"]["meshlsServer"], "zz-fake", "{list}");
    let resolved = server
        .request("completionItem/resolve", item.clone())
        .unwrap();
    assert_eq!(resolved["detail"], "resolved by the fake", "{resolved}");
    assert_eq!(resolved["data"]["meshlsServer"], "zz-fake", "{resolved}");
    // main.ts, open since the semantic tokens above, is unchanged.
    let list = server
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": main}, "position": {"line": 2, "character": 26}}),
        )
        .unwrap();
    let to_upper = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["label"] == "toUpperCase")
        .unwrap_or_else(|| panic!("toUpperCase offered: {list}"));
    assert_eq!(
        to_upper["data"]["meshlsServer"], "typescript-language-server",
        "{to_upper}"
    );
    let resolved = server
        .request("completionItem/resolve", to_upper.clone())
        .unwrap();
    assert!(
        resolved["documentation"].to_string().contains("uppercase"),
        "resolved by TypeScript: {resolved}"
    );

    // Only the fake offers call hierarchies: its item comes as it made it,
    // and goes back to it.
    let items = server
        .request("textDocument/prepareCallHierarchy", position.clone())
        .unwrap();
    assert_eq!(items[0]["data"], json!({"mine": 1}), "{items}");
    let calls = server
        .request(
            "callHierarchy/incomingCalls",
            json!({"item": items[0].clone()}),
        )
        .unwrap();
    assert_eq!(calls[0]["from"]["name"], "fromFake", "{calls}");
    assert_eq!(calls[0]["from"]["data"], json!({"mine": 2}), "{calls}");

    // So do type hierarchies, which meshls advertises because a server
    // behind it offers them.
    assert!(
        init["capabilities"]["typeHierarchyProvider"].as_bool() == Some(true)
            || init["capabilities"]["typeHierarchyProvider"].is_object(),
        "{:#}",
        init["capabilities"]
    );
    let items = server
        .request("textDocument/prepareTypeHierarchy", position)
        .unwrap();
    assert_eq!(items[0]["name"], "fromFake", "{items}");
    assert_eq!(items[0]["data"], json!({"mine": 1}), "{items}");
    let supertypes = server
        .request(
            "typeHierarchy/supertypes",
            json!({"item": items[0].clone()}),
        )
        .unwrap();
    assert_eq!(supertypes[0]["name"], "Base", "{supertypes}");
    assert_eq!(supertypes[0]["data"], json!({"mine": 2}), "{supertypes}");

    // Methods of a server's own go to the server they name; others are refused.
    let pong = server.request("zz-fake/ping", json!({"n": 1})).unwrap();
    assert_eq!(pong, json!({"pong": {"n": 1}}));
    let nobody = server.request("nobody/ping", json!({})).unwrap_err();
    assert_eq!(nobody["code"], -32601, "{nobody}");

    // meshls.status reports both servers.
    let status = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.status", "arguments": []}),
        )
        .unwrap();
    let status = status["servers"].as_array().unwrap();
    let names: Vec<&str> = status.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["typescript-language-server", "zz-fake"],
        "{status:?}"
    );
    for entry in status {
        assert_eq!(entry["state"], "running", "{entry}");
        assert!(entry["pid"].as_u64().is_some(), "{entry}");
        assert!(
            entry["requests"]["answered"].as_u64().unwrap() >= 2,
            "{entry}"
        );
    }
    let shown = server.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("meshls language servers:")
    });
    assert!(
        shown["message"]
            .as_str()
            .unwrap()
            .contains("zz-fake: running, pid"),
        "{shown}"
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn doctor_starts_each_server_and_reports_how_it_went() {
    let ws = Workspace::new(PROJECT);
    ws.write_user_config(BROKEN_SERVER);
    let output = ws
        .meshls(&path_with_node_servers())
        .args(["doctor", "--root"])
        .arg(ws.root())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    // The section of servers doctor started, one line each.
    let started = out
        .split("started in this workspace")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no started section: {out}"));
    let line = |name: &str| {
        started
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no line for {name}: {out}"))
            .to_owned()
    };
    let typescript = line("typescript-language-server");
    assert!(
        typescript.contains("running (pid")
            && typescript.contains("initialize took")
            && typescript.ends_with(", in safe mode (the workspace is not trusted)"),
        "{out}"
    );
    assert!(out.contains("\nworkspace trust: not trusted: "), "{out}");
    let broken = line("broken");
    assert!(
        broken.contains("not started: broken failed to start"),
        "{out}"
    );
    assert_nothing_left_in(ws.root());
}
