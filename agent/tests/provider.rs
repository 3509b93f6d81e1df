//! One model endpoint over real HTTP, against the scripted model server
//! (`tests/src/model_server.rs`): what is sent, what comes back, and every
//! way it goes wrong.

use std::time::Duration;

use meshls_agent::{
    config::{Provider, ProviderConfig},
    model::*,
    provider::{complete, http_client, Endpoint, Policy},
    Error,
};
use meshls_e2e::model_server::{anthropic_sse, openai_sse, unused_base_url, ModelServer, Reply};
use serde_json::json;

const KEY: &str = "sk-test-7f3a9c";

fn policy() -> Policy {
    Policy {
        first_token: Duration::from_millis(800),
        backoff: Duration::from_millis(10),
        max_wait: Duration::from_secs(2),
        attempts: 3,
        ..Policy::default()
    }
}

fn endpoint(provider: Provider, server: &ModelServer) -> Endpoint {
    let base_url = match provider {
        Provider::OpenAi => format!("{}/v1", server.url()),
        Provider::Anthropic => server.url(),
    };
    let config = ProviderConfig {
        provider,
        model: None,
        base_url: Some(base_url),
        api_key_env: Some("MODEL_KEY".to_owned()),
    };
    Endpoint::new(&config, "scripted-model", |name| {
        (name == "MODEL_KEY").then(|| KEY.to_owned())
    })
    .unwrap()
}

fn request() -> ModelRequest {
    ModelRequest {
        model: String::new(),
        system: "You edit code.".to_owned(),
        messages: vec![Message::User("Fix main.".to_owned())],
        tools: vec![ToolSpec {
            name: "read_file".to_owned(),
            description: "Reads a file.".to_owned(),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        }],
        max_tokens: 512,
    }
}

async fn ask(endpoint: &Endpoint, policy: &Policy) -> (Result<Turn, Error>, Vec<Delta>) {
    let mut progress = Vec::new();
    let turn = complete(
        &http_client(policy),
        endpoint,
        &request(),
        policy,
        |delta| progress.push(delta),
    )
    .await;
    (turn, progress)
}

fn tool_turn(input_tokens: u64) -> Turn {
    Turn {
        text: "Reading é 🙂".to_owned(),
        tool_calls: vec![ToolCall {
            id: "call_1".to_owned(),
            name: "read_file".to_owned(),
            arguments: r#"{"path": "src/main.rs"}"#.to_owned(),
        }],
        stop: StopReason::ToolUse,
        usage: Usage {
            input_tokens,
            output_tokens: 9,
        },
    }
}

const CALL: (&str, &str, &str) = ("call_1", "read_file", r#"{"path": "src/main.rs"}"#);

#[tokio::test]
async fn an_openai_compatible_endpoint_streams_a_tool_call() {
    let server = ModelServer::start(vec![Reply::sse(
        &openai_sse("Reading é 🙂", &[CALL], (40, 9)),
        3,
    )]);
    let (turn, progress) = ask(&endpoint(Provider::OpenAi, &server), &policy()).await;
    assert_eq!(turn, Ok(tool_turn(40)));
    assert!(progress.contains(&Delta::ToolCall {
        name: "read_file".to_owned()
    }));
    let [received] = server.received().try_into().unwrap();
    assert_eq!(
        (received.method.as_str(), received.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        received.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(received.body["model"], "scripted-model");
    assert_eq!(received.body["stream"], true);
    assert_eq!(received.body["messages"][0]["role"], "system");
    assert_eq!(received.body["tools"][0]["function"]["name"], "read_file");
}

#[tokio::test]
async fn an_anthropic_endpoint_streams_a_tool_call() {
    let server = ModelServer::start(vec![Reply::sse(
        &anthropic_sse("Reading é 🙂", &[CALL], (40, 9)),
        5,
    )]);
    let (turn, _) = ask(&endpoint(Provider::Anthropic, &server), &policy()).await;
    assert_eq!(turn, Ok(tool_turn(40)));
    let [received] = server.received().try_into().unwrap();
    assert_eq!(received.path, "/v1/messages");
    assert_eq!(received.header("x-api-key"), Some(KEY));
    assert_eq!(received.header("anthropic-version"), Some("2023-06-01"));
    assert!(received.header("authorization").is_none());
    assert_eq!(received.body["system"], "You edit code.");
    assert_eq!(received.body["tools"][0]["input_schema"]["type"], "object");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_and_refusals_are_not() {
    let answer = || Reply::sse(&openai_sse("done", &[], (1, 1)), 64);
    let rate_limited = Reply::json(
        429,
        json!({"error": {"message": "slow down", "type": "rate_limit_error"}}),
    )
    .header("retry-after", "0");
    let overloaded = Reply::json(503, json!({"error": {"message": "overloaded"}}));
    let server = ModelServer::start(vec![rate_limited, overloaded, answer()]);
    let (turn, _) = ask(&endpoint(Provider::OpenAi, &server), &policy()).await;
    assert_eq!(turn.unwrap().text, "done");
    assert_eq!(server.received().len(), 3);

    // A bad request is the caller's to fix: one try, and the provider's words.
    let server = ModelServer::start(vec![
        Reply::json(
            400,
            json!({"error": {"message": "tools are not supported by this model", "type": "invalid_request_error"}}),
        ),
        answer(),
    ]);
    let (turn, _) = ask(&endpoint(Provider::OpenAi, &server), &policy()).await;
    assert_eq!(
        turn.unwrap_err().to_string(),
        "the OpenAI-compatible endpoint answered HTTP 400 (invalid_request_error): tools are not supported by this model; the provider refused the request; check that the model `scripted-model` supports tool calling"
    );
    assert_eq!(server.received().len(), 1);

    // Retries stop after the policy's tries, with the last error.
    let server = ModelServer::start((0..4).map(|_| Reply::json(529, json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))).collect());
    let (turn, _) = ask(&endpoint(Provider::Anthropic, &server), &policy()).await;
    assert_eq!(
        turn.unwrap_err().to_string(),
        "Anthropic answered HTTP 529 (overloaded_error): Overloaded; the provider is having trouble; try again later, or add a provider under [[agent.fallback]]"
    );
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn a_retry_after_longer_than_meshls_waits_is_reported_not_waited_for() {
    let server = ModelServer::start(vec![Reply::json(
        429,
        json!({"error": {"message": "quota exceeded", "type": "rate_limit_error"}}),
    )
    .header("retry-after", "3600")]);
    let (turn, _) = ask(&endpoint(Provider::OpenAi, &server), &policy()).await;
    let error = turn.unwrap_err();
    assert!(
        matches!(error, Error::Http { status: 429, retry_after: Some(wait), .. } if wait == Duration::from_secs(3600)),
        "{error:?}"
    );
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_bad_key_is_reported_by_its_variable_and_never_shown() {
    let server = ModelServer::start(vec![Reply::json(
        401,
        json!({"error": {"message": format!("Incorrect API key provided: {}", "sk-te**9c"), "type": "invalid_request_error"}}),
    )]);
    let endpoint = endpoint(Provider::OpenAi, &server);
    let (turn, _) = ask(&endpoint, &policy()).await;
    let message = turn.unwrap_err().to_string();
    assert!(
        message.ends_with("check the API key in $MODEL_KEY"),
        "{message}"
    );
    assert!(!message.contains(KEY));
    assert!(!format!("{endpoint:?}").contains(KEY));

    let config = ProviderConfig {
        provider: Provider::Anthropic,
        model: None,
        base_url: None,
        api_key_env: Some("NO_SUCH_KEY_VARIABLE".to_owned()),
    };
    let missing = Endpoint::new(&config, "m", |_| None).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "the environment variable NO_SUCH_KEY_VARIABLE, named by api_key_env in meshls's config, is not set: set it to your API key"
    );
}

#[tokio::test]
async fn a_provider_that_echoes_the_key_back_has_it_taken_out_of_the_error() {
    let echo = format!("Incorrect API key provided: {KEY}; you sent Authorization: Bearer {KEY}");
    let stream_error = json!({"type": "error", "error": {"type": "authentication_error", "message": format!("x-api-key {KEY} revoked")}});
    let server = ModelServer::start(vec![
        Reply::json(
            401,
            json!({"error": {"message": echo, "type": "invalid_request_error"}}),
        ),
        Reply::sse(&format!("event: error\ndata: {stream_error}\n\n"), 8),
    ]);
    let (turn, _) = ask(&endpoint(Provider::OpenAi, &server), &policy()).await;
    assert_eq!(
        turn.unwrap_err().to_string(),
        "the OpenAI-compatible endpoint answered HTTP 401 (invalid_request_error): Incorrect API key provided: <redacted>; you sent Authorization: Bearer <redacted>; check the API key in $MODEL_KEY"
    );
    let (turn, _) = ask(&endpoint(Provider::Anthropic, &server), &policy()).await;
    assert_eq!(
        turn.unwrap_err().to_string(),
        "Anthropic reported an error (authentication_error): x-api-key <redacted> revoked"
    );
    // It was sent, where it belongs.
    assert_eq!(server.received()[1].header("x-api-key"), Some(KEY));
}

#[tokio::test]
async fn a_dropped_connection_is_retried_until_the_answer_has_begun() {
    let wire = openai_sse("All done here.", &[], (3, 4));
    // Cut inside the headers' first chunk: nothing reported yet, so it is
    // tried again.
    let server = ModelServer::start(vec![
        Reply::sse(&wire, 8).cut_after(20),
        Reply::sse(&wire, 8),
    ]);
    let (turn, _) = ask(&endpoint(Provider::OpenAi, &server), &policy()).await;
    assert_eq!(turn.unwrap().text, "All done here.");
    assert_eq!(server.received().len(), 2);

    // Cut after text was shown: trying again would show it twice, so the
    // user is told instead.
    let at = wire.find("here").unwrap() + 100;
    let server = ModelServer::start(vec![
        Reply::sse(&wire, 8).cut_after(at),
        Reply::sse(&wire, 8),
    ]);
    let (turn, progress) = ask(&endpoint(Provider::OpenAi, &server), &policy()).await;
    assert!(!progress.is_empty());
    let error = turn.unwrap_err();
    assert!(matches!(error, Error::CutOff { .. }), "{error:?}");
    assert!(error.to_string().ends_with("; try again"), "{error}");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_stalled_endpoint_times_out_and_is_tried_again() {
    let server = ModelServer::start(vec![
        Reply::stall(200, Duration::from_secs(5)),
        Reply::sse(&anthropic_sse("Back.", &[], (2, 2)), 16),
    ]);
    let (turn, _) = ask(&endpoint(Provider::Anthropic, &server), &policy()).await;
    assert_eq!(turn.unwrap().text, "Back.");
    assert_eq!(server.received().len(), 2);

    let policy = Policy {
        attempts: 1,
        ..policy()
    };
    let server = ModelServer::start(vec![Reply::stall(200, Duration::from_secs(5))]);
    let (turn, _) = ask(&endpoint(Provider::Anthropic, &server), &policy).await;
    assert_eq!(
        turn.unwrap_err().to_string(),
        "Anthropic did not start answering within 0.8 s; try again, or raise first_token_timeout under [agent] in meshls's config"
    );
}

/// A stream that goes silent is given up after `idle`: tried again while
/// nothing of it has been shown, reported once something has.
#[tokio::test]
async fn a_stream_that_stalls_halfway_times_out() {
    let wire = openai_sse("", &[("c1", "read_file", r#"{"path": "main.rs"}"#)], (5, 5));
    let stalled = |bytes| Reply::sse(&wire, 16).stall_after(bytes, Duration::from_secs(5));
    let policy = Policy {
        idle: Duration::from_millis(800),
        ..policy()
    };
    // Silent inside the first event: nothing was shown, so it is asked again.
    let server = ModelServer::start(vec![stalled(10), Reply::sse(&wire, 16)]);
    let (turn, progress) = ask(&endpoint(Provider::OpenAi, &server), &policy).await;
    assert_eq!(turn.unwrap().tool_calls[0].name, "read_file");
    assert_eq!(progress.len(), 1, "{progress:?}");
    assert_eq!(server.received().len(), 2);

    // Silent after the tool call was shown: asking again would show it
    // twice, so the run is told, in the words of the setting to raise.
    let server = ModelServer::start(vec![stalled(wire.len() - 20), Reply::sse(&wire, 16)]);
    let (turn, progress) = ask(&endpoint(Provider::OpenAi, &server), &policy).await;
    assert_eq!(
        turn.unwrap_err().to_string(),
        "the OpenAI-compatible endpoint did not go on answering within 0.8 s; try again, or raise idle_timeout under [agent] in meshls's config"
    );
    assert_eq!(progress.len(), 1, "{progress:?}");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn an_endpoint_nobody_listens_on_says_so_plainly() {
    let base_url = unused_base_url();
    let config = ProviderConfig {
        provider: Provider::OpenAi,
        model: None,
        base_url: Some(base_url.clone()),
        api_key_env: None,
    };
    let endpoint = Endpoint::new(&config, "m", |_| None).unwrap();
    let (turn, _) = ask(&endpoint, &policy()).await;
    let message = turn.unwrap_err().to_string();
    assert!(
        message.starts_with(&format!(
            "cannot reach the OpenAI-compatible endpoint at {base_url} ("
        )) && message.ends_with("check base_url under [agent] in meshls.toml, and the network"),
        "{message}"
    );
}
