//! A real HTTP server on 127.0.0.1 for the integration tests: each path answers from a script
//! (status, Retry-After, delay), every request is recorded, and a handler dropped before it
//! finished (its client went away) is counted as cancelled.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// What the server answers next on a path: status, Retry-After seconds, delay.
pub type Script = VecDeque<(u16, Option<u64>, Duration)>;

#[derive(Default)]
pub struct Server {
    pub scripts: Mutex<HashMap<String, Script>>,
    pub seen: Mutex<Vec<(Method, String, Instant, Bytes)>>,
    pub cancelled: AtomicU32,
}

struct CancelGuard<'a>(&'a AtomicU32, bool);

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Server {
    pub fn script(&self, path: &str, steps: &[(u16, Option<u64>, Duration)]) {
        self.scripts
            .lock()
            .unwrap()
            .insert(path.to_owned(), steps.iter().copied().collect());
    }

    pub fn requests(&self, path: &str) -> Vec<(Method, Instant, Bytes)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.1 == path)
            .map(|r| (r.0.clone(), r.2, r.3.clone()))
            .collect()
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let path = parts.uri.path().to_owned();
        self.seen
            .lock()
            .unwrap()
            .push((parts.method.clone(), path.clone(), Instant::now(), body));
        let step = self
            .scripts
            .lock()
            .unwrap()
            .get_mut(&path)
            .and_then(VecDeque::pop_front)
            .unwrap_or((200, None, Duration::ZERO));
        let mut guard = CancelGuard(&self.cancelled, false);
        tokio::time::sleep(step.2).await;
        guard.1 = true;
        let mut resp = Response::new(Full::new(Bytes::from(format!("status {}", step.0))));
        *resp.status_mut() = StatusCode::from_u16(step.0).unwrap();
        if let Some(s) = step.1 {
            resp.headers_mut()
                .insert("retry-after", s.to_string().parse().unwrap());
        }
        Ok(resp)
    }
}

pub async fn serve() -> (Arc<Server>, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::default());
    let s = server.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| s.clone().handle(req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (server, addr)
}

/// Waits (at most 2 s) until the server saw a handler dropped before it answered.
pub async fn wait_cancelled(server: &Server) {
    let until = Instant::now() + Duration::from_secs(2);
    while server.cancelled.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < until,
            "the losing request was never cancelled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Three attempts with tiny backoffs under the `http` classifier; `items.Slow` also hedges
/// after 50 ms.
pub fn retrying_exec() -> recourse_engine::Executor {
    let retry = || {
        recourse_engine::Policy::builtin()
            .max_attempts(3)
            .backoff(Duration::from_millis(1), Duration::from_millis(5), 2.0)
            .classifier("http")
    };
    recourse_engine::Executor::builder()
        .policy("items.Get", retry())
        .policy("items.Create", retry())
        .policy("items.Slow", retry().hedging(1, Duration::from_millis(50)))
        .build()
        .unwrap()
}
