//! The reqwest middleware and the plain `send` helper against a real server: retries and
//! Retry-After, POST not retried, a streaming body never sent twice, failed bodies kept for the
//! caller, resend counts for the middlewares below, a hedged GET whose loser is cancelled.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Extensions;
use recourse_engine::integrations::reqwest::{RecourseMiddleware, ResendCount, send};
use reqwest_middleware::{ClientBuilder, Middleware, Next};

use crate::http_server::{retrying_exec, serve, wait_cancelled};

/// Records the resend count each attempt carries.
#[derive(Clone, Default)]
struct Resends(Arc<Mutex<Vec<u32>>>);

#[async_trait::async_trait]
impl Middleware for Resends {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let n = extensions.get::<ResendCount>().map_or(u32::MAX, |r| r.0);
        self.0.lock().unwrap().push(n);
        next.run(req, extensions).await
    }
}

fn client(key: &str, resends: &Resends) -> reqwest_middleware::ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(RecourseMiddleware::new(retrying_exec(), key))
        .with(resends.clone())
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_is_retried_with_retry_after_and_resend_counts() {
    let (server, addr) = serve().await;
    server.script(
        "/a",
        &[(503, Some(1), Duration::ZERO), (429, None, Duration::ZERO)],
    );
    let resends = Resends::default();
    let resp = client("items.Get", &resends)
        .get(format!("http://{addr}/a"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = server.requests("/a");
    assert_eq!(seen.len(), 3);
    assert!(
        seen[1].1 - seen[0].1 >= Duration::from_millis(990),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(*resends.0.lock().unwrap(), [0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_is_not_retried_and_its_response_body_is_kept() {
    let (server, addr) = serve().await;
    server.script("/b", &[(503, None, Duration::ZERO)]);
    let resp = client("items.Get", &Resends::default())
        .post(format!("http://{addr}/b"))
        .body("order")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.text().await.unwrap(), "status 503");
    assert_eq!(server.requests("/b").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_with_an_idempotency_key_is_retried() {
    let (server, addr) = serve().await;
    server.script("/orders", &[(503, None, Duration::ZERO)]);
    let resp = client("orders.Create", &Resends::default())
        .post(format!("http://{addr}/orders"))
        .header("Idempotency-Key", "order-7")
        .body("order")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the server deduplicates: resending is safe"
    );
    let bodies: Vec<Bytes> = server
        .requests("/orders")
        .into_iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(bodies, [Bytes::from("order"), Bytes::from("order")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_body_is_sent_once() {
    let (server, addr) = serve().await;
    server.script("/c", &[(503, None, Duration::ZERO)]);
    let chunks: Vec<Result<&'static [u8], std::io::Error>> = vec![Ok(b"str"), Ok(b"eam")];
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let resp = client("items.Get", &Resends::default())
        .put(format!("http://{addr}/c"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let seen = server.requests("/c");
    assert_eq!(seen.len(), 1, "never a silent double send");
    assert_eq!(seen[0].2, "stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hedged_get_wins_and_the_loser_is_cancelled() {
    let (server, addr) = serve().await;
    server.script(
        "/d",
        &[
            (200, None, Duration::from_secs(3)),
            (200, None, Duration::ZERO),
        ],
    );
    let t0 = Instant::now();
    let resp = client("items.Slow", &Resends::default())
        .get(format!("http://{addr}/d"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(server.requests("/d").len(), 2);
    wait_cancelled(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_helper_follows_the_same_rules() {
    let (server, addr) = serve().await;
    server.script("/e", &[(500, None, Duration::ZERO)]);
    let http = reqwest::Client::new();
    let resp = send(
        &retrying_exec(),
        "items.Get",
        http.get(format!("http://{addr}/e")),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.requests("/e").len(), 2);
    server.script("/f", &[(500, None, Duration::ZERO)]);
    let resp = send(
        &retrying_exec(),
        "items.Get",
        http.delete(format!("http://{addr}/f")),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200, "DELETE is idempotent");
    let err = send(
        &retrying_exec(),
        "items.Get",
        http.get("http://127.0.0.1:9/"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.reason_code().as_str(), "http_transport_error");
}
