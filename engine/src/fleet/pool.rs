//! The settlement, as the store runs it: the reference the Redis script mirrors line by line.
//!
//! The store keeps, per budget, the *pool* (tokens no replica holds) and, per replica, its
//! lease as last settled (`out`), its demand rate and when it last settled. A settlement:
//!
//! 1. refills the pool for the time since the last settlement (a ratio budget also takes the
//!    replica's deposits);
//! 2. returns the lease of every replica silent for four intervals to the pool;
//! 3. takes the replica's spend: what it held at its last settlement minus what it holds now
//!    and what it gave back since (which returns to the pool);
//! 4. caps the pool so that pool plus leases never exceed the budget's capacity;
//! 5. sizes the replica's lease as its share of all the tokens left (pool plus leases), its
//!    share being its demand over the fleet's, never below a tenth of an equal share, rounded
//!    up to a whole token. A lease below it gets the difference from the pool (never more than
//!    the pool has); a lease above it is asked to give the excess back, and the tokens return
//!    to the pool only once the replica has taken them out of its lease and said so.
//!
//! Every token is in the pool, in one lease, or spent, so while the store is reachable the
//! fleet never spends more than the budget's capacity plus its refill.

use std::collections::BTreeMap;

use super::{Grant, Pool, SyncRequest};

/// Replicas silent for this many intervals are gone; their leases return to the pool.
pub(crate) const TTL_INTERVALS: u64 = 4;
/// No replica's share falls below this fraction of an equal share.
pub(crate) const FLOOR_SHARE: f64 = 0.1;

/// One budget's state in the store.
#[derive(Clone, Debug)]
pub(crate) struct PoolState {
    epoch: u64,
    level: f64,
    updated_us: u64,
    first_sum: f64,
    members: BTreeMap<u64, Member>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Member {
    out: f64,
    rate: f64,
    seen_us: u64,
}

impl Pool {
    /// Tokens in a fresh pool: a full bucket, or a ratio budget's floor over its window.
    pub(crate) fn initial(&self) -> f64 {
        match *self {
            Pool::TokenBucket { capacity, .. } => capacity,
            Pool::Ratio {
                min_per_second,
                window,
                ..
            } => min_per_second * window.as_secs_f64(),
        }
    }
}

impl PoolState {
    /// Tokens in the pool plus every lease.
    #[cfg(test)]
    pub(crate) fn available(&self) -> f64 {
        self.level + self.members.values().map(|m| m.out).sum::<f64>()
    }
}

/// Settles `req` against the budget's state (created fresh when there is none) at the store's
/// time `now_us`, in microseconds.
pub(crate) fn settle(slot: &mut Option<PoolState>, req: &SyncRequest, now_us: u64) -> Grant {
    let interval_us = (req.interval.as_micros() as u64).max(1);
    let st = slot.get_or_insert_with(|| PoolState {
        epoch: now_us.max(1),
        level: req.pool.initial(),
        updated_us: now_us,
        first_sum: 0.0,
        members: BTreeMap::new(),
    });
    // 1. Refill.
    let dt = now_us.saturating_sub(st.updated_us) as f64 / 1e6;
    st.updated_us = st.updated_us.max(now_us);
    let first = req.first_attempts as f64;
    let cap = match req.pool {
        Pool::TokenBucket {
            capacity,
            refill_per_second,
        } => {
            st.level += refill_per_second * dt;
            capacity
        }
        Pool::Ratio {
            ratio,
            min_per_second,
            window,
        } => {
            let window = window.as_secs_f64().max(1e-3);
            st.first_sum = st.first_sum * (-dt / window).exp() + first;
            st.level += min_per_second * dt + ratio * first;
            ratio * st.first_sum + min_per_second * window
        }
    };
    // 2. The silent are gone.
    let ttl = TTL_INTERVALS * interval_us;
    let mut returned = 0.0;
    st.members.retain(|id, m| {
        let alive = *id == req.replica || now_us.saturating_sub(m.seen_us) <= ttl;
        if !alive {
            returned += m.out;
        }
        alive
    });
    st.level += returned;
    // 3. The replica's spend, and what it gave back since.
    let known = req.epoch == st.epoch && st.members.contains_key(&req.replica);
    let m = st.members.entry(req.replica).or_default();
    let (spent, elapsed_us) = if known {
        st.level += req.returned;
        (
            (m.out - req.held - req.returned).max(0.0),
            now_us.saturating_sub(m.seen_us).max(interval_us),
        )
    } else {
        (0.0, interval_us)
    };
    m.out = req.held;
    m.rate = (spent + req.denied as f64) / (elapsed_us as f64 / 1e6);
    m.seen_us = now_us;
    // 4. Never more than the capacity.
    let out_sum: f64 = st.members.values().map(|m| m.out).sum();
    st.level = st.level.min((cap - out_sum).max(0.0));
    // 5. The next lease.
    let n = st.members.len() as f64;
    let demand: f64 = st.members.values().map(|m| m.rate).sum();
    let m = st.members.get_mut(&req.replica).expect("inserted above");
    let share = if demand > 0.0 {
        (m.rate / demand).max(FLOOR_SHARE / n).min(1.0)
    } else {
        1.0 / n
    };
    // Whole tokens where the pool has them: a lease of 0.9 would strand its tokens.
    let available = (st.level + out_sum).min(cap);
    let target = (share * available).max(0.0).ceil();
    let change_milli = ((target - m.out).min(st.level) * 1000.0).floor();
    // Tokens taken from the pool are the replica's now; tokens asked back stay counted in its
    // lease until it reports them returned, so none is ever in two places.
    if change_milli > 0.0 {
        let change = change_milli / 1000.0;
        st.level -= change;
        m.out += change;
    }
    Grant {
        change_milli: change_milli as i64,
        epoch: st.epoch,
        replicas: st.members.len() as u32,
        share,
        available,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const I: Duration = Duration::from_millis(500);

    fn bucket(capacity: f64) -> Pool {
        Pool::TokenBucket {
            capacity,
            refill_per_second: 0.0,
        }
    }

    /// Replica `replica` of epoch `epoch` holds `held`, gave `returned` back and was denied
    /// `denied` times.
    fn req(replica: u64, epoch: u64, held: f64, returned: f64, denied: u64) -> SyncRequest {
        SyncRequest {
            budget: "svc:retries".into(),
            replica,
            epoch,
            held,
            returned,
            denied,
            first_attempts: 0,
            pool: bucket(100.0),
            interval: I,
        }
    }

    #[test]
    fn a_lease_given_back_reaches_the_pool_only_once_the_replica_has_let_it_go() {
        let mut st = None;
        let a = settle(&mut st, &req(1, 0, 0.0, 0.0, 0), 1_000);
        assert_eq!(a.change_milli, 100_000, "alone, it takes the whole pool");
        let b = settle(&mut st, &req(2, 0, 0.0, 0.0, 0), 2_000);
        assert_eq!(b.change_milli, 0, "the pool is empty");
        let a2 = settle(&mut st, &req(1, a.epoch, 100.0, 0.0, 0), 500_000);
        assert_eq!(a2.change_milli, -50_000, "asked to give half back");
        let b2 = settle(&mut st, &req(2, b.epoch, 0.0, 0.0, 0), 600_000);
        assert_eq!(b2.change_milli, 0, "not yet: A still holds them");
        let a3 = settle(&mut st, &req(1, a.epoch, 50.0, 50.0, 0), 1_000_000);
        assert_eq!(a3.change_milli, 0);
        let b3 = settle(&mut st, &req(2, b.epoch, 0.0, 0.0, 0), 1_100_000);
        assert_eq!(b3.change_milli, 50_000);
        assert_eq!(
            st.as_ref().unwrap().available(),
            100.0,
            "nothing created or lost"
        );
    }

    #[test]
    fn spending_is_charged_and_demand_sets_the_share() {
        let mut st = None;
        let a = settle(&mut st, &req(1, 0, 0.0, 0.0, 0), 0);
        let b = settle(&mut st, &req(2, 0, 0.0, 0.0, 0), 1);
        // A spends 30 of its 100; B asks 90 times with nothing to spend.
        let a2 = settle(&mut st, &req(1, a.epoch, 70.0, 0.0, 0), 500_000);
        assert_eq!(a2.change_milli, 0, "A is the only one with demand so far");
        let b2 = settle(&mut st, &req(2, b.epoch, 0.0, 0.0, 90), 500_001);
        assert!(
            (b2.share - 0.75).abs() < 1e-9,
            "B asked 180/s, A spent 60/s: {b2:?}"
        );
        assert_eq!(st.as_ref().unwrap().available(), 70.0, "30 spent");
        // A spent nothing more: its share falls to the floor, 5% of 70 rounded up to 4.
        let a3 = settle(&mut st, &req(1, a.epoch, 70.0, 0.0, 0), 1_000_000);
        assert!((a3.share - 0.05).abs() < 1e-9, "{a3:?}");
        assert_eq!(a3.change_milli, -66_000);
        let a4 = settle(&mut st, &req(1, a.epoch, 4.0, 66.0, 0), 1_500_000);
        assert_eq!(a4.change_milli, 0);
        let b3 = settle(&mut st, &req(2, b.epoch, 0.0, 0.0, 90), 1_500_001);
        assert_eq!(b3.change_milli, 66_000);
        assert_eq!(st.as_ref().unwrap().available(), 70.0);
    }

    #[test]
    fn a_silent_replicas_lease_returns_after_four_intervals() {
        let mut st = None;
        let a = settle(&mut st, &req(1, 0, 0.0, 0.0, 0), 0);
        assert_eq!(a.change_milli, 100_000);
        let b = settle(&mut st, &req(2, 0, 0.0, 0.0, 1), 1_000_000);
        assert_eq!(b.change_milli, 0);
        let b2 = settle(&mut st, &req(2, b.epoch, 0.0, 0.0, 1), 2_000_001);
        assert_eq!(b2.replicas, 1);
        assert_eq!(b2.change_milli, 100_000);
    }

    #[test]
    fn a_lost_state_starts_a_new_epoch_counting_the_lease_in_hand() {
        let mut st = None;
        let a = settle(&mut st, &req(1, 0, 0.0, 0.0, 0), 5);
        st = None; // the store restarted
        let a2 = settle(&mut st, &req(1, a.epoch, 40.0, 10.0, 0), 9);
        assert_ne!(a2.epoch, a.epoch);
        assert_eq!(
            a2.change_milli, 60_000,
            "its 40 count against the new pool's 100"
        );
        assert_eq!(
            st.as_ref().unwrap().available(),
            100.0,
            "the 10 returned to the old one are not"
        );
    }

    #[test]
    fn a_ratio_pool_grows_with_first_attempts_and_fades() {
        let mut st = None;
        let p = Pool::Ratio {
            ratio: 0.1,
            min_per_second: 0.0,
            window: Duration::from_secs(10),
        };
        let mut r = req(1, 0, 0.0, 0.0, 0);
        r.pool = p;
        r.first_attempts = 1_000;
        let g = settle(&mut st, &r, 0);
        assert_eq!(g.change_milli, 100_000, "10% of 1,000 first attempts");
        let mut r = req(1, g.epoch, 100.0, 0.0, 0);
        r.pool = p;
        let g = settle(&mut st, &r, 20_000_000);
        assert!(
            g.available < 14.0,
            "two windows later deposits count e^-2: {g:?}"
        );
        assert_eq!(g.change_milli, -86_000, "the faded tokens are asked back");
        let mut r = req(1, g.epoch, 14.0, 86.0, 0);
        r.pool = p;
        settle(&mut st, &r, 20_000_001);
        assert!(
            st.as_ref().unwrap().available() <= 14.0,
            "and vanish once returned"
        );
    }
}
