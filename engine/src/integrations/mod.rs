//! Integrations with the stacks services already run, each behind its own cargo feature so a
//! service pulls only what it uses (docs/integrations.md).
//!
//! - `opentelemetry`: [`opentelemetry::OtelObserver`], one span per call with an event per attempt, and
//!   the `recourse.*` metrics.
//! - `tracing`: [`tracing::TracingObserver`], one structured event per finished call.
//! - `tower`: [`tower::RecourseLayer`] around any HTTP client service (hyper, tonic, tower-http).
//! - `reqwest`: [`reqwest::RecourseMiddleware`] for `reqwest-middleware`, and
//!   [`reqwest::send`] for a plain client.

#[cfg(any(feature = "tower", feature = "reqwest"))]
mod http;
#[cfg(any(feature = "tower", feature = "reqwest"))]
pub use http::idempotent;
#[cfg(feature = "opentelemetry")]
pub mod opentelemetry;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "tracing")]
pub mod tracing;

/// `primary`, `retry` or `hedge`.
#[cfg(feature = "opentelemetry")]
pub(crate) fn attempt_kind(a: &crate::AttemptRecord) -> &'static str {
    if a.is_hedge {
        "hedge"
    } else if a.attempt == 0 {
        "primary"
    } else {
        "retry"
    }
}
