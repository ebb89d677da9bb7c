//! Shared test harness: a virtual-clock executor, a test error, a recording observer.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use recourse_engine::budget::{BudgetEvent, BudgetKind};
use recourse_engine::classify::Kind;
use recourse_engine::clock::VirtualClock;
use recourse_engine::provider::{Provider, ProviderFailure};
use recourse_engine::{
    AttemptRecord, Executor, ExecutorBuilder, Key, Observer, Policy, Reason, Timeline,
};

pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An operation error compared by identity (its number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E(pub u32);

impl fmt::Display for E {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op error {}", self.0)
    }
}

impl std::error::Error for E {}

/// Counts operation invocations.
#[derive(Clone, Default, Debug)]
pub struct Calls(Arc<AtomicU32>);

impl Calls {
    pub fn hit(&self) -> u32 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

/// An executor on a fresh virtual clock, seeded.
pub fn vexec(b: ExecutorBuilder) -> (Executor, VirtualClock) {
    seeded(b, 7)
}

/// An executor on a fresh virtual clock, its jitter seeded with `seed`.
pub fn seeded(b: ExecutorBuilder, seed: u64) -> (Executor, VirtualClock) {
    let vc = VirtualClock::new();
    let exec = b
        .clock(vc.clock())
        .seed(seed)
        .build()
        .expect("executor builds");
    (exec, vc)
}

/// A single-key executor with `policy` on a virtual clock.
pub fn with_policy(policy: Policy) -> (Executor, VirtualClock) {
    vexec(Executor::builder().policy("svc.op", policy))
}

/// A single-key executor with `policy` on a virtual clock, and the observer recording its events.
pub fn recorded(policy: Policy) -> (Executor, VirtualClock, Recording) {
    let rec = Recording::default();
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", policy)
            .observer(rec.clone()),
    );
    (exec, vc, rec)
}

/// Runs `fut` on `vc`.
pub fn run<F: Future>(vc: &VirtualClock, fut: F) -> F::Output {
    vc.block_on(fut)
}

/// A policy with everything unset but what the test gives.
pub fn zero() -> Policy {
    Policy::new()
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    Start {
        key: String,
        max_attempts: Option<u32>,
    },
    Budget {
        attempt: u32,
        kind: BudgetKind,
        budget: String,
        mode: String,
        allowed: bool,
        reason: String,
    },
    Attempt {
        attempt: u32,
        hedge: u32,
        outcome: Kind,
        reason: String,
        budget_allowed: bool,
        budget_reason: String,
        backoff: Duration,
    },
    Success {
        records: usize,
    },
    Failure {
        records: usize,
        reason: String,
        error: Option<String>,
    },
    Other(&'static str),
}

/// Records every callback.
#[derive(Clone, Default, Debug)]
pub struct Recording(pub Arc<Mutex<Vec<Ev>>>);

impl Recording {
    pub fn events(&self) -> Vec<Ev> {
        self.0.lock().unwrap().clone()
    }
    fn push(&self, e: Ev) {
        self.0.lock().unwrap().push(e);
    }
    pub fn budget_events(&self) -> Vec<Ev> {
        self.events()
            .into_iter()
            .filter(|e| matches!(e, Ev::Budget { .. }))
            .collect()
    }
}

impl Observer for Recording {
    fn on_start(&self, key: &Key, policy: &Policy) {
        self.push(Ev::Start {
            key: key.to_string(),
            max_attempts: policy.retry.max_attempts,
        });
    }
    fn on_attempt(&self, _key: &Key, r: &AttemptRecord) {
        self.push(Ev::Attempt {
            attempt: r.attempt,
            hedge: r.hedge_index,
            outcome: r.outcome,
            reason: r.reason.to_string(),
            budget_allowed: r.budget_allowed,
            budget_reason: r.budget_reason.to_string(),
            backoff: r.backoff,
        });
    }
    fn on_budget_decision(&self, e: &BudgetEvent<'_>) {
        self.push(Ev::Budget {
            attempt: e.attempt,
            kind: e.kind,
            budget: e.budget.to_owned(),
            mode: e.mode.as_str().to_owned(),
            allowed: e.allowed,
            reason: e.reason.to_string(),
        });
    }
    fn on_hedge_spawn(&self, _key: &Key, _r: &AttemptRecord) {
        self.push(Ev::Other("hedge_spawn"));
    }
    fn on_hedge_cancel(&self, _key: &Key, _r: &AttemptRecord, _reason: &Reason) {
        self.push(Ev::Other("hedge_cancel"));
    }
    fn on_circuit_change(
        &self,
        _key: &Key,
        _f: recourse_engine::CircuitState,
        _t: recourse_engine::CircuitState,
        _r: &Reason,
    ) {
        self.push(Ev::Other("circuit_change"));
    }
    fn on_success(&self, _key: &Key, t: &Timeline) {
        self.push(Ev::Success {
            records: t.attempts.len(),
        });
    }
    fn on_failure(&self, _key: &Key, t: &Timeline) {
        self.push(Ev::Failure {
            records: t.attempts.len(),
            reason: t.reason.to_string(),
            error: t.error.clone(),
        });
    }
}

/// An operation that fails with `E(i)` on invocation i for the first `fails` invocations and
/// then returns `value`.
pub fn fails_then<T: Clone + 'static>(
    calls: &Calls,
    fails: u32,
    value: T,
) -> impl FnMut(recourse_engine::AttemptInfo) -> std::future::Ready<Result<T, E>> + use<T> {
    let calls = calls.clone();
    move |_| {
        let n = calls.hit();
        std::future::ready(if n < fails {
            Err(E(n))
        } else {
            Ok(value.clone())
        })
    }
}

/// An operation that counts its invocations and never answers.
pub fn hangs(
    calls: &Calls,
) -> impl FnMut(recourse_engine::AttemptInfo) -> std::future::Pending<Result<(), E>> + use<> {
    let calls = calls.clone();
    move |_| {
        calls.hit();
        std::future::pending()
    }
}

/// An operation that always fails with `E(i)`.
pub fn always_fails(
    calls: &Calls,
) -> impl FnMut(recourse_engine::AttemptInfo) -> std::future::Ready<Result<(), E>> + use<> {
    fails_then(calls, u32::MAX, ())
}

/// A provider whose policy can be changed at run time.
#[derive(Debug)]
pub struct Reloadable(Mutex<Policy>, AtomicU64);

impl Reloadable {
    pub fn new(policy: Policy) -> Arc<Reloadable> {
        Arc::new(Reloadable(Mutex::new(policy), AtomicU64::new(0)))
    }

    /// Serves `policy` from now on (a new generation).
    pub fn set(&self, policy: Policy) {
        *self.0.lock().unwrap() = policy;
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

impl Provider for Reloadable {
    fn policy(&self, _: &Key) -> Result<Policy, ProviderFailure> {
        Ok(self.0.lock().unwrap().clone())
    }
    fn generation(&self) -> u64 {
        self.1.load(Ordering::SeqCst)
    }
}

/// A policy file in a temporary directory, served by a `FileProvider` that a test rewrites
/// and reloads.
pub struct PolicyFile {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    pub provider: std::sync::Arc<recourse_engine::provider::FileProvider>,
}

impl PolicyFile {
    /// The file holding `text`, loaded.
    pub fn new(text: &str) -> PolicyFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policies.yaml");
        std::fs::write(&path, text).unwrap();
        let provider = recourse_engine::provider::FileProvider::load([&path]).unwrap();
        PolicyFile {
            _dir: dir,
            path,
            provider: std::sync::Arc::new(provider),
        }
    }

    /// Rewrites the file with `text` and reloads it.
    pub fn rewrite(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
        self.provider.reload().unwrap();
    }
}
