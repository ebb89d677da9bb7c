//! reqwest (feature `reqwest`): a `reqwest-middleware` middleware, and [`send`] for a plain
//! `reqwest::Client`.
//!
//! - Every attempt sends a fresh `try_clone` of the request; a streaming body cannot be cloned,
//!   so such a request is sent once, never twice (the timeline says `replayable: false`).
//! - Non-2xx responses worth retrying (5xx, 408, 429) become a classifiable error carrying the
//!   status, the method and Retry-After: a GET is retried, a POST is not unless it carries an
//!   `Idempotency-Key` header (the server deduplicates it). A failed response's
//!   body is read (up to 1 MiB, the rest dropped) so its connection is freed, and when the
//!   attempts are spent the caller gets the last response, body included.
//! - Hedges only for idempotent methods.
//! - Each attempt's request extensions carry [`ResendCount`]: 0 for the first send, `n` for the
//!   n-th resend (OpenTelemetry's `http.request.resend_count`), for middlewares further down.

use bytes::{Bytes, BytesMut};
use http::{Extensions, Method};
use reqwest::{Request, Response, Url};
use reqwest_middleware::{Middleware, Next};

use super::http::{Attempt, KeyOf, Sent, failing, settle, unreachable_replay};
use crate::error::Error;
use crate::executor::{AttemptInfo, Executor};

/// How many times this request was sent before this attempt (`http.request.resend_count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResendCount(pub u32);

/// The most of a failed response's body that is kept.
const KEEP: usize = 1 << 20;

/// Runs each request through the executor under its key.
///
/// ```
/// use recourse_engine::Executor;
/// use recourse_engine::integrations::reqwest::RecourseMiddleware;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(RecourseMiddleware::new(Executor::new(), "inventory.Get"))
///     .build();
/// # drop(client);
/// ```
#[derive(Clone)]
pub struct RecourseMiddleware {
    exec: Executor,
    key: KeyOf<Url>,
}

impl std::fmt::Debug for RecourseMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecourseMiddleware").finish_non_exhaustive()
    }
}

impl RecourseMiddleware {
    /// Every request under `key`.
    pub fn new(exec: Executor, key: &str) -> RecourseMiddleware {
        RecourseMiddleware {
            exec,
            key: KeyOf::fixed(key),
        }
    }

    /// The key of each request from its method and URL; return a fixed set of keys (the
    /// route, never an id).
    pub fn by_route(
        exec: Executor,
        key: impl Fn(&Method, &Url) -> &'static str + Send + Sync + 'static,
    ) -> RecourseMiddleware {
        RecourseMiddleware {
            exec,
            key: KeyOf::route(key),
        }
    }
}

fn resend_count(a: &AttemptInfo) -> ResendCount {
    ResendCount(a.attempt + a.hedge_index)
}

/// Reads a failed response's body (at most [`KEEP`] bytes) so its connection is freed, and
/// keeps it for the caller in case this is the last word.
async fn drain(response: Response) -> http::Response<Bytes> {
    let mut builder = http::Response::builder()
        .status(response.status())
        .version(response.version());
    if let Some(h) = builder.headers_mut() {
        *h = response.headers().clone();
    }
    let mut response = response;
    let mut body = BytesMut::new();
    while body.len() < KEEP {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(KEEP - body.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    builder
        .body(body.freeze())
        .unwrap_or_else(|_| http::Response::new(Bytes::new()))
}

/// What one send came to: a response the caller takes, or an attempt error the classifiers
/// read (a failing status, drained, or the client's error).
async fn judge<E>(
    outcome: Result<Response, E>,
    sent: &Sent,
) -> Result<Response, Attempt<E, Bytes>> {
    match outcome {
        Ok(r) if failing(r.status()) => Err(Attempt::status(sent, drain(r).await)),
        Ok(r) => Ok(r),
        Err(e) => Err(Attempt::transport(sent, e)),
    }
}

#[async_trait::async_trait]
impl Middleware for RecourseMiddleware {
    async fn handle(
        &self,
        req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let key = self.key.of(req.method(), req.url());
        let sent = Sent::new(req.method(), req.headers());
        let spare = req.try_clone();
        let options = sent.call_options(spare.is_some());
        let base = extensions.clone();
        let mut first = Some(req);
        // recourse-lint: allow(dynamic-key) -- the key the middleware was built with, or its route's
        let (result, _) = self
            .exec
            .call_with(&key, &options, |attempt| {
                let request = first
                    .take()
                    .or_else(|| spare.as_ref().and_then(Request::try_clone));
                let mut ext = base.clone();
                ext.insert(resend_count(&attempt));
                let next = next.clone();
                let sent = sent.clone();
                async move {
                    let Some(request) = request else {
                        unreachable_replay()
                    };
                    judge(next.run(request, &mut ext).await, &sent).await
                }
            })
            .await;
        match result.map_err(settle) {
            Ok(response) => Ok(response),
            Err(Ok(last)) => Ok(Response::from(last)),
            Err(Err(Error::Operation { error, .. })) => Err(error),
            Err(Err(other)) => Err(reqwest_middleware::Error::middleware(other)),
        }
    }
}

/// Sends `request` through the executor under `key`, with a plain `reqwest::Client`: the same
/// rules as [`RecourseMiddleware`].
///
/// # Errors
///
/// The request could not be built, or the call failed: [`Error`] with the client's error
/// inside. A failed response after the last attempt is returned as `Ok`.
pub async fn send(
    exec: &Executor,
    key: &str,
    request: reqwest::RequestBuilder,
) -> Result<Response, Error<reqwest::Error>> {
    let (client, built) = request.build_split();
    let req = built.map_err(|error| Error::Operation {
        error,
        reason: crate::Reason::new("request_invalid"),
    })?;
    let sent = Sent::new(req.method(), req.headers());
    let spare = req.try_clone();
    let options = sent.call_options(spare.is_some());
    let mut first = Some(req);
    let (result, _) = exec
        .call_with(key, &options, |_| {
            let request = first
                .take()
                .or_else(|| spare.as_ref().and_then(Request::try_clone));
            let (client, sent) = (client.clone(), sent.clone());
            async move {
                let Some(request) = request else {
                    unreachable_replay()
                };
                judge(client.execute(request).await, &sent).await
            }
        })
        .await;
    match result {
        Ok(response) => Ok(response),
        Err(e) => settle(e).map(Response::from),
    }
}
