//! The replica's side of a fleet budget: the lease the hot path spends from, and the local
//! budget it falls back on.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use super::{FleetScope, FleetSettings, FleetStatus, FleetStore, Grant, LEASE_INTERVALS, Pool};
use super::{SyncRequest, sync};
use crate::budget::{AttemptOutcome, Budget, Decision, Request};
use crate::clock::{Clock, Timestamp};
use crate::policy::{BudgetSpec, FleetFallback};

/// Where an executor's fleet budgets settle, and under which name.
#[derive(Clone, Debug)]
pub(crate) struct FleetLink {
    pub(crate) store: Arc<dyn FleetStore>,
    pub(crate) namespace: String,
    /// The executor's seed when one was given: with a store that allows it
    /// ([`FleetStore::reproducible`]), replica ids (and so the sync's jitter) follow from it,
    /// so a simulation gives the same output every run. Random otherwise.
    pub(crate) seed: Option<u64>,
}

/// Before the first settlement: gated attempts are denied (a replica knows nothing of the
/// fleet yet, and admitting would fail open).
const PENDING: u8 = 0;
/// Spending from the lease.
const FLEET: u8 = 1;
/// Spending from the local budget.
const FALLBACK: u8 = 2;
/// `fallback: deny` with the store out of reach.
const DENYING: u8 = 3;

/// Thousandths of a token: leases are counted in them so fractional shares add up.
const MILLI: i64 = 1000;

/// A budget whose allowance is the fleet's (`scope: fleet`). Its sync task holds a weak
/// reference and ends when the budget goes.
pub(crate) struct FleetBudget {
    mode: AtomicU8,
    /// The lease, in thousandths of a token.
    lease: AtomicI64,
    /// Thousandths of a token taken out of the lease (as the store asked, or when the lease
    /// was given up), in all: a running total, so a settlement sent again counts nothing twice.
    returned: AtomicI64,
    /// Thousandths of a token received in grants, in all.
    received: AtomicI64,
    /// Gated attempts denied since the last settlement.
    denied: AtomicU64,
    /// First attempts in all (a ratio budget's deposits).
    first: AtomicU64,
    /// When the budget was built: a replica that has not settled three intervals later falls
    /// back.
    created: Timestamp,
    /// What the budget spends from in fallback.
    local: ArcSwap<Local>,
    progress: Mutex<Progress>,
    /// `<namespace>:<budget>`.
    name: String,
    pub(super) replica: u64,
    pool: Pool,
    spec: BudgetSpec,
    fallback: FleetFallback,
    pub(super) settings: FleetSettings,
    /// The executor's clock: the local fallback's time (the hot path reads none while the
    /// budget spends from its lease).
    clock: Clock,
}

struct Local(Arc<dyn Budget>);

/// What the last settlements said.
#[derive(Default)]
struct Progress {
    epoch: u64,
    last_ok: Option<Timestamp>,
    replicas: u32,
    share: Option<f64>,
    available: f64,
}

impl FleetBudget {
    /// The fleet budget `name` of shape `spec`, settling through `link` on the current tokio
    /// runtime. Without a link or a runtime it spends from its local fallback from the start.
    pub(crate) fn start(
        name: &str,
        spec: &BudgetSpec,
        link: Option<&FleetLink>,
        clock: &Clock,
    ) -> Arc<dyn Budget> {
        let pool = spec.pool();
        let settings = link.map(|l| l.store.settings()).unwrap_or_default();
        let namespace = link.map_or("", |l| l.namespace.as_str());
        let shared = Arc::new(FleetBudget {
            mode: AtomicU8::new(PENDING),
            lease: AtomicI64::new(0),
            returned: AtomicI64::new(0),
            received: AtomicI64::new(0),
            denied: AtomicU64::new(0),
            first: AtomicU64::new(0),
            created: clock.now(),
            local: ArcSwap::from_pointee(Local(spec.build())),
            progress: Mutex::default(),
            name: format!("{namespace}:{name}"),
            replica: replica_id(
                link.filter(|l| l.store.reproducible()).and_then(|l| l.seed),
                name,
            ),
            pool,
            spec: spec.clone(),
            fallback: spec.fleet_fallback(),
            settings,
            clock: clock.clone(),
        });
        let task = link.map(|link| {
            let task = sync::run(Arc::downgrade(&shared), link.store.clone(), clock.clone());
            (link, Box::pin(task))
        });
        if !task.is_some_and(|(link, task)| link.store.spawn(task)) {
            shared.fall_back();
        }
        shared
    }
}

/// An id for one replica's budget: from `seed` (and the order budgets are built in) when
/// given, else random.
fn replica_id(seed: Option<u64>, budget: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, RandomState};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    match seed {
        Some(seed) => BuildHasherDefault::<DefaultHasher>::default().hash_one((seed, budget, n)),
        None => RandomState::new().hash_one((std::process::id(), n)),
    }
}

impl FleetBudget {
    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The settlement to send now (the denials it reports start again from zero).
    pub(super) fn request(&self) -> SyncRequest {
        SyncRequest {
            budget: self.name.clone(),
            replica: self.replica,
            epoch: self.progress().epoch,
            held: self.lease.load(Ordering::Acquire) as f64 / MILLI as f64,
            returned_milli: self.returned.load(Ordering::Acquire),
            received_milli: self.received.load(Ordering::Acquire),
            denied: self.denied.swap(0, Ordering::Relaxed),
            first_attempts: self.first.load(Ordering::Relaxed),
            pool: self.pool,
            interval: self.settings.interval,
        }
    }

    /// A settlement failed: its denials are reported again next time (the running totals
    /// are anyway).
    pub(super) fn unsent(&self, req: &SyncRequest) {
        self.denied.fetch_add(req.denied, Ordering::Relaxed);
    }

    /// A settlement sent at `sent` succeeded. The lease is timed from the sending, not the
    /// answer: the store cannot have settled it earlier.
    pub(super) fn settled(&self, grant: &Grant, sent: Timestamp) {
        let mut p = self.progress();
        p.epoch = grant.epoch;
        p.last_ok = Some(sent);
        p.replicas = grant.replicas;
        p.share = Some(grant.share);
        p.available = grant.available;
        drop(p);
        if grant.change_milli >= 0 {
            self.lease.fetch_add(grant.change_milli, Ordering::AcqRel);
            self.received
                .fetch_add(grant.change_milli, Ordering::AcqRel);
        } else {
            // Give back what is asked, or all that is left if calls spent some meanwhile.
            let asked = -grant.change_milli;
            let held = self
                .lease
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                    Some(held - asked.min(held.max(0)))
                })
                .unwrap_or_else(|held| held);
            self.returned
                .fetch_add(asked.min(held.max(0)), Ordering::AcqRel);
        }
        self.mode.store(FLEET, Ordering::Release);
    }

    /// When the budget falls back unless a settlement succeeds first: three intervals after
    /// the last success, or after it was built if it never settled.
    pub(super) fn lease_ends(&self) -> Option<Timestamp> {
        let since = match self.mode.load(Ordering::Acquire) {
            FLEET => self.progress().last_ok?,
            PENDING => self.created,
            _ => return None,
        };
        Some(since.plus(self.settings.interval * LEASE_INTERVALS))
    }

    /// Falls back if the lease has lapsed at `now`.
    pub(super) fn expire(&self, now: Timestamp) {
        if self.lease_ends().is_some_and(|end| now >= end) {
            self.fall_back();
        }
    }

    /// Gives up the lease and spends from the local fallback: this replica's share of the
    /// fleet's allowance as last known (the whole budget if never known), or nothing with
    /// `fallback: deny`.
    fn fall_back(&self) {
        let mode = match self.fallback {
            FleetFallback::Deny => DENYING,
            _ => {
                let share = self.progress().share;
                let local = match share {
                    Some(share) => self.pool.local_share(share),
                    None => self.spec.build(),
                };
                self.local.store(Arc::new(Local(local)));
                FALLBACK
            }
        };
        self.mode.store(mode, Ordering::Release);
        // The lease is given up, not spent: reported as returned, it goes back to the pool if
        // the store still counts the replica at the next settlement.
        let left = self.lease.swap(0, Ordering::AcqRel);
        self.returned.fetch_add(left.max(0), Ordering::AcqRel);
    }

    fn scope(&self) -> FleetScope {
        match self.mode.load(Ordering::Acquire) {
            FLEET | PENDING => FleetScope::Fleet,
            _ => FleetScope::LocalFallback,
        }
    }
}

impl Pool {
    /// A local budget holding `share` of this pool.
    fn local_share(&self, share: f64) -> Arc<dyn Budget> {
        use crate::budget::{Ratio, TokenBucket};
        match *self {
            Pool::TokenBucket {
                capacity,
                refill_per_second,
            } => Arc::new(TokenBucket::new(
                (capacity * share).ceil() as u64,
                refill_per_second * share,
            )),
            Pool::Ratio {
                ratio,
                min_per_second,
                window,
            } => Arc::new(Ratio::new(ratio, min_per_second * share, window)),
        }
    }
}

impl Budget for FleetBudget {
    #[inline]
    fn allow(&self, req: &Request<'_>) -> Decision {
        match self.mode.load(Ordering::Acquire) {
            FLEET => {
                let cost = i64::from(req.cost.max(1)) * MILLI;
                let taken = self
                    .lease
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                        (held >= cost).then_some(held - cost)
                    });
                if taken.is_ok() {
                    return Decision::allow();
                }
            }
            FALLBACK => {
                let req = Request {
                    now: self.clock.now(),
                    ..*req
                };
                return self.local.load().0.allow(&req);
            }
            _ => {}
        }
        self.denied.fetch_add(1, Ordering::Relaxed);
        Decision::deny()
    }

    /// Only a ratio budget counts first attempts (its deposits); a bucket ignores them.
    fn record_first_attempt(&self, req: &Request<'_>) {
        if !matches!(self.pool, Pool::Ratio { .. }) {
            return;
        }
        self.first.fetch_add(1, Ordering::Relaxed);
        if self.mode.load(Ordering::Acquire) == FALLBACK {
            let req = Request {
                now: self.clock.now(),
                ..*req
            };
            self.local.load().0.record_first_attempt(&req);
        }
    }

    fn record_outcome(&self, outcome: &AttemptOutcome<'_>) {
        if self.mode.load(Ordering::Acquire) == FALLBACK {
            self.local.load().0.record_outcome(outcome);
        }
    }

    /// The lease needs no time; the fallback reads the executor's clock itself.
    fn reads_clock(&self) -> bool {
        false
    }

    fn level(&self, now: Timestamp) -> Option<f64> {
        match self.mode.load(Ordering::Acquire) {
            FALLBACK => self.local.load().0.level(now),
            DENYING => Some(0.0),
            _ => Some(self.progress().available),
        }
    }

    fn max_level(&self) -> Option<f64> {
        match self.pool {
            Pool::TokenBucket { capacity, .. } => Some(capacity),
            Pool::Ratio { .. } => None,
        }
    }

    fn fleet_status(&self) -> Option<FleetStatus> {
        let p = self.progress();
        Some(FleetStatus {
            scope: self.scope(),
            sync_age: p.last_ok.map(|t| self.clock.now().since(t)),
            replicas: p.replicas,
        })
    }
}

impl fmt::Debug for FleetBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetBudget")
            .field("name", &self.name)
            .field("scope", &self.scope())
            .field(
                "lease",
                &(self.lease.load(Ordering::Relaxed) as f64 / MILLI as f64),
            )
            .finish_non_exhaustive()
    }
}
