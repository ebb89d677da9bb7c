//! Manual control of a key's breaker, for incidents: isolate a key (every call rejected, as by
//! an open breaker), force it closed (calls run whatever the breaker would say), or hand it
//! back to its policy. The setting lives in the key's state, so it survives policy reloads,
//! and it applies whether or not the key's policy has a breaker.
//!
//! The call loop reads the setting on every call. The bare path does not: a key set by hand
//! has the bare path turned off in its compiled policy instead (`KeyState::settle_bare`), so
//! a plain call pays nothing for the feature.

use std::sync::atomic::{AtomicU8, Ordering};

use super::tap::tap;
use super::{Executor, Inner, StateRef};
use crate::circuit::Transition;
use crate::error::{CircuitState, Reason};
use crate::key::{AsKey, Key};

const AUTOMATIC: u8 = 0;
const ISOLATED: u8 = 1;
const FORCED_CLOSED: u8 = 2;

/// How an operator has set a key's breaker by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManualControl {
    /// Every call is rejected with `Error::CircuitOpen` (reason `circuit_open`), as by an open
    /// breaker.
    Isolated,
    /// Calls run, and the breaker neither rejects them nor hears how they went.
    ForcedClosed,
}

impl ManualControl {
    /// `isolated` or `forced-closed`: how timelines and the export's `stats` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            ManualControl::Isolated => "isolated",
            ManualControl::ForcedClosed => "forced-closed",
        }
    }
}

/// Why a key's breaker could not be set by hand.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The key is past the executor's `max_keys`: it shares its breaker with every other such
    /// key, so setting it would set them all.
    #[error(
        "{key} is past the executor's max_keys and shares its breaker with every such key; \
         it cannot be isolated or forced alone"
    )]
    SharedState {
        /// The key.
        key: Key,
    },
}

/// The manual setting stored in a key's state.
pub(crate) fn read(manual: &AtomicU8) -> Option<ManualControl> {
    match manual.load(Ordering::SeqCst) {
        ISOLATED => Some(ManualControl::Isolated),
        FORCED_CLOSED => Some(ManualControl::ForcedClosed),
        _ => None,
    }
}

impl Executor {
    /// Isolates `key`: its calls are rejected at once with `Error::CircuitOpen` (reason
    /// `circuit_open`, timeline attribute `circuit_state: isolated`) until
    /// [`release`](Executor::release). Observers and `recourse tail` see a circuit change to
    /// `open` with reason `manual_isolate`.
    ///
    /// ```
    /// use recourse_engine::{Error, Executor, Policy, Reason};
    /// # use recourse_engine::clock::VirtualClock;
    /// # let vc = VirtualClock::new();
    /// let exec = Executor::builder()
    /// #   .clock(vc.clock())
    ///     .policy("payments.Charge", Policy::builtin())
    ///     .build()
    ///     .unwrap();
    /// exec.isolate("payments.Charge").unwrap();
    /// # vc.block_on(async {
    /// let r = exec.call("payments.Charge", |_| async { Ok::<_, std::io::Error>(1) }).await;
    /// assert!(matches!(r, Err(Error::CircuitOpen { reason, .. }) if reason == Reason::CIRCUIT_OPEN));
    /// exec.release("payments.Charge").unwrap();
    /// let r = exec.call("payments.Charge", |_| async { Ok::<_, std::io::Error>(1) }).await;
    /// assert_eq!(r.unwrap(), 1);
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// [`ControlError::SharedState`] for a key past `max_keys`.
    pub fn isolate(&self, key: impl AsKey) -> Result<(), ControlError> {
        self.inner
            .set_manual(&key, ISOLATED, Reason::MANUAL_ISOLATE)
    }

    /// Forces `key`'s breaker closed: its calls run whatever the breaker would say, and the
    /// breaker hears nothing of them, until [`release`](Executor::release). Reported as a
    /// circuit change to `closed` with reason `manual_close`.
    ///
    /// # Errors
    ///
    /// [`ControlError::SharedState`] for a key past `max_keys`.
    pub fn force_close(&self, key: impl AsKey) -> Result<(), ControlError> {
        self.inner
            .set_manual(&key, FORCED_CLOSED, Reason::MANUAL_CLOSE)
    }

    /// Hands `key`'s breaker back to its policy. Reported as a circuit change to the
    /// breaker's own state with reason `manual_release`.
    ///
    /// # Errors
    ///
    /// [`ControlError::SharedState`] for a key past `max_keys`.
    pub fn release(&self, key: impl AsKey) -> Result<(), ControlError> {
        self.inner
            .set_manual(&key, AUTOMATIC, Reason::MANUAL_RELEASE)
    }

    /// How an operator has set `key`'s breaker, if at all. Asking about a key the executor
    /// has never seen keeps no state for it.
    pub fn manual_control(&self, key: impl AsKey) -> Option<ManualControl> {
        read(&self.inner.keys.find(key.key_str())?.manual)
    }
}

impl Inner {
    /// Sets `key` by hand (`Some`) or hands it back (`None`), as the `Executor` methods do.
    #[cfg(feature = "export")]
    pub(crate) fn control(&self, key: &str, to: Option<ManualControl>) -> Result<(), ControlError> {
        let (code, reason) = match to {
            Some(ManualControl::Isolated) => (ISOLATED, Reason::MANUAL_ISOLATE),
            Some(ManualControl::ForcedClosed) => (FORCED_CLOSED, Reason::MANUAL_CLOSE),
            None => (AUTOMATIC, Reason::MANUAL_RELEASE),
        };
        self.set_manual(&key, code, reason)
    }

    fn set_manual(&self, key: &impl AsKey, to: u8, reason: Reason) -> Result<(), ControlError> {
        let state = match self.state_of(key) {
            StateRef::Held(state) => state.clone(),
            StateRef::Overflow(state) => {
                return Err(ControlError::SharedState {
                    key: state.key.clone(),
                });
            }
        };
        let before = state.manual.swap(to, Ordering::SeqCst);
        if before == to {
            return Ok(()); // nothing changed: nothing to report
        }
        state.settle_bare();
        let now = self.clock.now();
        let cooldown = state
            .compiled(self)
            .ok()
            .and_then(|c| c.circuit.as_ref().map(|c| c.cooldown))
            .unwrap_or_default();
        let automatic = state.runtime.breaker.state(now, cooldown);
        let shown = |manual: u8| match manual {
            ISOLATED => CircuitState::Open,
            FORCED_CLOSED => CircuitState::Closed,
            _ => automatic,
        };
        let transition = Transition {
            from: shown(before),
            to: shown(to),
            reason,
        };
        if let Some(w) = &self.observer {
            w.observer.on_circuit_change(
                &state.key,
                transition.from,
                transition.to,
                &transition.reason,
            );
        }
        if let Some(t) = tap(self, &state) {
            t.circuit(&state.key, &transition, now);
        }
        Ok(())
    }
}
