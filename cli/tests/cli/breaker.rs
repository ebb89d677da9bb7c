//! `recourse breaker` against real exporting services: the operator isolates a key, the next
//! call fails with `circuit_open`, and `tail` shows the key `ISOLATED`; a peer without the
//! rights, or a service that does not allow control, is refused with the reason.

use std::time::Duration;

use recourse_engine::export::{Endpoint, ExportConfig, ExportServer};
use recourse_engine::{CircuitState, Error, Executor, ManualControl, Policy, Reason};
use serde_json::Value;

use crate::recourse;
use crate::tui::{Tmux, have_tmux};

#[derive(Debug)]
struct E;

impl std::fmt::Display for E {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for E {}

fn service(config: ExportConfig) -> Executor {
    Executor::builder()
        .policy("payments.Charge", Policy::builtin().max_attempts(1))
        .policy(
            "inventory.Get",
            Policy::builtin().circuit(5, Duration::from_secs(10)),
        )
        .export(config.stats_interval(Duration::from_millis(250)))
        .build()
        .unwrap()
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn call(rt: &tokio::runtime::Runtime, exec: &Executor) -> Result<(), Error<E>> {
    rt.block_on(exec.call("payments.Charge", |_| async { Ok::<_, E>(()) }))
}

#[test]
fn an_operator_isolates_a_key_and_the_next_call_fails_with_circuit_open() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("checkout.sock");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let exec = service(
        ExportConfig::new("checkout")
            .socket_path(&sock)
            .allow_control(true),
    );
    let _server = rt.block_on(ExportServer::start(&exec)).unwrap();
    call(&rt, &exec).unwrap();
    let target = sock.to_str().unwrap();

    // A typo is refused, naming the key the service knows; what docs/breaker.md shows.
    let typo = recourse(&["breaker", "isolate", "payments.Chrage", "--target", target]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        text(&typo).0.contains("did you mean `payments.Charge`?"),
        "{:?}",
        text(&typo)
    );
    assert_eq!(exec.manual_control("payments.Chrage"), None);

    let out = recourse(&["breaker", "isolate", "payments.Charge", "--target", target]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("payments.Charge is isolated"), "{stdout}");
    assert_eq!(
        exec.manual_control("payments.Charge"),
        Some(ManualControl::Isolated)
    );
    let r = call(&rt, &exec);
    assert!(
        matches!(&r, Err(Error::CircuitOpen { state: CircuitState::Open, reason }) if *reason == Reason::CIRCUIT_OPEN),
        "{r:?}"
    );

    // `status` reads it back; what docs/breaker.md shows is what the command prints.
    rt.block_on(exec.call("inventory.Get", |_| async { Ok::<_, E>(()) }))
        .unwrap();
    let status = recourse(&["breaker", "status", "--target", target]);
    assert_eq!(status.status.code(), Some(0));
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/breaker.md"),
    )
    .unwrap();
    let as_documented = |out: &std::process::Output| {
        text(out)
            .0
            .replace(target, "/run/user/1000/recourse/checkout-4242.sock")
            .replace(&format!("checkout-{}", std::process::id()), "checkout-4242")
    };
    for out in [&typo, &out, &status] {
        for line in as_documented(out).lines() {
            assert!(docs.contains(line), "docs/breaker.md lacks {line:?}");
        }
    }
    // `status` reads it back, as JSON too.
    let out = recourse(&["breaker", "status", "-t", target, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &doc["targets"][0];
    assert_eq!(t["keys"]["payments.Charge"], "isolated", "{doc}");
    assert_eq!(
        (t["service"].as_str(), t["control"].as_bool()),
        (Some("checkout"), Some(true))
    );

    // The TUI names it, on a terminal of 80x24.
    if have_tmux() {
        let recourse = env!("CARGO_BIN_EXE_recourse");
        let tmux = Tmux::start_sized("breaker", &format!("{recourse} tail -t {target}"), (80, 24));
        let screen = tmux.wait("the key shown ISOLATED", |s| s.contains("ISOLATED"));
        assert!(screen.contains("payments.Charge"), "{screen}");
        tmux.keys_now("q");
    }

    let out = recourse(&["breaker", "release", "payments.Charge", "-t", target]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("payments.Charge has no breaker"),
        "{:?}",
        text(&out)
    );
    call(&rt, &exec).unwrap();
}

#[test]
fn a_peer_without_rights_or_a_service_without_control_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A service that does not allow control.
    let closed = dir.path().join("closed.sock");
    let exec = service(ExportConfig::new("closed").socket_path(&closed));
    let _a = rt.block_on(ExportServer::start(&exec)).unwrap();
    let out = recourse(&[
        "breaker",
        "isolate",
        "payments.Charge",
        "-t",
        closed.to_str().unwrap(),
    ]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("refused (control_disabled)"), "{stdout}");
    assert!(stdout.contains("allow_control(true)"), "{stdout}");
    assert_eq!(exec.manual_control("payments.Charge"), None);

    // Over TCP without a token: anyone on the host could connect, so control is refused.
    let tcp = service(
        ExportConfig::new("open")
            .no_unix_socket()
            .tcp("127.0.0.1:0".parse().unwrap())
            .allow_control(true),
    );
    let server = rt.block_on(ExportServer::start(&tcp)).unwrap();
    let Endpoint::Tcp(addr) = server.endpoints()[0] else {
        panic!()
    };
    let target = format!("tcp://{addr}");
    let out = recourse(&["breaker", "isolate", "payments.Charge", "-t", &target]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("refused (forbidden)") && stdout.contains("token"),
        "{stdout}"
    );
    assert_eq!(tcp.manual_control("payments.Charge"), None);

    // A target nobody answers on: exit 2, with why.
    let gone = dir.path().join("gone.sock");
    let out = recourse(&[
        "breaker",
        "close",
        "payments.Charge",
        "-t",
        gone.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).0.contains("not reached"), "{:?}", text(&out));
    // No target at all is a usage error.
    assert_eq!(
        recourse(&["breaker", "isolate", "payments.Charge"])
            .status
            .code(),
        Some(2)
    );
}
