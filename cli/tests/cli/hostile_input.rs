//! Every command against hostile input: huge, binary, endless, deeply nested, far-right
//! columns, thousands of problems. Each answers quickly with a clear error and its exit
//! status, and never panics.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use super::recourse;

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the binary and how long it took.
fn timed(args: &[&str]) -> (Output, Duration) {
    let t0 = Instant::now();
    let out = recourse(args);
    (out, t0.elapsed())
}

fn no_panic(out: &Output) {
    assert_ne!(out.status.code(), Some(101), "panicked: {}", stderr(out));
    assert!(!stderr(out).contains("panicked"), "{}", stderr(out));
}

/// A 50 MB file: every command that reads it says it is too large, at once, and exits 2.
#[test]
fn a_50_mb_input_is_refused_quickly_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let line = "    retry: { max_attempts: 3 }\n";
    let policy = format!(
        "version: 1\npolicies:\n{}",
        line.repeat(50_000_000 / line.len())
    );
    let big = write(dir.path(), "big.yaml", &policy);
    let small = write(dir.path(), "small.yaml", "version: 1\npolicies: {}\n");
    let rust = write(
        dir.path(),
        "big.rs",
        "// recourse\n".repeat(50_000_000 / 12),
    );
    let scenario = write(
        dir.path(),
        "big-scenario.yaml",
        format!(
            "version: 1\nkey: a.B\n#{}\ncalls: []\n",
            "x".repeat(50_000_000)
        ),
    );
    let (big, small, rust, scenario) = (
        big.to_str().unwrap(),
        small.to_str().unwrap(),
        rust.to_str().unwrap(),
        scenario.to_str().unwrap(),
    );
    let commands: [&[&str]; 6] = [
        &["policy", "validate", big],
        &["policy", "explain", "a.B", "--policies", big],
        &["policy", "diff", small, big],
        &["policy", "simulate", scenario],
        &["policy", "simulate", scenario, "--policies", big],
        &["lint", rust],
    ];
    for args in commands {
        let (out, took) = timed(args);
        no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("8 MiB") || err.contains("8388608"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("max-file-size"),
            "{args:?} says how to raise it: {err}"
        );
        assert!(took < Duration::from_secs(2), "{args:?} took {took:?}");
    }
    // The JSON report of validate says it too, with a stable code.
    let out = recourse(&["policy", "validate", "--format", "json", big]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"][0]["diagnostics"][0]["code"], "too-large");
    // Raising the limit reads it (and finds what is wrong with it).
    let (out, _) = timed(&["--max-file-size", "64MiB", "policy", "validate", big]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn an_endless_input_is_read_only_to_the_limit() {
    let (out, took) = timed(&["policy", "validate", "/dev/zero"]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("more than the 8 MiB"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[test]
fn a_binary_file_is_refused_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"version: 1\n".to_vec();
    bytes.extend((0u8..=255).cycle().take(4096));
    let bin = write(dir.path(), "p.yaml", &bytes);
    let out = recourse(&["policy", "validate", bin.to_str().unwrap()]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("binary file"), "{err}");
    assert!(
        !err.contains('\u{1b}') && !err.contains('\0'),
        "raw bytes echoed: {err:?}"
    );
    let rs = write(dir.path(), "lib.rs", &bytes);
    let out = recourse(&["lint", "--format", "json", rs.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["rule"], "parse-error");
    assert!(
        v["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("binary file")
    );
}

/// A problem past column 65,535 once made miette panic while drawing the snippet.
#[test]
fn a_finding_far_to_the_right_is_shown_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    // The report that once panicked (a key longer than YAML allows), and an unknown field at
    // column 70,013 of a flow mapping.
    for (text, problem) in [
        (
            format!("version: 1\nfoo{}: 1\n", "x".repeat(65_535)),
            "p.yaml:2:",
        ),
        (
            format!("{{version: 1, {}bogus: 1}}\n", " ".repeat(70_000)),
            "p.yaml:1:70014",
        ),
    ] {
        let policy = write(dir.path(), "p.yaml", text);
        let out = recourse(&["policy", "validate", policy.to_str().unwrap()]);
        no_panic(&out);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(problem), "{}", stderr(&out));
    }
    let far = format!(
        "fn f(exec: &recourse_engine::Executor) {{ let _ = {}exec.call(\"users.{}\", op); }}\n",
        " ".repeat(70_000),
        "550e8400-e29b-41d4-a716-446655440000"
    );
    let rs = write(dir.path(), "far.rs", far);
    let out = recourse(&["lint", rs.to_str().unwrap()]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("high-cardinality-key"),
        "{}",
        stderr(&out)
    );
}

/// 5,000 nested parentheses in a key argument once overflowed lint's stack.
#[test]
fn deeply_nested_arguments_are_a_parse_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "fn f() {{ recourse_engine::call({}\"a.B\"{}, op); }}\n",
        "(".repeat(5_000),
        ")".repeat(5_000)
    );
    let rs = write(dir.path(), "deep.rs", src);
    let out = recourse(&["lint", "--format", "json", rs.to_str().unwrap()]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["rule"], "parse-error");
    assert!(
        v["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("5000 levels"),
        "{v}"
    );
}

/// How long lint takes on `calls` calls written on one line, and on a line each.
fn lint_times(dir: &Path, calls: usize) -> (Duration, Duration) {
    let call = "exec.call(\"users.12345678\", op); ";
    let one = write(
        dir,
        "one.rs",
        format!(
            "// recourse\nfn f(exec: &Executor) {{ {} }}\n",
            call.repeat(calls)
        ),
    );
    let many = write(
        dir,
        "many.rs",
        format!(
            "// recourse\nfn f(exec: &Executor) {{\n{}}}\n",
            format!("{call}\n").repeat(calls)
        ),
    );
    let mut took = Vec::new();
    for f in [one, many] {
        let (out, t) = timed(&["lint", f.to_str().unwrap()]);
        no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        took.push(t);
    }
    (took[0], took[1])
}

/// 80,000 calls on one line once took 40 times as long as on 80,000 lines.
#[test]
fn lint_is_linear_on_long_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (one_line, many_lines) = lint_times(dir.path(), 80_000);
    assert!(
        one_line < many_lines * 3 + Duration::from_secs(1),
        "one line {one_line:?}, a line each {many_lines:?}"
    );
}

/// 20,000 unknown fields once took 25 s to show: each diagnostic re-read the whole file.
#[test]
fn diagnostics_cost_time_in_proportion_to_their_number() {
    let dir = tempfile::tempdir().unwrap();
    let file = |n: usize| {
        let body: String = (0..n).map(|i| format!("unknown_{i}: 1\n")).collect();
        write(
            dir.path(),
            &format!("p{n}.yaml"),
            format!("version: 1\n{body}"),
        )
    };
    let (small, large) = (file(2_000), file(20_000));
    let (out, small_took) = timed(&["policy", "validate", small.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let (out, large_took) = timed(&["policy", "validate", large.to_str().unwrap()]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).matches("unknown field").count(), 20_000);
    assert!(
        large_took < small_took * 25 + Duration::from_secs(1),
        "2,000 problems in {small_took:?}, 20,000 in {large_took:?}"
    );
}

/// A `repeat` of 4,294,967,295 once ran until memory ran out.
#[test]
fn a_scenario_past_the_call_limit_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "s.yaml",
        "version: 1\nkey: a.B\npolicy: { retry: { max_attempts: 1 } }\ncalls:\n  - repeat: 4294967295\n    attempts: [ { ok: true } ]\n",
    );
    let (out, took) = timed(&["policy", "simulate", scenario.to_str().unwrap()]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(":5:13: calls[0].repeat:"), "{err}");
    assert!(err.contains("100000"), "{err}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

/// The largest scenario allowed streams its calls: JSON that parses, one call a line.
#[test]
fn the_largest_scenario_streams_its_calls() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "s.yaml",
        "version: 1\nkey: a.B\npolicy: { retry: { max_attempts: 2 } }\ncalls:\n  - repeat: 100000\n    attempts: [ { latency: 1ms, error: x }, { latency: 1ms, ok: true } ]\n",
    );
    let out = recourse(&[
        "policy",
        "simulate",
        "--format",
        "json",
        scenario.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["calls"].as_array().unwrap().len(), 100_000);
    assert_eq!(v["final_state"]["circuit"], "closed");
}
