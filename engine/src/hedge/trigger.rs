use std::fmt;
use std::time::Duration;

use super::LatencySnapshot;

/// What a trigger knows when asked about the next hedge of a group.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct TriggerState {
    /// Attempts launched in this group so far (the primary included).
    pub launched: u32,
    /// The most hedges this group may launch.
    pub max_hedges: u32,
    /// Time since the group started.
    pub elapsed: Duration,
    /// Time since the last launch (the primary's or a hedge's).
    pub since_last: Duration,
    /// The policy's `hedge_delay`.
    pub hedge_delay: Duration,
    /// The key's latency percentiles (with `samples` at least the policy's minimum).
    pub latency: LatencySnapshot,
}

/// A trigger's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HedgeDecision {
    /// Launch a hedge now.
    Spawn,
    /// Ask again after this long.
    Wait(Duration),
    /// No more hedges in this group.
    Stop,
}

/// Decides when a group's next hedge launches. Register your own with
/// [`ExecutorBuilder::trigger`](crate::ExecutorBuilder::trigger).
pub trait Trigger: Send + Sync + fmt::Debug {
    /// Whether to launch the next hedge now.
    fn decide(&self, state: &TriggerState) -> HedgeDecision;

    /// Whether this trigger reads latency percentiles (the key then needs `min_samples` samples
    /// before it hedges).
    fn needs_latency(&self) -> bool {
        false
    }
}

/// Hedge `i` at `i × hedge_delay` after the group started.
#[derive(Debug, Default, Clone, Copy)]
pub struct FixedDelay;

impl Trigger for FixedDelay {
    fn decide(&self, s: &TriggerState) -> HedgeDecision {
        if s.launched > s.max_hedges {
            return HedgeDecision::Stop;
        }
        let target = s.hedge_delay.saturating_mul(s.launched);
        if s.elapsed >= target {
            HedgeDecision::Spawn
        } else {
            HedgeDecision::Wait(target - s.elapsed)
        }
    }
}

/// The first hedge once the group has run longer than a latency percentile of its key; each
/// further hedge `hedge_delay` after the previous one (one hedge per decision).
#[derive(Debug, Clone)]
pub struct Percentile {
    name: &'static str,
}

impl Percentile {
    /// `p50`, `p90`, `p95` or `p99`; `None` for anything else.
    pub fn named(name: &str) -> Option<Percentile> {
        let name = match name.to_ascii_lowercase().as_str() {
            "p50" => "p50",
            "p90" => "p90",
            "p95" => "p95",
            "p99" => "p99",
            _ => return None,
        };
        Some(Percentile { name })
    }
}

impl Trigger for Percentile {
    fn decide(&self, s: &TriggerState) -> HedgeDecision {
        if s.launched > s.max_hedges {
            return HedgeDecision::Stop;
        }
        if s.launched > 1 {
            return if s.since_last >= s.hedge_delay {
                HedgeDecision::Spawn
            } else {
                HedgeDecision::Wait(s.hedge_delay - s.since_last)
            };
        }
        let threshold = s.latency.get(self.name).unwrap_or_default();
        if threshold.is_zero() {
            return HedgeDecision::Stop;
        }
        if s.elapsed > threshold {
            HedgeDecision::Spawn
        } else {
            // Strictly past the threshold: ask again just after it.
            HedgeDecision::Wait(threshold - s.elapsed + Duration::from_nanos(1))
        }
    }

    fn needs_latency(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn state(launched: u32, max: u32, elapsed: Duration, delay: Duration) -> TriggerState {
        TriggerState {
            launched,
            max_hedges: max,
            elapsed,
            since_last: elapsed,
            hedge_delay: delay,
            latency: LatencySnapshot::default(),
        }
    }

    #[test]
    fn s071_fixed_delay_table() {
        // The policy delay is always set after normalization: the cases use it.
        let d = ms(50);
        assert_eq!(
            FixedDelay.decide(&state(1, 2, ms(0), d)),
            HedgeDecision::Wait(ms(50))
        );
        assert_eq!(
            FixedDelay.decide(&state(1, 2, ms(50), d)),
            HedgeDecision::Spawn
        );
        assert_eq!(
            FixedDelay.decide(&state(2, 2, ms(60), d)),
            HedgeDecision::Wait(ms(40))
        );
        assert_eq!(
            FixedDelay.decide(&state(3, 2, ms(500), d)),
            HedgeDecision::Stop
        );
        assert_eq!(
            FixedDelay.decide(&state(1, 2, ms(5), ms(10))),
            HedgeDecision::Wait(ms(5))
        );
        assert_eq!(
            FixedDelay.decide(&state(1, 0, ms(5), d)),
            HedgeDecision::Stop
        );
    }

    #[test]
    fn s072_latency_trigger_table() {
        let snap = LatencySnapshot {
            samples: 100,
            p50: ms(10),
            p90: ms(50),
            p95: ms(70),
            p99: ms(100),
        };
        let at = |name: &str, launched: u32, elapsed: Duration| {
            let mut s = state(launched, 1, elapsed, ms(20));
            s.latency = snap;
            Percentile::named(name).map(|p| p.decide(&s))
        };
        assert_eq!(
            at("p50", 1, ms(5)),
            Some(HedgeDecision::Wait(ms(5) + Duration::from_nanos(1)))
        );
        assert_eq!(at("p50", 1, ms(11)), Some(HedgeDecision::Spawn));
        assert_eq!(
            at("p99", 1, ms(90)),
            Some(HedgeDecision::Wait(ms(10) + Duration::from_nanos(1)))
        );
        assert_eq!(at("p99", 1, ms(101)), Some(HedgeDecision::Spawn));
        assert_eq!(
            at("p50", 2, ms(20)),
            Some(HedgeDecision::Stop),
            "max hedges reached"
        );
        assert_eq!(
            at("pXX", 1, ms(1000)),
            None,
            "unknown percentile: no trigger"
        );
        let empty = Percentile::named("p50")
            .unwrap()
            .decide(&state(1, 1, ms(100), ms(20)));
        assert_eq!(empty, HedgeDecision::Stop, "no samples: no hedge");
    }

    #[test]
    fn latency_trigger_spaces_further_hedges_by_the_delay() {
        // One hedge per decision, not all at once.
        let p = Percentile::named("p50").unwrap();
        let mut s = state(2, 3, ms(30), ms(20));
        s.since_last = ms(5);
        assert_eq!(p.decide(&s), HedgeDecision::Wait(ms(15)));
        s.since_last = ms(20);
        assert_eq!(p.decide(&s), HedgeDecision::Spawn);
    }
}
