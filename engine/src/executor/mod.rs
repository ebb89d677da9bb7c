//! The executor: runs keyed calls inside their policy's envelope.
//!
//! Every call goes through one loop ([`run`]), whether it is observed, traced, or neither. The
//! operation is a closure that returns a future; attempts are polled by the calling task (no
//! spawn, no `'static` bound on the future), so cancelling a call is dropping it, and a panic in
//! the operation unwinds to the caller.

mod attempt;
mod backoff;
mod budgets;
mod builder;
mod bulkhead;
mod by_key;
mod decide;
mod first;
mod gate;
mod global;
mod group;
mod key_table;
mod keyed;
mod manual;
mod mode;
mod race;
mod record;
mod run;
mod static_keys;
mod tap;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use rustc_hash::FxHashMap;
use tokio_util::sync::CancellationToken;

pub use attempt::AttemptInfo;
#[cfg(feature = "tooling")]
pub(crate) use backoff::DECORRELATED_GROWTH;
pub use builder::{BuildError, ExecutorBuilder};
pub use global::{call, call_traced, global, init};
pub(crate) use keyed::CircuitPlan;
pub use manual::{ControlError, ManualControl};
pub use mode::MissingMode;

use backoff::Rng;
use by_key::ByKey;
use keyed::{Compiled, KeyState, Runtime};
use mode::Modes;
use run::{Call, First, run};

use crate::classify::Classifier;
use crate::clock::Clock;
use crate::error::Error;
use crate::hedge::Trigger;
use crate::key::{AsKey, Key};
use crate::observe::{Detail, Observer, Timeline};
use crate::policy::Policy;
use crate::provider::{Provider, ProviderError};

/// Runs calls by key. Cheap to clone (a shared handle).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use recourse_engine::{Executor, Policy};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let exec = Executor::builder()
///     .policy("inventory.Get", Policy::builtin().max_attempts(2))
///     .build()
///     .unwrap();
/// let stock: Result<u32, _> = exec
///     .call("inventory.Get", |_attempt| async { Ok::<_, std::io::Error>(7) })
///     .await;
/// assert_eq!(stock.unwrap(), 7);
/// # }
/// ```
#[derive(Clone)]
pub struct Executor {
    pub(crate) inner: Arc<Inner>,
}

/// The executor's observer (several are one [`Fanout`](crate::observe::Fanout)), and how much
/// of each call it is told: asked once, when the executor is built.
pub(crate) struct Watcher {
    pub(crate) observer: Arc<dyn Observer>,
    pub(crate) detail: Detail,
}

pub(crate) struct Inner {
    pub(crate) provider: Arc<dyn Provider>,
    /// The policies were all given in code: the provider's generation never changes, and a
    /// call need not ask it (a dynamic call on every call's path).
    pub(crate) fixed: bool,
    pub(crate) observer: Option<Watcher>,
    pub(crate) clock: Clock,
    pub(crate) rng: Rng,
    pub(crate) classifiers: FxHashMap<String, Arc<dyn Classifier>>,
    pub(crate) default_classifier: Arc<dyn Classifier>,
    pub(crate) budgets: budgets::BudgetRegistry,
    pub(crate) triggers: FxHashMap<String, Arc<dyn Trigger>>,
    pub(crate) modes: Modes,
    pub(crate) recover_panics: bool,
    keys: key_table::KeyTable,
    max_keys: usize,
    /// Shared by every key past `max_keys`: their breaker and latency tracker.
    overflow: Arc<Runtime>,
    /// The states of keys past `max_keys` used lately: a fixed number of slots, each holding
    /// the last key whose spelling hashed to it, so memory stays bounded while a key called
    /// again soon still finds its compiled policy.
    overflow_states: Box<[ArcSwapOption<OverflowState>]>,
    overflow_calls: AtomicU64,
    #[cfg(feature = "export")]
    pub(crate) export: Option<Export>,
}

/// The export hub and its configuration, when the executor exports.
#[cfg(feature = "export")]
#[derive(Debug)]
pub(crate) struct Export {
    pub(crate) hub: Arc<crate::export::hub::Hub>,
    pub(crate) config: crate::export::ExportConfig,
}

/// Per-call options: a cancellation token and whether to keep the timeline.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// When this token is cancelled the call stops at the next opportunity (during an
    /// attempt or a backoff) with [`Error::Canceled`]. Dropping the call's future cancels it
    /// too, silently.
    pub cancel: Option<CancellationToken>,
    /// Keep the call's timeline and return it.
    pub capture: bool,
    /// Run one attempt only, without hedges, whatever the policy says: for a request that
    /// cannot be sent twice (a streaming body). The timeline says `replayable: false`.
    pub once: bool,
    /// Launch no hedges, whatever the policy says: for a request that must not run twice at
    /// the same time (not idempotent).
    pub no_hedges: bool,
}

impl CallOptions {
    /// Options with a cancellation token.
    pub fn cancel_on(token: CancellationToken) -> CallOptions {
        CallOptions {
            cancel: Some(token),
            ..CallOptions::default()
        }
    }

    /// No hedges (see [`no_hedges`](CallOptions::no_hedges)).
    pub fn without_hedges(mut self) -> CallOptions {
        self.no_hedges = true;
        self
    }

    /// One attempt only (see [`once`](CallOptions::once)).
    pub fn single_attempt(mut self) -> CallOptions {
        self.once = true;
        self
    }

    /// Also keep the timeline.
    pub fn traced(mut self) -> CallOptions {
        self.capture = true;
        self
    }
}

impl Executor {
    /// A builder with the defaults: an empty static provider (every key gets the built-in
    /// default policy), the `auto` classifier, the `unlimited` budget registered, no observer.
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::new()
    }

    /// An executor with the builder's defaults.
    pub fn new() -> Executor {
        ExecutorBuilder::new()
            .build()
            .expect("the default executor always builds")
    }

    /// The executor's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Calls made with keys past `max_keys`, which share one breaker and latency tracker
    /// (the overflow key). Non-zero means keys are not low-cardinality: run `recourse lint`.
    pub fn overflow_calls(&self) -> u64 {
        self.inner.overflow_calls.load(Ordering::Relaxed)
    }

    /// The level of the budget called `name` now (tokens, or retries available), when the
    /// budget has one: registered in code, or declared by the provider's policies.
    pub fn budget_level(&self, name: &str) -> Option<f64> {
        let inner = &self.inner;
        let budget = inner.budgets.get(name, &*inner.provider, &inner.clock)?;
        budget.level(inner.clock.now())
    }

    /// The state of `key`'s circuit breaker now (closed for keys without one).
    pub fn circuit_state(&self, key: &str) -> crate::CircuitState {
        let state = self.inner.state(key);
        let cooldown = state
            .compiled(&self.inner)
            .ok()
            .and_then(|c| c.circuit.as_ref().map(|c| c.cooldown))
            .unwrap_or_default();
        state
            .runtime
            .breaker
            .state(self.inner.clock.now(), cooldown)
    }

    /// What `key`'s breaker window holds now (calls, failed and slow ones), for keys whose
    /// policy opens the breaker on a failure rate or on slow calls.
    pub fn circuit_window(&self, key: &str) -> Option<crate::circuit::Counts> {
        let compiled = self.inner.state(key).compiled(&self.inner).ok()?;
        let rates = compiled.circuit.as_ref()?.rates.as_ref()?;
        Some(rates.window.counts(|| self.inner.clock.now()))
    }

    /// What `key`'s shadow policy would have done over the calls judged so far, beside what
    /// its live policy did: for keys whose policy has a `shadow` now. The counters are the
    /// key's, kept across reloads.
    pub fn shadow_stats(&self, key: &str) -> Option<crate::shadow::ShadowStats> {
        self.inner.shadow_stats(key)
    }

    /// The effective (normalized) policy the executor would use for `key` now.
    ///
    /// # Errors
    ///
    /// The provider's error when it has no policy and the missing-policy mode is `deny`.
    pub fn policy_for(&self, key: &str) -> Result<Policy, ProviderError> {
        self.inner
            .state(key)
            .compiled(&self.inner)
            .map(|c| c.policy.clone())
    }

    /// A handle for `key` that skips the per-call key look-up. Use it for hot call sites.
    pub fn key(&self, key: impl AsKey) -> KeyHandle {
        let state = self.inner.state_of(&key);
        // Resolve now, so calls through the handle read the policy without touching shared
        // state while the provider's generation stays the same.
        let _ = state.compiled(&self.inner);
        KeyHandle {
            snapshot: state.lend_snapshot(),
            inner: self.inner.clone(),
            state: state.into_arc(),
        }
    }

    /// Runs `op` under the policy of `key`.
    ///
    /// `op` is called once per attempt with that attempt's [`AttemptInfo`].
    ///
    /// # Errors
    ///
    /// [`Error`] says why the call failed; [`Error::reason_code`] gives the stable code.
    ///
    /// # Cancellation
    ///
    /// Dropping the future cancels the call: the running attempt is dropped, budget releases
    /// run, and observers get `on_end` (and, those that read timelines, `on_failure`) with
    /// reason `context_canceled`.
    ///
    /// # Performance
    ///
    /// A first attempt that succeeds, with no observer and no timeline, allocates nothing and
    /// takes no lock; a timer is armed only when the policy has a timeout.
    ///
    /// The key is looked up when the future is made, and the operation first runs when the
    /// future is first polled; a key's first call adds the key when it is first polled, so a
    /// future never polled leaves the executor as it was. A key built by [`key!`] is found
    /// by its text's address, without hashing.
    ///
    /// [`key!`]: crate::key!
    // Inlined so that the large future is built in the caller's place, not copied there.
    #[inline(always)]
    pub fn call<T, E, F, Fut>(
        &self,
        key: impl AsKey,
        op: F,
    ) -> impl Future<Output = Result<T, Error<E>>>
    where
        T: 'static,
        E: StdError + 'static,
        F: FnMut(AttemptInfo) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let inner = &*self.inner;
        // Under policies given in code, a `key!`'s state and its one compiled policy are found
        // by the text's address and lent to the call, as a handle's are (only such policies
        // are remembered there).
        let fixed = match key.static_str() {
            Some(text) if inner.fixed => inner.keys.get_static_fixed(text),
            _ => None,
        };
        let call = match fixed {
            Some((state, compiled)) => Call {
                inner,
                state,
                snapshot: Some(compiled),
                options: None,
                timeline: None,
            },
            None => match inner.find(&key) {
                Some(state) => inner.call(state, None, None),
                None => {
                    return ByKey::Later {
                        call: Box::pin(inner.call_later(key, op)),
                    };
                }
            },
        };
        ByKey::Direct {
            call: first::Bare::holding(call, op, first::held, first::resumed, first::retries),
        }
    }

    /// Like [`call`](Executor::call), also returning the call's [`Timeline`].
    pub async fn call_traced<T, E, F, Fut>(
        &self,
        key: impl AsKey,
        op: F,
    ) -> (Result<T, Error<E>>, Timeline)
    where
        T: 'static,
        E: StdError + 'static,
        F: FnMut(AttemptInfo) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let state = self.inner.state_of(&key);
        let mut timeline = Timeline::default();
        let result =
            first::traced_holding(self.inner.call(&state, None, Some(&mut timeline)), op).await;
        (result, timeline)
    }

    /// Like [`call`](Executor::call) with [`CallOptions`]; the timeline is returned when
    /// `options.capture` is set.
    pub async fn call_with<T, E, F, Fut>(
        &self,
        key: impl AsKey,
        options: &CallOptions,
        op: F,
    ) -> (Result<T, Error<E>>, Option<Timeline>)
    where
        T: 'static,
        E: StdError + 'static,
        F: FnMut(AttemptInfo) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let state = self.inner.state_of(&key);
        let mut timeline = Timeline::default();
        let out = options.capture.then_some(&mut timeline);
        let result = run(self.inner.call(&state, Some(options), out), op, First::None).await;
        (result, options.capture.then_some(timeline))
    }
}

impl Inner {
    /// The provider's generation (see [`Provider::generation`]); no call for policies given in
    /// code, which never change.
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        if self.fixed {
            0
        } else {
            self.provider.generation()
        }
    }

    fn shadow_stats(&self, key: &str) -> Option<crate::shadow::ShadowStats> {
        let state = self.keys.get(key)?;
        let shadow = state.runtime.shadow_state()?;
        // Only while the policy in hand has a shadow (reading counters never asks the
        // provider): a reload that drops the shadow ends its report.
        let compiled = state.snapshot()?;
        let plan = compiled.shadow.as_ref()?;
        let mut stats = shadow.stats();
        stats.policy = plan.id.as_deref().map(str::to_owned);
        stats.circuit = plan.circuit.as_ref().map(|c| {
            let now = self.clock.now();
            shadow.breaker.state(now, c.cooldown).as_str().to_owned()
        });
        Some(stats)
    }
}

/// What the export server reads of its executor: the keys called so far, their breakers and
/// the clock. A narrow handle, so the server never reaches into the executor's state.
#[cfg(feature = "export")]
#[derive(Clone)]
pub(crate) struct KeyDirectory {
    inner: Arc<Inner>,
}

#[cfg(feature = "export")]
impl KeyDirectory {
    /// `key`'s shadow counters, for keys whose policy has (or had) a shadow.
    pub(crate) fn shadow_stats(&self, key: &str) -> Option<crate::shadow::ShadowStats> {
        self.inner.shadow_stats(key)
    }

    /// Every key called so far (canonical spellings), sorted.
    pub(crate) fn keys(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = self.inner.keys.states().map(|s| s.key.clone()).collect();
        keys.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        keys
    }

    /// The breaker state of `key` as the export's `stats` report it: `isolated` or
    /// `forced-closed` while an operator has it in hand, else the breaker's own state for keys
    /// whose policy has a breaker.
    pub(crate) fn circuit(&self, key: &Key) -> Option<&'static str> {
        let inner = &self.inner;
        let state = inner.keys.get(key.as_str())?;
        if let Some(manual) = manual::read(&state.manual) {
            return Some(manual.as_str());
        }
        let cooldown = state.compiled(inner).ok()?.circuit.as_ref()?.cooldown;
        Some(
            state
                .runtime
                .breaker
                .state(inner.clock.now(), cooldown)
                .as_str(),
        )
    }

    /// Whether the service has called `key` (or set it by hand).
    pub(crate) fn known(&self, key: &str) -> bool {
        self.inner.keys.find(key).is_some()
    }

    /// Sets `key`'s breaker by hand (`Some`) or hands it back to its policy (`None`), for a
    /// `control` message.
    pub(crate) fn control(
        &self,
        key: &str,
        to: Option<crate::ManualControl>,
    ) -> Result<(), crate::ControlError> {
        // Releasing a key the service never knew changes nothing: no state is made for it.
        if to.is_none() && self.inner.keys.find(key).is_none() {
            return Ok(());
        }
        self.inner.control(key, to)
    }

    /// `key`'s hedging state, for keys whose policy has `hedge.auto_disable`.
    pub(crate) fn hedging(&self, key: &Key) -> Option<crate::hedge::HedgingState> {
        let inner = &self.inner;
        let state = inner.keys.get(key.as_str())?;
        state.compiled(inner).ok()?.hedge.as_ref()?.auto_disable?;
        Some(
            state
                .runtime
                .hedging_state()
                .unwrap_or(crate::hedge::HedgingState::Active),
        )
    }

    /// What `key`'s breaker window holds, for keys whose breaker judges rates.
    pub(crate) fn circuit_window(&self, key: &Key) -> Option<crate::circuit::Counts> {
        let inner = &self.inner;
        let state = inner.keys.get(key.as_str())?;
        let compiled = state.compiled(inner).ok()?;
        let rates = compiled.circuit.as_ref()?.rates.as_ref()?;
        Some(rates.window.counts(|| inner.clock.now()))
    }

    /// `key`'s attempts in flight and its bulkhead's cap, for keys whose policy has one.
    pub(crate) fn bulkhead(&self, key: &Key) -> Option<(u32, u32)> {
        let inner = &self.inner;
        let state = inner.keys.get(key.as_str())?;
        let max = state.compiled(inner).ok()?.bulkhead?;
        let in_flight = state.runtime.in_flight.load(Ordering::Acquire);
        Some((in_flight, max))
    }

    /// The name of the retry budget `key`'s policy uses, if it names one.
    pub(crate) fn retry_budget(&self, key: &Key) -> Option<Arc<str>> {
        let inner = &self.inner;
        let state = inner.keys.get(key.as_str())?;
        match &state.compiled(inner).ok()?.retry_budget {
            keyed::BudgetSlot::Found { name, .. } | keyed::BudgetSlot::Missing { name, .. } => {
                Some(name.clone())
            }
            keyed::BudgetSlot::None => None,
        }
    }

    /// Every budget with a level, sorted by name: its level now and its capacity.
    pub(crate) fn budgets(&self) -> Vec<budgets::BudgetLevel> {
        let inner = &self.inner;
        inner.budgets.levels(&*inner.provider, &inner.clock)
    }

    /// The executor's clock, now.
    pub(crate) fn now(&self) -> crate::clock::Timestamp {
        self.inner.clock.now()
    }
}

#[cfg(feature = "export")]
impl fmt::Debug for KeyDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyDirectory").finish_non_exhaustive()
    }
}

#[cfg(feature = "export")]
impl Executor {
    /// The export hub, its configuration and a key directory, when the executor exports.
    pub(crate) fn export_parts(
        &self,
    ) -> Option<(
        Arc<crate::export::hub::Hub>,
        crate::export::ExportConfig,
        KeyDirectory,
    )> {
        let export = self.inner.export.as_ref()?;
        let directory = KeyDirectory {
            inner: self.inner.clone(),
        };
        Some((export.hub.clone(), export.config.clone(), directory))
    }
}

impl Default for Executor {
    fn default() -> Executor {
        Executor::new()
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("provider", &self.inner.provider)
            .field("clock", &self.inner.clock)
            .field("keys", &self.inner.keys.spellings())
            .finish_non_exhaustive()
    }
}

impl Inner {
    #[inline]
    fn call<'a>(
        &'a self,
        state: &'a KeyState,
        options: Option<&'a CallOptions>,
        timeline: Option<&'a mut Timeline>,
    ) -> Call<'a> {
        Call {
            inner: self,
            state,
            // Under policies given in code, the key's one compiled policy serves as a handle's
            // snapshot does (the bare path included).
            snapshot: if self.fixed {
                state.fixed().map(|c| &**c)
            } else {
                None
            },
            options,
            timeline,
        }
    }

    /// The state of a key the executor holds already, found without adding anything (kept
    /// out of the caller's code).
    #[inline(never)]
    fn find(&self, key: &impl AsKey) -> Option<&Arc<KeyState>> {
        match key.static_str() {
            Some(text) => self.keys.get_static(text),
            None => self.keys.get(key.key_str()),
        }
    }

    /// A call by a key the executor does not hold yet (its first call) or will not hold (past
    /// `max_keys`): the key is added, or given an overflow slot, when the call is first
    /// polled.
    async fn call_later<T, E, F, Fut>(&self, key: impl AsKey, op: F) -> Result<T, Error<E>>
    where
        T: 'static,
        E: StdError + 'static,
        F: FnMut(AttemptInfo) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let state = self.state_of(&key);
        first::Bare::holding(
            self.call(&state, None, None),
            op,
            first::held,
            first::resumed,
            first::retries,
        )
        .await
    }

    /// The state of `raw` (as written at the call site), created on first use. At most
    /// `max_keys` spellings get a state of their own; past that, see
    /// [`overflow_state`](Inner::overflow_state).
    #[inline]
    fn state(&self, raw: &str) -> StateRef<'_> {
        self.held_or_overflow(self.keys.get_or_add(raw, self.max_keys), raw)
    }

    /// [`state`](Inner::state) of any key, found by address when its text lives as long as
    /// the program.
    #[inline]
    fn state_of(&self, key: &impl AsKey) -> StateRef<'_> {
        match key.static_str() {
            Some(text) => {
                self.held_or_overflow(self.keys.get_or_add_static(text, self.max_keys), text)
            }
            None => self.state(key.key_str()),
        }
    }

    #[inline]
    fn held_or_overflow<'a>(&'a self, held: Option<&'a Arc<KeyState>>, raw: &str) -> StateRef<'a> {
        match held {
            Some(state) => StateRef::Held(state),
            None => {
                self.overflow_calls.fetch_add(1, Ordering::Relaxed);
                StateRef::Overflow(self.overflow_state(raw))
            }
        }
    }
}

/// A key's state for the length of a call: borrowed from the executor's key table, or for a
/// key past `max_keys`, its own reference to the overflow slot's state.
enum StateRef<'a> {
    Held(&'a Arc<KeyState>),
    Overflow(Arc<KeyState>),
}

impl StateRef<'_> {
    fn into_arc(self) -> Arc<KeyState> {
        match self {
            StateRef::Held(state) => state.clone(),
            StateRef::Overflow(state) => state,
        }
    }
}

impl std::ops::Deref for StateRef<'_> {
    type Target = KeyState;

    #[inline]
    fn deref(&self) -> &KeyState {
        match self {
            StateRef::Held(state) => state,
            StateRef::Overflow(state) => state,
        }
    }
}

/// A key past `max_keys`, in the slot its spelling hashes to.
#[derive(Debug)]
pub(crate) struct OverflowState {
    spelling: Box<str>,
    state: Arc<KeyState>,
}

/// Slots for keys past `max_keys` (a power of two).
pub(crate) const OVERFLOW_SLOTS: usize = 1024;

impl Inner {
    /// The state of a key past `max_keys`: the one in its slot when the slot holds it (its
    /// policy compiled already), else a new one that takes the slot. All share the overflow
    /// breaker and latency tracker.
    #[cold]
    fn overflow_state(&self, raw: &str) -> Arc<KeyState> {
        use std::hash::BuildHasher;
        let at = rustc_hash::FxBuildHasher.hash_one(raw) as usize & (OVERFLOW_SLOTS - 1);
        let slot = &self.overflow_states[at];
        if let Some(held) = &*slot.load()
            && &*held.spelling == raw
        {
            return held.state.clone();
        }
        let state = Arc::new(KeyState::new(Key::parse(raw), self.overflow.clone()));
        slot.store(Some(Arc::new(OverflowState {
            spelling: raw.into(),
            state: state.clone(),
        })));
        state
    }
}

/// A pre-resolved key: calls through it skip the key parse and look-up.
#[derive(Clone)]
pub struct KeyHandle {
    inner: Arc<Inner>,
    state: Arc<KeyState>,
    snapshot: Option<Arc<Compiled>>,
}

impl KeyHandle {
    #[inline]
    fn call_state<'a>(
        &'a self,
        options: Option<&'a CallOptions>,
        timeline: Option<&'a mut Timeline>,
    ) -> Call<'a> {
        // Built here, not through `Inner::call`: the handle's snapshot stands in for the key's
        // policy given in code, so reading that (an atomic load) would be wasted.
        Call {
            inner: &self.inner,
            state: &self.state,
            snapshot: self.snapshot.as_deref(),
            options,
            timeline,
        }
    }

    /// The key.
    pub fn key(&self) -> &Key {
        &self.state.key
    }

    /// [`Executor::call`] for this key.
    ///
    /// The fastest way to make a call. When the policy puts nothing around its attempts
    /// (no timeout, budget, breaker or hedge, and a classifier that takes every value as a
    /// success) and nothing records the call (no observer, no `recourse tail` client), the
    /// attempts are polled bare: a success costs a few nanoseconds more than awaiting the
    /// operation itself (docs/performance.md). A failed attempt is classified and retried as
    /// in the call loop, under the policy the call started with; the result is the same
    /// either way. Under such a policy, a call an observer sees polls its first attempt bare
    /// too (between two clock readings, unless the observer is told counts only), and the
    /// observer hears what the loop would tell it.
    /// Like every future, it does nothing until awaited.
    pub fn call<T, E, F, Fut>(&self, op: F) -> impl Future<Output = Result<T, Error<E>>>
    where
        T: 'static,
        E: StdError + 'static,
        F: FnMut(AttemptInfo) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        first::Bare::new(
            self.call_state(None, None),
            op,
            first::lent,
            first::resumed,
            first::retries,
        )
    }

    /// [`Executor::call_traced`] for this key.
    pub async fn call_traced<T, E, F, Fut>(&self, op: F) -> (Result<T, Error<E>>, Timeline)
    where
        T: 'static,
        E: StdError + 'static,
        F: FnMut(AttemptInfo) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut timeline = Timeline::default();
        let result = first::traced(self.call_state(None, Some(&mut timeline)), op).await;
        (result, timeline)
    }

    /// [`Executor::call_with`] for this key.
    pub async fn call_with<T, E, F, Fut>(
        &self,
        options: &CallOptions,
        op: F,
    ) -> (Result<T, Error<E>>, Option<Timeline>)
    where
        T: 'static,
        E: StdError + 'static,
        F: FnMut(AttemptInfo) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut timeline = Timeline::default();
        let out = options.capture.then_some(&mut timeline);
        let result = run(self.call_state(Some(options), out), op, First::None).await;
        (result, options.capture.then_some(timeline))
    }
}

impl fmt::Debug for KeyHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyHandle").field(&self.state.key).finish()
    }
}
