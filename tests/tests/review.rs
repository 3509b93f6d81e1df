//! `meshls review`, the real binary run as CI runs it: the real
//! typescript-language-server checks a git repository's change, then the
//! agent (a scripted model over HTTP, in OpenAI's wire format) reviews the
//! diff with read-only tools, asking the language server along the way, and
//! reports its findings through `report_finding`; they come out in every
//! format, those outside the diff dropped unless `--all`.

use std::process::Output;

use meshls_e2e::{
    assert_valid_sarif,
    model_server::{openai_sse, text_answer, unused_base_url, ModelServer, Reply},
    path_with_node_servers, stdout, Workspace,
};
use serde_json::{json, Value};

const BEFORE: &str =
    "//- /tsconfig.json\n{\"compilerOptions\": {\"strict\": true}}\n//- /src/calc.ts\n\
export function total(items: number[]): number {\n  return items.reduce((a, b) => a + b, 0);\n}\n";

/// What the change adds: `average` divides by zero on an empty list.
const AFTER: &str = "export function total(items: number[]): number {\n  return items.reduce((a, b) => a + b, 0);\n}\n\
\n\
export function average(items: number[]): number {\n  return total(items) / items.length;\n}\n";

/// A repository with one commit, and the change on top, not committed.
fn changed_repository() -> Workspace {
    let ws = Workspace::new(BEFORE);
    ws.git(&["init", "-q"]);
    ws.git(&["add", "."]);
    ws.git(&["commit", "-q", "-m", "start"]);
    ws.write("src/calc.ts", AFTER);
    ws
}

fn call(calls: &[(&str, &str, Value)]) -> Reply {
    let calls: Vec<(&str, &str, String)> = calls
        .iter()
        .map(|(id, name, arguments)| (*id, *name, arguments.to_string()))
        .collect();
    let calls: Vec<(&str, &str, &str)> = calls
        .iter()
        .map(|(id, name, arguments)| (*id, *name, arguments.as_str()))
        .collect();
    Reply::sse(&openai_sse("", &calls, (100, 10)), 64)
}

/// One review, as the model does it: it reads the file and asks the
/// language server who calls `total`; then it reports a finding in the
/// change and one on an unchanged line; then it sums up.
fn one_review() -> Vec<Reply> {
    vec![
        call(&[
            ("c1", "read_file", json!({"path": "src/calc.ts"})),
            (
                "c2",
                "references",
                json!({"path": "src/calc.ts", "line": 1, "character": 17}),
            ),
        ]),
        call(&[
            (
                "c3",
                "report_finding",
                json!({"path": "src/calc.ts", "line": 6, "severity": "warning", "category": "bug",
                    "message": "average divides by zero for an empty list, giving NaN",
                    "suggestion": "return 0 (or throw) when items is empty"}),
            ),
            (
                "c4",
                "report_finding",
                json!({"path": "src/calc.ts", "line": 2, "severity": "info", "category": "style",
                    "message": "reduce could name its parameters"}),
            ),
        ]),
        text_answer("One problem in average."),
    ]
}

fn review(ws: &Workspace, args: &[&str]) -> Output {
    ws.meshls(&path_with_node_servers())
        .args(["review", "--base", "HEAD", "--root"])
        .arg(ws.root())
        .args(args)
        .output()
        .expect("meshls runs")
}

#[test]
fn a_review_reports_the_models_findings_in_the_change_in_every_format() {
    let ws = changed_repository();
    // Five reviews follow.
    let model = ModelServer::start((0..5).flat_map(|_| one_review()).collect());
    ws.use_model(&format!("{}/v1", model.url()), "");

    // Text; a warning does not fail the default --fail-on error.
    let out = review(&ws, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout(&out),
        "src/calc.ts:6:1: warning [meshls-review bug] average divides by zero for an empty list, giving NaN Suggestion: return 0 (or throw) when items is empty\n\
         0 error(s), 1 warning(s), 0 other in 1 file(s) checked (typescript-language-server, meshls)\n"
    );

    // What the model was given: the diff, read-only tools and
    // report_finding, and the language server's answers.
    let received = model.received();
    assert_eq!(received.len(), 3, "one review, three steps");
    let first = &received[0].body;
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"report_finding") && tools.contains(&"references"),
        "{tools:?}"
    );
    assert!(
        !tools
            .iter()
            .any(|tool| ["edit_file", "write_file", "run_command"].contains(tool)),
        "a review only reads: {tools:?}"
    );
    let request = first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|message| message["role"] == "user")
        .unwrap()["content"]
        .as_str()
        .unwrap();
    assert!(
        request.starts_with("Review the change since HEAD.")
            && request.contains("+export function average(items: number[]): number {"),
        "{request}"
    );
    let second = received[1].tool_results();
    assert!(
        second[0]
            .1
            .contains("6\t  return total(items) / items.length;"),
        "{second:?}"
    );
    // typescript-language-server found total's use in average.
    assert!(
        second[1]
            .1
            .contains("src/calc.ts:6:9: return total(items) / items.length;"),
        "{second:?}"
    );
    let third = received[2].tool_results();
    assert_eq!(third[2], ("c3".to_owned(), "reported".to_owned()));
    assert!(
        third[3]
            .1
            .starts_with("not reported: lines 2-2 of src/calc.ts are not changed lines"),
        "{third:?}"
    );

    // JSON.
    let out = review(&ws, &["--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = &report["findings"][0];
    assert_eq!(
        (
            &finding["path"],
            &finding["line"],
            &finding["end_column"],
            &finding["source"],
            &finding["code"]
        ),
        (
            &json!("src/calc.ts"),
            &json!(6),
            &json!(38),
            &json!("meshls-review"),
            &json!("bug")
        )
    );
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);

    // SARIF.
    let out = review(&ws, &["--format", "sarif"]);
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid_sarif(&log);
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "meshls-review/bug");
    assert_eq!(result["level"], "warning");

    // GitHub, failing on warnings.
    let out = review(&ws, &["--format", "github", "--fail-on", "warning"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stdout(&out).starts_with(
            "::warning file=src/calc.ts,line=6,col=1,endLine=6,endColumn=38,title=meshls-review bug::average divides by zero for an empty list, giving NaN%0ASuggestion: "
        ),
        "{}",
        stdout(&out)
    );

    // --all keeps the finding on the unchanged line.
    let out = review(&ws, &["--all", "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| &finding["line"])
        .collect();
    assert_eq!(lines, [&json!(2), &json!(6)], "{report}");
    // Files are never written by a review.
    assert_eq!(ws.read("src/calc.ts"), AFTER);
}

#[test]
fn a_review_whose_model_cannot_be_reached_fails_in_one_sentence() {
    let ws = changed_repository();
    let base_url = unused_base_url();
    ws.use_model(&base_url, "");
    let out = review(&ws, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.starts_with(&format!(
            "meshls review: the review failed: cannot reach the OpenAI-compatible endpoint at {base_url}"
        )) && said.lines().count() == 1,
        "{said}"
    );
    assert!(out.stdout.is_empty());
}
