//! The live export against hostile clients: floods of garbage, idle connections that never
//! authenticate, unsafe socket directories. The service's calls must not stall and its memory
//! must stay bounded (docs/export.md, "Security").

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use recourse_engine::export::{Endpoint, ExportConfig, ExportError, ExportServer};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};

use crate::export::{Client, exporting, ok_call, socket};

/// Lines that are not messages a client may send before the server closes the connection.
const MAX_BAD_LINES: usize = 8;

/// 512 KiB of lines that are not messages.
fn garbage() -> Vec<u8> {
    b"garbage\n".repeat(64 * 1024)
}

/// The lines a server sends until it closes the connection (at most `limit`, within 10 s),
/// but for the periodic `stats`.
async fn lines_until_closed<R: AsyncRead + Unpin>(r: R, limit: usize) -> Vec<Value> {
    let mut lines = BufReader::new(r);
    let mut out = Vec::new();
    let read_all = async {
        loop {
            let mut line = String::new();
            match lines.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let m: Value = serde_json::from_str(&line).unwrap();
                    if m["t"] != "stats" {
                        out.push(m);
                    }
                }
            }
            assert!(
                out.len() <= limit,
                "still open after {limit} lines: {out:?}"
            );
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .expect("the server closes the connection within 10 s");
    out
}

fn kinds(lines: &[Value]) -> Vec<(String, bool)> {
    lines
        .iter()
        .map(|m| (m["t"].as_str().unwrap().to_owned(), m["fatal"] == true))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_garbage_is_cut_off_after_a_few_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let exec = exporting(ExportConfig::new("svc").socket_path(socket(&dir)));
    let _server = ExportServer::start(&exec).await.unwrap();
    let (r, mut w) = UnixStream::connect(socket(&dir))
        .await
        .unwrap()
        .into_split();
    // 25 MB, written as fast as the socket takes it, until the server hangs up.
    let flood = tokio::spawn(async move {
        let chunk = garbage();
        for _ in 0..50 {
            if w.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let lines = lines_until_closed(r, MAX_BAD_LINES + 1).await;
    ok_call(&exec, "payments.Charge");
    let mut expected = vec![("hello".to_owned(), false)];
    expected.extend(std::iter::repeat_n(
        ("error".to_owned(), false),
        MAX_BAD_LINES - 1,
    ));
    expected.push(("error".to_owned(), true));
    assert_eq!(kinds(&lines), expected);
    let _ = flood.await;
}

fn tcp_with_token(max_clients: usize, pending: usize, deadline: Duration) -> ExportConfig {
    ExportConfig::new("svc")
        .no_unix_socket()
        .tcp("127.0.0.1:0".parse().unwrap())
        .token("s3cret")
        .max_clients(max_clients)
        .unauthenticated(pending, deadline)
}

fn tcp_addr(server: &ExportServer) -> std::net::SocketAddr {
    match server.endpoints() {
        [Endpoint::Tcp(addr)] => *addr,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_before_the_token_closes_the_connection_at_once() {
    let exec = exporting(tcp_with_token(32, 8, Duration::from_secs(5)));
    let server = ExportServer::start(&exec).await.unwrap();
    let (r, mut w) = TcpStream::connect(tcp_addr(&server))
        .await
        .unwrap()
        .into_split();
    let flood = tokio::spawn(async move {
        let chunk = garbage();
        for _ in 0..50 {
            if w.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let lines = lines_until_closed(r, 2).await;
    assert_eq!(
        kinds(&lines),
        [("hello".to_owned(), false), ("error".to_owned(), true)]
    );
    assert_eq!(lines[1]["code"], "unauthorized");
    assert!(lines[0].get("service").is_none(), "{}", lines[0]);
    let _ = flood.await;
}

/// The first line a fresh connection to `addr` gets: a hello or a refusal.
async fn first_line(addr: std::net::SocketAddr) -> (TcpStream, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line))
        .await
        .expect("a first line within 10 s")
        .unwrap();
    let v = serde_json::from_str(&line).unwrap_or(Value::Null);
    (stream, v)
}

/// Opens `n` connections to `addr` and keeps them: those let in (a hello), and how many were
/// refused (`too_many_clients`).
async fn open_idle(
    addr: std::net::SocketAddr,
    n: usize,
    server: &ExportServer,
) -> (Vec<TcpStream>, usize) {
    let mut let_in = Vec::new();
    let mut refused = 0;
    for _ in 0..n {
        let (stream, first) = first_line(addr).await;
        match (first["t"].as_str(), first["code"].as_str()) {
            (Some("hello"), _) => let_in.push(stream),
            (Some("error"), Some("too_many_clients")) => refused += 1,
            _ => panic!("neither a hello nor a refusal: {first}"),
        }
    }
    assert!(
        server.clients() <= let_in.len(),
        "{} connections served",
        server.clients()
    );
    (let_in, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_capped_in_total_and_while_unauthenticated() {
    const IDLE: usize = 2_000;
    let long = Duration::from_secs(300);
    // The total cap: the first 16 get in, the other 1,984 are refused at once.
    let exec = exporting(tcp_with_token(16, 16, long));
    let server = ExportServer::start(&exec).await.unwrap();
    let (let_in, refused) = open_idle(tcp_addr(&server), IDLE, &server).await;
    assert_eq!((let_in.len(), refused), (16, IDLE - 16));
    // The cap on connections still to authenticate is tighter.
    let exec = exporting(tcp_with_token(32, 4, long));
    let server = ExportServer::start(&exec).await.unwrap();
    let addr = tcp_addr(&server);
    let (waiting, refused) = open_idle(addr, 10, &server).await;
    assert_eq!((waiting.len(), refused), (4, 6));
    // A client with the token still needs a place: it gets in once one is free.
    drop(waiting);
    let deadline = Instant::now() + Duration::from_secs(10);
    let hello = loop {
        let (mut stream, first) = first_line(addr).await;
        if first["t"] == "hello" {
            stream
                .write_all(b"{\"t\":\"subscribe\",\"token\":\"s3cret\"}\n")
                .await
                .unwrap();
            let (r, _w) = stream.into_split();
            let mut line = String::new();
            BufReader::new(r).read_line(&mut line).await.unwrap();
            break serde_json::from_str::<Value>(&line).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the places were never given back"
        );
        tokio::task::yield_now().await;
    };
    assert_eq!(hello["service"], "svc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_authenticates_is_closed_at_its_deadline() {
    let exec = exporting(tcp_with_token(32, 8, Duration::from_millis(200)));
    let server = ExportServer::start(&exec).await.unwrap();
    let (stream, hello) = first_line(tcp_addr(&server)).await;
    assert_eq!(hello["auth"], "token");
    let lines = lines_until_closed(stream, 1).await;
    assert_eq!(
        (lines[0]["t"].as_str(), lines[0]["code"].as_str()),
        (Some("error"), Some("unauthorized"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_directory_other_users_can_write_to_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let exec = exporting(ExportConfig::new("svc").socket_path(shared.join("svc.sock")));
    let err = ExportServer::start(&exec).await.unwrap_err();
    assert!(matches!(err, ExportError::UnsafeDir(_)), "{err}");
    assert!(err.to_string().contains("mode 0777"), "{err}");
    // A symbolic link to a private directory is refused too: the link could be changed.
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&private, &link).unwrap();
    let exec = exporting(ExportConfig::new("svc").socket_path(link.join("svc.sock")));
    let err = ExportServer::start(&exec).await.unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    // The private directory itself is fine.
    let exec = exporting(ExportConfig::new("svc").socket_path(private.join("svc.sock")));
    let _server = ExportServer::start(&exec).await.unwrap();
    let mut c = Client::connect(&private.join("svc.sock")).await;
    assert_eq!(c.next().await["t"], "hello");
}

/// Where the service under attack tells the test its endpoints, and the test tells it to stop.
const SERVICE_DIR: &str = "RECOURSE_TEST_SERVICE_UNDER_ATTACK";

/// The service side of [`hostile_peers_neither_stall_nor_bloat_the_service`], in a process of
/// its own so its memory can be measured. Does nothing unless the test started it.
#[test]
#[ignore = "a child process of hostile_peers_neither_stall_nor_bloat_the_service"]
fn service_under_attack() {
    let Some(dir) = std::env::var_os(SERVICE_DIR).map(PathBuf::from) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = ExportConfig::new("svc")
        .socket_path(dir.join("svc.sock"))
        .tcp("127.0.0.1:0".parse().unwrap())
        .token("s3cret");
    let exec = exporting(config);
    let server = rt.block_on(ExportServer::start(&exec)).unwrap();
    let tcp = server.endpoints()[1].to_string();
    let tmp = dir.join("endpoints.tmp");
    std::fs::write(&tmp, tcp).unwrap();
    std::fs::rename(&tmp, dir.join("endpoints")).unwrap();
    // Calls made by a task of the service's runtime, as a handler would make them: each
    // must finish promptly whatever the clients do.
    let stop = dir.join("stop");
    let measured = rt.block_on(async {
        let (mut calls, mut slowest) = (0u64, Duration::ZERO);
        while !stop.exists() {
            let t0 = Instant::now();
            let r = exec
                .call("payments.Charge", |_| async {
                    tokio::task::yield_now().await;
                    Ok::<_, std::io::Error>(())
                })
                .await;
            slowest = slowest.max(t0.elapsed());
            calls += u64::from(r.is_ok());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (calls, slowest)
    });
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let result = serde_json::json!({
        "calls": measured.0,
        "slowest_us": measured.1.as_micros() as u64,
        "peak_kib": peak_kib,
    });
    std::fs::write(dir.join("result"), result.to_string()).unwrap();
}

/// Bytes of garbage each transport is flooded with.
const FLOOD: usize = 25 << 20;

/// Writes garbage until the peer hangs up or [`FLOOD`] is reached; what it wrote.
async fn flood<W: tokio::io::AsyncWrite + Unpin>(mut w: W) -> usize {
    let chunk = garbage();
    let mut sent = 0;
    while sent < FLOOD {
        match w.write(&chunk).await {
            Ok(n) if n > 0 => sent += n,
            _ => break,
        }
    }
    sent
}

fn wait_for(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The hostile-client test: floods of garbage on the Unix socket and on TCP, and 2,000 idle
/// TCP connections, against a service in its own process. Its calls never stall over 10 ms
/// and its peak memory stays under 64 MiB (docs/export.md, "Security").
#[test]
fn hostile_peers_neither_stall_nor_bloat_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "export_hostile::service_under_attack",
            "--ignored",
            "--test-threads=1",
        ])
        .env(SERVICE_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let tcp: std::net::SocketAddr = wait_for(&dir.path().join("endpoints"))
        .trim_start_matches("tcp://")
        .parse()
        .unwrap();
    let unix = dir.path().join("svc.sock");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // 2,000 idle TCP connections, held for the whole attack.
        let mut idle = Vec::new();
        for _ in 0..2_000 {
            match TcpStream::connect(tcp).await {
                Ok(s) => idle.push(s),
                Err(e) => panic!("connect: {e}"),
            }
        }
        // Floods of garbage, 25 MB on each transport, reconnecting whenever cut off.
        let unix_flood = async {
            let mut sent = 0;
            while sent < FLOOD {
                match UnixStream::connect(&unix).await {
                    Ok(s) => sent += flood(s).await,
                    Err(e) => panic!("connect: {e}"),
                }
            }
        };
        let tcp_flood = async {
            let mut sent = 0;
            while sent < FLOOD {
                match TcpStream::connect(tcp).await {
                    Ok(s) => sent += flood(s).await,
                    Err(e) => panic!("connect: {e}"),
                }
            }
        };
        tokio::join!(unix_flood, tcp_flood);
        drop(idle);
    });
    std::fs::write(dir.path().join("stop"), "").unwrap();
    let result: Value = serde_json::from_str(&wait_for(&dir.path().join("result"))).unwrap();
    eprintln!("the service under attack: {result}");
    assert!(child.wait().unwrap().success());
    assert!(result["calls"].as_u64().unwrap() > 0, "{result}");
    let slowest = result["slowest_us"].as_u64().unwrap();
    assert!(slowest < 10_000, "a call stalled {slowest} µs: {result}");
    let peak = result["peak_kib"].as_u64().unwrap();
    assert!(
        peak < 64 * 1024,
        "the service peaked at {peak} KiB: {result}"
    );
}
