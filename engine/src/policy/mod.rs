//! Policies: the model as written ([`Policy`]), its defaults, normalization with a change report,
//! and sets of policies loaded from files ([`PolicySet`]).
//!
//! A policy goes through two stages: [`Policy`] holds what the code or file says (every field
//! optional); [`Policy::normalize`] fills and clamps it; the executor compiles the normalized
//! policy once per key into the form its hot path reads.

pub(crate) mod defaults;
// Public through `tooling`, when that feature is on.
#[cfg_attr(not(feature = "tooling"), allow(unreachable_pub))]
pub(crate) mod document;
#[cfg_attr(not(feature = "tooling"), allow(unreachable_pub))]
pub(crate) mod duration;
mod id;
mod model;
pub(crate) mod normalize;
#[cfg_attr(not(feature = "tooling"), allow(unreachable_pub))]
pub(crate) mod set;
#[cfg(feature = "yaml")]
mod yaml;

pub use document::{BudgetScope, BudgetSpec, FleetFallback, Position};
pub(crate) use id::IdLease;
pub use id::PolicyId;
pub use model::{
    AutoDisablePolicy, BudgetRef, BulkheadPolicy, CircuitPolicy, CircuitWindow, HedgePolicy,
    Jitter, Policy, PolicyMeta, PolicySource, RetryPolicy,
};
pub use normalize::{
    Normalized, NormalizedAutoDisable, NormalizedBudget, NormalizedBulkhead, NormalizedCircuit,
    NormalizedHedge, NormalizedRates, NormalizedRetry,
};
pub use set::{LoadError, LoadProblem, MAX_FILE_BYTES, Origin, PolicySet};
