//! `recourse lint` end to end: exit statuses, the JSON contract, SARIF, human diagnostics.

use std::path::PathBuf;

use super::recourse;

fn corpus(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/lint")
        .join(rel)
        .display()
        .to_string()
}

#[test]
fn clean_sources_exit_0() {
    let out = recourse(&["lint", "--format", "json", &corpus("good")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["summary"]["errors"], 0);
    assert_eq!(report["summary"]["keys"], 11);
    assert_eq!(report["keys"][0]["key"], "payments.Charge");
}

#[test]
fn error_findings_exit_1_with_the_json_contract() {
    let out = recourse(&["lint", "--format", "json", &corpus("high-cardinality-key")]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &report["findings"][0];
    for field in [
        "rule",
        "severity",
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "key",
        "message",
        "help",
    ] {
        assert!(f.get(field).is_some(), "finding lacks {field}: {f}");
    }
    assert_eq!(f["rule"], "high-cardinality-key");
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(6), Some(15))
    );
    assert_eq!(report["summary"]["errors"], 8);
    assert!(out.stderr.is_empty(), "data on stdout, nothing on stderr");
}

#[test]
fn warnings_alone_exit_0() {
    let out = recourse(&["lint", "--format", "json", &corpus("key-format")]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn human_output_shows_the_snippet_the_rule_and_help() {
    let out = recourse(&["lint", "--color", "never", &corpus("dynamic-key")]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("dynamic-key"), "{text}");
    assert!(
        text.contains("exec.call(&format!(\"users.{user_id}\"), op).await;"),
        "{text}"
    );
    assert!(text.contains("help:"), "{text}");
    assert!(
        text.contains("recourse lint: 1 file, 0 keys, 5 errors, 0 warnings"),
        "{text}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn sarif_output_is_a_sarif_2_1_0_log() {
    let out = recourse(&["lint", "--format", "sarif", &corpus("dynamic-key")]);
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "recourse-lint");
    // Every rule is described, whether or not it fired.
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 8);
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "dynamic-key");
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        4
    );
}

#[test]
fn a_missing_path_or_bad_config_exits_2() {
    let out = recourse(&["lint", "/no/such/path"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/path"));
    let dir = std::env::temp_dir().join(format!("recourse-lint-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("recourse.toml");
    std::fs::write(&cfg, "[lint]\nseverity = { no-such-rule = \"error\" }\n").unwrap();
    let out = recourse(&["lint", "--config", cfg.to_str().unwrap(), &corpus("good")]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown rule"));
}

#[test]
fn a_file_named_on_the_command_line_is_always_scanned() {
    let dir = std::env::temp_dir().join(format!("recourse-lint-named-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plain.rs");
    // No mention of recourse: a directory walk would skip it, a named file is scanned (and
    // `exec` is typed as an executor, so its `.call` is a call site).
    std::fs::write(
        &file,
        "fn f(exec: &Executor, id: u64) { exec.call(&format!(\"users.{id}\"), op); key!(); }\n",
    )
    .unwrap();
    let out = recourse(&["lint", "--format", "json", file.to_str().unwrap()]);
    let walked = recourse(&["lint", "--format", "json", dir.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["findings"][0]["rule"], "dynamic-key");
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&walked.stdout).unwrap();
    assert_eq!(report["findings"].as_array().unwrap().len(), 0);
}

/// Golden findings: `recourse lint --format json` on each corpus file, reduced to what a user
/// acts on. Snapshots in `tests/cli/snapshots/`; review changes with `cargo insta review`.
#[test]
fn corpus_files_yield_exactly_their_golden_findings() {
    insta::glob!("../../../testdata/lint", "*/*.rs", |path| {
        let out = recourse(&["lint", "--format", "json", path.to_str().unwrap()]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let findings: Vec<serde_json::Value> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                serde_json::json!({
                    "rule": f["rule"], "severity": f["severity"], "line": f["line"], "column": f["column"],
                    "end_line": f["end_line"], "end_column": f["end_column"], "key": f["key"], "message": f["message"],
                })
            })
            .collect();
        let keys: Vec<serde_json::Value> = report["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| serde_json::json!({"key": k["key"], "line": k["line"], "column": k["column"]}))
            .collect();
        let exit = out.status.code();
        insta::assert_json_snapshot!(
            serde_json::json!({"exit": exit, "findings": findings, "keys": keys})
        );
    });
}

#[test]
fn policies_cross_check_keys_in_code() {
    let policies =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/lint-policies/policies.yaml");
    let out = recourse(&[
        "lint",
        "--format",
        "json",
        "--policies",
        policies.to_str().unwrap(),
        &corpus("good"),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_rule = |rule: &str| -> Vec<String> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| f["key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        by_rule("uncovered-key"),
        [
            "search.Query",
            "users.Get",
            "orders.List",
            "billing.Invoice",
            "billing.Refund",
            "shipping.Quote",
            "shipping.Track"
        ]
    );
    assert_eq!(by_rule("unused-policy"), ["ghost.Key"]);
    let unused = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "unused-policy")
        .unwrap();
    assert_eq!(
        (unused["line"].as_u64(), unused["column"].as_u64()),
        (Some(7), Some(3))
    );
    assert_eq!(out.status.code(), Some(1), "uncovered keys are errors");
    // An invalid policy file is a usage error, reported with its location.
    let dir = std::env::temp_dir().join(format!("recourse-lint-policies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\npolicies:\n  a.B: { retry: { max_attempt: 2 } }\n",
    )
    .unwrap();
    let out = recourse(&["lint", "--policies", bad.to_str().unwrap(), &corpus("good")]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:3:") && err.contains("max_attempt"),
        "{err}"
    );
}

/// `recourse lint` from the repository's root, with its own recourse.toml found there.
#[test]
fn this_repository_lints_clean() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recourse"))
        .args(["lint", "--output-format", "concise"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("0 errors, 0 warnings"), "{summary}");
}

#[test]
fn concise_github_and_statistics_outputs() {
    let path = corpus("high-cardinality-key/ids.rs");
    let concise = recourse(&["lint", "--output-format", "concise", &path]);
    let text = String::from_utf8_lossy(&concise.stdout);
    assert_eq!(text.lines().count(), 8, "{text}");
    assert!(
        text.lines().next().unwrap().ends_with(
            "ids.rs:6:15: error[high-cardinality-key] key \"users.48213\" looks high-cardinality (digit-run)"
        ),
        "{text}"
    );
    assert!(
        String::from_utf8_lossy(&concise.stderr).contains("1 file, 8 keys, 8 errors, 0 warnings")
    );

    let github = recourse(&["lint", "--output-format", "github", &path]);
    let text = String::from_utf8_lossy(&github.stdout);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("::error title=recourse-lint (high-cardinality-key),file="),
        "{first}"
    );
    assert!(
        first.contains(",line=6,col=15,endLine=6,endColumn=23::"),
        "{first}"
    );
    // `:` and `,` in properties are escaped, so a path cannot end the property list early.
    let url = text.lines().find(|l| l.contains("(url)")).unwrap();
    assert!(url.contains("http.https://api.example.com"), "{url}");

    let stats = recourse(&["lint", "--statistics", &corpus("")]);
    let text = String::from_utf8_lossy(&stats.stdout);
    let first = text.lines().next().unwrap();
    // Most first: the corpus has ten ID-like keys, six dynamic ones.
    assert!(
        first.starts_with("10  error    high-cardinality-key"),
        "{text}"
    );
    assert!(text.contains(" 6  error    dynamic-key"), "{text}");
    assert_eq!(stats.status.code(), Some(1));
}

#[test]
fn select_ignore_and_exit_zero() {
    let path = corpus("");
    let count = |args: &[&str]| {
        let out =
            recourse(&[&["lint", "--output-format", "json"], args, &[path.as_str()]].concat());
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rules: std::collections::BTreeSet<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_owned())
            .collect();
        (rules, out.status.code())
    };
    let (rules, exit) = count(&["--select", "key-format"]);
    assert_eq!(rules.into_iter().collect::<Vec<_>>(), ["key-format"]);
    assert_eq!(exit, Some(0), "key-format is a warning");
    let (rules, _) = count(&["--ignore", "dynamic-key,key-format"]);
    assert!(!rules.contains("dynamic-key") && !rules.contains("key-format"));
    assert!(rules.contains("high-cardinality-key"));
    let (_, exit) = count(&["--exit-zero"]);
    assert_eq!(exit, Some(0));
    let bad = recourse(&["lint", "--select", "no-such-rule", &path]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("rules: dynamic-key"));
}
