//! What one server's requests have done, for `meshls.status` and
//! `meshls doctor`: answers, errors, timeouts and recent latencies.

use std::{collections::VecDeque, time::Duration};

use serde::Serialize;

/// How many recent latencies the percentiles are taken over.
const WINDOW: usize = 512;

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    answered: u64,
    errors: u64,
    timeouts: u64,
    recent: VecDeque<Duration>,
}

impl Recorder {
    /// An answer came after `latency`; `error` when it was an error response.
    pub(crate) fn answered(&mut self, latency: Duration, error: bool) {
        self.answered += 1;
        self.errors += u64::from(error);
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(latency);
    }

    pub(crate) fn timed_out(&mut self) {
        self.timeouts += 1;
    }

    pub(crate) fn snapshot(&self) -> RequestStats {
        let mut sorted: Vec<Duration> = self.recent.iter().copied().collect();
        sorted.sort_unstable();
        let percentile = |p: usize| {
            (!sorted.is_empty())
                .then(|| sorted[(sorted.len() - 1) * p / 100].as_secs_f64() * 1000.0)
        };
        RequestStats {
            answered: self.answered,
            errors: self.errors,
            timeouts: self.timeouts,
            p50_ms: percentile(50),
            p99_ms: percentile(99),
        }
    }
}

/// Counts since the server (re)started, and latency percentiles over its
/// last 512 answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestStats {
    /// Requests answered, including error answers (and `initialize`).
    pub answered: u64,
    /// Answers that were JSON-RPC errors.
    pub errors: u64,
    /// Requests given up on because no answer came in time.
    pub timeouts: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_recent_window() {
        let mut recorder = Recorder::default();
        assert_eq!(recorder.snapshot().p50_ms, None);
        for ms in 1..=100 {
            recorder.answered(Duration::from_millis(ms), ms % 10 == 0);
        }
        recorder.timed_out();
        let stats = recorder.snapshot();
        assert_eq!(stats.answered, 100);
        assert_eq!(stats.errors, 10);
        assert_eq!(stats.timeouts, 1);
        assert_eq!(stats.p50_ms, Some(50.0));
        assert_eq!(stats.p99_ms, Some(99.0));

        // Old answers fall out of the window; the counts keep them.
        for _ in 0..WINDOW {
            recorder.answered(Duration::from_millis(7), false);
        }
        let stats = recorder.snapshot();
        assert_eq!(stats.answered, 100 + WINDOW as u64);
        assert_eq!((stats.p50_ms, stats.p99_ms), (Some(7.0), Some(7.0)));
    }
}
