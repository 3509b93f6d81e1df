//! Logs go through `tracing` to stderr or a file, never to stdout, which
//! carries LSP frames only. `MESHLS_LOG` sets the filter (`info`, `debug`,
//! `meshls=trace,tower_lsp=warn`, ...).

use std::{fs::OpenOptions, path::Path, sync::Mutex};

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;

pub fn init(log_file: Option<&Path>, default_filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("MESHLS_LOG")
        .or_else(|_| EnvFilter::try_new(default_filter))
        .context("invalid log filter in MESHLS_LOG")?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match log_file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open the log file {}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .init();
        }
        None => builder.with_ansi(false).with_writer(std::io::stderr).init(),
    }
    Ok(())
}
