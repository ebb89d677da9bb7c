//! A semantic diff of two policy sets with risk notes, as data (`recourse policy diff`). Keys are
//! compared after resolution and normalization: a value moved into `defaults` is no change; a
//! clamped value is compared as used; a `defaults` or budget change shows on every key it affects.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::envelope::Envelope;
use super::provenance::{leaves, resolve};
use crate::key::Key;
use crate::policy::duration::{format_duration, parse_duration};
use crate::policy::{CircuitPolicy, Policy, PolicySet};

/// How risky a change is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Nothing that changes load or latency much.
    Low,
    /// Longer waits, new retries, another classifier, a removed policy, a bulkhead added,
    /// lowered or raised tenfold, a breaker's rate rule loosened, added, or its slow-call rule
    /// removed.
    Medium,
    /// More load or less protection: a removed budget, 2x worst-case attempts, a disabled
    /// circuit, a removed failure-rate breaker, a removed bulkhead, hedging without a hedge
    /// budget.
    High,
}

/// Added, removed or modified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// In the new set only.
    Added,
    /// In the old set only.
    Removed,
    /// In both, different.
    Modified,
}

/// One changed field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    /// `retry.max_attempts`, or `budgets.<name>` for a budget the key uses.
    pub path: String,
    /// The old value (`null` when absent).
    pub old: Value,
    /// The new value (`null` when absent).
    pub new: Value,
}

/// An envelope as JSON shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WorstCase {
    /// Most operation invocations per call.
    pub attempts: u32,
    /// Longest duration in microseconds (`null`: unbounded).
    pub duration_us: Option<u64>,
}

impl From<Envelope> for WorstCase {
    fn from(e: Envelope) -> WorstCase {
        WorstCase {
            attempts: e.attempts,
            duration_us: e
                .duration
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        }
    }
}

/// Worst cases before and after. For an added key, "before" is what its calls got without the
/// entry (a `namespace.*` policy or the defaults); for a removed key, so is "after".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WorstCases {
    /// Before.
    pub old: WorstCase,
    /// After.
    pub new: WorstCase,
}

/// One key's change.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// The key (or `namespace.*`).
    pub key: String,
    /// What happened to it.
    pub kind: ChangeKind,
    /// How risky it is.
    pub risk: Risk,
    /// The fields that changed.
    pub fields: Vec<FieldChange>,
    /// Why the risk is what it is, and other notes.
    pub notes: Vec<String>,
    /// The worst case before and after.
    pub worst_case: WorstCases,
}

/// Every field of `p` by path. A shadow's fields show only where it departs from the live
/// policy: what the shadow is a candidate for.
fn flat(p: &Policy) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    leaves(
        &serde_json::to_value(p).unwrap_or(Value::Null),
        "",
        &mut |path, leaf| {
            out.insert(path, leaf.clone());
        },
    );
    let same_as_live: Vec<String> = out
        .iter()
        .filter(|(path, v)| {
            path.strip_prefix("shadow.")
                .is_some_and(|live| out.get(live) == Some(*v))
        })
        .map(|(path, _)| path.clone())
        .collect();
    for path in same_as_live {
        out.remove(&path);
    }
    if p.shadow.is_some() && !out.keys().any(|k| k.starts_with("shadow.")) {
        out.insert("shadow".to_owned(), Value::from("the live policy"));
    }
    out
}

fn budgets_of(p: &Policy) -> BTreeSet<String> {
    [&p.retry.budget.name, &p.hedge.budget.name]
        .into_iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.trim().to_owned())
        .collect()
}

fn spec(set: &PolicySet, name: &str) -> Value {
    set.budgets()
        .find(|(n, ..)| *n == name)
        .map_or(Value::Null, |(_, s, _)| {
            serde_json::to_value(s).unwrap_or(Value::Null)
        })
}

fn fmt_us(us: Option<u64>) -> String {
    us.map_or("unbounded".to_owned(), |us| {
        format_duration(std::time::Duration::from_micros(us))
    })
}

/// Raises each removed policy that code still calls to high risk (docs/diff.md) and says
/// where it is called from.
///
/// `sites` are the keys call sites name, each with its location (`src/pay.rs:12:9`), as
/// `recourse lint` finds them. A site uses a removed entry when its key resolved to that entry
/// in `old`: `payments.Charge` itself, or `payments.*` for a key with no policy of its own.
/// Returns how many removed policies are still called.
pub fn mark_still_called<'a>(
    changes: &mut [Change],
    old: &PolicySet,
    sites: impl IntoIterator<Item = (&'a str, String)>,
) -> usize {
    let mut callers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut entries: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for (key, location) in sites {
        let entry = entries
            .entry(key)
            .or_insert_with(|| old.entry_for(&Key::parse(key)).map(|(e, ..)| e.to_owned()));
        if let Some(entry) = entry {
            callers.entry(entry.clone()).or_default().push(location);
        }
    }
    let mut marked = 0;
    for change in changes.iter_mut().filter(|c| c.kind == ChangeKind::Removed) {
        let Some(sites) = callers.get(&change.key) else {
            continue;
        };
        marked += 1;
        change.risk = Risk::High;
        let more = match sites.len() {
            1 => String::new(),
            2 => " and 1 more place".to_owned(),
            n => format!(" and {} more places", n - 1),
        };
        change
            .notes
            .push(format!("code still calls it: {}{more}", sites[0]));
    }
    marked
}

/// The risks of a change to a breaker that stays on: a rate rule removed or loosened.
fn circuit_risks(old: &CircuitPolicy, new: &CircuitPolicy, raise: &mut impl FnMut(Risk, String)) {
    match (old.failure_rate, new.failure_rate) {
        (Some(a), None) => raise(
            Risk::High,
            format!(
                "failure-rate breaker removed (was {a}): at high traffic, successes in between \
                 keep a consecutive breaker from opening"
            ),
        ),
        (Some(a), Some(b)) if b > a => raise(
            Risk::Medium,
            format!("circuit.failure_rate {a} -> {b}: the breaker opens later"),
        ),
        (None, Some(b)) => raise(
            Risk::Medium,
            format!(
                "failure-rate breaker added (at {b}): calls may now be rejected with circuit_open"
            ),
        ),
        _ => {}
    }
    match (old.slow_call_duration, new.slow_call_duration) {
        (Some(a), None) => raise(
            Risk::Medium,
            format!(
                "slow-call rule removed (was {}): slow calls no longer open the breaker",
                format_duration(a)
            ),
        ),
        (Some(a), Some(b)) if b > a => raise(
            Risk::Low,
            format!(
                "circuit.slow_call_duration {} -> {}: fewer calls count as slow",
                format_duration(a),
                format_duration(b)
            ),
        ),
        (None, Some(b)) => raise(
            Risk::Medium,
            format!(
                "slow-call rule added (calls of {} or more): calls may now be rejected with \
                 circuit_open",
                format_duration(b)
            ),
        ),
        _ => {}
    }
}

/// The changes from `old` to `new`, by key.
pub fn diff(old: &PolicySet, new: &PolicySet) -> Vec<Change> {
    let keys: BTreeSet<String> = old
        .entries()
        .chain(new.entries())
        .map(|(k, ..)| k.to_owned())
        .collect();
    let has = |set: &PolicySet, k: &str| set.entries().any(|(e, ..)| e == k);
    let mut out = Vec::new();
    for key in keys {
        let k = Key::parse(&key);
        let (in_old, in_new) = (has(old, &key), has(new, &key));
        let (po, pn) = (resolve(old, &k).policy, resolve(new, &k).policy);
        let (eo, en) = (Envelope::of(&po), Envelope::of(&pn));
        let mut fields = Vec::new();
        let (fo, fnew) = (flat(&po), flat(&pn));
        for path in fo.keys().chain(fnew.keys()).collect::<BTreeSet<_>>() {
            let (mut a, mut b) = (
                fo.get(path).cloned().unwrap_or(Value::Null),
                fnew.get(path).cloned().unwrap_or(Value::Null),
            );
            // A false flag is not serialized: show it as false, not as unset.
            match (&a, &b) {
                (Value::Bool(_), Value::Null) => b = Value::Bool(false),
                (Value::Null, Value::Bool(_)) => a = Value::Bool(false),
                _ => {}
            }
            if a != b {
                fields.push(FieldChange {
                    path: path.clone(),
                    old: a,
                    new: b,
                });
            }
        }
        let (bo, bn) = (budgets_of(&po), budgets_of(&pn));
        for name in bo.iter().chain(bn.iter()).collect::<BTreeSet<_>>() {
            let (a, b) = (spec(old, name), spec(new, name));
            if a != b {
                fields.push(FieldChange {
                    path: format!("budgets.{name}"),
                    old: a,
                    new: b,
                });
            }
        }
        let kind = match (in_old, in_new) {
            (false, true) => ChangeKind::Added,
            (true, false) => ChangeKind::Removed,
            _ if fields.is_empty() => continue,
            _ => ChangeKind::Modified,
        };
        let mut risk = Risk::Low;
        let mut notes = Vec::new();
        let mut raise = |r: Risk, note: String| {
            risk = risk.max(r);
            notes.push(note);
        };
        if kind == ChangeKind::Removed {
            let fallback = resolve(new, &k)
                .entry
                .map_or("the defaults".to_owned(), |e| format!("`{e}`"));
            raise(
                Risk::Medium,
                format!("policy removed: calls with {key} fall back to {fallback}"),
            );
        }
        if fields
            .iter()
            .any(|f| f.path == "shadow" || f.path.starts_with("shadow."))
        {
            let (a, b) = (po.shadow.is_some(), pn.shadow.is_some());
            let what = match (a, b) {
                (false, true) => "shadow policy added",
                (true, false) => "shadow policy removed",
                _ => "shadow policy changed",
            };
            raise(
                Risk::Low,
                format!("{what}: judged beside the live policy, never acted on"),
            );
        }
        // An added or removed key is compared with what its calls get without the entry (a
        // `namespace.*` policy or the defaults), so the same rules apply to every kind.
        {
            if eo.attempts > 0 && f64::from(en.attempts) / f64::from(eo.attempts) >= 2.0 {
                raise(
                    Risk::High,
                    format!(
                        "worst-case attempts per call {} -> {} (x{:.1})",
                        eo.attempts,
                        en.attempts,
                        f64::from(en.attempts) / f64::from(eo.attempts)
                    ),
                );
            } else if en.attempts != eo.attempts {
                raise(
                    Risk::Low,
                    format!(
                        "worst-case attempts per call {} -> {}",
                        eo.attempts, en.attempts
                    ),
                );
            }
            for name in bo.difference(&bn) {
                raise(
                    Risk::High,
                    format!(
                        "budget {name:?} no longer applies: retries or hedges lose their backpressure"
                    ),
                );
            }
            for name in bo.intersection(&bn) {
                let (a, b) = (spec(old, name), spec(new, name));
                if a != Value::Null && b == Value::Null {
                    raise(Risk::High, format!("budget {name:?} is no longer declared"));
                }
                // A throttle caps nothing per second: while the dependency is healthy it lets
                // every retry through, and stops them only once failures drain its tokens.
                let kind = |v: &Value| v["kind"].as_str().map(str::to_owned);
                if kind(&a).is_some_and(|k| k != "throttle")
                    && kind(&b).as_deref() == Some("throttle")
                {
                    raise(
                        Risk::Medium,
                        format!(
                            "budget {name:?} becomes a throttle: retries are no longer capped \
                             per second, only stopped once failures drain its tokens"
                        ),
                    );
                }
                // Without its store, a fleet budget that denies stops every retry.
                let denies = |v: &Value| v["fallback"].as_str() == Some("deny");
                if a != Value::Null && b != Value::Null && !denies(&a) && denies(&b) {
                    raise(
                        Risk::Medium,
                        format!(
                            "budget {name:?} denies every retry while its fleet store is out of \
                             reach (fallback: deny)"
                        ),
                    );
                }
                // A fleet budget is one allowance for every replica; a local one is one each.
                let fleet = |v: &Value| v["scope"].as_str() == Some("fleet");
                if a != Value::Null && b != Value::Null && fleet(&a) != fleet(&b) {
                    if fleet(&a) {
                        raise(
                            Risk::High,
                            format!(
                                "budget {name:?} is no longer shared by the fleet: every replica \
                                 gets the whole allowance, so the fleet's grows with its size"
                            ),
                        );
                    } else {
                        raise(
                            Risk::Medium,
                            format!(
                                "budget {name:?} becomes shared by the fleet: every replica \
                                 together gets what each got alone"
                            ),
                        );
                    }
                }
            }
            if po.circuit.enabled && !pn.circuit.enabled {
                raise(Risk::High, "circuit breaking disabled".to_owned());
            } else if pn.circuit.enabled {
                circuit_risks(&po.circuit, &pn.circuit, &mut raise);
            }
            match (po.bulkhead.max_concurrent, pn.bulkhead.max_concurrent) {
                (Some(_), None) => raise(
                    Risk::High,
                    "bulkhead removed: the key's attempts in flight are no longer capped"
                        .to_owned(),
                ),
                (Some(a), Some(b)) if u64::from(b) >= 10 * u64::from(a.max(1)) => raise(
                    Risk::Medium,
                    format!(
                        "bulkhead.max_concurrent {a} -> {b} (x{:.0}): far more load can reach the dependency",
                        f64::from(b) / f64::from(a.max(1))
                    ),
                ),
                (Some(a), Some(b)) if b < a => raise(
                    Risk::Medium,
                    format!(
                        "bulkhead.max_concurrent {a} -> {b}: calls that fit before may now be refused with bulkhead_full"
                    ),
                ),
                (None, Some(b)) => raise(
                    Risk::Medium,
                    format!(
                        "bulkhead added (max_concurrent {b}): calls over it are refused with bulkhead_full"
                    ),
                ),
                _ => {}
            }
            if pn.hedge.enabled && !po.hedge.enabled && pn.hedge.budget.name.trim().is_empty() {
                raise(
                    Risk::High,
                    "hedging enabled without a hedge budget".to_owned(),
                );
            }
            let longer = |path: &str| {
                fields
                    .iter()
                    .any(|f| f.path == path && duration_grew(&f.old, &f.new))
            };
            for path in [
                "retry.timeout_per_attempt",
                "retry.overall_timeout",
                "retry.initial_backoff",
                "retry.max_backoff",
            ] {
                if longer(path) {
                    raise(Risk::Medium, format!("{path} is longer"));
                }
            }
            if po.retry.max_attempts == Some(1) && pn.retry.max_attempts.unwrap_or(1) > 1 {
                raise(Risk::Medium, "retries on a key that had none".to_owned());
            }
            if po.retry.classifier_name != pn.retry.classifier_name {
                raise(Risk::Medium, "classifier changed".to_owned());
            }
        }
        if eo.duration != en.duration {
            let wc = |e: Envelope| WorstCase::from(e).duration_us;
            raise(
                Risk::Low,
                format!(
                    "worst-case duration {} -> {}",
                    fmt_us(wc(eo)),
                    fmt_us(wc(en))
                ),
            );
        }
        out.push(Change {
            key,
            kind,
            risk,
            fields,
            notes,
            worst_case: WorstCases {
                old: eo.into(),
                new: en.into(),
            },
        });
    }
    out
}

/// `"20ms"` > `"10ms"`; an unset timeout (null) after a set one is longer too.
fn duration_grew(old: &Value, new: &Value) -> bool {
    let parse = |v: &Value| v.as_str().and_then(|s| parse_duration(s).ok());
    match (parse(old), parse(new)) {
        (Some(a), Some(b)) => b > a,
        (Some(_), None) => true,
        _ => false,
    }
}
