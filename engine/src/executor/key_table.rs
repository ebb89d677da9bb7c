//! The executor's keys: every spelling called so far, mapped to its key's state.
//!
//! A call by key string finds its state with one lock-free read of a small map and borrows
//! it: no lock and no reference count, so calls to one key from many threads write to no
//! shared memory. Adding a spelling (once per spelling) copies one shard of the map, so the
//! cost of a new key does not grow with the number of keys held: a copy of the whole map on
//! each addition made the ten-thousandth key cost ten thousand copies, and a hundred
//! thousand keys took minutes to add.
//!
//! States are never removed while the executor lives (keys past `max_keys` are not held
//! here), which is what lets a call borrow one for as long as it holds the executor.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use arc_swap::ArcSwap;
use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::keyed::{Compiled, KeyState};
use super::static_keys::StaticKeys;
use crate::key::Key;

/// Shards of the spelling map (a power of two).
const SHARDS: usize = 64;

/// One shard: spelling → index of its state, each entry found by the spelling's one hash
/// (which also chose the shard).
type Shard = ArcSwap<HashTable<(Arc<str>, u32)>>;

/// One chunk of states, each stored once.
type Chunk = Box<[OnceLock<Arc<KeyState>>]>;

pub(crate) struct KeyTable {
    /// Spelling → index into `states`, in shards by the spelling's hash.
    shards: Box<[Shard]>,
    states: Slots,
    /// How many states `states` holds (published after each is stored).
    len: AtomicUsize,
    /// How many spellings the shards hold, against `max_keys`.
    spellings: AtomicUsize,
    /// Serialises additions, which are rare: one per spelling.
    adding: Mutex<()>,
    /// Where program-long key texts' states are, by address.
    statics: StaticKeys,
}

impl KeyTable {
    pub(crate) fn new() -> KeyTable {
        KeyTable {
            shards: (0..SHARDS).map(|_| ArcSwap::default()).collect(),
            states: Slots::default(),
            len: AtomicUsize::new(0),
            spellings: AtomicUsize::new(0),
            adding: Mutex::new(()),
            statics: StaticKeys::new(),
        }
    }

    /// `spelling`'s hash and its shard. The hash is computed once per look-up: the shard's
    /// table takes its bucket from the low bits and its tag from the top seven, so the shard is
    /// chosen from bits 32 and up, which neither uses for a table this size (choosing from
    /// the top bits fixed the tag within a shard: two tags of 128).
    #[inline]
    fn shard(&self, spelling: &str) -> (u64, &Shard) {
        let hash = hash(spelling);
        (hash, &self.shards[(hash >> 32) as usize & (SHARDS - 1)])
    }

    /// The state `spelling` was added with, if it was.
    #[inline]
    pub(crate) fn get(&self, spelling: &str) -> Option<&Arc<KeyState>> {
        self.states.get(self.index(spelling)?)
    }

    /// The state of `raw` or of its canonical spelling, if either was added (a look-up that
    /// adds nothing, for questions about a key).
    pub(crate) fn find(&self, raw: &str) -> Option<&Arc<KeyState>> {
        self.get(raw)
            .or_else(|| self.get(crate::key::Key::parse(raw).as_str()))
    }

    /// The state of `raw`, added (with its canonical spelling) if it is new and the table
    /// holds fewer than `max` spellings; `None` when it is new and the table is full.
    #[inline]
    pub(crate) fn get_or_add(&self, raw: &str, max: usize) -> Option<&Arc<KeyState>> {
        if let Some(state) = self.get(raw) {
            return Some(state);
        }
        self.add(raw, max).and_then(|index| self.states.get(index))
    }

    /// [`get_or_add`](KeyTable::get_or_add) for a text that lives as long as the program: its
    /// state is found by the text's address after the first call.
    #[inline]
    pub(crate) fn get_or_add_static(
        &self,
        text: &'static str,
        max: usize,
    ) -> Option<&Arc<KeyState>> {
        if let Some(state) = self.get_static(text) {
            return Some(state);
        }
        let state = self.states.get(self.add(text, max)?)?;
        self.statics.remember(text, state);
        Some(state)
    }

    /// The state of a program-long key text, if it was added: read only (the address is
    /// remembered, which changes no answer).
    #[inline]
    pub(crate) fn get_static(&self, text: &'static str) -> Option<&Arc<KeyState>> {
        if let Some(state) = self.statics.get(text) {
            return Some(state);
        }
        let state = self.states.get(self.index(text)?)?;
        self.statics.remember(text, state);
        Some(state)
    }

    /// A program-long key text's state and compiled policy, when both are remembered by its
    /// address (policies given in code, after the key's first call).
    #[inline]
    pub(crate) fn get_static_fixed(
        &self,
        text: &'static str,
    ) -> Option<(&Arc<KeyState>, &Compiled)> {
        self.statics.get_fixed(text)
    }

    /// Adds `raw` (and its canonical spelling) unless it is there already or the table is
    /// full; the index of its state.
    #[cold]
    fn add(&self, raw: &str, max: usize) -> Option<u32> {
        // A full table takes no lock: every call past `max_keys` comes this way.
        if self.spellings.load(Ordering::Relaxed) >= max {
            return None;
        }
        let _adding = self.adding.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = self.index(raw) {
            return Some(index);
        }
        if self.spellings.load(Ordering::Relaxed) >= max {
            return None;
        }
        let key = Key::parse(raw);
        let index = match self.index(key.as_str()) {
            Some(index) => index,
            None => {
                let index = self.len.load(Ordering::Relaxed);
                let index = u32::try_from(index).ok().filter(|i| *i < Slots::CAPACITY)?;
                self.states
                    .set(index, Arc::new(KeyState::new(key.clone(), Arc::default())));
                self.len.fetch_add(1, Ordering::Release);
                self.insert(key.as_str(), index);
                index
            }
        };
        if raw != key.as_str() {
            self.insert(raw, index);
        }
        Some(index)
    }

    #[inline]
    fn index(&self, spelling: &str) -> Option<u32> {
        let (hash, shard) = self.shard(spelling);
        let entries = shard.load();
        entries
            .find(hash, |(held, _)| **held == *spelling)
            .map(|&(_, index)| index)
    }

    /// Adds a spelling (the caller holds `adding`): one shard is copied.
    fn insert(&self, spelling: &str, index: u32) {
        let (hash, shard) = self.shard(spelling);
        let mut entries = HashTable::clone(&shard.load());
        entries.insert_unique(hash, (Arc::from(spelling), index), |(held, _)| {
            self::hash(held)
        });
        shard.store(Arc::new(entries));
        self.spellings.fetch_add(1, Ordering::Relaxed);
    }

    /// How many spellings the table holds.
    pub(crate) fn spellings(&self) -> usize {
        self.spellings.load(Ordering::Relaxed)
    }

    /// Every state, in the order the keys were first called.
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    pub(crate) fn states(&self) -> impl Iterator<Item = &Arc<KeyState>> {
        let len = self.len.load(Ordering::Acquire);
        (0..len).filter_map(|i| self.states.get(u32::try_from(i).ok()?))
    }
}

/// A spelling's hash: it picks the shard, and the entry within it.
#[inline]
fn hash(spelling: &str) -> u64 {
    FxBuildHasher.hash_one(spelling)
}

/// Append-only storage whose entries never move: chunk `k` holds `2^(k + 5)` entries and is
/// allocated when its first entry is stored.
#[derive(Default)]
struct Slots {
    chunks: [OnceLock<Chunk>; Slots::CHUNKS],
}

impl Slots {
    const FIRST: u32 = 5;
    const CHUNKS: usize = 26;
    /// Entries the chunks hold in all: `2^5 + 2^6 + … + 2^30`.
    const CAPACITY: u32 = (1 << (Slots::FIRST + Slots::CHUNKS as u32)) - (1 << Slots::FIRST);

    /// The chunk of entry `index` and its place in the chunk.
    fn locate(index: u32) -> (usize, usize) {
        let n = u64::from(index) + (1 << Slots::FIRST);
        let chunk = 63 - n.leading_zeros() - Slots::FIRST;
        (chunk as usize, (n - (1 << (chunk + Slots::FIRST))) as usize)
    }

    #[inline]
    fn get(&self, index: u32) -> Option<&Arc<KeyState>> {
        let (chunk, at) = Slots::locate(index);
        self.chunks.get(chunk)?.get()?.get(at)?.get()
    }

    fn set(&self, index: u32, state: Arc<KeyState>) {
        let (chunk, at) = Slots::locate(index);
        let entries = self.chunks[chunk].get_or_init(|| {
            (0..1usize << (chunk as u32 + Slots::FIRST))
                .map(|_| OnceLock::new())
                .collect()
        });
        let _ = entries[at].set(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_fill_the_chunks_in_order() {
        assert_eq!(Slots::locate(0), (0, 0));
        assert_eq!(Slots::locate(31), (0, 31));
        assert_eq!(Slots::locate(32), (1, 0));
        assert_eq!(Slots::locate(95), (1, 63));
        assert_eq!(Slots::locate(96), (2, 0));
        assert_eq!(
            Slots::locate(Slots::CAPACITY - 1),
            (Slots::CHUNKS - 1, (1 << 30) - 1)
        );
    }

    #[test]
    fn a_spelling_and_its_canonical_form_share_one_state() {
        let table = KeyTable::new();
        let spelled = table.get_or_add(" payments . Charge ", 10).unwrap().clone();
        let canonical = table.get_or_add("payments.Charge", 10).unwrap();
        assert!(Arc::ptr_eq(&spelled, canonical));
        assert_eq!(table.spellings(), 2);
        assert_eq!(table.states().count(), 1);
    }

    #[test]
    fn a_full_table_adds_nothing_but_still_finds_what_it_holds() {
        let table = KeyTable::new();
        for i in 0..3 {
            table.get_or_add(&format!("svc.k{i}"), 3).unwrap();
        }
        assert!(table.get_or_add("svc.new", 3).is_none());
        assert!(table.get_or_add("svc.k1", 3).is_some());
        assert_eq!(table.spellings(), 3);
    }

    #[test]
    fn many_keys_keep_their_states_where_they_were() {
        let table = KeyTable::new();
        let first: Vec<_> = (0..5_000)
            .map(|i| {
                table
                    .get_or_add(&format!("svc.k{i}"), 10_000)
                    .unwrap()
                    .clone()
            })
            .collect();
        for (i, state) in first.iter().enumerate() {
            let again = table.get(&format!("svc.k{i}")).unwrap();
            assert!(Arc::ptr_eq(state, again));
            assert_eq!(again.key.as_str(), format!("svc.k{i}"));
        }
        assert_eq!(table.states().count(), 5_000);
    }

    #[test]
    fn threads_adding_one_key_get_one_state() {
        let table = KeyTable::new();
        let states: Vec<Arc<KeyState>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| table.get_or_add("svc.op", 10).unwrap().clone()))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert!(states.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
        assert_eq!(table.spellings(), 1);
    }
}
