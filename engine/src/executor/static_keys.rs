//! Where the states of keys that live for the whole program (`key!`, `Key::from_static`) are:
//! their text's address, remembered once, stands for the text on every later call, so such a
//! call skips hashing the key and searching the map.
//!
//! Two keys with the same address and length have the same text: a `&'static str` is never
//! freed and never changes. A slot is written once and read without a lock; a key that finds
//! its slots taken by other keys takes the map's path, which is the same answer, slower.
//!
//! A slot holds the key's state itself (a second reference to the one in the key table) and,
//! under policies given in code, the key's compiled policy once it is: a call reads both with
//! no further look-up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::keyed::{Compiled, KeyState};

/// Slots in all (a power of two).
const SLOTS: usize = 256;
/// Slots a key may use, from the one its address hashes to.
const PROBES: usize = 4;
/// A slot being written: readers pass it by.
const WRITING: usize = 1;

pub(super) struct StaticKeys {
    slots: [Slot; SLOTS],
}

#[derive(Default)]
struct Slot {
    /// The text's address once the slot is written, `WRITING` while it is, else 0.
    addr: AtomicUsize,
    len: AtomicUsize,
    state: OnceLock<Arc<KeyState>>,
    /// The state's compiled policy, when it never changes (policies given in code).
    fixed: OnceLock<Arc<Compiled>>,
}

impl StaticKeys {
    pub(super) fn new() -> StaticKeys {
        StaticKeys {
            slots: std::array::from_fn(|_| Slot::default()),
        }
    }

    fn probe(text: &'static str) -> impl Iterator<Item = usize> {
        let addr = text.as_ptr() as usize;
        // Texts are at least byte-aligned and often share alignment: mix the address.
        let start = (addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) & (SLOTS - 1);
        (0..PROBES).map(move |i| (start + i) & (SLOTS - 1))
    }

    /// The slot remembered for `text`, if it was.
    #[inline]
    fn slot(&self, text: &'static str) -> Option<&Slot> {
        let addr = text.as_ptr() as usize;
        for at in StaticKeys::probe(text) {
            let slot = &self.slots[at];
            match slot.addr.load(Ordering::Acquire) {
                0 => return None,
                a if a == addr && slot.len.load(Ordering::Relaxed) == text.len() => {
                    return Some(slot);
                }
                _ => {}
            }
        }
        None
    }

    /// The state remembered for `text`, if it was.
    #[inline]
    pub(super) fn get(&self, text: &'static str) -> Option<&Arc<KeyState>> {
        self.slot(text)?.state.get()
    }

    /// The state remembered for `text` and its compiled policy, once the key's policy given in
    /// code is compiled.
    #[inline]
    pub(super) fn get_fixed(&self, text: &'static str) -> Option<(&Arc<KeyState>, &Compiled)> {
        let slot = self.slot(text)?;
        let state = slot.state.get()?;
        let compiled = match slot.fixed.get() {
            Some(compiled) => compiled,
            // Copied from the state once the key's first call compiled it.
            None => {
                let compiled = state.fixed()?;
                slot.fixed.get_or_init(|| compiled.clone())
            }
        };
        Some((state, compiled))
    }

    /// Remembers `state` for `text` in its first free slot; does nothing when they are all
    /// taken or `text` is there already.
    pub(super) fn remember(&self, text: &'static str, state: &Arc<KeyState>) {
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
                let _ = slot.state.set(state.clone());
                slot.addr.store(addr, Ordering::Release);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Key;

    fn state(text: &str) -> Arc<KeyState> {
        Arc::new(KeyState::new(Key::parse(text), Arc::default()))
    }

    fn found(keys: &StaticKeys, text: &'static str) -> Option<Key> {
        keys.get(text).map(|s| s.key.clone())
    }

    #[test]
    fn a_text_is_found_by_its_address_and_length() {
        let keys = StaticKeys::new();
        let whole: &'static str = "payments.Charge";
        keys.remember(whole, &state(whole));
        assert_eq!(found(&keys, whole), Some(Key::parse(whole)));
        // Same address, shorter: another key.
        assert_eq!(found(&keys, &whole[..8]), None);
        // Same text elsewhere: not remembered, so the map answers.
        let elsewhere: &'static str = String::from(whole).leak();
        assert_eq!(found(&keys, elsewhere), None);
    }

    #[test]
    fn a_full_neighbourhood_leaves_the_key_to_the_map() {
        let keys = StaticKeys::new();
        let texts: Vec<&'static str> = (0..2_000)
            .map(|i| format!("svc.k{i}").leak() as &str)
            .collect();
        for t in &texts {
            keys.remember(t, &state(t));
        }
        let answered = texts.iter().filter(|t| keys.get(t).is_some()).count();
        assert!(answered <= SLOTS, "{answered}");
        assert!(answered > SLOTS / 2, "{answered}");
        // Nothing is ever found under another key's text.
        assert!(
            texts
                .iter()
                .all(|t| found(&keys, t).is_none_or(|k| k.as_str() == *t))
        );
    }
}
