//! `recourse tail` against a hostile service: a hello full of terminal escapes, calls of
//! nearly 1 MiB, a million distinct keys, control characters in every string. In each output
//! mode tail's memory stays under its documented bound (docs/tail.md, "Limits") and no
//! control character reaches its output.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What tail may take whatever the services send (docs/tail.md, "Limits").
const TAIL_MEMORY_KIB: u64 = 512 * 1024;
/// Distinct keys the service sends.
const KEYS: usize = 1_000_000;
/// Keys per `stats` message (under 1 MiB each).
const KEYS_PER_STATS: usize = 10_000;

/// Escapes that would clear the screen, set the clipboard, recolour or reorder text.
const HOSTILE: &str = "\\u001b[2J\\u001b]52;c;cHduZWQ=\\u0007\\u009b31m\u{9b}\u{7f}\u{202e}\\r\\n";

/// Serves one hostile connection after another on `path` until the test ends.
fn hostile_service(path: &Path) -> PathBuf {
    let listener = UnixListener::bind(path).unwrap();
    let path = path.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let _ = serve(stream);
            });
        }
    });
    path
}

fn serve(mut stream: std::os::unix::net::UnixStream) -> std::io::Result<()> {
    let hello = format!(
        "{{\"t\":\"hello\",\"v\":1,\"seq\":0,\"service\":\"evil{HOSTILE}\",\"instance\":\"evil{HOSTILE}\",\"auth\":\"none\"}}\n"
    );
    stream.write_all(hello.as_bytes())?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut subscribe = String::new();
    reader.read_line(&mut subscribe)?;
    // A call of nearly 1 MiB: thousands of attempts, escapes in every string.
    let attempt = format!(
        "{{\"attempt\":1,\"hedge_index\":0,\"is_hedge\":false,\"start_us\":0,\"end_us\":1,\"backoff_us\":0,\"outcome\":\"retryable\",\"reason\":\"r{HOSTILE}\",\"budget_allowed\":true,\"budget_reason\":\"allowed\",\"attributes\":{{\"status{HOSTILE}\":\"5{HOSTILE}\"}},\"error\":\"e{HOSTILE}\"}}"
    );
    let attempts = vec![attempt.clone(); 900_000 / (attempt.len() + 1)].join(",");
    let mut seq = 1;
    let mut key = 0;
    while key < KEYS {
        let call = format!(
            "{{\"t\":\"call\",\"seq\":{seq},\"ts\":\"2026-01-01T00:00:00.000000Z\",\"key\":\"pay{HOSTILE}.{seq}\",\"policy_id\":\"p{HOSTILE}\",\"outcome\":\"failure\",\"reason\":\"x{HOSTILE}\",\"duration_us\":5,\"attributes\":{{\"a{HOSTILE}\":\"b{HOSTILE}\"}},\"attempts\":[{attempts}],\"error\":\"{HOSTILE}\"}}\n"
        );
        assert!(call.len() < 1 << 20, "{}", call.len());
        stream.write_all(call.as_bytes())?;
        let mut stats = format!(
            "{{\"t\":\"stats\",\"seq\":{},\"ts\":\"2026-01-01T00:00:01.000000Z\",\"keys\":{{",
            seq + 1
        );
        for i in 0..KEYS_PER_STATS {
            if i > 0 {
                stats.push(',');
            }
            stats.push_str(&format!("\"k{key}\":{{\"calls\":1}}"));
            key += 1;
        }
        stats.push_str("}}\n");
        stream.write_all(stats.as_bytes())?;
        let circuit = format!(
            "{{\"t\":\"circuit\",\"seq\":{},\"key\":\"c{HOSTILE}\",\"from\":\"closed\",\"to\":\"open{HOSTILE}\",\"reason\":\"{HOSTILE}\"}}\n",
            seq + 2
        );
        stream.write_all(circuit.as_bytes())?;
        seq += 3;
    }
    // Then stay connected, quiet.
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

/// The peak memory of `pid` so far (KiB), if it still runs.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Waits for `child`, noting its peak memory while it runs.
fn watch(mut child: Child) -> (std::process::ExitStatus, u64) {
    let mut peak = 0;
    loop {
        if let Some(p) = peak_kib(child.id()) {
            peak = peak.max(p);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The characters of `out` that must not reach a terminal (newlines end lines).
fn controls(out: &str) -> Vec<char> {
    out.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

#[test]
fn tail_as_text_stays_bounded_and_prints_no_control_characters() {
    line_mode("text");
}

#[test]
fn tail_as_json_stays_bounded_and_prints_no_control_characters() {
    line_mode("json");
}

fn line_mode(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let sock = hostile_service(&dir.path().join("evil.sock"));
    {
        let out = dir.path().join(format!("{mode}.out"));
        let child = Command::new(env!("CARGO_BIN_EXE_recourse"))
            .args(["tail", "--target", sock.to_str().unwrap(), "--output", mode])
            .args(["--events", "call,circuit,stats", "--duration", "5s"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (status, peak) = watch(child);
        assert!(status.success(), "{mode}: {status}");
        let printed = std::fs::read(&out).unwrap();
        let printed = String::from_utf8(printed).expect("tail prints UTF-8");
        assert!(printed.lines().count() > 10, "{mode}: little output");
        assert_eq!(controls(&printed), [] as [char; 0], "{mode}");
        if mode == "json" {
            for line in printed.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
                assert!(v["target"].is_string(), "{line}");
            }
        }
        eprintln!("tail --output {mode}: peak {peak} KiB");
        assert!(peak < TAIL_MEMORY_KIB, "{mode}: peak {peak} KiB");
    }
}

#[test]
fn the_tui_stays_bounded_and_shows_no_control_characters() {
    if !crate::tui::have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = hostile_service(&dir.path().join("evil.sock"));
    let command = format!(
        "{} tail --target {} --duration 8s",
        env!("CARGO_BIN_EXE_recourse"),
        sock.display()
    );
    let tmux = crate::tui::Tmux::start("hostile", &command);
    // The pane's shell runs tail: follow its memory until it exits.
    let shell: u32 = tmux
        .tmux(&["display", "-p", "-t", "t", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut peak = 0;
    let mut screens = Vec::new();
    loop {
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .unwrap_or_default();
        let tail = children
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "recourse")
            });
        if let Some(p) = tail.and_then(peak_kib) {
            peak = peak.max(p);
        }
        let screen = tmux.screen();
        if screen.contains("EXIT=") {
            break;
        }
        screens.push(screen);
        assert!(
            Instant::now() < deadline,
            "tail never ended:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let screen = tmux.wait("the exit", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    eprintln!("the TUI: peak {peak} KiB");
    assert!(peak < TAIL_MEMORY_KIB, "the TUI peaked at {peak} KiB");
    // The escapes were shown as text, not obeyed: a terminal that had received them would
    // have cleared the screen and swallowed the clipboard write.
    assert!(
        screens.iter().any(|s| s.contains("[2J")),
        "the hostile key never showed as text:\n{}",
        screens.last().map_or("", String::as_str)
    );
    assert_eq!(
        tmux.tmux(&["list-buffers"]),
        "",
        "a clipboard write reached tmux"
    );
}

#[test]
fn a_replayed_line_past_1_mib_is_skipped_without_being_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    // 256 MiB in one line, then a call: the call is still replayed.
    f.write_all(b"{\"t\":\"call\",\"key\":\"").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..256 {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(b"\"}\n").unwrap();
    let call = r#"{"t":"call","seq":2,"ts":"2026-01-01T00:00:00.000000Z","key":"a.B","outcome":"success","reason":"success","duration_us":5,"attempts":[]}"#;
    writeln!(f, "{call}").unwrap();
    drop(f);
    let child = Command::new(env!("CARGO_BIN_EXE_recourse"))
        .args([
            "tail",
            "--replay",
            path.to_str().unwrap(),
            "--speed",
            "0",
            "--output",
            "json",
        ])
        .stdout(std::fs::File::create(dir.path().join("out")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("err")).unwrap())
        .spawn()
        .unwrap();
    let (status, peak) = watch(child);
    assert!(status.success());
    let out = std::fs::read_to_string(dir.path().join("out")).unwrap();
    let err = std::fs::read_to_string(dir.path().join("err")).unwrap();
    assert!(out.contains("\"key\":\"a.B\""), "{out}");
    assert!(
        err.contains(":1: skipped: a line longer than 1 MiB"),
        "{err}"
    );
    assert!(peak < 64 * 1024, "replay held {peak} KiB");
}

/// Runs `recourse tail --target <path> --output json` briefly; its stderr and exit code.
fn tail_once(target: &Path) -> (String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_recourse"))
        .args([
            "tail",
            "--target",
            target.to_str().unwrap(),
            "--output",
            "json",
        ])
        .args(["--duration", "2s"])
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

fn root() -> bool {
    rustix::process::getuid().is_root()
}

#[test]
fn a_socket_of_another_user_is_not_followed() {
    if !root() {
        return; // only root can hand a socket to another user; CI runs as root
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("theirs.sock");
    let _listener = UnixListener::bind(&sock).unwrap();
    std::os::unix::fs::chown(&sock, Some(12345), None).unwrap();
    let (err, code) = tail_once(&sock);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("belongs to uid 12345"), "{err}");
}

/// Where [`peer_of_another_user`] serves, when the test started it as another user.
const PEER_SOCKET: &str = "RECOURSE_TEST_PEER_SOCKET";

/// A server run as another user by [`a_process_of_another_user_is_not_trusted`].
#[test]
#[ignore = "a child process of a_process_of_another_user_is_not_trusted"]
fn peer_of_another_user() {
    let Some(path) = std::env::var_os(PEER_SOCKET) else {
        return;
    };
    let listener = UnixListener::bind(&path).unwrap();
    for stream in listener.incoming().flatten() {
        let mut s = stream;
        let _ = s.write_all(b"{\"t\":\"hello\",\"v\":1,\"service\":\"theirs\"}\n");
    }
}

#[test]
fn a_process_of_another_user_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    if !root() {
        return; // only root can start a process as another user; CI runs as root
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let sock = dir.path().join("peer.sock");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tail_hostile::peer_of_another_user", "--ignored"])
        .env(PEER_SOCKET, &sock)
        .uid(12345)
        .gid(12345)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "the other user's server never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The file is made to look like ours: the process behind it is still refused.
    std::os::unix::fs::chown(&sock, Some(0), Some(0)).unwrap();
    let (err, code) = tail_once(&sock);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("runs as uid 12345"), "{err}");
}

#[test]
fn a_socket_directory_others_can_write_to_is_not_searched() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let _planted = UnixListener::bind(shared.join("planted.sock")).unwrap();
    for args in [&["tail", "--output", "json"][..], &["tail", "--list"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_recourse"))
            .args(args)
            .env("RECOURSE_SOCKET_DIR", &shared)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("other users can write to it"),
            "{args:?}: {err}"
        );
    }
}
