//! A tower [`Layer`] for HTTP clients (feature `tower`): hyper, tonic and tower-http clients, or
//! any `Service<http::Request<B>, Response = http::Response<R>>`, get recourse with one line.
//!
//! - The key is fixed, or comes from a function of the method and URI that returns a
//!   `&'static str` (so it stays low-cardinality).
//! - Every attempt sends a fresh copy of the request. A body that cannot be copied (a stream:
//!   wrap it in [`NoReplay`]) is sent once, never twice, and the call's timeline says
//!   `replayable: false`.
//! - Responses with 5xx, 408 and 429 are classified like errors (the `http` and `auto`
//!   classifiers see the status, the method and Retry-After): a GET is retried, a POST is not
//!   unless it carries an `Idempotency-Key` header (the server deduplicates it).
//!   When the attempts are spent, the caller gets the last response, unchanged.
//! - Hedges only for idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use tower_layer::Layer;
use tower_service::Service;

use super::http::{Attempt, KeyOf, Sent, failing, settle, unreachable_replay};
use crate::error::Error;
use crate::executor::Executor;

/// Wraps a service so every request runs under the policy of its key.
///
/// ```
/// use recourse_engine::Executor;
/// use recourse_engine::integrations::tower::RecourseLayer;
///
/// let exec = Executor::new();
/// let fixed = RecourseLayer::new(exec.clone(), "inventory.Get");
/// let routed = RecourseLayer::by_route(exec, |method, uri| match (method.as_str(), uri.path()) {
///     ("GET", p) if p.starts_with("/items/") => "inventory.Get",
///     _ => "inventory.Other",
/// });
/// # drop((fixed, routed));
/// ```
#[derive(Clone)]
pub struct RecourseLayer {
    exec: Executor,
    key: KeyOf<Uri>,
}

impl fmt::Debug for RecourseLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecourseLayer").finish_non_exhaustive()
    }
}

impl RecourseLayer {
    /// Every request under `key`.
    pub fn new(exec: Executor, key: &str) -> RecourseLayer {
        RecourseLayer {
            exec,
            key: KeyOf::fixed(key),
        }
    }

    /// The key of each request from its method and URI; return a fixed set of keys (the
    /// route, never the id in the path).
    pub fn by_route(
        exec: Executor,
        key: impl Fn(&Method, &Uri) -> &'static str + Send + Sync + 'static,
    ) -> RecourseLayer {
        RecourseLayer {
            exec,
            key: KeyOf::route(key),
        }
    }
}

impl<S> Layer<S> for RecourseLayer {
    type Service = RecourseService<S>;
    fn layer(&self, inner: S) -> RecourseService<S> {
        RecourseService {
            inner,
            exec: self.exec.clone(),
            key: self.key.clone(),
        }
    }
}

/// The service [`RecourseLayer`] builds.
#[derive(Clone)]
pub struct RecourseService<S> {
    inner: S,
    exec: Executor,
    key: KeyOf<Uri>,
}

impl<S> fmt::Debug for RecourseService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecourseService").finish_non_exhaustive()
    }
}

/// A request body that can be sent again: buffered bodies are, streams are not.
pub trait ReplayBody: Sized {
    /// A copy to send again, or `None` when the body cannot be replayed.
    fn replay(&self) -> Option<Self>;
}

macro_rules! replay_by_clone {
    ($($t:ty),*) => {$(
        impl ReplayBody for $t {
            fn replay(&self) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}

replay_by_clone!(
    (),
    String,
    Vec<u8>,
    Bytes,
    http_body_util::Full<Bytes>,
    http_body_util::Empty<Bytes>
);

/// gRPC bodies are streams: a tonic request through the layer runs one attempt (wrap the stub
/// call with the executor and the `grpc` classifier to retry gRPC).
#[cfg(feature = "tonic")]
impl ReplayBody for tonic::body::Body {
    fn replay(&self) -> Option<Self> {
        None
    }
}

pin_project_lite::pin_project! {
    /// A body that must not be sent twice (a stream): requests with it run one attempt.
    #[derive(Debug)]
    pub struct NoReplay<B> {
        #[pin]
        inner: B,
    }
}

impl<B> NoReplay<B> {
    /// Marks `body` as not replayable.
    pub fn new(body: B) -> NoReplay<B> {
        NoReplay { inner: body }
    }
}

impl<B> ReplayBody for NoReplay<B> {
    fn replay(&self) -> Option<Self> {
        None
    }
}

impl<B: http_body::Body> http_body::Body for NoReplay<B> {
    type Data = B::Data;
    type Error = B::Error;
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

struct Template {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: http::Extensions,
}

impl Template {
    fn with<B>(&self, body: B) -> Request<B> {
        let mut r = Request::new(body);
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.version_mut() = self.version;
        *r.headers_mut() = self.headers.clone();
        *r.extensions_mut() = self.extensions.clone();
        r
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> Service<Request<B>> for RecourseService<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: StdError + Send + Sync + 'static,
    B: ReplayBody + Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = Error<S::Error>;
    type Future = BoxFuture<Result<Response<R>, Error<S::Error>>>;

    /// Always ready: each attempt waits for its own clone of the inner service.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (parts, body) = req.into_parts();
        let key = self.key.of(&parts.method, &parts.uri);
        let template = Template {
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
            extensions: parts.extensions,
        };
        let spare = body.replay();
        let sent = Sent::new(&template.method, &template.headers);
        let options = sent.call_options(spare.is_some());
        // Behind a lock so the call's future is Send for bodies that are not Sync (tonic's).
        let spare = std::sync::Mutex::new(spare);
        let (exec, inner) = (self.exec.clone(), self.inner.clone());
        Box::pin(async move {
            let mut first = Some(body);
            // recourse-lint: allow(dynamic-key) -- the key the layer was built with, or its route's
            let (result, _) = exec
                .call_with(&key, &options, |_attempt| {
                    // The original body first; copies of the spare after (none without one,
                    // but then the call has a single attempt).
                    let body = first.take().or_else(|| {
                        let spare = spare.lock().unwrap_or_else(|e| e.into_inner());
                        spare.as_ref().and_then(ReplayBody::replay)
                    });
                    let request = body.map(|b| template.with(b));
                    let mut svc = inner.clone();
                    let sent = sent.clone();
                    async move {
                        let Some(request) = request else {
                            unreachable_replay()
                        };
                        std::future::poll_fn(|cx| svc.poll_ready(cx))
                            .await
                            .map_err(|error| Attempt::transport(&sent, error))?;
                        match svc.call(request).await {
                            Ok(response) if failing(response.status()) => {
                                Err(Attempt::status(&sent, response))
                            }
                            Ok(response) => Ok(response),
                            Err(error) => Err(Attempt::transport(&sent, error)),
                        }
                    }
                })
                .await;
            match result {
                Ok(response) => Ok(response),
                Err(e) => settle(e),
            }
        })
    }
}
