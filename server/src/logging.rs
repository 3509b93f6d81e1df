//! Logs go through `tracing` to stderr or a file, never to stdout, which
//! carries LSP frames only. `MESHLS_LOG` sets the filter (`info`, `debug`,
//! `meshls=trace,tower_lsp=warn`, ...).

use std::{fs::OpenOptions, path::Path, sync::Mutex};

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;

pub fn init(log_file: Option<&Path>, default_filter: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("MESHLS_LOG") {
        Ok(spec) => EnvFilter::try_new(&spec).with_context(|| {
            format!("MESHLS_LOG={spec:?} is not a log filter; use a level such as `debug` or `meshls=trace,info`")
        })?,
        Err(_) => EnvFilter::new(default_filter),
    };
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
