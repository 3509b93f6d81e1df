//! Logs go through `tracing` to stderr or a file, never to stdout, which
//! carries LSP frames only. `MESHLS_LOG` sets the filter (`info`, `debug`,
//! `meshls=trace,tower_lsp=warn`, ...). Every line has the configured API
//! keys taken out before it is written (`meshls_agent::redact`): a server
//! or a model may echo one back, and a log at `trace` holds everything.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::Path,
    sync::{Mutex, MutexGuard},
};

use anyhow::Context as _;
use tracing_subscriber::{fmt::MakeWriter, EnvFilter};

/// A writer that takes the API keys out of what goes through it. The fmt
/// layer writes each event whole, in one call.
pub struct Redacting<W>(W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .write_all(&meshls_agent::redact::redact_bytes(buf))
            .map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

struct ToFile(Mutex<File>);

/// The log file, held for one event.
pub struct Locked<'a>(MutexGuard<'a, File>);

impl Write for Locked<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for ToFile {
    type Writer = Redacting<Locked<'a>>;

    fn make_writer(&'a self) -> Self::Writer {
        Redacting(Locked(self.0.lock().unwrap_or_else(|p| p.into_inner())))
    }
}

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
                .with_writer(ToFile(Mutex::new(file)))
                .init();
        }
        None => builder
            .with_ansi(false)
            .with_writer(|| Redacting(std::io::stderr()))
            .init(),
    }
    Ok(())
}
