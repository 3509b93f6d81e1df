//! `meshls check`, the real binary run as CI runs it, with the real
//! typescript-language-server, pyright and clangd finding known errors in
//! fixture projects: exactly the expected findings, in each format, with
//! the expected exit codes; and a server that cannot start or crashes
//! fails the check loudly.

use std::process::{Command, Output};

use meshls_e2e::{
    clangd_path, configure_fake_servers, meshls_bin, path_with_node_servers, pyright_path,
    Workspace, BROKEN_SERVER,
};
use serde_json::{json, Value};

const TYPESCRIPT: &str = r#"
//- /tsconfig.json
{"compilerOptions": {"strict": true}}
//- /src/main.ts
const label: string = 42;
export const text = label.toUpperCase(;
//- /src/ok.ts
export const ok = 1;
//- /node_modules/dep/index.ts
const ignored: string = 1;
"#;

fn check(ws: &Workspace, path: &str, args: &[&str]) -> Output {
    Command::new(meshls_bin())
        .arg("check")
        .arg("--root")
        .arg(ws.root())
        .args(args)
        .current_dir(ws.root())
        .env("PATH", path)
        .env("XDG_CONFIG_HOME", ws.config_home())
        .env("XDG_DATA_HOME", ws.data_home())
        .output()
        .expect("meshls runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn typescript_errors_are_found_and_fail_the_check() {
    let ws = Workspace::new(TYPESCRIPT);
    let out = check(&ws, &path_with_node_servers(), &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stdout(&out),
        "src/main.ts:1:7: error [typescript 2322] Type 'number' is not assignable to type 'string'.\n\
         src/main.ts:2:38: error [meshls syntax-error] syntax error: unexpected `(`\n\
         src/main.ts:2:39: error [typescript 1005] ')' expected.\n\
         3 error(s), 0 warning(s), 0 other in 2 file(s) checked (typescript-language-server, meshls)\n"
    );

    // Only the given file: clean.
    let out = check(&ws, &path_with_node_servers(), &["src/ok.ts"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout(&out).starts_with("0 error(s), 0 warning(s), 0 other in 1 file(s) checked"));
}

#[test]
fn json_and_github_formats_say_the_same() {
    let ws = Workspace::new(TYPESCRIPT);
    let report = ws.temp_dir().join("report.json");
    let out = check(
        &ws,
        &path_with_node_servers(),
        &[
            "--format",
            "json",
            "--output",
            report.to_str().unwrap(),
            "src/main.ts",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "the findings went to the file");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["files_checked"], 1);
    assert_eq!(report["servers"], json!(["typescript-language-server"]));
    assert_eq!(
        report["findings"][0],
        json!({
            "path": "src/main.ts", "line": 1, "column": 7, "end_line": 1, "end_column": 12,
            "severity": "error", "source": "typescript", "code": "2322",
            "message": "Type 'number' is not assignable to type 'string'.",
        })
    );
    assert_eq!(report["findings"].as_array().unwrap().len(), 3);

    let out = check(
        &ws,
        &path_with_node_servers(),
        &["--format", "github", "src/main.ts"],
    );
    assert_eq!(
        stdout(&out).lines().next().unwrap(),
        "::error file=src/main.ts,line=1,col=7,endLine=1,endColumn=12,title=typescript 2322::Type 'number' is not assignable to type 'string'."
    );
    assert_eq!(stdout(&out).lines().count(), 3);
}

#[test]
fn pyright_and_clangd_errors_are_found() {
    let ws = Workspace::new(
        "//- /pyrightconfig.json\n{}\n//- /.clangd\nCompileFlags:\n  Add: [-std=c11]\n//- /app.py\ncount: int = \"three\"\n//- /main.c\nint main(void) { return missing; }\n",
    );
    let path = format!("{}:{}", pyright_path(), clangd_path());
    let out = check(&ws, &path, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<(String, u64, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
                f["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("app.py".to_owned(), 1, "Pyright".to_owned()),
            ("main.c".to_owned(), 1, "clang".to_owned()),
        ],
        "{report}"
    );
    let messages: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].contains("'three'"), "{messages:?}");
    assert!(messages[1].contains("missing"), "{messages:?}");
}

#[test]
fn a_server_that_does_not_start_or_crashes_fails_the_check_loudly() {
    let ws = Workspace::new("//- /a.ts\nexport const a = 1;\n");
    ws.write_user_config(BROKEN_SERVER);
    let out = check(&ws, &std::env::var("PATH").unwrap(), &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    // How it ended depends on which the server did first, exit or close
    // its output; either way the check says which server, and what then.
    assert!(
        said.starts_with("meshls check: broken did not start (")
            && said
                .trim_end()
                .ends_with("so its findings would be missing; check it with `meshls doctor`")
            && said.lines().count() == 1,
        "{said}"
    );
    assert!(out.stdout.is_empty());

    // One that starts, then dies once it is in use.
    configure_fake_servers(&ws, &[("fragile", "dies", "typescript")]);
    let out = check(&ws, &std::env::var("PATH").unwrap(), &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("meshls check: fragile crashed during the check"),
        "{said}"
    );
}

fn git(ws: &Workspace, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t.invalid"])
        .args(args)
        .current_dir(ws.root())
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn base_checks_only_the_files_changed_since_a_revision() {
    let ws = Workspace::new(TYPESCRIPT);
    git(&ws, &["init", "-q"]);
    git(&ws, &["add", "."]);
    git(&ws, &["commit", "-q", "-m", "start"]);
    // Changed since: ok.ts (now with an error of its own) and a new file.
    ws.write("src/ok.ts", "export const ok: number = \"one\";\n");
    ws.write("src/new.ts", "export const fresh = 1;\n");
    // git quotes such names unless asked not to.
    ws.write("src/café.ts", "export const c: number = \"x\";\n");
    let out = check(
        &ws,
        &path_with_node_servers(),
        &["--base", "HEAD", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["files_checked"], 3, "{report}");
    let paths: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    // main.ts's errors are older than HEAD: not this change's.
    assert_eq!(paths, ["src/café.ts", "src/ok.ts"], "{report}");

    let out = check(
        &ws,
        &path_with_node_servers(),
        &["--base", "no-such-revision"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("meshls check: --base no-such-revision: git diff"));
}

#[test]
fn shards_split_the_files_the_same_way_every_time() {
    let ws = Workspace::new(TYPESCRIPT);
    let files = |shard: &str| {
        let out = check(
            &ws,
            &path_with_node_servers(),
            &["--shard", shard, "--format", "json"],
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), report["files_checked"].as_u64().unwrap())
    };
    // Sorted, every second file: main.ts (with errors), then ok.ts.
    assert_eq!(files("1/2"), (Some(1), 1));
    assert_eq!(files("2/2"), (Some(0), 1));
    let out = check(&ws, &path_with_node_servers(), &["--shard", "3/2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a shard"),
        "{out:?}"
    );
}

#[test]
fn github_annotations_name_files_from_the_top_of_the_repository() {
    let ws = Workspace::new(&TYPESCRIPT.replace("//- /", "//- /packages/web/"));
    git(&ws, &["init", "-q"]);
    let web = ws.path("packages/web");
    let out = Command::new(meshls_bin())
        .args(["check", "--format", "github", "--root"])
        .arg(&web)
        .arg("src/main.ts")
        .env("PATH", path_with_node_servers())
        .env("XDG_CONFIG_HOME", ws.config_home())
        .env("XDG_DATA_HOME", ws.data_home())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stdout(&out).starts_with("::error file=packages/web/src/main.ts,line=1,col=7,"),
        "{}",
        stdout(&out)
    );
}
