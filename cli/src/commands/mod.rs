//! One module per command: each takes its parsed arguments and drives library modules.

pub(crate) mod breaker;
pub(crate) mod completions;
pub(crate) mod demo;
pub(crate) mod diff;
pub(crate) mod lint;
pub(crate) mod policy;
pub(crate) mod schema;
pub(crate) mod tail;
