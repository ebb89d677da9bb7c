//! The aggregated data the TUI shows: per-key series over the rate windows, counters, the
//! event log. No terminal, no I/O.

mod keys;
mod log;
mod series;

pub(crate) use keys::{KeyAgg, Row, Shadow, Sort, denied_by};
pub(crate) use log::{Event, EventKind, Log};
#[cfg(test)]
pub(crate) use log::{RING, RING_BYTES};
pub(crate) use series::{Series, WINDOWS};
