//! OpenTelemetry (feature `opentelemetry`): one span per call, its attempts and decisions as span
//! events, and metrics tagged with the key (there is no semantic convention
//! for retries, hedging or breakers yet, so everything is namespaced `recourse.*`, and the final
//! reason is `error.type`).
//!
//! The span is built when the call ends, from the timeline, with the call's real start and end
//! times, so nothing is held per call in the observer and concurrent calls never mix.

use std::fmt;

use ::opentelemetry::KeyValue;
use ::opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};
use ::opentelemetry::trace::{Span, SpanBuilder, SpanKind, Status, Tracer};

use super::attempt_kind;
use crate::budget::BudgetEvent;
use crate::error::{CircuitState, Reason};
use crate::key::Key;
use crate::observe::{CallOutcome, Observer, Timeline};

/// The `recourse.*` instruments.
#[derive(Debug, Clone)]
struct Instruments {
    call_duration: Histogram<f64>,
    attempt_duration: Histogram<f64>,
    call_attempts: Histogram<u64>,
    retry_delay: Histogram<f64>,
    budget_decisions: Counter<u64>,
    hedge_outcomes: Counter<u64>,
    circuit_transitions: Counter<u64>,
    circuit_state: Gauge<u64>,
}

impl Instruments {
    fn new(meter: &Meter) -> Instruments {
        Instruments {
            call_duration: meter
                .f64_histogram("recourse.call.duration")
                .with_unit("s")
                .with_description("Calls as the caller sees them, retries and hedges included.")
                .build(),
            attempt_duration: meter
                .f64_histogram("recourse.attempt.duration")
                .with_unit("s")
                .with_description("Each attempt that ran.")
                .build(),
            call_attempts: meter
                .u64_histogram("recourse.call.attempts")
                .with_description("Attempts that ran per call: the load amplification.")
                .build(),
            retry_delay: meter
                .f64_histogram("recourse.call.retry_delay")
                .with_unit("s")
                .with_description("Time a call spent in backoff.")
                .build(),
            budget_decisions: meter
                .u64_counter("recourse.budget.decisions")
                .with_description("Budget decisions on gated attempts.")
                .build(),
            hedge_outcomes: meter
                .u64_counter("recourse.hedge.outcomes")
                .with_description("Hedges that won or lost their call.")
                .build(),
            circuit_transitions: meter
                .u64_counter("recourse.circuit.transitions")
                .with_description("Breaker state changes.")
                .build(),
            circuit_state: meter
                .u64_gauge("recourse.circuit.state")
                .with_description("The breaker's state: 0 closed, 1 half-open, 2 open.")
                .build(),
        }
    }
}

/// Reports calls to OpenTelemetry: register it with
/// [`ExecutorBuilder::observer`](crate::ExecutorBuilder::observer).
///
/// ```
/// use opentelemetry::global;
/// use recourse_engine::Executor;
/// use recourse_engine::integrations::opentelemetry::OtelObserver;
///
/// let observer = OtelObserver::new(global::tracer("recourse"), &global::meter("recourse"));
/// let exec = Executor::builder().observer(observer).build().unwrap();
/// # drop(exec);
/// ```
pub struct OtelObserver<T> {
    tracer: T,
    metrics: Instruments,
}

impl<T> fmt::Debug for OtelObserver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelObserver").finish_non_exhaustive()
    }
}

impl<T> OtelObserver<T>
where
    T: Tracer + Send + Sync,
    T::Span: Send + Sync + 'static,
{
    /// Spans from `tracer`, metrics on `meter`.
    pub fn new(tracer: T, meter: &Meter) -> OtelObserver<T> {
        OtelObserver {
            tracer,
            metrics: Instruments::new(meter),
        }
    }

    fn finished(&self, key: &Key, t: &Timeline) {
        let k = KeyValue::new("recourse.key", key.as_str().to_owned());
        let ok = t.outcome == CallOutcome::Success;
        let summary = t.summary();
        let executed = u64::from(summary.attempts);
        let hedges = i64::from(summary.hedges);
        let mut attributes = vec![
            k.clone(),
            KeyValue::new("recourse.outcome", t.outcome.as_str()),
            KeyValue::new("recourse.attempts", executed as i64),
            KeyValue::new("recourse.hedges", hedges),
            KeyValue::new("recourse.policy.source", t.policy_source.as_str()),
        ];
        if let Some(id) = &t.policy_id {
            attributes.push(KeyValue::new("recourse.policy.id", id.to_string()));
        }
        if !ok {
            attributes.push(KeyValue::new("error.type", t.reason.as_str().to_owned()));
        }
        let builder = SpanBuilder::from_name(format!("recourse {key}"))
            .with_kind(SpanKind::Internal)
            .with_start_time(t.start.to_system_time())
            .with_attributes(attributes);
        let mut span = self.tracer.build(builder);
        let mut attempts: Vec<_> = t.attempts.iter().collect();
        attempts.sort_by_key(|a| (a.start, a.attempt, a.hedge_index));
        let mut backoff = 0.0;
        for a in attempts {
            let mut attrs = vec![
                KeyValue::new("recourse.attempt.number", i64::from(a.attempt)),
                KeyValue::new("recourse.attempt.kind", attempt_kind(a)),
                KeyValue::new("recourse.hedge.index", i64::from(a.hedge_index)),
            ];
            let name = if !a.budget_allowed {
                attrs.push(KeyValue::new(
                    "recourse.budget.reason",
                    a.budget_reason.as_str().to_owned(),
                ));
                "recourse.budget.denied"
            } else if a.reason == Reason::HEDGE_CANCELLED {
                "recourse.hedge.cancelled"
            } else {
                attrs.push(KeyValue::new(
                    "recourse.attempt.outcome",
                    a.outcome.as_str(),
                ));
                attrs.push(KeyValue::new(
                    "recourse.budget.reason",
                    a.budget_reason.as_str().to_owned(),
                ));
                "recourse.attempt.end"
            };
            attrs.push(KeyValue::new("error.type", a.reason.as_str().to_owned()));
            // The HTTP convention's resend ordinal: 0 for the first send, then 1, 2, ...
            let resends = a.attempt + a.hedge_index;
            if resends > 0 {
                attrs.push(KeyValue::new(
                    "http.request.resend_count",
                    i64::from(resends),
                ));
            }
            let took = a.end.since(a.start).as_secs_f64();
            attrs.push(KeyValue::new("recourse.duration_ms", took * 1e3));
            if !a.backoff.is_zero() {
                attrs.push(KeyValue::new(
                    "recourse.backoff_ms",
                    a.backoff.as_secs_f64() * 1e3,
                ));
            }
            span.add_event_with_timestamp(name, a.end.to_system_time(), attrs);
            if a.budget_allowed {
                backoff += if a.is_hedge {
                    0.0
                } else {
                    a.backoff.as_secs_f64()
                };
                let tags = [
                    k.clone(),
                    KeyValue::new("recourse.attempt.kind", attempt_kind(a)),
                    KeyValue::new("recourse.attempt.outcome", a.outcome.as_str()),
                ];
                self.metrics.attempt_duration.record(took, &tags);
                if a.is_hedge && a.reason != Reason::HEDGE_CANCELLED {
                    let won = if a.outcome.as_str() == "success" {
                        "won"
                    } else {
                        "lost"
                    };
                    self.metrics
                        .hedge_outcomes
                        .add(1, &[k.clone(), KeyValue::new("result", won)]);
                } else if a.is_hedge {
                    self.metrics
                        .hedge_outcomes
                        .add(1, &[k.clone(), KeyValue::new("result", "cancelled")]);
                }
            }
        }
        if ok {
            span.set_status(Status::Ok);
        } else {
            span.set_status(Status::error(t.reason.as_str().to_owned()));
        }
        span.end_with_timestamp(t.end.to_system_time());

        let mut tags = vec![
            k.clone(),
            KeyValue::new("recourse.outcome", t.outcome.as_str()),
        ];
        if !ok {
            tags.push(KeyValue::new("error.type", t.reason.as_str().to_owned()));
        }
        self.metrics
            .call_duration
            .record(t.duration().as_secs_f64(), &tags);
        self.metrics
            .call_attempts
            .record(executed, std::slice::from_ref(&k));
        self.metrics.retry_delay.record(backoff, &[k]);
    }
}

impl<T> Observer for OtelObserver<T>
where
    T: Tracer + Send + Sync,
    T::Span: Send + Sync + 'static,
{
    fn on_budget_decision(&self, e: &BudgetEvent<'_>) {
        let tags = [
            KeyValue::new("recourse.key", e.key.as_str().to_owned()),
            KeyValue::new("recourse.budget.name", e.budget.to_owned()),
            KeyValue::new("allowed", e.allowed),
            KeyValue::new("reason", e.reason.as_str().to_owned()),
        ];
        self.metrics.budget_decisions.add(1, &tags);
    }

    fn on_circuit_change(&self, key: &Key, from: CircuitState, to: CircuitState, reason: &Reason) {
        let tags = [
            KeyValue::new("recourse.key", key.as_str().to_owned()),
            KeyValue::new("from", from.as_str()),
            KeyValue::new("to", to.as_str()),
            KeyValue::new("reason", reason.as_str().to_owned()),
        ];
        self.metrics.circuit_transitions.add(1, &tags);
        let level = match to {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        };
        self.metrics.circuit_state.record(
            level,
            &[KeyValue::new("recourse.key", key.as_str().to_owned())],
        );
    }

    fn on_success(&self, key: &Key, timeline: &Timeline) {
        self.finished(key, timeline);
    }

    fn on_failure(&self, key: &Key, timeline: &Timeline) {
        self.finished(key, timeline);
    }
}
