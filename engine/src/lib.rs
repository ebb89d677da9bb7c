#![cfg_attr(docsrs, feature(doc_cfg))]
//! # recourse-engine
//!
//! Policy-driven resilience for Rust services. A call site names a stable, low-cardinality
//! [`Key`] (`"payments.Charge"`); the [`Policy`] for that key defines the envelope: attempts,
//! backoff and jitter, per-attempt and overall timeouts, a classifier, budgets as backpressure,
//! hedging and circuit breaking.
//! Every call can record a [`Timeline`] of its attempts and report to [`Observer`]s.
//!
//! ```
//! use std::time::Duration;
//! use recourse_engine::{Executor, Policy, budget::TokenBucket};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let exec = Executor::builder()
//!     .policy(
//!         "payments.Charge",
//!         Policy::builtin()
//!             .max_attempts(4)
//!             .backoff(Duration::from_millis(1), Duration::from_millis(10), 2.0)
//!             .budget("retries"),
//!     )
//!     .budget("retries", TokenBucket::new(100, 50.0))
//!     .build()
//!     .unwrap();
//!
//! let mut failures_left = 2;
//! let (receipt, timeline) = exec
//!     .call_traced("payments.Charge", |attempt| {
//!         let fail = failures_left > 0;
//!         failures_left -= 1;
//!         async move {
//!             if fail {
//!                 Err(std::io::Error::other("connection reset"))
//!             } else {
//!                 Ok(format!("receipt after attempt {}", attempt.attempt))
//!             }
//!         }
//!     })
//!     .await;
//! assert_eq!(receipt.unwrap(), "receipt after attempt 2");
//! assert_eq!(timeline.attempts.len(), 3);
//! # }
//! ```
//!
//! Concepts and reference: the `docs/` folder of the repository.
//!
//! # Features
//!
//! Each integration is a cargo feature, so a service compiles only what it uses; `full` turns
//! them all on.
//!
//! | Feature | What it adds |
//! |---|---|
//! | `yaml` | policy files in YAML (JSON is always read) |
//! | `remote-http` | [`provider::HttpSource`], a control plane over HTTP |
//! | `export` | the live event stream `recourse tail` reads |
//! | `tracing` | an observer that logs each call through `tracing` |
//! | `opentelemetry` | an observer with a span per call and `recourse.*` metrics |
//! | `tower` | a tower layer for HTTP client services |
//! | `reqwest` | a reqwest-middleware middleware and a `send` helper |
//! | `tonic` | the `grpc` classifier for `tonic::Status` |
//! | `redis` | [`fleet::RedisFleet`]: budgets shared by every replica through Redis |
//! | `tooling` | what the `recourse` tool builds on: policy diff, provenance, loaders |

pub mod budget;
pub mod circuit;
pub mod classify;
pub mod clock;
mod error;
mod executor;
#[cfg(feature = "export")]
pub mod export;
pub mod fleet;
pub mod hedge;
pub mod integrations;
mod key;
pub mod observe;
pub mod policy;
pub mod provider;
pub mod shadow;
#[cfg(feature = "tooling")]
pub mod tooling;

pub use error::{CircuitState, Component, Error, Reason};
pub use executor::{
    AttemptInfo, BuildError, CallOptions, ControlError, Executor, ExecutorBuilder, KeyHandle,
    ManualControl, MissingMode, call, call_traced, global, init,
};
pub use key::{AsKey, Key, MAX_KEY_LEN};
pub use observe::{AttemptRecord, CallEnd, CallSummary, CallTimes, Detail, Observer, Timeline};
pub use policy::{Policy, PolicySet};
pub use tokio_util::sync::CancellationToken;

/// The examples in `docs/` run as doc tests, so the documentation cannot drift from the code.
#[cfg(doctest)]
mod docs {
    #[doc = include_str!("../../docs/getting-started.md")]
    struct GettingStarted;
    #[doc = include_str!("../../docs/keys.md")]
    struct Keys;
    #[doc = include_str!("../../docs/policies.md")]
    struct Policies;
    #[doc = include_str!("../../docs/classifiers.md")]
    struct Classifiers;
    // Declares budgets in a YAML policy file.
    #[cfg(feature = "yaml")]
    #[doc = include_str!("../../docs/budgets.md")]
    struct Budgets;
    #[doc = include_str!("../../docs/observability.md")]
    struct Observability;
    #[doc = include_str!("../../docs/bulkhead.md")]
    struct Bulkhead;
    #[doc = include_str!("../../docs/hedging.md")]
    struct Hedging;
    #[doc = include_str!("../../docs/circuit-breaking.md")]
    struct CircuitBreaking;
    #[cfg(feature = "redis")]
    #[doc = include_str!("../../docs/fleet.md")]
    struct Fleet;
    #[doc = include_str!("../../README.md")]
    struct Readme;
    #[cfg(feature = "export")]
    #[doc = include_str!("../../docs/export.md")]
    struct Export;
    #[cfg(feature = "export")]
    #[doc = include_str!("../../docs/breaker.md")]
    struct Breaker;
    #[cfg(all(
        feature = "tower",
        feature = "reqwest",
        feature = "tonic",
        feature = "opentelemetry",
        feature = "tracing"
    ))]
    #[doc = include_str!("../../docs/integrations.md")]
    struct Integrations;
}
