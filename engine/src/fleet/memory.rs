use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::pool::{PoolState, settle};
use super::{FleetError, FleetSettings, FleetStore, SyncFuture, SyncRequest, SyncTask};
use crate::clock::Clock;

/// A fleet store in this process's memory: the reference settlement, on a clock of its own
/// (tokio's by default, so virtual when a test pauses it).
///
/// Executors given clones of one `MemoryFleet` are one fleet. It is what `recourse policy
/// simulate` runs a fleet on and what tests of fleet behaviour use; a real fleet needs a store
/// every replica reaches, such as `RedisFleet` (feature `redis`).
#[derive(Clone, Debug)]
pub struct MemoryFleet {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    budgets: Mutex<HashMap<String, Option<PoolState>>>,
    settings: FleetSettings,
    clock: Clock,
    down: AtomicBool,
    /// How late every answer comes, in nanoseconds (a slow store).
    latency_ns: std::sync::atomic::AtomicU64,
    /// With [`MemoryFleet::on_clock`]: the sync tasks [`MemoryFleet::drive`] runs.
    driven: Option<Mutex<Driven>>,
}

#[derive(Default)]
struct Driven {
    tasks: Vec<SyncTask>,
    waker: Option<Waker>,
}

impl std::fmt::Debug for Driven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} tasks", self.tasks.len())
    }
}

impl Default for MemoryFleet {
    fn default() -> MemoryFleet {
        MemoryFleet::with_settings(FleetSettings::default())
    }
}

impl MemoryFleet {
    /// An empty store with the default settings.
    pub fn new() -> MemoryFleet {
        MemoryFleet::default()
    }

    /// An empty store whose budgets settle with `settings`.
    pub fn with_settings(settings: FleetSettings) -> MemoryFleet {
        MemoryFleet::build(settings, Clock::tokio(), false)
    }

    /// An empty store on `clock` (give it the executors' [`VirtualClock`]'s) whose budgets'
    /// sync tasks run only inside [`drive`](MemoryFleet::drive): for a fleet simulated on a
    /// virtual clock, where no runtime runs tasks.
    ///
    /// [`VirtualClock`]: crate::clock::VirtualClock
    pub fn on_clock(clock: Clock) -> MemoryFleet {
        MemoryFleet::build(FleetSettings::default(), clock, true)
    }

    fn build(settings: FleetSettings, clock: Clock, driven: bool) -> MemoryFleet {
        MemoryFleet {
            inner: Arc::new(Inner {
                budgets: Mutex::default(),
                settings,
                clock,
                down: AtomicBool::new(false),
                latency_ns: Default::default(),
                driven: driven.then(Mutex::default),
            }),
        }
    }

    /// Makes every settlement fail while `down` (an outage of the store).
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::Relaxed);
    }

    /// Makes every answer come `latency` late, on the store's clock (a store that is slow, not
    /// down).
    pub fn set_latency(&self, latency: std::time::Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.inner.latency_ns.store(ns, Ordering::Relaxed);
    }

    /// Forgets every budget, as a store that restarted without its data.
    pub fn restart(&self) {
        lock(&self.inner.budgets).clear();
    }

    /// Runs the sync tasks of the budgets settling here (only for a store made with
    /// [`on_clock`](MemoryFleet::on_clock)): poll it beside the calls, for example racing
    /// them. It never finishes.
    pub async fn drive(&self) {
        std::future::poll_fn(|cx| self.poll_tasks(cx)).await
    }

    fn poll_tasks(&self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(driven) = &self.inner.driven else {
            return Poll::Pending;
        };
        // Taken out while they run, so a task that starts another does not deadlock.
        let mut tasks = {
            let mut d = lock(driven);
            d.waker = Some(cx.waker().clone());
            std::mem::take(&mut d.tasks)
        };
        tasks.retain_mut(|t| t.as_mut().poll(cx).is_pending());
        lock(driven).tasks.append(&mut tasks);
        Poll::Pending
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FleetStore for MemoryFleet {
    fn sync<'a>(&'a self, request: &'a SyncRequest) -> SyncFuture<'a> {
        let answer = if self.inner.down.load(Ordering::Relaxed) {
            Err(FleetError::Store("the store is down".into()))
        } else {
            let now_us = self.inner.clock.now().as_nanos() / 1_000;
            let mut budgets = lock(&self.inner.budgets);
            let slot = budgets.entry(request.budget.clone()).or_default();
            Ok(settle(slot, request, now_us))
        };
        let late = self.inner.latency_ns.load(Ordering::Relaxed);
        if late == 0 {
            return Box::pin(std::future::ready(answer));
        }
        let wait = self
            .inner
            .clock
            .sleep(std::time::Duration::from_nanos(late));
        Box::pin(async move {
            wait.await;
            answer
        })
    }

    fn settings(&self) -> FleetSettings {
        self.inner.settings.clone()
    }

    fn reproducible(&self) -> bool {
        self.inner.driven.is_some()
    }

    fn spawn(&self, task: SyncTask) -> bool {
        let Some(driven) = &self.inner.driven else {
            return super::spawn_on_tokio(task);
        };
        let mut d = lock(driven);
        d.tasks.push(task);
        if let Some(w) = d.waker.take() {
            w.wake();
        }
        true
    }
}
