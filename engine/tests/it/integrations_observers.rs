//! The OpenTelemetry observer checked with the SDK's in-memory exporters, and the `tracing`
//! observer with a capturing subscriber.

use recourse_engine::Executor;
use recourse_engine::budget::TokenBucket;

use crate::support::*;

fn policy() -> recourse_engine::Policy {
    zero()
        .max_attempts(3)
        .backoff(ms(10), ms(10), 1.0)
        .id("charge-v1")
        .budget("retries")
}

#[cfg(feature = "opentelemetry")]
mod otel {
    use std::time::Duration;

    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry::trace::{Status, TracerProvider as _};
    use opentelemetry::{Key as OtelKey, Value};
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use recourse_engine::integrations::opentelemetry::OtelObserver;

    use super::*;

    fn attr<'a>(attrs: &'a [opentelemetry::KeyValue], key: &str) -> Option<&'a Value> {
        attrs
            .iter()
            .find(|kv| kv.key == OtelKey::from(key.to_owned()))
            .map(|kv| &kv.value)
    }

    #[test]
    fn one_span_per_call_with_an_event_per_attempt_and_the_metrics() {
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        let observer = OtelObserver::new(
            tracer_provider.tracer("test"),
            &meter_provider.meter("test"),
        );
        let (exec, vc) = vexec(
            Executor::builder()
                .policy("payments.Charge", policy())
                .budget("retries", TokenBucket::new(2, 0.0))
                .observer(observer),
        );
        // Succeeds on the third attempt (two retries: the budget's two tokens).
        let (r, first) = run(
            &vc,
            exec.call_traced("payments.Charge", fails_then(&Calls::default(), 2, ())),
        );
        assert!(r.is_ok());
        // Fails: its retry is refused by the now empty budget.
        let (r, second) = run(
            &vc,
            exec.call_traced("payments.Charge", always_fails(&Calls::default())),
        );
        assert_eq!(r.unwrap_err().reason_code().as_str(), "budget_denied");
        tracer_provider.force_flush().unwrap();
        meter_provider.force_flush().unwrap();

        let finished = spans.get_finished_spans().unwrap();
        assert_eq!(finished.len(), 2);
        let (ok, failed) = (&finished[0], &finished[1]);
        assert_eq!(ok.name, "recourse payments.Charge");
        assert_eq!(ok.start_time, first.start.to_system_time());
        assert_eq!(ok.end_time, first.end.to_system_time());
        assert_eq!(ok.status, Status::Ok);
        assert_eq!(
            attr(&ok.attributes, "recourse.attempts"),
            Some(&Value::I64(3))
        );
        assert_eq!(
            attr(&ok.attributes, "recourse.policy.id"),
            Some(&Value::from("charge-v1"))
        );
        assert_eq!(
            attr(&ok.attributes, "recourse.key"),
            Some(&Value::from("payments.Charge"))
        );
        let events: Vec<&str> = ok.events.iter().map(|e| e.name.as_ref()).collect();
        assert_eq!(events, ["recourse.attempt.end"; 3]);
        let numbers: Vec<_> = ok
            .events
            .iter()
            .map(|e| attr(&e.attributes, "recourse.attempt.number").cloned())
            .collect();
        let resends: Vec<_> = ok
            .events
            .iter()
            .map(|e| attr(&e.attributes, "http.request.resend_count").cloned())
            .collect();
        assert_eq!(resends, [None, Some(Value::I64(1)), Some(Value::I64(2))]);
        assert_eq!(
            numbers,
            [
                Some(Value::I64(0)),
                Some(Value::I64(1)),
                Some(Value::I64(2))
            ]
        );

        assert_eq!(failed.status, Status::error("budget_denied"));
        assert_eq!(
            attr(&failed.attributes, "error.type"),
            Some(&Value::from("budget_denied"))
        );
        let events: Vec<&str> = failed.events.iter().map(|e| e.name.as_ref()).collect();
        assert_eq!(events, ["recourse.attempt.end", "recourse.budget.denied"]);
        assert_eq!(failed.end_time, second.end.to_system_time());

        let exported = metrics.get_finished_metrics().unwrap();
        let last = exported.last().expect("metrics were exported");
        let mut seen = Vec::new();
        for m in last.scope_metrics().flat_map(|s| s.metrics()) {
            seen.push(m.name().to_owned());
            match (m.name(), m.data()) {
                ("recourse.call.duration", AggregatedMetrics::F64(MetricData::Histogram(h))) => {
                    let count: u64 = h.data_points().map(|p| p.count()).sum();
                    assert_eq!(count, 2);
                }
                ("recourse.call.attempts", AggregatedMetrics::U64(MetricData::Histogram(h))) => {
                    let sum: u64 = h.data_points().map(|p| p.sum()).sum();
                    assert_eq!(sum, 4, "3 attempts, then 1");
                }
                ("recourse.budget.decisions", AggregatedMetrics::U64(MetricData::Sum(s))) => {
                    let denied: u64 = s
                        .data_points()
                        .filter(|p| {
                            p.attributes().any(|kv| {
                                kv.key.as_str() == "allowed" && kv.value == Value::Bool(false)
                            })
                        })
                        .map(|p| p.value())
                        .sum();
                    assert_eq!(denied, 1);
                }
                ("recourse.call.retry_delay", AggregatedMetrics::F64(MetricData::Histogram(h))) => {
                    let sum: f64 = h.data_points().map(|p| p.sum()).sum();
                    assert!((sum - 0.02).abs() < 1e-9, "two 10 ms backoffs: {sum}");
                }
                _ => {}
            }
        }
        for name in [
            "recourse.call.duration",
            "recourse.attempt.duration",
            "recourse.call.attempts",
            "recourse.call.retry_delay",
            "recourse.budget.decisions",
        ] {
            assert!(
                seen.iter().any(|s| s == name),
                "{name} missing from {seen:?}"
            );
        }
    }

    #[test]
    fn breaker_changes_are_counted() {
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        let tracer_provider = SdkTracerProvider::builder().build();
        let observer = OtelObserver::new(tracer_provider.tracer("t"), &meter_provider.meter("t"));
        let (exec, vc) = vexec(
            Executor::builder()
                .policy(
                    "inventory.Get",
                    zero().max_attempts(1).circuit(2, Duration::from_secs(5)),
                )
                .observer(observer),
        );
        for _ in 0..2 {
            let _ = run(
                &vc,
                exec.call("inventory.Get", always_fails(&Calls::default())),
            );
        }
        meter_provider.force_flush().unwrap();
        let exported = metrics.get_finished_metrics().unwrap();
        let state: Vec<u64> = exported
            .last()
            .unwrap()
            .scope_metrics()
            .flat_map(|s| s.metrics())
            .filter(|m| m.name() == "recourse.circuit.state")
            .flat_map(|m| match m.data() {
                AggregatedMetrics::U64(MetricData::Gauge(g)) => {
                    g.data_points().map(|p| p.value()).collect()
                }
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(state, [2], "open");
        let transitions: u64 = exported
            .last()
            .unwrap()
            .scope_metrics()
            .flat_map(|s| s.metrics())
            .filter(|m| m.name() == "recourse.circuit.transitions")
            .map(|m| match m.data() {
                AggregatedMetrics::U64(MetricData::Sum(s)) => {
                    s.data_points().map(|p| p.value()).sum()
                }
                _ => 0,
            })
            .sum();
        assert_eq!(transitions, 1, "closed -> open");
    }
}

#[cfg(feature = "tracing")]
mod log {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    use recourse_engine::integrations::tracing::TracingObserver;

    use super::*;

    /// One captured event: its level and its fields as text.
    type Captured = (tracing::Level, Vec<(String, String)>);

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Captured>>>);

    struct Fields(Vec<(String, String)>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
            let mut f = Fields(Vec::new());
            event.record(&mut f);
            self.0
                .lock()
                .unwrap()
                .push((*event.metadata().level(), f.0));
        }
    }

    #[test]
    fn each_finished_call_is_one_structured_event() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        let (exec, vc) = vexec(
            Executor::builder()
                .policy("payments.Charge", policy())
                .budget("retries", TokenBucket::new(2, 0.0))
                .observer(TracingObserver),
        );
        tracing::subscriber::with_default(subscriber, || {
            let _ = run(
                &vc,
                exec.call("payments.Charge", fails_then(&Calls::default(), 0, ())),
            );
            let _ = run(
                &vc,
                exec.call("payments.Charge", fails_then(&Calls::default(), 1, ())),
            );
            let _ = run(
                &vc,
                exec.call("payments.Charge", always_fails(&Calls::default())),
            );
        });
        let events = capture.0.lock().unwrap();
        assert_eq!(events.len(), 3);
        let field = |i: usize, name: &str| {
            events[i]
                .1
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(events[0].0, tracing::Level::INFO);
        assert_eq!(field(0, "attempts").as_deref(), Some("1"));
        assert_eq!(
            events[1].0,
            tracing::Level::WARN,
            "a retried call is worth a look"
        );
        assert_eq!(
            field(1, "reasons").as_deref(),
            Some("retryable_error,success")
        );
        assert_eq!(field(2, "reason").as_deref(), Some("budget_denied"));
        assert_eq!(field(2, "denied").as_deref(), Some("1"));
        assert_eq!(field(2, "key").as_deref(), Some("payments.Charge"));
        assert!(
            events
                .iter()
                .all(|e| e.1.iter().all(|(_, v)| !v.contains("op error"))),
            "error texts are not logged"
        );
    }
}
