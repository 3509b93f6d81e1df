//! Validation of `meshls check`'s SARIF output against the official SARIF
//! 2.1.0 schema shipped in `tests/fixtures`.

use std::path::Path;

use serde_json::{json, Value};

/// Fails, listing what is wrong, unless `log` is valid against the
/// official SARIF 2.1.0 schema shipped in `tests/fixtures`, formats (URIs)
/// included.
pub fn assert_valid_sarif(log: &Value) {
    let errors = sarif_errors(log);
    assert!(errors.is_empty(), "invalid SARIF: {errors:#?}\n{log:#}");
}

/// What makes `log` invalid SARIF 2.1.0 (see [`assert_valid_sarif`]).
pub fn sarif_errors(log: &Value) -> Vec<String> {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sarif-schema-2.1.0.json");
    let mut schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&schema).expect("the schema is shipped"))
            .expect("the schema is JSON");
    // The schema's pattern for a language tag has a lone `]`, a literal in
    // JavaScript's regexes (which JSON Schema uses) that this validator's
    // strict check of the schema refuses: escaped, it means the same.
    fn escape_lone_bracket(schema: &mut Value) -> usize {
        match schema {
            Value::Object(fields) => fields
                .iter_mut()
                .map(|(key, value)| {
                    if key == "pattern" && value == "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$" {
                        *value = json!(r"^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\]?$");
                        1
                    } else {
                        escape_lone_bracket(value)
                    }
                })
                .sum(),
            Value::Array(items) => items.iter_mut().map(escape_lone_bracket).sum(),
            _ => 0,
        }
    }
    assert_eq!(
        escape_lone_bracket(&mut schema),
        2,
        "the shipped schema changed"
    );
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    validator
        .iter_errors(log)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}
