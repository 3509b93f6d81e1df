//! The workspace's running servers: which ones start, initializing them
//! concurrently within a bound, routing by language, forwarding document
//! notifications in order, and shutting them all down.

use std::{collections::BTreeMap, ffi::OsString, path::Path, time::Duration};

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::{capabilities, spawn, Client, Incoming, ServerConfig, SpawnSpec};

/// One running, initialized server.
pub struct Server {
    pub name: String,
    pub languages: Vec<String>,
    /// Its `ServerCapabilities`, as it sent them.
    pub capabilities: Value,
    pub client: Client,
    settings: Option<Value>,
}

/// What a server sends on its own, with the name of the server.
#[derive(Debug)]
pub struct FromServer {
    pub server: String,
    pub incoming: Incoming,
}

pub struct Servers {
    servers: Vec<Server>,
}

/// Where and how to start the servers.
pub struct StartOptions<'a> {
    pub root: &'a Path,
    /// The editor's `initialize` params, passed on (with each server's own
    /// `initializationOptions`), so each server sees the editor's real
    /// capabilities.
    pub editor_params: &'a Value,
    /// How long one server may take to start and answer `initialize`.
    pub timeout: Duration,
    /// The PATH to find commands on.
    pub path: Option<OsString>,
}

impl Servers {
    pub fn none() -> Servers {
        Servers {
            servers: Vec::new(),
        }
    }

    /// Starts every enabled server whose command is on PATH and whose root
    /// markers (if it has any) are in the workspace root, all at once. A
    /// server that fails or is slow is left out, with one sentence in the
    /// returned problems; it never holds the others up beyond `timeout`.
    pub async fn start(
        configs: &BTreeMap<String, ServerConfig>,
        options: StartOptions<'_>,
    ) -> (Servers, Vec<String>, mpsc::UnboundedReceiver<FromServer>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let wanted: Vec<_> = configs
            .iter()
            .filter(|(_, config)| config.enabled && !config.command.is_empty())
            .filter(|(_, config)| {
                config.root_markers.is_empty()
                    || config
                        .root_markers
                        .iter()
                        .any(|marker| options.root.join(marker).exists())
            })
            .filter_map(|(name, config)| {
                let command =
                    which::which_in(&config.command, options.path.clone(), options.root).ok()?;
                Some((name.clone(), config.clone(), command))
            })
            .collect();
        let starts = wanted.into_iter().map(|(name, config, command)| {
            let tx = tx.clone();
            let options = &options;
            async move {
                let started = tokio::time::timeout(
                    options.timeout,
                    start_one(&name, &config, &command, options, tx),
                )
                .await;
                match started {
                    Ok(result) => result,
                    Err(_) => Err(format!(
                        "{name} did not answer initialize within {:?}, so meshls runs without it; see `meshls doctor` and the log",
                        options.timeout
                    )),
                }
            }
        });
        let mut servers = Vec::new();
        let mut problems = Vec::new();
        for result in futures::future::join_all(starts).await {
            match result {
                Ok(server) => servers.push(server),
                Err(problem) => {
                    tracing::warn!("{problem}");
                    problems.push(problem);
                }
            }
        }
        (Servers { servers }, problems, rx)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Server> {
        self.servers.iter()
    }

    /// The union of the servers' capabilities, added to `own`, for the
    /// providers in `routed` only: advertising what is not routed would
    /// bring requests meshls cannot answer.
    pub fn merge_capabilities(&self, own: &mut Map<String, Value>, routed: &[&str]) {
        for server in &self.servers {
            let Some(theirs) = server.capabilities.as_object() else {
                continue;
            };
            let offered: Map<String, Value> = theirs
                .iter()
                .filter(|(key, _)| routed.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            capabilities::merge(own, &Value::Object(offered));
        }
    }

    /// Sends a document notification to every server of `language_id`,
    /// queued now, so servers see notifications in the editor's order.
    pub fn notify_document(&self, language_id: &str, method: &str, params: &Value) {
        for server in self
            .servers
            .iter()
            .filter(|s| s.languages.iter().any(|l| l == language_id))
        {
            if let Err(err) = server.client.notify_raw(method, params.clone()) {
                tracing::debug!(server = %server.name, "not forwarded: {err}");
            }
        }
    }

    /// The first running server of `language_id` that offers `provider`
    /// (a `ServerCapabilities` field such as `hoverProvider`).
    pub fn route(&self, language_id: &str, provider: &str) -> Option<&Server> {
        self.servers.iter().find(|server| {
            server.languages.iter().any(|l| l == language_id)
                && capabilities::offers(&server.capabilities, provider)
                && server.client.gone().is_none()
        })
    }

    pub fn get(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|server| server.name == name)
    }

    /// Shuts every server down at once, each within `timeout`.
    pub async fn shutdown(&self, timeout: Duration) {
        futures::future::join_all(self.servers.iter().map(|s| s.client.shutdown(timeout))).await;
    }
}

impl Server {
    /// The answer to the server's `workspace/configuration` request: for
    /// each item, its section of `[servers.<name>].settings`, or null.
    pub fn configuration(&self, params: &Value) -> Value {
        let items = params
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let answers = items.iter().map(|item| {
            let section = item.get("section").and_then(Value::as_str).unwrap_or("");
            let mut value = self.settings.as_ref();
            for key in section.split('.').filter(|k| !k.is_empty()) {
                value = value.and_then(|v| v.get(key));
            }
            value.cloned().unwrap_or(Value::Null)
        });
        Value::Array(answers.collect())
    }
}

async fn start_one(
    name: &str,
    config: &ServerConfig,
    command: &Path,
    options: &StartOptions<'_>,
    tx: mpsc::UnboundedSender<FromServer>,
) -> Result<Server, String> {
    let (client, mut incoming) = spawn(SpawnSpec {
        name: name.to_owned(),
        command: command.display().to_string(),
        args: config.args.clone(),
        env: config
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        cwd: Some(options.root.to_path_buf()),
    })
    .map_err(|err| err.to_string())?;
    // Forward what it sends from the start: servers log and ask for
    // configuration during initialize.
    let forward_name = name.to_owned();
    tokio::spawn(async move {
        while let Some(incoming) = incoming.recv().await {
            if tx
                .send(FromServer {
                    server: forward_name.clone(),
                    incoming,
                })
                .is_err()
            {
                break;
            }
        }
    });

    let mut params = options.editor_params.clone();
    if let Some(object) = params.as_object_mut() {
        object.insert("processId".to_owned(), Value::from(std::process::id()));
        match &config.initialization_options {
            Some(init) => object.insert("initializationOptions".to_owned(), init.clone()),
            None => object.remove("initializationOptions"),
        };
    }
    let result = client
        .request_raw("initialize", params, options.timeout)
        .await
        .map_err(|err| format!("{name} failed to start, so meshls runs without it: {err}"))?;
    client
        .notify_raw("initialized", Value::Object(Map::new()))
        .map_err(|err| format!("{name} failed to start, so meshls runs without it: {err}"))?;
    let capabilities = result.get("capabilities").cloned().unwrap_or(Value::Null);
    tracing::info!(server = name, pid = client.pid(), "initialized");
    Ok(Server {
        name: name.to_owned(),
        languages: config.languages.clone(),
        capabilities,
        client,
        settings: config.settings.clone(),
    })
}
