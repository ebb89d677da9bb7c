//! End-to-end tests of the `recourse` binary.

use std::process::Command;

#[cfg(unix)]
mod breaker;
mod diff;
mod fuzz_smoke;
mod hostile_input;
mod lint;
mod packaging;
mod policy;
mod pre_commit;
mod references;
mod simulate;
mod tail;
#[cfg(target_os = "linux")]
mod tail_fleet;
#[cfg(target_os = "linux")]
mod tail_hostile;
mod traffic;
mod tui;

fn recourse(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_recourse"));
    if args.first() == Some(&"lint") {
        // lint discovers recourse.toml upward from its working directory: run it where the
        // repository's own configuration does not apply (the tests name absolute paths).
        command.current_dir(std::env::temp_dir());
    }
    command.args(args).output().expect("the binary runs")
}

#[test]
fn version_prints_the_package_version() {
    let out = recourse(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("recourse {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_describes_the_command() {
    let out = recourse(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Usage: recourse"), "{text}");
    assert!(text.contains("--version"), "{text}");
}

/// Every command's `--help`, with the terminal width clap reads off a terminal.
fn help_lines(columns: &str) -> Vec<(String, String)> {
    let commands: [&[&str]; 16] = [
        &[],
        &["lint"],
        &["policy"],
        &["policy", "validate"],
        &["policy", "explain"],
        &["policy", "diff"],
        &["policy", "simulate"],
        &["tail"],
        &["demo"],
        &["breaker"],
        &["breaker", "isolate"],
        &["breaker", "close"],
        &["breaker", "release"],
        &["breaker", "status"],
        &["schema"],
        &["completions"],
    ];
    let mut lines = Vec::new();
    for command in commands {
        // With no terminal on stdin, stdout or stderr, clap takes the width from COLUMNS.
        let out = Command::new(env!("CARGO_BIN_EXE_recourse"))
            .args(command)
            .arg("--help")
            .env("COLUMNS", columns)
            .output()
            .expect("the binary runs");
        assert!(out.status.success(), "{command:?}");
        let name = command.join(" ");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            lines.push((name.clone(), line.to_owned()));
        }
    }
    lines
}

#[test]
fn help_fits_an_80_column_terminal() {
    let wide: Vec<_> = help_lines("80")
        .into_iter()
        .filter(|(_, line)| line.chars().count() > 80)
        .collect();
    assert!(wide.is_empty(), "lines over 80 columns: {wide:#?}");
}

#[test]
fn help_stays_readable_on_a_wide_terminal() {
    let lines = help_lines("300");
    let widest = lines.iter().map(|(_, l)| l.chars().count()).max().unwrap();
    assert!(
        widest <= 100,
        "help {widest} columns wide on a 300-column terminal"
    );
}

#[test]
fn no_command_prints_help_and_exits_2() {
    let out = recourse(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: recourse"));
}

#[test]
fn an_unknown_command_is_a_usage_error() {
    let out = recourse(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
}

#[test]
fn completions_cover_every_command() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = recourse(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for command in ["lint", "policy", "tail", "demo", "schema"] {
            assert!(text.contains(command), "{shell} completions lack {command}");
        }
    }
    assert_eq!(recourse(&["completions", "tcsh"]).status.code(), Some(2));
}
