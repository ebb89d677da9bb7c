//! Hedging that notices when it does not pay (`hedge.auto_disable`): one per key, judged over
//! every `min_hedges` hedges.
//!
//! Hedging is on (`active`) until a run of `min_hedges` hedges wins less than `min_win_rate`
//! of the time: hedges then add load and buy nothing, and hedging pauses (`paused`) for the
//! cooldown. After it, a `probe_fraction` of groups hedge again (`probing`) until
//! `min_hedges` more have run: if they win enough, hedging resumes; if not, it pauses again.
//! Only groups that hedged count. Asked once per retry group, never per call of a key without
//! the option.

use std::sync::Mutex;

use crate::clock::Timestamp;
use crate::error::Reason;
use crate::policy::NormalizedAutoDisable;

/// Whether a key hedges, under `hedge.auto_disable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HedgingState {
    /// Hedging as its policy says.
    Active,
    /// No hedges until the cooldown passes: they were not winning.
    Paused,
    /// A fraction of calls hedge, to see whether hedges win again.
    Probing,
}

impl HedgingState {
    /// `active`, `paused` or `probing`.
    pub fn as_str(self) -> &'static str {
        match self {
            HedgingState::Active => "active",
            HedgingState::Paused => "paused",
            HedgingState::Probing => "probing",
        }
    }
}

/// A change of a key's hedging state, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HedgingChange {
    pub(crate) from: HedgingState,
    pub(crate) to: HedgingState,
    pub(crate) reason: Reason,
}

/// One key's hedging state.
#[derive(Debug)]
pub(crate) struct Governor(Mutex<State>);

#[derive(Debug)]
struct State {
    mode: HedgingState,
    /// Hedges counted in the current run, and how many of them won.
    hedges: u32,
    won: u32,
    /// While paused: until when.
    until: Timestamp,
    /// Groups seen while probing (every `1 / probe_fraction`-th hedges).
    probed: u64,
}

impl Default for Governor {
    fn default() -> Governor {
        Governor(Mutex::new(State {
            mode: HedgingState::Active,
            hedges: 0,
            won: 0,
            until: Timestamp::EPOCH,
            probed: 0,
        }))
    }
}

impl Governor {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key's state now.
    pub(crate) fn state(&self) -> HedgingState {
        self.lock().mode
    }

    /// Whether a retry group starting at `now` may hedge, and the change if the pause just
    /// ended.
    pub(crate) fn admit(
        &self,
        rules: &NormalizedAutoDisable,
        now: Timestamp,
    ) -> (bool, Option<HedgingChange>) {
        let mut st = self.lock();
        let mut change = None;
        if st.mode == HedgingState::Paused {
            if now < st.until {
                return (false, None);
            }
            change = Some(st.enter(HedgingState::Probing, Reason::COOLDOWN_ELAPSED));
        }
        if st.mode == HedgingState::Probing {
            let every = (1.0 / rules.probe_fraction).round().max(1.0) as u64;
            st.probed += 1;
            return ((st.probed - 1).is_multiple_of(every), change);
        }
        (true, change)
    }

    /// A group that launched `hedges` hedges ended at `now`, won by a hedge or not.
    pub(crate) fn record(
        &self,
        rules: &NormalizedAutoDisable,
        now: Timestamp,
        hedges: u32,
        hedge_won: bool,
    ) -> Option<HedgingChange> {
        if hedges == 0 {
            return None;
        }
        let mut st = self.lock();
        if st.mode == HedgingState::Paused {
            return None; // a group that started before the pause
        }
        st.hedges += hedges;
        st.won += u32::from(hedge_won);
        if st.hedges < rules.min_hedges {
            return None;
        }
        let paying = f64::from(st.won) >= rules.min_win_rate * f64::from(st.hedges);
        let change = match (st.mode, paying) {
            (HedgingState::Active, false) => {
                st.until = now.plus(rules.cooldown);
                Some(st.enter(HedgingState::Paused, Reason::HEDGES_NOT_WINNING))
            }
            (HedgingState::Probing, true) => {
                Some(st.enter(HedgingState::Active, Reason::PROBE_SUCCEEDED))
            }
            (HedgingState::Probing, false) => {
                st.until = now.plus(rules.cooldown);
                Some(st.enter(HedgingState::Paused, Reason::PROBE_FAILED))
            }
            _ => None,
        };
        st.hedges = 0;
        st.won = 0;
        change
    }
}

impl State {
    fn enter(&mut self, to: HedgingState, reason: Reason) -> HedgingChange {
        let from = self.mode;
        self.mode = to;
        self.hedges = 0;
        self.won = 0;
        self.probed = 0;
        HedgingChange { from, to, reason }
    }
}
