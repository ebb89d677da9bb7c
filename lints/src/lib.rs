//! # recourse-lints
//!
//! Scanner for recourse call-site keys in Rust source and the key rules (`dynamic-key`,
//! `high-cardinality-key`, ...). Not yet implemented: this crate holds the workspace slot that
//! `recourse lint` will fill (see the issue tracker).
