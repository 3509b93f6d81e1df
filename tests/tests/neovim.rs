//! meshls in a real Neovim (Debian's `neovim`, headless), through the
//! plugin in `nvim-plugin/`: the real typescript-language-server behind
//! meshls, the scripted model in front of the agent. The Lua that plays
//! the user is in `tests/editors/neovim/`: a script per test, which writes
//! what it saw as JSON for the test to assert on.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use meshls_e2e::{
    meshls_bin,
    model_server::{text_answer, tool_call, ModelServer},
    path_with_node_servers, Workspace,
};
use serde_json::{json, Value};

const PROJECT: &str = r#"
//- /tsconfig.json
{"compilerOptions": {"strict": true}}
//- /src/main.ts
const label: string = 42;
export const text = label.toUpperCase();
export const size = text.length;
"#;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Neovim, or a failure that says how to install it.
fn nvim() -> Command {
    let found = Command::new("nvim").arg("--version").output();
    assert!(
        found.is_ok_and(|out| out.status.success()),
        "nvim is not installed: install Debian's `neovim` package (tests/run.sh does)"
    );
    Command::new("nvim")
}

/// Headless Neovim with the plugin set up as `tests/editors/neovim/init.lua`
/// does, in `ws`, meshls finding the workspace's config and the npm
/// servers.
fn headless(ws: &Workspace) -> Command {
    let editors = repository().join("tests/editors/neovim");
    let mut nvim = nvim();
    nvim.current_dir(ws.root())
        .args(["--headless", "-n", "-i", "NONE", "-u"])
        .arg(editors.join("init.lua"))
        .env("MESHLS_TEST_PLUGIN", repository().join("nvim-plugin"))
        .env("MESHLS_TEST_BIN", meshls_bin())
        .env("PATH", path_with_node_servers())
        .env("XDG_CONFIG_HOME", ws.config_home())
        .env("XDG_DATA_HOME", ws.data_home())
        .env("XDG_STATE_HOME", ws.temp_dir().join("xdg/state"))
        .env("XDG_CACHE_HOME", ws.temp_dir().join("xdg/cache"))
        .env("TMPDIR", ws.tmp());
    nvim
}

/// The user's latest message in the `request`th request to the model.
fn user_message(model: &ModelServer, request: usize) -> String {
    let messages = model.received()[request].body["messages"].clone();
    let latest = messages
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .cloned()
        .unwrap();
    latest["content"].as_str().unwrap().to_owned()
}

fn report(out: &Output, file: &Path) -> Value {
    let text = std::fs::read_to_string(file).unwrap_or_else(|_| {
        panic!(
            "Neovim wrote no report: {out:?}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let report: Value = serde_json::from_str(&text).unwrap();
    assert!(
        report.get("failure").is_none(),
        "{}\n\nwhat the plugin told the user: {:#}\n\nthe waits that ended: {:#}",
        report["failure"].as_str().unwrap_or_default(),
        report["notified"],
        report["waits"]
    );
    report
}

#[test]
fn fix_with_agent_from_the_code_action_menu_and_ask_about_a_selection() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![
        tool_call("c1", "read_file", json!({"path": "src/main.ts"})),
        tool_call(
            "c2",
            "edit_file",
            json!({"path": "src/main.ts", "old_string": "= 42;", "new_string": "= \"42\";"}),
        ),
        text_answer("Fixed."),
        tool_call(
            "c3",
            "edit_file",
            json!({"path": "src/main.ts", "old_string": "label.toUpperCase();", "new_string": "label.toUpperCase() + \"!\";"}),
        ),
        text_answer("Shouting now."),
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "");
    let file = ws.temp_dir().join("report.json");
    let out = headless(&ws)
        .env("MESHLS_TEST_FILE", ws.path("src/main.ts"))
        .env("MESHLS_TEST_OUT", &file)
        .arg("-c")
        .arg(format!(
            "luafile {}",
            repository()
                .join("tests/editors/neovim/agent.lua")
                .display()
        ))
        .output()
        .unwrap();
    let report = report(&out, &file);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // meshls asked once whether to trust the workspace (this user said not
    // now), and asked nothing else.
    let questions = report["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 1, "{questions:?}");
    assert!(
        questions[0].as_str().unwrap().contains("is not trusted"),
        "{questions:?}"
    );

    assert_eq!(report["type_errors_before"], json!([0]));
    let titles: Vec<&str> = report["titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t
                .starts_with("Fix with agent: Type 'number' is not assignable to type 'string'.")),
        "{titles:?}"
    );
    // The menu also holds TypeScript's own actions, merged.
    assert!(titles.iter().any(|t| !t.contains("agent")), "{titles:?}");
    assert_eq!(
        report["after_fix"],
        json!([
            "const label: string = \"42\";",
            "export const text = label.toUpperCase();",
            "export const size = text.length;"
        ])
    );
    assert!(
        user_message(&model, 0).starts_with(
            "Fix this problem in src/main.ts at line 1: Type 'number' is not assignable"
        ),
        "{}",
        user_message(&model, 0)
    );

    assert_eq!(
        report["after_ask"],
        json!([
            "const label: string = \"42\";",
            "export const text = label.toUpperCase() + \"!\";",
            "export const size = text.length;"
        ])
    );
    // The instruction, where the user is, and the selection's text.
    let asked = user_message(&model, 3);
    assert!(
        asked.starts_with("shout the text\n\n(The user has selected src/main.ts lines 2 to 3.)"),
        "{asked}"
    );
    assert!(
        asked.contains("## The selection: src/main.ts, lines 2 to 3")
            && asked.contains("2\texport const text = label.toUpperCase();"),
        "{asked}"
    );
    assert_eq!(model.replies_left(), 0);

    // The runs' progress and the status reached the user.
    let notified: Vec<&str> = report["notified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    assert!(
        notified.contains(&"meshls: Fix this problem in src/main.ts at line 1: Type 'number' is not assignable to type 'string'. [typescript 2322]. Change as little as it takes."),
        "{notified:?}"
    );
    assert!(
        notified.contains(&"meshls: done in 3 step(s)"),
        "{notified:?}"
    );
    let status = notified
        .iter()
        .find(|n| n.starts_with("meshls: agent: "))
        .unwrap();
    assert!(
        status.starts_with("meshls: agent: scripted at http://127.0.0.1:"),
        "{status}"
    );
    assert!(
        status.contains("idle, session ") && status.contains(": 2 run(s), 500 tokens in, 50 out"),
        "{status}"
    );
    assert!(
        status.contains("\ntypescript-language-server: running, pid "),
        "{status}"
    );
    assert!(
        notified.contains(&"meshls: no run to cancel"),
        "{notified:?}"
    );
    // meshls exited with the client (the script waited for it).
    let pid = report["pid"].as_u64().unwrap();
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

/// Runs the Lua script `tests/editors/neovim/{script}` in headless Neovim
/// with `src/main.ts` of `ws` to open; its report, once it ended well.
fn run_script(ws: &Workspace, script: &str) -> Value {
    let file = ws.temp_dir().join("report.json");
    let out = headless(ws)
        .env("MESHLS_TEST_FILE", ws.path("src/main.ts"))
        .env("MESHLS_TEST_OUT", &file)
        .arg("-c")
        .arg(format!(
            "luafile {}",
            repository()
                .join("tests/editors/neovim")
                .join(script)
                .display()
        ))
        .output()
        .unwrap();
    let report = report(&out, &file);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    report
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|line| line.as_str().unwrap())
        .collect()
}

/// The model's answers in the chat test: the first comes whole, the second
/// slowly, in pieces, so that the chat shows it growing.
const FIRST_ANSWER: &str = "The label is declared as a string but holds the number 42, so TypeScript reports error 2322 on line 1.";
const SECOND_ANSWER: &str = "Quote the value: write \"42\" instead of 42, or declare label as a number and drop toUpperCase, since numbers have no such method.";

#[test]
fn the_chat_streams_each_run_and_sessions_open_their_transcripts() {
    let ws = Workspace::new(PROJECT);
    let mut slow = text_answer(SECOND_ANSWER);
    slow.pause = Duration::from_millis(30);
    let model = ModelServer::start(vec![
        tool_call("c1", "read_file", json!({"path": "src/main.ts"})),
        text_answer(FIRST_ANSWER),
        slow,
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "");
    let report = run_script(&ws, "chat.lua");
    assert_eq!(model.replies_left(), 0);

    // :MeshlsChat opened a scratch buffer beside the file, holding the run
    // that went before it opened.
    assert_eq!(
        report["chat"],
        json!({"name": "meshls://chat", "buftype": "nofile", "filetype": "markdown", "modifiable": false, "windows": 2})
    );
    assert_eq!(report["chat_again"], json!({"same": true, "windows": 2}));
    let first = strings(&report["chat_after_first"]);
    let session = first[0]
        .strip_prefix("# Session ")
        .unwrap_or_else(|| panic!("{first:#?}"));
    assert_eq!(
        first,
        [
            &format!("# Session {session}"),
            "",
            "## You",
            "",
            "> What is wrong here?",
            "",
            "- read_file src/main.ts: ok",
            "",
            FIRST_ANSWER,
            "",
            "**done in 2 step(s)**: 200 tokens in, 20 out, $0.0000.",
            "",
        ]
    );

    // The second run, asked from the chat: the instruction alone went to
    // the model, in a new session, and the answer grew in the chat as it
    // streamed.
    // (With what every run starts with: here, the open file.)
    assert_eq!(
        user_message(&model, 2),
        "And how do I fix it?\n\n## Open in the editor\n\n- src/main.ts\n"
    );
    let second = strings(&report["chat_after_second"]);
    assert_eq!(&second[..first.len()], &first[..]);
    let new_session = second[first.len()]
        .strip_prefix("# Session ")
        .unwrap_or_else(|| panic!("{second:#?}"));
    assert_ne!(new_session, session);
    assert_eq!(
        &second[first.len()..],
        [
            &format!("# Session {new_session}"),
            "",
            "## You",
            "",
            "> And how do I fix it?",
            "",
            SECOND_ANSWER,
            "",
            "**done in 1 step(s)**: 100 tokens in, 10 out, $0.0000.",
            "",
        ]
    );
    let growing: Vec<&str> = strings(&report["snapshots"])
        .into_iter()
        .filter(|chat| chat.contains("> And how do I fix it?"))
        .filter_map(|chat| {
            chat.lines()
                .find(|line| SECOND_ANSWER.starts_with(*line) && line.len() > 1)
        })
        .collect();
    let partial: Vec<&&str> = growing
        .iter()
        .filter(|line| line.len() < SECOND_ANSWER.len())
        .collect();
    assert!(
        partial.len() >= 2 && growing.last() == Some(&SECOND_ANSWER),
        "the answer showed in pieces: {growing:#?}"
    );
    assert!(
        growing
            .windows(2)
            .all(|pair| pair[0].len() <= pair[1].len()),
        "{growing:#?}"
    );

    // :MeshlsSessions listed both, newest first; each pick opened that
    // session's transcript.
    let listed = &report["first_pick"]["listed"];
    assert_eq!(listed[0]["id"], new_session, "{listed:#}");
    assert_eq!(listed[1]["id"], session, "{listed:#}");
    let shown = |at: usize| listed[at]["shown"].as_str().unwrap();
    assert!(
        shown(0).starts_with("And how do I fix it?  (1 run(s), 20"),
        "{}",
        shown(0)
    );
    assert!(
        shown(1).starts_with("What is wrong here?  (1 run(s), 20"),
        "{}",
        shown(1)
    );
    for (pick, id, says, not) in [
        (
            "first_pick",
            new_session,
            "And how do I fix it?",
            "What is wrong here?",
        ),
        (
            "second_pick",
            session,
            "What is wrong here?",
            "And how do I fix it?",
        ),
    ] {
        let name = report[pick]["name"].as_str().unwrap();
        assert!(
            Path::new(name).starts_with(ws.data_home()) && name.ends_with(&format!("/{id}.md")),
            "{name}"
        );
        let transcript = strings(&report[pick]["lines"]).join("\n");
        assert!(
            transcript.contains(says) && !transcript.contains(not),
            "{transcript}"
        );
    }
    let second_transcript = strings(&report["second_pick"]["lines"]).join("\n");
    assert!(
        second_transcript.contains(FIRST_ANSWER),
        "{second_transcript}"
    );

    // Events that came out of order show in order.
    let reordered = strings(&report["chat_reordered"]);
    assert_eq!(
        &reordered[second.len()..],
        [
            "# Session session-x",
            "",
            "## You",
            "",
            "> In order",
            "",
            "Hello world",
            "",
            "**done in 1 step(s)**: 1 tokens in, 2 out, $0.0000. Undo with :MeshlsUndo.",
            "",
        ]
    );
}

#[test]
fn meshls_undo_takes_back_the_run_that_edited_the_buffer() {
    let ws = Workspace::new(PROJECT);
    let model = ModelServer::start(vec![
        tool_call(
            "c1",
            "edit_file",
            json!({"path": "src/main.ts", "old_string": "= 42;", "new_string": "= \"42\";"}),
        ),
        text_answer("Quoted it."),
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "");
    let report = run_script(&ws, "undo.lua");
    assert_eq!(model.replies_left(), 0);

    let before = [
        "const label: string = 42;",
        "export const text = label.toUpperCase();",
        "export const size = text.length;",
    ];
    assert_eq!(report["before"], json!(before));
    assert_eq!(report["edited"][0], "const label: string = \"42\";");
    // The chat said what the run did, and how to take it back.
    let chat = strings(&report["chat"]);
    assert!(
        chat.contains(&"- edit_file src/main.ts: ok")
            && chat.contains(&"- edited src/main.ts (line 1)")
            && chat.contains(&"- no errors after the edits"),
        "{chat:#?}"
    );
    assert_eq!(
        chat[chat.len() - 2],
        "**done in 2 step(s)**: 200 tokens in, 20 out, $0.0000. Undo with :MeshlsUndo.",
        "{chat:#?}"
    );

    // :MeshlsUndo from the chat put the buffer back and said so; the
    // chat kept its window.
    assert_eq!(report["undone"], json!(before));
    assert_eq!(
        report["undo_message"],
        "meshls agent: undid \"Make the label a string\": 1 file(s) restored"
    );
    assert_eq!(report["current_after_undo"], true);
    // Again, from the file: nothing is left to undo, and nothing changes.
    let second = report["second_message"].as_str().unwrap();
    assert!(
        second.starts_with("meshls agent: ") && !second.contains("undid \""),
        "{second}"
    );
    assert_eq!(report["after_second"], json!(before));
}

#[test]
fn checkhealth_finds_meshls_and_its_servers_or_says_how_to_install_it() {
    let ws = Workspace::new(PROJECT);
    let health = |ws: &Workspace, setup: &str| {
        let file = ws.temp_dir().join("health.txt");
        // Started elsewhere, so that the project doctor looks at is the
        // client's, not the working directory.
        let out = headless(ws)
            .current_dir(ws.temp_dir())
            .args(["-c", setup, "-c", "checkhealth meshls", "-c"])
            .arg(format!("write! {}", file.display()))
            .args(["-c", "qall!"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        std::fs::read_to_string(&file).unwrap()
    };
    let found = health(
        &ws,
        &format!(
            "edit {} | lua vim.wait(30000, function() return require('meshls').client(0) ~= nil end)",
            ws.path("src/main.ts").display()
        ),
    );
    let version = format!(
        "OK: meshls {} ({})",
        env!("CARGO_PKG_VERSION"),
        meshls_bin().display()
    );
    assert!(found.contains(&version), "{found}");
    // meshls doctor started the project's server (it lists every server,
    // found or not; only one it started is "running").
    assert!(
        found.contains("typescript-language-server  running (pid "),
        "{found}"
    );
    assert!(
        found.contains(&format!("meshls doctor in {}", ws.root().display())),
        "{found}"
    );

    let missing = health(
        &ws,
        "lua require('meshls').setup({ cmd = { 'no-such-meshls' } })",
    );
    assert!(
        missing.contains("ERROR: `no-such-meshls` is not an executable on PATH"),
        "{missing}"
    );
    assert!(
        missing.contains("cargo install --locked --path server"),
        "{missing}"
    );
}

#[test]
fn the_help_file_has_a_tag_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repository().join("nvim-plugin/doc/meshls.txt"),
        dir.path().join("meshls.txt"),
    )
    .unwrap();
    // A duplicate tag is an error (E154) and a non-zero exit.
    let out = nvim()
        .args(["--headless", "-n", "-i", "NONE", "-u", "NONE", "-c"])
        .arg(format!("helptags {}", dir.path().display()))
        .args(["-c", "qall!"])
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    let tags = std::fs::read_to_string(dir.path().join("tags")).unwrap();
    let plugin =
        std::fs::read_to_string(repository().join("nvim-plugin/lua/meshls/init.lua")).unwrap();
    let commands: Vec<&str> = plugin
        .split("command('")
        .skip(1)
        .map(|rest| &rest[..rest.find('\'').unwrap()])
        .collect();
    assert_eq!(commands.len(), 8, "{commands:?}");
    for command in commands {
        assert!(
            tags.lines()
                .any(|line| line.starts_with(&format!(":{command}\t"))),
            "{command} has no help tag"
        );
    }
}
