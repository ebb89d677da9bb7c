//! Circuit breaking: a breaker per key, on the executor's clock (docs/circuit-breaking.md).
//!
//! Closed: calls flow; `threshold` consecutive failed calls open it, and so does a failure
//! rate or a slow-call rate reached in its [`Window`] of recent calls ([`RateRule`]). Open: calls are rejected
//! with [`Error::CircuitOpen`](crate::Error::CircuitOpen) until `cooldown` has passed. Half-open:
//! exactly one probe call is let through (with hedging off); its success closes the breaker, its
//! failure opens it again, and a probe that ends without a verdict (cancelled, aborted, denied by
//! its budget) frees the slot for the next probe: the breaker never wedges.

mod breaker;
mod rates;
mod window;

pub use breaker::{Admission, Breaker, Probe, Transition};
pub use rates::RateRule;
pub use window::{Counts, Sample, Window};
