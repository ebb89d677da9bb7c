//! The tower layer around hyper's client, against a real hyper server on 127.0.0.1 that fails
//! on command: retries and Retry-After end to end, POST not retried, a non-replayable body never
//! sent twice, a hedged GET whose loser is cancelled.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use recourse_engine::integrations::tower::{NoReplay, RecourseLayer, RecourseService};
use tower_layer::Layer;
use tower_service::Service;

use crate::http_server::{retrying_exec, serve, wait_cancelled};

/// hyper's client under the layer, for `key`.
fn layered(key: &str) -> RecourseService<Client<HttpConnector, Full<Bytes>>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    RecourseLayer::new(retrying_exec(), key).layer(client)
}

fn empty(method: Method, addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    request(method, addr, path, Full::new(Bytes::new()))
}

fn request<B>(method: Method, addr: SocketAddr, path: &str, body: B) -> Request<B> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(body)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_is_retried_and_retry_after_is_honoured() {
    let (server, addr) = serve().await;
    server.script(
        "/items/1",
        &[(503, Some(1), Duration::ZERO), (500, None, Duration::ZERO)],
    );
    let mut svc = layered("items.Get");
    let resp = svc
        .call(empty(Method::GET, addr, "/items/1"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = server.requests("/items/1");
    assert_eq!(seen.len(), 3);
    assert!(
        seen[1].1 - seen[0].1 >= Duration::from_millis(990),
        "the second attempt waited for Retry-After: {:?}",
        seen[1].1 - seen[0].1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_is_not_retried_and_the_last_response_comes_back() {
    let (server, addr) = serve().await;
    server.script("/items", &[(503, None, Duration::ZERO)]);
    let mut svc = layered("items.Create");
    let resp = svc
        .call(request(
            Method::POST,
            addr,
            "/items",
            Full::new(Bytes::from("{\"n\":1}")),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503, "the caller sees what the server said");
    assert_eq!(server.requests("/items").len(), 1);

    // A GET that keeps failing comes back as its last response too, after every attempt.
    server.script("/items/2", &[(503, None, Duration::ZERO); 3]);
    let mut svc = layered("items.Get");
    let resp = svc
        .call(empty(Method::GET, addr, "/items/2"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(server.requests("/items/2").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_with_an_idempotency_key_is_retried() {
    let (server, addr) = serve().await;
    server.script("/orders", &[(503, None, Duration::ZERO)]);
    let mut post = request(
        Method::POST,
        addr,
        "/orders",
        Full::new(Bytes::from("{\"n\":1}")),
    );
    post.headers_mut()
        .insert("idempotency-key", "order-7".parse().unwrap());
    let resp = layered("orders.Create").call(post).await.unwrap();
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
    assert_eq!(bodies, [Bytes::from("{\"n\":1}"), Bytes::from("{\"n\":1}")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_cannot_be_replayed_is_sent_once() {
    let (server, addr) = serve().await;
    server.script(
        "/upload",
        &[(503, None, Duration::ZERO), (200, None, Duration::ZERO)],
    );
    let client = Client::builder(TokioExecutor::new()).build_http::<NoReplay<Full<Bytes>>>();
    let mut svc = RecourseLayer::new(retrying_exec(), "items.Get").layer(client);
    let body = NoReplay::new(Full::new(Bytes::from("stream")));
    let resp = svc
        .call(request(Method::PUT, addr, "/upload", body))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let seen = server.requests("/upload");
    assert_eq!(seen.len(), 1, "never a silent double send");
    assert_eq!(seen[0].2, "stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hedged_get_wins_and_the_loser_is_cancelled() {
    let (server, addr) = serve().await;
    server.script(
        "/slow",
        &[
            (200, None, Duration::from_secs(3)),
            (200, None, Duration::ZERO),
        ],
    );
    let mut svc = layered("items.Slow");
    let t0 = Instant::now();
    let resp = svc.call(empty(Method::GET, addr, "/slow")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "the hedge won: {:?}",
        t0.elapsed()
    );
    assert_eq!(server.requests("/slow").len(), 2);
    // The primary's connection was dropped, so the server stopped working on it.
    wait_cancelled(&server).await;

    // A POST to the same slow route is never hedged.
    server.script("/slow", &[(200, None, Duration::from_millis(200))]);
    let mut svc = layered("items.Slow");
    let before = server.requests("/slow").len();
    let resp = svc.call(empty(Method::POST, addr, "/slow")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.requests("/slow").len(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_are_the_services_own() {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut svc = RecourseLayer::by_route(retrying_exec(), |_, _| "items.Get").layer(client);
    // Nothing listens on port 9 of 127.0.0.1: connection refused, retried, then returned.
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let err = svc.call(empty(Method::GET, addr, "/x")).await.unwrap_err();
    assert_eq!(err.reason_code().as_str(), "http_transport_error");
    assert!(err.operation_error().is_some());
}
