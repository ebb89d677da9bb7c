//! Property tests of the call loop: with any scripted outcomes, a call never
//! invokes the operation more than `max_attempts` times and never runs past its overall
//! deadline on the virtual clock; and a call nobody records ends exactly as a traced one
//! (one code path).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use recourse_engine::classify::{HttpStatusError, RetryAfter};
use recourse_engine::clock::{Clock, VirtualClock};
use recourse_engine::observe::AttemptRecord;
use recourse_engine::policy::Jitter;
use recourse_engine::provider::StaticProvider;
use recourse_engine::{
    AttemptInfo, CallEnd, CallOptions, CallSummary, Detail, Executor, Key, Observer, Policy,
    Timeline,
};

use crate::support::*;

#[derive(Debug, Clone)]
enum Step {
    Ok,
    Fail,
    Status(u16, Option<u64>),
    Hang,
}

fn arb_step(can_hang: bool) -> impl Strategy<Value = (u64, Step)> {
    let step = prop_oneof![
        Just(Step::Ok),
        Just(Step::Fail),
        (
            prop_oneof![Just(429u16), Just(503), Just(500), Just(404), Just(0)],
            proptest::option::of(0u64..120)
        )
            .prop_map(|(s, ra)| Step::Status(s, ra)),
        Just(if can_hang { Step::Hang } else { Step::Fail }),
    ];
    (0u64..500, step)
}

fn arb_case() -> impl Strategy<Value = (Policy, Vec<(u64, Step)>)> {
    (
        0u32..15,
        (0u64..2000, 0u64..5000, 0.0f64..12.0, 0..3u8),
        proptest::option::of(0u64..300),
        proptest::option::of(0u64..3000),
        0..3u8,
        proptest::option::of(0u64..60),
    )
        .prop_flat_map(|(attempts, (ib, mb, mult, j), per, overall, cls, mra)| {
            let mut p = Policy::new()
                .max_attempts(attempts)
                .backoff(ms(ib), ms(mb), mult)
                .jitter([Jitter::None, Jitter::Full, Jitter::Equal][j as usize])
                .classifier(["always", "http", "auto"][cls as usize]);
            if let Some(t) = per {
                p = p.timeout_per_attempt(ms(t));
            }
            if let Some(t) = overall {
                p = p.overall_timeout(ms(t));
            }
            p.retry.max_retry_after = mra.map(Duration::from_secs);
            let can_hang = per.is_some_and(|t| t > 0) || overall.is_some_and(|t| t > 0);
            (
                Just(p),
                proptest::collection::vec(arb_step(can_hang), 1..12),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_more_attempts_than_allowed_nor_past_the_deadline((policy, script) in arb_case(), seed in any::<u64>()) {
        let normalized = policy.clone().normalize();
        let max = normalized.retry.max_attempts;
        let overall = normalized.retry.overall_timeout.filter(|d| !d.is_zero());
        let vc = VirtualClock::new();
        let exec = Executor::builder().policy("p.q", policy).clock(vc.clock()).seed(seed).build().unwrap();
        let invoked = Arc::default();
        let op = scripted(Arc::new(script), &invoked, exec.clock().clone());
        let start = vc.now();
        let (_, tl) = vc.block_on(exec.call_traced("p.q", op));
        let invoked = invoked.lock().unwrap().len();
        prop_assert!(invoked as u32 <= max, "{invoked} invocations, max {max}");
        prop_assert_eq!(tl.attempts.len(), invoked);
        let elapsed = vc.now().since(start);
        if let Some(limit) = overall {
            prop_assert!(elapsed <= limit, "ran {elapsed:?} past the {limit:?} deadline");
        }
    }
}

/// The operation `script` describes, noting in `invoked` the attempt number of each
/// invocation.
fn scripted(
    script: Arc<Vec<(u64, Step)>>,
    invoked: &Arc<Mutex<Vec<u32>>>,
    clock: Clock,
) -> impl FnMut(AttemptInfo) -> std::pin::Pin<Box<dyn Future<Output = Result<(), HttpStatusError>>>>
+ use<> {
    let invoked = invoked.clone();
    move |info| {
        let i = {
            let mut seen = invoked.lock().unwrap();
            seen.push(info.attempt);
            seen.len() - 1
        };
        let (latency, step) = script[i.min(script.len() - 1)].clone();
        let clock = clock.clone();
        Box::pin(async move {
            clock.sleep(ms(latency)).await;
            match step {
                Step::Ok => Ok(()),
                Step::Fail => Err(HttpStatusError::transport("GET", "reset")),
                Step::Status(code, ra) => Err(HttpStatusError::new(code, "GET")
                    .with_retry_after(ra.map(|s| RetryAfter::Delay(Duration::from_secs(s))))),
                Step::Hang => std::future::pending().await,
            }
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Untraced, through a key handle, by key string or by a `key!` key (the shortest way: the
    /// bare path where the policy allows one), seen by an observer that reads no timeline, and
    /// traced by key string: the same result, the same attempts invoked, the same virtual
    /// time; and the observer's end counts what the timeline holds. The policy is given in
    /// code or by a provider (whose calls hold the key's cached policy themselves), and a
    /// first call by the same `key!` has compiled it, so that later calls by key take their
    /// shortest way too.
    #[test]
    fn an_unrecorded_call_ends_as_a_traced_one(
        (policy, script) in arb_case(),
        seed in any::<u64>(),
        provided in any::<bool>(),
    ) {
        let script = Arc::new(script);
        let run = |way: Way| {
            let vc = VirtualClock::new();
            let ends = Arc::new(Ends::default());
            let mut builder = Executor::builder().clock(vc.clock()).seed(seed);
            builder = if provided {
                builder.provider(StaticProvider::new().with("p.q", policy.clone()))
            } else {
                builder.policy("p.q", policy.clone())
            };
            if let Way::Observed = way {
                builder = builder.observer_arc(ends.clone());
            }
            let exec = builder.build().unwrap();
            let warm_up = vc.block_on(exec.call(&P_Q, |_| async { Ok::<_, HttpStatusError>(()) }));
            assert!(warm_up.is_ok(), "{warm_up:?}");
            ends.0.lock().unwrap().clear();
            let invoked = Arc::default();
            let op = scripted(script.clone(), &invoked, exec.clock().clone());
            let start = vc.now();
            let (result, summary) = match way {
                Way::Handle => (vc.block_on(exec.key("p.q").call(op)), None),
                Way::Key => (vc.block_on(exec.call("p.q", op)), None),
                Way::StaticKey => (vc.block_on(exec.call(&P_Q, op)), None),
                Way::Observed => {
                    let result = vc.block_on(exec.call("p.q", op));
                    let ends = ends.0.lock().unwrap();
                    assert_eq!(ends.len(), 1, "one end per call");
                    (result, Some(ends[0]))
                }
                Way::Traced => {
                    let (result, timeline) = vc.block_on(exec.call_traced("p.q", op));
                    (result, Some(timeline.summary()))
                }
            };
            let invoked = invoked.lock().unwrap().clone();
            ((result.map_err(|e| format!("{e:?}")), invoked, vc.now().since(start)), summary)
        };
        let (traced, summary) = run(Way::Traced);
        prop_assert_eq!(run(Way::Handle).0, traced.clone());
        prop_assert_eq!(run(Way::Key).0, traced.clone());
        prop_assert_eq!(run(Way::StaticKey).0, traced.clone());
        prop_assert_eq!(run(Way::Observed), (traced, summary));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A recorded call (traced, or seen by an observer at any detail: one told counts only,
    /// events, or timelines) whose policy lets its first attempt run bare tells the observer, and writes in its
    /// timeline, exactly what the call loop does for the same call made there from the start
    /// (`call_with`): every event in order and every field of every attempt, on the virtual
    /// clock, with the same result and the same attempts invoked. Through a key handle and by
    /// key string (after a first call has compiled the key's policy, as a service's calls find
    /// it), the policy given in code or by a provider, whether the first attempt succeeds, the
    /// loop takes over after it, or the caller drops the call on the way.
    #[test]
    fn a_recorded_call_tells_a_bare_first_attempt_as_the_loop_does(
        (policy, script) in arb_case(),
        seed in any::<u64>(),
        by_handle in any::<bool>(),
        provided in any::<bool>(),
        traced in any::<bool>(),
        observer in 0..4u8,
        dropped_after in proptest::option::of(0u64..1500),
    ) {
        let script = Arc::new(script);
        // Without an observer, only a traced call is recorded.
        let traced = traced || observer == 0;
        let run = |in_loop: bool| {
            let vc = VirtualClock::new();
            let detail = [Detail::Counts, Detail::Events, Detail::Timeline][usize::from(observer) % 3];
            let heard = Arc::new(Heard::told(detail));
            let mut builder = Executor::builder().clock(vc.clock()).seed(seed);
            builder = if provided {
                builder.provider(StaticProvider::new().with("p.q", policy.clone()))
            } else {
                builder.policy("p.q", policy.clone())
            };
            if observer > 0 {
                builder = builder.observer_arc(heard.clone());
            }
            let exec = builder.build().unwrap();
            let warm_up = vc.block_on(exec.call("p.q", |_| async { Ok::<_, HttpStatusError>(()) }));
            assert!(warm_up.is_ok(), "{warm_up:?}");
            heard.0.lock().unwrap().clear();
            let handle = exec.key("p.q");
            let invoked = Arc::default();
            // Each invocation is heard too, so that the events' order around it counts.
            let op = {
                let (heard, mut op) = (heard.clone(), scripted(script.clone(), &invoked, exec.clock().clone()));
                move |info: AttemptInfo| {
                    heard.push(Event::Invoked(info.attempt));
                    op(info)
                }
            };
            let options = if traced { CallOptions::default().traced() } else { CallOptions::default() };
            let start = vc.now();
            let call = async {
                match (in_loop, by_handle, traced) {
                    (true, true, _) => handle.call_with(&options, op).await,
                    (true, false, _) => exec.call_with("p.q", &options, op).await,
                    (false, true, true) => {
                        let (result, timeline) = handle.call_traced(op).await;
                        (result, Some(timeline))
                    }
                    (false, false, true) => {
                        let (result, timeline) = exec.call_traced("p.q", op).await;
                        (result, Some(timeline))
                    }
                    (false, true, false) => (handle.call(op).await, None),
                    (false, false, false) => (exec.call("p.q", op).await, None),
                }
            };
            let cut = async {
                match dropped_after {
                    Some(after) => exec.clock().sleep(ms(after)).await,
                    None => std::future::pending().await,
                }
            };
            let ended = vc.block_on(async {
                tokio::select! {
                    biased;
                    (result, timeline) = call => Some((result.map_err(|e| format!("{e:?}")), timeline)),
                    () = cut => None,
                }
            });
            let invoked = invoked.lock().unwrap().clone();
            let heard = std::mem::take(&mut *heard.0.lock().unwrap());
            (ended, invoked, vc.now().since(start), heard)
        };
        prop_assert_eq!(run(false), run(true));
    }
}

/// Everything an observer hears of a call, in order.
#[derive(Debug, Default)]
struct Heard(Mutex<Vec<Event>>, Detail);

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Invoked(u32),
    Start(String),
    Attempt(AttemptRecord),
    Success(Box<Timeline>),
    Failure(Box<Timeline>),
    End(CallEnd),
}

impl Heard {
    fn told(detail: Detail) -> Heard {
        Heard(Mutex::default(), detail)
    }

    fn push(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

impl Observer for Heard {
    fn detail(&self) -> Detail {
        self.1
    }
    fn on_start(&self, key: &Key, policy: &Policy) {
        self.push(Event::Start(format!("{key:?} {policy:?}")));
    }
    fn on_attempt(&self, _: &Key, record: &AttemptRecord) {
        self.push(Event::Attempt(record.clone()));
    }
    fn on_success(&self, _: &Key, timeline: &Timeline) {
        self.push(Event::Success(Box::new(timeline.clone())));
    }
    fn on_failure(&self, _: &Key, timeline: &Timeline) {
        self.push(Event::Failure(Box::new(timeline.clone())));
    }
    fn on_end(&self, _: &Key, end: &CallEnd) {
        self.push(Event::End(end.clone()));
    }
}

/// One `key!` key for every call that uses one: the executor finds its state by the text's
/// address, so the warm-up call and the call under test must share it.
static P_Q: Key = recourse_engine::key!("p.q");

/// Keeps the summary each call ends with, and is told nothing else.
#[derive(Debug, Default)]
struct Ends(Mutex<Vec<CallSummary>>);

impl Observer for Ends {
    fn detail(&self) -> Detail {
        Detail::Counts
    }
    fn on_end(&self, _: &Key, end: &CallEnd) {
        self.0.lock().unwrap().push(end.summary);
    }
}

/// How a property test makes its call.
#[derive(Clone, Copy)]
enum Way {
    Handle,
    Key,
    /// By a `key!` key, whose state the executor finds by the text's address.
    StaticKey,
    /// By key string, seen by an observer that reads no timeline.
    Observed,
    Traced,
}
