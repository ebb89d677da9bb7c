//! The remote provider's bundle mode: one document for every key over HTTP, fetched once per
//! TTL with a conditional request, against a server of the test's own and against a plain
//! static file server (Python's `http.server`).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use recourse_engine::provider::{HttpBundle, Provider, RemoteProvider};
use recourse_engine::{Executor, Key};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const DOCUMENT: &str = r#"{"version": 1,
  "budgets": {"retries": {"kind": "token_bucket", "capacity": 7}},
  "defaults": {"retry": {"max_attempts": 2}},
  "policies": {"payments.Charge": {"id": "charge-v1", "retry": {"max_attempts": 4,
      "initial_backoff": "1ms", "max_backoff": "1ms", "budget": {"name": "retries"}}}}}"#;

/// Counts of what a control plane answered.
#[derive(Default)]
struct Answers {
    full: AtomicU32,
    not_modified: AtomicU32,
}

/// A control plane serving `DOCUMENT` with the ETag `"v1"`, answering `304` to a request that
/// names it.
async fn serve(answers: Arc<Answers>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                let response = if req.contains("if-none-match: \"v1\"") {
                    answers.not_modified.fetch_add(1, Ordering::SeqCst);
                    "HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
                } else {
                    answers.full.fetch_add(1, Ordering::SeqCst);
                    format!(
                        "HTTP/1.1 200 OK\r\netag: \"v1\"\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{DOCUMENT}",
                        DOCUMENT.len()
                    )
                };
                let _ = sock.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/policies.json")
}

/// The attempts one always-failing call to `key` makes.
async fn attempts(exec: &Executor, key: &str) -> u32 {
    let calls = Calls::default();
    let _ = exec.call(key, always_fails(&calls)).await;
    calls.get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_providers_make_one_conditional_request_each_per_ttl() {
    let answers = Arc::new(Answers::default());
    let url = serve(answers.clone()).await;
    let ttl = Duration::from_millis(200);
    let execs: Vec<Executor> = (0..50)
        .map(|_| {
            let provider = RemoteProvider::bundle(HttpBundle::new(url.clone())).ttl(ttl);
            Executor::builder().provider(provider).build().unwrap()
        })
        .collect();
    // Every replica calls two keys every 20ms for a second: five TTLs.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1_000) {
        for exec in &execs {
            for key in ["payments.Charge", "search.Query"] {
                let calls = Calls::default();
                exec.call(key, fails_then(&calls, 0, ())).await.unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let periods = started.elapsed().as_millis() / ttl.as_millis() + 1;
    for exec in &execs[..3] {
        assert_eq!(attempts(exec, "payments.Charge").await, 4);
        assert_eq!(
            attempts(exec, "search.Query").await,
            2,
            "the document's defaults"
        );
    }
    let (full, not_modified) = (
        answers.full.load(Ordering::SeqCst),
        answers.not_modified.load(Ordering::SeqCst),
    );
    eprintln!("50 providers over {periods} TTLs: {full} full answers, {not_modified} 304s");
    assert_eq!(
        full, 50,
        "one parse per provider; every later answer is a 304"
    );
    assert!(
        u128::from(full + not_modified) <= 50 * periods,
        "at most one request per provider per TTL, whatever the number of keys"
    );
    // However slowly a loaded machine runs the loop, each TTL ran out at least once.
    assert!(
        not_modified >= 50,
        "each provider asked again once its TTL ran out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_control_plane_serves_the_persisted_document() {
    let answers = Arc::new(Answers::default());
    let url = serve(answers).await;
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("policies.lkg");
    let provider = RemoteProvider::bundle(HttpBundle::new(url)).persist_to(&saved);
    let exec = Executor::builder().provider(provider).build().unwrap();
    assert_eq!(attempts(&exec, "payments.Charge").await, 4);
    assert!(saved.exists(), "the document is kept on disk");

    // A restart with the control plane gone: the kept document answers, as last known good.
    let gone = RemoteProvider::bundle(HttpBundle::new("http://127.0.0.1:9/policies.json"))
        .fetch_timeout(Duration::from_millis(200))
        .persist_to(&saved);
    let p = gone.policy(&Key::parse("payments.Charge")).unwrap();
    assert_eq!(p.id.as_deref(), Some("charge-v1"));
    assert_eq!(p.meta.source.as_str(), "lkg");
    assert_eq!(gone.budgets().len(), 1, "its budgets come with it");
    let exec = Executor::builder().provider(gone).build().unwrap();
    assert_eq!(attempts(&exec, "payments.Charge").await, 4);
}

/// Python's `http.server` on a free port, serving `dir`; killed when dropped.
struct StaticServer(Child, u16);

impl StaticServer {
    fn start(dir: &std::path::Path) -> Option<StaticServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "http.server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(StaticServer(child, port))
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(feature = "yaml")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_file_server_is_a_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policies.yaml");
    let write = |attempts: u32, age: Duration| {
        std::fs::write(
            &file,
            format!(
                "version: 1\npolicies:\n  payments.Charge:\n    retry: {{ max_attempts: {attempts}, initial_backoff: 1ms, max_backoff: 1ms }}\n"
            ),
        )
        .unwrap();
        // Last-Modified has whole seconds: date each version apart.
        let f = std::fs::File::options().write(true).open(&file).unwrap();
        f.set_modified(std::time::SystemTime::now() - age).unwrap();
    };
    write(3, Duration::from_secs(60));
    let Some(server) = StaticServer::start(dir.path()) else {
        eprintln!("skipped: python3 is not installed");
        return;
    };
    let url = format!("http://127.0.0.1:{}/policies.yaml", server.1);
    let provider =
        Arc::new(RemoteProvider::bundle(HttpBundle::new(url)).ttl(Duration::from_millis(100)));
    let exec = Executor::builder()
        .provider_arc(provider.clone())
        .build()
        .unwrap();
    assert_eq!(attempts(&exec, "payments.Charge").await, 3);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        attempts(&exec, "payments.Charge").await,
        3,
        "a 304: unchanged"
    );
    assert_eq!(provider.fetch_count(), 2);

    write(5, Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        attempts(&exec, "payments.Charge").await,
        5,
        "the new version"
    );
}
