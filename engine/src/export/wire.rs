//! The wire protocol, version 1 (DESIGN.md §5): what the server writes, and a tolerant reader
//! for clients (`recourse tail`): unknown fields and unknown message types are ignored.
//!
//! Every line is one JSON object with a `t` field. Server messages after `hello` carry `seq`
//! (per connection, increasing) and `ts` (RFC 3339 UTC, microseconds).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::hedge::{BUCKETS, SUB, bucket_of, bucket_value};
use crate::observe::CallSummary;
use crate::observe::summary::AttemptFacts;

/// The protocol version this engine speaks.
pub const VERSION: u32 = 1;

/// The longest line a reader accepts (1 MiB).
pub const MAX_LINE: usize = 1 << 20;

/// A message of the stream, as a client reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Message {
    /// The server's greeting.
    Hello(Hello),
    /// A client's subscription (servers read it; recordings may hold it).
    Subscribe(Subscribe),
    /// The server's answer to a subscription.
    Subscribed(Subscribed),
    /// One finished call.
    Call(CallEvent),
    /// Cumulative counters per key.
    Stats(Stats),
    /// A breaker changed state.
    Circuit(CircuitEvent),
    /// Events were lost.
    Gap(Gap),
    /// The server refused something.
    Error(ErrorEvent),
    /// The answer to `ping`.
    Pong(Common),
    /// The client's liveness probe.
    Ping(Common),
    /// The server is closing the connection.
    Bye(Common),
    /// A message type this reader does not know (ignored).
    #[serde(other)]
    Unknown,
}

/// Fields every server message may carry, plus `target` (added by `recourse tail --record`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Common {
    /// Per connection, increasing.
    #[serde(default)]
    pub seq: u64,
    /// When the message was written.
    #[serde(default)]
    pub ts: Option<String>,
    /// The target it came from, in a recording.
    #[serde(default)]
    pub target: Option<String>,
}

/// `hello`: who the server is.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Hello {
    /// Protocol version.
    pub v: u32,
    /// The service's name.
    pub service: String,
    /// The instance's identifier.
    #[serde(default)]
    pub instance: Option<String>,
    /// The process id.
    #[serde(default)]
    pub pid: Option<u64>,
    /// The engine's version.
    #[serde(default)]
    pub engine: Option<String>,
    /// When the service started.
    #[serde(default)]
    pub started_at: Option<String>,
    /// Whether error texts are sent.
    #[serde(default)]
    pub include_errors: bool,
    /// `none` or `token`.
    #[serde(default)]
    pub auth: Option<String>,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// `subscribe`: what a client wants. A new one replaces the old one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Subscribe {
    /// Key globs (`*`, `?`, a leading `!` excludes); none means every key.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Message types wanted (`call`, `stats`, `circuit`); none means all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Most `call` messages per second.
    #[serde(default)]
    pub max_rate: Option<u32>,
    /// Which calls: `all` (default), `interesting` (all but a first attempt that succeeded on
    /// its own) or `failed`. Unknown values mean `all`.
    #[serde(default)]
    pub calls: Option<String>,
    /// The token a protected server requires.
    #[serde(default)]
    pub token: Option<String>,
}

/// Which calls a subscription asks for (its `calls` field): the one mapping from the wire names
/// onto [`CallSummary`], shared by services (which filter before sending) and clients (which
/// filter recordings and older services again).
///
/// ```
/// use recourse_engine::export::wire::CallFilter;
///
/// for filter in CallFilter::EVERY {
///     assert_eq!(filter.as_str().parse::<CallFilter>(), Ok(filter));
/// }
/// assert!("sometimes".parse::<CallFilter>().is_err());
/// // A service reading a subscription: absent or unknown means every call.
/// assert_eq!(CallFilter::from_wire(Some("failed")), CallFilter::Failed);
/// assert_eq!(CallFilter::from_wire(Some("sometimes")), CallFilter::All);
/// assert_eq!(CallFilter::from_wire(None), CallFilter::All);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CallFilter {
    /// Every call.
    #[default]
    All,
    /// All but a first attempt that succeeded on its own: retries, hedges, budget denials,
    /// failures.
    Interesting,
    /// Failed calls only.
    Failed,
}

impl CallFilter {
    /// Every filter, in the order help text lists them.
    pub const EVERY: [CallFilter; 3] =
        [CallFilter::All, CallFilter::Interesting, CallFilter::Failed];

    /// The wire name (`all`, `interesting`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            CallFilter::All => "all",
            CallFilter::Interesting => "interesting",
            CallFilter::Failed => "failed",
        }
    }

    /// One line for help text.
    pub fn describe(self) -> &'static str {
        match self {
            CallFilter::All => "Every call",
            CallFilter::Interesting => {
                "All but a first attempt that succeeded on its own: retries, hedges, budget \
                 denials, failures"
            }
            CallFilter::Failed => "Failed calls only",
        }
    }

    /// The filter a subscription names; absent or unknown means [`All`](CallFilter::All), so
    /// a newer client never loses calls from an older service's point of view.
    pub fn from_wire(value: Option<&str>) -> CallFilter {
        value.and_then(|v| v.parse().ok()).unwrap_or_default()
    }

    /// Whether a call with this summary passes.
    pub fn admits(self, s: &CallSummary) -> bool {
        match self {
            CallFilter::All => true,
            CallFilter::Interesting => !s.is_routine(),
            CallFilter::Failed => !s.succeeded,
        }
    }
}

impl std::fmt::Display for CallFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `calls` value that is none of `all`, `interesting`, `failed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown call filter `{0}` (expected all, interesting or failed)")]
pub struct UnknownCallFilter(pub String);

impl std::str::FromStr for CallFilter {
    type Err = UnknownCallFilter;

    fn from_str(s: &str) -> Result<CallFilter, UnknownCallFilter> {
        CallFilter::EVERY
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCallFilter(s.to_owned()))
    }
}

/// `subscribed`: the keys known now that the subscription matches.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Subscribed {
    /// Keys matched.
    #[serde(default)]
    pub matched: Vec<String>,
    /// The rate cap in effect.
    #[serde(default)]
    pub max_rate: Option<u32>,
    /// The calls sent (`all`, `interesting`, `failed`).
    #[serde(default)]
    pub calls: Option<String>,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// `call`: one finished call (a timeline, `schemas/event.schema.json#/$defs/call`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CallEvent {
    /// The key.
    pub key: String,
    /// The policy's id.
    #[serde(default)]
    pub policy_id: Option<String>,
    /// When the call started.
    #[serde(default)]
    pub start: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// The final reason code.
    pub reason: String,
    /// The call's duration in microseconds.
    #[serde(default)]
    pub duration_us: u64,
    /// Call attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The attempts, in completion order.
    #[serde(default)]
    pub attempts: Vec<AttemptEvent>,
    /// The final error's text (only from services that opt in).
    #[serde(default)]
    pub error: Option<String>,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

impl CallEvent {
    /// Whether the call succeeded.
    pub fn ok(&self) -> bool {
        self.outcome == "success"
    }

    /// Its attempts counted: retries, hedges, budget denials, the winner (the same counting
    /// as [`Timeline::summary`](crate::Timeline::summary)).
    pub fn summary(&self) -> CallSummary {
        let facts = self.attempts.iter().map(|a| AttemptFacts {
            attempt: a.attempt,
            is_hedge: a.is_hedge,
            budget_allowed: a.budget_allowed,
            succeeded: a.outcome == "success",
        });
        CallSummary::of(self.ok(), facts)
    }
}

/// One attempt of a `call`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AttemptEvent {
    /// The retry index.
    #[serde(default)]
    pub attempt: u32,
    /// 0 for the primary, 1.. for hedges.
    #[serde(default)]
    pub hedge_index: u32,
    /// True for a hedge.
    #[serde(default)]
    pub is_hedge: bool,
    /// Start, microseconds from the call's start.
    #[serde(default)]
    pub start_us: u64,
    /// End, microseconds from the call's start.
    #[serde(default)]
    pub end_us: u64,
    /// The wait before it.
    #[serde(default)]
    pub backoff_us: u64,
    /// The classified outcome.
    #[serde(default)]
    pub outcome: String,
    /// Its reason code.
    #[serde(default)]
    pub reason: String,
    /// Whether the budget admitted it.
    #[serde(default = "yes")]
    pub budget_allowed: bool,
    /// The budget's reason.
    #[serde(default)]
    pub budget_reason: String,
    /// The classifier's attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The error text (only from services that opt in).
    #[serde(default)]
    pub error: Option<String>,
}

fn yes() -> bool {
    true
}

/// `stats`: cumulative counters per key, exact whatever was dropped.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Stats {
    /// The server's cadence.
    #[serde(default)]
    pub interval_ms: Option<u64>,
    /// Events lost so far for this connection, by cause.
    #[serde(default)]
    pub dropped: Dropped,
    /// Per key.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyStats>,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Loss counters, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Dropped {
    /// The service's source queue was full.
    #[serde(default)]
    pub source_queue_full: u64,
    /// This client read too slowly.
    #[serde(default)]
    pub client_slow: u64,
    /// Over the subscription's `max_rate`.
    #[serde(default)]
    pub rate_limited: u64,
}

/// One key's counters in `stats`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct KeyStats {
    /// Calls finished.
    #[serde(default)]
    pub calls: u64,
    /// Calls that succeeded.
    #[serde(default)]
    pub successes: u64,
    /// Calls whose first retry group succeeded.
    #[serde(default)]
    pub first_try_successes: u64,
    /// Calls that failed.
    #[serde(default)]
    pub failures: u64,
    /// Attempts run.
    #[serde(default)]
    pub attempts: u64,
    /// Retries run.
    #[serde(default)]
    pub retries: u64,
    /// Hedges launched.
    #[serde(default)]
    pub hedges: u64,
    /// Calls a hedge won.
    #[serde(default)]
    pub hedge_wins: u64,
    /// Attempts a budget refused.
    #[serde(default)]
    pub budget_denied: u64,
    /// Calls an open breaker rejected.
    #[serde(default)]
    pub circuit_rejected: u64,
    /// The breaker's state, for keys with one.
    #[serde(default)]
    pub circuit: Option<String>,
    /// Call latencies.
    #[serde(default)]
    pub latency: Histogram,
}

/// A mergeable latency histogram: log-linear buckets of microseconds, 16 per power of two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Histogram {
    /// Buckets per power of two.
    #[serde(default)]
    pub sub_buckets: u32,
    /// `[bucket index, count]` for the non-empty buckets.
    #[serde(default)]
    pub counts: Vec<(usize, u64)>,
}

impl Histogram {
    /// Counts one value (microseconds).
    pub fn record(&mut self, micros: u64) {
        let i = bucket_of(micros);
        self.sub_buckets = SUB as u32;
        match self.counts.binary_search_by_key(&i, |&(b, _)| b) {
            Ok(at) => self.counts[at].1 += 1,
            Err(at) => self.counts.insert(at, (i, 1)),
        }
    }

    /// Samples held.
    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |t, &(_, c)| t.saturating_add(c))
    }

    /// Adds `other` (same bucket layout).
    pub fn merge(&mut self, other: &Histogram) {
        let mut all: BTreeMap<usize, u64> = self.counts.iter().copied().collect();
        for &(i, c) in &other.counts {
            let n = all.entry(i).or_default();
            *n = n.saturating_add(c);
        }
        self.counts = all.into_iter().collect();
        self.sub_buckets = other.sub_buckets.max(self.sub_buckets);
    }

    /// What `self` gained since `earlier` (a cumulative histogram minus an older copy).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let old: BTreeMap<usize, u64> = earlier.counts.iter().copied().collect();
        let counts = self
            .counts
            .iter()
            .map(|&(i, c)| (i, c.saturating_sub(old.get(&i).copied().unwrap_or(0))))
            .filter(|&(_, c)| c > 0)
            .collect();
        Histogram {
            sub_buckets: self.sub_buckets,
            counts,
        }
    }

    /// The `q` quantile (0..=1) in microseconds: the upper edge of its bucket.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let total = self.total();
        if total == 0 || (self.sub_buckets != 0 && u64::from(self.sub_buckets) != SUB) {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen: u64 = 0;
        let mut sorted = self.counts.clone();
        sorted.sort_unstable();
        for (i, c) in sorted {
            seen = seen.saturating_add(c);
            if seen >= rank {
                // An index past the layout (a newer or broken sender) reads as the top bucket.
                return Some(bucket_value(i.min(BUCKETS - 1)));
            }
        }
        None
    }
}

/// `circuit`: a breaker changed state.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CircuitEvent {
    /// The key.
    pub key: String,
    /// The state before.
    pub from: String,
    /// The state after.
    pub to: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// `gap`: messages were lost.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Gap {
    /// How many.
    pub dropped: u64,
    /// `source_queue_full`, `client_slow` or `rate_limited`.
    pub cause: String,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// `error`: the server refused something.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ErrorEvent {
    /// `unauthorized`, `bad_request`, `unsupported_version`, ...
    pub code: String,
    /// What went wrong.
    #[serde(default)]
    pub msg: String,
    /// Whether the server closes the connection.
    #[serde(default)]
    pub fatal: bool,
}

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Longer than [`MAX_LINE`].
    #[error("line of {0} bytes is longer than the 1 MiB limit")]
    TooLong(usize),
    /// Not a JSON object with a known shape.
    #[error("not a valid message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Reads one line (without or with its newline). Unknown message types give
/// [`Message::Unknown`]; unknown fields are ignored.
///
/// # Errors
///
/// [`DecodeError`] for a line over 1 MiB or one that is not a message.
///
/// ```
/// use recourse_engine::export::wire::{Message, decode_line};
///
/// let line = br#"{"t":"gap","seq":7,"dropped":3,"cause":"client_slow","new_field":1}"#;
/// let Message::Gap(gap) = decode_line(line).unwrap() else { panic!() };
/// assert_eq!((gap.dropped, gap.cause.as_str()), (3, "client_slow"));
/// assert_eq!(decode_line(br#"{"t":"from_the_future"}"#).unwrap(), Message::Unknown);
/// ```
pub fn decode_line(line: &[u8]) -> Result<Message, DecodeError> {
    if line.len() > MAX_LINE {
        return Err(DecodeError::TooLong(line.len()));
    }
    Ok(serde_json::from_slice(line.trim_ascii_end())?)
}
