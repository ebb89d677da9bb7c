//! The scenario file (docs/simulate.md).

use std::time::Duration;

use recourse_engine::PolicySet;
use recourse_engine::Timeline;
use recourse_engine::tooling::{SourceTree, parse_duration, parse_source, pointer_segment};
use serde::Deserialize;

/// The most calls one scenario runs, repeats included: enough for any what-if, and a bound on
/// its time (each call runs the real engine) whatever `repeat` says.
pub(crate) const MAX_CALLS: u64 = 100_000;

/// The most replicas a fleet scenario runs.
pub(crate) const MAX_REPLICAS: u32 = 1_000;

/// The most calls of all replicas together: every replica makes every scripted call.
pub(crate) const MAX_FLEET_CALLS: u64 = 1_000_000;

/// What one attempt does.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    /// Succeeds.
    Ok,
    /// An HTTP response.
    Status {
        status: u16,
        retry_after: Option<Duration>,
        method: Option<String>,
    },
    /// A generic error with this text.
    Error(String),
    /// Never answers.
    Timeout,
}

/// One scripted attempt.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Step {
    pub(crate) latency: Duration,
    pub(crate) outcome: Outcome,
}

/// A step written `slow: true`: its latency is the key's slow-call duration, known once the
/// policies are loaded. `at` is where the step is written, for an error.
#[derive(Clone, Debug)]
pub(crate) struct SlowStep {
    pub(crate) call: usize,
    pub(crate) attempt: usize,
    pub(crate) at: String,
}

/// One scripted call.
#[derive(Clone, Debug)]
pub(crate) struct CallScript {
    pub(crate) at: Option<Duration>,
    pub(crate) repeat: u32,
    pub(crate) attempts: Vec<Step>,
}

/// An expectation on one call.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    call: usize,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    attempts: Option<usize>,
    #[serde(default)]
    reason: Option<String>,
}

/// A parsed scenario.
#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    pub(crate) key: String,
    pub(crate) seed: u64,
    /// How many replicas make every call, sharing any `scope: fleet` budget (1: no fleet).
    pub(crate) replicas: u32,
    pub(crate) policies: Option<String>,
    /// An inline policy for `key`, as a policy document.
    pub(crate) inline: Option<String>,
    pub(crate) calls: Vec<CallScript>,
    pub(crate) expect: Vec<Expect>,
    /// The budgets the policies declare (filled when loaded).
    pub(crate) budget_names: Vec<String>,
    /// Steps whose latency is the key's slow-call duration (filled in when loaded).
    pub(crate) slow_steps: Vec<SlowStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    latency: Option<String>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    retry_after: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    timeout: Option<bool>,
    #[serde(default)]
    slow: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCall {
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    repeat: Option<u32>,
    attempts: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    version: u32,
    #[serde(default)]
    policies: Option<String>,
    #[serde(default)]
    policy: Option<serde_json::Value>,
    key: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    replicas: Option<u32>,
    calls: Vec<RawCall>,
    #[serde(default)]
    expect: Vec<Expect>,
}

/// `message` at the line and column of the node at `pointer`, naming the field as written.
fn at(tree: &SourceTree, pointer: &str, message: impl std::fmt::Display) -> String {
    let p = tree.position(pointer);
    let field: String = pointer
        .split('/')
        .skip(1)
        .map(|s| match s.parse::<usize>() {
            Ok(i) => format!("[{i}]"),
            Err(_) => format!(".{s}"),
        })
        .collect();
    let field = field.trim_start_matches('.');
    format!("{}:{}: {field}: {message}", p.line, p.column)
}

/// The JSON pointer of a serde path.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .map(|s| match s {
            Segment::Seq { index } => format!("/{index}"),
            Segment::Map { key } => format!("/{}", pointer_segment(key)),
            Segment::Enum { variant } => format!("/{}", pointer_segment(variant)),
            Segment::Unknown => String::new(),
        })
        .collect()
}

fn duration(tree: &SourceTree, ptr: &str, text: Option<&str>) -> Result<Option<Duration>, String> {
    text.map(|t| parse_duration(t).map_err(|e| at(tree, ptr, e)))
        .transpose()
}

impl Scenario {
    /// Parses a scenario (YAML or JSON).
    pub(crate) fn parse(text: &str) -> Result<Scenario, String> {
        let tree = parse_source(text)
            .map_err(|p| format!("{}:{}: {}", p.position.line, p.position.column, p.message))?;
        let raw: Raw = serde_path_to_error::deserialize(&tree.value).map_err(|e| {
            let ptr = pointer(e.path());
            let p = tree.key_position(&ptr);
            format!("{}:{}: {} (at {})", p.line, p.column, e.inner(), e.path())
        })?;
        if raw.version != 1 {
            let message = format!("unsupported scenario version {} (1 is)", raw.version);
            return Err(at(&tree, "/version", message));
        }
        let inline = raw.policy.map(|p| {
            serde_json::json!({"version": 1, "policies": {raw.key.clone(): p}}).to_string()
        });
        // An inline policy's problems are reported where they are in the scenario, not in
        // the document built around it.
        if let Some(doc) = &inline
            && let Err(e) = PolicySet::from_str(doc, "")
        {
            let within = format!("/policies/{}", pointer_segment(&raw.key));
            let rest = e.problem.pointer.strip_prefix(&within).unwrap_or("");
            return Err(at(&tree, &format!("/policy{rest}"), &e.problem.message));
        }
        let mut calls = Vec::new();
        let mut slow_steps = Vec::new();
        let mut total: u64 = 0;
        for (i, c) in raw.calls.into_iter().enumerate() {
            if c.attempts.is_empty() {
                return Err(at(&tree, &format!("/calls/{i}"), "no attempts"));
            }
            total += u64::from(c.repeat.unwrap_or(1).max(1));
            if total > MAX_CALLS {
                let message = format!(
                    "{total} calls in all: a scenario runs at most {MAX_CALLS} (split it, or \
                     lower repeat)"
                );
                let field = if c.repeat.is_some() {
                    format!("/calls/{i}/repeat")
                } else {
                    format!("/calls/{i}")
                };
                return Err(at(&tree, &field, message));
            }
            let mut attempts = Vec::new();
            for (j, s) in c.attempts.into_iter().enumerate() {
                let field = format!("/calls/{i}/attempts/{j}");
                let outcome = match (s.ok, s.status, s.error, s.timeout) {
                    (Some(true), None, None, None) => Outcome::Ok,
                    (None, Some(status), None, None) => Outcome::Status {
                        status,
                        retry_after: duration(
                            &tree,
                            &format!("{field}/retry_after"),
                            s.retry_after.as_deref(),
                        )?,
                        method: s.method,
                    },
                    (None, None, Some(e), None) => Outcome::Error(e),
                    (None, None, None, Some(true)) => Outcome::Timeout,
                    _ => {
                        return Err(at(
                            &tree,
                            &field,
                            "give exactly one of ok: true, status, error, timeout: true",
                        ));
                    }
                };
                if s.slow == Some(true) {
                    if s.latency.is_some() {
                        return Err(at(
                            &tree,
                            &format!("{field}/slow"),
                            "give latency or slow: true, not both",
                        ));
                    }
                    slow_steps.push(SlowStep {
                        call: i,
                        attempt: j,
                        at: at(&tree, &format!("{field}/slow"), ""),
                    });
                }
                attempts.push(Step {
                    latency: duration(&tree, &format!("{field}/latency"), s.latency.as_deref())?
                        .unwrap_or_default(),
                    outcome,
                });
            }
            calls.push(CallScript {
                at: duration(&tree, &format!("/calls/{i}/at"), c.at.as_deref())?,
                repeat: c.repeat.unwrap_or(1).max(1),
                attempts,
            });
        }
        let replicas = raw.replicas.unwrap_or(1);
        if !(1..=MAX_REPLICAS).contains(&replicas) {
            let message = format!("give 1 to {MAX_REPLICAS} replicas, not {replicas}");
            return Err(at(&tree, "/replicas", message));
        }
        if u64::from(replicas) * total > MAX_FLEET_CALLS {
            let message = format!(
                "{replicas} replicas × {total} calls: a fleet scenario runs at most \
                 {MAX_FLEET_CALLS} calls in all (fewer replicas, or fewer calls)"
            );
            return Err(at(&tree, "/replicas", message));
        }
        Ok(Scenario {
            key: raw.key,
            seed: raw.seed,
            replicas,
            policies: raw.policies,
            inline,
            calls,
            expect: raw.expect,
            budget_names: Vec::new(),
            slow_steps,
        })
    }

    /// Every call, repeats expanded.
    pub(crate) fn expanded(&self) -> impl Iterator<Item = &CallScript> {
        self.calls
            .iter()
            .flat_map(|c| std::iter::repeat_n(c, c.repeat as usize))
    }

    /// The expectations on call `index` that its timeline does not meet, as sentences.
    pub(crate) fn check(&self, index: usize, tl: &Timeline) -> Vec<String> {
        let mut failed = Vec::new();
        for e in self.expect.iter().filter(|e| e.call == index) {
            if let Some(o) = &e.outcome
                && o != tl.outcome.as_str()
            {
                failed.push(format!(
                    "call {}: expected outcome {o}, got {}",
                    e.call,
                    tl.outcome.as_str()
                ));
            }
            if let Some(n) = e.attempts
                && n != tl.attempts.len()
            {
                failed.push(format!(
                    "call {}: expected {n} attempts, got {}",
                    e.call,
                    tl.attempts.len()
                ));
            }
            if let Some(r) = &e.reason
                && r != tl.reason.as_str()
            {
                failed.push(format!(
                    "call {}: expected reason {r}, got {}",
                    e.call, tl.reason
                ));
            }
        }
        failed
    }

    /// The expectations on calls past the `count` the scenario made.
    pub(crate) fn missing(&self, count: usize) -> Vec<String> {
        self.expect
            .iter()
            .filter(|e| e.call >= count)
            .map(|e| format!("call {}: there are only {count} calls", e.call))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Scenario;

    /// Each mistake is reported at its own line and column in the scenario file.
    #[test]
    fn every_problem_is_located_in_the_scenario() {
        let cases = [
            (
                "calls:\n  - outcomes: []\n",
                "4:5: unknown field `outcomes`",
            ),
            (
                "calls:\n  - attempts: [ { latency: 5ms, ok: true, error: x } ]\n",
                "4:17: calls[0].attempts[0]: give exactly one of",
            ),
            (
                "calls:\n  - attempts:\n      - { latency: 5, ok: true }\n",
                "5:11: invalid type: integer `5`",
            ),
            (
                "calls:\n  - attempts:\n      - { latency: 5x, ok: true }\n",
                "5:20: calls[0].attempts[0].latency: ",
            ),
            ("calls:\n  - attempts: []\n", "4:5: calls[0]: no attempts"),
            (
                "policy:\n  retry: { max_attempts: \"x\" }\ncalls: []\n",
                "4:26: policy.retry.max_attempts: invalid type",
            ),
            (
                "policy:\n  retry: { initial_backoff: 5 }\ncalls: []\n",
                "4:29: policy.retry.initial_backoff: duration \"5\" has no unit",
            ),
        ];
        for (body, expected) in cases {
            let text = format!("version: 1\nkey: a.B\n{body}");
            let e = Scenario::parse(&text).map(|_| ()).unwrap_err();
            assert!(e.starts_with(expected), "{e}\nfor\n{text}");
        }
        let e = Scenario::parse("version: 2\nkey: a.B\ncalls: []\n")
            .map(|_| ())
            .unwrap_err();
        assert!(e.starts_with("1:10: version: unsupported"), "{e}");
    }
}
