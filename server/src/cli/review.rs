//! `meshls review`: a check, then the agent reviewing the change with
//! read-only tools, the language servers the check started as its senses,
//! and each finding reported through `report_finding` rather than written
//! as text. Findings outside the changed lines are dropped (and the model
//! told so) unless `--all`.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use lsp_types::Diagnostic;
use tokio_util::sync::CancellationToken;

use meshls_agent::{
    endpoints::Endpoints,
    model::Message,
    paths,
    run::{self, Conversation, Ended},
    tools::Tools,
    AgentConfig,
};
use meshls_proxy::{OpenDocument, Servers};

use crate::{
    agent::{
        review_host::{Kept, ReviewHost, Scope},
        senses::Senses,
    },
    cli::report::Finding,
    ext,
    state::documents::Documents,
};
/// Bytes of the diff put in the model's request; it reads the rest.
const DIFF_LIMIT: usize = 100_000;

const SYSTEM: &str = "You are meshls's code reviewer, running in CI on a change to the workspace your tools reach. \
Find concrete problems the change brings: bugs, security issues, wrong error handling, races, performance traps, misleading names or docs. \
Read the changed files and what they use; the language servers answer diagnostics, symbols, definition, references and hover. \
Report each problem with report_finding, on the changed lines it is about; findings written as text are not reported. \
Do not report what the language servers' diagnostics already say, nor matters of taste. You cannot change any file. \
When you are done, answer with one line summing up the review.";

/// What `meshls review` needs besides the check.
pub struct Review<'a> {
    pub root: &'a Path,
    pub base: Option<&'a str>,
    pub all: bool,
    pub config: &'a AgentConfig,
    pub scope: Scope,
}

/// Reviews the change with the agent; its findings, or one sentence on
/// why the review could not be done. `step` hears each step.
pub async fn review(
    review: Review<'_>,
    servers: Arc<Servers>,
    documents: &[OpenDocument],
    heard: &HashMap<PathBuf, BTreeMap<String, Vec<Diagnostic>>>,
    mut step: impl FnMut(&run::Progress),
) -> Result<(Vec<Finding>, Option<String>), String> {
    let Review {
        root,
        base,
        all,
        config,
        scope,
    } = review;
    let models = Endpoints::new(
        config,
        meshls_agent::provider::Policy::from(config),
        |variable| std::env::var(variable).ok(),
    )
    .map_err(|err| format!("the review could not start: {err}"))?;
    let (docs, _) = Documents::new();
    let host = ReviewHost {
        senses: Senses {
            docs,
            servers,
            root: root.to_path_buf(),
            read_dependencies: config.read_dependencies,
        },
        root: root.to_path_buf(),
        diagnostics: heard
            .iter()
            .map(|(path, by_server)| {
                (
                    path.clone(),
                    by_server.values().flatten().cloned().collect(),
                )
            })
            .collect(),
        scope,
        all,
        reported: Mutex::new(Vec::new()),
    };
    let policy = crate::config::agent_policy(config, true, true);
    let tools = Tools {
        host: &host,
        root,
        policy: &policy,
    };
    let request = request(root, base, documents, &host);
    let mut conversation = Conversation {
        messages: vec![Message::User(request)],
        ..Conversation::default()
    };
    let mut limits = meshls_agent::run::Limits::from(config);
    // Nothing is edited, so nothing to verify.
    limits.verify_rounds = 0;
    let report = run::run(
        &models,
        &tools,
        SYSTEM,
        &mut conversation,
        &limits,
        &CancellationToken::new(),
        |progress| step(&progress),
    )
    .await
    .map_err(|err| format!("the review failed: {err}"))?;
    let unfinished = match report.ended {
        Ended::Answered => None,
        Ended::MaxSteps => Some(format!(
            "the review stopped after {} steps without finishing (raise agent.max_steps); its findings so far are reported",
            report.steps
        )),
        Ended::Budget => Some("the review used up its token budget (agent.token_budget) before finishing; its findings so far are reported".to_owned()),
        Ended::AnswerTooLong => Some("the model's answer hit agent.max_tokens; the findings so far are reported".to_owned()),
        Ended::Cancelled => Some("the review was cancelled".to_owned()),
    };
    let reported = host
        .reported
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(as_checks)
        .collect();
    Ok((reported, unfinished))
}

/// What the model is asked: the change (or the files), and what the
/// language servers already said.
fn request(
    root: &Path,
    base: Option<&str>,
    documents: &[OpenDocument],
    host: &ReviewHost,
) -> String {
    let files: Vec<String> = documents
        .iter()
        .filter_map(|doc| doc.uri.to_file_path().ok())
        .map(|path| paths::relative(root, &path))
        .collect();
    let diagnostics: usize = host.diagnostics.values().map(Vec::len).sum();
    let mut request = match base {
        Some(base) => {
            let mut diff = host.scope.diff.clone();
            if diff.len() > DIFF_LIMIT {
                let mut cut = DIFF_LIMIT;
                while !diff.is_char_boundary(cut) {
                    cut -= 1;
                }
                diff.truncate(cut);
                diff.push_str("\n[the diff goes on; read the changed files for the rest]\n");
            }
            format!("Review the change since {base}.\n\n```diff\n{diff}```\n")
        }
        None => format!("Review these files: {}.\n", files.join(", ")),
    };
    request.push_str(&format!(
        "\nThe language servers report {diagnostics} diagnostic(s) in the changed files (the diagnostics tool lists them); do not report those again.\n"
    ));
    request
}

/// A kept finding as the check's: the whole lines it is about.
fn as_checks(kept: Kept) -> Finding {
    let Kept {
        path,
        reported,
        end_column,
    } = kept;
    let message = match &reported.suggestion {
        Some(suggestion) => format!("{}\nSuggestion: {suggestion}", reported.message),
        None => reported.message.clone(),
    };
    Finding {
        path,
        line: reported.line,
        column: 1,
        end_line: reported.end_line,
        end_column: end_column + 1,
        severity: match reported.severity.as_str() {
            "error" => "error",
            "warning" => "warning",
            _ => "info",
        },
        source: ext::REVIEW_SOURCE.to_owned(),
        code: Some(reported.category.clone()),
        message,
        fingerprint: String::new(),
    }
}
