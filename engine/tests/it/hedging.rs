//! Hedging, on virtual time.
//! The trigger and tracker tables (s071-s073) are unit tests in `src/hedge/`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use recourse_engine::budget::{Budget, BudgetKind, Decision, Request};
use recourse_engine::classify::{Attempted, Canceled, Classifier, Input, Kind, Verdict};
use recourse_engine::clock::{Clock, VIRTUAL_EPOCH, VirtualClock};
use recourse_engine::hedge::Percentile;
use recourse_engine::policy::BudgetRef;
use recourse_engine::{AttemptInfo, Error, Executor, Policy, Reason, Timeline};

use crate::support::*;

/// An operation whose attempts behave by hedge index: (latency, result).
type Op<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, E>>>>;

fn scripted<T: Clone + Send + 'static, S>(
    clock: &Clock,
    calls: &Calls,
    script: S,
) -> impl FnMut(AttemptInfo) -> Op<T> + use<T, S>
where
    S: Fn(&AttemptInfo) -> (Duration, Result<T, E>) + Clone + 'static,
{
    let (clock, calls) = (clock.clone(), calls.clone());
    move |info| {
        calls.hit();
        let (latency, result) = script(&info);
        let clock = clock.clone();
        Box::pin(async move {
            clock.sleep(latency).await;
            result
        })
    }
}

fn hedged(attempts: u32, hedges: u32, delay: Duration) -> Policy {
    zero().max_attempts(attempts).hedging(hedges, delay)
}

fn elapsed(vc: &VirtualClock) -> Duration {
    vc.now().since(VIRTUAL_EPOCH)
}

#[test]
fn s074_primary_wins_and_hedge_wins() {
    // (a) every attempt takes 50ms: the primary (started first) wins; the hedge is cancelled.
    let (exec, vc) = with_policy(hedged(1, 1, ms(10)));
    let calls = Calls::default();
    let op = scripted(exec.clock(), &calls, |_| (ms(50), Ok("ok")));
    let (res, tl) = run(&vc, exec.call_traced("svc.op", op));
    assert_eq!(res.unwrap(), "ok");
    assert_eq!(calls.get(), 2);
    assert!(
        tl.attempts
            .iter()
            .any(|a| a.hedge_index == 0 && a.outcome == Kind::Success)
    );
    assert!(
        tl.attempts
            .iter()
            .any(|a| a.is_hedge && a.reason == Reason::HEDGE_CANCELLED)
    );
    assert_eq!(elapsed(&vc), ms(50));
    // (b) a hanging primary and a fast hedge: the hedge wins, the primary is dropped.
    let (exec, vc) = with_policy(hedged(1, 1, ms(10)));
    let calls = Calls::default();
    let op = scripted(exec.clock(), &calls, |i| {
        if i.is_hedge {
            (ms(0), Ok("hedge"))
        } else {
            (ms(200), Ok("primary"))
        }
    });
    let (res, tl) = run(&vc, exec.call_traced("svc.op", op));
    assert_eq!(res.unwrap(), "hedge");
    assert!(
        tl.attempts
            .iter()
            .any(|a| a.is_hedge && a.outcome == Kind::Success)
    );
    assert!(
        tl.attempts
            .iter()
            .any(|a| !a.is_hedge && a.reason == Reason::HEDGE_CANCELLED)
    );
    assert_eq!(
        elapsed(&vc),
        ms(10),
        "returned as soon as the hedge answered"
    );
}

#[test]
fn s075_retries_times_hedges() {
    let (exec, vc, rec) = recorded(hedged(2, 1, ms(10)));
    let calls = Calls::default();
    let op = scripted(exec.clock(), &calls, |_| (ms(30), Err::<(), _>(E(1))));
    let (res, tl) = run(&vc, exec.call_traced("svc.op", op));
    assert!(res.is_err());
    assert_eq!(calls.get(), 4);
    let mut groups: Vec<(u32, u32)> = tl
        .attempts
        .iter()
        .map(|a| (a.attempt, a.hedge_index))
        .collect();
    groups.sort();
    assert_eq!(groups, [(0, 0), (0, 1), (1, 0), (1, 1)]);
    assert_eq!(
        rec.events()
            .iter()
            .filter(|e| **e == Ev::Other("hedge_spawn"))
            .count(),
        2
    );
    let group1_primary = tl
        .attempts
        .iter()
        .find(|a| a.attempt == 1 && a.hedge_index == 0)
        .unwrap();
    assert_eq!(group1_primary.backoff, ms(10));
    // Group 0 waits for its hedge (launched at 10ms, done at 40ms) before the backoff.
    assert_eq!(elapsed(&vc), ms(40 + 10 + 40));
}

#[test]
fn s076_dynamic_p50_hedging() {
    let (exec, vc) = vexec(
        Executor::builder()
            .policy(
                "svc.op",
                zero()
                    .max_attempts(1)
                    .hedging(1, ms(10))
                    .hedge_trigger("p50_trigger"),
            )
            .trigger("p50_trigger", Percentile::named("p50").unwrap()),
    );
    for _ in 0..20 {
        let op = scripted(exec.clock(), &Calls::default(), |_| (ms(5), Ok(1)));
        run(&vc, exec.call("svc.op", op)).unwrap();
    }
    let calls = Calls::default();
    let primaries = Arc::new(AtomicU32::new(0));
    let p = primaries.clone();
    let op = scripted(exec.clock(), &calls, move |i| {
        if i.is_hedge {
            (ms(0), Ok(100))
        } else {
            p.fetch_add(1, Ordering::SeqCst);
            (ms(50), Ok(1))
        }
    });
    let start = vc.now();
    let v = run(&vc, exec.call("svc.op", op)).unwrap();
    assert_eq!(v, 100);
    assert_eq!((primaries.load(Ordering::SeqCst), calls.get()), (1, 2));
    assert!(
        vc.now().since(start) < ms(6),
        "hedged just past the 5ms median"
    );
}

#[test]
fn s077_a_hedge_is_spawned_only_after_the_delay() {
    let (exec, vc, rec) = recorded(hedged(1, 1, ms(10)));
    let calls = Calls::default();
    let op = scripted(exec.clock(), &calls, |_| (ms(2), Err::<(), _>(E(7))));
    let err = run(&vc, exec.call("svc.op", op)).unwrap_err();
    assert_eq!(calls.get(), 1);
    assert!(!rec.events().contains(&Ev::Other("hedge_spawn")));
    assert!(matches!(err, Error::Operation { error: E(7), .. }));
}

/// Success for values, abort for cancellations, non-retryable for anything else.
#[derive(Debug)]
struct Strict;
impl Classifier for Strict {
    fn classify(&self, input: &Input<'_>) -> Verdict {
        match input.result {
            Attempted::Value(_) => Verdict::success(),
            Attempted::Error(e) if e.is::<Canceled>() => {
                Verdict::new(Kind::Abort, Reason::CONTEXT_CANCELED)
            }
            _ => Verdict::new(Kind::NonRetryable, Reason::NON_RETRYABLE_ERROR),
        }
    }
}

fn first_terminal(cancel_on_first_terminal: bool) -> (Result<u32, Error<E>>, Timeline, Duration) {
    let mut p = hedged(1, 1, ms(10)).classifier("strict");
    p.hedge.cancel_on_first_terminal = cancel_on_first_terminal;
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", p)
            .classifier("strict", Strict),
    );
    let op = scripted(exec.clock(), &Calls::default(), |i| {
        if i.is_hedge {
            (ms(100), Ok(2))
        } else {
            (ms(30), Err(E(1)))
        }
    });
    let (res, tl) = run(&vc, exec.call_traced("svc.op", op));
    (res, tl, elapsed(&vc))
}

#[test]
fn s078_cancel_on_first_terminal_off() {
    let (res, _, took) = first_terminal(false);
    assert_eq!(res.unwrap(), 2, "the hedge's value");
    assert_eq!(took, ms(110));
}

#[test]
fn s079_cancel_on_first_terminal_on() {
    let (res, tl, took) = first_terminal(true);
    assert!(matches!(
        res.unwrap_err(),
        Error::Operation { error: E(1), .. }
    ));
    assert_eq!(took, ms(30));
    assert!(
        tl.attempts
            .iter()
            .any(|a| a.is_hedge && a.reason == Reason::HEDGE_CANCELLED)
    );
}

/// Denies hedges only.
#[derive(Debug)]
struct NoHedges;
impl Budget for NoHedges {
    fn allow(&self, req: &Request<'_>) -> Decision {
        if req.kind == BudgetKind::Hedge {
            Decision::deny()
        } else {
            Decision::allow()
        }
    }
}

fn denied_hedge(cancel_on_first_terminal: bool) -> (Result<&'static str, Error<E>>, Vec<Ev>) {
    let rec = Recording::default();
    let mut p = hedged(1, 1, ms(10));
    p.hedge.budget = BudgetRef::named("no-hedges");
    p.hedge.cancel_on_first_terminal = cancel_on_first_terminal;
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", p)
            .budget("no-hedges", NoHedges)
            .observer(rec.clone()),
    );
    let op = scripted(exec.clock(), &Calls::default(), |_| (ms(40), Ok("ok")));
    let res = run(&vc, exec.call("svc.op", op));
    (res, rec.events())
}

#[test]
fn s080_hedge_budget_denied() {
    let (res, ev) = denied_hedge(false);
    assert_eq!(res.unwrap(), "ok");
    assert_eq!(
        ev,
        [
            Ev::Start {
                key: "svc.op".into(),
                max_attempts: Some(1)
            },
            Ev::Budget {
                attempt: 0,
                kind: BudgetKind::Hedge,
                budget: "no-hedges".into(),
                mode: "standard".into(),
                allowed: false,
                reason: "budget_denied".into()
            },
            Ev::Attempt {
                attempt: 0,
                hedge: 1,
                outcome: Kind::Abort,
                reason: "budget_denied".into(),
                budget_allowed: false,
                budget_reason: "budget_denied".into(),
                backoff: ms(0)
            },
            Ev::Attempt {
                attempt: 0,
                hedge: 0,
                outcome: Kind::Success,
                reason: "success".into(),
                budget_allowed: true,
                budget_reason: "no_budget".into(),
                backoff: ms(0)
            },
            Ev::Success { records: 2 },
        ]
    );
}

#[test]
fn s081_a_denied_hedge_never_ends_the_group() {
    // The reference fails the call at 10ms; a denied hedge is not a failure of the call.
    let (res, _) = denied_hedge(true);
    assert_eq!(res.unwrap(), "ok");
}

#[test]
fn s082_trigger_fallbacks() {
    // (a) an unregistered trigger falls back to the fixed delay and says so.
    let (exec, vc, rec) = recorded(hedged(1, 1, ms(10)).hedge_trigger("nope"));
    let op = scripted(exec.clock(), &Calls::default(), |i| {
        if i.is_hedge {
            (ms(0), Ok("hedge"))
        } else {
            (ms(100), Ok("primary"))
        }
    });
    let (res, tl) = run(&vc, exec.call_traced("svc.op", op));
    assert_eq!(res.unwrap(), "hedge");
    assert_eq!(
        rec.events()
            .iter()
            .filter(|e| **e == Ev::Other("hedge_spawn"))
            .count(),
        1
    );
    assert_eq!(tl.attribute("hedge_trigger"), Some("fallback"));
    // (a') in deny mode the call runs without hedges.
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", hedged(1, 1, ms(10)).hedge_trigger("nope"))
            .missing_trigger(recourse_engine::MissingMode::Deny),
    );
    let calls = Calls::default();
    let op = scripted(exec.clock(), &calls, |i| {
        if i.is_hedge {
            (ms(0), Ok("hedge"))
        } else {
            (ms(100), Ok("primary"))
        }
    });
    let (res, tl) = run(&vc, exec.call_traced("svc.op", op));
    assert_eq!((res.unwrap(), calls.get()), ("primary", 1));
    assert_eq!(
        tl.attribute("hedge_trigger_error"),
        Some("trigger_not_found")
    );
    // (b) a fresh key with a p99 trigger has no samples: no hedge.
    let (exec, vc) = with_policy(hedged(1, 1, ms(10)).hedge_trigger("p99"));
    let calls = Calls::default();
    let op = scripted(exec.clock(), &calls, |i| {
        if i.is_hedge {
            (ms(0), Ok("hedge"))
        } else {
            (ms(100), Ok("primary"))
        }
    });
    assert_eq!(run(&vc, exec.call("svc.op", op)).unwrap(), "primary");
    assert_eq!(calls.get(), 1);
}

#[test]
fn s083_hedged_event_order() {
    // Losers are recorded (`hedge_cancelled`) and reported with on_hedge_cancel.
    let rec = Recording::default();
    let mut p = hedged(1, 2, ms(20)).hedge_budget("unlimited");
    p.retry.budget = BudgetRef {
        gate_first_attempt: true,
        ..BudgetRef::named("unlimited")
    };
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", p)
            .observer(rec.clone()),
    );
    let op = scripted(exec.clock(), &Calls::default(), |i| {
        if i.hedge_index == 2 {
            (ms(0), Ok("h2"))
        } else {
            (Duration::from_secs(60), Ok("slow"))
        }
    });
    assert_eq!(run(&vc, exec.call("svc.op", op)).unwrap(), "h2");
    let budget = |kind, hedge_reason: &str| Ev::Budget {
        attempt: 0,
        kind,
        budget: "unlimited".into(),
        mode: "standard".into(),
        allowed: true,
        reason: hedge_reason.into(),
    };
    let ev = rec.events();
    assert_eq!(
        ev[0],
        Ev::Start {
            key: "svc.op".into(),
            max_attempts: Some(1)
        }
    );
    assert_eq!(ev[1], budget(BudgetKind::Retry, "allowed"));
    assert_eq!(ev[2], budget(BudgetKind::Hedge, "allowed"));
    assert_eq!(ev[3], Ev::Other("hedge_spawn"));
    assert_eq!(ev[4], budget(BudgetKind::Hedge, "allowed"));
    assert_eq!(ev[5], Ev::Other("hedge_spawn"));
    assert!(matches!(
        &ev[6],
        Ev::Attempt {
            hedge: 2,
            outcome: Kind::Success,
            ..
        }
    ));
    let cancels = ev
        .iter()
        .filter(|e| **e == Ev::Other("hedge_cancel"))
        .count();
    assert_eq!(cancels, 2);
    assert_eq!(ev.last(), Some(&Ev::Success { records: 3 }));
    assert_eq!(elapsed(&vc), ms(40));
}

/// A retry budget whose release counts.
#[derive(Debug, Default)]
struct SlowRelease(Arc<AtomicU32>);
impl Budget for SlowRelease {
    fn allow(&self, _: &Request<'_>) -> Decision {
        let n = self.0.clone();
        Decision {
            release: Some(recourse_engine::budget::Release::new(move || {
                n.fetch_add(1, Ordering::SeqCst);
            })),
            ..Decision::allow()
        }
    }
}

#[test]
fn s084_the_retry_group_always_completes() {
    // No counter race; the call returns at once with the operation's error.
    let released = Arc::new(AtomicU32::new(0));
    let mut p = zero()
        .max_attempts(1)
        .overall_timeout(Duration::from_secs(2));
    p.retry.budget = BudgetRef {
        gate_first_attempt: true,
        ..BudgetRef::named("slow")
    };
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", p)
            .budget("slow", SlowRelease(released.clone()))
            .observer(Recording::default()),
    );
    let err = run(&vc, exec.call("svc.op", always_fails(&Calls::default()))).unwrap_err();
    assert!(matches!(err, Error::Operation { error: E(0), .. }));
    assert_eq!(
        (elapsed(&vc), released.load(Ordering::SeqCst)),
        (Duration::ZERO, 1)
    );
    // 48,000 observed single-attempt failing calls, half of them hedged, all return promptly.
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("plain.op", zero().max_attempts(1))
            .policy("hedged.op", hedged(1, 1, ms(10)))
            .observer(Recording::default()),
    );
    let clock = exec.clock().clone();
    let start = vc.now();
    let failures = Arc::new(Mutex::new(0u32));
    for i in 0..48_000u32 {
        let key = if i % 2 == 0 { "plain.op" } else { "hedged.op" };
        let clock = clock.clone();
        let res = run(
            &vc,
            exec.call(key, move |_| {
                let clock = clock.clone();
                async move {
                    clock.sleep(Duration::from_micros(u64::from(i % 7))).await;
                    Err::<(), _>(E(i))
                }
            }),
        );
        if res.is_err() {
            *failures.lock().unwrap() += 1;
        }
    }
    assert_eq!(*failures.lock().unwrap(), 48_000);
    assert!(
        vc.now().since(start) < Duration::from_secs(1),
        "no call waited for anything but its attempts"
    );
}

/// The hedging changes an observer hears: (from, to, reason).
#[derive(Clone, Debug, Default)]
struct HedgingChanges(Arc<Mutex<Vec<(String, String, String)>>>);

impl recourse_engine::Observer for HedgingChanges {
    fn on_hedging_change(
        &self,
        _: &recourse_engine::Key,
        from: recourse_engine::hedge::HedgingState,
        to: recourse_engine::hedge::HedgingState,
        reason: &Reason,
    ) {
        let change = (from.as_str().into(), to.as_str().into(), reason.to_string());
        self.0.lock().unwrap().push(change);
    }
}

#[test]
fn auto_disable_pauses_hedges_that_stop_winning_then_probes_and_resumes() {
    let mut rules = recourse_engine::policy::AutoDisablePolicy::default();
    rules.min_win_rate = Some(0.2);
    rules.min_hedges = Some(10);
    rules.cooldown = Some(Duration::from_secs(5));
    rules.probe_fraction = Some(0.5);
    let heard = HedgingChanges::default();
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", hedged(1, 1, ms(10)).hedge_auto_disable(rules))
            .observer(heard.clone()),
    );
    let hedges_win = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Attempts per call: 2 when the call hedged.
    let call = |n: usize| -> Vec<u32> {
        (0..n)
            .map(|_| {
                let calls = Calls::default();
                let win = hedges_win.clone();
                let op = scripted(exec.clock(), &calls, move |info| {
                    let fast = info.is_hedge == win.load(Ordering::Relaxed);
                    (if fast { ms(20) } else { ms(100) }, Ok(()))
                });
                run(&vc, exec.call("svc.op", op)).unwrap();
                calls.get()
            })
            .collect()
    };
    // The primary answers first every time: ten hedges, none winning.
    assert_eq!(call(10), vec![2; 10]);
    assert_eq!(heard.0.lock().unwrap().len(), 1, "paused after the tenth");
    assert_eq!(call(5), vec![1; 5], "no hedges while paused");
    // The cooldown passes, and now hedges would win: half the calls hedge, and win.
    vc.advance(Duration::from_secs(5));
    hedges_win.store(true, Ordering::Relaxed);
    let mut probing = [2, 1].repeat(9);
    probing.push(2); // the tenth probe hedge
    assert_eq!(call(19), probing);
    assert_eq!(call(3), vec![2; 3], "hedging resumed for every call");
    let heard: Vec<(String, String, String)> = heard.0.lock().unwrap().clone();
    let expected = [
        ("active", "paused", "hedges_not_winning"),
        ("paused", "probing", "cooldown_elapsed"),
        ("probing", "active", "probe_succeeded"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
        .collect();
    assert_eq!(heard, expected);
}

#[test]
fn auto_disable_written_empty_takes_its_documented_defaults() {
    let set = recourse_engine::PolicySet::from_str(
        r#"{"version": 1, "policies": {"svc.op": {"hedge": {"enabled": true, "auto_disable": {}}}}}"#,
        "p.json",
    )
    .unwrap();
    use recourse_engine::provider::Provider;
    let policy = set.policy(&recourse_engine::Key::parse("svc.op")).unwrap();
    let rules = policy.normalize().hedge.auto_disable.expect("asked for");
    assert_eq!(
        (
            rules.min_win_rate,
            rules.min_hedges,
            rules.cooldown,
            rules.probe_fraction
        ),
        (0.05, 20, Duration::from_secs(30), 0.1)
    );
}
