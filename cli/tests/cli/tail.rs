//! `recourse tail` and `recourse demo` end to end: a real engine exporting on a real socket,
//! the real binary reading it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use recourse_engine::export::{ExportConfig, ExportServer};
use recourse_engine::{Executor, Policy};
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_recourse"))
}

/// `recourse tail --replay` of the recorded demo, as fast as possible.
fn replay_demo() -> Command {
    let mut cmd = bin();
    cmd.args([
        "tail",
        "--replay",
        "../testdata/events/demo.ndjson",
        "--speed",
        "0",
    ]);
    cmd
}

fn schema() -> jsonschema::Validator {
    let text = include_str!("../../../schemas/event.schema.json");
    jsonschema::validator_for(&serde_json::from_str::<Value>(text).unwrap()).unwrap()
}

#[derive(Debug)]
struct E;

impl std::fmt::Display for E {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for E {}

/// Starts `recourse tail` and waits until its stderr says the subscription is in place.
fn tail_subscribed(cmd: &mut Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tail starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains("matching") || line.contains("no key called") => {
                return (child, rx);
            }
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tail never reported its subscription");
            }
        }
    }
}

/// An executor exporting as `name` on `<dir>/<name>.sock`.
fn exporting(dir: &Path, name: &str) -> Executor {
    Executor::builder()
        .export(ExportConfig::new(name).socket_path(dir.join(format!("{name}.sock"))))
        .build()
        .unwrap()
}

fn zero() -> Policy {
    Policy::builtin()
        .max_attempts(3)
        .backoff(Duration::ZERO, Duration::ZERO, 2.0)
}

#[test]
fn json_output_holds_exactly_the_matching_calls_as_schema_valid_messages() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let exec = Executor::builder()
        .policy("payments.*", zero())
        .policy("inventory.Get", zero())
        .export(ExportConfig::new("checkout").socket_path(dir.path().join("checkout-1.sock")))
        .build()
        .unwrap();
    let server = rt.block_on(ExportServer::start(&exec)).unwrap();
    // No --target: the service is discovered in the socket directory.
    let tail = |extra: &[&str]| {
        tail_subscribed(
            bin()
                .args([
                    "tail",
                    "--output",
                    "json",
                    "--duration",
                    "2s",
                    "--key",
                    "payments.*",
                ])
                .args(extra)
                .env("RECOURSE_SOCKET_DIR", dir.path()),
        )
    };
    let (child, _stderr) = tail(&[]);
    // Beside it, one that asks for the interesting calls only (no first-try successes).
    let (interesting, _stderr2) = tail(&["--calls", "interesting"]);
    let mut expected = Vec::new();
    rt.block_on(async {
        for i in 0..30u32 {
            let key = ["payments.Charge", "payments.Refund", "inventory.Get"][i as usize % 3];
            let mut failures = i % 4; // 3 or more: the call fails after 3 attempts
            let r = exec
                .call(key, |_| {
                    let fail = failures > 0;
                    failures = failures.saturating_sub(1);
                    async move { if fail { Err(E) } else { Ok(()) } }
                })
                .await;
            if key.starts_with("payments.") {
                expected.push((key.to_owned(), (i % 4 + 1).min(3) as usize, r.is_ok()));
            }
        }
    });
    let validator = schema();
    let calls_of = |child: Child| {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let mut calls = Vec::new();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let m: Value = serde_json::from_str(line).unwrap();
            assert!(validator.is_valid(&m), "{m}");
            assert_eq!(m["target"], format!("checkout-{}", std::process::id()));
            assert_ne!(m["t"], "gap", "{m}");
            if m["t"] == "call" {
                let attempts = m["attempts"].as_array().unwrap().len();
                calls.push((
                    m["key"].as_str().unwrap().to_owned(),
                    attempts,
                    m["outcome"] == "success",
                ));
            }
        }
        calls
    };
    assert_eq!(calls_of(child), expected);
    let retried_or_failed: Vec<_> = expected
        .into_iter()
        .filter(|&(_, attempts, ok)| attempts > 1 || !ok)
        .collect();
    assert_eq!(retried_or_failed.len(), 14); // of 20 payments calls, 6 succeed at once
    assert_eq!(calls_of(interesting), retried_or_failed);
    drop(server);
}

/// The demo recording replayed in text mode with `args`: its stdout, its stderr, and the
/// recording itself.
fn replay_text(args: &[&str]) -> (String, String, String) {
    let out = replay_demo()
        .args(["--output", "text"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let recorded = std::fs::read_to_string("../testdata/events/demo.ndjson").unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        recorded,
    )
}

#[test]
fn text_output_is_one_line_per_call_and_notices_go_to_stderr() {
    let (stdout, stderr, recorded) = replay_text(&["--key", "payments.Charge"]);
    let lines: Vec<&str> = stdout.lines().collect();
    let charges = recorded
        .lines()
        .filter(|l| l.contains(r#""t":"call""#) && l.contains(r#""key":"payments.Charge""#))
        .count();
    assert_eq!(lines.len(), charges);
    assert!(lines.iter().all(|l| l.contains(" payments.Charge ")));
    insta::assert_snapshot!("tail_text_replay", lines[..12].join("\n"));
    assert!(stderr.contains("connected"), "{stderr}");
}

#[test]
fn a_replay_shows_only_the_calls_asked_for() {
    let (stdout, _, recorded) = replay_text(&["--calls", "failed"]);
    let calls: Vec<&str> = stdout.lines().filter(|l| !l.contains("CIRCUIT")).collect();
    let failures = recorded
        .lines()
        .filter(|l| l.contains(r#""t":"call""#) && l.contains(r#""outcome":"failure""#))
        .count();
    assert!(failures > 0);
    assert_eq!(calls.len(), failures, "{stdout}");
    assert!(calls.iter().all(|l| l.contains("FAIL")), "{stdout}");
}

#[test]
fn a_recording_replays_to_the_same_messages() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.ndjson");
    let first = replay_demo()
        .args([
            "--output",
            "json",
            "--events",
            "call,circuit,stats",
            "--record",
        ])
        .arg(&copy)
        .output()
        .unwrap();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = bin()
        .args(["tail", "--replay"])
        .arg(&copy)
        .args([
            "--speed",
            "0",
            "--output",
            "json",
            "--events",
            "call,circuit,stats",
        ])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(0));
    assert!(!first.stdout.is_empty());
    assert!(
        first.stdout == second.stdout,
        "a replayed recording prints the same lines"
    );
    let original = std::fs::read_to_string("../testdata/events/demo.ndjson").unwrap();
    let recorded = std::fs::read_to_string(&copy).unwrap();
    let kinds = |t: &str| {
        let mut v: Vec<String> = t
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["t"].to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(kinds(&original), kinds(&recorded));
}

#[test]
fn unreachable_targets_exit_2_with_the_reason() {
    let out = bin()
        .args([
            "tail",
            "--target",
            "/nonexistent/recourse.sock",
            "--output",
            "text",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("no target reachable"), "{stderr}");
    assert!(stderr.contains("/nonexistent/recourse.sock"), "{stderr}");

    let empty = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["tail", "--output", "text"])
        .env("RECOURSE_SOCKET_DIR", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("no services found"), "{stderr}");

    let out = bin()
        .args(["tail", "--target", "http://x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn an_interrupted_tail_exits_130_and_keeps_its_recording() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let exec = Executor::builder()
        .export(ExportConfig::new("svc").socket_path(dir.path().join("svc.sock")))
        .build()
        .unwrap();
    let _server = rt.block_on(ExportServer::start(&exec)).unwrap();
    let record = dir.path().join("rec.ndjson");
    let (child, _stderr) = tail_subscribed(
        bin()
            .args(["tail", "--output", "json", "--target"])
            .arg(dir.path().join("svc.sock"))
            .arg("--record")
            .arg(&record),
    );
    rt.block_on(exec.call("a.B", |_| async { Ok::<_, E>(()) }))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(text.lines().any(|l| l.contains(r#""key":"a.B""#)), "{text}");
    assert!(
        text.lines().all(|l| l.starts_with(r#"{"target":"svc-"#)),
        "{text}"
    );
}

#[test]
fn the_demo_shows_retries_denials_hedges_and_a_breaker_within_five_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["demo", "--no-tui", "--duration", "5s"])
        .env("RECOURSE_SOCKET_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let has = |needle: &str| stdout.lines().any(|l| l.contains(needle));
    assert!(has("attempts=2") || has("attempts=3"), "retries:\n{stdout}");
    assert!(has("denied="), "budget denials:\n{stdout}");
    assert!(has("hedges=1"), "hedges:\n{stdout}");
    assert!(
        has("CIRCUIT closed -> open"),
        "a breaker opening:\n{stdout}"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("breaker opened"), "{stderr}");
    assert!(!Path::new(&dir.path().join("recourse-demo.sock")).exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the socket is removed"
    );
}

/// The text lines docs/tail.md shows are what tail prints for the recording.
#[test]
fn the_docs_show_real_text_lines() {
    let docs = std::fs::read_to_string("../docs/tail.md").unwrap();
    let out = replay_demo().args(["--output", "text"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    // The example lines: a clock time, then the demo's instance.
    let example = |l: &&str| {
        let b = l.as_bytes();
        b.len() > 13 && b[2] == b':' && b[5] == b':' && l[12..].starts_with(" recourse-demo-")
    };
    let shown: Vec<&str> = docs.lines().filter(example).collect();
    assert!(shown.len() >= 3);
    for line in shown {
        assert!(
            text.lines().any(|t| t == line),
            "not what tail prints: {line}"
        );
    }
}

#[test]
fn several_targets_are_tailed_at_once_each_under_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let service = |name: &str| exporting(dir.path(), name);
    let (a, b) = (service("checkout"), service("billing"));
    let _servers = (
        rt.block_on(ExportServer::start(&a)).unwrap(),
        rt.block_on(ExportServer::start(&b)).unwrap(),
    );
    let mut cmd = bin();
    cmd.args(["tail", "--output", "json", "--duration", "2s"])
        .arg("--target")
        .arg(dir.path().join("checkout.sock"))
        .arg("--target")
        .arg(format!(
            "unix://{}",
            dir.path().join("billing.sock").display()
        ));
    let (child, stderr) = tail_subscribed(&mut cmd);
    // Both subscriptions are in place once the second notice arrived.
    loop {
        let line = stderr.recv_timeout(Duration::from_secs(20)).unwrap();
        if line.contains("matching") || line.contains("no key called") {
            break;
        }
    }
    rt.block_on(async {
        a.call("checkout.Pay", |_| async { Ok::<_, E>(()) })
            .await
            .unwrap();
        b.call("billing.Invoice", |_| async { Ok::<_, E>(()) })
            .await
            .unwrap();
    });
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut seen: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|m| m["t"] == "call")
        .map(|m| {
            (
                m["target"].as_str().unwrap().to_owned(),
                m["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let pid = std::process::id();
    assert_eq!(
        seen,
        [
            (format!("billing-{pid}"), "billing.Invoice".to_owned()),
            (format!("checkout-{pid}"), "checkout.Pay".to_owned()),
        ]
    );
}

#[test]
fn a_service_that_restarts_is_reconnected() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("svc.sock");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let exec = Executor::builder()
        .export(ExportConfig::new("svc").socket_path(&sock))
        .build()
        .unwrap();
    let server = rt.block_on(ExportServer::start(&exec)).unwrap();
    let mut cmd = bin();
    cmd.args(["tail", "--output", "json", "--duration", "4s", "--target"])
        .arg(&sock);
    let (child, stderr) = tail_subscribed(&mut cmd);
    rt.block_on(exec.call("a.First", |_| async { Ok::<_, E>(()) }))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    rt.block_on(server.shutdown());
    let mut notices = Vec::new();
    loop {
        let line = stderr.recv_timeout(Duration::from_secs(10)).unwrap();
        notices.push(line.clone());
        if line.contains("reconnecting") {
            break;
        }
    }
    let _server = rt.block_on(ExportServer::start(&exec)).unwrap();
    loop {
        let line = stderr.recv_timeout(Duration::from_secs(10)).unwrap();
        notices.push(line.clone());
        if line.contains("reconnected") {
            break;
        }
    }
    // The new connection subscribes right after its hello.
    std::thread::sleep(Duration::from_millis(300));
    rt.block_on(exec.call("a.Second", |_| async { Ok::<_, E>(()) }))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let keys: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|m| m["t"] == "call")
        .map(|m| m["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["a.First", "a.Second"], "{notices:#?}");
    assert!(
        notices.iter().any(|n| n.contains("shutting down")),
        "{notices:#?}"
    );
}

/// Reads `stderr` into `notices` until a line contains `what`.
fn notice_until(stderr: &mpsc::Receiver<String>, notices: &mut Vec<String>, what: &str) {
    loop {
        match stderr.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => {
                notices.push(line.clone());
                if line.contains(what) {
                    return;
                }
            }
            Err(_) => panic!("no notice with {what:?}: {notices:#?}"),
        }
    }
}

#[test]
fn discovery_follows_services_that_start_later_and_lets_stopped_ones_go() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let service = |name: &str| exporting(dir.path(), name);
    let old = service("old");
    let old_server = rt.block_on(ExportServer::start(&old)).unwrap();
    let mut cmd = bin();
    cmd.args(["tail", "--output", "json", "--duration", "8s"])
        .env("RECOURSE_SOCKET_DIR", dir.path());
    let (child, stderr) = tail_subscribed(&mut cmd);
    let pid = std::process::id();
    let mut notices = Vec::new();
    // The service stops: its follower lets it go rather than retrying a socket that is gone.
    rt.block_on(old_server.shutdown());
    notice_until(&stderr, &mut notices, &format!("old-{pid}: stopped"));
    let stopped_at = notices.len();
    // A service that starts after tail did (as a restart under a new pid would) is followed.
    let new = service("new");
    let _new_server = rt.block_on(ExportServer::start(&new)).unwrap();
    notice_until(&stderr, &mut notices, &format!("new-{pid}: no key called"));
    rt.block_on(new.call("new.Call", |_| async { Ok::<_, E>(()) }))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let calls: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|m| m["t"] == "call")
        .map(|m| (m["target"].to_string(), m["key"].to_string()))
        .collect();
    assert_eq!(
        calls,
        [(format!("\"new-{pid}\""), "\"new.Call\"".to_owned())],
        "{notices:#?}"
    );
    notices.extend(stderr.try_iter());
    let after: Vec<&String> = notices[stopped_at..]
        .iter()
        .filter(|n| n.contains(&format!("old-{pid}")))
        .collect();
    assert!(
        after.is_empty(),
        "the stopped service is still followed: {after:#?}"
    );
}

#[cfg(unix)]
#[test]
fn list_shows_each_service_with_its_keys_and_a_stale_socket_with_why() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = (
        exporting(dir.path(), "checkout"),
        exporting(dir.path(), "billing"),
    );
    let _servers = (
        rt.block_on(ExportServer::start(&a)).unwrap(),
        rt.block_on(ExportServer::start(&b)).unwrap(),
    );
    rt.block_on(async {
        for key in ["checkout.Pay", "checkout.Quote", "audit.Write"] {
            a.call(key, |_| async { Ok::<_, E>(()) }).await.unwrap();
        }
    });
    // A socket left by a process that died: the file stays, nobody listens.
    drop(std::os::unix::net::UnixListener::bind(dir.path().join("old-7.sock")).unwrap());

    let list = |args: &[&str]| {
        bin()
            .args(["tail", "--list"])
            .args(args)
            .env("RECOURSE_SOCKET_DIR", dir.path())
            .output()
            .unwrap()
    };
    let out = list(&["--output", "json", "--key", "checkout.*"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], 1);
    let services = doc["services"].as_array().unwrap();
    let target = |name: &str| dir.path().join(name).display().to_string();
    let pid = std::process::id();
    assert_eq!(services.len(), 3, "{doc}");
    let by_target = |t: String| services.iter().find(|s| s["target"] == t).unwrap();
    let checkout = by_target(target("checkout.sock"));
    assert_eq!(checkout["instance"], format!("checkout-{pid}"));
    assert_eq!(checkout["pid"], pid);
    assert_eq!(
        checkout["keys"],
        serde_json::json!(["checkout.Pay", "checkout.Quote"])
    );
    assert!(checkout["uptime_s"].as_u64().unwrap() < 60);
    assert_eq!(
        by_target(target("billing.sock"))["keys"],
        serde_json::json!([])
    );
    let stale = by_target(target("old-7.sock"));
    assert_eq!(stale["reachable"], false);
    assert!(
        stale["error"].as_str().unwrap().contains("stale"),
        "{stale}"
    );

    let out = list(&[]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("SERVICE "), "{table}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("checkout-{pid} ")) && l.contains(" 3 ")),
        "{table}"
    );

    // Nothing answers: listed all the same, exit 2.
    let dead = dir.path().join("old-7.sock");
    let out = bin()
        .args(["tail", "--list", "--target"])
        .arg(&dead)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stale"));
}

/// `recourse demo` without its TUI, exporting in the socket directory `sockets`.
fn demo_in(sockets: &Path) -> Child {
    bin()
        .args(["demo", "--no-tui", "--duration", "30s"])
        .env("RECOURSE_SOCKET_DIR", sockets)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The first call line a text-mode `tail` prints (`None` if it ends without one).
fn first_call(tail: &mut Child) -> Option<String> {
    let stdout = BufReader::new(tail.stdout.take().unwrap());
    stdout
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains(" payments.") || l.contains(" inventory."))
}

/// `--wait`: with no service yet, tail says it is waiting instead of exiting, and follows the
/// service that starts.
#[test]
fn wait_follows_a_service_that_starts_later() {
    let dir = tempfile::tempdir().unwrap();
    let mut tail = bin()
        .args(["tail", "--wait", "--output", "text", "--duration", "60s"])
        .env("RECOURSE_SOCKET_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(tail.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(
        first.contains("waiting for a service to start in"),
        "{first}"
    );
    let mut demo = demo_in(dir.path());
    let call = first_call(&mut tail);
    let _ = (tail.kill(), demo.kill(), tail.wait(), demo.wait());
    assert!(call.is_some(), "no call from the service that started");
}

/// `--targets-file`: a target added to the file while tail runs is followed, and let go
/// when its line is removed.
#[test]
fn a_targets_file_follows_the_lines_added_and_lets_go_of_those_removed() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("fleet.txt");
    std::fs::write(&list, "# the fleet, one target a line\n").unwrap();
    let sockets = dir.path().join("sockets");
    std::fs::create_dir(&sockets).unwrap();
    let mut tail = bin()
        .args(["tail", "--wait", "--output", "text", "--duration", "60s"])
        .arg("--targets-file")
        .arg(&list)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut demo = demo_in(&sockets);
    // The demo's socket, once it is there.
    let socket = (0..200)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::read_dir(&sockets)
                .ok()?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "sock"))
        })
        .expect("the demo's socket");
    let header = std::fs::read_to_string(&list).unwrap();
    std::fs::write(&list, format!("{header}{}\n", socket.display())).unwrap();
    let mut out = BufReader::new(tail.stdout.take().unwrap()).lines();
    let call = out
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains(" payments.") || l.contains(" inventory."));
    // Tail goes on writing calls until it lets the target go: keep reading them.
    std::thread::spawn(move || out.for_each(drop));
    // The fleet scales in: the line goes, and so does the target.
    std::fs::write(&list, &header).unwrap();
    let notice = BufReader::new(tail.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("no longer followed"));
    let _ = (tail.kill(), demo.kill(), tail.wait(), demo.wait());
    assert!(call.is_some(), "no call from the target added to the file");
    let notice = notice.expect("no notice that the removed target was let go");
    assert!(notice.contains("removed from"), "{notice}");
}

#[test]
fn a_targets_file_line_that_names_no_target_is_a_usage_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("fleet.txt");
    std::fs::write(&list, "10.0.0.7:7079\nhttp://wrong\n").unwrap();
    let out = bin()
        .args(["tail", "--output", "text", "--targets-file"])
        .arg(&list)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("fleet.txt:2: "), "{stderr}");
}
