use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::time::Instant;

use super::pool::{PoolState, settle};
use super::{FleetError, FleetSettings, FleetStore, SyncFuture, SyncRequest};

/// A fleet store in this process's memory: the reference settlement, on tokio's clock (so on
/// virtual time when the clock is paused).
///
/// Executors given clones of one `MemoryFleet` are one fleet. It is what `recourse policy
/// simulate` runs a fleet on and what tests of fleet behaviour use; a real fleet needs a store
/// every replica reaches, such as [`RedisFleet`](super::RedisFleet).
#[derive(Clone, Debug, Default)]
pub struct MemoryFleet {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    budgets: Mutex<HashMap<String, Option<PoolState>>>,
    settings: FleetSettings,
    origin: OnceLock<Instant>,
    down: AtomicBool,
}

impl MemoryFleet {
    /// An empty store with the default settings.
    pub fn new() -> MemoryFleet {
        MemoryFleet::default()
    }

    /// An empty store whose budgets settle with `settings`.
    pub fn with_settings(settings: FleetSettings) -> MemoryFleet {
        MemoryFleet {
            inner: Arc::new(Inner {
                settings,
                ..Inner::default()
            }),
        }
    }

    /// Makes every settlement fail while `down` (an outage of the store).
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::Relaxed);
    }

    /// Forgets every budget, as a store that restarted without its data.
    pub fn restart(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<PoolState>>> {
        self.inner.budgets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FleetStore for MemoryFleet {
    fn sync<'a>(&'a self, request: &'a SyncRequest) -> SyncFuture<'a> {
        let answer = if self.inner.down.load(Ordering::Relaxed) {
            Err(FleetError::Store("the store is down".into()))
        } else {
            let origin = *self.inner.origin.get_or_init(Instant::now);
            let now_us = Instant::now().duration_since(origin).as_micros() as u64;
            let mut budgets = self.lock();
            let slot = budgets.entry(request.budget.clone()).or_default();
            Ok(settle(slot, request, now_us))
        };
        Box::pin(std::future::ready(answer))
    }

    fn settings(&self) -> FleetSettings {
        self.inner.settings.clone()
    }
}
