//! Policy ids, interned: an id is stored once for the life of the process and handed out as a
//! `&'static str`, so the per-attempt [`AttemptInfo`](crate::AttemptInfo) stays `Copy` and a
//! call never touches a reference count to tell its operation which policy governs it.
//!
//! Ids name policies or their revisions (`charge-v3`): a process sees a handful over its life,
//! so keeping each one costs a few bytes, once.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

static IDS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);

/// The process's one copy of `id`, stored on first sight.
pub(crate) fn intern(id: &str) -> &'static str {
    let mut ids = IDS.lock().unwrap_or_else(PoisonError::into_inner);
    let ids = ids.get_or_insert_with(HashSet::new);
    if let Some(&kept) = ids.get(id) {
        return kept;
    }
    let kept: &'static str = Box::leak(id.into());
    ids.insert(kept);
    kept
}

#[cfg(test)]
mod tests {
    use super::intern;

    #[test]
    fn an_id_is_stored_once() {
        let first = intern("charge-v3");
        let again = intern(&String::from("charge-v3"));
        assert!(std::ptr::eq(first, again));
        assert_eq!(intern("charge-v4"), "charge-v4");
        assert!(!std::ptr::eq(first, intern("charge-v4")));
    }
}
