//! Policies: the model as written ([`Policy`]), its defaults, normalization with a change report,
//! and durations with units.
//!
//! A policy goes through two stages: [`Policy`] holds what the code or file says (every field
//! optional); [`Policy::normalize`] fills and clamps it; the executor compiles the normalized
//! policy once per key into the form its hot path reads.

mod duration;
mod model;
mod normalize;

pub use duration::{DurationError, FormatDuration, format_duration, parse_duration};
pub use model::{
    BudgetRef, CircuitPolicy, HedgePolicy, Jitter, Policy, PolicyMeta, PolicySource, RetryPolicy,
};
pub use normalize::bounds;
