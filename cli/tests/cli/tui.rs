//! The real binary's TUI driven through tmux (`send-keys`, `capture-pane`): start, keys
//! appear, `/` filter, `Enter` into a key and a waterfall, `Esc`, `q`; and the terminal is
//! restored after `q`, Ctrl-c, SIGTERM and a panic.
//!
//! Needs tmux. Without it these tests say so and pass, unless RECOURSE_REQUIRE_TMUX is set
//! (`.ci/run` sets it, so CI always runs them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub(crate) struct Tmux {
    socket: String,
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

pub(crate) fn have_tmux() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("RECOURSE_REQUIRE_TMUX").is_none(),
            "tmux is required (apt-get install -y tmux)"
        );
        eprintln!("skipped: tmux is not installed (apt-get install -y tmux)");
    }
    found
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/events/demo.ndjson")
}

impl Tmux {
    /// Runs `command` (then prints its exit status and the terminal mode) in a 120x30 pane.
    pub(crate) fn start(name: &str, command: &str) -> Tmux {
        Tmux::start_sized(name, command, (120, 30))
    }

    /// [`start`](Tmux::start) in a pane of `(columns, rows)`.
    pub(crate) fn start_sized(name: &str, command: &str, (w, h): (u16, u16)) -> Tmux {
        let socket = format!("recourse-test-{name}-{}", std::process::id());
        let script = format!(
            "{command}; echo EXIT=$?; stty -a | tr ' ' '\\n' | grep -x -- '-\\{{0,1\\}}icanon'; sleep 120"
        );
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ])
            .args(["-s", "t", "sh", "-c", &script])
            .env("TERM", "xterm-256color")
            .status()
            .unwrap();
        assert!(ok.success());
        Tmux { socket }
    }

    /// Sends one key.
    pub(crate) fn keys_now(&self, key: &str) {
        self.keys(&[key]);
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let ok = Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-t", "t", k])
                .status()
                .unwrap();
            assert!(ok.success());
        }
    }

    /// Runs a tmux command against this server; its stdout.
    pub(crate) fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `ok`; dumps it on timeout.
    pub(crate) fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.wait_every(what, Duration::from_millis(50), ok)
    }

    /// [`wait`](Tmux::wait), looking every `poll`.
    pub(crate) fn wait_every(
        &self,
        what: &str,
        poll: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        // Generous: under load (a loaded CI host) a debug TUI can take seconds to draw.
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < until, "timed out waiting for {what}:\n{s}");
            std::thread::sleep(poll);
        }
    }

    /// Waits for the exit status and checks the terminal is back in canonical mode.
    fn exited(&self, status: i32) {
        let s = self.wait("the exit", |s| s.contains("EXIT="));
        assert!(s.contains(&format!("EXIT={status}")), "{s}");
        let mode = self.wait("the terminal mode", |s| {
            s.lines().any(|l| l.ends_with("icanon"))
        });
        assert!(
            mode.lines().any(|l| l.trim() == "icanon"),
            "the terminal is left in raw mode:\n{mode}"
        );
        assert!(
            !mode.contains("Keys ("),
            "the TUI's screen is gone:\n{mode}"
        );
    }
}

fn replay_command() -> String {
    format!(
        "{} tail --replay {} --speed 0 --output tui",
        env!("CARGO_BIN_EXE_recourse"),
        fixture().display()
    )
}

#[test]
fn filter_drill_down_waterfall_back_and_quit() {
    if !have_tmux() {
        return;
    }
    let t = Tmux::start("flow", &replay_command());
    t.wait("the keys", |s| {
        s.contains("Keys (4)") && s.contains("payments.Charge")
    });
    t.keys(&["/"]);
    t.wait("the prompt", |s| s.contains("filter: /"));
    t.keys(&["Charge", "Enter"]);
    // Captures can catch a frame half-drawn: wait for the whole filtered screen.
    t.wait("only payments.Charge", |s| {
        let rows = s.lines().filter(|l| l.starts_with('│'));
        s.contains("Keys (1)")
            && s.contains("/Charge")
            && rows.clone().count() > 5
            && rows.clone().all(|l| !l.contains("inventory.Get"))
    });
    t.keys(&["Enter"]);
    t.wait("the key view", |s| {
        s.contains("┌ payments.Charge") && s.contains("Recent calls")
    });
    t.keys(&["Enter"]);
    let s = t.wait("the waterfall", |s| {
        s.contains("policy charge-v3") && s.contains("final:")
    });
    assert!(s.contains("primary"), "{s}");
    t.keys(&["Escape"]);
    t.wait("the key view again", |s| s.contains("Recent calls"));
    t.keys(&["q"]);
    t.wait("the overview", |s| s.contains("Keys (1)"));
    t.keys(&["?"]);
    t.wait("the help", |s| s.contains("this help"));
    t.keys(&["q", "q"]);
    t.exited(0);
}

/// `c` puts the selected call on the clipboard through OSC 52 (tmux keeps it as a paste
/// buffer) and `Ctrl-s` saves the log in the working directory, ready for `--replay`.
#[test]
fn c_copies_a_call_and_ctrl_s_saves_the_log() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        "copy",
        &format!("cd {} && {}", dir.path().display(), replay_command()),
    );
    t.tmux(&["set-option", "-s", "set-clipboard", "on"]);
    // The end of the replay says so in the notice line: wait for it, or it can replace the
    // hint below before a capture sees it.
    t.wait("the end of the replay", |s| {
        s.contains("Keys (4)") && s.contains("ENDED")
    });
    t.keys(&["c"]);
    t.wait("the hint", |s| s.contains("nothing to copy"));
    t.keys(&["Tab", "c"]);
    t.wait("the copy", |s| s.contains("copied the call as JSON"));
    let copied = t.tmux(&["show-buffer"]);
    let call: serde_json::Value = serde_json::from_str(copied.trim()).expect("a JSON line");
    assert_eq!(call["t"], "call", "{copied}");
    assert!(
        call["target"].is_string() && call["key"].is_string(),
        "{copied}"
    );

    t.keys(&["C-s"]);
    t.wait("the save", |s| {
        s.contains("saved ") && s.contains(" events to ")
    });
    let saved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let text = std::fs::read_to_string(&saved[0]).unwrap();
    assert!(text.lines().count() > 10, "{text}");
    assert!(
        text.contains(copied.trim()),
        "the copied call is in the saved log"
    );
    t.keys(&["q"]);
    t.exited(0);
}

/// `:key` asks the running services for other keys (they confirm, and only those keys are
/// shown from then on); `:q` quits.
#[test]
fn colon_key_resubscribes_a_live_service() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        "command",
        &format!(
            "RECOURSE_SOCKET_DIR={} {} demo",
            dir.path().display(),
            env!("CARGO_BIN_EXE_recourse")
        ),
    );
    t.wait("both namespaces", |s| {
        s.contains("payments.Charge") && s.contains("inventory.Get")
    });
    t.keys(&[":"]);
    t.wait("the command line", |s| s.contains("key GLOB…"));
    t.keys(&["key inventory.*", "Enter"]);
    // The service answers the new subscription with the keys it matches.
    t.wait("the service's confirmation", |s| {
        s.contains("matching 1 key: inventory.Get")
    });
    let s = t.wait("only inventory keys", |s| {
        let rows = s.lines().filter(|l| l.starts_with('│'));
        s.contains("keys: inventory.*")
            && s.contains("Keys (1)")
            && rows.clone().all(|l| !l.contains("payments."))
    });
    assert!(s.contains("inventory.Get"), "{s}");
    t.keys(&[":", "q", "Enter"]);
    t.exited(0);
}

#[test]
fn ctrl_c_restores_the_terminal_and_exits_130() {
    if !have_tmux() {
        return;
    }
    let t = Tmux::start("ctrlc", &replay_command());
    t.wait("the keys", |s| s.contains("Keys (4)"));
    t.keys(&["C-c"]);
    t.exited(130);
}

#[test]
fn sigterm_restores_the_terminal() {
    if !have_tmux() {
        return;
    }
    let pidfile = tempfile::NamedTempFile::new().unwrap();
    let inner = format!(
        "echo $$ > {}; exec {}",
        pidfile.path().display(),
        replay_command()
    );
    let t = Tmux::start("term", &format!("sh -c '{inner}'"));
    t.wait("the keys", |s| s.contains("Keys (4)"));
    let pid = std::fs::read_to_string(pidfile.path()).unwrap();
    let ok = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .unwrap();
    assert!(ok.success());
    t.exited(130);
}

#[test]
fn a_panic_restores_the_terminal() {
    if !have_tmux() {
        return;
    }
    let t = Tmux::start(
        "panic",
        &format!("RECOURSE_TUI_TEST_PANIC=1 {} 2>/dev/null", replay_command()),
    );
    t.exited(101);
}

/// The reason codes the engine documents (`docs/reason-codes.md`).
fn reason_codes() -> Vec<String> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reason-codes.md"),
    )
    .unwrap();
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// The demo at 80x24, as an on-call engineer's laptop terminal shows it: the columns that say
/// whether retries make things worse are all there, and nothing is cut without an ellipsis.
#[test]
fn the_demo_at_80x24_keeps_what_matters_and_marks_every_cut() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start_sized(
        "narrow",
        &format!(
            "RECOURSE_SOCKET_DIR={} {} demo",
            dir.path().display(),
            env!("CARGO_BIN_EXE_recourse")
        ),
        (80, 24),
    );
    let s = t.wait("the keys and a few calls", |s| {
        s.contains("payments.Charge") && s.contains("inventory.Get") && s.contains("budget_denied")
    });
    let header = s
        .lines()
        .find(|l| l.contains("KEY"))
        .unwrap_or_else(|| panic!("no table header:\n{s}"));
    for column in ["CALL/s", "BDENY/s", "OK%", "ATT/C", "CIRCUIT", "p99"] {
        assert!(
            header.contains(column),
            "{column} is missing at 80x24:\n{s}"
        );
    }
    let codes = reason_codes();
    assert!(codes.iter().any(|c| c == "budget_denied"), "{codes:?}");
    for line in s.lines() {
        assert!(line.chars().count() <= 80, "{line}");
        // The last word of a pane's row is whole, or ends in an ellipsis.
        let Some(inner) = line.strip_prefix('│').and_then(|l| l.strip_suffix('│')) else {
            continue;
        };
        let Some(last) = inner.split_whitespace().last() else {
            continue;
        };
        // A breaker change ends with its reason in parentheses: `(consecutive_failures)`.
        let last = last.trim_start_matches('(').trim_end_matches(')');
        if last.contains('_') && !last.ends_with('…') {
            assert!(
                codes.iter().any(|c| c == last),
                "`{last}` is cut without an ellipsis:\n{s}"
            );
        }
    }
    t.keys(&["q"]);
    t.exited(0);
}

/// A recording of a service that had been up a day before its first call: the replay shows the
/// first call at once (it paces from the first call, not from the service's start), and says
/// it is a replay.
#[test]
fn a_replay_starts_at_the_first_call_whatever_the_service_uptime() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("old.ndjson");
    let call = |ts: &str, key: &str| {
        format!(
            r#"{{"target":"svc","t":"call","seq":1,"ts":"{ts}","key":"{key}","outcome":"success","reason":"success","duration_us":900,"attempts":[{{"attempt":0,"end_us":900,"outcome":"success","reason":"success"}}]}}"#
        )
    };
    let lines = [
        r#"{"target":"svc","t":"hello","v":1,"seq":0,"service":"svc","started_at":"2026-11-27T10:00:00.000000Z","ts":"2026-11-27T10:00:00.000000Z"}"#.to_owned(),
        call("2026-11-28T10:00:00.000000Z", "first.Call"),
        call("2026-11-28T10:01:00.000000Z", "later.Call"),
    ];
    std::fs::write(&recording, lines.join("\n") + "\n").unwrap();
    let t = Tmux::start(
        "uptime",
        &format!(
            "{} tail --replay {} --speed 1 --output tui",
            env!("CARGO_BIN_EXE_recourse"),
            recording.display()
        ),
    );
    // From the moment the TUI is up (however long a loaded host takes to start it), the
    // first call shows within a second: a paced hello would hold it back a day.
    t.wait_every("the TUI", Duration::from_millis(10), |s| {
        s.contains("REPLAY ×1")
    });
    let up = Instant::now();
    let s = t.wait_every("the first call", Duration::from_millis(10), |s| {
        s.contains("first.Call")
    });
    assert!(
        up.elapsed() < Duration::from_secs(1),
        "{:?}\n{s}",
        up.elapsed()
    );
    assert!(
        s.contains("2026-11-28 10:00:00"),
        "the recording's time:\n{s}"
    );
    assert!(!s.contains("later.Call"), "paced, not played at once:\n{s}");
    t.keys(&["q"]);
    t.exited(0);
}

/// A replay is paused, stepped call by call, and moved forwards and backwards in time.
#[test]
fn a_replay_pauses_steps_and_seeks() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("three.ndjson");
    let call = |ts: &str, key: &str| {
        format!(
            r#"{{"target":"svc","t":"call","seq":1,"ts":"{ts}","key":"{key}","outcome":"success","reason":"success","duration_us":900,"attempts":[{{"attempt":0,"end_us":900,"outcome":"success","reason":"success"}}]}}"#
        )
    };
    // Calls at 0 s, 30 s and 90 s of the recording.
    let lines = [
        call("2026-11-28T10:00:00.000000Z", "a.One"),
        call("2026-11-28T10:00:30.000000Z", "b.Two"),
        call("2026-11-28T10:01:30.000000Z", "c.Three"),
    ];
    std::fs::write(&recording, lines.join("\n") + "\n").unwrap();
    let t = Tmux::start(
        "seek",
        &format!(
            "{} tail --replay {} --speed 1 --output tui",
            env!("CARGO_BIN_EXE_recourse"),
            recording.display()
        ),
    );
    t.wait("the first call", |s| {
        s.contains("a.One") && s.contains("REPLAY ×1")
    });
    // Forward 10 s, then 1 min: at 70 s, the call at 30 s is played at once, not the one at 90 s.
    t.keys(&["]"]);
    t.wait("10 s on", |s| s.contains("forward 10 s"));
    t.keys(&["}"]);
    let s = t.wait("the call at 30 s", |s| s.contains("b.Two"));
    assert!(!s.contains("c.Three"), "{s}");
    // Paused, `.` plays the next call.
    t.keys(&["p"]);
    t.wait("paused", |s| s.contains("REPLAY ⏸"));
    t.keys(&["."]);
    t.wait("the next call", |s| s.contains("c.Three"));
    // Back 1 min from 90 s: played again up to 30 s, so the call at 90 s is gone.
    t.keys(&["{"]);
    let s = t.wait("the rewind", |s| {
        s.contains("back to 2026-11-28 10:00:30") && s.contains("b.Two") && !s.contains("c.Three")
    });
    assert!(s.contains("a.One"), "{s}");
    t.keys(&["q"]);
    t.exited(0);
}
