//! Manual control over the export socket: `control` sets a key's breaker when the service
//! allows it and the peer has the rights, and is refused with a clear error otherwise.

use recourse_engine::export::{Endpoint, ExportConfig, ExportServer};
use recourse_engine::{CircuitState, Error, Executor, ManualControl};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::export::{Client, socket, validator};
use crate::support::*;

fn service(config: ExportConfig) -> Executor {
    Executor::builder()
        .policy("payments.Charge", zero().max_attempts(1))
        .policy("inventory.Get", zero().max_attempts(1).circuit(5, ms(1000)))
        .export(config)
        .build()
        .unwrap()
}

impl Client {
    /// Sends `control` and returns the answer (`controlled` or `error`), checked against the
    /// schema.
    async fn control(&mut self, action: &str, key: Option<&str>) -> Value {
        let mut line =
            serde_json::to_vec(&json!({"t": "control", "action": action, "key": key})).unwrap();
        line.push(b'\n');
        self.w.write_all(&line).await.unwrap();
        loop {
            let m = self.next().await;
            if m["t"] == "controlled" || m["t"] == "error" {
                assert!(validator().is_valid(&m), "{m}");
                return m;
            }
        }
    }
}

/// A service that allows control, on a socket in a temporary directory, and a client of it.
async fn controlled() -> (tempfile::TempDir, Executor, ExportServer, Client) {
    let dir = tempfile::tempdir().unwrap();
    let exec = service(
        ExportConfig::new("svc")
            .socket_path(socket(&dir))
            .allow_control(true),
    );
    let server = ExportServer::start(&exec).await.unwrap();
    let c = Client::connect(&socket(&dir)).await;
    (dir, exec, server, c)
}

fn refused(m: &Value) -> Option<(&str, bool)> {
    (m["t"] == "error").then(|| (m["code"].as_str().unwrap(), m["fatal"] == true))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_isolates_closes_and_releases_a_key_over_the_socket() {
    let (_dir, exec, _server, mut c) = controlled().await;
    let hello = c.next_of("hello").await;
    assert_eq!(
        hello["control"], true,
        "the service says it accepts control"
    );
    c.subscribe(json!({"t": "subscribe", "events": ["circuit"]}))
        .await;
    let _ = exec
        .call("payments.Charge", |_| async { Ok::<_, E>(()) })
        .await;

    // A key the service has never called is most often a typo: refused, with the near one.
    let m = c.control("isolate", Some("payments.Chrage")).await;
    assert_eq!(refused(&m), Some(("unknown_key", false)), "{m}");
    assert!(
        m["msg"]
            .as_str()
            .unwrap()
            .contains("did you mean `payments.Charge`?"),
        "{m}"
    );
    assert_eq!(exec.manual_control("payments.Chrage"), None);

    let m = c.control("isolate", Some("payments.Charge")).await;
    assert_eq!(m["keys"], json!({"payments.Charge": "isolated"}), "{m}");
    assert_eq!(
        exec.manual_control("payments.Charge"),
        Some(ManualControl::Isolated)
    );
    let event = c.next_of("circuit").await;
    assert_eq!(event["reason"], "manual_isolate");
    // The next call fails at once, as through an open breaker.
    let r = exec
        .call("payments.Charge", |_| async { Ok::<_, E>(()) })
        .await;
    assert!(matches!(
        r,
        Err(Error::CircuitOpen {
            state: CircuitState::Open,
            ..
        })
    ));

    let m = c.control("close", Some("payments.Charge")).await;
    assert_eq!(m["keys"]["payments.Charge"], "forced-closed");
    let m = c.control("release", Some("payments.Charge")).await;
    assert_eq!(
        m["keys"]["payments.Charge"], "none",
        "no breaker in its policy"
    );
    assert_eq!(exec.manual_control("payments.Charge"), None);

    // Status: every key called or set so far, with its breaker.
    let _ = exec
        .call("inventory.Get", |_| async { Ok::<_, E>(()) })
        .await;
    let m = c.control("status", None).await;
    assert_eq!(
        m["keys"],
        json!({"inventory.Get": "closed", "payments.Charge": "none"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_is_off_unless_the_service_allows_it_and_bad_requests_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let exec = service(ExportConfig::new("svc").socket_path(socket(&dir)));
    let _server = ExportServer::start(&exec).await.unwrap();
    let mut c = Client::connect(&socket(&dir)).await;
    let hello = c.next_of("hello").await;
    assert!(hello.get("control").is_none(), "{hello}");
    let m = c.control("isolate", Some("payments.Charge")).await;
    assert_eq!(refused(&m), Some(("control_disabled", false)), "{m}");
    assert!(
        m["msg"].as_str().unwrap().contains("allow_control(true)"),
        "{m}"
    );
    assert_eq!(exec.manual_control("payments.Charge"), None);
    // Reading the breakers needs no control.
    let m = c.control("status", Some("payments.Charge")).await;
    assert_eq!(m["keys"], json!({"payments.Charge": "none"}));

    let exec = service(
        ExportConfig::new("svc2")
            .socket_path(dir.path().join("b.sock"))
            .allow_control(true),
    );
    let _server = ExportServer::start(&exec).await.unwrap();
    let mut c = Client::connect(&dir.path().join("b.sock")).await;
    for (action, key, why) in [
        ("explode", Some("payments.Charge"), "unknown action"),
        ("isolate", None, "needs a key"),
        ("isolate", Some("payments Charge"), "not a key"),
        ("isolate", Some(".payments"), "not a key"),
    ] {
        let m = c.control(action, key).await;
        assert_eq!(refused(&m), Some(("bad_request", false)), "{m}");
        assert!(m["msg"].as_str().unwrap().contains(why), "{m}");
    }
    let long = "k".repeat(recourse_engine::MAX_KEY_LEN + 1);
    let m = c.control("isolate", Some(&long)).await;
    assert_eq!(refused(&m), Some(("bad_request", false)), "{m}");
    // The connection is still good after refusals.
    let _ = exec
        .call("payments.Charge", |_| async { Ok::<_, E>(()) })
        .await;
    let m = c.control("isolate", Some("payments.Charge")).await;
    assert_eq!(m["t"], "controlled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tcp_control_needs_the_token() {
    // Loopback without a token: readers are welcome, control is refused.
    let exec = service(
        ExportConfig::new("svc")
            .no_unix_socket()
            .tcp("127.0.0.1:0".parse().unwrap())
            .allow_control(true),
    );
    let server = ExportServer::start(&exec).await.unwrap();
    let Endpoint::Tcp(addr) = server.endpoints()[0] else {
        panic!()
    };
    let (r, mut w) = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap()
        .into_split();
    let mut lines = BufReader::new(r);
    let mut send_and_read = async |line: &str| {
        w.write_all(line.as_bytes()).await.unwrap();
        loop {
            let mut got = String::new();
            lines.read_line(&mut got).await.unwrap();
            let m: Value = serde_json::from_str(&got).unwrap();
            if m["t"] == "error" || m["t"] == "controlled" {
                return m;
            }
        }
    };
    let m = send_and_read(
        "{\"t\":\"control\",\"action\":\"isolate\",\"key\":\"a.B\",\"force\":true}\n",
    )
    .await;
    assert_eq!(refused(&m), Some(("forbidden", false)), "{m}");
    assert!(m["msg"].as_str().unwrap().contains("token"), "{m}");
    assert_eq!(exec.manual_control("a.B"), None);

    // With a token: refused before it (and the connection closed), accepted after it.
    let exec = service(
        ExportConfig::new("svc")
            .no_unix_socket()
            .tcp("127.0.0.1:0".parse().unwrap())
            .token("s3cret")
            .allow_control(true),
    );
    let server = ExportServer::start(&exec).await.unwrap();
    let Endpoint::Tcp(addr) = server.endpoints()[0] else {
        panic!()
    };
    for with_token in [false, true] {
        let (r, mut w) = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap()
            .into_split();
        let mut lines = BufReader::new(r);
        let mut line = String::new();
        lines.read_line(&mut line).await.unwrap(); // the anonymous hello
        if with_token {
            w.write_all(b"{\"t\":\"subscribe\",\"token\":\"s3cret\",\"events\":[\"circuit\"]}\n")
                .await
                .unwrap();
        }
        w.write_all(b"{\"t\":\"control\",\"action\":\"isolate\",\"key\":\"a.B\",\"force\":true}\n")
            .await
            .unwrap();
        let answer = loop {
            line.clear();
            if lines.read_line(&mut line).await.unwrap() == 0 {
                break Value::Null;
            }
            let m: Value = serde_json::from_str(&line).unwrap();
            if m["t"] == "error" || m["t"] == "controlled" {
                break m;
            }
        };
        if with_token {
            assert_eq!(answer["keys"], json!({"a.B": "isolated"}), "{answer}");
            assert_eq!(exec.manual_control("a.B"), Some(ManualControl::Isolated));
        } else {
            assert_eq!(refused(&answer), Some(("unauthorized", true)), "{answer}");
            assert_eq!(exec.manual_control("a.B"), None);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_a_thousand_keys_at_most_and_release_creates_none() {
    let dir = tempfile::tempdir().unwrap();
    let exec = service(
        ExportConfig::new("svc")
            .socket_path(socket(&dir))
            .allow_control(true),
    );
    let _server = ExportServer::start(&exec).await.unwrap();
    for i in 0..1005 {
        let _ = exec
            .call(&format!("many.k{i:04}"), |_| async { Ok::<_, E>(()) })
            .await;
    }
    let mut c = Client::connect(&socket(&dir)).await;
    let m = c.control("status", None).await;
    assert_eq!(
        m["keys"].as_object().unwrap().len(),
        1000,
        "at most 1,000 keys"
    );
    assert_eq!(m["more"], 5, "and how many were left out");
    // Releasing a key never seen changes nothing and makes no state for it.
    let m = c.control("release", Some("never.Seen")).await;
    assert_eq!(m["keys"], json!({"never.Seen": "none"}));
    let m = c.control("status", None).await;
    assert_eq!(m["more"], 5, "no key was added: {m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_asks_faster_than_it_reads_gets_busy_not_a_pile_of_answers() {
    let (_dir, exec, _server, mut c) = controlled().await;
    c.subscribe(json!({"t": "subscribe", "events": ["call"], "max_rate": 2000}))
        .await;
    // Stop reading while calls stream: the socket fills and the writer waits.
    for _ in 0..3 {
        for _ in 0..2000 {
            let _ = exec
                .call("payments.Charge", |_| async { Ok::<_, E>(()) })
                .await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let two =
        b"{\"t\":\"control\",\"action\":\"status\"}\n{\"t\":\"control\",\"action\":\"status\"}\n";
    c.w.write_all(two).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Now read: one answer, and one refusal for the second question.
    let (mut answers, mut busy) = (0, 0);
    while answers + busy < 2 {
        let m = c.next().await;
        match (m["t"].as_str(), m["code"].as_str()) {
            (Some("controlled"), _) => answers += 1,
            (Some("error"), Some("busy")) => busy += 1,
            _ => {}
        }
    }
    assert_eq!((answers, busy), (1, 1));
}
