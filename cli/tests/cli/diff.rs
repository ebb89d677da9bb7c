//! `recourse policy diff`: golden output per case, risk gating, inputs (file, directory, git).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::recourse;

fn case(name: &str, side: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/diff")
        .join(name)
        .join(format!("{side}.yaml"))
        .display()
        .to_string()
}

/// Exit status 2, nothing on stdout, and stderr naming `what`.
fn assert_usage_error(out: &std::process::Output, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.contains(what), "stderr does not name {what}: {err}");
}

/// The diff in `format`, without colour.
fn diff_text(format: &str, old: &str, new: &str) -> String {
    let out = recourse(&[
        "--color", "never", "policy", "diff", "--format", format, old, new,
    ]);
    String::from_utf8(out.stdout).unwrap()
}

/// The binary run in `dir`.
fn recourse_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_recourse"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

/// The keys of a JSON diff's changes, in order.
fn changed_keys(json: &serde_json::Value) -> Vec<&str> {
    json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect()
}

fn diff_json(old: &str, new: &str) -> serde_json::Value {
    let out = recourse(&["policy", "diff", "--format", "json", old, new]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Golden JSON, human and markdown output of every case in testdata/diff (one folder per case, holding
/// `old.yaml` and `new.yaml`).
#[test]
fn every_case_gives_its_golden_output() {
    insta::glob!("../../../testdata/diff", "*/old.yaml", |path| {
        let dir = path.parent().unwrap();
        let (old, new) = (path.to_str().unwrap(), dir.join("new.yaml"));
        let json = diff_json(old, new.to_str().unwrap());
        insta::assert_json_snapshot!("json", json);
        let new = new.to_str().unwrap();
        insta::assert_snapshot!("human", diff_text("human", old, new));
        insta::assert_snapshot!("markdown", diff_text("markdown", old, new));
    });
}

#[test]
fn a_value_moved_into_defaults_is_not_a_change() {
    let json = diff_json(
        &case("moved-into-defaults", "old"),
        &case("moved-into-defaults", "new"),
    );
    assert_eq!(json["changes"], serde_json::json!([]));
    assert_eq!(json["summary"]["highest_risk"], "none");
}

#[test]
fn clamped_values_are_compared_as_used() {
    // 10 and 25 both run as 10 attempts (the engine's ceiling).
    let json = diff_json(&case("clamped-value", "old"), &case("clamped-value", "new"));
    assert_eq!(json["changes"], serde_json::json!([]));
}

#[test]
fn doubling_worst_case_attempts_is_high_risk_with_exact_worst_cases() {
    let json = diff_json(&case("more-attempts", "old"), &case("more-attempts", "new"));
    let change = &json["changes"][0];
    assert_eq!(change["risk"], "high");
    // 3 × 500 ms + 10 ms + 20 ms of backoff; 6 × 500 ms + 10 + 20 + 40 + 80 + 160 ms.
    assert_eq!(change["worst_case"]["old"]["duration_us"], 1_530_000);
    assert_eq!(change["worst_case"]["new"]["duration_us"], 3_310_000);
    assert_eq!(change["worst_case"]["new"]["attempts"], 6);
}

#[test]
fn removing_a_budget_is_high_risk() {
    let json = diff_json(
        &case("removed-budget", "old"),
        &case("removed-budget", "new"),
    );
    assert_eq!(json["changes"][0]["risk"], "high");
    assert_eq!(json["summary"]["highest_risk"], "high");
}

#[test]
fn fail_on_sets_the_exit_status_at_the_threshold() {
    let (old, new) = (case("longer-timeout", "old"), case("longer-timeout", "new"));
    let status = |level: &str| {
        recourse(&["policy", "diff", "--fail-on", level, &old, &new])
            .status
            .code()
    };
    // A medium-risk change: fails at low and medium, passes at high and none.
    assert_eq!(status("low"), Some(1));
    assert_eq!(status("medium"), Some(1));
    assert_eq!(status("high"), Some(0));
    assert_eq!(status("none"), Some(0));
}

#[test]
fn markdown_is_one_table_a_pr_comment_can_carry() {
    let text = diff_text(
        "markdown",
        &case("more-hedges", "old"),
        &case("more-hedges", "new"),
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("| key |"), "{text}");
    assert_eq!(lines[1].matches("---").count(), 6, "{text}");
    assert!(lines.iter().all(|l| l.starts_with('|')), "{text}");
    assert!(
        text.contains("`search.Suggest`") && text.contains("**high**"),
        "{text}"
    );
    // The reviewer reads why the change is risky, as the human output says it.
    let human = diff_text(
        "human",
        &case("more-hedges", "old"),
        &case("more-hedges", "new"),
    );
    let notes: Vec<&str> = human
        .lines()
        .filter_map(|l| l.trim().strip_prefix("note: "))
        .collect();
    assert!(!notes.is_empty(), "{human}");
    for note in notes {
        assert!(text.contains(note), "the note `{note}` is missing:\n{text}");
    }
}

#[test]
fn a_missing_input_is_a_usage_error_naming_the_path() {
    let out = recourse(&[
        "policy",
        "diff",
        "/no/such/old.yaml",
        &case("identical", "new"),
    ]);
    assert_usage_error(&out, "/no/such/old.yaml");
}

#[test]
fn an_invalid_input_is_a_usage_error_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\npolicies:\n  a.B: { retry: { max_attempts: many } }\n",
    )
    .unwrap();
    let out = recourse(&[
        "policy",
        "diff",
        bad.to_str().unwrap(),
        &case("identical", "new"),
    ]);
    assert_usage_error(&out, "bad.yaml");
}

#[test]
fn directories_are_compared_as_merged_sets() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    for d in [&old, &new] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::copy(case("more-attempts", "old"), old.join("payments.yaml")).unwrap();
    std::fs::copy(case("classifier-change", "old"), old.join("mail.yaml")).unwrap();
    std::fs::copy(case("more-attempts", "new"), new.join("payments.yaml")).unwrap();
    std::fs::copy(case("classifier-change", "new"), new.join("mail.yaml")).unwrap();
    let json = diff_json(old.to_str().unwrap(), new.to_str().unwrap());
    let keys = changed_keys(&json);
    assert_eq!(keys, ["mail.Send", "payments.Charge"]);
}

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `GITREV:path` reads the policy file as committed at that revision, against the working copy.
#[test]
fn a_git_revision_is_compared_with_the_working_copy() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("git is not installed; skipping");
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q"]);
    std::fs::create_dir(repo.path().join("policies")).unwrap();
    let file = repo.path().join("policies/payments.yaml");
    std::fs::copy(case("more-attempts", "old"), &file).unwrap();
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "first"]);
    std::fs::copy(case("more-attempts", "new"), &file).unwrap();

    let out = recourse_in(
        repo.path(),
        &[
            "policy",
            "diff",
            "--format",
            "json",
            "HEAD:policies/payments.yaml",
            "policies/payments.yaml",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["changes"][0]["fields"][0]["old"], 3);
    assert_eq!(json["changes"][0]["fields"][0]["new"], 6);

    let out = recourse_in(
        repo.path(),
        &[
            "policy",
            "diff",
            "nosuchrev:policies/payments.yaml",
            "policies/payments.yaml",
        ],
    );
    assert_usage_error(&out, "nosuchrev");

    // A directory at a revision reads its own files, one level, like a directory on disk: a
    // file in a subdirectory is not part of the set on either side.
    std::fs::create_dir(repo.path().join("policies/old")).unwrap();
    std::fs::copy(
        case("more-attempts", "old"),
        repo.path().join("policies/old/archived.yaml"),
    )
    .unwrap();
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "second"]);
    for old in ["HEAD:policies", "HEAD:policies/"] {
        let out = recourse_in(
            repo.path(),
            &["policy", "diff", "--format", "json", old, "policies"],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{old}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["changes"], serde_json::json!([]), "{old}: {json}");
    }
}

/// docs/diff.md shows `shown` verbatim.
fn assert_documented(shown: &str) {
    let doc = include_str!("../../../docs/diff.md");
    assert!(
        doc.contains(shown.trim_end()),
        "docs/diff.md is out of date:\n{shown}"
    );
}

/// docs/diff.md shows the real output of `testdata/diff/more-attempts`.
#[test]
fn the_documented_example_is_real_output() {
    let shown = diff_text(
        "human",
        &case("more-attempts", "old"),
        &case("more-attempts", "new"),
    );
    assert_documented(&shown);
}

#[test]
fn a_defaults_change_shows_on_every_key_it_affects_and_no_other() {
    let json = diff_json(
        &case("defaults-changed", "old"),
        &case("defaults-changed", "new"),
    );
    let keys = changed_keys(&json);
    // orders.Create sets its own max_attempts, so the new default does not reach it.
    assert_eq!(keys, ["orders.Get", "orders.List"]);
}

#[test]
fn a_git_revision_outside_a_repository_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_recourse"))
        .args([
            "policy",
            "diff",
            "HEAD:policies.yaml",
            &case("identical", "new"),
        ])
        .current_dir(dir.path())
        .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap())
        .output()
        .unwrap();
    assert_usage_error(&out, "not in a git repository");
}

/// A removed key is judged by what its calls fall back to: here a glob policy with more
/// attempts and no circuit breaker.
#[test]
fn a_removed_key_is_judged_by_its_fallback() {
    let json = diff_json(
        &case("removed-falls-back-to-glob", "old"),
        &case("removed-falls-back-to-glob", "new"),
    );
    let change = &json["changes"][0];
    assert_eq!(change["kind"], "removed");
    assert_eq!(change["risk"], "high");
    assert_eq!(change["worst_case"]["new"]["attempts"], 5);
    let notes = change["notes"].to_string();
    assert!(notes.contains("fall back to `payments.*`"), "{notes}");
    assert!(notes.contains("circuit breaking disabled"), "{notes}");
}

/// With `--source`, a removed policy that code still calls is high risk and the note says
/// where; one nobody calls stays medium. Without it, stderr says the check was not made.
#[test]
fn a_removed_policy_that_code_still_calls_is_high_risk() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/diff/removed-still-called");
    let args = ["policy", "diff", "--format", "json", "old.yaml", "new.yaml"];
    let risks = |out: &std::process::Output| -> Vec<(String, String, String)> {
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let key = c["key"].as_str().unwrap().to_owned();
                let risk = c["risk"].as_str().unwrap().to_owned();
                (key, risk, c["notes"].to_string())
            })
            .collect()
    };

    let scanned = recourse_in(&dir, &[&args[..], &["--source", "src"]].concat());
    assert_eq!(scanned.status.code(), Some(0));
    let by_key = risks(&scanned);
    let [
        (export, export_risk, export_notes),
        (fetch, fetch_risk, fetch_notes),
        (orders, orders_risk, orders_notes),
    ] = &by_key[..]
    else {
        panic!("three removed policies: {by_key:?}");
    };
    assert_eq!(
        (export.as_str(), export_risk.as_str()),
        ("legacy.Export", "medium")
    );
    assert!(!export_notes.contains("code still calls"), "{export_notes}");
    assert_eq!(
        (fetch.as_str(), fetch_risk.as_str()),
        ("legacy.Fetch", "high")
    );
    assert!(
        fetch_notes.contains("code still calls it: src/calls.rs:6:15 and 1 more place"),
        "{fetch_notes}"
    );
    // orders.Create had no policy of its own: it used the removed glob.
    assert_eq!(
        (orders.as_str(), orders_risk.as_str()),
        ("orders.*", "high")
    );
    assert!(orders_notes.contains("src/calls.rs:7:15"), "{orders_notes}");

    let gated = recourse_in(
        &dir,
        &[
            "policy",
            "diff",
            "old.yaml",
            "new.yaml",
            "--source",
            "src",
            "--fail-on",
            "high",
        ],
    );
    assert_eq!(gated.status.code(), Some(1));

    let unscanned = recourse_in(&dir, &["policy", "diff", "old.yaml", "new.yaml"]);
    assert_eq!(unscanned.status.code(), Some(0));
    let note = String::from_utf8_lossy(&unscanned.stderr);
    assert!(
        note.contains("3 removed policies not checked against code: pass --source"),
        "{note}"
    );
    let plain = risks(&recourse_in(&dir, &args));
    assert!(
        plain.iter().all(|(_, risk, _)| risk == "medium"),
        "{plain:?}"
    );

    // docs/diff.md shows this run.
    let human = recourse_in(
        &dir,
        &[
            "--color", "never", "policy", "diff", "old.yaml", "new.yaml", "--source", "src",
        ],
    );
    let shown = String::from_utf8(human.stdout).unwrap();
    assert_documented(&shown);
}

#[test]
fn a_source_path_that_does_not_exist_is_a_usage_error() {
    let out = recourse(&[
        "policy",
        "diff",
        &case("removed-still-called", "old"),
        &case("removed-still-called", "new"),
        "--source",
        "no/such/dir",
    ]);
    assert_usage_error(&out, "no/such/dir");
}
