//! Budgets shared by every replica of a service: `scope: fleet`.
//!
//! A budget declared with `scope: fleet` is one allowance for the whole fleet, kept in a
//! [`FleetStore`] (Redis in production, [`RedisFleet`] with the `redis` feature). The hot path
//! never talks to the store: each replica spends from a local *lease*, its share of what the
//! fleet has left, with one compare-and-swap, as a local token bucket does. A background task
//! settles with the store every sync interval (0.5–1 s by default, jittered): it reports what
//! the replica spent and asked for, and receives its next lease, sized by its share of the
//! fleet's demand.
//!
//! When the store is slow or down, calls never wait for it. The last lease holds for three
//! intervals; then the replica spends from a local budget holding its share of the last known
//! fleet allowance (or denies everything, with `fallback: deny`), and goes back to the fleet at
//! the first sync that succeeds.
//!
//! The accounting, the bounds and the failure modes are in docs/fleet.md.

mod budget;
mod memory;
mod pool;
#[cfg(feature = "redis")]
mod redis;
mod sync;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

#[cfg(feature = "redis")]
pub use self::redis::{REDIS_URL_ENV, RedisFleet};
pub(crate) use budget::{FleetBudget, FleetLink};
pub use memory::MemoryFleet;

/// What [`FleetStore::sync`] returns.
pub type SyncFuture<'a> = Pin<Box<dyn Future<Output = Result<Grant, FleetError>> + Send + 'a>>;

/// A fleet budget's sync task, for [`FleetStore::spawn`]: it runs until the budget is dropped.
pub type SyncTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where a fleet's budgets live: one settlement per replica and budget every sync interval.
///
/// The settlement is one atomic step in the store: refill the fleet's pool, take back what the
/// replica spent, and hand it its next lease. [`MemoryFleet`] is the reference; a store must
/// give the same answers.
pub trait FleetStore: Send + Sync + fmt::Debug {
    /// Settles one replica's lease of one budget.
    fn sync<'a>(&'a self, request: &'a SyncRequest) -> SyncFuture<'a>;

    /// How often replicas settle and how long a settlement may take.
    fn settings(&self) -> FleetSettings {
        FleetSettings::default()
    }

    /// Starts a budget's sync task. Default: on the current tokio runtime, and `false` when
    /// there is none (the budget then spends from its local fallback).
    fn spawn(&self, task: SyncTask) -> bool {
        spawn_on_tokio(task)
    }

    /// Whether replica ids may follow the executors' seeds, for output that is the same run
    /// after run: only a store that lives in one process for one run (a simulation), where
    /// ids cannot meet another process's. Default: no, ids are random.
    fn reproducible(&self) -> bool {
        false
    }
}

/// Spawns `task` on the current tokio runtime; `false` when there is none.
pub(crate) fn spawn_on_tokio(task: SyncTask) -> bool {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(task);
            true
        }
        Err(_) => false,
    }
}

/// How a fleet budget talks to its store.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetSettings {
    /// The nominal time between two settlements; each wait is drawn between ⅔ and 4⁄3 of it.
    /// Default 750ms, so a replica settles every 0.5–1 s.
    pub interval: Duration,
    /// The most one settlement may take before it counts as failed. Default 100ms.
    pub timeout: Duration,
    /// The name budgets are shared under; the service's name when unset (the export's
    /// service name, else the executable's name).
    pub namespace: Option<String>,
}

impl Default for FleetSettings {
    fn default() -> FleetSettings {
        FleetSettings {
            interval: Duration::from_millis(750),
            timeout: Duration::from_millis(100),
            namespace: None,
        }
    }
}

/// How many sync intervals a lease holds without a successful settlement.
pub const LEASE_INTERVALS: u32 = 3;

/// One replica's settlement of one budget.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SyncRequest {
    /// The fleet-wide name of the budget: `<namespace>:<budget>`.
    pub budget: String,
    /// This replica's id for this budget (random, fixed for the budget's life).
    pub replica: u64,
    /// The store state this replica last settled with (0 before its first settlement).
    pub epoch: u64,
    /// The tokens the replica's lease holds now.
    pub held: f64,
    /// Thousandths of a token the replica has taken out of its lease, as asked or when it gave
    /// the lease up, since the budget was built: a running total, so that a settlement sent
    /// again after a lost answer counts nothing twice.
    pub returned_milli: i64,
    /// Thousandths of a token the replica has received in grants since the budget was built
    /// (the store credits back grants whose answer was lost).
    pub received_milli: i64,
    /// Attempts the replica denied since its last settlement (its unmet demand).
    pub denied: u64,
    /// First attempts since the budget was built (a ratio budget's deposits), a running total.
    pub first_attempts: u64,
    /// The budget's shape.
    pub pool: Pool,
    /// The nominal sync interval (a replica silent for four is gone).
    pub interval: Duration,
}

/// The shape of a fleet budget, as the policy declares it.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Pool {
    /// A token bucket: `capacity` tokens, refilled at `refill_per_second`.
    TokenBucket {
        /// Tokens when full.
        capacity: f64,
        /// Tokens added per second.
        refill_per_second: f64,
    },
    /// A ratio budget: every first attempt in the fleet deposits `ratio`, and
    /// `min_per_second` tokens arrive every second; deposits older than `window` fade.
    Ratio {
        /// Tokens per first attempt.
        ratio: f64,
        /// Tokens per second, whatever the traffic.
        min_per_second: f64,
        /// How long a deposit counts.
        window: Duration,
    },
}

/// The store's answer to a settlement.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Grant {
    /// Thousandths of a token to add to the lease; below zero, to take out of it and report
    /// as returned at the next settlement.
    pub change_milli: i64,
    /// The store state this answer comes from; a new one means the store lost its state.
    pub epoch: u64,
    /// Replicas that settled within the last four intervals, this one included.
    pub replicas: u32,
    /// This replica's share of the fleet's allowance, 0 to 1.
    pub share: f64,
    /// Tokens left in the whole fleet: the pool plus every lease.
    pub available: f64,
}

/// Why a settlement failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The store took longer than the settings' timeout.
    #[error("the fleet store did not answer within {0:?}")]
    Timeout(Duration),
    /// The store refused or failed.
    #[error("the fleet store failed: {0}")]
    Store(String),
    /// The store answered something that is not a settlement.
    #[error("the fleet store's answer is malformed: {0}")]
    Malformed(String),
    /// The store's address cannot be used.
    #[error("the fleet store's address is invalid: {0}")]
    Address(String),
}

/// Where a fleet budget spends from right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FleetScope {
    /// From a lease of the fleet's allowance.
    Fleet,
    /// From a local budget: the store has been out of reach for three intervals, was never
    /// reached, or is not configured.
    LocalFallback,
}

impl FleetScope {
    /// `fleet` or `local_fallback`.
    pub fn as_str(self) -> &'static str {
        match self {
            FleetScope::Fleet => "fleet",
            FleetScope::LocalFallback => "local_fallback",
        }
    }
}

/// A fleet budget's state, for timelines, the export and `tail`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct FleetStatus {
    /// Where it spends from.
    pub scope: FleetScope,
    /// Time since the last successful settlement; none before the first.
    pub sync_age: Option<Duration>,
    /// Replicas sharing the budget, as of the last settlement.
    pub replicas: u32,
}
