//! `meshls doctor`: what meshls finds on this machine and in this workspace,
//! printed for a person, with a non-zero exit on a broken configuration.

use std::{
    collections::BTreeMap, io::Write, path::Path, process::ExitCode, sync::Arc, time::Duration,
};

use meshls_proxy::{
    OpenDocument, OpenDocuments, ServerConfig, ServerStatus, Servers, StartOptions,
};

use crate::{cli::stderr_line, config, storage};

/// How long each server gets to start, as in a session.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// No documents are open while probing.
struct NoDocuments;

impl OpenDocuments for NoDocuments {
    fn open_documents(&self, _: &[String]) -> Vec<OpenDocument> {
        Vec::new()
    }
}

/// Starts the servers a session would start in `root`, as an editor would,
/// and reports each; then shuts them down.
fn probe_servers(
    root: &Path,
    configs: &BTreeMap<String, ServerConfig>,
    hidden_env: Vec<String>,
    trusted: bool,
) -> Vec<ServerStatus> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("cannot start the async runtime to probe the servers: {err}");
            return Vec::new();
        }
    };
    let root_uri = lsp_types::Url::from_directory_path(root).ok();
    let editor_params = serde_json::json!({
        "processId": std::process::id(),
        "clientInfo": {"name": "meshls doctor"},
        "rootUri": root_uri,
        "workspaceFolders": root_uri.as_ref().map(|uri| serde_json::json!([{"uri": uri, "name": "workspace"}])),
        "capabilities": {}
    });
    runtime.block_on(async {
        let options = StartOptions {
            root: root.to_path_buf(),
            editor_params,
            timeout: PROBE_TIMEOUT,
            path: std::env::var_os("PATH"),
            documents: Arc::new(NoDocuments),
            hidden_env,
            trusted,
            other_roots: Vec::new(),
        };
        let (servers, _, _events) = Servers::start(configs, options).await;
        let status = servers.status();
        servers.shutdown(Duration::from_secs(5)).await;
        status
    })
}

/// `meshls doctor --root <root>`: the report on stdout; exit 1 on a broken
/// configuration, 2 when the report cannot be made.
pub fn main(root: &Path) -> ExitCode {
    let root = match root.canonicalize() {
        Ok(root) if root.is_dir() => root,
        _ => {
            let message = format!(
                "meshls doctor: {} is not a directory: pass the workspace with --root",
                root.display()
            );
            let _ = stderr_line(&message);
            return ExitCode::from(2);
        }
    };
    match run(&root, &mut std::io::stdout().lock()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            let _ = stderr_line(&format!("meshls doctor: {err}"));
            ExitCode::from(2)
        }
    }
}

/// Writes the report; returns whether the configuration is valid.
pub fn run(root: &Path, out: &mut impl Write) -> std::io::Result<bool> {
    let loaded = config::load(&config::Sources::from_process(Some(root)));
    writeln!(out, "meshls {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "workspace: {}", root.display())?;

    writeln!(
        out,
        "\nconfiguration (later entries override earlier ones):"
    )?;
    writeln!(out, "  built-in defaults")?;
    for file in &loaded.files {
        let status = if file.found { "read" } else { "not found" };
        writeln!(out, "  {} ({status})", file.path.display())?;
    }
    for var in &loaded.env_vars {
        writeln!(out, "  environment variable {var}")?;
    }

    let trust = match loaded.trust {
        config::Trust::Listed => "trusted (listed in trusted_workspaces)".to_owned(),
        config::Trust::Remembered => format!(
            "trusted (you said so in the editor; remembered in {})",
            crate::config::trust::store_path().map_or_else(String::new, |path| path.display().to_string())
        ),
        config::Trust::CommandLine => "trusted (--trust)".to_owned(),
        config::Trust::No => format!(
            "not trusted: its config files may not reach language servers or the agent's model and permissions, and the servers start in their safe modes; {}",
            match loaded.config.trust {
                config::TrustMode::Ask => "meshls asks the editor whether to trust it",
                config::TrustMode::Never => "meshls does not ask (trust = \"never\"); add it to trusted_workspaces to trust it",
            }
        ),
    };
    writeln!(out, "\nworkspace trust: {trust}")?;

    writeln!(out, "\nlanguage servers:")?;
    let width = loaded
        .config
        .servers
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(0);
    let languages = |server: &meshls_proxy::ServerConfig| server.languages.join(",");
    let lang_width = loaded
        .config
        .servers
        .values()
        .map(|s| languages(s).len())
        .max()
        .unwrap_or(0);
    for (name, server) in &loaded.config.servers {
        let status = if !server.enabled {
            "disabled in config".to_owned()
        } else if server.command.is_empty() {
            "no `command` set".to_owned()
        } else {
            match which::which_in(&server.command, std::env::var_os("PATH"), root) {
                Ok(path) => path.display().to_string(),
                Err(_) => format!("`{}` not on PATH", server.command),
            }
        };
        writeln!(
            out,
            "  {name:width$}  {:lang_width$}  {status}",
            languages(server)
        )?;
    }

    writeln!(
        out,
        "\nstarted in this workspace (each answers initialize, then is shut down):"
    )?;
    let status = probe_servers(
        root,
        &loaded.config.servers,
        loaded.config.agent.key_variables(),
        loaded.trust.trusted(),
    );
    if status.is_empty() {
        writeln!(
            out,
            "  none: no enabled server has its command on PATH and a root marker in the workspace"
        )?;
    }
    for server in status {
        let mut line = format!("  {:width$}  {}", server.name, server.state);
        if let Some(pid) = server.pid {
            line.push_str(&format!(" (pid {pid})"));
        }
        if let Some(ms) = server.requests.p50_ms {
            line.push_str(&format!(", initialize took {ms:.0} ms"));
        }
        if server.safe_mode {
            line.push_str(", in safe mode (the workspace is not trusted)");
        }
        if let Some(error) = &server.last_error {
            line.push_str(&format!(": {error}"));
        }
        writeln!(out, "{line}")?;
    }

    writeln!(out, "\nagent:")?;
    let agent = &loaded.config.agent;
    let mut providers = vec![("provider", agent.primary())];
    providers.extend(agent.fallback.iter().cloned().map(|p| ("fallback", p)));
    for (role, provider) in providers {
        let model = provider.model();
        let key = match &provider.api_key_env {
            // Only whether the variable is set: the key itself is never shown.
            Some(var) if std::env::var_os(var).is_some() => format!("key from ${var} (set)"),
            Some(var) => format!("key from ${var} (NOT set)"),
            None => "no key".to_owned(),
        };
        writeln!(
            out,
            "  {role}: {:?} model {model} at {}, {key}",
            provider.provider,
            provider.base_url()
        )?;
    }
    let limits = meshls_agent::run::Limits::from(agent);
    writeln!(
        out,
        "  limits: {} steps and {} tokens a run, {} tokens an answer, context window {}, {} verify rounds",
        limits.max_steps,
        limits.token_budget,
        limits.max_tokens,
        limits.context_window,
        limits.verify_rounds
    )?;
    writeln!(
        out,
        "  timeouts: connect {} s, first token {} s, silence mid-answer {} s, whole answer {} s; {} retries; approvals wait {} s",
        agent.connect_timeout,
        agent.first_token_timeout,
        agent.idle_timeout,
        agent.total_timeout,
        agent.retries,
        agent.approval_timeout
    )?;

    writeln!(out, "\ndatabase:")?;
    match storage::database_path(root) {
        Some(path) if path.exists() => writeln!(out, "  {}", path.display())?,
        Some(path) => writeln!(out, "  {} (created on first use)", path.display())?,
        None => writeln!(out, "  no data directory: set XDG_DATA_HOME or HOME")?,
    }

    if loaded.errors.is_empty() {
        writeln!(out, "\nconfiguration: ok")?;
    } else {
        writeln!(
            out,
            "\nconfiguration errors (these settings are ignored until fixed):"
        )?;
        for err in &loaded.errors {
            writeln!(out, "  {err}")?;
        }
    }
    Ok(loaded.errors.is_empty())
}
