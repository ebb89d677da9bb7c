//! What the `recourse` command-line tool builds on, behind the `tooling` feature: a service
//! does not need any of it to run calls.
//!
//! - Review: [`diff`] of two policy sets with risk notes, the worst-case [`Envelope`] of a
//!   policy, and [`resolve`], the effective policy of a key with the [`Layer`] each field came
//!   from.
//! - Policy sources as text: [`load_document`], [`parse_source`] (a [`SourceTree`] of values
//!   and positions), [`check_strict_json`], JSON pointers ([`pointer_segment`]), "did you mean"
//!   help ([`suggest`]), the files of a policy directory ([`policy_files`]).
//! - Durations as policy files write them: [`parse_duration`], [`format_duration`].
//!
//! These live in the engine, not in the tool, because they answer with the engine's own rules:
//! `resolve` and `diff` lay and normalize policies exactly as an executor does, and the loaders
//! are the ones [`PolicySet`](crate::PolicySet) reads files with.
//!
//! ```
//! use std::time::Duration;
//! use recourse_engine::{Key, PolicySet};
//! use recourse_engine::tooling::{Layer, parse_duration, resolve, suggest};
//!
//! let set = PolicySet::from_str(
//!     r#"{"version": 1, "defaults": {"retry": {"max_attempts": 4}},
//!         "policies": {"payments.*": {"retry": {"overall_timeout": "2s"}}}}"#,
//!     "policies.json",
//! )
//! .unwrap();
//! let charge = resolve(&set, &Key::parse("payments.Charge"));
//! assert_eq!(charge.entry.as_deref(), Some("payments.*"));
//! assert_eq!(charge.origins["retry.max_attempts"], Layer::Defaults);
//! assert_eq!(charge.origins["retry.overall_timeout"], Layer::Namespace);
//! assert_eq!(charge.origins["retry.initial_backoff"], Layer::Builtin);
//!
//! assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
//! assert!(parse_duration("250").is_err(), "a duration needs its unit");
//! assert_eq!(suggest("max_attempt", ["max_attempts", "jitter"]), Some("max_attempts"));
//! ```

mod diff;
mod envelope;
mod provenance;

pub use diff::{
    Change, ChangeKind, FieldChange, Risk, WorstCase, WorstCases, diff, mark_still_called,
};
pub use envelope::Envelope;
pub use provenance::{Layer, Resolved, resolve};

pub use crate::policy::document::{Document, SourceTree, pointer_segment};
pub use crate::policy::duration::{DurationError, FormatDuration, format_duration, parse_duration};
pub use crate::policy::set::{
    NO_POLICY_FILES, check_strict_json, load_document, parse_source, policy_files, suggest,
    unprintable_id,
};
