//! The demo's simulated service: a few keys calling a dependency whose failure rate and latency
//! drift over time, with a recurring outage of `inventory` so its breaker opens and closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use recourse_engine::classify::HttpStatusError;
use recourse_engine::observe::Observer;
use recourse_engine::{CallEnd, CircuitState, Detail, Executor, Key, Reason};
use tokio::time::Instant;

/// The demo's policy file.
pub(crate) const POLICIES: &str = include_str!("policies.yaml");

/// How one key's dependency behaves at `t` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Health {
    /// Chance that an attempt fails with 503.
    pub(crate) fail: f64,
    /// Chance that an attempt is slow (past the policy's per-attempt timeout or hedge delay).
    pub(crate) slow: f64,
    /// Typical latency, milliseconds.
    pub(crate) base_ms: f64,
}

/// The dependency of `key` at `t` seconds after the start.
pub(crate) fn health(key: &str, t: f64) -> Health {
    match key {
        "payments.Charge" => Health {
            fail: 0.25 + 0.2 * (t / 3.0).sin(),
            slow: 0.03,
            base_ms: 30.0 + 15.0 * (t / 5.0).sin(),
        },
        "payments.Refund" => Health {
            fail: 0.03,
            slow: 0.3,
            base_ms: 15.0,
        },
        // Down from 1 s to 4 s of every 12 s: the breaker opens, probes, closes.
        "inventory.Get" if (1.0..4.0).contains(&(t % 12.0)) => Health {
            fail: 1.0,
            slow: 0.0,
            base_ms: 2.0,
        },
        "inventory.Get" => Health {
            fail: 0.02,
            slow: 0.0,
            base_ms: 5.0,
        },
        _ => Health {
            fail: 0.01,
            slow: 0.0,
            base_ms: 8.0,
        },
    }
}

/// Calls per second per key.
pub(crate) const LOAD: &[(&str, u32)] = &[
    ("payments.Charge", 40),
    ("payments.Refund", 15),
    ("payments.Auth", 25),
    ("inventory.Get", 30),
];

/// A small deterministic RNG (SplitMix64).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs the load until the runtime stops: every key at its rate, each call its own task.
pub(crate) async fn drive(exec: Executor, seed: u64) {
    let start = Instant::now();
    for (i, &(key, rate)) in LOAD.iter().enumerate() {
        let exec = exec.clone();
        let mut rng = Rng(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9));
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1) / rate);
            loop {
                every.tick().await;
                // recourse-lint: allow(dynamic-key) -- one of the demo's fixed keys, named in its table
                let handle = exec.key(key);
                let mut rng = Rng(rng.next().to_bits());
                tokio::spawn(async move {
                    let _ = handle
                        .call(|_attempt| {
                            let h = health(key, start.elapsed().as_secs_f64());
                            let (fails, slow) = (rng.next() < h.fail, rng.next() < h.slow);
                            let jitter = 0.5 + rng.next();
                            let ms = if slow {
                                280.0 + 100.0 * jitter
                            } else {
                                h.base_ms * jitter
                            };
                            async move {
                                tokio::time::sleep(Duration::from_secs_f64(ms / 1e3)).await;
                                if fails {
                                    Err(HttpStatusError::new(503, "PUT"))
                                } else {
                                    Ok(())
                                }
                            }
                        })
                        .await;
                });
            }
        });
    }
}

/// What the demo did, counted by an observer (printed when `--no-tui` ends).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) calls: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) denied: AtomicU64,
    pub(crate) hedges: AtomicU64,
    pub(crate) hedge_wins: AtomicU64,
    pub(crate) opened: AtomicU64,
    pub(crate) closed: AtomicU64,
}

/// Feeds a shared [`Tally`].
#[derive(Debug, Clone)]
pub(crate) struct Counting(pub(crate) Arc<Tally>);

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Observer for Counting {
    fn detail(&self) -> Detail {
        Detail::Counts
    }
    fn on_end(&self, _key: &Key, end: &CallEnd) {
        let s = end.summary;
        let add = |c: &AtomicU64, n: u32| c.fetch_add(u64::from(n), Ordering::Relaxed);
        bump(&self.0.calls);
        add(&self.0.retries, s.retries);
        add(&self.0.denied, s.budget_denied);
        add(&self.0.hedges, s.hedges);
        add(&self.0.hedge_wins, u32::from(s.hedge_won));
    }
    fn on_circuit_change(&self, _key: &Key, _from: CircuitState, to: CircuitState, _r: &Reason) {
        match to {
            CircuitState::Open => bump(&self.0.opened),
            CircuitState::Closed => bump(&self.0.closed),
            _ => {}
        }
    }
}

impl Tally {
    /// One line for stderr.
    pub(crate) fn summary(&self) -> String {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "demo: {} calls · {} retries · {} budget denials · {} hedges ({} won) · \
             breaker opened {}× and closed {}×",
            n(&self.calls),
            n(&self.retries),
            n(&self.denied),
            n(&self.hedges),
            n(&self.hedge_wins),
            n(&self.opened),
            n(&self.closed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_goes_down_early_and_recovers() {
        assert!(health("inventory.Get", 0.5).fail < 0.1);
        assert_eq!(health("inventory.Get", 2.0).fail, 1.0);
        assert!(health("inventory.Get", 4.5).fail < 0.1);
        assert_eq!(health("inventory.Get", 14.0).fail, 1.0);
    }

    #[test]
    fn charge_failures_drift_but_stay_probabilities() {
        let rates: Vec<f64> = (0..100)
            .map(|t| health("payments.Charge", t as f64 / 2.0).fail)
            .collect();
        assert!(rates.iter().all(|r| (0.0..=1.0).contains(r)));
        let (lo, hi) = rates
            .iter()
            .fold((1.0f64, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        assert!(hi - lo > 0.3, "the failure rate drifts: {lo}..{hi}");
    }

    #[test]
    fn the_demo_policies_load_and_use_every_feature() {
        use recourse_engine::tooling::resolve;
        let set = recourse_engine::PolicySet::from_str(POLICIES, "demo.yaml").unwrap();
        let charge = resolve(&set, &Key::parse("payments.Charge")).policy;
        assert_eq!(charge.retry.budget.name, "payments-retries");
        assert!(
            resolve(&set, &Key::parse("payments.Refund"))
                .policy
                .hedge
                .enabled
        );
        assert!(
            resolve(&set, &Key::parse("inventory.Get"))
                .policy
                .circuit
                .enabled
        );
    }
}
