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
                "120",
                "-y",
                "30",
            ])
            .args(["-s", "t", "sh", "-c", &script])
            .env("TERM", "xterm-256color")
            .status()
            .unwrap();
        assert!(ok.success());
        Tmux { socket }
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
        // Generous: under load (a loaded CI host) a debug TUI can take seconds to draw.
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < until, "timed out waiting for {what}:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
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
