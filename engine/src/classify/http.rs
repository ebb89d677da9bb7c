use super::carrier::{CarrierFn, HttpCarrier, HttpStatusError, carrier_fn};
use super::{Attempted, Classifier, Input, Kind, Verdict, context_error};
use crate::error::Reason;
use crate::policy::duration::format_duration;

/// HTTP rules (docs/classifiers.md).
///
/// | result | idempotent method | other methods |
/// |---|---|---|
/// | a value, or 2xx | Success | Success |
/// | cancelled | Abort `context_canceled` | same |
/// | deadline exceeded | Retryable `context_deadline_exceeded` | NonRetryable `http_non_idempotent` |
/// | status 0 (transport) | Retryable `http_transport_error` | NonRetryable `http_non_idempotent` |
/// | 5xx | Retryable `http_5xx` (Retry-After honoured on 503) | NonRetryable `http_non_idempotent` |
/// | 408, 429, extra codes | Retryable `http_<code>` with Retry-After | NonRetryable `http_non_idempotent` |
/// | anything else | NonRetryable `http_non_retryable_status` | same |
/// | an error with no HTTP carrier | NonRetryable `classifier_type_mismatch` | same |
///
/// Idempotent methods: GET, HEAD, PUT, DELETE, OPTIONS, TRACE. A carrier can overrule its
/// method ([`HttpCarrier::idempotent`]): the tower and reqwest integrations mark a request that
/// carries an `Idempotency-Key` header, so a keyed POST is retried like a GET.
#[derive(Debug, Clone)]
pub struct Http {
    extra_retryable: Vec<u16>,
    carriers: Vec<CarrierFn>,
}

impl Default for Http {
    fn default() -> Http {
        Http {
            extra_retryable: Vec::new(),
            carriers: vec![carrier_fn::<HttpStatusError>()],
        }
    }
}

impl Http {
    /// Also retries these statuses (as `http_<code>`, Retry-After honoured).
    pub fn with_extra_retryable(mut self, codes: impl IntoIterator<Item = u16>) -> Http {
        self.extra_retryable.extend(codes);
        self
    }

    /// Recognises one more carrier type.
    pub fn with_carrier(mut self, f: CarrierFn) -> Http {
        self.carriers.push(f);
        self
    }

    pub(crate) fn find_carrier<'a>(&self, input: &Input<'a>) -> Option<&'a dyn HttpCarrier> {
        input
            .error_chain()
            .find_map(|e| self.carriers.iter().find_map(|f| f(e)))
    }
}

fn is_idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
    )
}

impl Classifier for Http {
    fn values_succeed(&self) -> bool {
        true
    }

    fn classify(&self, input: &Input<'_>) -> Verdict {
        let carrier = match input.result {
            Attempted::Value(_) => return Verdict::success(),
            Attempted::TimedOut => {
                return Verdict::new(Kind::Retryable, Reason::CONTEXT_DEADLINE_EXCEEDED);
            }
            Attempted::Error(_) => self.find_carrier(input),
        };
        let method = carrier.map(|c| c.method().trim().to_ascii_uppercase());
        let idempotent = carrier
            .and_then(|c| c.idempotent())
            .unwrap_or_else(|| method.as_deref().is_some_and(is_idempotent));
        match context_error(input) {
            Some(true) => return Verdict::new(Kind::Abort, Reason::CONTEXT_CANCELED),
            Some(false) if carrier.is_none() || idempotent => {
                return Verdict::new(Kind::Retryable, Reason::CONTEXT_DEADLINE_EXCEEDED);
            }
            Some(false) => {
                // A timed-out non-idempotent request may have been applied: never resend.
                let mut v = Verdict::new(Kind::NonRetryable, Reason::HTTP_NON_IDEMPOTENT);
                v.attributes.insert("method", method.unwrap_or_default());
                return v;
            }
            None => {}
        }
        let Some(carrier) = carrier else {
            let mut v = Verdict::new(Kind::NonRetryable, Reason::CLASSIFIER_TYPE_MISMATCH);
            v.attributes.insert("expected_type", "HttpCarrier");
            v.attributes.insert("got_type", input.error_type);
            return v;
        };
        let method = method.unwrap_or_default();
        let status = carrier.status();
        let mut v = Verdict::default();
        v.attributes.insert("status", status.to_string());
        v.attributes.insert("method", method);
        let retryable = |v: &mut Verdict, reason: Reason| {
            if idempotent {
                v.kind = Kind::Retryable;
                v.reason = reason;
            } else {
                v.kind = Kind::NonRetryable;
                v.reason = Reason::HTTP_NON_IDEMPOTENT;
            }
        };
        let honour_retry_after = |v: &mut Verdict| {
            if v.kind != Kind::Retryable {
                return;
            }
            if let Some(ra) = carrier.retry_after() {
                let d = ra.delay(input.now());
                if !d.is_zero() {
                    v.backoff_override = Some(d);
                    // Whole seconds: what headers carry, and a low-cardinality value for dates.
                    let shown = if d.as_secs() > 0 {
                        std::time::Duration::from_secs(d.as_secs())
                    } else {
                        d
                    };
                    v.attributes.insert("retry_after", format_duration(shown));
                }
            }
        };
        match status {
            200..=299 => {
                v.kind = Kind::Success;
                v.reason = Reason::SUCCESS;
            }
            0 => retryable(&mut v, Reason::HTTP_TRANSPORT_ERROR),
            500..=599 => {
                retryable(&mut v, Reason::HTTP_5XX);
                if status == 503 || self.extra_retryable.contains(&status) {
                    honour_retry_after(&mut v);
                }
            }
            s if s == 408 || s == 429 || self.extra_retryable.contains(&s) => {
                retryable(&mut v, Reason::http_status(s));
                honour_retry_after(&mut v);
            }
            _ => {
                v.kind = Kind::NonRetryable;
                v.reason = Reason::HTTP_NON_RETRYABLE_STATUS;
            }
        }
        v
    }
}
