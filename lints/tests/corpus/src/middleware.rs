use std::task::{Context, Poll};

use tower::{Service, ServiceExt};

pub struct Timing<S> {
    inner: S,
}

impl<S: Service<Request>> Service<Request> for Timing<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        self.inner.call(req)
    }
}

pub async fn forward<S: Service<Request>>(mut svc: S, req: Request, other: Request) {
    let _ = Service::call(&mut svc, req);
    let _ = svc.ready().await.ok().map(|s| s.call(other));
}

pub async fn oneshot<S: Service<Request>>(svc: S, req: Request) {
    let _ = svc.oneshot(req).await;
}
