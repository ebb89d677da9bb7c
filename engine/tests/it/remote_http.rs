//! The HTTP control-plane source against a real local server (127.0.0.1): 200 with an ETag,
//! 304 on If-None-Match, 404 as not found, 500 as a failure served from last known good.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use recourse_engine::provider::{HttpSource, RemoteProvider};
use recourse_engine::{Executor, MissingMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// A control plane answering `status` with `body`; records each request's If-None-Match.
async fn serve(
    status: Arc<Mutex<u16>>,
    hits: Arc<AtomicU32>,
    conditional: Arc<AtomicU32>,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (status, hits, conditional) = (status.clone(), hits.clone(), conditional.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                hits.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"id":"remote-v1","retry":{"max_attempts":4,"initial_backoff":"1ms","max_backoff":"1ms"}}"#;
                let code = *status.lock().unwrap();
                let response = if code == 200 && req.contains("if-none-match: \"v1\"") {
                    conditional.fetch_add(1, Ordering::SeqCst);
                    "HTTP/1.1 304 Not Modified\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        .to_owned()
                } else if code == 200 {
                    format!(
                        "HTTP/1.1 200 OK\r\netag: \"v1\"\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                };
                let _ = sock.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/policies")
}

// Paused clock: the TTL waits are virtual; the sockets are real.
#[tokio::test(start_paused = true)]
async fn http_source_etags_not_found_and_outages() {
    let (status, hits, conditional) =
        (Arc::new(Mutex::new(200u16)), Arc::default(), Arc::default());
    let base = serve(status.clone(), Arc::clone(&hits), Arc::clone(&conditional)).await;
    let provider = RemoteProvider::new(HttpSource::new(base)).ttl(Duration::from_millis(20));
    let exec = Executor::builder()
        .provider(provider)
        .missing_policy(MissingMode::Deny)
        .build()
        .unwrap();
    let attempts = |exec: Executor| async move {
        let calls = Calls::default();
        let (res, tl) = exec
            .call_traced("payments.Charge", always_fails(&calls))
            .await;
        (
            res.is_err(),
            calls.get(),
            tl.attribute("policy_source").map(str::to_owned),
        )
    };
    assert_eq!(
        attempts(exec.clone()).await,
        (true, 4, Some("remote".into()))
    );
    tokio::time::sleep(Duration::from_millis(30)).await; // expired: fetched again, conditionally
    assert_eq!(
        attempts(exec.clone()).await,
        (true, 4, Some("remote".into()))
    );
    assert_eq!(
        conditional.load(Ordering::SeqCst),
        1,
        "If-None-Match was sent and 304 honoured"
    );
    *status.lock().unwrap() = 500;
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        attempts(exec.clone()).await,
        (true, 4, Some("lkg".into())),
        "an outage serves the last known good"
    );
    *status.lock().unwrap() = 404;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let calls = Calls::default();
    let err = exec
        .call("payments.Charge", always_fails(&calls))
        .await
        .unwrap_err();
    assert!(
        matches!(err, recourse_engine::Error::NoPolicy { .. }),
        "{err:?}"
    );
    assert_eq!(calls.get(), 0);
    assert!(hits.load(Ordering::SeqCst) >= 4);
}
