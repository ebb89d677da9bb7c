//! Feeds of running services, for `recourse tail` (docs/tail.md, docs/wire-protocol.md):
//! following targets, discovering them, replaying and recording, and the line printer.
//!
//! Followers (one per target, or a replay) feed one channel; a consumer (the line printer or
//! the TUI) reads it. This module knows nothing of the TUI.

pub(crate) mod control;
pub(crate) mod discovery;
mod follow;
mod line;
pub(crate) mod list;
mod record;
pub(crate) mod replay;
mod sanitize;
mod session;
mod target;
pub(crate) mod targets_file;
mod trust;

pub(crate) use follow::{Followers, Subscription};
pub(crate) use line::{LineMode, Lines, call_line, circuit_line};
pub(crate) use record::Recording;
pub(crate) use replay::{Control, parse_ts_micros};
pub(crate) use sanitize::clean_line;
pub(crate) use session::{NOTHING_MATCHES, Session};
pub(crate) use target::{Feed, MAX_TARGETS, Spec, with_target};

/// What a consumer says after a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Go,
    Stop,
}

/// Something that shows feeds.
pub(crate) trait Consumer {
    fn feed(&mut self, feed: &Feed, names: &[String]) -> Step;
    /// The channel is empty for now (flush).
    fn idle(&mut self) {}
}
