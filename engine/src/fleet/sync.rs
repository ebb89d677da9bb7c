//! The background task that settles a fleet budget with its store.
//!
//! It settles every interval, drawn between ⅔ and 4⁄3 of the nominal one so replicas do not
//! settle in step; its first four settlements come at an eighth of that, so that a fleet
//! starting together shares the pool quickly. Each settlement has the settings' timeout (cut short if the lease lapses
//! first). After a failure the next try
//! waits one interval, then one and a half (jittered, never longer, so a store that comes back
//! is found within two intervals); the lease lapses three intervals after the last success,
//! checked on time even while the store is failing. The task ends when its budget is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::budget::FleetBudget;
use super::{FleetError, FleetStore};
use crate::clock::{Clock, first};

/// Settlements made at an eighth of the interval when a budget starts.
const WARM_UP: u32 = 4;

/// Settles `budget` with `store` on `clock` (the executor's) until the budget is dropped.
pub(super) async fn run(budget: Weak<FleetBudget>, store: Arc<dyn FleetStore>, clock: Clock) {
    let mut next_try = clock.now();
    let mut failures = 0u32;
    let mut settled = 0u32;
    let mut jitter = Jitter::new(budget.upgrade().map_or(1, |b| b.replica));
    loop {
        let Some(shared) = budget.upgrade() else {
            return;
        };
        let interval = shared.settings.interval;
        if clock.now() >= next_try {
            let req = shared.request();
            let sent = clock.now();
            // A settlement still pending when the lease lapses is given up: the lapse is on
            // time, whatever the store does. Nor may one outlast half an interval.
            let mut deadline = sent.plus(shared.settings.timeout.min(interval / 2));
            if let Some(end) = shared.lease_ends() {
                deadline = deadline.min(end);
            }
            let answer = first(store.sync(&req), clock.sleep_until(deadline))
                .await
                .unwrap_or(Err(FleetError::Timeout(shared.settings.timeout)));
            let now = clock.now();
            match answer {
                Ok(grant) => {
                    shared.settled(&grant, sent);
                    failures = 0;
                    settled += 1;
                    // A fleet that starts together would leave the whole pool with whichever
                    // replica settled first until its next settlement: the first few come
                    // sooner, so leases follow demand within a fraction of an interval.
                    let wait = if settled <= WARM_UP {
                        interval / 8
                    } else {
                        interval
                    };
                    next_try = now.plus(jitter.around(wait));
                }
                Err(_) => {
                    shared.unsent(&req);
                    shared.expire(now);
                    failures = failures.saturating_add(1);
                    let wait = if failures == 1 {
                        interval
                    } else {
                        interval.mul_f64(1.5)
                    };
                    next_try = now.plus(jitter.below(wait));
                }
            }
        }
        shared.expire(clock.now());
        let wake = match shared.lease_ends() {
            Some(end) => end.min(next_try),
            None => next_try,
        };
        drop(shared);
        clock.sleep_until(wake).await;
    }
}

/// A small xorshift generator for the waits (no shared state, no dependency).
struct Jitter(u64);

impl Jitter {
    fn new(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }

    /// A number in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Between ⅔ and 4⁄3 of `d`.
    fn around(&mut self, d: Duration) -> Duration {
        d.mul_f64(2.0 / 3.0 + self.next() * 2.0 / 3.0)
    }

    /// Between ⅔ of `d` and `d`.
    fn below(&mut self, d: Duration) -> Duration {
        d.mul_f64(2.0 / 3.0 + self.next() / 3.0)
    }
}
