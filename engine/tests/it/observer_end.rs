//! Observers that read no timeline: every call still ends in exactly one `on_end`, whose
//! counts and times are the ones its timeline would have had; an observer told counts only
//! hears nothing else of a call, and no times.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use recourse_engine::budget::TokenBucket;
use recourse_engine::clock::{Clock, VirtualClock};
use recourse_engine::observe::{CallOutcome, Fanout};
use recourse_engine::{
    AttemptInfo, CallEnd, CallOptions, CancellationToken, Detail, Executor, Key, Observer, Policy,
    Reason, Timeline,
};

use crate::support::*;

/// Keeps every `on_end`, and counts the timeline hooks it should never get.
#[derive(Debug, Default)]
struct Ends {
    ends: Mutex<Vec<CallEnd>>,
    timelines: Mutex<u32>,
}

impl Observer for Ends {
    fn detail(&self) -> Detail {
        Detail::Events
    }
    fn on_end(&self, _: &Key, end: &CallEnd) {
        self.ends.lock().unwrap().push(end.clone());
    }
    fn on_success(&self, _: &Key, _: &Timeline) {
        *self.timelines.lock().unwrap() += 1;
    }
    fn on_failure(&self, _: &Key, _: &Timeline) {
        *self.timelines.lock().unwrap() += 1;
    }
}

/// Told counts only: keeps every `on_end`, and counts every other hook of a call it hears.
#[derive(Debug, Default)]
struct Counted {
    ends: Mutex<Vec<CallEnd>>,
    others: Mutex<Vec<&'static str>>,
}

impl Counted {
    fn heard(&self, hook: &'static str) {
        self.others.lock().unwrap().push(hook);
    }
}

impl Observer for Counted {
    fn detail(&self) -> Detail {
        Detail::Counts
    }
    fn on_start(&self, _: &Key, _: &Policy) {
        self.heard("on_start");
    }
    fn on_attempt(&self, _: &Key, _: &recourse_engine::AttemptRecord) {
        self.heard("on_attempt");
    }
    fn on_budget_decision(&self, _: &recourse_engine::budget::BudgetEvent<'_>) {
        self.heard("on_budget_decision");
    }
    fn on_hedge_spawn(&self, _: &Key, _: &recourse_engine::AttemptRecord) {
        self.heard("on_hedge_spawn");
    }
    fn on_hedge_cancel(&self, _: &Key, _: &recourse_engine::AttemptRecord, _: &Reason) {
        self.heard("on_hedge_cancel");
    }
    fn on_success(&self, _: &Key, _: &Timeline) {
        self.heard("on_success");
    }
    fn on_failure(&self, _: &Key, _: &Timeline) {
        self.heard("on_failure");
    }
    fn on_end(&self, _: &Key, end: &CallEnd) {
        self.ends.lock().unwrap().push(end.clone());
    }
}

/// Reads timelines and counts its ends.
#[derive(Debug, Default)]
struct Reader {
    timelines: Mutex<Vec<Timeline>>,
    ends: Mutex<u32>,
}

impl Observer for Reader {
    fn on_success(&self, _: &Key, t: &Timeline) {
        self.timelines.lock().unwrap().push(t.clone());
    }
    fn on_failure(&self, _: &Key, t: &Timeline) {
        self.timelines.lock().unwrap().push(t.clone());
    }
    fn on_end(&self, _: &Key, _: &CallEnd) {
        *self.ends.lock().unwrap() += 1;
    }
}

/// An operation that sleeps `latency` and then fails `fails` times before it succeeds.
fn slow_then_ok(
    clock: &Clock,
    calls: &Calls,
    fails: u32,
    latency: Duration,
) -> impl FnMut(AttemptInfo) -> std::pin::Pin<Box<dyn Future<Output = Result<u32, E>>>> + use<> {
    let (clock, calls) = (clock.clone(), calls.clone());
    move |_| {
        let n = calls.hit();
        let clock = clock.clone();
        Box::pin(async move {
            clock.sleep(latency).await;
            if n < fails { Err(E(n)) } else { Ok(n) }
        })
    }
}

/// The policy of the scenarios: three attempts with a backoff, and a retry budget of one.
fn policy() -> Policy {
    zero()
        .max_attempts(3)
        .backoff(ms(100), ms(100), 1.0)
        .budget("one")
}

/// The same call twice, on two executors built alike: once seen by `Ends`, once traced.
fn both(fails: u32) -> (CallEnd, Timeline) {
    let ends = Arc::new(Ends::default());
    let build = |observer: Option<Arc<dyn Observer>>| {
        let mut b = Executor::builder()
            .policy("svc.op", policy())
            .budget("one", TokenBucket::new(1, 0.0));
        if let Some(o) = observer {
            b = b.observer_arc(o);
        }
        vexec(b)
    };
    let (exec, vc) = build(Some(ends.clone()));
    let calls = Calls::default();
    let _ = run(
        &vc,
        exec.call("svc.op", slow_then_ok(exec.clock(), &calls, fails, ms(30))),
    );
    let (exec, vc) = build(None);
    let calls = Calls::default();
    let (_, timeline) = run(
        &vc,
        exec.call_traced("svc.op", slow_then_ok(exec.clock(), &calls, fails, ms(30))),
    );
    assert_eq!(*ends.timelines.lock().unwrap(), 0, "no timeline hook");
    let mut got = ends.ends.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one end per call");
    (got.remove(0), timeline)
}

#[test]
fn on_end_counts_what_the_timeline_would_have_held() {
    // 0: a first-try success; 1: one retry, admitted; 2: the second retry is refused by the
    // budget, so the call fails.
    for fails in 0..3 {
        let (end, timeline) = both(fails);
        assert_eq!(end.summary, timeline.summary(), "{fails} failures");
        assert_eq!(end.outcome, timeline.outcome, "{fails} failures");
        assert_eq!(end.reason, timeline.reason, "{fails} failures");
        assert_eq!(
            end.duration(),
            Some(timeline.duration()),
            "{fails} failures"
        );
        let times = end.times.map(|t| (t.start, t.end));
        assert_eq!(times, Some((timeline.start, timeline.end)));
    }
    let (end, _) = both(2);
    assert_eq!(end.outcome, CallOutcome::Failure);
    assert_eq!((end.summary.retries, end.summary.budget_denied), (1, 1));
    // Two attempts of 30 ms, each followed by a backoff of 100 ms: the third attempt is
    // refused when it is due.
    assert_eq!(end.duration(), Some(ms(260)));
}

#[test]
fn a_cancelled_or_dropped_call_still_ends_once() {
    let ends = Arc::new(Ends::default());
    let (exec, vc) = vexec(
        Executor::builder()
            .policy(
                "svc.op",
                zero().max_attempts(3).backoff(ms(100), ms(100), 1.0),
            )
            .observer_arc(ends.clone()),
    );
    let calls = Calls::default();
    // Cancelled by its token during the backoff.
    let token = CancellationToken::new();
    let opts = CallOptions::cancel_on(token.clone());
    let res = run(&vc, async {
        let call = exec.call_with(
            "svc.op",
            &opts,
            slow_then_ok(exec.clock(), &calls, 9, ms(10)),
        );
        let cancel = async {
            exec.clock().sleep(ms(50)).await;
            token.cancel();
            std::future::pending::<()>().await
        };
        tokio::select! {
            r = call => r,
            () = cancel => unreachable!(),
        }
    });
    assert!(res.0.is_err());
    // Dropped by its caller while its first attempt runs.
    run(&vc, async {
        let call = exec.call("svc.op", slow_then_ok(exec.clock(), &calls, 0, ms(500)));
        tokio::select! {
            _ = call => unreachable!("the attempt takes 500 ms"),
            () = exec.clock().sleep(ms(20)) => {}
        }
    });
    let ends = ends.ends.lock().unwrap().clone();
    let reasons: Vec<_> = ends.iter().map(|e| e.reason.as_str().to_owned()).collect();
    assert_eq!(reasons, ["context_canceled", "context_canceled"]);
    assert!(ends.iter().all(|e| e.outcome == CallOutcome::Failure));
    assert_eq!(ends[0].summary.attempts, 1);
    assert_eq!(ends[1].duration(), Some(ms(20)));
}

#[test]
fn a_fanout_hands_timelines_only_to_the_members_that_read_them() {
    let (ends, reader) = (Arc::new(Ends::default()), Arc::new(Reader::default()));
    let fan = Fanout::new(vec![ends.clone(), reader.clone()]);
    assert_eq!(fan.detail(), Detail::Timeline);
    assert_eq!(Fanout::new(vec![ends.clone()]).detail(), Detail::Events);
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", zero().max_attempts(2))
            .observer_arc(Arc::new(fan)),
    );
    let calls = Calls::default();
    let value = run(&vc, exec.call("svc.op", fails_then(&calls, 1, 5)));
    assert_eq!(value.unwrap(), 5);
    assert_eq!(*ends.timelines.lock().unwrap(), 0);
    assert_eq!(ends.ends.lock().unwrap().len(), 1);
    let timelines = reader.timelines.lock().unwrap();
    assert_eq!(timelines.len(), 1);
    assert_eq!(timelines[0].attempts.len(), 2);
    assert_eq!(*reader.ends.lock().unwrap(), 1);
    assert_eq!(ends.ends.lock().unwrap()[0].summary, timelines[0].summary());
}

#[test]
fn two_observers_on_a_builder_are_fanned_out_by_what_they_read() {
    // Each added on its own: the executor fans them out, and still builds the timeline for
    // the one that reads it.
    let (ends, reader) = (Arc::new(Ends::default()), Arc::new(Reader::default()));
    let vc = VirtualClock::new();
    let exec = Executor::builder()
        .clock(vc.clock())
        .policy("svc.op", zero())
        .observer_arc(ends.clone())
        .observer_arc(reader.clone())
        .build()
        .unwrap();
    let calls = Calls::default();
    run(&vc, exec.call("svc.op", fails_then(&calls, 0, 1))).unwrap();
    assert_eq!(reader.timelines.lock().unwrap().len(), 1);
    assert_eq!(ends.ends.lock().unwrap().len(), 1);
    assert_eq!(*ends.timelines.lock().unwrap(), 0);
}

/// Calls seen by an observer told counts only, with the timeline of the same call traced on
/// an executor built alike, for every shape the first attempt can take.
#[test]
fn an_observer_told_counts_hears_each_call_end_once_without_times() {
    let counted = Arc::new(Counted::default());
    let builder = || {
        let retried = zero().max_attempts(3).backoff(ms(100), ms(100), 1.0);
        Executor::builder()
            .policy("svc.op", retried)
            .policy("svc.budgeted", policy())
            .budget("one", TokenBucket::new(1, 0.0))
            // A hedge launched 10 ms into a 30 ms attempt, and cancelled when it wins.
            .policy("svc.hedged", zero().max_attempts(1).hedging(1, ms(10)))
    };
    let (exec, vc) = vexec(builder().observer_arc(counted.clone()));
    let (traced, tvc) = vexec(builder());
    // A first-try success and a call retried once, on a policy that runs its first attempt
    // bare, the first through a key handle; then a first-try success and a call refused its
    // second retry by its budget, on one that runs in the loop; then a hedged call.
    let cases: [(&str, u32, bool); 5] = [
        ("svc.op", 0, true),
        ("svc.op", 1, false),
        ("svc.budgeted", 0, false),
        ("svc.budgeted", 2, false),
        ("svc.hedged", 0, false),
    ];
    for (key, fails, by_handle) in cases {
        let calls = Calls::default();
        let op = slow_then_ok(exec.clock(), &calls, fails, ms(30));
        let result = match by_handle {
            true => run(&vc, exec.key(key).call(op)),
            false => run(&vc, exec.call(key, op)),
        };
        let calls = Calls::default();
        let (traced_result, timeline) = run(
            &tvc,
            traced.call_traced(key, slow_then_ok(traced.clock(), &calls, fails, ms(30))),
        );
        assert_eq!(result.is_ok(), traced_result.is_ok(), "{key} {fails}");
        let end = counted.ends.lock().unwrap().pop().expect("the call ended");
        assert_eq!(end.times, None, "{key} {fails}: no times");
        assert_eq!(end.duration(), None);
        assert_eq!(end.summary, timeline.summary(), "{key} {fails}");
        assert_eq!(
            (&end.outcome, &end.reason),
            (&timeline.outcome, &timeline.reason)
        );
        let hedges = u32::from(key == "svc.hedged");
        assert_eq!(end.summary.hedges, hedges, "{key} {fails}");
    }
    // Dropped by its caller while its first attempt runs.
    run(&vc, async {
        let calls = Calls::default();
        let call = exec.call("svc.op", slow_then_ok(exec.clock(), &calls, 0, ms(500)));
        tokio::select! {
            _ = call => unreachable!("the attempt takes 500 ms"),
            () = exec.clock().sleep(ms(20)) => {}
        }
    });
    let end = counted
        .ends
        .lock()
        .unwrap()
        .pop()
        .expect("the dropped call ended");
    assert_eq!(end.reason.as_str(), "context_canceled");
    assert_eq!((end.outcome, end.times), (CallOutcome::Failure, None));
    assert!(counted.ends.lock().unwrap().is_empty(), "one end per call");
    assert_eq!(*counted.others.lock().unwrap(), Vec::<&str>::new());
}

#[test]
fn a_fanout_tells_each_member_no_more_than_its_detail() {
    let (counted, ends) = (Arc::new(Counted::default()), Arc::new(Ends::default()));
    let fan = Fanout::new(vec![counted.clone(), ends.clone()]);
    assert_eq!(fan.detail(), Detail::Events);
    assert_eq!(Fanout::new(vec![counted.clone()]).detail(), Detail::Counts);
    assert_eq!(Fanout::new(vec![]).detail(), Detail::Counts);
    let (exec, vc) = vexec(
        Executor::builder()
            .policy("svc.op", policy())
            .budget("one", TokenBucket::new(1, 0.0))
            .observer_arc(Arc::new(fan)),
    );
    let calls = Calls::default();
    let value = run(
        &vc,
        exec.call("svc.op", slow_then_ok(exec.clock(), &calls, 1, ms(30))),
    );
    assert_eq!(value.unwrap(), 1);
    // The other member's detail made the call read the times; the counting member gets none.
    let timed = ends.ends.lock().unwrap().clone();
    assert_eq!(timed.len(), 1);
    assert_eq!(timed[0].duration(), Some(ms(160)));
    let counts = counted.ends.lock().unwrap().clone();
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].times, None);
    assert_eq!(counts[0].summary, timed[0].summary);
    assert_eq!(counts[0].summary.retries, 1);
    assert_eq!(*counted.others.lock().unwrap(), Vec::<&str>::new());
}
