//! Hedging: extra attempts launched while the first is still running, to cut tail latency
//! (docs/hedging.md).
//!
//! A retry group is a primary attempt plus up to `max_hedges` hedges, all polled by the calling
//! task. The first success wins and the others are dropped (recorded as `hedge_cancelled`). A
//! [`Trigger`] decides when each hedge launches: after a fixed delay, or when the attempt has
//! run longer than a latency percentile of its key. Latency is tracked only for keys with
//! hedging on, in a lock-free histogram whose percentiles are read in O(1). With
//! `hedge.auto_disable`, a key whose hedges stop winning pauses hedging for a while.

mod governor;
mod latency;
mod trigger;

pub use governor::HedgingState;
pub(crate) use governor::{Governor, HedgingChange};
#[cfg(feature = "export")]
pub(crate) use latency::{BUCKETS, SUB, bucket_of, bucket_value};
pub use latency::{LatencySnapshot, LatencyTracker};
pub use trigger::{FixedDelay, HedgeDecision, Percentile, Trigger, TriggerState};
