//! A report written in the format asked for: text, JSON, GitHub workflow
//! commands, or SARIF (`sarif.rs`).

use std::fmt::Write as _;

use lsp_types::Url;
use serde::Serialize;

use crate::cli::{report::Report, sarif};

/// How the findings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `path:line:col: severity [source code] message`, and a summary.
    Text,
    /// One JSON document (see [`Report`]).
    Json,
    /// GitHub Actions workflow commands (`::error file=...::message`).
    Github,
    /// SARIF 2.1.0, for GitHub code scanning and other viewers.
    Sarif,
}

/// The report in `format`; `top` is what SARIF's paths are relative to.
pub fn render(report: &Report, format: Format, top: Option<&Url>) -> String {
    match format {
        Format::Json => pretty(report),
        Format::Sarif => pretty(&sarif::log(report, top.map(Url::as_str))),
        Format::Text => {
            let mut out = String::new();
            for f in &report.findings {
                let _ = writeln!(
                    out,
                    "{}:{}:{}: {} [{}] {}",
                    f.path,
                    f.line,
                    f.column,
                    f.severity,
                    f.rule(),
                    f.message.replace('\n', " ")
                );
            }
            let count = |severity: &str| {
                report
                    .findings
                    .iter()
                    .filter(|f| f.severity == severity)
                    .count()
            };
            let servers = if report.servers.is_empty() {
                "no language servers".to_owned()
            } else {
                report.servers.join(", ")
            };
            let _ = writeln!(
                out,
                "{} error(s), {} warning(s), {} other in {} file(s) checked ({servers}, meshls)",
                count("error"),
                count("warning"),
                report.findings.len() - count("error") - count("warning"),
                report.files_checked
            );
            out
        }
        Format::Github => {
            let mut out = String::new();
            for f in &report.findings {
                let command = match f.severity {
                    "error" => "error",
                    "warning" => "warning",
                    _ => "notice",
                };
                let _ = writeln!(
                    out,
                    "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
                    escape_property(&f.path),
                    f.line,
                    f.column,
                    f.end_line,
                    f.end_column,
                    escape_property(&f.rule()),
                    escape_data(&f.message)
                );
            }
            out
        }
    }
}

/// JSON as people read it, ending in a line break.
pub fn pretty(value: &impl Serialize) -> String {
    let mut out = serde_json::to_string_pretty(value).unwrap_or_default();
    out.push('\n');
    out
}

/// GitHub's escaping of a workflow command's message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's escaping of a workflow command's property.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
