//! What a replay tells about each key, and how two replays compare.

use std::time::Duration;

use recourse_engine::Timeline;
use recourse_engine::observe::CallOutcome;
use serde_json::{Value, json};

/// One key's calls in a replay.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyStats {
    pub(crate) calls: u64,
    pub(crate) successes: u64,
    /// Attempts that reached the dependency (hedges included).
    pub(crate) attempts: u64,
    pub(crate) retries: u64,
    pub(crate) hedges: u64,
    /// Attempts a budget refused.
    pub(crate) budget_denials: u64,
    pub(crate) circuit_opens: u64,
    /// How long its breakers were not closed, summed over the instances.
    pub(crate) circuit_open: Duration,
    /// Calls that did not end within the replay's limit.
    pub(crate) unfinished: u64,
    /// Each call's duration, in microseconds.
    durations: Vec<u32>,
}

impl KeyStats {
    pub(crate) fn add(&mut self, tl: &Timeline) {
        self.calls += 1;
        if tl.outcome == CallOutcome::Success {
            self.successes += 1;
        }
        for a in tl.attempts.iter() {
            if !a.budget_allowed {
                self.budget_denials += 1;
            } else {
                self.attempts += 1;
                if a.is_hedge {
                    self.hedges += 1;
                } else if a.attempt > 0 {
                    self.retries += 1;
                }
            }
        }
        let us = tl.end.since(tl.start).as_micros();
        self.durations.push(u32::try_from(us).unwrap_or(u32::MAX));
    }

    /// A call that did not end within `limit`: a failure, as slow as the limit.
    pub(crate) fn unfinished(&mut self, limit: Duration) {
        self.calls += 1;
        self.unfinished += 1;
        self.durations
            .push(u32::try_from(limit.as_micros()).unwrap_or(u32::MAX));
    }

    pub(crate) fn attempts_per_call(&self) -> f64 {
        ratio(self.attempts as f64, self.calls as f64)
    }

    /// Percent of calls that succeeded.
    pub(crate) fn success_rate(&self) -> f64 {
        100.0 * ratio(self.successes as f64, self.calls as f64)
    }

    /// The `q` quantile of call durations, in milliseconds.
    fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.durations.is_empty() {
            return 0.0;
        }
        self.durations.sort_unstable();
        let i = ((self.durations.len() as f64 * q).ceil() as usize).clamp(1, self.durations.len());
        f64::from(self.durations[i - 1]) / 1000.0
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Three decimals: what the reports show, and all they compare.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A whole replay: each key's figures and the attempts drawn.
#[derive(Debug)]
pub(crate) struct Replay {
    pub(crate) keys: Vec<(String, KeyStats)>,
    pub(crate) drawn: u64,
}

/// One key's figures, as the reports show them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Figures {
    pub(crate) calls: f64,
    pub(crate) attempts_per_call: f64,
    pub(crate) retries_per_second: f64,
    pub(crate) hedges_per_second: f64,
    pub(crate) budget_denials: f64,
    pub(crate) circuit_opens: f64,
    pub(crate) circuit_open_s: f64,
    pub(crate) success_rate: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) unfinished: f64,
}

/// The figures' names, in the order reports list them.
pub(crate) const FIGURES: [&str; 11] = [
    "calls",
    "attempts_per_call",
    "retries_per_second",
    "hedges_per_second",
    "budget_denials",
    "circuit_opens",
    "circuit_open_s",
    "success_rate",
    "p50_ms",
    "p99_ms",
    "unfinished",
];

impl Figures {
    pub(crate) fn get(&self, name: &str) -> f64 {
        match name {
            "calls" => self.calls,
            "attempts_per_call" => self.attempts_per_call,
            "retries_per_second" => self.retries_per_second,
            "hedges_per_second" => self.hedges_per_second,
            "budget_denials" => self.budget_denials,
            "circuit_opens" => self.circuit_opens,
            "circuit_open_s" => self.circuit_open_s,
            "success_rate" => self.success_rate,
            "p50_ms" => self.p50_ms,
            "p99_ms" => self.p99_ms,
            _ => self.unfinished,
        }
    }
}

impl Replay {
    /// Each key's figures, by name, with rates over `span` (the recording's).
    pub(crate) fn figures(&mut self, span: Duration) -> Vec<(String, Figures)> {
        let secs = span.as_secs_f64().max(1e-3);
        self.keys
            .iter_mut()
            .map(|(k, s)| {
                let f = Figures {
                    calls: s.calls as f64,
                    attempts_per_call: round3(s.attempts_per_call()),
                    retries_per_second: round3(s.retries as f64 / secs),
                    hedges_per_second: round3(s.hedges as f64 / secs),
                    budget_denials: s.budget_denials as f64,
                    circuit_opens: s.circuit_opens as f64,
                    circuit_open_s: round3(s.circuit_open.as_secs_f64()),
                    success_rate: round3(s.success_rate()),
                    p50_ms: round3(s.quantile_ms(0.5)),
                    p99_ms: round3(s.quantile_ms(0.99)),
                    unfinished: s.unfinished as f64,
                };
                (k.clone(), f)
            })
            .collect()
    }
}

/// A figure as JSON: counts as integers, the rest as numbers.
pub(crate) fn number(name: &str, value: f64) -> Value {
    match name {
        "calls" | "budget_denials" | "circuit_opens" | "unfinished" => json!(value as u64),
        _ => json!(value),
    }
}

/// `{figure: {"old": x, "new": y}}` for one key.
pub(crate) fn compared(old: &Figures, new: &Figures) -> Value {
    let mut v = serde_json::Map::new();
    for name in FIGURES {
        let (a, b) = (number(name, old.get(name)), number(name, new.get(name)));
        v.insert(name.to_owned(), json!({"old": a, "new": b}));
    }
    Value::Object(v)
}
