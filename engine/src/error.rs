//! The call error and the stable reason codes.

use std::borrow::Cow;
use std::fmt;

use crate::key::Key;
use crate::provider::ProviderError;

/// A stable, low-cardinality reason code (`"http_5xx"`, `"budget_denied"`, ...).
///
/// The codes the engine writes are the associated constants below; they are part of the
/// telemetry contract (docs/reason-codes.md). Classifiers and budgets may use codes of their own.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reason(Cow<'static, str>);

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident = $text:literal;)*) => {
        impl Reason {
            $($(#[$doc])* pub const $name: Reason = Reason(Cow::Borrowed($text));)*

            /// Every code the engine itself writes, for documentation and tests.
            pub const ALL: &'static [Reason] = &[$(Reason::$name),*];
        }
    };
}

reasons! {
    /// The attempt (or call) succeeded.
    SUCCESS = "success";
    /// A generic retryable error.
    RETRYABLE_ERROR = "retryable_error";
    /// A generic non-retryable error.
    NON_RETRYABLE_ERROR = "non_retryable_error";
    /// A generic abort.
    ABORT = "abort";
    /// The classifier returned no verdict kind.
    UNKNOWN_OUTCOME = "unknown_outcome";
    /// The caller cancelled the call.
    CONTEXT_CANCELED = "context_canceled";
    /// A deadline (per attempt or overall) expired.
    CONTEXT_DEADLINE_EXCEEDED = "context_deadline_exceeded";
    /// The next backoff would end after the overall deadline, so it was not slept.
    BACKOFF_EXCEEDS_DEADLINE = "backoff_exceeds_deadline";
    /// The server asked (Retry-After) for a wait longer than the remaining overall deadline.
    RETRY_AFTER_EXCEEDS_DEADLINE = "retry_after_exceeds_deadline";
    /// HTTP 5xx on an idempotent request.
    HTTP_5XX = "http_5xx";
    /// HTTP 408.
    HTTP_408 = "http_408";
    /// HTTP 429.
    HTTP_429 = "http_429";
    /// A transport error (no status) on an idempotent request.
    HTTP_TRANSPORT_ERROR = "http_transport_error";
    /// A failure of a non-idempotent request: never retried.
    HTTP_NON_IDEMPOTENT = "http_non_idempotent";
    /// An HTTP status that is not worth retrying (most 4xx, 1xx, 3xx).
    HTTP_NON_RETRYABLE_STATUS = "http_non_retryable_status";
    /// The `http` classifier saw an error carrying no HTTP status.
    CLASSIFIER_TYPE_MISMATCH = "classifier_type_mismatch";
    /// The policy names a classifier that is not registered.
    CLASSIFIER_NOT_FOUND = "classifier_not_found";
    /// The classifier panicked (with `recover_panics`).
    PANIC_IN_CLASSIFIER = "panic_in_classifier";
    /// The budget panicked (with `recover_panics`).
    PANIC_IN_BUDGET = "panic_in_budget";
    /// The policy provider panicked (with `recover_panics`).
    PANIC_IN_PROVIDER = "panic_in_provider";
    /// The attempt ran with no budget configured.
    NO_BUDGET = "no_budget";
    /// The budget admitted the attempt.
    ALLOWED = "allowed";
    /// A first attempt: the retry budget does not gate it (unless `gate_first_attempt`).
    NOT_GATED = "not_gated";
    /// The budget refused the attempt.
    BUDGET_DENIED = "budget_denied";
    /// The key's bulkhead had no free slot: as many attempts as it allows were in flight.
    BULKHEAD_FULL = "bulkhead_full";
    /// The policy names a budget that is not registered.
    BUDGET_NOT_FOUND = "budget_not_found";
    /// No policy could be resolved and the missing-policy mode is `deny`.
    NO_POLICY = "no_policy";
    /// The breaker is open.
    CIRCUIT_OPEN = "circuit_open";
    /// The breaker is half-open and its probe is already in flight.
    CIRCUIT_HALF_OPEN_PROBE_LIMIT = "circuit_half_open_probe_limit";
    /// A losing hedge (or primary) was cancelled because another attempt won.
    HEDGE_CANCELLED = "hedge_cancelled";
    /// The breaker opened: `threshold` consecutive calls failed.
    CONSECUTIVE_FAILURES = "consecutive_failures";
    /// The breaker opened: failed calls reached `failure_rate` of its window.
    FAILURE_RATE = "failure_rate";
    /// The breaker opened: calls slower than `slow_call_duration` reached `slow_call_rate` of
    /// its window.
    SLOW_CALL_RATE = "slow_call_rate";
    /// The breaker went half-open, or paused hedging started probing: its cooldown passed.
    COOLDOWN_ELAPSED = "cooldown_elapsed";
    /// The half-open probe succeeded: the breaker closed. Or probing hedges won enough:
    /// hedging resumed.
    PROBE_SUCCEEDED = "probe_succeeded";
    /// The half-open probe failed: the breaker opened again. Or probing hedges still did not
    /// win: hedging paused again.
    PROBE_FAILED = "probe_failed";
    /// Hedging paused: over its last `min_hedges` hedges, fewer than `min_win_rate` won.
    HEDGES_NOT_WINNING = "hedges_not_winning";
    /// An operator isolated the key (`Executor::isolate`): its calls are rejected.
    MANUAL_ISOLATE = "manual_isolate";
    /// An operator forced the key's breaker closed (`Executor::force_close`).
    MANUAL_CLOSE = "manual_close";
    /// An operator handed the key's breaker back to its policy (`Executor::release`).
    MANUAL_RELEASE = "manual_release";
}

impl Reason {
    /// A reason code that is not one of the constants (a user classifier's own code).
    pub fn new(code: impl Into<Cow<'static, str>>) -> Reason {
        Reason(code.into())
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `http_<status>` for statuses outside the constants; no allocation for 408 and 429.
    pub(crate) fn http_status(status: u16) -> Reason {
        match status {
            408 => Reason::HTTP_408,
            429 => Reason::HTTP_429,
            s => Reason::new(format!("http_{s}")),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl Reason {
    /// No reason: the default.
    pub(crate) const EMPTY: Reason = Reason(Cow::Borrowed(""));
}

impl Default for Reason {
    fn default() -> Reason {
        Reason::EMPTY
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The part of the engine that panicked (see [`Error::Panicked`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Component {
    /// The policy provider.
    PolicyProvider,
    /// A classifier.
    Classifier,
    /// A budget.
    Budget,
}

impl Component {
    /// The component's name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::PolicyProvider => "policy_provider",
            Component::Classifier => "classifier",
            Component::Budget => "budget",
        }
    }
}

/// State of a circuit breaker, as reported in [`Error::CircuitOpen`] and to observers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CircuitState {
    /// Calls flow.
    Closed,
    /// Calls are rejected until the cooldown ends.
    Open,
    /// One probe call is let through to test the dependency.
    HalfOpen,
}

impl CircuitState {
    /// `closed`, `open` or `half-open`.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call failed. `E` is the operation's own error type, kept unboxed.
///
/// Every variant has a stable [`reason_code`](Error::reason_code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E> {
    /// The operation's own error ended the call: the classifier called it non-retryable or
    /// abort, or the attempts ran out.
    #[error("{error}")]
    Operation {
        /// The last attempt's error, unchanged.
        error: E,
        /// The classifier's reason for the last attempt (`http_5xx`, `retryable_error`, ...).
        reason: Reason,
    },
    /// The classifier refused a result that carried no error (for example a retry verdict on an
    /// `Ok` value) and the call ended with it.
    #[error("recourse: {reason}")]
    Rejected {
        /// The classifier's reason.
        reason: Reason,
    },
    /// The last attempt hit its per-attempt timeout.
    #[error("recourse: attempt timed out ({reason})")]
    AttemptTimeout {
        /// `context_deadline_exceeded`, or the classifier's reason for a timed-out attempt
        /// (`http_non_idempotent` for a request that must not be resent).
        reason: Reason,
    },
    /// The overall timeout ended the call, during an attempt or because the next wait would
    /// have passed it.
    #[error("recourse: overall deadline exceeded ({reason})")]
    DeadlineExceeded {
        /// `context_deadline_exceeded`, `backoff_exceeds_deadline` or
        /// `retry_after_exceeds_deadline`.
        reason: Reason,
        /// The last operation error, if an attempt had failed with one.
        last: Option<E>,
    },
    /// The caller cancelled the call (its cancellation token fired).
    #[error("recourse: call canceled")]
    Canceled {
        /// The last operation error, if an attempt had failed with one.
        last: Option<E>,
    },
    /// A budget refused an attempt.
    #[error("recourse: budget {budget:?} denied the attempt: {reason}")]
    BudgetDenied {
        /// The budget's name.
        budget: std::sync::Arc<str>,
        /// The denial reason (`budget_denied`, `budget_not_found`, or the budget's own).
        reason: Reason,
        /// The last real operation error, if an earlier attempt failed with one.
        last: Option<E>,
    },
    /// The key's circuit breaker rejected the call.
    #[error("recourse: circuit {state}: {reason}")]
    CircuitOpen {
        /// The breaker's state.
        state: CircuitState,
        /// `circuit_open` or `circuit_half_open_probe_limit`.
        reason: Reason,
    },
    /// No policy could be resolved and the missing-policy mode is `deny`.
    #[error("recourse: policy not found for {key}: {source}")]
    NoPolicy {
        /// The key.
        key: Key,
        /// What the provider reported.
        source: Box<ProviderError>,
    },
    /// The policy names a classifier that is not registered and the mode is `deny`.
    #[error("recourse: classifier not found: {name}")]
    NoClassifier {
        /// The requested name.
        name: String,
    },
    /// The policy provider, a classifier or a retry budget panicked and `recover_panics` is on.
    #[error("recourse: panic in {}: {message}", component.as_str())]
    Panicked {
        /// Which part panicked.
        component: Component,
        /// The panic payload as text.
        message: String,
    },
}

impl<E> Error<E> {
    /// The stable reason code of this error.
    pub fn reason_code(&self) -> Reason {
        match self {
            Error::Operation { reason, .. }
            | Error::Rejected { reason }
            | Error::AttemptTimeout { reason }
            | Error::DeadlineExceeded { reason, .. }
            | Error::BudgetDenied { reason, .. }
            | Error::CircuitOpen { reason, .. } => reason.clone(),
            Error::Canceled { .. } => Reason::CONTEXT_CANCELED,
            Error::NoPolicy { .. } => Reason::NO_POLICY,
            Error::NoClassifier { .. } => Reason::CLASSIFIER_NOT_FOUND,
            Error::Panicked { component, .. } => match component {
                Component::Classifier => Reason::PANIC_IN_CLASSIFIER,
                Component::Budget => Reason::PANIC_IN_BUDGET,
                Component::PolicyProvider => Reason::PANIC_IN_PROVIDER,
            },
        }
    }

    /// The operation's own error this error carries, if any.
    pub fn operation_error(&self) -> Option<&E> {
        match self {
            Error::Operation { error, .. } => Some(error),
            Error::DeadlineExceeded { last, .. }
            | Error::Canceled { last }
            | Error::BudgetDenied { last, .. } => last.as_ref(),
            _ => None,
        }
    }

    /// The same error with the operation's error (wherever it is carried) mapped by `f`.
    pub fn map_operation<F>(self, mut f: impl FnMut(E) -> F) -> Error<F> {
        match self {
            Error::Operation { error, reason } => Error::Operation {
                error: f(error),
                reason,
            },
            Error::Rejected { reason } => Error::Rejected { reason },
            Error::AttemptTimeout { reason } => Error::AttemptTimeout { reason },
            Error::DeadlineExceeded { reason, last } => Error::DeadlineExceeded {
                reason,
                last: last.map(f),
            },
            Error::Canceled { last } => Error::Canceled { last: last.map(f) },
            Error::BudgetDenied {
                budget,
                reason,
                last,
            } => Error::BudgetDenied {
                budget,
                reason,
                last: last.map(f),
            },
            Error::CircuitOpen { state, reason } => Error::CircuitOpen { state, reason },
            Error::NoPolicy { key, source } => Error::NoPolicy { key, source },
            Error::NoClassifier { name } => Error::NoClassifier { name },
            Error::Panicked { component, message } => Error::Panicked { component, message },
        }
    }

    /// Takes the operation's own error out, if any.
    pub fn into_operation_error(self) -> Option<E> {
        match self {
            Error::Operation { error, .. } => Some(error),
            Error::DeadlineExceeded { last, .. }
            | Error::Canceled { last }
            | Error::BudgetDenied { last, .. } => last,
            _ => None,
        }
    }
}
