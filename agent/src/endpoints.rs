//! The configured models in order: `[agent]`'s own, then each
//! `[[agent.fallback]]`. A request goes to the first that is not resting;
//! if it fails before anything of its answer was shown, the next one is
//! asked. An endpoint that fails [`BREAKER_THRESHOLD`] times in a row rests
//! for [`BREAKER_REST`] (its circuit is open), so a dead endpoint does not
//! cost every request its timeouts. Each answer comes with the model that
//! gave it and its cost, from `[agent.prices]`.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{
    config::{AgentConfig, Price},
    model::{Delta, ModelRequest, Turn},
    provider::{complete, http_client, Endpoint, Policy},
    Error, Result,
};

/// Failures in a row that open an endpoint's circuit.
pub const BREAKER_THRESHOLD: u32 = 3;
/// How long an open circuit keeps an endpoint out; then one request may try
/// it again.
pub const BREAKER_REST: Duration = Duration::from_secs(60);

pub struct Endpoints {
    slots: Vec<Slot>,
    http: reqwest::Client,
    policy: Policy,
}

struct Slot {
    endpoint: Endpoint,
    price: Option<Price>,
    breaker: Mutex<Breaker>,
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    resting_until: Option<Instant>,
}

/// One answer, and who gave it at what cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    pub turn: Turn,
    pub provider: &'static str,
    pub model: String,
    /// US dollars, when `[agent.prices]` has the model.
    pub cost: Option<f64>,
}

impl Endpoints {
    /// The endpoints `config` names, keys read through `lookup`. The
    /// primary must be usable; a fallback that is not (its key variable is
    /// unset) is left out with a warning.
    pub fn new(
        config: &AgentConfig,
        policy: Policy,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Endpoints> {
        let mut slots = Vec::new();
        let primary = config.primary();
        for (position, provider) in std::iter::once(&primary)
            .chain(&config.fallback)
            .enumerate()
        {
            let model = provider.model();
            match Endpoint::new(provider, model, &lookup) {
                Ok(endpoint) => slots.push(Slot {
                    endpoint,
                    price: config.prices.get(model).copied(),
                    breaker: Mutex::default(),
                }),
                Err(err) if position == 0 => return Err(err),
                Err(err) => tracing::warn!("fallback {position} left out: {err}"),
            }
        }
        Ok(Endpoints {
            http: http_client(&policy),
            slots,
            policy,
        })
    }

    /// Asks the first endpoint that is not resting, then the next ones
    /// while they fail before showing anything. The error, when all fail,
    /// is the first endpoint's, which is the one the user configured first.
    pub async fn complete(
        &self,
        request: &ModelRequest,
        mut progress: impl FnMut(Delta),
    ) -> Result<Answered> {
        let mut first_error = None;
        let now = Instant::now();
        let mut ready: Vec<&Slot> = self
            .slots
            .iter()
            .filter(|slot| !slot.resting(now))
            .collect();
        if ready.is_empty() {
            // Every circuit is open: the one that rests the shortest is tried.
            ready = self
                .slots
                .iter()
                .min_by_key(|slot| slot.rest_ends())
                .into_iter()
                .collect();
        }
        for slot in ready {
            // Atomic only so the future stays Send.
            let delivered = AtomicBool::new(false);
            let result = complete(&self.http, &slot.endpoint, request, &self.policy, |delta| {
                delivered.store(true, Ordering::Relaxed);
                progress(delta);
            })
            .await;
            match result {
                Ok(turn) => {
                    slot.succeeded();
                    let cost = slot
                        .price
                        .map(|price| price.cost(turn.usage.input_tokens, turn.usage.output_tokens));
                    return Ok(Answered {
                        turn,
                        provider: slot.endpoint.name(),
                        model: slot.endpoint.model().to_owned(),
                        cost,
                    });
                }
                Err(err) => {
                    if is_outage(&err) {
                        slot.failed();
                    }
                    tracing::warn!(
                        provider = slot.endpoint.name(),
                        model = slot.endpoint.model(),
                        "{err}"
                    );
                    // Half an answer was shown: another model would start over.
                    if delivered.load(Ordering::Relaxed) {
                        return Err(err);
                    }
                    first_error.get_or_insert(err);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| Error::Unreachable {
            provider: "the model",
            url: String::new(),
            reason: "no endpoint is configured".to_owned(),
            advice: "set provider and model under [agent] in meshls.toml".to_owned(),
        }))
    }
}

/// Whether `error` says the endpoint is down or overloaded (which rests
/// it), rather than that this request was wrong.
fn is_outage(error: &Error) -> bool {
    match error {
        Error::Unreachable { .. } | Error::Timeout { .. } | Error::CutOff { .. } => true,
        Error::Http { status, .. } => matches!(status, 429 | 500..=599),
        Error::Provider { .. } => error.provider_in_trouble(),
        Error::Malformed { .. } | Error::NoApiKey { .. } | Error::TooLarge { .. } => false,
    }
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn resting(&self, now: Instant) -> bool {
        self.lock().resting_until.is_some_and(|until| now < until)
    }

    fn rest_ends(&self) -> Option<Instant> {
        self.lock().resting_until
    }

    fn succeeded(&self) {
        *self.lock() = Breaker::default();
    }

    fn failed(&self) {
        let mut breaker = self.lock();
        breaker.failures += 1;
        if breaker.failures >= BREAKER_THRESHOLD {
            tracing::warn!(
                provider = self.endpoint.name(),
                model = self.endpoint.model(),
                "{} failures in a row; not asked for {:?}",
                breaker.failures,
                BREAKER_REST
            );
            breaker.resting_until = Some(Instant::now() + BREAKER_REST);
        }
    }
}
