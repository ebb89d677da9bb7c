//! The wire protocol, version 1 (docs/wire-protocol.md): the one definition of every message,
//! written by the export server and read by clients (`recourse tail`) with the same types. The
//! reader is tolerant: unknown fields and unknown message types are ignored.
//!
//! Every line is one JSON object with a `t` field. Server messages carry `seq` (per
//! connection, increasing from 0) and `ts` (RFC 3339 UTC, microseconds).

mod call_filter;
mod stats;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use call_filter::{CallFilter, UnknownCallFilter};
pub use stats::{BudgetFill, CallCounts, Dropped, Histogram, KeyStats, Stats, WindowCounts};

use crate::observe::CallSummary;
use crate::observe::summary::AttemptFacts;

/// The protocol version this engine speaks.
pub const VERSION: u32 = 1;

/// The longest line a reader accepts (1 MiB).
pub const MAX_LINE: usize = 1 << 20;

/// A message of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    Bye(Bye),
    /// A client's hand on breakers (an operator's `recourse breaker`).
    Control(Control),
    /// The server's answer to `control`: the breakers it concerns, after it.
    Controlled(Controlled),
    /// A message type this reader does not know (ignored; never written).
    #[serde(other, skip_serializing)]
    Unknown,
}

impl Message {
    /// The fields every message may carry (`None` for [`Message::Unknown`]).
    pub fn common(&self) -> Option<&Common> {
        Some(match self {
            Message::Hello(m) => &m.common,
            Message::Subscribe(m) => &m.common,
            Message::Subscribed(m) => &m.common,
            Message::Call(m) => &m.common,
            Message::Stats(m) => &m.common,
            Message::Circuit(m) => &m.common,
            Message::Gap(m) => &m.common,
            Message::Error(m) => &m.common,
            Message::Bye(m) => &m.common,
            Message::Control(m) => &m.common,
            Message::Controlled(m) => &m.common,
            Message::Pong(c) | Message::Ping(c) => c,
            Message::Unknown => return None,
        })
    }

    /// The same, to set `seq` and `ts` before writing.
    pub fn common_mut(&mut self) -> Option<&mut Common> {
        Some(match self {
            Message::Hello(m) => &mut m.common,
            Message::Subscribe(m) => &mut m.common,
            Message::Subscribed(m) => &mut m.common,
            Message::Call(m) => &mut m.common,
            Message::Stats(m) => &mut m.common,
            Message::Circuit(m) => &mut m.common,
            Message::Gap(m) => &mut m.common,
            Message::Error(m) => &mut m.common,
            Message::Bye(m) => &mut m.common,
            Message::Control(m) => &mut m.common,
            Message::Controlled(m) => &mut m.common,
            Message::Pong(c) | Message::Ping(c) => c,
            Message::Unknown => return None,
        })
    }

    /// Appends the message to `out` as one line (with its newline).
    pub fn encode(&self, out: &mut Vec<u8>) {
        // Serializing these types cannot fail: every map key is a string.
        if serde_json::to_writer(&mut *out, self).is_ok() {
            out.push(b'\n');
        }
    }
}

/// Fields every message may carry, plus `target` (added by `recourse tail --record`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Common {
    /// Per connection, increasing.
    #[serde(default)]
    pub seq: u64,
    /// When the message was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// The target it came from, in a recording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Common {
    /// `seq` 0 (the writer numbers it) and `ts`.
    pub fn at(ts: String) -> Common {
        Common {
            ts: Some(ts),
            ..Common::default()
        }
    }
}

/// `hello`: who the server is. A server that requires a token says only `v` and `auth`
/// before the client authenticates, then sends a complete `hello`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol version.
    pub v: u32,
    /// The service's name (empty in the greeting of a server that requires a token).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
    /// The instance's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    /// The engine's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// When the service's export started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Whether error texts are sent.
    #[serde(default)]
    pub include_errors: bool,
    /// `none` or `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Whether the service accepts `control` (from a peer with the rights to send it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control: bool,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

impl Hello {
    /// Whether this is the greeting of a server that waits for a token before it says who it
    /// is: a complete `hello` follows a `subscribe` with the right token.
    pub fn anonymous(&self) -> bool {
        self.service.is_empty() && self.auth.as_deref() == Some("token")
    }
}

/// `subscribe`: what a client wants. A new one replaces the old one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    /// The protocol version the client speaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The client's name and version, for the server's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Key globs (`*`, `?`, a leading `!` excludes); none means every key.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Message types wanted (`call`, `stats`, `circuit`); none means all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Most `call` messages per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<u32>,
    /// Which calls: `all` (default), `interesting` (all but a first attempt that succeeded on
    /// its own) or `failed`. Unknown values mean `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<String>,
    /// The token a protected server requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// `subscribed`: the keys known now that the subscription matches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// Keys matched.
    #[serde(default)]
    pub matched: Vec<String>,
    /// The rate cap in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<u32>,
    /// The calls sent (`all`, `interesting`, `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<String>,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// `call`: one finished call (a timeline, `schemas/event.schema.json#/$defs/call`). Services
/// write it from their [`Timeline`](crate::Timeline), which serializes to the same object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    /// The key.
    pub key: String,
    /// The policy's id.
    #[serde(default)]
    pub policy_id: Option<String>,
    /// When the call started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

    /// How this call moves a key's `stats` counters.
    pub fn counts(&self) -> CallCounts {
        CallCounts::of(
            &self.summary(),
            self.reason == crate::Reason::CIRCUIT_OPEN.as_str(),
            self.duration_us,
        )
    }
}

/// One attempt of a `call`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The error text (only from services that opt in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn yes() -> bool {
    true
}

/// `circuit`: a breaker changed state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

/// `control`: an operator's hand on a key's breaker, or a question about the breakers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// `isolate`, `close` (forced closed), `release` (back to the policy) or `status`.
    pub action: String,
    /// The key; `status` without one asks for every key called so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Set a key the service has never called (refused as `unknown_key` otherwise: most
    /// often a typo, which would leave the real key serving).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// The actions of a [`Control`].
pub mod control {
    /// Every call of the key is rejected, as by an open breaker.
    pub const ISOLATE: &str = "isolate";
    /// The key's calls run whatever its breaker would say.
    pub const CLOSE: &str = "close";
    /// The key's policy decides again.
    pub const RELEASE: &str = "release";
    /// How the breakers stand (changes nothing).
    pub const STATUS: &str = "status";
    /// The breaker of a key without one, in [`Controlled::keys`](super::Controlled::keys).
    pub const NO_BREAKER: &str = "none";
    /// The most keys a `status` answer lists ([`Controlled::more`](super::Controlled::more)
    /// counts the rest).
    pub const MAX_STATUS_KEYS: usize = 1000;
}

/// `controlled`: the breakers a `control` concerns, as they stand after it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Controlled {
    /// The action answered.
    pub action: String,
    /// Each key and its breaker: `isolated` or `forced-closed` while an operator has it in
    /// hand, else `closed`, `open` or `half-open`, or `none` for a key without a breaker.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Keys a `status` left out: it lists at most [`control::MAX_STATUS_KEYS`], in key order.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more: u64,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `gap`: messages were lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// `unauthorized`, `bad_request`, `too_many_clients`, ...
    pub code: String,
    /// What went wrong.
    #[serde(default)]
    pub msg: String,
    /// Whether the server closes the connection.
    #[serde(default)]
    pub fatal: bool,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
}

/// `bye`: the server closes the connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bye {
    /// Why (`shutdown`).
    #[serde(default)]
    pub reason: String,
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
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
