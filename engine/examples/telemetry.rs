//! Calls reported to OpenTelemetry (one span per call, an event per attempt, `recourse.*`
//! metrics) and to `tracing` (one event per call). Spans go to an in-memory exporter here;
//! in a service, use your OTLP exporter.
//!
//! ```sh
//! cargo run -p recourse-engine --example telemetry --features opentelemetry,tracing
//! ```

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use recourse_engine::integrations::opentelemetry::OtelObserver;
use recourse_engine::integrations::tracing::TracingObserver;
use recourse_engine::{Executor, Policy};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Prints each `tracing` event's fields on one line.
struct Print;

impl<S: tracing::Subscriber> Layer<S> for Print {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        struct Line(String);
        impl tracing::field::Visit for Line {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={v:?}", f.name()));
            }
        }
        let mut line = Line(String::new());
        event.record(&mut line);
        println!("tracing {}:{}", event.metadata().level(), line.0);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Print))?;
    let spans = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let meter_provider = SdkMeterProvider::builder().build();
    let exec = Executor::builder()
        .policy("payments.Charge", Policy::builtin().max_attempts(3))
        .observer(OtelObserver::new(
            tracer_provider.tracer("checkout"),
            &meter_provider.meter("checkout"),
        ))
        .observer(TracingObserver)
        .build()?;

    let mut failures = 1;
    exec.call("payments.Charge", |_| {
        let fail = failures > 0;
        failures -= 1;
        async move {
            if fail {
                Err(std::io::Error::other("connection reset"))
            } else {
                Ok(())
            }
        }
    })
    .await?;

    tracer_provider.force_flush()?;
    for span in spans.get_finished_spans()? {
        let events: Vec<&str> = span.events.iter().map(|e| e.name.as_ref()).collect();
        println!(
            "span {:?}: {} events {events:?}",
            span.name,
            span.events.len()
        );
    }
    Ok(())
}
