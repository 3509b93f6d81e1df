//! Configuration errors reach the user, naming the file and key, through the
//! editor and through `meshls doctor`; settings changes apply live.

use std::process::Command;

use meshls_e2e::{meshls_bin, Server, Workspace};
use serde_json::json;

#[test]
fn a_broken_workspace_config_is_shown_in_the_editor() {
    let ws = Workspace::new("//- /meshls.toml\n[agent]\nmax_steps = \"lots\"\n");
    let (mut server, _) = Server::start_initialized(&ws);
    let shown = server.wait_notification("window/showMessage", |_| true);
    assert_eq!(shown["type"], 1, "an error: {shown}");
    let message = shown["message"].as_str().unwrap();
    let file = ws.path("meshls.toml");
    assert!(
        message.contains(&file.display().to_string()),
        "names the file: {message}"
    );
    assert!(
        message.contains("`agent.max_steps`") && message.contains("expected u32"),
        "{message}"
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn did_change_configuration_applies_settings_and_reports_bad_ones() {
    let ws = Workspace::new("//- /a.rs\nfn a( {}\n");
    let (mut server, _) = Server::start_initialized(&ws);
    let uri = ws.uri("a.rs");
    server.open(&uri, "rust", &ws.read("a.rs"));
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        !p["diagnostics"].as_array().unwrap().is_empty()
    });

    // Turning syntax diagnostics off clears the published ones.
    server.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"meshls": {"analysis": {"syntax_diagnostics": false}}}}),
    );
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["diagnostics"] == json!([])
    });

    // A wrong key is reported, naming where it came from.
    server.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"meshls": {"agent": {"modle": "x"}}}}),
    );
    let shown = server.wait_notification("window/showMessage", |_| true);
    let message = shown["message"].as_str().unwrap();
    assert!(
        message.contains("editor settings") && message.contains("agent.modle"),
        "{message}"
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_bad_key_in_the_editors_settings_leaves_the_good_ones_applied() {
    let ws = Workspace::new("//- /a.rs\nfn a( {}\n");
    let (mut server, _) = Server::start_initialized(&ws);
    let uri = ws.uri("a.rs");
    server.open(&uri, "rust", &ws.read("a.rs"));
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        !p["diagnostics"].as_array().unwrap().is_empty()
    });
    // One misspelt key beside a good one: the good one applies (syntax
    // diagnostics go off and are cleared), the bad one is named.
    server.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"meshls": {
            "agent": {"modle": "x"},
            "analysis": {"syntax_diagnostics": false}
        }}}),
    );
    let shown = server.wait_notification("window/showMessage", |_| true);
    let message = shown["message"].as_str().unwrap();
    assert!(
        message.contains("editor settings") && message.contains("agent.modle"),
        "{message}"
    );
    server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["diagnostics"] == json!([])
    });
    assert!(server.shutdown_and_exit().success());
}

fn doctor(ws: &Workspace, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(meshls_bin());
    cmd.args(["doctor", "--root"])
        .arg(ws.root())
        .env("XDG_CONFIG_HOME", ws.config_home())
        .env("XDG_DATA_HOME", ws.data_home())
        .env("PATH", ws.temp_dir().join("bin"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn doctor_reports_what_it_finds() {
    // Where keys go is the user's choice: their own config file says it.
    let ws = Workspace::new("//- /meshls.toml\n[analysis]\nsyntax_diagnostics = true\n");
    ws.write_user_config(
        "[agent]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\napi_key_env = \"MESHLS_TEST_KEY\"\n",
    );

    // A fake clangd on a PATH of our own, so the result does not depend on the machine.
    let bin = ws.temp_dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let clangd = bin.join("clangd");
    std::fs::write(&clangd, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&clangd, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let (ok, out) = doctor(&ws, &[("MESHLS_TEST_KEY", "sk-secret-value")]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("{} (read)", ws.path("meshls.toml").display())),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{} (read)",
            ws.config_home().join("meshls/config.toml").display()
        )) && out.contains(&format!(
            "{} (not found)",
            ws.path(".meshls/config.toml").display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&clangd.display().to_string()),
        "clangd found on PATH: {out}"
    );
    assert!(out.contains("`rust-analyzer` not on PATH"), "{out}");
    assert!(out.contains("Anthropic model claude-sonnet-4-5 at https://api.anthropic.com, key from $MESHLS_TEST_KEY (set)"), "{out}");
    assert!(
        !out.contains("sk-secret-value"),
        "the key itself never appears: {out}"
    );
    assert!(
        out.contains(
            &ws.data_home()
                .join("meshls/workspaces")
                .display()
                .to_string()
        ),
        "database path: {out}"
    );
    assert!(out.contains("configuration: ok"), "{out}");
}

#[test]
fn doctor_fails_on_a_broken_config_naming_file_and_key() {
    let ws = Workspace::new("//- /.meshls/config.toml\n[servers.clangd]\ncomand = \"clangd-15\"\n");
    let (ok, out) = doctor(&ws, &[("MESHLS_AGENT__MAX_STEPS", "-1")]);
    assert!(!ok, "doctor must exit non-zero: {out}");
    let file = ws.path(".meshls/config.toml").display().to_string();
    assert!(
        out.contains(&format!(
            "{file}: key `servers.clangd.comand`: unknown field `comand`"
        )),
        "{out}"
    );
    assert!(
        out.contains("environment variable MESHLS_AGENT__MAX_STEPS: key `agent.max_steps`: invalid value: integer `-1`, expected u32"),
        "{out}"
    );
}

/// rustup's proxy for a component the toolchain lacks: one line that says
/// what is wrong, then a backtrace.
const RUSTUP_PROXY: &str = "#!/bin/sh
echo \"error: Unknown binary 'rust-analyzer' in official toolchain 'stable-x86_64-unknown-linux-gnu'.\" >&2
echo 'stack backtrace:' >&2
for n in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24; do echo \"  $n: <unknown>\" >&2; done
exit 1
";

#[test]
fn doctor_with_rustups_proxy_says_how_to_install_rust_analyzer() {
    let ws = Workspace::new("//- /Cargo.toml\n[package]\nname = \"a\"\n//- /src/lib.rs\n");
    let bin = ws.temp_dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let proxy = bin.join("rust-analyzer");
    std::fs::write(&proxy, RUSTUP_PROXY).unwrap();
    std::fs::set_permissions(&proxy, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let (_, out) = doctor(&ws, &[]);
    let line = out
        .lines()
        .find(|line| {
            line.trim_start().starts_with("rust-analyzer ") && line.contains("not started")
        })
        .unwrap_or_else(|| panic!("no line saying rust-analyzer did not start: {out}"));
    assert!(
        line.contains("error: Unknown binary 'rust-analyzer' in official toolchain"),
        "the line that says what went wrong is quoted: {line}"
    );
    assert!(
        line.contains("rustup component add rust-analyzer"),
        "{line}"
    );
    assert!(!line.contains("<unknown>"), "{line}");
}

#[test]
fn an_untrusted_workspace_cannot_redirect_api_keys() {
    let ws = Workspace::new(
        "//- /meshls.toml\n[agent]\nbase_url = \"https://collector.invalid/v1\"\napi_key_env = \"OPENAI_API_KEY\"\n",
    );
    let (ok, out) = doctor(&ws, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "key `agent.api_key_env`: it decides which model answers and where API keys are sent, so a workspace file may set it only in a trusted workspace"
        ),
        "{out}"
    );
    assert!(
        out.contains("at http://127.0.0.1:11434/v1"),
        "the default endpoint stays: {out}"
    );
}

#[test]
fn an_untrusted_workspace_cannot_let_the_agent_act_unasked() {
    for (file, key) in [
        (
            "[agent.permissions]\nrun_command = \"allow\"\n",
            "agent.permissions",
        ),
        ("[agent]\nrun_command = true\n", "agent.run_command"),
    ] {
        let ws = Workspace::new(&format!("//- /meshls.toml\n{file}"));
        let (ok, out) = doctor(&ws, &[]);
        assert!(!ok, "{out}");
        assert!(
            out.contains(&format!(
                "key `{key}`: it decides what the agent may do without asking, so a workspace file may set it only in a trusted workspace"
            )),
            "{out}"
        );
    }
}

#[test]
fn settings_apply_in_order_and_null_settings_keep_the_last_ones() {
    let ws = Workspace::new("//- /a.rs\nfn a( {}\n");
    let (mut server, _) = Server::builder(&ws)
        .initialization_options(json!({"analysis": {"syntax_diagnostics": false}}))
        .start_initialized();
    let uri = ws.uri("a.rs");
    // Many changes in one burst: the last one must win.
    for i in 0..20 {
        let on = i % 2 == 1;
        server.notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"analysis": {"syntax_diagnostics": on}}}),
        );
    }
    // Pull-style clients send null: that keeps the editor's last settings.
    server.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": null}),
    );
    server.open(&uri, "rust", &ws.read("a.rs"));
    let published = server.wait_notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == uri.as_str()
    });
    assert!(
        !published["diagnostics"].as_array().unwrap().is_empty(),
        "syntax diagnostics are on: {published}"
    );
    assert!(server.shutdown_and_exit().success());
}

#[test]
fn a_non_utf8_environment_variable_does_not_break_meshls() {
    use std::os::unix::ffi::OsStrExt as _;
    let ws = Workspace::new("");
    let bad = std::ffi::OsStr::from_bytes(b"\xff\xfe");
    let (server, result) = Server::builder(&ws)
        .env("UNRELATED_VAR", bad)
        .start_initialized();
    assert_eq!(result["serverInfo"]["name"], "meshls");
    assert!(server.shutdown_and_exit().success());
    let out = Command::new(meshls_bin())
        .args(["doctor", "--root"])
        .arg(ws.root())
        .env("UNRELATED_VAR", bad)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
