//! The policy document, version 1 (docs/policy-files.md), and the source tree it is read from: every
//! node's line and column by JSON pointer, so an error points at the offending node.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::opt_serde;
use super::model::Policy;

/// A budget declared in a policy document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum BudgetSpec {
    /// [`TokenBucket`](crate::budget::TokenBucket).
    TokenBucket {
        /// Tokens when full.
        capacity: u64,
        /// Tokens added per second.
        #[serde(default)]
        refill_per_second: f64,
        /// Who shares the bucket: this process (default) or every replica of the service.
        #[serde(default, skip_serializing_if = "BudgetScope::is_local")]
        scope: BudgetScope,
        /// With `scope: fleet`, what the budget does when the fleet's store is out of reach.
        #[serde(default, skip_serializing_if = "FleetFallback::is_local")]
        fallback: FleetFallback,
    },
    /// [`Ratio`](crate::budget::Ratio).
    Ratio {
        /// Retries per first attempt (0.1 = 10%).
        ratio: f64,
        /// Retries per second always allowed.
        #[serde(default)]
        min_per_second: f64,
        /// The sliding window (default 10s).
        #[serde(default, with = "opt_serde", skip_serializing_if = "Option::is_none")]
        window: Option<Duration>,
        /// Who shares the budget: this process (default) or every replica of the service.
        #[serde(default, skip_serializing_if = "BudgetScope::is_local")]
        scope: BudgetScope,
        /// With `scope: fleet`, what the budget does when the fleet's store is out of reach.
        #[serde(default, skip_serializing_if = "FleetFallback::is_local")]
        fallback: FleetFallback,
    },
    /// [`Throttle`](crate::budget::Throttle): gRPC's retry throttling.
    Throttle {
        /// Tokens when full: over 0, at most 1000.
        #[serde(deserialize_with = "max_tokens")]
        max_tokens: f64,
        /// Tokens a success gives back (three decimal places): over 0.
        #[serde(deserialize_with = "token_ratio")]
        token_ratio: f64,
    },
    /// [`Unlimited`](crate::budget::Unlimited).
    Unlimited,
}

/// Who shares a budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BudgetScope {
    /// Each process keeps its own budget.
    #[default]
    Local,
    /// Every replica of the service spends from one budget, kept in the fleet's store
    /// (docs/fleet.md).
    Fleet,
}

impl BudgetScope {
    fn is_local(&self) -> bool {
        *self == BudgetScope::Local
    }
}

/// What a fleet budget does once its store has been out of reach for three sync intervals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FleetFallback {
    /// Spends from a local budget holding this replica's share of the fleet's allowance.
    #[default]
    Local,
    /// Denies every attempt the budget gates until the store answers again.
    Deny,
}

impl FleetFallback {
    fn is_local(&self) -> bool {
        *self == FleetFallback::Local
    }
}

/// A throttle's `max_tokens`: over 0 and at most 1000, as in gRPC.
fn max_tokens<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v <= 1000.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "max_tokens is {v}; it must be over 0 and at most 1000"
        )))
    }
}

/// A throttle's `token_ratio`: over 0 and finite.
fn token_ratio<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "token_ratio is {v}; it must be over 0"
        )))
    }
}

impl BudgetSpec {
    /// The budget this spec describes, full. For a fleet budget: the local budget of the same
    /// shape, what a replica that never reached the fleet's store spends from.
    pub fn build(&self) -> std::sync::Arc<dyn crate::budget::Budget> {
        self.build_from(None, crate::clock::Timestamp::EPOCH)
    }

    /// Who shares the budget.
    pub fn scope(&self) -> BudgetScope {
        match self {
            BudgetSpec::TokenBucket { scope, .. } | BudgetSpec::Ratio { scope, .. } => *scope,
            _ => BudgetScope::Local,
        }
    }

    /// What a fleet budget does with its store out of reach.
    pub fn fleet_fallback(&self) -> FleetFallback {
        match self {
            BudgetSpec::TokenBucket { fallback, .. } | BudgetSpec::Ratio { fallback, .. } => {
                *fallback
            }
            _ => FleetFallback::Local,
        }
    }

    /// The budget's shape as a fleet pool (an unlimited or throttle budget cannot be shared:
    /// an empty bucket).
    pub(crate) fn pool(&self) -> crate::fleet::Pool {
        use crate::fleet::Pool;
        match self {
            BudgetSpec::TokenBucket {
                capacity,
                refill_per_second,
                ..
            } => Pool::TokenBucket {
                capacity: *capacity as f64,
                refill_per_second: *refill_per_second,
            },
            BudgetSpec::Ratio {
                ratio,
                min_per_second,
                window,
                ..
            } => Pool::Ratio {
                ratio: *ratio,
                min_per_second: *min_per_second,
                window: window.unwrap_or(super::defaults::RATIO_WINDOW),
            },
            _ => Pool::TokenBucket {
                capacity: 0.0,
                refill_per_second: 0.0,
            },
        }
    }

    /// The budget this spec describes, holding at `now` what `previous` (the budget it
    /// replaces, when a policy file changed it) held, up to its own capacity.
    pub(crate) fn build_from(
        &self,
        previous: Option<&dyn crate::budget::Budget>,
        now: crate::clock::Timestamp,
    ) -> std::sync::Arc<dyn crate::budget::Budget> {
        use crate::budget::{Ratio, Throttle, TokenBucket, Unlimited};
        let held = previous.and_then(|b| b.level(now));
        match self {
            BudgetSpec::TokenBucket {
                capacity,
                refill_per_second,
                ..
            } => {
                let bucket = TokenBucket::new(*capacity, *refill_per_second);
                if let Some(tokens) = held {
                    bucket.hold(tokens, now);
                }
                std::sync::Arc::new(bucket)
            }
            BudgetSpec::Ratio {
                ratio,
                min_per_second,
                window,
                ..
            } => {
                let budget = Ratio::new(
                    *ratio,
                    *min_per_second,
                    window.unwrap_or(super::defaults::RATIO_WINDOW),
                );
                if let Some(tokens) = held {
                    budget.hold(tokens, now);
                }
                std::sync::Arc::new(budget)
            }
            BudgetSpec::Throttle {
                max_tokens,
                token_ratio,
            } => {
                let throttle = Throttle::new(*max_tokens, *token_ratio);
                if let Some(tokens) = held {
                    throttle.hold(tokens);
                }
                std::sync::Arc::new(throttle)
            }
            BudgetSpec::Unlimited => std::sync::Arc::new(Unlimited),
        }
    }
}

/// A policy document as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Always 1.
    pub version: u32,
    /// Field-level defaults for every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Policy>,
    /// Budgets the engine builds by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub budgets: BTreeMap<String, BudgetSpec>,
    /// Policies by key; `namespace.*` covers every key of the namespace without its own entry.
    #[serde(default)]
    pub policies: BTreeMap<String, Policy>,
}

/// A 1-based line and column (in characters) in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// A parsed source: the document as a JSON value, and where each node is.
#[derive(Clone, Debug, Default)]
pub struct SourceTree {
    /// The document.
    pub value: serde_json::Value,
    /// Position of each value by JSON pointer (`/policies/payments.Charge/retry`).
    pub values: HashMap<String, Position>,
    /// Position of each mapping key by the pointer of its value.
    pub keys: HashMap<String, Position>,
}

impl SourceTree {
    /// Where the node at `pointer` is: its value, else the closest ancestor.
    pub fn position(&self, pointer: &str) -> Position {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.values.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Position { line: 1, column: 1 },
            }
        }
    }

    /// Where the key of the node at `pointer` is (for unknown fields and duplicates).
    pub fn key_position(&self, pointer: &str) -> Position {
        self.keys
            .get(pointer)
            .copied()
            .unwrap_or_else(|| self.position(pointer))
    }
}

/// Escapes one JSON-pointer segment (RFC 6901).
pub fn pointer_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}
