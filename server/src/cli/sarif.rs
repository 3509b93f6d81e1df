//! SARIF 2.1.0 for `meshls check --format sarif` and `meshls review`, as
//! GitHub code scanning reads it: one run per tool, a rule per
//! `source/code` pair (its `ruleId`, stable across runs), paths relative
//! to the repository under `%SRCROOT%`, columns in UTF-16 code units as
//! LSP counts them, and a fingerprint per result that survives lines
//! moving, so a re-run does not open the same alert twice. `merge` joins
//! the logs of `--shard` jobs into one upload.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::cli::report::{Finding, Report};

/// Where the schema is; every log names it.
const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The tool's name in the log, by which `merge` joins runs.
const TOOL: &str = "meshls";
/// The key of meshls's fingerprint in `partialFingerprints`; the version
/// changes only with the way it is computed.
pub const FINGERPRINT: &str = "meshlsFinding/v1";

/// The log of one check or review. `top` is the repository's top (or the
/// workspace) as a `file:` URI ending in `/`: what `%SRCROOT%` stands for.
pub fn log(report: &Report, top: Option<&str>) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_index: HashMap<String, usize> = HashMap::new();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let id = finding.rule_id();
            let index = *rule_index.entry(id.clone()).or_insert_with(|| {
                rules.push(json!({
                    "id": id,
                    "shortDescription": {"text": format!("{} diagnostic{}", finding.source,
                        finding.code.as_ref().map(|code| format!(" {code}")).unwrap_or_default())},
                    "properties": {"tags": [finding.source]},
                }));
                rules.len() - 1
            });
            result(finding, &id, index)
        })
        .collect();
    let mut run = json!({
        "tool": {"driver": {
            "name": TOOL,
            "semanticVersion": env!("CARGO_PKG_VERSION"),
            "rules": rules,
        }},
        "columnKind": "utf16CodeUnits",
        // A review that stopped early did not finish its analysis.
        "invocations": [if report.warnings.is_empty() {
            json!({"executionSuccessful": true})
        } else {
            json!({
                "executionSuccessful": false,
                "toolExecutionNotifications": report.warnings.iter()
                    .map(|warning| json!({"level": "warning", "message": {"text": warning}}))
                    .collect::<Vec<_>>(),
            })
        }],
        "results": results,
    });
    if let Some(top) = top {
        run["originalUriBaseIds"] = json!({"%SRCROOT%": {"uri": top}});
    }
    json!({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]})
}

fn result(finding: &Finding, rule: &str, index: usize) -> Value {
    let level = match finding.severity {
        "error" => "error",
        "warning" => "warning",
        _ => "note",
    };
    json!({
        "ruleId": rule,
        "ruleIndex": index,
        "level": level,
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": uri_reference(&finding.path), "uriBaseId": "%SRCROOT%"},
            "region": {
                "startLine": finding.line,
                "startColumn": finding.column,
                "endLine": finding.end_line,
                "endColumn": finding.end_column,
            },
        }}],
        "partialFingerprints": {FINGERPRINT: finding.fingerprint},
    })
}

/// A relative path as a URI reference: every byte outside the characters
/// a path may hold as they are is percent-encoded (spaces, `#`, `?`,
/// non-ASCII letters).
fn uri_reference(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One log from several (the shards of a check): the runs of each tool
/// joined into one, rules merged by id and results renumbered to them.
/// Fails, saying which input and why, on anything that is not SARIF 2.1.0.
pub fn merge(logs: &[(String, Value)]) -> Result<Value, String> {
    // Per tool (and automation id, which tells apart runs GitHub keeps
    // apart), the merged run, in the order they first came.
    let mut runs: Vec<((String, String), Value)> = Vec::new();
    let mut schema = Value::String(SCHEMA.to_owned());
    for (name, log) in logs {
        if log["version"] != "2.1.0" {
            return Err(format!(
                "{name} is not a SARIF 2.1.0 log (its \"version\" is {})",
                log["version"]
            ));
        }
        if let Some(named) = log.get("$schema") {
            schema = named.clone();
        }
        let Some(parts) = log["runs"].as_array() else {
            return Err(format!("{name} has no \"runs\" array"));
        };
        for part in parts {
            let Some(tool) = part["tool"]["driver"]["name"].as_str() else {
                return Err(format!("{name} has a run without tool.driver.name"));
            };
            let key = (
                tool.to_owned(),
                part["automationDetails"]["id"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            );
            match runs.iter_mut().find(|(seen, _)| *seen == key) {
                None => runs.push((key, part.clone())),
                Some((_, run)) => join(run, part),
            }
        }
    }
    let runs: Vec<Value> = runs.into_iter().map(|(_, run)| run).collect();
    Ok(json!({"$schema": schema, "version": "2.1.0", "runs": runs}))
}

/// Adds `part`'s rules and results to `run`, of the same tool.
fn join(run: &mut Value, part: &Value) {
    let rules = run["tool"]["driver"]
        .as_object_mut()
        .map(|driver| driver.entry("rules").or_insert_with(|| json!([])));
    let Some(Value::Array(rules)) = rules else {
        return;
    };
    let mut index: HashMap<String, usize> = rules
        .iter()
        .enumerate()
        .filter_map(|(i, rule)| Some((rule["id"].as_str()?.to_owned(), i)))
        .collect();
    // The part's rule indexes, renumbered to the merged list.
    let mut renumbered: Vec<usize> = Vec::new();
    for rule in part["tool"]["driver"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let id = rule["id"].as_str().unwrap_or("").to_owned();
        let at = *index.entry(id).or_insert_with(|| {
            rules.push(rule.clone());
            rules.len() - 1
        });
        renumbered.push(at);
    }
    let results = run
        .as_object_mut()
        .map(|run| run.entry("results").or_insert_with(|| json!([])));
    let Some(Value::Array(results)) = results else {
        return;
    };
    for result in part["results"].as_array().into_iter().flatten() {
        let mut result = result.clone();
        if let Some(old) = result["ruleIndex"].as_u64() {
            match usize::try_from(old)
                .ok()
                .and_then(|old| renumbered.get(old))
            {
                Some(new) => result["ruleIndex"] = json!(new),
                None => {
                    if let Value::Object(fields) = &mut result {
                        fields.remove("ruleIndex");
                    }
                }
            }
        }
        results.push(result);
    }
    // A run that did not finish makes the merged one unfinished.
    let successful = |run: &Value| {
        run["invocations"]
            .as_array()
            .is_none_or(|all| all.iter().all(|i| i["executionSuccessful"] != false))
    };
    if !successful(part) {
        run["invocations"] = json!([{"executionSuccessful": false}]);
    }
}

/// Per finding, a fingerprint that stays when lines move: a hash of its
/// rule, file and the text of its line without whitespace, and how many
/// findings before it in the file had the same; `findings` sorted, `name`
/// gives the file's name to hash, `line` a line's text (from 1).
pub fn fingerprint<'a>(
    findings: &mut [Finding],
    name: impl Fn(&str) -> String,
    line: impl Fn(&str, u32) -> Option<&'a str>,
) {
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for finding in findings {
        let text: String = line(&finding.path, finding.line)
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let hash = fnv1a(&[
            finding.rule_id().as_bytes(),
            name(&finding.path).as_bytes(),
            text.as_bytes(),
        ]);
        let count = seen.entry(hash).or_default();
        finding.fingerprint = format!("{hash:016x}:{count}");
        *count += 1;
    }
}

/// FNV-1a (64 bits) over the parts, each ended by a NUL: the same on every
/// machine and in every version, unlike the standard library's hashers.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in part.iter().chain(&[0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::{fnv1a, merge, uri_reference};
    use serde_json::json;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(uri_reference("src/a b#1.ts"), "src/a%20b%231.ts");
        assert_eq!(uri_reference("src/é.ts"), "src/%C3%A9.ts");
    }

    #[test]
    fn the_fingerprint_hash_is_fixed() {
        // FNV-1a of "a\0": a change here would reopen every alert.
        assert_eq!(fnv1a(&[b"a"]), 0x089b_e207_b544_f1e4);
    }

    #[test]
    fn merging_joins_runs_of_one_tool_and_renumbers_rules() {
        let part = |rule: &str, message: &str| {
            json!({"version": "2.1.0", "runs": [{
                "tool": {"driver": {"name": "meshls", "rules": [{"id": rule}]}},
                "results": [{"ruleId": rule, "ruleIndex": 0, "message": {"text": message}}],
            }]})
        };
        let merged = merge(&[
            ("1.sarif".to_owned(), part("typescript/2322", "one")),
            ("2.sarif".to_owned(), part("Pyright/reportX", "two")),
            ("3.sarif".to_owned(), part("typescript/2322", "three")),
        ])
        .unwrap();
        let runs = merged["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(
            runs[0]["tool"]["driver"]["rules"],
            json!([{"id": "typescript/2322"}, {"id": "Pyright/reportX"}])
        );
        let indexes: Vec<(&str, u64)> = runs[0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["message"]["text"].as_str().unwrap(),
                    r["ruleIndex"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(indexes, [("one", 0), ("two", 1), ("three", 0)]);

        let error = merge(&[("x.json".to_owned(), json!({"version": "2.0.0"}))]).unwrap_err();
        assert!(
            error.starts_with("x.json is not a SARIF 2.1.0 log"),
            "{error}"
        );
    }
}
