//! The call's recorder: records the attempts and reports to the observer, only when a
//! timeline was asked for or an observer is attached, and builds the timeline only for
//! someone who reads it. Whether it records never changes what the call does.

use std::fmt::Display;

use super::Watcher;
use super::keyed::Compiled;
use super::tap::Tap;
use crate::circuit::Transition;
use crate::classify::Attributes;
use crate::clock::{Clock, Timestamp};
use crate::error::{Error, Reason};
use crate::key::Key;
use crate::observe::summary::{AttemptFacts, Tally};
use crate::observe::{AttemptRecord, CallEnd, CallOutcome, CallTimes, Detail, Observer, Timeline};
use crate::policy::Policy;
use crate::shadow::{Live, ShadowPlan, ShadowState};

pub(crate) struct Recorder<'a> {
    key: &'a Key,
    clock: &'a Clock,
    observer: Option<&'a dyn Observer>,
    /// How much of the call the observer is told (`Counts` when there is none).
    detail: Detail,
    /// When the call started, if anything records it (its attempts are then recorded);
    /// `EPOCH` when nothing reads the times ([`Recorder::timed`]).
    opened: Option<Timestamp>,
    /// Built only for someone who reads it: in the caller's slot when the caller asked for
    /// it, else on the heap (which keeps the call's future small when nothing is recorded).
    timeline: Option<Slot<'a>>,
    /// The attempts counted, for `on_end`.
    tally: Tally,
    /// The caller asked for the timeline: it is built in the caller's slot.
    out: bool,
    /// A `recourse tail` client wants this call.
    tap: Option<Tap<'a>>,
    /// The end of the attempt recorded last, while nothing has been awaited since: a call
    /// that ends then ends at that reading (one clock read fewer; see [`Recorder::waited`]).
    last_end: Option<Timestamp>,
    /// The key's shadow policy, judged when the call ends.
    shadow: Option<Shadow<'a>>,
    done: bool,
}

/// A shadow policy to judge at the end of the call.
struct Shadow<'a> {
    plan: std::sync::Arc<ShadowPlan>,
    state: &'a ShadowState,
    live: Live,
}

impl<'a> Recorder<'a> {
    #[inline]
    pub(crate) fn new(
        key: &'a Key,
        clock: &'a Clock,
        observer: Option<&'a Watcher>,
        out: Option<&'a mut Timeline>,
        tap: Option<Tap<'a>>,
        opened: Option<Timestamp>,
    ) -> Recorder<'a> {
        let detail = observer.map_or(Detail::Counts, |o| o.detail);
        let wants_timeline = out.is_some() || tap.is_some() || detail == Detail::Timeline;
        // Opened now, or at the reading the caller took when its first attempt started; for an
        // observer told counts only, and nothing else, no clock is read.
        let timed = wants_timeline || detail >= Detail::Events;
        let opened = (wants_timeline || observer.is_some()).then(|| match opened {
            Some(opened) => opened,
            None if timed => clock.now(),
            None => Timestamp::EPOCH,
        });
        let caller = out.is_some();
        let timeline = match (opened, out) {
            (Some(start), Some(slot)) => {
                slot.key = key.clone();
                slot.start = start;
                Some(Slot::Caller(slot))
            }
            (Some(start), None) if wants_timeline => Some(Slot::Heap(new_timeline(key, start))),
            _ => None,
        };
        Recorder {
            key,
            clock,
            observer: observer.map(|o| &*o.observer),
            detail,
            opened,
            timeline,
            tally: Tally::default(),
            out: caller,
            tap,
            last_end: None,
            shadow: None,
            done: false,
        }
    }

    /// Whether the call is recorded: its attempts are, and the clock is read for them.
    #[inline]
    pub(crate) fn on(&self) -> bool {
        self.opened.is_some()
    }

    /// Whether the call's times are read: it is recorded for someone who reads them (a
    /// timeline's reader, or an observer told every event). A call recorded only to count its
    /// attempts, for an observer told counts only, reads no clock for its records; their times
    /// are `EPOCH`, and nobody sees them.
    #[inline]
    pub(crate) fn timed(&self) -> bool {
        self.on() && (self.timeline.is_some() || self.detail >= Detail::Events)
    }

    /// Whether the call is recorded only to be counted (for an observer told counts only, and
    /// nobody who reads the times): its attempts need no record, only their count.
    #[inline]
    pub(crate) fn counts_only(&self) -> bool {
        self.on() && !self.timed()
    }

    /// Counts a primary attempt whose value was a success, on a call recorded only to be
    /// counted ([`Recorder::counts_only`]): what its record would have added to the tally.
    #[inline]
    pub(crate) fn count_success(&mut self, attempt: u32) {
        self.tally.add(AttemptFacts {
            attempt,
            is_hedge: false,
            budget_allowed: true,
            succeeded: true,
        });
    }

    /// A reading for a record: the clock's when the call's times are read, else the epoch.
    #[inline]
    pub(crate) fn reading(&self) -> Timestamp {
        match self.timed() {
            true => self.clock.now(),
            false => Timestamp::EPOCH,
        }
    }

    /// When the call started, if its times are read: a call that reaches its first attempt
    /// without awaiting anything reuses this reading.
    #[inline]
    pub(crate) fn opened_at(&self) -> Option<Timestamp> {
        self.opened.filter(|_| self.timed())
    }

    /// The call awaited something (a backoff, a hedged group) since the last attempt was
    /// recorded: its end must be read afresh.
    #[inline]
    pub(crate) fn waited(&mut self) {
        self.last_end = None;
    }

    /// The observer, if it is told of each event of the call ([`Detail::Events`] or more).
    pub(crate) fn events_observer(&self) -> Option<&'a dyn Observer> {
        self.observer.filter(|_| self.detail >= Detail::Events)
    }

    /// Judges `compiled`'s shadow policy, if it has one, when the call ends: the call is then
    /// recorded (a timeline is built, to judge it from). Called before [`Recorder::start`].
    #[inline]
    pub(crate) fn shadow(
        &mut self,
        compiled: &Compiled,
        runtime: &'a super::keyed::Runtime,
        (once, no_hedges): (bool, bool),
    ) {
        if let Some(plan) = &compiled.shadow {
            let live = Live {
                timeout_per_attempt: compiled.timeout_per_attempt,
                overall_timeout: compiled.overall_timeout,
                once,
                no_hedges: once || no_hedges,
            };
            self.shadow_on(plan.clone(), live, runtime);
        }
    }

    #[inline(never)]
    fn shadow_on(
        &mut self,
        plan: std::sync::Arc<ShadowPlan>,
        live: Live,
        runtime: &'a super::keyed::Runtime,
    ) {
        // The opening reading, unless none was taken (a call recorded only to count it).
        let start = match self.opened_at() {
            Some(start) => start,
            None => self.clock.now(),
        };
        self.opened = Some(start);
        if self.timeline.is_none() {
            self.timeline = Some(Slot::Heap(new_timeline(self.key, start)));
        }
        self.shadow = Some(Shadow {
            plan,
            state: runtime.shadow(),
            live,
        });
    }

    /// Starts the call: policy metadata into the timeline, then `on_start`.
    #[inline]
    pub(crate) fn start(&mut self, compiled: Option<&Compiled>) {
        if self.on() {
            self.start_recorded(compiled);
        }
    }

    #[inline(never)]
    fn start_recorded(&mut self, compiled: Option<&Compiled>) {
        self.describe(compiled);
        if let Some(o) = self.events_observer() {
            match compiled {
                Some(c) => o.on_start(self.key, &c.policy),
                None => o.on_start(self.key, &Policy::new()),
            }
        }
    }

    /// Goes on with a call whose first attempt ran bare (traced, [`super::first::traced`], or
    /// seen by an observer: `first::Told`, [`super::first::resumed`]), whose observer, if it
    /// has one, was told of its start before that attempt: policy metadata into the timeline,
    /// and no second `on_start`.
    #[inline]
    pub(crate) fn resume(&mut self, compiled: &Compiled) {
        if self.on() {
            self.describe(Some(compiled));
        }
    }

    /// The policy's metadata into the timeline, if one is built.
    #[inline(never)]
    fn describe(&mut self, compiled: Option<&Compiled>) {
        if let Some(tl) = &mut self.timeline
            && let Some(c) = compiled
        {
            tl.policy_id = c.id.as_ref().map(|id| id.name().clone());
            tl.policy_source = c.source;
            tl.policy_normalized = c.normalized.clone();
            if let Some(e) = &c.policy_error {
                tl.attributes.insert("policy_error", e.clone());
            }
            if let super::keyed::BudgetSlot::Found { budget, .. } = &c.retry_budget
                && let Some(fleet) = budget.fleet_status()
            {
                tl.attributes.insert("budget_scope", fleet.scope.as_str());
                if let Some(age) = fleet.sync_age {
                    tl.attributes
                        .insert("budget_sync_age_ms", age.as_millis().to_string());
                }
            }
        }
    }

    /// Reports a breaker transition to the observer and the export.
    pub(crate) fn circuit_change(&self, transition: Option<Transition>) {
        let Some(t) = transition else { return };
        if let Some(o) = self.observer {
            o.on_circuit_change(self.key, t.from, t.to, &t.reason);
        }
        if let Some(tap) = self.tap {
            tap.circuit(self.key, &t, self.clock.now());
        }
    }

    /// Reports a change of the key's hedging state to the observer.
    pub(crate) fn hedging_change(&self, change: Option<crate::hedge::HedgingChange>) {
        if let (Some(c), Some(o)) = (change, self.observer) {
            o.on_hedging_change(self.key, c.from, c.to, &c.reason);
        }
    }

    pub(crate) fn attribute(&mut self, name: &str, value: &str) {
        if let Some(tl) = &mut self.timeline {
            tl.attributes.insert(name, value);
        }
    }

    /// Records an attempt built by `make` (only called when recording).
    pub(crate) fn attempt(&mut self, make: impl FnOnce() -> AttemptRecord) {
        self.attempt_with(|r| *r = make());
    }

    /// Records an attempt written by `fill` into a fresh record (only called when
    /// recording). With a timeline, the record is written in its place there: a record
    /// written field by field and then moved stalls on those writes.
    #[inline]
    pub(crate) fn attempt_with(&mut self, fill: impl FnOnce(&mut AttemptRecord)) {
        if !self.on() {
            return;
        }
        let observer = self.events_observer();
        let mut alone;
        let record: &AttemptRecord = match &mut self.timeline {
            Some(tl) => {
                let r = tl.attempts.push_default();
                fill(r);
                r
            }
            None => {
                alone = AttemptRecord::default();
                fill(&mut alone);
                &alone
            }
        };
        if let Some(o) = observer {
            o.on_attempt(self.key, record);
        }
        self.last_end = Some(record.end);
        self.tally.add(record.facts());
    }

    /// Ends the call, which failed with `error` or else succeeded: closes the timeline,
    /// reports how the call ended, hands the timeline back when it was asked for. The caller
    /// keeps its result: moved through here, it was copied twice just after it was written.
    #[inline]
    pub(crate) fn finish<E: Display>(&mut self, error: Option<&Error<E>>, outcome: CallOutcome) {
        self.done = true;
        if self.on() {
            let reason = error.map_or(Reason::SUCCESS, Error::reason_code);
            let end = match self.last_end.take() {
                Some(end) => end,
                None => self.reading(),
            };
            self.close(outcome, reason, || error.map(ToString::to_string), end);
        }
    }

    /// Reports the end of a recorded call: the timeline closed and handed to its readers,
    /// then `on_end`.
    fn close(
        &mut self,
        outcome: CallOutcome,
        reason: Reason,
        error: impl FnOnce() -> Option<String>,
        end: Timestamp,
    ) {
        if let Some(mut tl) = self.timeline.take() {
            tl.end = end;
            tl.outcome = outcome;
            tl.reason = reason.clone();
            tl.error = error();
            if let Some(shadow) = &self.shadow {
                // The verdict goes into the timeline only for someone who reads it.
                let read = self.out || self.tap.is_some() || self.detail == Detail::Timeline;
                judge_shadow(shadow, &mut tl, read);
            }
            if let Some(o) = self.observer.filter(|_| self.detail == Detail::Timeline) {
                match outcome {
                    CallOutcome::Success => o.on_success(self.key, &tl),
                    CallOutcome::Failure => o.on_failure(self.key, &tl),
                }
            }
            self.hand_over(tl);
        }
        if let Some(o) = self.observer {
            let times = CallTimes {
                start: self.opened.unwrap_or(end),
                end,
            };
            o.on_end(
                self.key,
                &CallEnd {
                    outcome,
                    reason,
                    times: (self.detail >= Detail::Events).then_some(times),
                    summary: self.tally.finish(outcome == CallOutcome::Success),
                },
            );
        }
    }

    /// The finished timeline goes to the export; the caller that asked for it has it in its
    /// slot already.
    fn hand_over(&mut self, tl: Slot<'_>) {
        if let Some(tap) = self.tap {
            match tl {
                Slot::Heap(tl) => tap.finish(tl),
                Slot::Caller(tl) => tap.finish(Box::new(tl.clone())),
            }
        }
    }
}

impl Drop for Recorder<'_> {
    /// A call dropped before it finished was cancelled by its caller: observers still see it
    /// end, as a failure with reason `context_canceled`.
    #[inline]
    fn drop(&mut self) {
        if !self.done && self.on() {
            self.cancelled();
        }
    }
}

impl Recorder<'_> {
    #[cold]
    #[inline(never)]
    fn cancelled(&mut self) {
        if std::thread::panicking() {
            return;
        }
        // The caller dropped the call: nobody takes its timeline but the export.
        self.out = false;
        let end = self.reading();
        let error = || Some("recourse: call canceled".to_owned());
        self.close(CallOutcome::Failure, Reason::CONTEXT_CANCELED, error, end);
    }
}

/// Judges the shadow policy against the finished call, into the timeline's attributes and
/// the shadow's counters.
#[inline(never)]
fn judge_shadow(shadow: &Shadow<'_>, tl: &mut Timeline, read: bool) {
    let verdict = crate::shadow::judge(&shadow.plan, shadow.state, shadow.live, tl);
    shadow.state.count(&verdict);
    if !read {
        return;
    }
    let attrs = &mut tl.attributes;
    attrs.insert("shadow_outcome", verdict.outcome.as_str());
    attrs.insert("shadow_attempts", verdict.attempts.to_string());
    if !verdict.decisions.is_empty() {
        attrs.insert("shadow_decisions", verdict.decisions.names());
    }
}

/// Where a call's timeline is built.
enum Slot<'a> {
    /// The caller's, when it asked for the timeline: nothing is allocated, and the timeline
    /// is not moved out of a box when the call returns it.
    Caller(&'a mut Timeline),
    /// For the observer, the export or a shadow policy alone.
    Heap(Box<Timeline>),
}

impl std::ops::Deref for Slot<'_> {
    type Target = Timeline;

    #[inline]
    fn deref(&self) -> &Timeline {
        match self {
            Slot::Caller(tl) => tl,
            Slot::Heap(tl) => tl,
        }
    }
}

impl std::ops::DerefMut for Slot<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Timeline {
        match self {
            Slot::Caller(tl) => tl,
            Slot::Heap(tl) => tl,
        }
    }
}

/// A timeline opened at `start` (out of line: most calls record none).
#[inline(never)]
fn new_timeline(key: &Key, start: Timestamp) -> Box<Timeline> {
    Box::new(Timeline {
        key: key.clone(),
        start,
        ..Timeline::default()
    })
}

/// Adds the classifier-fallback annotation to an attempt's attributes.
pub(crate) fn fallback_attributes(attrs: &mut Attributes, requested: &str) {
    attrs.insert("classifier_not_found", "true");
    attrs.insert("classifier_name", requested);
    attrs.insert("classifier_fallback", "default");
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Waker};
    use std::time::Duration;

    use crate::clock::{VirtualClock, reads};
    use crate::observe::{Detail, Observer};
    use crate::{Executor, Policy};

    /// Hears calls at its detail.
    #[derive(Debug)]
    struct At(Detail);

    impl Observer for At {
        fn detail(&self) -> Detail {
            self.0
        }
    }

    /// The clock reads of one call by key under `policy`, seen by an observer at `detail`
    /// (after a first call has compiled the key's policy): one that succeeds at once, or one
    /// `dropped` while its attempt runs.
    fn reads_of_a_call(policy: Policy, detail: Detail, dropped: bool) -> u64 {
        let vc = VirtualClock::new();
        let exec = Executor::builder()
            .clock(vc.clock())
            .policy("svc.op", policy)
            .observer_arc(Arc::new(At(detail)))
            .build()
            .unwrap();
        let ok = || exec.call("svc.op", |_| async { Ok::<_, std::io::Error>(1) });
        vc.block_on(ok()).unwrap();
        let before = reads::so_far();
        if dropped {
            let pending = |_| std::future::pending::<Result<u64, std::io::Error>>();
            let mut call = Box::pin(exec.call("svc.op", pending));
            let polled = call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            assert!(polled.is_pending());
        } else {
            vc.block_on(ok()).unwrap();
        }
        reads::so_far() - before
    }

    #[test]
    fn a_call_counted_for_an_observer_reads_no_clock_the_policy_does_not_need() {
        // Bare, and in the loop (a breaker needs no clock while it is closed); ended, and
        // dropped by its caller.
        let breaker = Policy::builtin().circuit(5, Duration::from_secs(10));
        for (policy, dropped) in [Policy::builtin(), breaker]
            .into_iter()
            .flat_map(|p| [(p.clone(), false), (p, true)])
        {
            let reads = |detail| reads_of_a_call(policy.clone(), detail, dropped);
            let case = format!("{policy:?}, dropped: {dropped}");
            assert_eq!(reads(Detail::Counts), 0, "{case}");
            // Told every event: the call's start and end.
            assert_eq!(reads(Detail::Events), 2, "{case}");
            assert_eq!(reads(Detail::Timeline), 2, "{case}");
        }
        // A policy that reads the clock for itself (a timeout) still does.
        let timed = Policy::builtin().timeout_per_attempt(Duration::from_secs(1));
        assert!(reads_of_a_call(timed, Detail::Counts, false) > 0);
    }
}
