//! One module per command.

pub(crate) mod diff;
pub(crate) mod lint;
pub(crate) mod policy;
pub(crate) mod schema;
