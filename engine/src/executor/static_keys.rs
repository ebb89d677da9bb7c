//! Where the states of keys that live for the whole program (`key!`, `Key::from_static`) are:
//! their text's address, remembered once, stands for the text on every later call, so such a
//! call skips hashing the key and searching the map.
//!
//! Two keys with the same address and length have the same text: a `&'static str` is never
//! freed and never changes. A slot is written once and read without a lock; a key that finds
//! its slots taken by other keys takes the map's path, which is the same answer, slower.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Slots in all (a power of two).
const SLOTS: usize = 256;
/// Slots a key may use, from the one its address hashes to.
const PROBES: usize = 4;
/// A slot being written: readers pass it by.
const WRITING: usize = 1;

pub(super) struct StaticKeys {
    slots: Box<[Slot]>,
}

#[derive(Default)]
struct Slot {
    /// The text's address once the slot is written, `WRITING` while it is, else 0.
    addr: AtomicUsize,
    len: AtomicUsize,
    index: AtomicU32,
}

impl StaticKeys {
    pub(super) fn new() -> StaticKeys {
        StaticKeys {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
        }
    }

    fn probe(text: &'static str) -> impl Iterator<Item = usize> {
        let addr = text.as_ptr() as usize;
        // Texts are at least byte-aligned and often share alignment: mix the address.
        let start = (addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) & (SLOTS - 1);
        (0..PROBES).map(move |i| (start + i) & (SLOTS - 1))
    }

    /// The index remembered for `text`, if it was.
    #[inline]
    pub(super) fn get(&self, text: &'static str) -> Option<u32> {
        let addr = text.as_ptr() as usize;
        for at in StaticKeys::probe(text) {
            let slot = &self.slots[at];
            match slot.addr.load(Ordering::Acquire) {
                0 => return None,
                a if a == addr && slot.len.load(Ordering::Relaxed) == text.len() => {
                    return Some(slot.index.load(Ordering::Relaxed));
                }
                _ => {}
            }
        }
        None
    }

    /// Remembers `index` for `text` in its first free slot; does nothing when they are all
    /// taken or `text` is there already.
    pub(super) fn remember(&self, text: &'static str, index: u32) {
        let addr = text.as_ptr() as usize;
        if addr <= WRITING || self.get(text).is_some() {
            return;
        }
        for at in StaticKeys::probe(text) {
            let slot = &self.slots[at];
            if slot
                .addr
                .compare_exchange(0, WRITING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                slot.len.store(text.len(), Ordering::Relaxed);
                slot.index.store(index, Ordering::Relaxed);
                slot.addr.store(addr, Ordering::Release);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_found_by_its_address_and_length() {
        let keys = StaticKeys::new();
        let whole: &'static str = "payments.Charge";
        keys.remember(whole, 7);
        assert_eq!(keys.get(whole), Some(7));
        // Same address, shorter: another key.
        assert_eq!(keys.get(&whole[..8]), None);
        // Same text elsewhere: not remembered, so the map answers.
        let elsewhere: &'static str = String::from(whole).leak();
        assert_eq!(keys.get(elsewhere), None);
    }

    #[test]
    fn a_full_neighbourhood_leaves_the_key_to_the_map() {
        let keys = StaticKeys::new();
        let texts: Vec<&'static str> = (0..2_000)
            .map(|i| format!("svc.k{i}").leak() as &str)
            .collect();
        for (i, t) in texts.iter().enumerate() {
            keys.remember(t, i as u32);
        }
        let found = texts
            .iter()
            .enumerate()
            .filter(|(i, t)| keys.get(t) == Some(*i as u32))
            .count();
        assert!(found <= SLOTS, "{found}");
        assert!(found > SLOTS / 2, "{found}");
        // Nothing is ever found under another key's index.
        assert!(
            texts
                .iter()
                .enumerate()
                .all(|(i, t)| keys.get(t).is_none_or(|got| got == i as u32))
        );
    }
}
