//! One model endpoint over HTTP: the request with its headers, the
//! streamed answer read into a [`Turn`], timeouts (connect, first token,
//! silence mid-answer, total), and retries that honour `Retry-After` on 429/529 and retry 5xx,
//! dropped connections and stalls, but never a request the provider
//! refused (other 4xx). A failure reaches the user as one sentence:
//! provider, what happened, what to check.
//!
//! The API key is read from the variable the config names when the
//! endpoint is made. It goes into the request's header and nowhere else:
//! not into errors (a provider that echoes it back has it taken out),
//! logs or `Debug` output.

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use futures::StreamExt as _;
use serde_json::Value;

use crate::{
    anthropic,
    config::{defaults, AgentConfig, Provider, ProviderConfig, LOCAL_BASE_URL},
    model::{Delta, ModelRequest, Turn},
    openai,
    stream::read_turn,
    Error, Result, Wait,
};

/// Where and how to ask one model.
pub struct Endpoint {
    provider: Provider,
    base_url: String,
    model: String,
    api_key: Option<String>,
    /// The variable the key came from, for messages about it.
    key_variable: Option<String>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Endpoint {
    /// The endpoint `config` describes, with its key read through `lookup`
    /// (the environment, in meshls).
    pub fn new(
        config: &ProviderConfig,
        model: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Endpoint> {
        let api_key = match &config.api_key_env {
            Some(variable) => match lookup(variable).filter(|key| !key.is_empty()) {
                Some(key) => Some(key),
                None => {
                    return Err(Error::NoApiKey {
                        variable: variable.clone(),
                    })
                }
            },
            None => None,
        };
        if let Some(key) = &api_key {
            // Wherever the key turns up later (a tool's output, an answer),
            // it is taken out.
            crate::redact::register(key);
        }
        Ok(Endpoint {
            provider: config.provider,
            base_url: config.base_url().trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key,
            key_variable: config.api_key_env.clone(),
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The provider, as messages name it.
    pub fn name(&self) -> &'static str {
        match self.provider {
            Provider::OpenAi => openai::PROVIDER,
            Provider::Anthropic => anthropic::PROVIDER,
        }
    }

    fn url(&self) -> String {
        match self.provider {
            Provider::OpenAi => format!("{}/chat/completions", self.base_url),
            Provider::Anthropic => format!("{}/v1/messages", self.base_url),
        }
    }

    fn post(&self, http: &reqwest::Client, request: &ModelRequest) -> reqwest::RequestBuilder {
        let mut body = match self.provider {
            Provider::OpenAi => openai::request_body(request),
            Provider::Anthropic => anthropic::request_body(request),
        };
        // The endpoint's model, not the request's: the conversation is not
        // copied for it.
        body["model"] = Value::from(self.model.as_str());
        let builder = http
            .post(self.url())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&body);
        match (self.provider, &self.api_key) {
            (Provider::OpenAi, Some(key)) => builder.bearer_auth(key),
            (Provider::OpenAi, None) => builder,
            (Provider::Anthropic, key) => {
                let builder = builder.header("anthropic-version", anthropic::API_VERSION);
                match key {
                    Some(key) => builder.header("x-api-key", key),
                    None => builder,
                }
            }
        }
    }

    /// `error` with the key taken out of what the provider said in it: a
    /// gateway may echo the key, or the header that carried it, back in
    /// its error, which then goes to the editor, the log and the session.
    fn without_key(&self, error: Error) -> Error {
        let Some(key) = self.api_key.as_deref() else {
            return error;
        };
        let clean = |text: String| text.replace(key, "<redacted>");
        match error {
            Error::CutOff { provider, reason } => Error::CutOff {
                provider,
                reason: clean(reason),
            },
            Error::Malformed { provider, reason } => Error::Malformed {
                provider,
                reason: clean(reason),
            },
            Error::Http {
                provider,
                status,
                kind,
                message,
                advice,
                retry_after,
            } => Error::Http {
                provider,
                status,
                kind: clean(kind),
                message: clean(message),
                advice,
                retry_after,
            },
            Error::Unreachable {
                provider,
                url,
                reason,
                advice,
            } => Error::Unreachable {
                provider,
                url: clean(url),
                reason: clean(reason),
                advice,
            },
            Error::Provider {
                provider,
                kind,
                message,
            } => Error::Provider {
                provider,
                kind: clean(kind),
                message: clean(message),
            },
            error @ (Error::Timeout { .. } | Error::NoApiKey { .. } | Error::TooLarge { .. }) => {
                error
            }
        }
    }

    /// What to check when the endpoint cannot be reached.
    fn unreachable_advice(&self) -> String {
        if self.base_url == LOCAL_BASE_URL {
            "is a local model server (Ollama, llama.cpp) running there? Start one, or set provider, model and base_url under [agent] in meshls.toml".to_owned()
        } else {
            "check base_url under [agent] in meshls.toml, and the network".to_owned()
        }
    }

    /// What to check after an HTTP error status.
    fn status_advice(&self, status: u16) -> String {
        let key = match &self.key_variable {
            Some(variable) => format!("check the API key in ${variable}"),
            None => "this endpoint needs an API key: set api_key_env under [agent] to the name of the variable holding it".to_owned(),
        };
        match status {
            300..=399 => "the endpoint redirected to another address, and meshls sends no API key to another origin: set base_url to where it redirects".to_owned(),
            401 | 403 => key,
            404 => format!("check that the model `{}` and base_url are right", self.model),
            429 => "the provider is limiting requests; wait a little and try again".to_owned(),
            500..=599 => "the provider is having trouble; try again later, or add a provider under [[agent.fallback]]".to_owned(),
            _ => format!("the provider refused the request; check that the model `{}` supports tool calling", self.model),
        }
    }
}

/// Timeouts and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub connect: Duration,
    /// From sending the request to the first bytes of the answer. Local
    /// models can take a while to load.
    pub first_token: Duration,
    /// The longest silence once the answer has begun.
    pub idle: Duration,
    /// For the whole answer.
    pub total: Duration,
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The first wait between tries; it doubles after each.
    pub backoff: Duration,
    /// The longest wait meshls accepts (from `Retry-After` too); a
    /// provider that asks for more gets its error reported instead.
    pub max_wait: Duration,
}

impl Policy {
    /// How long meshls waits for `what`.
    fn limit(&self, what: Wait) -> Duration {
        match what {
            Wait::Start => self.first_token,
            Wait::GoOn => self.idle,
            Wait::Finish => self.total,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            connect: Duration::from_secs(defaults::CONNECT),
            first_token: Duration::from_secs(defaults::FIRST_TOKEN),
            idle: Duration::from_secs(defaults::IDLE),
            total: Duration::from_secs(defaults::TOTAL),
            attempts: defaults::ATTEMPTS,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// Redirects followed at most, within one origin.
const MAX_REDIRECTS: usize = 10;

/// The most bytes of an error's body read: enough for any provider's
/// message, and an endless one does not fill the memory.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Timeouts and retries for every provider, from `[agent]`.
impl From<&AgentConfig> for Policy {
    fn from(config: &AgentConfig) -> Policy {
        Policy {
            connect: Duration::from_secs(config.connect_timeout),
            first_token: Duration::from_secs(config.first_token_timeout),
            idle: Duration::from_secs(config.idle_timeout),
            total: Duration::from_secs(config.total_timeout),
            attempts: config.retries.saturating_add(1),
            ..Policy::default()
        }
    }
}

/// An HTTP client for model endpoints (rustls; one per session, reused).
/// It follows a redirect only within the endpoint's origin: reqwest takes
/// `Authorization` off a request that leaves it, but not Anthropic's
/// `x-api-key`, so no request with a key goes to another origin at all.
pub fn http_client(policy: &Policy) -> reqwest::Client {
    let same_origin = reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(reqwest::Url::origin);
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if first.is_some_and(|first| first != attempt.url().origin()) {
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .connect_timeout(policy.connect)
        .redirect(same_origin)
        .build()
        .unwrap_or_default()
}

/// Asks `endpoint` for one turn, retrying what is worth retrying as long as
/// nothing of the answer has been reported to `progress` yet.
pub async fn complete(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ModelRequest,
    policy: &Policy,
    mut progress: impl FnMut(Delta),
) -> Result<Turn> {
    let mut attempt = 0;
    loop {
        // Atomic only so the future stays Send.
        let delivered = AtomicBool::new(false);
        let result = once(http, endpoint, request, policy, |delta| {
            delivered.store(true, Ordering::Relaxed);
            progress(delta);
        })
        .await;
        let error = match result {
            Ok(turn) => return Ok(turn),
            Err(error) => endpoint.without_key(error),
        };
        attempt += 1;
        let wait = retry_wait(&error, attempt, policy);
        match wait {
            Some(wait) if attempt < policy.attempts && !delivered.load(Ordering::Relaxed) => {
                tracing::info!(
                    provider = endpoint.name(),
                    attempt,
                    ?wait,
                    "retrying: {error}"
                );
                tokio::time::sleep(wait).await;
            }
            _ => return Err(error),
        }
    }
}

/// How long to wait before trying again after `error`, or `None` when
/// trying again would not help.
fn retry_wait(error: &Error, attempt: u32, policy: &Policy) -> Option<Duration> {
    let backoff = policy
        .backoff
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    let wait = match error {
        Error::Http {
            status: 429 | 529 | 408 | 500 | 502 | 503 | 504,
            retry_after,
            ..
        } => retry_after.unwrap_or(backoff),
        Error::Unreachable { .. } | Error::CutOff { .. } => backoff,
        Error::Timeout {
            what: Wait::Start | Wait::GoOn,
            ..
        } => backoff,
        Error::Provider { .. } if error.provider_in_trouble() => backoff,
        _ => return None,
    };
    (wait <= policy.max_wait).then_some(wait)
}

/// One try.
async fn once(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ModelRequest,
    policy: &Policy,
    progress: impl FnMut(Delta),
) -> Result<Turn> {
    let provider = endpoint.name();
    // The endpoint's Debug leaves its key out.
    tracing::debug!(
        ?endpoint,
        messages = request.messages.len(),
        "asking the model"
    );
    let stalled = Arc::new(OnceLock::new());
    let attempt = async {
        let sent = endpoint.post(http, request).send();
        let response = match tokio::time::timeout(policy.first_token, sent).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => return Err(transport_error(endpoint, &err)),
            Err(_) => {
                let _ = stalled.set(Wait::Start);
                return Err(Error::CutOff {
                    provider,
                    reason: "no answer".to_owned(),
                });
            }
        };
        if !response.status().is_success() {
            return Err(status_error(endpoint, response).await);
        }
        let body = within_limits(response, policy, Arc::clone(&stalled));
        match endpoint.provider {
            Provider::OpenAi => read_turn(body, openai::ChunkDecoder::default(), progress).await,
            Provider::Anthropic => {
                read_turn(body, anthropic::EventDecoder::default(), progress).await
            }
        }
    };
    match tokio::time::timeout(policy.total, attempt).await {
        Err(_) => Err(Error::Timeout {
            provider,
            what: Wait::Finish,
            after: policy.limit(Wait::Finish),
        }),
        Ok(Err(error)) => match stalled.get() {
            Some(&what) => Err(Error::Timeout {
                provider,
                what,
                after: policy.limit(what),
            }),
            None => Err(error),
        },
        Ok(result) => result,
    }
}

/// The body as a stream that fails if its first bytes take longer than
/// the policy's `first_token`, or any later ones longer than its `idle`,
/// saying which in `stalled`.
fn within_limits(
    response: reqwest::Response,
    policy: &Policy,
    stalled: Arc<OnceLock<Wait>>,
) -> impl futures::Stream<Item = std::result::Result<bytes::Bytes, String>> + Unpin {
    let policy = policy.clone();
    let body = response.bytes_stream();
    Box::pin(futures::stream::unfold(
        (Box::pin(body), Wait::Start),
        move |(mut body, waiting)| {
            let stalled = Arc::clone(&stalled);
            let limit = policy.limit(waiting);
            async move {
                let next = match tokio::time::timeout(limit, body.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        let _ = stalled.set(waiting);
                        return Some((Err("no answer".to_owned()), (body, Wait::GoOn)));
                    }
                };
                next.map(|item| (item.map_err(|err| describe(&err)), (body, Wait::GoOn)))
            }
        },
    ))
}

/// The body as text, up to `limit` bytes (an error page may be endless).
async fn bounded_text(mut response: reqwest::Response, limit: usize) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(limit);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What went wrong under a reqwest error, in words: its innermost cause
/// ("connection refused"), without the URL, which some gateways carry a key
/// in.
fn describe(err: &reqwest::Error) -> String {
    let mut reason = err.to_string();
    if let Some(url) = err.url() {
        reason = reason.replace(url.as_str(), "the endpoint");
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        reason = cause.to_string();
        source = cause.source();
    }
    reason
}

fn transport_error(endpoint: &Endpoint, err: &reqwest::Error) -> Error {
    if err.is_connect() || err.is_timeout() {
        Error::Unreachable {
            provider: endpoint.name(),
            url: endpoint.base_url.clone(),
            reason: describe(err),
            advice: endpoint.unreachable_advice(),
        }
    } else {
        Error::CutOff {
            provider: endpoint.name(),
            reason: describe(err),
        }
    }
}

/// The error an HTTP status and its body describe.
async fn status_error(endpoint: &Endpoint, response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
    };
    let retry_after = header("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| header("retry-after"))
        .map(Duration::from_secs_f64);
    // Where a redirect leads, by its origin only (a query could hold
    // anything).
    let redirected = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|location| response.url().join(location).ok())
        .map(|url| url.origin().ascii_serialization())
        .filter(|_| response.status().is_redirection());
    let text = bounded_text(response, MAX_ERROR_BODY).await;
    if let Some(origin) = redirected {
        return Error::Http {
            provider: endpoint.name(),
            status,
            kind: String::new(),
            message: format!("a redirect to {origin}"),
            advice: endpoint.status_advice(status),
            retry_after: None,
        };
    }
    let (kind, message) = match serde_json::from_str::<Value>(&text) {
        Ok(body) => {
            let error = body.get("error").unwrap_or(&body);
            let parsed = match endpoint.provider {
                Provider::OpenAi => openai::provider_error(error),
                Provider::Anthropic => anthropic::provider_error(error),
            };
            match parsed {
                Error::Provider { kind, message, .. } => (kind, message),
                other => (String::new(), other.to_string()),
            }
        }
        // An HTML error page from a proxy, or plain text.
        Err(_) => {
            let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let short: String = text.chars().take(200).collect();
            (
                String::new(),
                if short.is_empty() {
                    "no details".to_owned()
                } else {
                    short
                },
            )
        }
    };
    Error::Http {
        provider: endpoint.name(),
        status,
        kind,
        message,
        advice: endpoint.status_advice(status),
        retry_after,
    }
}
