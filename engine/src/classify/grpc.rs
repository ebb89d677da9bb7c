//! gRPC rules (feature `tonic`), after the gRPC retry design (gRFC A6): a `tonic::Status`
//! anywhere in the error's `source()` chain is classified by its code, and the server's
//! `grpc-retry-pushback-ms` replaces the backoff (a negative or malformed value: stop).

use tonic::{Code, Status};

use super::{Attempted, Classifier, Input, Kind, Verdict, context_error};
use crate::error::Reason;

/// The `grpc` classifier.
///
/// | code | verdict |
/// |---|---|
/// | `OK` (or a value) | Success |
/// | `UNAVAILABLE`, `RESOURCE_EXHAUSTED`, `ABORTED`, `DEADLINE_EXCEEDED` (the default retryable set) | Retryable `grpc_<code>` |
/// | `CANCELLED` | Abort `context_canceled` |
/// | anything else | NonRetryable `grpc_<code>` |
/// | pushback `>= 0` ms on a retryable code | Retryable, waiting exactly that long |
/// | pushback negative or not a number | NonRetryable `grpc_pushback_stop` |
/// | no `tonic::Status` in the chain | the context rules, else NonRetryable `classifier_type_mismatch` |
///
/// Every verdict on a status carries the attribute `grpc_code`.
#[derive(Debug, Clone)]
pub struct Grpc {
    retryable: Vec<Code>,
}

impl Default for Grpc {
    fn default() -> Grpc {
        Grpc {
            retryable: vec![
                Code::Unavailable,
                Code::ResourceExhausted,
                Code::Aborted,
                Code::DeadlineExceeded,
            ],
        }
    }
}

impl Grpc {
    /// Retries exactly these codes (gRPC's `retryableStatusCodes`).
    pub fn with_retryable(codes: impl IntoIterator<Item = Code>) -> Grpc {
        Grpc {
            retryable: codes.into_iter().collect(),
        }
    }

    /// The first `tonic::Status` in the error's chain.
    pub(crate) fn find_status<'a>(input: &Input<'a>) -> Option<&'a Status> {
        input.error_chain().find_map(|e| e.downcast_ref::<Status>())
    }
}

/// `grpc_unavailable`, `grpc_deadline_exceeded`, ...
fn reason(code: Code) -> Reason {
    Reason::new(match code {
        Code::Ok => "success",
        Code::Cancelled => "grpc_cancelled",
        Code::Unknown => "grpc_unknown",
        Code::InvalidArgument => "grpc_invalid_argument",
        Code::DeadlineExceeded => "grpc_deadline_exceeded",
        Code::NotFound => "grpc_not_found",
        Code::AlreadyExists => "grpc_already_exists",
        Code::PermissionDenied => "grpc_permission_denied",
        Code::ResourceExhausted => "grpc_resource_exhausted",
        Code::FailedPrecondition => "grpc_failed_precondition",
        Code::Aborted => "grpc_aborted",
        Code::OutOfRange => "grpc_out_of_range",
        Code::Unimplemented => "grpc_unimplemented",
        Code::Internal => "grpc_internal",
        Code::Unavailable => "grpc_unavailable",
        Code::DataLoss => "grpc_data_loss",
        Code::Unauthenticated => "grpc_unauthenticated",
    })
}

/// What `grpc-retry-pushback-ms` says: `Some(Ok(ms))` wait, `Some(Err(()))` stop.
fn pushback(status: &Status) -> Option<Result<u64, ()>> {
    let value = status.metadata().get("grpc-retry-pushback-ms")?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok());
    Some(match parsed {
        Some(ms) if ms >= 0 => Ok(ms as u64),
        _ => Err(()),
    })
}

impl Classifier for Grpc {
    fn values_succeed(&self) -> bool {
        true
    }

    fn classify(&self, input: &Input<'_>) -> Verdict {
        match input.result {
            Attempted::Value(_) => return Verdict::success(),
            Attempted::TimedOut => {
                return Verdict::new(Kind::Retryable, Reason::CONTEXT_DEADLINE_EXCEEDED);
            }
            Attempted::Error(_) => {}
        }
        let Some(status) = Grpc::find_status(input) else {
            return match context_error(input) {
                Some(true) => Verdict::new(Kind::Abort, Reason::CONTEXT_CANCELED),
                Some(false) => Verdict::new(Kind::Retryable, Reason::CONTEXT_DEADLINE_EXCEEDED),
                None => {
                    let mut v = Verdict::new(Kind::NonRetryable, Reason::CLASSIFIER_TYPE_MISMATCH);
                    v.attributes.insert("expected_type", "tonic::Status");
                    v.attributes.insert("got_type", input.error_type);
                    v
                }
            };
        };
        let code = status.code();
        let mut v = match code {
            Code::Ok => Verdict::success(),
            Code::Cancelled => Verdict::new(Kind::Abort, Reason::CONTEXT_CANCELED),
            c if self.retryable.contains(&c) => Verdict::new(Kind::Retryable, reason(c)),
            c => Verdict::new(Kind::NonRetryable, reason(c)),
        };
        v.attributes.insert("grpc_code", (code as i32).to_string());
        if v.kind == Kind::Retryable {
            match pushback(status) {
                Some(Ok(ms)) => {
                    v.backoff_override = Some(std::time::Duration::from_millis(ms));
                    v.attributes.insert("grpc_pushback_ms", ms.to_string());
                }
                Some(Err(())) => {
                    v.kind = Kind::NonRetryable;
                    v.reason = Reason::new("grpc_pushback_stop");
                }
                None => {}
            }
        }
        v
    }
}

/// The key of a gRPC method from its path: `/payments.v1.Charges/Create` gives
/// `payments.v1.Charges.Create`. `None` for a path that is not `/service/method`.
///
/// ```
/// use recourse_engine::classify::grpc_key;
/// assert_eq!(grpc_key("/payments.v1.Charges/Create").as_deref(), Some("payments.v1.Charges.Create"));
/// assert_eq!(grpc_key("/no-method"), None);
/// ```
pub fn grpc_key(path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    let (service, method) = rest.split_once('/')?;
    let ok = |s: &str| !s.is_empty() && !s.contains('/') && !s.chars().any(char::is_whitespace);
    (ok(service) && ok(method)).then(|| format!("{service}.{method}"))
}
