//! `recourse policy diff --traffic`: the demo's recorded traffic replayed through its own
//! policies and two changes of them, with golden output in every format.

use std::path::PathBuf;

use super::recourse;

fn root(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

const DEMO: &str = "cli/src/commands/demo/policies.yaml";
const RECORDING: &str = "testdata/events/demo.ndjson";

/// `policy diff` of the demo's policies against `new`, replaying the demo's recording, run
/// from the repository root so the output names files as a user types them.
fn diff(new: &str, format: &str, extra: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recourse"))
        .args([
            "policy",
            "diff",
            DEMO,
            new,
            "--traffic",
            RECORDING,
            "--format",
            format,
        ])
        .args(extra)
        .current_dir(root(""))
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `policy simulate --traffic REC --policies P --format json`, run from the repository root.
fn simulate_traffic(rec: &str, policies: &str) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recourse"))
        .args([
            "policy",
            "simulate",
            "--traffic",
            rec,
            "--policies",
            policies,
        ])
        .args(["--format", "json"])
        .current_dir(root(""))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn traffic(new: &str) -> serde_json::Value {
    let out = diff(new, "json", &[]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["traffic"].clone()
}

#[test]
fn every_replayed_change_gives_its_golden_output() {
    for (name, new) in [
        (
            "more_attempts_no_budget",
            "testdata/traffic/more-attempts-no-budget.yaml",
        ),
        ("tighter_timeout", "testdata/traffic/tighter-timeout.yaml"),
    ] {
        for format in ["human", "markdown", "json"] {
            let out = diff(new, format, &[]);
            let text = String::from_utf8(out.stdout).unwrap();
            insta::assert_snapshot!(format!("{name}_{format}"), text);
        }
    }
}

#[test]
fn more_attempts_without_a_budget_amplify_the_recorded_traffic() {
    let t = traffic("testdata/traffic/more-attempts-no-budget.yaml");
    let charge = &t["keys"]["payments.Charge"];
    let (old, new) = (
        &charge["attempts_per_call"]["old"],
        &charge["attempts_per_call"]["new"],
    );
    assert!(new.as_f64() > Some(1.5 * old.as_f64().unwrap()), "{charge}");
    assert!(
        charge["retries_per_second"]["new"].as_f64() > charge["retries_per_second"]["old"].as_f64(),
        "{charge}"
    );
    assert_eq!(
        charge["budget_denials"]["new"], 0.0,
        "no budget left to deny"
    );
    assert_eq!(t["evidence"][0]["key"], "payments.Charge");
    assert_eq!(t["evidence"][0]["risk"], "high");
    // Keys the change does not touch replay the same.
    assert_eq!(
        t["keys"]["payments.Auth"]["attempts_per_call"]["old"],
        t["keys"]["payments.Auth"]["attempts_per_call"]["new"]
    );
}

#[test]
fn a_tighter_timeout_shows_its_effect_and_fails_the_review() {
    let t = traffic("testdata/traffic/tighter-timeout.yaml");
    let charge = &t["keys"]["payments.Charge"];
    let ok = |side: &str| charge["success_rate"][side].as_f64().unwrap();
    assert!(ok("new") < ok("old") - 1.0, "{charge}");
    assert!(
        charge["p99_ms"]["new"].as_f64() < charge["p99_ms"]["old"].as_f64(),
        "attempts are cut sooner: {charge}"
    );
    // On paper the change is low risk; on the recorded traffic it is high.
    let out = diff(
        "testdata/traffic/tighter-timeout.yaml",
        "json",
        &["--fail-on", "high"],
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_same_recording_policies_and_seed_give_byte_identical_json() {
    let new = "testdata/traffic/more-attempts-no-budget.yaml";
    let a = diff(new, "json", &["--seed", "42"]).stdout;
    let b = diff(new, "json", &["--seed", "42"]).stdout;
    assert_eq!(a, b);
    let c = diff(new, "json", &["--seed", "43"]).stdout;
    assert_ne!(a, c, "the seed reaches jitter and draws");
}

#[test]
fn a_recording_that_is_not_one_is_a_usage_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    // The refusal of a recording holding `text`, read from a file named `name`.
    let refused = |name: &str, text: &[u8]| {
        let rec = dir.path().join(name);
        std::fs::write(&rec, text).unwrap();
        let demo = root(DEMO);
        let args = [
            "policy",
            "diff",
            &demo,
            &demo,
            "--traffic",
            rec.to_str().unwrap(),
        ];
        let out = recourse(&args);
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refused(
        "rec.ndjson",
        b"{\"t\":\"call\",\"key\":\"a.B\",\"start\":\"yesterday\"}\n",
    );
    assert!(stderr.contains("rec.ndjson:1:"), "{stderr}");
    assert!(stderr.contains("RFC 3339"), "{stderr}");
    let stderr = refused("empty.ndjson", b"");
    assert!(stderr.contains("no calls recorded"), "{stderr}");
    // Hostile files: a line of 2 MiB, binary, JSON nested past any reason.
    let huge = format!("{{\"t\":\"call\",\"key\":\"{}\"}}\n", "k".repeat(2 << 20));
    let stderr = refused("huge.ndjson", huge.as_bytes());
    assert!(
        stderr.contains("huge.ndjson:1:") && stderr.contains("1 MiB"),
        "{stderr}"
    );
    let stderr = refused("binary.ndjson", b"\x00\x01\"call\"\xff\xfe\n");
    assert!(
        stderr.contains("binary.ndjson:1:") && stderr.contains("UTF-8"),
        "{stderr}"
    );
    let nested = format!(
        "{{\"t\":\"call\",\"x\":{}1{}}}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let stderr = refused("nested.ndjson", nested.as_bytes());
    assert!(stderr.contains("nested.ndjson:1:"), "{stderr}");
}

/// docs/diff.md quotes real output of the tighter-timeout replay (with `...` for lines left
/// out): every other line it shows is in the output.
#[test]
fn the_documented_replay_is_real_output() {
    let out = diff("testdata/traffic/tighter-timeout.yaml", "human", &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    let doc = include_str!("../../../docs/diff.md");
    let block = doc
        .split("```console\n$ recourse policy diff cli/src/commands/demo/policies.yaml")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/diff.md shows the replay");
    let shown: Vec<&str> = block
        .lines()
        .skip(2) // the command
        .filter(|l| !l.trim().is_empty() && l.trim() != "...")
        .collect();
    assert!(shown.len() > 10, "{block}");
    for line in shown {
        assert!(
            text.lines().any(|l| l == line),
            "docs/diff.md shows a line the output does not have:\n{line}\n\noutput:\n{text}"
        );
    }
}

#[test]
fn simulate_replays_a_recording_through_one_policy_set() {
    let json = simulate_traffic(RECORDING, DEMO);
    let one = &json["traffic"]["keys"]["payments.Charge"];
    // The same replay as the old side of a diff.
    let both = traffic("testdata/traffic/tighter-timeout.yaml");
    for figure in ["calls", "attempts_per_call", "success_rate", "p99_ms"] {
        assert_eq!(
            one[figure], both["keys"]["payments.Charge"][figure]["old"],
            "{figure}"
        );
    }
    assert_eq!(json["traffic"]["calls"], 463);
}

/// Two instances' streams in one recording replay on one executor each: their budgets are
/// their own, as they were; a recording of failed calls only is refused; gaps are said.
#[test]
fn a_recording_is_replayed_as_it_was_made() {
    let demo = std::fs::read_to_string(root(RECORDING)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let figures = |name: &str, text: &str| -> serde_json::Value {
        let rec = dir.path().join(name);
        std::fs::write(&rec, text).unwrap();
        simulate_traffic(rec.to_str().unwrap(), DEMO)
    };
    let one = figures("one.ndjson", &demo);
    // The same stream again from a second instance, at the same moments.
    let twice = format!(
        "{demo}{}",
        demo.replace("recourse-demo-9264", "recourse-demo-9265")
    );
    let both = figures("two.ndjson", &twice);
    let denied = |v: &serde_json::Value| {
        v["traffic"]["keys"]["payments.Charge"]["budget_denials"]
            .as_u64()
            .unwrap()
    };
    // Each instance spends its own budget (one shared budget denied 144), with its own jitter.
    let (two, one) = (denied(&both), denied(&one));
    assert!(
        two.abs_diff(2 * one) <= 3,
        "{two} denials for two instances, {one} for one"
    );

    let gap = "{\"target\":\"recourse-demo-9264\",\"t\":\"gap\",\"dropped\":7,\"cause\":\"rate_limited\",\"seq\":9}\n";
    let gapped = figures("gap.ndjson", &format!("{demo}{gap}"));
    assert_eq!(gapped["traffic"]["dropped_calls"], 7);

    let failed_only = demo.replace("\"calls\":\"all\"", "\"calls\":\"failed\"");
    let rec = dir.path().join("failed.ndjson");
    std::fs::write(&rec, failed_only).unwrap();
    let out = recourse(&[
        "policy",
        "simulate",
        "--traffic",
        rec.to_str().unwrap(),
        "--policies",
        &root(DEMO),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--calls failed"));
}

/// A policy with no timeout replaying attempts that never answered: those calls are counted
/// unfinished at the replay's minute, not left out of the figures.
#[test]
fn calls_that_never_end_are_counted_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare.yaml");
    std::fs::write(&bare, "version: 1\npolicies: {}\n").unwrap();
    let json = simulate_traffic(RECORDING, bare.to_str().unwrap());
    let t = &json["traffic"];
    assert_eq!(t["span_s"], 4.331, "rates are over the recording's span");
    let refund = &t["keys"]["payments.Refund"];
    assert!(refund["unfinished"].as_u64() > Some(0), "{refund}");
    assert_eq!(
        refund["p99_ms"], 60000.0,
        "an unfinished call is as slow as the limit"
    );
}
