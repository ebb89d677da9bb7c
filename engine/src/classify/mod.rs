//! Classification: what an attempt's result means for the call (success, retry, stop).
//!
//! Classifiers are chosen by name from the policy (`retry.classifier_name`): the built-ins
//! [`always`](Always), [`http`](Http) and [`auto`](Auto), or any registered with
//! [`ExecutorBuilder::classifier`](crate::ExecutorBuilder::classifier). A classifier sees the
//! attempt's value, its error (and the error's whole `source()` chain), or the fact that the
//! attempt timed out.

mod always;
mod attributes;
mod auto;
mod carrier;
#[cfg(feature = "tonic")]
mod grpc;
mod http;

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

pub use always::Always;
pub use attributes::Attributes;
pub use auto::Auto;
pub use carrier::{
    Canceled, CarrierFn, DeadlineExceeded, HttpCarrier, HttpStatusError, RetryAfter, carrier_fn,
};
#[cfg(feature = "tonic")]
pub use grpc::{Grpc, grpc_key};
pub use http::Http;

use crate::clock::{Clock, Timestamp};
use crate::error::Reason;

/// What an attempt's result means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// No verdict; the executor treats it as [`Kind::Abort`] with reason `unknown_outcome`.
    #[default]
    Unknown,
    /// The call is done and succeeded.
    Success,
    /// Worth another attempt while attempts remain.
    Retryable,
    /// Stop now: retrying will not help. Counts as a circuit failure.
    NonRetryable,
    /// Stop now without blaming the dependency (cancellation, budget denial). Not a circuit
    /// failure.
    Abort,
}

impl Kind {
    /// How a failed retry group reports its attempts' outcomes: the most severe wins
    /// (non-retryable over abort over retryable). The one order, for the engine's hedged
    /// groups and a shadow policy's judgment alike.
    pub(crate) fn severity(self) -> u8 {
        match self {
            Kind::NonRetryable => 3,
            Kind::Abort | Kind::Unknown => 2,
            Kind::Retryable => 1,
            Kind::Success => 0,
        }
    }

    /// `unknown`, `success`, `retryable`, `non_retryable` or `abort`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unknown => "unknown",
            Kind::Success => "success",
            Kind::Retryable => "retryable",
            Kind::NonRetryable => "non_retryable",
            Kind::Abort => "abort",
        }
    }

    /// The reason used when a classifier gives none.
    pub(crate) fn default_reason(self) -> Reason {
        match self {
            Kind::Success => Reason::SUCCESS,
            Kind::Retryable => Reason::RETRYABLE_ERROR,
            Kind::NonRetryable => Reason::NON_RETRYABLE_ERROR,
            Kind::Abort => Reason::ABORT,
            Kind::Unknown => Reason::UNKNOWN_OUTCOME,
        }
    }
}

/// A classifier's verdict on one attempt.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Verdict {
    /// What to do next.
    pub kind: Kind,
    /// A stable, low-cardinality reason code.
    pub reason: Reason,
    /// Extra attributes for the attempt record (`status`, `method`, ...).
    pub attributes: Attributes,
    /// A server-requested wait before the next attempt (Retry-After), replacing the computed
    /// backoff; capped by `retry.max_retry_after`.
    pub backoff_override: Option<Duration>,
}

impl Verdict {
    /// A verdict with a kind and reason and nothing else.
    pub fn new(kind: Kind, reason: Reason) -> Verdict {
        Verdict {
            kind,
            reason,
            attributes: Attributes::new(),
            backoff_override: None,
        }
    }

    /// Success, reason `success`.
    pub fn success() -> Verdict {
        Verdict::new(Kind::Success, Reason::SUCCESS)
    }

    /// This verdict with a server-requested wait before the next attempt (see
    /// [`backoff_override`](Verdict::backoff_override)).
    pub fn with_backoff(mut self, wait: Duration) -> Verdict {
        self.backoff_override = Some(wait);
        self
    }

    /// This verdict with an attribute for the attempt record.
    pub fn with_attribute(mut self, name: &str, value: impl Into<String>) -> Verdict {
        self.attributes.insert(name, value);
        self
    }

    /// Fills what the executor fills after every classification: `Unknown` becomes `Abort`
    /// (`unknown_outcome`), and an empty reason gets the kind's default.
    #[inline]
    pub(crate) fn settle(&mut self) {
        if self.kind == Kind::Unknown {
            self.kind = Kind::Abort;
            if self.reason.as_str().is_empty() {
                self.reason = Reason::UNKNOWN_OUTCOME;
            }
        }
        if self.reason.as_str().is_empty() {
            self.reason = self.kind.default_reason();
        }
    }
}

/// What an attempt produced, as a classifier sees it.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Attempted<'a> {
    /// The operation returned a value.
    Value(&'a dyn Any),
    /// The operation returned an error.
    Error(&'a (dyn StdError + 'static)),
    /// The attempt hit its per-attempt timeout and was dropped.
    TimedOut,
}

impl fmt::Debug for Attempted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempted::Value(_) => f.write_str("Value(..)"),
            Attempted::Error(e) => write!(f, "Error({e})"),
            Attempted::TimedOut => f.write_str("TimedOut"),
        }
    }
}

/// Everything a classifier is given about one attempt.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Input<'a> {
    /// The result.
    pub result: Attempted<'a>,
    /// The Rust type name of the operation's error type (for `classifier_type_mismatch`).
    pub error_type: &'static str,
    /// The executor's clock, for Retry-After dates.
    pub clock: &'a Clock,
}

impl<'a> Input<'a> {
    /// What a classifier is given about an attempt that produced `result`, the operation's
    /// error type being named `error_type`: what a test of a classifier starts from.
    pub fn new(result: Attempted<'a>, error_type: &'static str, clock: &'a Clock) -> Input<'a> {
        Input {
            result,
            error_type,
            clock,
        }
    }

    /// The executor clock's current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The error and its `source()` chain, outermost first (empty for values and timeouts).
    pub fn error_chain(&self) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
        let first = match self.result {
            Attempted::Error(e) => Some(e),
            _ => None,
        };
        std::iter::successors(first, |e: &&'a (dyn StdError + 'static)| (*e).source())
    }
}

/// Decides what an attempt's result means.
///
/// Implement it for a classifier of your own and register it by name with
/// [`ExecutorBuilder::classifier`](crate::ExecutorBuilder::classifier).
///
/// ```
/// use recourse_engine::classify::{Attempted, Classifier, Input, Kind, Verdict};
/// use recourse_engine::Reason;
///
/// /// Retries everything but `std::io::ErrorKind::NotFound`.
/// #[derive(Debug)]
/// struct NotFoundIsFinal;
///
/// impl Classifier for NotFoundIsFinal {
///     fn classify(&self, input: &Input<'_>) -> Verdict {
///         match input.result {
///             Attempted::Value(_) => Verdict::success(),
///             Attempted::Error(e) => match e.downcast_ref::<std::io::Error>() {
///                 Some(io) if io.kind() == std::io::ErrorKind::NotFound => {
///                     Verdict::new(Kind::NonRetryable, Reason::new("not_found"))
///                 }
///                 _ => Verdict::new(Kind::Retryable, Reason::RETRYABLE_ERROR),
///             },
///             Attempted::TimedOut => Verdict::new(Kind::Retryable, Reason::CONTEXT_DEADLINE_EXCEEDED),
///             // A kind of result a later version adds: the executor settles `Unknown` as an
///             // abort, reason `unknown_outcome`.
///             _ => Verdict::new(Kind::Unknown, Reason::UNKNOWN_OUTCOME),
///         }
///     }
/// }
/// ```
pub trait Classifier: Send + Sync + fmt::Debug {
    /// The verdict on one attempt.
    fn classify(&self, input: &Input<'_>) -> Verdict;

    /// True when every value (an `Ok` result) is a plain success, [`Verdict::success`], with
    /// no attributes: the executor then skips classifying values (a traced call, or one an
    /// observer sees, records that verdict for them). The built-in classifiers say so; the default is false.
    fn values_succeed(&self) -> bool {
        false
    }
}

/// Finds a cancellation or deadline marker in the chain: `Some(true)` cancelled, `Some(false)`
/// deadline exceeded.
pub(crate) fn context_error(input: &Input<'_>) -> Option<bool> {
    for e in input.error_chain() {
        if e.is::<Canceled>() {
            return Some(true);
        }
        if e.is::<DeadlineExceeded>() || e.is::<tokio::time::error::Elapsed>() {
            return Some(false);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return Some(false);
        }
    }
    None
}
