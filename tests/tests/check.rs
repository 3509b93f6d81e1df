//! `meshls check`, the real binary run as CI runs it, with the real
//! typescript-language-server, pyright and clangd finding known errors in
//! fixture projects: exactly the expected findings, in each format, with
//! the expected exit codes; and a server that cannot start or crashes
//! fails the check loudly.

use std::process::{Command, Output};

use meshls_e2e::{
    assert_valid_sarif, clangd_path, configure_fake_servers, meshls_bin, path_with_node_servers,
    pyright_path, sarif_errors, stdout, Workspace, BROKEN_SERVER,
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
    ws.meshls(path)
        .arg("check")
        .arg("--root")
        .arg(ws.root())
        .args(args)
        .output()
        .expect("meshls runs")
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
fn a_terminal_sees_a_progress_line_and_a_log_sees_nothing() {
    let ws = Workspace::new(TYPESCRIPT);
    let report = ws.temp_dir().join("report.txt");
    // `script` gives the check a terminal; what the terminal showed comes
    // out on script's stdout.
    let command = format!(
        "{} check --root {} --output {}",
        meshls_bin().display(),
        ws.root().display(),
        report.display()
    );
    let out = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("PATH", path_with_node_servers())
        .env("XDG_CONFIG_HOME", ws.config_home())
        .env("XDG_DATA_HOME", ws.data_home())
        .env("TMPDIR", ws.tmp())
        .output()
        .expect("script (util-linux's bsdutils) runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let shown = stdout(&out);
    assert!(
        shown.starts_with(
            "\r\x1b[Kmeshls check: 0 of 2 file(s) done; busy: typescript-language-server"
        ) && shown.contains("meshls check: 2 of 2 file(s) done, settling")
            && shown.ends_with("\r\x1b[K"),
        "{shown:?}"
    );
    assert!(std::fs::read_to_string(&report)
        .unwrap()
        .contains("3 error(s)"));

    // Not a terminal: quiet.
    let out = check(&ws, &path_with_node_servers(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.is_empty(), "{out:?}");
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
            "fingerprint": report["findings"][0]["fingerprint"],
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

#[test]
fn base_checks_only_the_files_changed_since_a_revision() {
    let ws = Workspace::new(TYPESCRIPT);
    ws.git(&["init", "-q"]);
    ws.git(&["add", "."]);
    ws.git(&["commit", "-q", "-m", "start"]);
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

/// The findings of a SARIF log: (ruleId, uri, startLine, fingerprint).
fn sarif_results(log: &Value) -> Vec<(String, String, u64, String)> {
    assert_valid_sarif(log);
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "one run: {log}");
    let rules = &runs[0]["tool"]["driver"]["rules"];
    runs[0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| {
            // Each result points at its rule.
            let index = result["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[index]["id"], result["ruleId"], "{log}");
            let location = &result["locations"][0]["physicalLocation"];
            (
                result["ruleId"].as_str().unwrap().to_owned(),
                location["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                location["region"]["startLine"].as_u64().unwrap(),
                result["partialFingerprints"]["meshlsFinding/v1"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn sarif_is_valid_its_fingerprints_survive_moved_lines_and_shards_merge() {
    let ws = Workspace::new(TYPESCRIPT);
    ws.write("src/two words é.ts", "export const n: number = \"one\";\n");
    let sarif = |args: &[&str]| {
        let mut all = vec!["--format", "sarif"];
        all.extend(args);
        let out = check(&ws, &path_with_node_servers(), &all);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let whole = sarif(&[]);
    let results = sarif_results(&whole);
    let found: Vec<(&str, &str, u64)> = results
        .iter()
        .map(|(rule, uri, line, _)| (rule.as_str(), uri.as_str(), *line))
        .collect();
    assert_eq!(
        found,
        [
            ("typescript/2322", "src/main.ts", 1),
            ("meshls/syntax-error", "src/main.ts", 2),
            ("typescript/1005", "src/main.ts", 2),
            ("typescript/2322", "src/two%20words%20%C3%A9.ts", 1),
        ],
        "{whole:#}"
    );
    let run = &whole["runs"][0];
    assert_eq!(run["columnKind"], "utf16CodeUnits");
    assert_eq!(run["results"][0]["level"], "error");
    assert_eq!(
        run["results"][0]["locations"][0]["physicalLocation"]["region"],
        json!({"startLine": 1, "startColumn": 7, "endLine": 1, "endColumn": 12})
    );
    // One rule per ruleId.
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 3);
    // The validation does catch what is wrong: a level SARIF lacks, a path
    // that is not a URI reference.
    let mut broken = whole.clone();
    broken["runs"][0]["results"][0]["level"] = json!("fatal");
    broken["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"] = json!("src/a b.ts");
    assert_eq!(
        sarif_errors(&broken).len(),
        2,
        "{:?}",
        sarif_errors(&broken)
    );

    // Lines moved down: the same alerts, by their fingerprints.
    let main = ws.read("src/main.ts");
    ws.write("src/main.ts", &format!("// a comment\n\n{main}"));
    let moved = sarif_results(&sarif(&[]));
    let lines: Vec<u64> = moved.iter().map(|(_, _, line, _)| *line).collect();
    assert_eq!(lines, [3, 4, 4, 1]);
    let prints = |results: &[(String, String, u64, String)]| -> Vec<String> {
        results
            .iter()
            .map(|(_, _, _, print)| print.clone())
            .collect()
    };
    assert_eq!(prints(&moved), prints(&results));
    let mut unique = prints(&results);
    unique.dedup();
    assert_eq!(unique.len(), 4, "each finding its own fingerprint");

    // Three shards, merged: the whole check's findings, one run.
    let dir = ws.temp_dir();
    let mut parts = Vec::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let file = dir.join(format!("part{}.sarif", &shard[..1]));
        let out = check(
            &ws,
            &path_with_node_servers(),
            &[
                "--format",
                "sarif",
                "--shard",
                shard,
                "--output",
                file.to_str().unwrap(),
            ],
        );
        assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
        parts.push(file);
    }
    let merged = Command::new(meshls_bin())
        .arg("merge-sarif")
        .args(&parts)
        .output()
        .unwrap();
    assert_eq!(merged.status.code(), Some(0), "{merged:?}");
    let mut merged = sarif_results(&serde_json::from_slice(&merged.stdout).unwrap());
    merged.sort();
    let mut expected = moved.clone();
    expected.sort();
    assert_eq!(merged, expected);

    // A file that is not SARIF: said, exit 2.
    std::fs::write(dir.join("bad.sarif"), "{\"version\": \"1.0\"}").unwrap();
    let out = Command::new(meshls_bin())
        .arg("merge-sarif")
        .arg(&parts[0])
        .arg(dir.join("bad.sarif"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.sarif is not a SARIF 2.1.0 log"),
        "{out:?}"
    );
}

#[test]
fn fail_on_sets_the_least_severity_that_fails() {
    // A missing import is a warning by this project's pyright settings.
    let ws = Workspace::new(
        "//- /pyrightconfig.json\n{\"reportMissingImports\": \"warning\"}\n//- /app.py\nimport no_such_module_here\n",
    );
    let run = |fail_on: &str| {
        let out = check(&ws, &pyright_path(), &["--fail-on", fail_on]);
        (out.status.code(), stdout(&out))
    };
    let (code, text) = run("error");
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with("app.py:1:8: warning [Pyright reportMissingImports] Import \"no_such_module_here\" could not be resolved"),
        "{text}"
    );
    assert_eq!(run("warning").0, Some(1));
    assert_eq!(run("info").0, Some(1));
}

#[test]
fn github_and_sarif_name_files_from_the_top_of_the_repository() {
    let ws = Workspace::new(&TYPESCRIPT.replace("//- /", "//- /packages/web/"));
    ws.git(&["init", "-q"]);
    let web = ws.path("packages/web");
    let out = ws
        .meshls(&path_with_node_servers())
        .args(["check", "--format", "github", "--root"])
        .arg(&web)
        .arg("src/main.ts")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stdout(&out).starts_with("::error file=packages/web/src/main.ts,line=1,col=7,"),
        "{}",
        stdout(&out)
    );

    // The same alerts whether the package or the whole repository is
    // checked: the same paths and fingerprints. (The TypeScript server
    // starts where its root markers are.)
    ws.write("package.json", "{}\n");
    let sarif = |root: &std::path::Path| {
        let out = ws
            .meshls(&path_with_node_servers())
            .args(["check", "--format", "sarif", "--root"])
            .arg(root)
            .arg(web.join("src/main.ts"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        sarif_results(&serde_json::from_slice(&out.stdout).unwrap())
    };
    let from_package = sarif(&web);
    assert_eq!(from_package.len(), 3, "{from_package:?}");
    assert!(
        from_package
            .iter()
            .all(|(_, uri, _, _)| uri == "packages/web/src/main.ts"),
        "{from_package:?}"
    );
    assert_eq!(sarif(ws.root()), from_package);
}
