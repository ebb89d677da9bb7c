use super::{Attempted, Classifier, Input, Kind, Verdict, context_error};
use crate::error::Reason;

/// Retries every error (`retryable_error`) and every timeout; a cancellation aborts.
///
/// | result | verdict |
/// |---|---|
/// | a value | Success `success` |
/// | an error wrapping [`Canceled`](super::Canceled) | Abort `context_canceled` |
/// | a timeout, or an error wrapping a deadline | Retryable `context_deadline_exceeded` |
/// | any other error | Retryable `retryable_error` |
#[derive(Debug, Default, Clone, Copy)]
pub struct Always;

impl Classifier for Always {
    fn values_succeed(&self) -> bool {
        true
    }

    fn classify(&self, input: &Input<'_>) -> Verdict {
        match input.result {
            Attempted::Value(_) => Verdict::success(),
            Attempted::TimedOut => Verdict::new(Kind::Retryable, Reason::CONTEXT_DEADLINE_EXCEEDED),
            Attempted::Error(_) => match context_error(input) {
                Some(true) => Verdict::new(Kind::Abort, Reason::CONTEXT_CANCELED),
                Some(false) => Verdict::new(Kind::Retryable, Reason::CONTEXT_DEADLINE_EXCEEDED),
                None => Verdict::new(Kind::Retryable, Reason::RETRYABLE_ERROR),
            },
        }
    }
}
