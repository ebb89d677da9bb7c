//! `recourse policy simulate`: the real executor, on virtual time, against scripted attempt
//! outcomes (docs/simulate.md). Calls run one after another so budgets and breakers carry state from
//! call to call; a seed makes jitter, and so the whole output, reproducible.

mod scenario;
mod text;
#[cfg(test)]
mod worst_case_props;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::future::Future;
use std::task::Poll;

use recourse_engine::PolicySet;
use recourse_engine::classify::{HttpStatusError, RetryAfter};
use recourse_engine::clock::{Clock, VirtualClock};
use recourse_engine::fleet::MemoryFleet;
use recourse_engine::policy::{BudgetScope, BudgetSpec};
use recourse_engine::tooling::format_duration;
use recourse_engine::{CircuitState, Detail, Executor, Key, Observer, Reason, Timeline};
use serde_json::{Value, json};

pub(crate) use scenario::{Outcome, Scenario, Step};
pub(crate) use text::{final_state, waterfall};

use crate::input::{self, LoadFailure};

/// How a simulation ended (its calls went to the caller one by one, as they finished).
#[derive(Debug)]
pub(crate) struct Simulation {
    pub(crate) final_state: Value,
    /// Failed expectations, as sentences.
    pub(crate) failed: Vec<String>,
}

/// Longest a simulated call may take (an attempt that never answers, with no timeout).
pub(crate) const CALL_LIMIT: Duration = Duration::from_secs(24 * 3600);

fn op_result(step: &Step) -> Option<Result<(), Box<dyn std::error::Error + Send + Sync>>> {
    match &step.outcome {
        Outcome::Ok => Some(Ok(())),
        Outcome::Status {
            status,
            retry_after,
            method,
        } => {
            if (200..300).contains(status) {
                return Some(Ok(()));
            }
            let e = HttpStatusError::new(*status, method.clone().unwrap_or_else(|| "GET".into()))
                .with_retry_after(retry_after.map(RetryAfter::Delay));
            Some(Err(Box::new(e)))
        }
        Outcome::Error(text) => Some(Err(text.clone().into())),
        Outcome::Timeout => None,
    }
}

#[derive(Debug)]
pub(crate) struct Failure(Box<dyn std::error::Error + Send + Sync>);
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// The breaker changes of a simulation, as lines (`circuit closed -> open (failure_rate)`),
/// taken after each call.
#[derive(Debug, Default, Clone)]
struct Changes(Arc<Mutex<Vec<String>>>);

impl Observer for Changes {
    // Breaker changes are told at every detail: the calls need record no timeline for it.
    fn detail(&self) -> Detail {
        Detail::Counts
    }
    fn on_circuit_change(&self, _: &Key, from: CircuitState, to: CircuitState, reason: &Reason) {
        let line = format!("circuit {} -> {} ({reason})", from.as_str(), to.as_str());
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
}

impl Changes {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The operation of one scripted call: each attempt takes the next step (the last one again
/// once the script runs out), sleeping its latency on `clock`.
fn scripted(
    steps: Vec<Step>,
    clock: Clock,
) -> impl FnMut(recourse_engine::AttemptInfo) -> BoxFuture<Result<(), Failure>> {
    let mut cursor = 0usize;
    move |_| {
        let step = steps[cursor.min(steps.len() - 1)].clone();
        cursor += 1;
        play(step, clock.clone())
    }
}

/// One attempt doing what `step` says: its latency on `clock`, then its outcome.
pub(crate) fn play(step: Step, clock: Clock) -> BoxFuture<Result<(), Failure>> {
    Box::pin(async move {
        clock.sleep(step.latency).await;
        match op_result(&step) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(Failure(e)),
            None => std::future::pending().await,
        }
    })
}

pub(crate) type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

/// Polls `a` and `b` together: `Some` with `a`'s output if it finishes first, `None` if `b`
/// does.
pub(crate) async fn race<A>(a: impl Future<Output = A>, b: impl Future<Output = ()>) -> Option<A> {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        b.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Runs every future to its end, together; their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// What the replicas of a fleet scenario did together.
#[derive(Debug, Default)]
struct FleetTally {
    calls: u64,
    retries: u64,
    budget_denied: u64,
}

impl FleetTally {
    fn add(&mut self, tl: &Timeline) {
        self.calls += 1;
        for a in tl.attempts.iter() {
            if !a.budget_allowed {
                self.budget_denied += 1; // a denied attempt is recorded, and never runs
            } else if !a.is_hedge && a.attempt > 0 {
                self.retries += 1;
            }
        }
    }
}

/// Runs `scenario` against `set`, handing each call's timeline, and the breaker changes it
/// caused, to `each` as it finishes: only one call is held at a time, however many the
/// scenario repeats. With `replicas`, that many executors make every call at the same
/// virtual time, sharing any `scope: fleet` budget through an in-memory store; the first
/// replica's calls are the ones handed to `each` and checked against the expectations.
pub(crate) fn run(
    scenario: &Scenario,
    set: PolicySet,
    mut each: impl FnMut(usize, &Timeline, &[String]),
) -> Simulation {
    let vc = VirtualClock::new();
    let clock = vc.clock();
    let changes = Changes::default();
    // The store of the fleet's budgets, on the same virtual time; its sync tasks run beside
    // the calls.
    let store = MemoryFleet::on_clock(clock.clone());
    let execs: Vec<Executor> = (0..scenario.replicas)
        .map(|r| {
            let mut b = Executor::builder()
                .policy_set(set.clone())
                .clock(clock.clone())
                .seed(scenario.seed.wrapping_add(u64::from(r)))
                .fleet(store.clone());
            if r == 0 {
                b = b.observer(changes.clone());
            }
            b.build().expect("a simulation executor builds")
        })
        .collect();
    let start = vc.now();
    let mut failed = Vec::new();
    let mut count = 0;
    let mut tally = FleetTally::default();
    for (index, script) in scenario.expanded().enumerate() {
        if let Some(at) = script.at {
            vc.block_on(race(clock.sleep_until(start.plus(at)), store.drive()));
        }
        let calls: Vec<_> = execs
            .iter()
            .map(|exec| {
                // recourse-lint: allow(dynamic-key) -- the scenario file names the key to simulate
                let call = exec.call_traced(
                    &scenario.key,
                    scripted(script.attempts.clone(), clock.clone()),
                );
                race(async { call.await.1 }, clock.sleep(CALL_LIMIT))
            })
            .collect();
        let ended = vc
            .block_on(race(join_all(calls), store.drive()))
            .expect("the store's driver never ends");
        for (r, tl) in ended.into_iter().enumerate() {
            let tl = tl.unwrap_or_else(|| unfinished(&scenario.key));
            tally.add(&tl);
            if r == 0 {
                failed.extend(scenario.check(index, &tl));
                each(index, &tl, &changes.take());
            }
        }
        count = index + 1;
    }
    failed.extend(scenario.missing(count));
    let elapsed = vc.now().since(start);
    let exec = &execs[0];
    let mut budgets = serde_json::Map::new();
    for name in &scenario.budget_names {
        if let Some(level) = exec.budget_level(name) {
            budgets.insert(name.clone(), json!((level * 1000.0).round() / 1000.0));
        }
    }
    let mut final_state = json!({
        "virtual_time_us": u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "budgets": budgets,
        "circuit": exec.circuit_state(&scenario.key).as_str(),
    });
    // A breaker judging rates: what its window holds at the end.
    if let Some(w) = exec.circuit_window(&scenario.key) {
        final_state["circuit_window"] =
            json!({"calls": w.calls, "failures": w.failures, "slow": w.slow});
    }
    // A shadow policy: what it would have done over the same calls (the first replica's).
    if let Some(shadow) = exec.shadow_stats(&scenario.key) {
        final_state["shadow"] = serde_json::to_value(shadow).unwrap_or_default();
    }
    if scenario.replicas > 1 {
        final_state["fleet"] = fleet_report(scenario, &set, &tally, elapsed);
    }
    Simulation {
        final_state,
        failed,
    }
}

/// The timeline of a call that did not end within the simulation's limit.
pub(crate) fn unfinished(key: &str) -> Timeline {
    let mut tl = Timeline::default();
    // recourse-lint: allow(dynamic-key) -- the scenario file names the key to simulate
    tl.key = Key::parse(key);
    tl.reason = recourse_engine::Reason::new("simulation_limit");
    tl.error = Some(format!(
        "did not finish within {} of virtual time: an attempt never answers and no timeout ends it",
        format_duration(CALL_LIMIT)
    ));
    tl.outcome = recourse_engine::observe::CallOutcome::Failure;
    tl
}

/// The fleet's retries against what the key's retry budget allows the fleet as a whole.
fn fleet_report(
    scenario: &Scenario,
    set: &PolicySet,
    tally: &FleetTally,
    elapsed: Duration,
) -> Value {
    let secs = elapsed.as_secs_f64();
    let per_second = |n: f64| {
        if secs > 0.0 {
            (n / secs * 1000.0).round() / 1000.0
        } else {
            0.0
        }
    };
    let mut report = json!({
        "replicas": scenario.replicas,
        "calls": tally.calls,
        "retries": tally.retries,
        "retries_per_second": per_second(tally.retries as f64),
        "budget_denied": tally.budget_denied,
    });
    // recourse-lint: allow(dynamic-key) -- the scenario file names the key to simulate
    let policy = recourse_engine::tooling::resolve(set, &Key::parse(&scenario.key)).policy;
    let name = policy.retry.budget.name;
    if let Some((_, spec, _)) = set.budgets().find(|(n, ..)| *n == name) {
        let fleet = spec.scope() == BudgetScope::Fleet;
        // What the budget lets the whole fleet retry over the run: once if shared, once per
        // replica if not.
        let copies = if fleet {
            1.0
        } else {
            f64::from(scenario.replicas)
        };
        let allowance = match spec {
            BudgetSpec::TokenBucket {
                capacity,
                refill_per_second,
                ..
            } => Some(copies * (*capacity as f64 + refill_per_second * secs)),
            BudgetSpec::Ratio {
                ratio,
                min_per_second,
                ..
            } => Some(ratio * tally.calls as f64 + copies * min_per_second * secs),
            _ => None,
        };
        report["budget"] = json!({
            "name": name,
            "scope": if fleet { "fleet" } else { "local" },
        });
        if let Some(a) = allowance {
            report["budget"]["allowance"] = json!((a * 1000.0).round() / 1000.0);
        }
    }
    report
}

/// Loads the scenario at `path` and its policies (its `policies:` path, relative to the
/// scenario, or an inline `policy:`; `--policies` overrides both).
pub(crate) fn load(
    path: &Path,
    policies: &[std::path::PathBuf],
    limit: u64,
) -> Result<(Scenario, PolicySet), LoadFailure> {
    let bytes = input::read(path, limit)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| LoadFailure::Other(format!("{}: not valid UTF-8", path.display())))?;
    // Every parse error starts with its line and column.
    let scenario = Scenario::parse(&text)
        .map_err(|e| LoadFailure::Other(format!("{}:{e}", path.display())))?;
    let mut set = PolicySet::new();
    if !policies.is_empty() {
        set = input::policies(policies, limit)?;
    } else if let Some(rel) = &scenario.policies {
        let p = path.parent().unwrap_or(Path::new(".")).join(rel);
        set = input::policies(&[p], limit)?;
    } else if let Some(doc) = &scenario.inline {
        set = PolicySet::from_str(doc, &path.display().to_string())?;
    }
    let mut scenario = scenario;
    scenario.budget_names = set.budgets().map(|(n, ..)| n.to_owned()).collect();
    if !scenario.slow_steps.is_empty() {
        // recourse-lint: allow(dynamic-key) -- the scenario file names the key to simulate
        let circuit = recourse_engine::tooling::resolve(&set, &Key::parse(&scenario.key))
            .policy
            .circuit;
        let Some(slow) = circuit.slow_call_duration.filter(|_| circuit.enabled) else {
            let first = &scenario.slow_steps[0];
            return Err(LoadFailure::Other(format!(
                "{}:{}the policy of {} has no circuit.slow_call_duration: give the attempt a \
                 latency instead",
                path.display(),
                first.at,
                scenario.key
            )));
        };
        for step in std::mem::take(&mut scenario.slow_steps) {
            scenario.calls[step.call].attempts[step.attempt].latency = slow;
        }
    }
    Ok((scenario, set))
}
