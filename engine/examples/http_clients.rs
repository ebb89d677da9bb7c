//! recourse around HTTP clients: the tower layer on hyper's client, and the reqwest middleware,
//! against a local server that answers 503 (with Retry-After: 1) to every other request.
//!
//! ```sh
//! cargo run -p recourse-engine --example http_clients --features tower,reqwest
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use recourse_engine::integrations::reqwest::RecourseMiddleware;
use recourse_engine::integrations::tower::RecourseLayer;
use recourse_engine::{Executor, Policy};
use tower_layer::Layer;
use tower_service::Service;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A flaky server: odd requests get 503 and Retry-After: 1.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let hits = counter.clone();
            let svc = hyper::service::service_fn(move |_req| {
                let n = hits.fetch_add(1, Ordering::SeqCst);
                async move {
                    let mut r = http::Response::new(Full::new(Bytes::from("hello")));
                    if n.is_multiple_of(2) {
                        *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                        r.headers_mut().insert("retry-after", "1".parse().unwrap());
                    }
                    Ok::<_, Infallible>(r)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });

    let exec = Executor::builder()
        .policy(
            "inventory.*",
            Policy::builtin()
                .max_attempts(3)
                .backoff(Duration::from_millis(10), Duration::from_millis(100), 2.0)
                .classifier("http"),
        )
        .build()?;

    // tower: any Service<http::Request<B>> (here hyper's client).
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut svc = RecourseLayer::by_route(exec.clone(), |_, uri| {
        if uri.path().starts_with("/items/") {
            "inventory.GetItem"
        } else {
            "inventory.Other"
        }
    })
    .layer(client);
    let req =
        http::Request::get(format!("http://{addr}/items/42")).body(Full::new(Bytes::new()))?;
    let started = std::time::Instant::now();
    let resp = svc.call(req).await?;
    println!(
        "tower:   {} after {:?} (the 503 said Retry-After: 1)",
        resp.status(),
        started.elapsed()
    );

    // reqwest-middleware.
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RecourseMiddleware::new(exec, "inventory.List"))
        .build();
    let resp = client.get(format!("http://{addr}/items")).send().await?;
    println!("reqwest: {} {}", resp.status(), resp.text().await?);
    println!(
        "server saw {} requests for 2 calls",
        hits.load(Ordering::SeqCst)
    );
    Ok(())
}
