//! The config files: any text as the user's `config.toml` and the
//! workspace's `meshls.toml` and `.meshls/config.toml`, loaded by
//! `config::load` from a directory of this thread's own. Against a naive
//! model of the layering: nothing panics; every error names its file and
//! says something; a file with an error is left out whole (the config is
//! the one without that file); and the config is the defaults with each
//! file without an error merged on, in order, table by table.

use std::path::{Path, PathBuf};

use meshls::config::{self, Config, Sources};
use serde_json::Value;

/// `old` merged with `new`: tables key by key, anything else replaced.
fn merge(old: &mut Value, new: &Value) {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, value) in new {
                match old.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        old.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (old, new) => *old = new.clone(),
    }
}

/// The files, in the order they apply (later wins).
struct Files {
    user_dir: PathBuf,
    root: PathBuf,
    paths: [PathBuf; 3],
}

impl Files {
    fn new() -> Files {
        let dir = crate::scratch("toml");
        let (user_dir, root) = (dir.join("user"), dir.join("ws"));
        let paths = [
            user_dir.join("meshls").join("config.toml"),
            root.join(".meshls").join("config.toml"),
            root.join("meshls.toml"),
        ];
        Files {
            user_dir,
            root,
            paths,
        }
    }

    /// Writes each file that has text, and removes the others.
    fn write(&self, texts: &[Option<Vec<u8>>; 3]) {
        for (path, text) in self.paths.iter().zip(texts) {
            match text {
                Some(text) => {
                    let dir = path.parent().expect("a file in a directory");
                    std::fs::create_dir_all(dir).expect("a directory for a config file");
                    std::fs::write(path, text).expect("a config file written");
                }
                None => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }

    fn load(&self, texts: &[Option<Vec<u8>>; 3]) -> config::Loaded {
        self.write(texts);
        config::load(&Sources {
            workspace_root: Some(&self.root),
            user_config_dir: Some(self.user_dir.clone()),
            ..Sources::default()
        })
    }
}

/// A file's text as the layer the model merges: its TOML as JSON.
fn layer(text: &[u8]) -> Option<Value> {
    let table: toml::Table = toml::from_str(std::str::from_utf8(text).ok()?).ok()?;
    // nan and inf have no JSON, so a file with one is an error.
    fn finite(value: &toml::Value) -> bool {
        match value {
            toml::Value::Float(number) => number.is_finite(),
            toml::Value::Table(table) => table.values().all(finite),
            toml::Value::Array(items) => items.iter().all(finite),
            _ => true,
        }
    }
    if !table.values().all(finite) {
        return None;
    }
    serde_json::to_value(table).ok()
}

/// The input cut at 0xFF: the user's file, then the workspace's
/// `.meshls/config.toml` and `meshls.toml`; a part that is not there is
/// no file. `$ROOT` in them is the workspace's path, so the user's file
/// can trust it.
pub fn toml(data: &[u8]) {
    let files = Files::new();
    let root = files.root.display().to_string();
    let mut parts = data.split(|&b| b == 0xFF).map(|part| {
        let text = String::from_utf8_lossy(part);
        if text.contains("$ROOT") && std::str::from_utf8(part).is_ok() {
            text.replace("$ROOT", &root).into_bytes()
        } else {
            part.to_vec()
        }
    });
    let texts = [parts.next(), parts.next(), parts.next()];
    let loaded = files.load(&texts);
    let sources: Vec<String> = files
        .paths
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    let context = || {
        let texts: Vec<_> = texts
            .iter()
            .map(|text| text.as_deref().map(String::from_utf8_lossy))
            .collect();
        format!("{texts:#?}\n{:#?}", loaded.errors)
    };

    for error in &loaded.errors {
        assert!(
            sources.contains(&error.source),
            "an error names its file: {error:?}\n{}",
            context()
        );
        assert!(!error.message.trim().is_empty(), "{error:?}\n{}", context());
    }
    let failed = |i: usize| loaded.errors.iter().any(|error| error.source == sources[i]);
    let model = |texts: &[Option<Vec<u8>>; 3], failed: &dyn Fn(usize) -> bool| {
        let mut merged = serde_json::to_value(Config::default()).expect("the defaults serialise");
        for (i, text) in texts.iter().enumerate() {
            let Some(text) = text else { continue };
            match layer(text) {
                Some(layer) if !failed(i) => merge(&mut merged, &layer),
                Some(_) => {}
                None => assert!(
                    failed(i),
                    "a file that is no TOML (or has nan or inf) is an error\n{}",
                    context()
                ),
            }
        }
        serde_json::from_value::<Config>(merged)
    };
    match model(&texts, &failed) {
        Ok(expected) => assert_eq!(
            loaded.config,
            expected,
            "the defaults, then each file without an error\n{}",
            context()
        ),
        Err(err) => panic!("valid files merged into no config: {err}\n{}", context()),
    }

    // The user's file, valid alone, is taken; so are the workspace's when
    // the user trusts the workspace, unless they say whom to trust or
    // whether to ask.
    let valid = |text: &Option<Vec<u8>>| {
        text.as_deref()
            .and_then(layer)
            .filter(|layer| serde_json::from_value::<Config>(layer.clone()).is_ok())
    };
    if valid(&texts[0]).is_some() {
        assert!(!failed(0), "the user's file is valid\n{}", context());
        let trusted = loaded
            .config
            .trusted_workspaces
            .iter()
            .any(|path| path == Path::new(&root));
        for i in [1, 2] {
            let untrusting = valid(&texts[i]).is_some_and(|layer| {
                layer.get("trusted_workspaces").is_none() && layer.get("trust").is_none()
            });
            if trusted && untrusting {
                assert!(
                    !failed(i),
                    "a valid file in a trusted workspace\n{}",
                    context()
                );
            }
        }
    }

    // A file with an error is left out whole: the config is the one
    // without it.
    for i in 0..3 {
        if !failed(i) {
            continue;
        }
        let mut without = texts.clone();
        without[i] = None;
        assert_eq!(
            loaded.config,
            files.load(&without).config,
            "{} has an error, and is left out whole\n{}",
            sources[i],
            context()
        );
    }
}
