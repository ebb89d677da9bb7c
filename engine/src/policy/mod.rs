//! Policies: the model as written ([`Policy`]), its defaults, normalization with a change report,
//! and durations with units.
//!
//! A policy goes through two stages: [`Policy`] holds what the code or file says (every field
//! optional); [`Policy::normalize`] fills and clamps it; the executor compiles the normalized
//! policy once per key into the form its hot path reads.

pub mod defaults;
mod diff;
mod document;
mod duration;
mod envelope;
mod id;
mod model;
mod normalize;
mod set;
#[cfg(feature = "yaml")]
mod yaml;

pub use diff::{
    Change, ChangeKind, FieldChange, Risk, WorstCase, WorstCases, diff, mark_still_called,
};
pub use document::{BudgetSpec, Document, Position, SourceTree, pointer_segment};
pub use duration::{DurationError, FormatDuration, format_duration, parse_duration};
pub use envelope::Envelope;
pub(crate) use id::intern as intern_id;
pub use model::{
    BudgetRef, CircuitPolicy, HedgePolicy, Jitter, Policy, PolicyMeta, PolicySource, RetryPolicy,
};
pub use normalize::{
    Normalized, NormalizedBudget, NormalizedCircuit, NormalizedHedge, NormalizedRetry, bounds,
};
pub use set::{
    Layer, LoadError, LoadProblem, MAX_FILE_BYTES, NO_POLICY_FILES, Origin, PolicySet, Resolved,
    check_strict_json, load_document, parse_source, policy_files, suggest,
};
