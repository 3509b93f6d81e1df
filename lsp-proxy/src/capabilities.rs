//! Merging the servers' capabilities into the one set meshls advertises:
//! the union of providers, with trigger characters and command lists
//! joined, so the editor asks for everything some server can answer.

use serde_json::{Map, Value};

/// Lists inside a capability that are joined rather than taken from the
/// first server that has the capability.
const JOINED_LISTS: &[&[&str]] = &[
    &["completionProvider", "triggerCharacters"],
    &["completionProvider", "allCommitCharacters"],
    &["signatureHelpProvider", "triggerCharacters"],
    &["signatureHelpProvider", "retriggerCharacters"],
    &["executeCommandProvider", "commands"],
    &["codeActionProvider", "codeActionKinds"],
    &["documentOnTypeFormattingProvider", "moreTriggerCharacter"],
];

/// Capabilities meshls decides itself, whatever the servers say.
const OWN: &[&str] = &["textDocumentSync", "positionEncoding"];

/// Adds `theirs` (one server's `ServerCapabilities` as JSON) to `merged`.
pub fn merge(merged: &mut Map<String, Value>, theirs: &Value) {
    let Some(theirs) = theirs.as_object() else {
        return;
    };
    for (key, value) in theirs {
        if OWN.contains(&key.as_str()) || value.is_null() || *value == Value::Bool(false) {
            continue;
        }
        match merged.get_mut(key) {
            None => {
                merged.insert(key.clone(), value.clone());
            }
            // `true` says less than an options object: keep the richer one.
            Some(existing @ Value::Bool(true)) if value.is_object() => *existing = value.clone(),
            Some(existing) => {
                for path in JOINED_LISTS.iter().filter(|path| path[0] == key) {
                    join_list(existing, value, path[1]);
                }
                if let (Some(existing), Some(value)) = (existing.as_object_mut(), value.as_object())
                {
                    // A resolve provider anywhere means resolve requests must be routed.
                    if value.get("resolveProvider") == Some(&Value::Bool(true)) {
                        existing.insert("resolveProvider".to_owned(), Value::Bool(true));
                    }
                }
            }
        }
    }
}

fn join_list(existing: &mut Value, theirs: &Value, field: &str) {
    let Some(add) = theirs.get(field).and_then(Value::as_array) else {
        return;
    };
    let Some(object) = existing.as_object_mut() else {
        return;
    };
    let list = object
        .entry(field)
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(list) = list.as_array_mut() {
        for item in add {
            if !list.contains(item) {
                list.push(item.clone());
            }
        }
    }
}

/// Whether `capabilities` offers `provider` (present and not `false`).
pub fn offers(capabilities: &Value, provider: &str) -> bool {
    capabilities
        .get(provider)
        .is_some_and(|v| !v.is_null() && *v != Value::Bool(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn providers_unite_and_lists_join() {
        let mut merged = Map::new();
        merged.insert("documentSymbolProvider".to_owned(), json!(true));
        merge(
            &mut merged,
            &json!({
                "textDocumentSync": 1,
                "hoverProvider": true,
                "renameProvider": false,
                "completionProvider": {"triggerCharacters": [".", "\""], "resolveProvider": false},
                "executeCommandProvider": {"commands": ["ts.fix"]}
            }),
        );
        merge(
            &mut merged,
            &json!({
                "hoverProvider": {"workDoneProgress": true},
                "renameProvider": {"prepareProvider": true},
                "completionProvider": {"triggerCharacters": [".", ":"], "resolveProvider": true},
                "executeCommandProvider": {"commands": ["lint.fix", "ts.fix"]},
                "documentSymbolProvider": true
            }),
        );
        assert_eq!(
            Value::Object(merged),
            json!({
                "documentSymbolProvider": true,
                "hoverProvider": {"workDoneProgress": true},
                "renameProvider": {"prepareProvider": true},
                "completionProvider": {"triggerCharacters": [".", "\"", ":"], "resolveProvider": true},
                "executeCommandProvider": {"commands": ["ts.fix", "lint.fix"]}
            })
        );
    }

    #[test]
    fn offers_reads_booleans_and_objects() {
        let caps =
            json!({"hoverProvider": {}, "renameProvider": false, "referencesProvider": true});
        assert!(offers(&caps, "hoverProvider"));
        assert!(offers(&caps, "referencesProvider"));
        assert!(!offers(&caps, "renameProvider"));
        assert!(!offers(&caps, "definitionProvider"));
    }
}
