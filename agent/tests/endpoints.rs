//! The configured models in order, against scripted model servers:
//! fallback when one fails, circuits that open on a dead endpoint, cost.

use std::time::Duration;

use meshls_agent::{
    config::{AgentConfig, Price, Provider, ProviderConfig},
    endpoints::{Endpoints, BREAKER_THRESHOLD},
    model::*,
    provider::Policy,
    run::Limits,
};
use meshls_e2e::model_server::{anthropic_sse, openai_sse, ModelServer, Reply};
use serde_json::json;

fn policy() -> Policy {
    Policy {
        attempts: 1,
        backoff: Duration::from_millis(10),
        first_token: Duration::from_millis(800),
        ..Policy::default()
    }
}

/// OpenAI-compatible `primary`, then Anthropic `fallback`.
fn config(primary: &ModelServer, fallback: &ModelServer) -> AgentConfig {
    AgentConfig {
        provider: Provider::OpenAi,
        model: Some("primary-model".to_owned()),
        base_url: Some(format!("{}/v1", primary.url())),
        api_key_env: None,
        fallback: vec![ProviderConfig {
            provider: Provider::Anthropic,
            model: Some("fallback-model".to_owned()),
            base_url: Some(fallback.url()),
            api_key_env: Some("FALLBACK_KEY".to_owned()),
        }],
        prices: [(
            "fallback-model".to_owned(),
            Price {
                input: 3.0,
                output: 15.0,
            },
        )]
        .into(),
        ..AgentConfig::default()
    }
}

fn key(name: &str) -> Option<String> {
    (name == "FALLBACK_KEY").then(|| "sk-fallback".to_owned())
}

fn request() -> ModelRequest {
    ModelRequest {
        model: String::new(),
        system: String::new(),
        messages: vec![Message::User("hello".to_owned())],
        tools: Vec::new(),
        max_tokens: 100,
    }
}

fn down() -> Reply {
    Reply::json(503, json!({"error": {"message": "down for maintenance"}}))
}

#[tokio::test]
async fn a_failing_primary_falls_back_and_a_dead_one_rests() {
    let requests = BREAKER_THRESHOLD as usize + 2;
    let primary = ModelServer::start((0..requests).map(|_| down()).collect());
    let fallback = ModelServer::start(
        (0..requests)
            .map(|_| Reply::sse(&anthropic_sse("from the fallback", &[], (1000, 200)), 9))
            .collect(),
    );
    let models = Endpoints::new(&config(&primary, &fallback), policy(), key).unwrap();
    for _ in 0..requests {
        let answered = models.complete(&request(), |_| {}).await.unwrap();
        assert_eq!(answered.turn.text, "from the fallback");
        assert_eq!(answered.provider, "Anthropic");
        assert_eq!(answered.model, "fallback-model");
        // 1000 input tokens at $3 and 200 output tokens at $15 a million.
        assert_eq!(answered.cost, Some(0.006));
    }
    // After BREAKER_THRESHOLD failures in a row the primary is not asked.
    assert_eq!(primary.received().len(), BREAKER_THRESHOLD as usize);
    assert_eq!(fallback.received().len(), requests);
    assert_eq!(fallback.received()[0].body["model"], "fallback-model");
}

#[tokio::test]
async fn when_every_model_fails_the_first_ones_error_is_reported() {
    let primary = ModelServer::start(vec![down()]);
    let fallback = ModelServer::start(vec![Reply::json(
        401,
        json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
    )]);
    let models = Endpoints::new(&config(&primary, &fallback), policy(), key).unwrap();
    let error = models.complete(&request(), |_| {}).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the OpenAI-compatible endpoint answered HTTP 503: down for maintenance; the provider is having trouble; try again later, or add a provider under [[agent.fallback]]"
    );
    assert_eq!(
        (primary.received().len(), fallback.received().len()),
        (1, 1)
    );
}

#[tokio::test]
async fn an_answer_cut_after_it_was_shown_is_not_asked_again_elsewhere() {
    let wire = openai_sse("Half of this answer was shown", &[], (5, 5));
    let at = wire.find("as show").unwrap();
    let primary = ModelServer::start(vec![Reply::sse(&wire, 16).cut_after(at)]);
    let fallback = ModelServer::start(vec![Reply::sse(&anthropic_sse("other", &[], (1, 1)), 16)]);
    let models = Endpoints::new(&config(&primary, &fallback), policy(), key).unwrap();
    let mut shown = String::new();
    let error = models
        .complete(&request(), |delta| {
            if let Delta::Text(text) = delta {
                shown.push_str(&text);
            }
        })
        .await
        .unwrap_err();
    assert!(shown.starts_with("Half"), "{shown}");
    assert!(
        error.to_string().contains("stopped answering midway"),
        "{error}"
    );
    assert_eq!(fallback.received().len(), 0);
}

#[test]
fn a_fallback_without_its_key_is_left_out_and_a_primary_without_one_is_an_error() {
    let server = ModelServer::start(Vec::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    assert!(Endpoints::new(&config(&server, &server), policy(), |_| None).is_ok());
    let mut config = config(&server, &server);
    config.api_key_env = Some("PRIMARY_KEY".to_owned());
    let error = Endpoints::new(&config, policy(), key).err().unwrap();
    assert!(
        error
            .to_string()
            .starts_with("the environment variable PRIMARY_KEY"),
        "{error}"
    );
}

#[test]
fn limits_and_timeouts_come_from_the_agent_settings() {
    let config: AgentConfig = toml::from_str(
        "max_steps = 7\ntoken_budget = 5000\nmax_tokens = 900\ncontext_window = 16000\n\
         verify_rounds = 0\nconnect_timeout = 3\nfirst_token_timeout = 30\ntotal_timeout = 120\nretries = 0\n",
    )
    .unwrap();
    let limits = Limits::from(&config);
    assert_eq!(
        (
            limits.max_steps,
            limits.token_budget,
            limits.max_tokens,
            limits.context_window,
            limits.verify_rounds
        ),
        (7, 5000, 900, 16000, 0)
    );
    let policy = Policy::from(&config);
    assert_eq!(
        (
            policy.connect,
            policy.first_token,
            policy.total,
            policy.attempts
        ),
        (
            Duration::from_secs(3),
            Duration::from_secs(30),
            Duration::from_secs(120),
            1
        )
    );
    // Unset, the context window is one the provider's models have.
    let window =
        |text: &str| Limits::from(&toml::from_str::<AgentConfig>(text).unwrap()).context_window;
    assert_eq!(window(""), 32_768);
    assert_eq!(window("api_key_env = \"K\""), 128_000);
    assert_eq!(window("provider = \"anthropic\""), 200_000);
    assert_eq!(Policy::from(&AgentConfig::default()), Policy::default());
    let limits = Limits::default();
    let defaults = Limits::from(&AgentConfig::default());
    assert_eq!(
        (
            limits.max_steps,
            limits.token_budget,
            limits.max_tokens,
            limits.verify_rounds
        ),
        (
            defaults.max_steps,
            defaults.token_budget,
            defaults.max_tokens,
            defaults.verify_rounds
        )
    );
}
