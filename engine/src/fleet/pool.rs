//! The settlement, as the store runs it: the reference the Redis script mirrors line by line.
//!
//! The store keeps, per budget, the *pool* (tokens no replica holds) and, per replica, its
//! lease as last settled (`out`), its demand rate, when it last settled and how long it may stay
//! silent, and the running totals it reported (tokens given back, first attempts) and was
//! granted. A replica reports running totals rather than amounts since its last settlement, so
//! a settlement whose answer was lost (a timeout after the script ran) can be sent again
//! without counting anything twice. A settlement:
//!
//! 1. takes what the replica reports: what it gave back since (which returns to the pool),
//!    grants it never received (their answer was lost: back to the pool), and its spend (what
//!    it held at its last settlement, less all that and what it holds now);
//! 2. refills the pool for the time since the last settlement (a ratio budget also takes the
//!    replica's new first attempts as deposits);
//! 3. drops every replica silent for four of its intervals, counting its lease as spent: it may
//!    have spent it before its own lease lapsed, and refill brings the tokens back;
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

/// Replicas silent for this many of their intervals are gone.
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

/// One replica, as the store knows it.
#[derive(Clone, Copy, Debug, Default)]
struct Member {
    /// Its lease as of its last settlement, in tokens.
    out: f64,
    /// Its demand: tokens spent and attempts denied per second.
    rate: f64,
    seen_us: u64,
    /// How long it may stay silent: four of its own intervals.
    ttl_us: u64,
    /// The running totals it reported last: thousandths of a token given back, first
    /// attempts.
    returned_milli: i64,
    first: u64,
    /// Thousandths of a token granted to it, in all.
    granted_milli: i64,
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
    // 1. What the replica reports. A replica the store does not know (new, or known before the
    // store lost its state) starts from what it reports; only a brand-new one's first attempts
    // count as deposits.
    let (m, spent, elapsed_us, first) = match st.members.get_mut(&req.replica) {
        Some(m) => {
            let returned = (req.returned_milli - m.returned_milli).max(0);
            let lost = (m.granted_milli - req.received_milli).max(0);
            let back = (returned + lost) as f64 / 1000.0;
            st.level += back;
            let spent = (m.out - back - req.held).max(0.0);
            m.granted_milli -= lost;
            let elapsed = now_us.saturating_sub(m.seen_us).max(interval_us);
            let first = req.first_attempts.saturating_sub(m.first);
            (m, spent, elapsed, first)
        }
        None => {
            let first = if req.epoch == 0 {
                req.first_attempts
            } else {
                0
            };
            let m = st.members.entry(req.replica).or_insert(Member {
                granted_milli: req.received_milli,
                ..Member::default()
            });
            (m, 0.0, interval_us, first)
        }
    };
    m.out = req.held;
    m.rate = (spent + req.denied as f64) / (elapsed_us as f64 / 1e6);
    m.seen_us = now_us;
    m.ttl_us = TTL_INTERVALS * interval_us;
    m.returned_milli = req.returned_milli;
    m.first = req.first_attempts;
    // 2. Refill.
    let dt = now_us.saturating_sub(st.updated_us) as f64 / 1e6;
    st.updated_us = st.updated_us.max(now_us);
    let first = first as f64;
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
    // 3. The silent are gone; what they held counts as spent.
    st.members
        .retain(|id, m| *id == req.replica || now_us.saturating_sub(m.seen_us) <= m.ttl_us);
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
    // Whole tokens only: fractions spread over many replicas would strand a token each.
    let change_milli = (target - m.out).min(st.level).floor() * 1000.0;
    // Tokens taken from the pool are the replica's now; tokens asked back stay counted in its
    // lease until it reports them returned, so none is ever in two places.
    if change_milli > 0.0 {
        st.level -= change_milli / 1000.0;
        m.out += change_milli / 1000.0;
        m.granted_milli += change_milli as i64;
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

    /// Replica `replica` of epoch `epoch` holds `held` tokens, has given back `returned` and
    /// received `received` in all, and was denied `denied` times.
    fn req(replica: u64, epoch: u64, held: f64, returned: f64, received: f64) -> SyncRequest {
        SyncRequest {
            budget: "svc:retries".into(),
            replica,
            epoch,
            held,
            returned_milli: (returned * 1000.0) as i64,
            received_milli: (received * 1000.0) as i64,
            denied: 0,
            first_attempts: 0,
            pool: Pool::TokenBucket {
                capacity: 100.0,
                refill_per_second: 0.0,
            },
            interval: I,
        }
    }

    fn denied(mut r: SyncRequest, n: u64) -> SyncRequest {
        r.denied = n;
        r
    }

    fn available(st: &Option<PoolState>) -> f64 {
        st.as_ref().unwrap().available()
    }

    #[test]
    fn a_lease_given_back_reaches_the_pool_only_once_the_replica_has_let_it_go() {
        let mut st = None;
        let a = settle(&mut st, &req(1, 0, 0.0, 0.0, 0.0), 1_000);
        assert_eq!(a.change_milli, 100_000, "alone, it takes the whole pool");
        let b = settle(&mut st, &req(2, 0, 0.0, 0.0, 0.0), 2_000);
        assert_eq!(b.change_milli, 0, "the pool is empty");
        let a2 = settle(&mut st, &req(1, a.epoch, 100.0, 0.0, 100.0), 500_000);
        assert_eq!(a2.change_milli, -50_000, "asked to give half back");
        let b2 = settle(&mut st, &req(2, b.epoch, 0.0, 0.0, 0.0), 600_000);
        assert_eq!(b2.change_milli, 0, "not yet: A still holds them");
        let a3 = settle(&mut st, &req(1, a.epoch, 50.0, 50.0, 100.0), 1_000_000);
        assert_eq!(a3.change_milli, 0);
        let b3 = settle(&mut st, &req(2, b.epoch, 0.0, 0.0, 0.0), 1_100_000);
        assert_eq!(b3.change_milli, 50_000);
        assert_eq!(available(&st), 100.0, "nothing created or lost");
    }

    #[test]
    fn a_settlement_sent_again_after_a_lost_answer_counts_nothing_twice() {
        let mut st = None;
        let a = settle(&mut st, &req(1, 0, 0.0, 0.0, 0.0), 0);
        settle(&mut st, &req(1, a.epoch, 100.0, 0.0, 100.0), 500_000);
        // A gives 50 back; its report runs in the store but the answer is lost, so it sends
        // the same running totals again.
        let report = req(1, a.epoch, 50.0, 50.0, 100.0);
        settle(&mut st, &report, 1_000_000);
        settle(&mut st, &report, 1_100_000);
        assert_eq!(available(&st), 100.0, "the 50 returned once, not twice");
    }

    #[test]
    fn a_grant_whose_answer_was_lost_goes_back_to_the_pool() {
        let mut st = None;
        let a = settle(&mut st, &req(1, 0, 0.0, 0.0, 0.0), 0);
        assert_eq!(a.change_milli, 100_000);
        // The answer never arrived: A still holds nothing and received nothing.
        let a2 = settle(&mut st, &req(1, 0, 0.0, 0.0, 0.0), 500_000);
        assert_eq!(
            a2.change_milli, 100_000,
            "granted again, not charged as spent"
        );
        assert_eq!(available(&st), 100.0);
    }

    #[test]
    fn spending_is_charged_and_demand_sets_the_share() {
        let mut st = None;
        let a = settle(&mut st, &req(1, 0, 0.0, 0.0, 0.0), 0);
        let b = settle(&mut st, &req(2, 0, 0.0, 0.0, 0.0), 1);
        // A spends 30 of its 100; B asks 90 times with nothing to spend.
        let a2 = settle(&mut st, &req(1, a.epoch, 70.0, 0.0, 100.0), 500_000);
        assert_eq!(a2.change_milli, 0, "A is the only one with demand so far");
        let b2 = settle(
            &mut st,
            &denied(req(2, b.epoch, 0.0, 0.0, 0.0), 90),
            500_001,
        );
        assert!(
            (b2.share - 0.75).abs() < 1e-9,
            "B asked 180/s, A spent 60/s: {b2:?}"
        );
        assert_eq!(available(&st), 70.0, "30 spent");
        // A spent nothing more: its share falls to the floor, 5% of 70 rounded up to 4.
        let a3 = settle(&mut st, &req(1, a.epoch, 70.0, 0.0, 100.0), 1_000_000);
        assert!((a3.share - 0.05).abs() < 1e-9, "{a3:?}");
        assert_eq!(a3.change_milli, -66_000);
        let a4 = settle(&mut st, &req(1, a.epoch, 4.0, 66.0, 100.0), 1_500_000);
        assert_eq!(a4.change_milli, 0);
        let b3 = settle(
            &mut st,
            &denied(req(2, b.epoch, 0.0, 0.0, 0.0), 90),
            1_500_001,
        );
        assert_eq!(b3.change_milli, 66_000);
        assert_eq!(available(&st), 70.0);
    }

    #[test]
    fn a_silent_replicas_lease_counts_as_spent_after_four_of_its_intervals() {
        let mut st = None;
        let a = settle(&mut st, &req(1, 0, 0.0, 0.0, 0.0), 0);
        assert_eq!(a.change_milli, 100_000);
        let b = settle(&mut st, &denied(req(2, 0, 0.0, 0.0, 0.0), 1), 1_000_000);
        assert_eq!(b.change_milli, 0);
        // A may have spent its lease before it lapsed: its 100 are gone, not handed to B.
        let b2 = settle(
            &mut st,
            &denied(req(2, b.epoch, 0.0, 0.0, 0.0), 1),
            2_000_001,
        );
        assert_eq!(b2.replicas, 1);
        assert_eq!(b2.change_milli, 0);
        assert_eq!(available(&st), 0.0);
    }

    #[test]
    fn each_replica_is_judged_silent_by_its_own_interval() {
        let mut st = None;
        let mut slow = req(1, 0, 0.0, 0.0, 0.0);
        slow.interval = Duration::from_secs(2);
        let a = settle(&mut st, &slow, 0);
        // B settles every 250ms; A's 2s interval still holds it for 8s.
        let mut fast = req(2, 0, 0.0, 0.0, 0.0);
        fast.interval = Duration::from_millis(250);
        let b = settle(&mut st, &fast, 3_000_000);
        assert_eq!(b.replicas, 2, "A is alive: {a:?}");
    }

    #[test]
    fn a_lost_state_starts_a_new_epoch_counting_the_lease_in_hand() {
        let mut st = None;
        let a = settle(&mut st, &req(1, 0, 0.0, 0.0, 0.0), 5);
        st = None; // the store restarted
        let a2 = settle(&mut st, &req(1, a.epoch, 40.0, 10.0, 100.0), 9);
        assert_ne!(a2.epoch, a.epoch);
        assert_eq!(
            a2.change_milli, 60_000,
            "its 40 count against the new pool's 100"
        );
        assert_eq!(
            available(&st),
            100.0,
            "the 10 returned to the old one are not"
        );
    }

    #[test]
    fn a_ratio_pool_grows_with_first_attempts_and_fades() {
        let p = Pool::Ratio {
            ratio: 0.1,
            min_per_second: 0.0,
            window: Duration::from_secs(10),
        };
        let ratio = |mut r: SyncRequest, first: u64| {
            r.pool = p;
            r.first_attempts = first;
            r
        };
        let mut st = None;
        let g = settle(&mut st, &ratio(req(1, 0, 0.0, 0.0, 0.0), 1_000), 0);
        assert_eq!(g.change_milli, 100_000, "10% of 1,000 first attempts");
        // The same running total again deposits nothing more.
        let g2 = settle(
            &mut st,
            &ratio(req(1, g.epoch, 100.0, 0.0, 100.0), 1_000),
            1_000,
        );
        assert_eq!(g2.change_milli, 0);
        let g = settle(
            &mut st,
            &ratio(req(1, g.epoch, 100.0, 0.0, 100.0), 1_000),
            20_000_000,
        );
        assert!(
            g.available < 14.0,
            "two windows later deposits count e^-2: {g:?}"
        );
        assert_eq!(g.change_milli, -86_000, "the faded tokens are asked back");
        settle(
            &mut st,
            &ratio(req(1, g.epoch, 14.0, 86.0, 100.0), 1_000),
            20_000_001,
        );
        assert!(available(&st) <= 14.0, "and vanish once returned");
    }
}
