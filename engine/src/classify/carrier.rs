//! How an error tells the `http` and `auto` classifiers its HTTP status, method and Retry-After.

use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::clock::Timestamp;

/// Implemented by error types that carry an HTTP response status (or a transport failure).
///
/// Register your type with
/// [`ExecutorBuilder::http_carrier`](crate::ExecutorBuilder::http_carrier) and the `http` and
/// `auto` classifiers find it anywhere in an error's `source()` chain. The engine's own
/// [`HttpStatusError`] is always recognised.
pub trait HttpCarrier {
    /// The response status, or 0 for a transport error (no response).
    fn status(&self) -> u16;
    /// The request method (`GET`, `POST`, ...). Case and surrounding spaces do not matter.
    fn method(&self) -> &str;
    /// The server's Retry-After, if it sent one.
    fn retry_after(&self) -> Option<RetryAfter> {
        None
    }
    /// Whether the request may be sent again, when the carrier knows better than its method:
    /// `Some(true)` for a request with an `Idempotency-Key` header (a POST the server
    /// deduplicates). `None` (the default): decided by the method.
    fn idempotent(&self) -> Option<bool> {
        None
    }
}

/// A function that finds an [`HttpCarrier`] in one error of a chain.
pub type CarrierFn = for<'a> fn(&'a (dyn StdError + 'static)) -> Option<&'a dyn HttpCarrier>;

fn downcast_carrier<'a, T: HttpCarrier + StdError + 'static>(
    e: &'a (dyn StdError + 'static),
) -> Option<&'a dyn HttpCarrier> {
    e.downcast_ref::<T>().map(|t| t as &dyn HttpCarrier)
}

/// The [`CarrierFn`] for the error type `T`.
pub fn carrier_fn<T: HttpCarrier + StdError + 'static>() -> CarrierFn {
    downcast_carrier::<T>
}

/// A server's Retry-After: a delay in seconds or an HTTP date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryAfter {
    /// `Retry-After: 120`.
    Delay(Duration),
    /// `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`, read against the executor's clock.
    At(SystemTime),
}

impl RetryAfter {
    /// Parses a header value: non-negative integer seconds (an optional `+` allowed, no spaces,
    /// no fraction; huge values saturate instead of overflowing) or an HTTP date (RFC 1123,
    /// RFC 850, asctime). Anything else is `None`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use recourse_engine::classify::RetryAfter;
    /// assert_eq!(RetryAfter::parse("5"), Some(RetryAfter::Delay(Duration::from_secs(5))));
    /// assert_eq!(RetryAfter::parse("+5"), Some(RetryAfter::Delay(Duration::from_secs(5))));
    /// assert_eq!(RetryAfter::parse("-1"), None);
    /// assert_eq!(RetryAfter::parse("1.5"), None);
    /// assert_eq!(RetryAfter::parse(" 5"), None);
    /// ```
    pub fn parse(value: &str) -> Option<RetryAfter> {
        let digits = value.strip_prefix('+').unwrap_or(value);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let secs = digits.parse::<u64>().unwrap_or(u64::MAX);
            return Some(RetryAfter::Delay(Duration::from_secs(secs)));
        }
        httpdate::parse_http_date(value).ok().map(RetryAfter::At)
    }

    /// The wait this asks for at `now` (zero for a date in the past).
    pub fn delay(self, now: Timestamp) -> Duration {
        match self {
            RetryAfter::Delay(d) => d,
            RetryAfter::At(at) => at
                .duration_since(now.to_system_time())
                .unwrap_or(Duration::ZERO),
        }
    }
}

/// An HTTP failure: a non-2xx status or a transport error, with the request method and the
/// server's Retry-After. The integrations return it; operations can too.
#[derive(Debug)]
pub struct HttpStatusError {
    status: u16,
    method: String,
    retry_after: Option<RetryAfter>,
    idempotent: Option<bool>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl HttpStatusError {
    /// A response with `status` to a `method` request.
    pub fn new(status: u16, method: impl Into<String>) -> HttpStatusError {
        HttpStatusError {
            status,
            method: method.into(),
            retry_after: None,
            idempotent: None,
            source: None,
        }
    }

    /// A transport failure (status 0) of a `method` request.
    pub fn transport(
        method: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> HttpStatusError {
        HttpStatusError {
            source: Some(source.into()),
            ..HttpStatusError::new(0, method)
        }
    }

    /// Adds the server's Retry-After.
    pub fn with_retry_after(mut self, retry_after: Option<RetryAfter>) -> HttpStatusError {
        self.retry_after = retry_after;
        self
    }

    /// Says whether the request may be resent whatever its method ([`HttpCarrier::idempotent`]):
    /// `true` for a request that carried an `Idempotency-Key` header.
    ///
    /// ```
    /// use recourse_engine::classify::{HttpCarrier, HttpStatusError};
    /// let e = HttpStatusError::new(503, "POST").idempotent(true);
    /// assert_eq!(HttpCarrier::idempotent(&e), Some(true));
    /// ```
    pub fn idempotent(mut self, yes: bool) -> HttpStatusError {
        self.idempotent = Some(yes);
        self
    }
}

impl fmt::Display for HttpStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(e) => write!(f, "{e}"),
            None => write!(f, "http status {}", self.status),
        }
    }
}

impl StdError for HttpStatusError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl HttpCarrier for HttpStatusError {
    fn status(&self) -> u16 {
        self.status
    }
    fn method(&self) -> &str {
        &self.method
    }
    fn retry_after(&self) -> Option<RetryAfter> {
        self.retry_after
    }
    fn idempotent(&self) -> Option<bool> {
        self.idempotent
    }
}

/// Return (or wrap) this from an operation that noticed it was cancelled: the built-in
/// classifiers abort the call with `context_canceled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Canceled;

impl fmt::Display for Canceled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("context canceled")
    }
}

impl StdError for Canceled {}

/// Return (or wrap) this from an operation that hit a deadline of its own: the built-in
/// classifiers treat it as retryable `context_deadline_exceeded` (non-retryable for a
/// non-idempotent HTTP request). `tokio::time::error::Elapsed` and `io::ErrorKind::TimedOut`
/// count the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadlineExceeded;

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("context deadline exceeded")
    }
}

impl StdError for DeadlineExceeded {}
