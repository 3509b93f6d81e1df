//! A subset matcher for JSON answers, as rust-analyzer's slow tests have: a
//! test writes down the part of an answer it cares about, and
//! [`assert_matches`] checks that part and nothing else, so the assertion
//! says what matters and survives fields a server adds.

use std::fmt::Write;

use serde_json::Value;

/// The string that, in an expected value, matches any actual value.
const ANYTHING: &str = "{...}";

/// Fails unless `actual` matches `expected`: every key of an expected
/// object is in the actual object with a matching value, recursively (the
/// actual object may have more); arrays match element by element and have
/// the same length; the string `"{...}"` in `expected` matches any value;
/// anything else matches an equal value. The message gives the JSON path of
/// the first difference and both values there, pretty-printed.
pub fn assert_matches(actual: &Value, expected: &Value) {
    if let Some(mismatch) = mismatch(actual, expected) {
        panic!("{mismatch}");
    }
}

/// What [`assert_matches`] would fail with, or `None` when `actual` matches.
pub(crate) fn mismatch(actual: &Value, expected: &Value) -> Option<String> {
    let difference = first_difference(actual, expected, "$".to_owned())?;
    let mut message = format!(
        "JSON does not match at {}: {}\nexpected:\n{:#}\n",
        difference.path, difference.what, difference.expected
    );
    // `write!` to a String cannot fail.
    let _ = match &difference.actual {
        Actual::Value(actual) => write!(message, "actual:\n{actual:#}"),
        Actual::MissingFrom(object) => {
            write!(message, "actual (the object without it):\n{object:#}")
        }
    };
    Some(message)
}

/// Where and how an actual value first differs from the expected one.
struct Difference<'a> {
    /// The JSON path, `$` for the root (`$.items[0].label`).
    path: String,
    what: String,
    expected: &'a Value,
    actual: Actual<'a>,
}

/// The actual side of a difference: a value, or the object that lacks the
/// expected key.
enum Actual<'a> {
    Value(&'a Value),
    MissingFrom(&'a Value),
}

fn first_difference<'a>(
    actual: &'a Value,
    expected: &'a Value,
    path: String,
) -> Option<Difference<'a>> {
    let differ = |what: String| Difference {
        path: path.clone(),
        what,
        expected,
        actual: Actual::Value(actual),
    };
    match (expected, actual) {
        (Value::String(wildcard), _) if wildcard == ANYTHING => None,
        (Value::Object(wanted), Value::Object(found)) => wanted.iter().find_map(|(key, wanted)| {
            let path = format!("{path}{}", key_step(key));
            match found.get(key) {
                Some(found) => first_difference(found, wanted, path),
                None => Some(Difference {
                    path,
                    what: format!("the key {key:?} is missing"),
                    expected: wanted,
                    actual: Actual::MissingFrom(actual),
                }),
            }
        }),
        (Value::Array(wanted), Value::Array(found)) if wanted.len() != found.len() => {
            Some(differ(format!(
                "{} elements where {} are expected",
                found.len(),
                wanted.len()
            )))
        }
        (Value::Array(wanted), Value::Array(found)) => wanted
            .iter()
            .zip(found)
            .enumerate()
            .find_map(|(index, (wanted, found))| {
                first_difference(found, wanted, format!("{path}[{index}]"))
            }),
        _ if kind(expected) != kind(actual) => Some(differ(format!(
            "{} where {} is expected",
            kind(actual),
            kind(expected)
        ))),
        _ if expected != actual => Some(differ("the values differ".to_owned())),
        _ => None,
    }
}

/// The step to an object's key in a JSON path: `.key`, or `["key"]` when the
/// key is not an identifier.
fn key_step(key: &str) -> String {
    let mut chars = key.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    match identifier {
        true => format!(".{key}"),
        false => format!("[{}]", Value::from(key)),
    }
}

/// What kind of JSON value this is, with its article, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The message's first line, which names the path and the difference.
    fn first_line(actual: &Value, expected: &Value) -> Option<String> {
        mismatch(actual, expected).map(|m| m.lines().next().unwrap_or_default().to_owned())
    }

    #[test]
    fn a_subset_matches_and_extra_keys_are_ignored() {
        let actual = json!({
            "label": "norm",
            "kind": 2,
            "data": {"server": "pyright", "id": [1, 2]},
            "tags": null,
        });
        assert_eq!(mismatch(&actual, &json!({})), None);
        assert_eq!(mismatch(&actual, &json!({"label": "norm"})), None);
        assert_eq!(mismatch(&actual, &json!({"data": {"id": [1, 2]}})), None);
        assert_eq!(mismatch(&actual, &actual.clone()), None);
        // Arrays hold subsets too, element by element.
        let list = json!([{"a": 1, "b": 2}, {"a": 3}]);
        assert_eq!(mismatch(&list, &json!([{"a": 1}, {}])), None);
    }

    #[test]
    fn the_wildcard_matches_any_value_but_not_a_missing_key() {
        let actual = json!({"range": {"start": 1}, "n": null, "list": [1, [2]]});
        assert_eq!(mismatch(&actual, &json!("{...}")), None);
        assert_eq!(
            mismatch(
                &actual,
                &json!({"range": "{...}", "n": "{...}", "list": ["{...}", "{...}"]})
            ),
            None
        );
        assert_eq!(
            first_line(&actual, &json!({"version": "{...}"})).as_deref(),
            Some(r#"JSON does not match at $.version: the key "version" is missing"#)
        );
        // Only the exact string is a wildcard.
        assert_eq!(
            first_line(&json!({"a": 1}), &json!({"a": "{..}"})).as_deref(),
            Some("JSON does not match at $.a: a number where a string is expected")
        );
    }

    #[test]
    fn a_missing_key_is_reported_with_its_path_and_the_object_without_it() {
        let actual = json!({"capabilities": {"hoverProvider": true}});
        let expected = json!({"capabilities": {"renameProvider": {"prepareProvider": true}}});
        let message = mismatch(&actual, &expected).unwrap();
        assert_eq!(
            message,
            "JSON does not match at $.capabilities.renameProvider: \
             the key \"renameProvider\" is missing\n\
             expected:\n{\n  \"prepareProvider\": true\n}\n\
             actual (the object without it):\n{\n  \"hoverProvider\": true\n}"
        );
    }

    #[test]
    fn a_different_value_is_reported_with_both_values() {
        let actual = json!({"items": [{"label": "a"}, {"label": "b", "detail": "fn()"}]});
        let expected = json!({"items": [{"label": "a"}, {"detail": "fn(&self)"}]});
        assert_eq!(
            mismatch(&actual, &expected).unwrap(),
            "JSON does not match at $.items[1].detail: the values differ\n\
             expected:\n\"fn(&self)\"\nactual:\n\"fn()\""
        );
        assert_eq!(
            first_line(&json!(1), &json!(1.0)).as_deref(),
            Some("JSON does not match at $: the values differ")
        );
        assert_eq!(
            first_line(&json!([true]), &json!([false])).as_deref(),
            Some("JSON does not match at $[0]: the values differ")
        );
    }

    #[test]
    fn a_value_of_another_kind_is_reported() {
        let cases = [
            (
                json!({"a": null}),
                json!({"a": {}}),
                "null where an object is expected",
            ),
            (
                json!({"a": {}}),
                json!({"a": null}),
                "an object where null is expected",
            ),
            (
                json!({"a": [1]}),
                json!({"a": {"0": 1}}),
                "an array where an object is expected",
            ),
            (
                json!({"a": "1"}),
                json!({"a": 1}),
                "a string where a number is expected",
            ),
            (
                json!({"a": false}),
                json!({"a": "false"}),
                "a boolean where a string is expected",
            ),
            (
                json!({"a": {}}),
                json!({"a": []}),
                "an object where an array is expected",
            ),
        ];
        for (actual, expected, what) in cases {
            assert_eq!(
                first_line(&actual, &expected),
                Some(format!("JSON does not match at $.a: {what}")),
                "{actual} against {expected}"
            );
        }
    }

    #[test]
    fn arrays_must_have_the_expected_length() {
        let actual = json!({"locations": [1, 2, 3]});
        assert_eq!(
            mismatch(&actual, &json!({"locations": [1, 2]})).unwrap(),
            "JSON does not match at $.locations: 3 elements where 2 are expected\n\
             expected:\n[\n  1,\n  2\n]\nactual:\n[\n  1,\n  2,\n  3\n]"
        );
        assert_eq!(
            first_line(&json!([]), &json!(["{...}"])).as_deref(),
            Some("JSON does not match at $: 0 elements where 1 are expected")
        );
    }

    #[test]
    fn the_first_difference_in_document_order_is_reported() {
        let actual = json!({"a": 1, "b": [0, {"c": 2}], "d": 3});
        let expected = json!({"a": 1, "b": [0, {"c": 5}], "d": 4});
        assert_eq!(
            first_line(&actual, &expected).as_deref(),
            Some("JSON does not match at $.b[1].c: the values differ")
        );
    }

    #[test]
    fn keys_that_are_not_identifiers_are_quoted_in_the_path() {
        let actual = json!({"textDocument/hover": {"a b": 1}});
        let expected = json!({"textDocument/hover": {"a b": 2}});
        assert_eq!(
            first_line(&actual, &expected).as_deref(),
            Some(r#"JSON does not match at $["textDocument/hover"]["a b"]: the values differ"#)
        );
        assert_eq!(key_step("_x1"), "._x1");
        assert_eq!(key_step("1x"), r#"["1x"]"#);
        assert_eq!(key_step(""), r#"[""]"#);
        assert_eq!(key_step("quote\""), r#"["quote\""]"#);
    }

    #[test]
    fn assert_matches_panics_with_the_mismatch() {
        let actual = json!({"a": [1, 2]});
        assert_matches(&actual, &json!({"a": [1, "{...}"]}));
        let expected = json!({"a": [1, 3]});
        let panic = std::panic::catch_unwind(|| assert_matches(&actual, &expected))
            .expect_err("a mismatch panics");
        let message = panic
            .downcast_ref::<String>()
            .expect("the panic carries the message");
        assert_eq!(Some(message), mismatch(&actual, &expected).as_ref());
        assert!(message.starts_with("JSON does not match at $.a[1]: the values differ"));
    }
}
