//! `recourse policy validate | explain` and `recourse schema policy`, end to end.

use std::path::PathBuf;

use super::recourse;

fn policies(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/policies")
        .join(rel)
}

fn validate_json(path: &std::path::Path) -> (Option<i32>, serde_json::Value) {
    let out = recourse(&[
        "policy",
        "validate",
        "--format",
        "json",
        path.to_str().unwrap(),
    ]);
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).expect("JSON on stdout"),
    )
}

/// Golden diagnostics of every policy file: invalid ones exit 1 with the expected codes at the
/// expected lines and columns; valid ones exit 0 (warnings allowed).
#[test]
fn every_testdata_policy_file_gets_its_golden_verdict() {
    insta::glob!("../../../testdata/policies", "*/*.*", |path| {
        let (exit, report) = validate_json(path);
        let invalid = path.parent().unwrap().ends_with("invalid");
        assert_eq!(
            exit,
            Some(if invalid { 1 } else { 0 }),
            "{}: {report}",
            path.display()
        );
        let file = &report["files"][0];
        let diagnostics: Vec<serde_json::Value> = file["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                serde_json::json!({
                    "code": d["code"], "severity": d["severity"], "pointer": d["pointer"],
                    "line": d["line"], "column": d["column"], "message": d["message"], "help": d["help"],
                })
            })
            .collect();
        insta::assert_json_snapshot!(
            serde_json::json!({"exit": exit, "valid": file["valid"], "diagnostics": diagnostics})
        );
    });
}

#[test]
fn a_directory_reports_keys_defined_twice_across_files() {
    let dir = std::env::temp_dir().join(format!("recourse-validate-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.yaml"), "version: 1\npolicies:\n  a.B: {}\n").unwrap();
    std::fs::write(dir.join("b.yaml"), "version: 1\npolicies:\n  a.B: {}\n").unwrap();
    let (exit, report) = validate_json(&dir);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(exit, Some(1));
    let d = &report["files"][1]["diagnostics"][0];
    assert_eq!(d["code"], "duplicate-key");
    assert!(d["message"].as_str().unwrap().contains("a.yaml:3:3"), "{d}");
}

#[test]
fn names_registered_in_code_are_accepted_when_declared_known() {
    // `magic` (classifier) and `nope` (budget) are unknown to the file...
    let file = policies("invalid/unknown-budget-and-classifier.yaml");
    let file = file.to_str().unwrap();
    let codes = |out: &std::process::Output| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["files"][0]["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_owned())
            .collect()
    };
    let validate = |extra: &[&str]| {
        let mut args = vec!["policy", "validate", "--format", "json", file];
        args.extend(extra);
        recourse(&args)
    };
    // ...known once the service says it registers them in code.
    let out = validate(&["--known-classifier", "magic", "--known-budget", "nope"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(codes(&out).is_empty());
    // A typo is still caught, and the message lists what is known.
    let out = validate(&["--known-classifier", "magik", "--known-budget", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(codes(&out), ["unknown-classifier"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["files"][0]["diagnostics"][0]["message"],
        "classifier \"magic\" is not built in or known (always, http, auto, magik)"
    );
}

#[test]
fn a_missing_file_is_an_io_error_exit_2() {
    let (exit, report) = validate_json(std::path::Path::new("/no/such/policy.yaml"));
    assert_eq!(exit, Some(2));
    assert_eq!(report["files"][0]["diagnostics"][0]["code"], "io");
}

/// `testdata/policies` itself holds only subdirectories: a directory with no policy file is a
/// wrong path, said out loud, never an empty (or all-defaults) success.
#[test]
fn a_directory_without_policy_files_is_refused_by_every_command() {
    let (exit, report) = validate_json(&policies(""));
    assert_eq!(exit, Some(2));
    assert_eq!(report["files"][0]["valid"], false);
    assert_eq!(
        report["files"][0]["diagnostics"][0]["code"],
        "no-policy-files"
    );

    let dir = policies("");
    let dir = dir.to_str().unwrap();
    let explain = recourse(&["policy", "explain", "payments.Charge", "--policies", dir]);
    assert_eq!(
        explain.status.code(),
        Some(2),
        "a wrong path, as for validate and lint"
    );
    let stderr = String::from_utf8_lossy(&explain.stderr);
    assert!(stderr.contains("no policy files here"), "{stderr}");
    assert!(explain.stdout.is_empty(), "no policy explained");

    let lint = recourse(&["lint", "--policies", dir, "src/main.rs"]);
    assert_eq!(lint.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&lint.stderr);
    assert!(stderr.contains("no policy files here"), "{stderr}");
}

#[test]
fn human_output_points_at_the_node() {
    let out = recourse(&[
        "policy",
        "validate",
        "--color",
        "never",
        policies("invalid/schema-unknown-retry-field.yaml")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("unknown field `max_attempt`"), "{text}");
    assert!(text.contains("did you mean `max_attempts`?"), "{text}");
    assert!(
        text.contains("schema-unknown-retry-field.yaml:5:7"),
        "{text}"
    );
}

#[test]
fn explain_says_where_each_value_came_from() {
    let file = policies("valid/namespace-default.yaml");
    let out = recourse(&[
        "policy",
        "explain",
        "payments.Refund",
        "--policies",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["entry"], "payments.*");
    let field = |p: &str| {
        r["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == p)
            .cloned()
            .unwrap()
    };
    assert_eq!(field("retry.max_attempts")["origin"], "namespace");
    assert_eq!(field("retry.max_attempts")["value"], 2);
    assert_eq!(field("retry.initial_backoff")["origin"], "built-in");
    // Two attempts, no timeout: no bound on the duration.
    assert_eq!(
        r["worst_case"],
        serde_json::json!({"attempts": 2, "duration_us": null})
    );
    let clamped = policies("valid/clamped-warning.yaml");
    let out = recourse(&[
        "policy",
        "explain",
        "a.B",
        "--policies",
        clamped.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = r["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "retry.max_attempts")
        .unwrap()
        .clone();
    assert_eq!(
        (f["value"].as_u64(), f["origin"].as_str()),
        (Some(10), Some("clamped"))
    );
    let human = recourse(&[
        "policy",
        "explain",
        "a.B",
        "--policies",
        clamped.to_str().unwrap(),
    ]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("retry.max_attempts"));
    assert!(
        human.contains("worst case per call: 10 attempts, 270.01s"),
        "{human}"
    );
}

/// Every field a key can learn from outcomes with, as `explain` shows it: the values written,
/// the defaults normalization fills in (a time window's `min_calls`), and the threshold a
/// rate breaker leaves out.
#[test]
fn explain_shows_every_field_of_resilience_that_learns() {
    for (file, key) in [
        ("valid/resilience-that-learns.yaml", "payments.Charge"),
        ("valid/circuit-rates.yaml", "search.Query"),
    ] {
        let file = policies(file);
        let out = recourse(&[
            "policy",
            "explain",
            key,
            "--policies",
            file.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0));
        insta::assert_snapshot!(
            format!("explain_{key}"),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// A shadow's fields show under the live ones: those it sets from its entry, those it leaves
/// unset from the live policy.
#[test]
fn explain_shows_the_shadow_beside_the_live_policy() {
    let file = policies("valid/shadow.yaml");
    let out = recourse(&[
        "policy",
        "explain",
        "payments.Charge",
        "--policies",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |path: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{path} ")))
            .unwrap_or_else(|| panic!("no {path}:\n{text}"))
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
    };
    assert_eq!(field("retry.max_attempts"), ["3", "entry"]);
    assert_eq!(field("shadow.retry.max_attempts"), ["5", "entry"]);
    assert_eq!(field("shadow.retry.initial_backoff"), ["20ms", "live"]);
    assert_eq!(field("shadow.circuit.min_calls"), ["20", "built-in"]);
    insta::assert_snapshot!("explain_shadow", text);
}

#[test]
fn schema_event_prints_the_published_schema() {
    let out = recourse(&["schema", "event"]);
    assert_eq!(out.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["title"], "recourse live event stream, version 1");
}

#[test]
fn schema_policy_prints_the_published_schema() {
    let out = recourse(&["schema", "policy"]);
    assert_eq!(out.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/policy.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(printed, file);
}
