//! Policies from a control plane that never hangs a call.
//!
//! - A cache with a TTL for found policies and a negative TTL for keys the source does not know.
//! - One fetch per key at a time: concurrent misses wait for the same fetch (single flight).
//! - No call waits longer than `fetch_timeout` for the source.
//! - When the source fails (error or timeout), the last known good policy of the key is served,
//!   with source `lkg`; it can be persisted to a file and restored at start-up.
//! - Expired entries are evicted; everything runs on the executor's clock.
//!
//! In bundle mode ([`RemoteProvider::bundle`]) one fetch answers every key: the source returns
//! the whole policy document, and the same rules apply to it as a whole (one fetch at a time,
//! the TTL, the timeout, the last known good document, persisted if asked). A source that can
//! tell the document has not changed (an HTTP `304`) costs no parse.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::{Prepare, Provider, ProviderError, ProviderFailure};
use crate::clock::{Clock, Timestamp, duration_nanos, first};
use crate::key::Key;
use crate::policy::{BudgetSpec, Policy, PolicySet, PolicySource};

/// Why a source could not give a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The source has no policy for the key (cached for the negative TTL).
    #[error("recourse: policy not found")]
    NotFound,
    /// The source failed (not cached; the last known good policy is served).
    #[error("recourse: policy fetch failed: {0}")]
    Failed(String),
}

/// What a source's fetch returns.
pub type SourceFuture<'a> = Pin<Box<dyn Future<Output = Result<Policy, FetchError>> + Send + 'a>>;

/// A control plane: fetches the policy of one key.
pub trait RemoteSource: Send + Sync + fmt::Debug {
    /// Fetches the policy of `key`.
    fn fetch<'a>(&'a self, key: &'a Key) -> SourceFuture<'a>;

    /// The budgets the source's policies use, by name, as [`Provider::budgets`] says (the
    /// executor follows them on every generation of the provider). Default: none (budgets
    /// are then registered in code).
    fn budgets(&self) -> Vec<(String, BudgetSpec)> {
        Vec::new()
    }
}

/// What a bundle source's fetch found.
#[derive(Debug)]
#[non_exhaustive]
pub enum Bundle {
    /// A new document: the policy set, and its text (what [`RemoteProvider::persist_to`]
    /// keeps).
    Changed(Box<PolicySet>, String),
    /// The document the source gave last is still current (for example an HTTP `304 Not
    /// Modified`): nothing to parse.
    Unchanged,
}

/// What a bundle source's fetch returns.
pub type BundleFuture<'a> = Pin<Box<dyn Future<Output = Result<Bundle, FetchError>> + Send + 'a>>;

/// A control plane that serves every key's policy as one document.
pub trait BundleSource: Send + Sync + fmt::Debug {
    /// Fetches the document, or learns it has not changed since the last fetch.
    fn fetch(&self) -> BundleFuture<'_>;
}

/// Where a provider's policies come from: one fetch per key, or one for all.
#[derive(Debug)]
enum Source {
    Keys(Arc<dyn RemoteSource>),
    Bundle(Arc<dyn BundleSource>),
}

/// The bundle mode's document: the one in hand, and until when it is fresh.
#[derive(Debug, Default)]
struct Held {
    set: Option<Arc<PolicySet>>,
    expires: Timestamp,
}

#[derive(Clone, Debug)]
enum Cached {
    Found(Box<Policy>),
    NotFound,
}

#[derive(Debug)]
struct Entry {
    value: Cached,
    expires: Timestamp,
}

#[derive(Debug, Default)]
struct State {
    cache: HashMap<Key, Entry>,
    last_good: HashMap<Key, Policy>,
    inflight: HashMap<Key, Arc<Notify>>,
    bundle: Held,
}

/// A provider over a [`RemoteSource`].
#[derive(Debug)]
pub struct RemoteProvider {
    source: Source,
    /// One bundle fetch at a time: later callers wait for it and find the document fresh.
    bundle_flight: tokio::sync::Mutex<()>,
    clock: Clock,
    ttl: Duration,
    negative_ttl: Duration,
    fetch_timeout: Duration,
    persist: Option<PathBuf>,
    state: Mutex<State>,
    changes: AtomicU64,
    fetches: AtomicU64,
}

/// Most cache entries kept; expired ones are evicted first.
const MAX_ENTRIES: usize = 10_000;

impl RemoteProvider {
    /// A provider over `source`: TTL 1 minute, negative TTL 10 seconds, fetch timeout 1 second,
    /// on a tokio clock (give it the executor's with [`clock`](RemoteProvider::clock)).
    pub fn new(source: impl RemoteSource + 'static) -> RemoteProvider {
        RemoteProvider::over(Source::Keys(Arc::new(source)))
    }

    /// A provider over one document for every key (bundle mode): the same TTL, timeout, last
    /// known good and persistence as [`new`](RemoteProvider::new), for the document as a
    /// whole. A key the document does not name gets what the document gives it (its
    /// `namespace.*` entry or its `defaults`), without a fetch of its own. `negative_ttl` does
    /// not apply.
    pub fn bundle(source: impl BundleSource + 'static) -> RemoteProvider {
        RemoteProvider::over(Source::Bundle(Arc::new(source)))
    }

    fn over(source: Source) -> RemoteProvider {
        RemoteProvider {
            source,
            bundle_flight: tokio::sync::Mutex::new(()),
            clock: Clock::tokio(),
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(1),
            persist: None,
            state: Mutex::new(State::default()),
            changes: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
        }
    }

    /// How long a found policy is served before it is fetched again (at least 1ms).
    pub fn ttl(mut self, ttl: Duration) -> RemoteProvider {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// How long "not found" is remembered (at least 1ms).
    pub fn negative_ttl(mut self, ttl: Duration) -> RemoteProvider {
        self.negative_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The longest a call waits for the source.
    pub fn fetch_timeout(mut self, timeout: Duration) -> RemoteProvider {
        self.fetch_timeout = timeout;
        self
    }

    /// The clock for TTLs and the fetch timeout (the executor's).
    pub fn clock(mut self, clock: Clock) -> RemoteProvider {
        self.clock = clock;
        self
    }

    /// Writes the last known good policies to `path` (atomically) after every successful fetch,
    /// and reads them from it now if it exists.
    pub fn persist_to(mut self, path: impl Into<PathBuf>) -> RemoteProvider {
        let path = path.into();
        if let Source::Bundle(_) = self.source {
            // The last document, served (as `lkg`) until the first fetch succeeds.
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(set) = PolicySet::from_str(&text, &path.display().to_string())
            {
                self.lock().bundle.set = Some(Arc::new(set));
            }
        } else if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(saved) = serde_json::from_str::<HashMap<String, Policy>>(&text)
        {
            let mut st = self.lock();
            for (k, p) in saved {
                st.last_good.insert(Key::parse(&k), p);
            }
        }
        self.persist = Some(path);
        self
    }

    /// Fetches made so far (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fresh(&self, key: &Key, now: Timestamp) -> bool {
        self.lock().cache.get(key).is_some_and(|e| now <= e.expires)
    }

    fn save(&self, st: &State) {
        if self.persist.is_none() {
            return;
        }
        let map: HashMap<String, &Policy> = st
            .last_good
            .iter()
            .map(|(k, p)| (k.to_string(), p))
            .collect();
        let Ok(text) = serde_json::to_string_pretty(&map) else {
            return;
        };
        self.write_persisted(&text);
    }

    /// Replaces the persisted file with `text`, atomically.
    fn write_persisted(&self, text: &str) {
        let Some(path) = &self.persist else { return };
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }

    fn bundle_fresh(&self, now: Timestamp) -> bool {
        let st = self.lock();
        st.bundle.set.is_some() && now <= st.bundle.expires
    }

    /// Fetches the document unless fresh; one fetch at a time, bounded by the timeout.
    async fn refresh_bundle(&self, source: &dyn BundleSource) {
        let clock = &self.clock;
        let deadline = clock.now().plus(self.fetch_timeout);
        let Some(_flight) = first(self.bundle_flight.lock(), clock.sleep_until(deadline)).await
        else {
            return; // another caller's fetch outlived this call's patience
        };
        if self.bundle_fresh(clock.now()) {
            return; // fetched while this call waited
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = first(source.fetch(), clock.sleep_until(deadline)).await;
        let now = clock.now();
        let mut st = self.lock();
        match fetched {
            Some(Ok(Bundle::Changed(set, text))) => {
                st.bundle.set = Some(Arc::new(*set));
                st.bundle.expires = now.plus(self.ttl);
                self.write_persisted(&text);
                self.changes.fetch_add(1, Ordering::AcqRel);
            }
            Some(Ok(Bundle::Unchanged)) if st.bundle.set.is_some() => {
                st.bundle.expires = now.plus(self.ttl);
            }
            // Failures, timeouts and a 304 with no document in hand are not cached: the next
            // call tries again, and the last document is served meanwhile.
            _ => {}
        }
    }

    /// Fetches `key` unless fresh; concurrent callers share one fetch; bounded by the timeout.
    async fn refresh(&self, key: &Key) {
        let clock = &self.clock;
        let deadline = clock.now().plus(self.fetch_timeout);
        if self.fresh(key, clock.now()) {
            return;
        }
        let (notify, leader) = {
            let mut st = self.lock();
            match st.inflight.get(key) {
                Some(n) => (n.clone(), false),
                None => {
                    let n = Arc::new(Notify::new());
                    st.inflight.insert(key.clone(), n.clone());
                    (n, true)
                }
            }
        };
        if !leader {
            let mut waited = std::pin::pin!(notify.notified());
            // Registered before re-checking, so a fetch ending now is not missed.
            waited.as_mut().enable();
            if !self.lock().inflight.contains_key(key) {
                return;
            }
            let _ = first(waited, clock.sleep_until(deadline)).await;
            return;
        }
        // The leader fetches; whatever happens (even its call being dropped), the guard ends the
        // flight and wakes the others.
        struct Flight<'a>(&'a RemoteProvider, &'a Key, Arc<Notify>);
        impl Drop for Flight<'_> {
            fn drop(&mut self) {
                self.0.lock().inflight.remove(self.1);
                self.2.notify_waiters();
            }
        }
        let _flight = Flight(self, key, notify);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let Source::Keys(source) = &self.source else {
            return;
        };
        let fetched = first(source.fetch(key), clock.sleep_until(deadline)).await;
        let now = clock.now();
        let mut st = self.lock();
        match fetched {
            Some(Ok(policy)) => {
                st.last_good.insert(key.clone(), policy.clone());
                st.cache.insert(
                    key.clone(),
                    Entry {
                        value: Cached::Found(Box::new(policy)),
                        expires: now.plus(self.ttl),
                    },
                );
                self.save(&st);
            }
            Some(Err(FetchError::NotFound)) => {
                st.cache.insert(
                    key.clone(),
                    Entry {
                        value: Cached::NotFound,
                        expires: now.plus(self.negative_ttl),
                    },
                );
            }
            // Failures and timeouts are not cached: the next call tries again.
            Some(Err(FetchError::Failed(_))) | None => {}
        }
        if st.cache.len() > MAX_ENTRIES {
            st.cache.retain(|_, e| now <= e.expires);
        }
        self.changes.fetch_add(1, Ordering::AcqRel);
    }
}

impl Provider for RemoteProvider {
    fn policy(&self, key: &Key) -> Result<Policy, ProviderFailure> {
        let now = self.clock.now();
        let st = self.lock();
        if let Source::Bundle(_) = self.source {
            let Some(set) = &st.bundle.set else {
                return Err(ProviderError::Unavailable.into());
            };
            let mut p = set.layered(key);
            p.meta.source = if now <= st.bundle.expires {
                PolicySource::Remote
            } else {
                PolicySource::Lkg
            };
            return Ok(p);
        }
        match st.cache.get(key) {
            Some(Entry {
                value: Cached::Found(p),
                expires,
            }) if now <= *expires => {
                let mut p = Policy::clone(p);
                p.meta.source = PolicySource::Remote;
                Ok(p)
            }
            Some(Entry {
                value: Cached::NotFound,
                expires,
            }) if now <= *expires => Err(ProviderError::NotFound.into()),
            _ => match st.last_good.get(key) {
                // The source is failing (or slow): the last known good policy.
                Some(p) => {
                    let mut p = p.clone();
                    p.meta.source = PolicySource::Lkg;
                    Ok(p)
                }
                None => Err(ProviderError::Unavailable.into()),
            },
        }
    }

    /// Changes with every fetch and with every TTL period, so the executor looks again when an
    /// entry may have expired.
    fn generation(&self) -> u64 {
        let period = duration_nanos(self.ttl.min(self.negative_ttl)).max(1);
        let epoch = self.clock.now().as_nanos() / period;
        self.changes
            .load(Ordering::Acquire)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ epoch
    }

    fn budgets(&self) -> Vec<(String, BudgetSpec)> {
        match &self.source {
            Source::Keys(source) => source.budgets(),
            Source::Bundle(_) => {
                let set = self.lock().bundle.set.clone();
                set.map(|s| s.budgets_declared()).unwrap_or_default()
            }
        }
    }

    fn prepare<'a>(&'a self, key: &'a Key) -> Option<Prepare<'a>> {
        let now = self.clock.now();
        match &self.source {
            Source::Bundle(source) if !self.bundle_fresh(now) => {
                Some(Box::pin(self.refresh_bundle(&**source)))
            }
            Source::Bundle(_) => None,
            Source::Keys(_) if self.fresh(key, now) => None,
            Source::Keys(_) => Some(Box::pin(self.refresh(key))),
        }
    }
}
