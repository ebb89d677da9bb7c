//! Policy ids as an attempt sees them: a `Copy` handle into a table of the ids in use.
//!
//! Handing the id to every attempt must cost nothing (no reference count to touch, no drop
//! glue in the operation's future), yet a service whose control plane stamps each revision
//! (`charge-v3`, `charge-v4`, …) and reloads for months must not keep every id it ever saw.
//! So a compiled policy holds a lease on its id's slot; when the last lease goes (a reload
//! replaced the policy and every call under it ended), the slot is freed and reused, and a
//! handle to it no longer names anything.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

/// A policy's id (`charge-v3`), as [`AttemptInfo`](crate::AttemptInfo) carries it: a copyable
/// handle. [`name`](PolicyId::name) reads the id while a policy with it is in use.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyId {
    /// The slot's index plus one: `Option<PolicyId>` then needs no tag of its own and moves
    /// in one register.
    slot: NonZeroU32,
    generation: u32,
}

impl PolicyId {
    /// The id's text, or `None` once no policy with this id is in use any more (a reload
    /// replaced it and every call under it has ended).
    pub fn name(self) -> Option<Arc<str>> {
        let table = table();
        let slot = table.slots.get(self.index() as usize)?;
        (slot.generation == self.generation)
            .then(|| slot.name.clone())
            .flatten()
    }

    /// The slot's index in the table.
    fn index(self) -> u32 {
        self.slot.get() - 1
    }
}

impl fmt::Debug for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "PolicyId({name:?})"),
            None => f.write_str("PolicyId(<no longer in use>)"),
        }
    }
}

#[derive(Debug, Default)]
struct Slot {
    name: Option<Arc<str>>,
    generation: u32,
    leases: usize,
}

#[derive(Debug, Default)]
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_name: HashMap<Arc<str>, u32>,
}

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);

fn table() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A compiled policy's hold on its id: the slot stays while a lease on it does.
#[derive(Debug)]
pub(crate) struct IdLease {
    id: PolicyId,
    name: Arc<str>,
}

impl IdLease {
    /// A lease on the slot of `name`, taken anew when no policy in use has that id.
    pub(crate) fn take(name: &Arc<str>) -> IdLease {
        let mut table = table();
        let table = &mut *table;
        let index = match table.by_name.get(name) {
            Some(&index) => index,
            None => {
                let index = table.free.pop().unwrap_or_else(|| {
                    table.slots.push(Slot::default());
                    u32::try_from(table.slots.len() - 1).unwrap_or(u32::MAX - 1)
                });
                table.slots[index as usize].name = Some(name.clone());
                table.by_name.insert(name.clone(), index);
                index
            }
        };
        let slot = &mut table.slots[index as usize];
        slot.leases += 1;
        IdLease {
            id: PolicyId {
                slot: NonZeroU32::MIN.saturating_add(index),
                generation: slot.generation,
            },
            name: slot.name.clone().unwrap_or_else(|| name.clone()),
        }
    }

    /// The handle attempts carry.
    pub(crate) fn id(&self) -> PolicyId {
        self.id
    }

    /// The id's text.
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }
}

impl Drop for IdLease {
    fn drop(&mut self) {
        let mut table = table();
        let table = &mut *table;
        let Some(slot) = table.slots.get_mut(self.id.index() as usize) else {
            return;
        };
        slot.leases -= 1;
        if slot.leases == 0 {
            if let Some(name) = slot.name.take() {
                table.by_name.remove(&name);
            }
            slot.generation = slot.generation.wrapping_add(1);
            table.free.push(self.id.index());
        }
    }
}

/// Slots in the table, in use or free: what the ids a process ever used cost it.
#[cfg(test)]
pub(crate) fn slots() -> usize {
    table().slots.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Arc<str> {
        Arc::from(text)
    }

    #[test]
    fn a_lease_names_its_id_and_leases_of_one_id_share_it() {
        let a = IdLease::take(&name("charge-v3"));
        let b = IdLease::take(&name("charge-v3"));
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id().name().as_deref(), Some("charge-v3"));
        drop(a);
        assert_eq!(
            b.id().name().as_deref(),
            Some("charge-v3"),
            "one lease still holds it"
        );
        let handle = b.id();
        drop(b);
        assert_eq!(handle.name(), None, "no policy with the id is in use");
    }

    #[test]
    fn a_freed_slot_is_reused_and_old_handles_do_not_name_the_new_id() {
        let old = IdLease::take(&name("refund-v1"));
        let stale = old.id();
        drop(old);
        let new = IdLease::take(&name("refund-v2"));
        assert_eq!(stale.name(), None);
        assert_eq!(new.id().name().as_deref(), Some("refund-v2"));
    }

    #[test]
    fn ids_used_one_after_another_do_not_grow_the_table() {
        // Months of reloads, each with a new revision id: the table holds the ids in use,
        // not every id ever seen. (Other tests run alongside and hold a few slots.)
        for revision in 0..100_000 {
            let lease = IdLease::take(&name(&format!("charge-v{revision}")));
            assert!(lease.id().name().is_some());
        }
        assert!(slots() < 64, "{} slots after 100,000 ids", slots());
    }

    /// A provider whose every generation serves a new revision id.
    #[derive(Debug, Default)]
    struct Revisions(std::sync::atomic::AtomicU64);

    impl crate::provider::Provider for Revisions {
        fn policy(
            &self,
            _: &crate::Key,
        ) -> Result<crate::Policy, crate::provider::ProviderFailure> {
            let revision = self.generation();
            Ok(crate::Policy::new().id(&format!("charge-v{revision}")))
        }

        fn generation(&self) -> u64 {
            self.0.load(std::sync::atomic::Ordering::Acquire)
        }
    }

    #[test]
    fn an_executor_reloading_new_ids_keeps_only_those_in_use() {
        let revisions = Arc::new(Revisions::default());
        let vc = crate::clock::VirtualClock::new();
        let exec = crate::Executor::builder()
            .provider_arc(revisions.clone())
            .clock(vc.clock())
            .build()
            .unwrap();
        for _ in 0..5_000 {
            revisions
                .0
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            let seen = vc.block_on(exec.call("payments.Charge", |attempt| async move {
                Ok::<_, std::io::Error>(attempt.policy_id.and_then(PolicyId::name))
            }));
            let expected = format!(
                "charge-v{}",
                revisions.0.load(std::sync::atomic::Ordering::Acquire)
            );
            assert_eq!(seen.unwrap().as_deref(), Some(expected.as_str()));
        }
        assert!(slots() < 64, "{} slots after 5,000 reloads", slots());
    }
}
