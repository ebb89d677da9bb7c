//! `recourse policy simulate`: the real executor, on virtual time, against scripted attempt
//! outcomes (docs/simulate.md). Calls run one after another so budgets and breakers carry state from
//! call to call; a seed makes jitter, and so the whole output, reproducible.

mod scenario;
#[cfg(test)]
mod worst_case_props;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use recourse_engine::PolicySet;
use recourse_engine::classify::{HttpStatusError, RetryAfter};
use recourse_engine::clock::VirtualClock;
use recourse_engine::tooling::format_duration;
use recourse_engine::{AttemptRecord, CircuitState, Executor, Key, Observer, Reason, Timeline};
use serde_json::{Value, json};

pub(crate) use scenario::{Outcome, Scenario, Step};

use crate::input::{self, LoadFailure};

/// How a simulation ended (its calls went to the caller one by one, as they finished).
#[derive(Debug)]
pub(crate) struct Simulation {
    pub(crate) final_state: Value,
    /// Failed expectations, as sentences.
    pub(crate) failed: Vec<String>,
}

/// Longest a simulated call may take (an attempt that never answers, with no timeout).
const CALL_LIMIT: Duration = Duration::from_secs(24 * 3600);

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
struct Failure(Box<dyn std::error::Error + Send + Sync>);
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

/// Runs `scenario` against `set`, handing each call's timeline, and the breaker changes it
/// caused, to `each` as it finishes: only one call is held at a time, however many the
/// scenario repeats.
pub(crate) fn run(
    scenario: &Scenario,
    set: PolicySet,
    mut each: impl FnMut(usize, &Timeline, &[String]),
) -> Simulation {
    let vc = VirtualClock::new();
    let changes = Changes::default();
    let exec = Executor::builder()
        .policy_set(set)
        .clock(vc.clock())
        .seed(scenario.seed)
        .observer(changes.clone())
        .build()
        .expect("a simulation executor builds");
    let start = vc.now();
    let clock = exec.clock().clone();
    let mut failed = Vec::new();
    let mut count = 0;
    for (index, script) in scenario.expanded().enumerate() {
        if let Some(at) = script.at {
            vc.advance_to(start.plus(at));
        }
        let steps = script.attempts.clone();
        let cursor = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let clock = clock.clone();
        let op = move |_| {
            let i = cursor.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let step = steps[i.min(steps.len() - 1)].clone();
            let clock = clock.clone();
            async move {
                clock.sleep(step.latency).await;
                match op_result(&step) {
                    Some(Ok(())) => Ok(()),
                    Some(Err(e)) => Err(Failure(e)),
                    None => std::future::pending().await,
                }
            }
        };
        let limit = exec.clock().sleep(CALL_LIMIT);
        let traced = vc.block_on(async {
            // recourse-lint: allow(dynamic-key) -- the scenario file names the key to simulate
            let call = exec.call_traced(&scenario.key, op);
            let mut call = std::pin::pin!(call);
            let mut limit = std::pin::pin!(limit);
            std::future::poll_fn(|cx| {
                if let std::task::Poll::Ready((_, tl)) = call.as_mut().poll(cx) {
                    return std::task::Poll::Ready(Some(tl));
                }
                limit.as_mut().poll(cx).map(|()| None)
            })
            .await
        });
        let tl = traced.unwrap_or_else(|| {
            let mut tl = Timeline::default();
            // recourse-lint: allow(dynamic-key) -- the scenario file names the key to simulate
            tl.key = Key::parse(&scenario.key);
            tl.reason = recourse_engine::Reason::new("simulation_limit");
            tl.error = Some(format!(
                "did not finish within {} of virtual time: an attempt never answers and no timeout ends it",
                format_duration(CALL_LIMIT)
            ));
            tl.outcome = recourse_engine::observe::CallOutcome::Failure;
            tl
        });
        failed.extend(scenario.check(index, &tl));
        each(index, &tl, &changes.take());
        count = index + 1;
    }
    failed.extend(scenario.missing(count));
    let mut budgets = serde_json::Map::new();
    for name in &scenario.budget_names {
        if let Some(level) = exec.budget_level(name) {
            budgets.insert(name.clone(), json!((level * 1000.0).round() / 1000.0));
        }
    }
    let mut final_state = json!({
        "virtual_time_us": u64::try_from(vc.now().since(start).as_micros()).unwrap_or(u64::MAX),
        "budgets": budgets,
        "circuit": exec.circuit_state(&scenario.key).as_str(),
    });
    // A breaker judging rates: what its window holds at the end.
    if let Some(w) = exec.circuit_window(&scenario.key) {
        final_state["circuit_window"] =
            json!({"calls": w.calls, "failures": w.failures, "slow": w.slow});
    }
    Simulation {
        final_state,
        failed,
    }
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

/// One call as a small waterfall: each attempt on a line, waits between them.
pub(crate) fn waterfall(index: usize, tl: &Timeline) -> String {
    let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1e3);
    let mut out = format!(
        "call {index}: {} {} in {} ({} attempt{})\n",
        tl.outcome.as_str(),
        tl.reason,
        ms(tl.duration()),
        tl.attempts.len(),
        if tl.attempts.len() == 1 { "" } else { "s" }
    );
    for a in &tl.attempts {
        let from = a.start.since(tl.start);
        let to = a.end.since(tl.start);
        if !a.backoff.is_zero() {
            out.push_str(&format!("    ~ wait {}\n", ms(a.backoff)));
        }
        let who = if a.is_hedge {
            format!("#{}.h{}", a.attempt, a.hedge_index)
        } else {
            format!("#{}", a.attempt)
        };
        let status = a
            .attributes
            .get("status")
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "    {who:<6} {:>9} → {:>9}  {}{status} {}{}\n",
            ms(from),
            ms(to),
            a.outcome.as_str(),
            a.reason,
            if a.budget_allowed {
                String::new()
            } else {
                // Which budget (or the bulkhead) refused it, as the record names it.
                let by = a.attributes.get(AttemptRecord::DENIED_BY);
                format!(" (refused by {})", by.unwrap_or(a.budget_reason.as_str()))
            }
        ));
    }
    out
}
