//! meshls's configuration layers, from the editor's settings and `MESHLS_*`
//! variables: nothing panics, every error names its source, and a key
//! with an error is left out while the layer's other keys apply.

use std::{ffi::OsString, os::unix::ffi::OsStringExt};

use meshls::config::{self, Sources};
use serde_json::Value;

/// The input, cut at 0xFF: the editor's settings as JSON, then pairs of a
/// variable's name (after `MESHLS_`) and its value.
pub fn config(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0xFF);
    let settings: Option<Value> = parts
        .next()
        .and_then(|text| serde_json::from_slice(text).ok());
    let mut env = Vec::new();
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        let name = format!("MESHLS_{}", String::from_utf8_lossy(name).to_uppercase());
        let value = String::from_utf8(value.to_vec())
            .map_err(|not_utf8| OsString::from_vec(not_utf8.into_bytes()));
        env.push((name, value));
    }
    let load = |settings: Option<&Value>| {
        config::load(&Sources {
            workspace_root: None,
            user_config_dir: None,
            env: env.clone(),
            initialization_options: None,
            settings,
            ..Sources::default()
        })
    };
    let loaded = load(settings.as_ref());
    for error in &loaded.errors {
        assert!(!error.source.is_empty(), "{error:?}");
        assert!(!error.message.is_empty(), "{error:?}");
    }
    // Each key the editor's settings got wrong is as it would be without
    // them: left out, not half applied.
    let without = serde_json::to_value(load(None).config).unwrap_or_default();
    let with = serde_json::to_value(&loaded.config).unwrap_or_default();
    for error in loaded
        .errors
        .iter()
        .filter(|error| error.source == "editor settings")
    {
        if error.key.is_empty() || error.key.contains(['…', '?', '~', '/']) {
            continue;
        }
        // Up to the first list: a bad item leaves the whole list out.
        let pointer: String = error
            .key
            .split('.')
            .take_while(|key| key.parse::<usize>().is_err())
            .map(|key| format!("/{key}"))
            .collect();
        assert_eq!(
            with.pointer(&pointer),
            without.pointer(&pointer),
            "editor settings key {} was refused ({}) yet applied: {settings:?}",
            error.key,
            error.message
        );
    }
}
