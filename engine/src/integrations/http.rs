//! What the HTTP integrations (`tower`, `reqwest`) share: the attempt error the classifiers
//! read (status, method, Retry-After through an `HttpStatusError` carrier), and how a call's
//! end becomes the caller's result.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, Method, Response};

use crate::classify::{HttpStatusError, RetryAfter};
use crate::error::Error;
use crate::executor::CallOptions;

/// How a request's key is chosen: fixed, or a function of its method and address (`U`: an
/// `http::Uri` for tower, a `reqwest::Url` for reqwest) returning one of a fixed set of keys.
pub(crate) enum KeyOf<U: ?Sized> {
    Fixed(Arc<str>),
    Route(RouteFn<U>),
}

/// A function from a request's method and address to its key.
pub(crate) type RouteFn<U> = Arc<dyn Fn(&Method, &U) -> &'static str + Send + Sync>;

impl<U: ?Sized> Clone for KeyOf<U> {
    fn clone(&self) -> Self {
        match self {
            KeyOf::Fixed(k) => KeyOf::Fixed(k.clone()),
            KeyOf::Route(f) => KeyOf::Route(f.clone()),
        }
    }
}

impl<U: ?Sized> KeyOf<U> {
    pub(crate) fn fixed(key: &str) -> KeyOf<U> {
        KeyOf::Fixed(Arc::from(key))
    }

    pub(crate) fn route(
        f: impl Fn(&Method, &U) -> &'static str + Send + Sync + 'static,
    ) -> KeyOf<U> {
        KeyOf::Route(Arc::new(f))
    }

    /// The key of a request.
    pub(crate) fn of(&self, method: &Method, address: &U) -> Arc<str> {
        match self {
            KeyOf::Fixed(k) => k.clone(),
            KeyOf::Route(f) => Arc::from(f(method, address)),
        }
    }
}

/// What the classifiers are told about the request each attempt sends.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    method: Method,
    /// It carries an `Idempotency-Key` header: the server deduplicates it, so it may be
    /// resent whatever its method.
    keyed: bool,
}

impl Sent {
    pub(crate) fn new(method: &Method, headers: &HeaderMap) -> Sent {
        Sent {
            method: method.clone(),
            keyed: headers.contains_key(IDEMPOTENCY_KEY),
        }
    }

    /// One attempt when the request cannot be replayed; no hedges unless the method is
    /// idempotent (an `Idempotency-Key` allows retries, not hedges: concurrent copies of one
    /// keyed request are a conflict for the server, not a deduplicated resend).
    pub(crate) fn call_options(&self, replayable: bool) -> CallOptions {
        let mut options = CallOptions::default();
        if !replayable {
            options = options.single_attempt();
        }
        if !idempotent(&self.method) {
            options = options.without_hedges();
        }
        options
    }

    fn carrier(&self, status: u16) -> HttpStatusError {
        let carrier = HttpStatusError::new(status, self.method.as_str());
        if self.keyed {
            carrier.idempotent(true)
        } else {
            carrier
        }
    }
}

/// The header of draft-ietf-httpapi-idempotency-key-header.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// What one attempt ended with, as the classifiers see it: an HTTP carrier (status, method,
/// Retry-After) in front of the response or the client's error.
pub(crate) enum Attempt<E, R> {
    Status {
        carrier: HttpStatusError,
        response: Response<R>,
    },
    Transport {
        carrier: HttpStatusError,
        error: E,
    },
}

impl<E: fmt::Display, R> fmt::Display for Attempt<E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Status { response, .. } => write!(f, "http status {}", response.status()),
            Attempt::Transport { error, .. } => write!(f, "{error}"),
        }
    }
}

impl<E: fmt::Display, R> fmt::Debug for Attempt<E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Attempt({self})")
    }
}

impl<E: fmt::Display, R> StdError for Attempt<E, R> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Attempt::Status { carrier, .. } | Attempt::Transport { carrier, .. } => Some(carrier),
        }
    }
}

impl<E, R> Attempt<E, R> {
    /// A failed status: the response, behind a carrier for the classifiers.
    pub(crate) fn status(sent: &Sent, response: Response<R>) -> Attempt<E, R> {
        let carrier = sent
            .carrier(response.status().as_u16())
            .with_retry_after(retry_after(response.headers()));
        Attempt::Status { carrier, response }
    }

    /// The client's own error (no response): status 0 for the classifiers.
    pub(crate) fn transport(sent: &Sent, error: E) -> Attempt<E, R> {
        Attempt::Transport {
            carrier: sent.carrier(0),
            error,
        }
    }
}

/// Statuses worth classifying as failures (the rest are the caller's business).
pub(crate) fn failing(status: http::StatusCode) -> bool {
    let s = status.as_u16();
    s >= 500 || s == 408 || s == 429
}

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<RetryAfter> {
    headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()
        .and_then(RetryAfter::parse)
}

/// Whether sending the request twice is harmless (GET, HEAD, PUT, DELETE, OPTIONS, TRACE).
pub fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// The integrations never ask for a second attempt of a request without a spare copy (the call
/// is `single_attempt`); reaching this is a bug in the executor.
pub(crate) fn unreachable_replay() -> ! {
    panic!("recourse: a non-replayable request was asked for a second attempt")
}

/// The last response the server sent wins over our own account of the failure (a 503 after
/// the attempts ran out comes back as the 503); otherwise the client's own error.
pub(crate) fn settle<E, R>(e: Error<Attempt<E, R>>) -> Result<Response<R>, Error<E>> {
    match e {
        Error::Operation {
            error: Attempt::Status { response, .. },
            ..
        }
        | Error::DeadlineExceeded {
            last: Some(Attempt::Status { response, .. }),
            ..
        }
        | Error::Canceled {
            last: Some(Attempt::Status { response, .. }),
        }
        | Error::BudgetDenied {
            last: Some(Attempt::Status { response, .. }),
            ..
        } => Ok(response),
        other => Err(other.map_operation(|a| match a {
            Attempt::Transport { error, .. } => error,
            // Every place a status can be carried is matched above.
            Attempt::Status { .. } => unreachable!("statuses are returned as responses"),
        })),
    }
}
