//! The bulkhead: a cap on a key's attempts in flight, retries and hedges included. An attempt
//! takes a slot before its budget is asked and gives it back when it ends, however it ends
//! (its [`InFlight`] is dropped). Nothing waits for a slot: an attempt that finds none is
//! refused at once.

use std::sync::atomic::{AtomicU32, Ordering};

/// A key's count of attempts in flight, against its policy's cap.
#[derive(Clone, Copy)]
pub(crate) struct Bulkhead<'a> {
    count: &'a AtomicU32,
    max: u32,
}

impl<'a> Bulkhead<'a> {
    pub(crate) fn new(count: &'a AtomicU32, max: u32) -> Bulkhead<'a> {
        Bulkhead { count, max }
    }

    /// Takes a slot, if one is free.
    #[inline]
    pub(crate) fn enter(self) -> Option<InFlight<'a>> {
        let max = self.max;
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlight(self.count))
    }
}

/// A slot held by an attempt in flight; dropping it frees the slot.
pub(crate) struct InFlight<'a>(&'a AtomicU32);

impl Drop for InFlight<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_taken_up_to_the_cap_and_freed_on_drop() {
        let count = AtomicU32::new(0);
        let b = Bulkhead::new(&count, 2);
        let first = b.enter().expect("a free slot");
        let second = b.enter().expect("a free slot");
        assert!(b.enter().is_none(), "the third finds none");
        drop(first);
        let third = b.enter().expect("freed by the first");
        drop((second, third));
        assert_eq!(count.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn concurrent_attempts_never_exceed_the_cap() {
        let count = AtomicU32::new(0);
        let peak = AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        if let Some(slot) = Bulkhead::new(&count, 3).enter() {
                            peak.fetch_max(count.load(Ordering::Acquire), Ordering::Relaxed);
                            drop(slot);
                        }
                    }
                });
            }
        });
        assert!(peak.load(Ordering::Relaxed) <= 3);
        assert_eq!(count.load(Ordering::Relaxed), 0);
    }
}
