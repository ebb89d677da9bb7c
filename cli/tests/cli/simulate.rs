//! `recourse policy simulate`: golden output per scenario, determinism, scale.

use std::path::PathBuf;

use super::recourse;

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/simulate")
        .join(name)
        .display()
        .to_string()
}

/// Golden JSON of every scenario (virtual time and a seed make it exact), and its exit status.
#[test]
fn every_scenario_gives_its_golden_output() {
    insta::glob!("../../../testdata/simulate", "*.yaml", |path| {
        let out = recourse(&[
            "policy",
            "simulate",
            "--format",
            "json",
            path.to_str().unwrap(),
        ]);
        let expect_fail = path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("failing-");
        assert_eq!(
            out.status.code(),
            Some(if expect_fail { 1 } else { 0 }),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        insta::assert_json_snapshot!(json);
    });
}

#[test]
fn the_same_scenario_twice_gives_byte_identical_json() {
    let a = recourse(&[
        "policy",
        "simulate",
        "--format",
        "json",
        &scenario("budget-runs-dry.yaml"),
    ]);
    let b = recourse(&[
        "policy",
        "simulate",
        "--format",
        "json",
        &scenario("budget-runs-dry.yaml"),
    ]);
    assert_eq!(a.stdout, b.stdout);
    assert!(!a.stdout.is_empty());
}

#[test]
fn the_human_output_draws_each_call() {
    let out = recourse(&["policy", "simulate", &scenario("retry-after-429.yaml")]);
    let text = String::from_utf8_lossy(&out.stdout);
    insta::assert_snapshot!("retry_after_429_human", text);
}

#[test]
fn a_refused_attempt_names_what_refused_it() {
    let out = recourse(&["policy", "simulate", &scenario("budget-runs-dry.yaml")]);
    let text = String::from_utf8_lossy(&out.stdout);
    let refused: Vec<&str> = text.lines().filter(|l| l.contains("refused")).collect();
    assert_eq!(refused.len(), 2, "{text}");
    assert!(
        refused
            .iter()
            .all(|l| l.ends_with("abort budget_denied (refused by retries)")),
        "{text}"
    );
}

#[test]
fn ten_thousand_calls_run_quickly() {
    let dir = std::env::temp_dir().join(format!("recourse-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("many.yaml");
    std::fs::write(
        &file,
        "version: 1\nkey: a.B\npolicy:\n  retry: { max_attempts: 3 }\ncalls:\n  - repeat: 10000\n    attempts: [ { latency: 5ms, error: x }, { latency: 5ms, ok: true } ]\n",
    )
    .unwrap();
    let start = std::time::Instant::now();
    let out = recourse(&[
        "policy",
        "simulate",
        "--format",
        "json",
        file.to_str().unwrap(),
    ]);
    let took = start.elapsed();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["calls"].as_array().unwrap().len(), 10_000);
    // Under a second in a release build (see the note); a generous bound for debug builds here.
    assert!(took.as_secs() < 20, "{took:?}");
}

#[test]
fn a_bad_scenario_is_a_usage_error() {
    let dir = std::env::temp_dir().join(format!("recourse-sim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "version: 1\nkey: a.B\ncalls:\n  - attempts: [ { latency: 5ms, ok: true, error: x } ]\n",
    )
    .unwrap();
    let out = recourse(&["policy", "simulate", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // miette wraps long lines at spaces: check the location and the words apart.
    assert!(stderr.contains("bad.yaml:4:17:"), "{stderr}");
    assert!(stderr.contains("calls[0].attempts[0]:"), "{stderr}");
    assert!(stderr.contains("exactly"), "{stderr}");
}

#[test]
fn simulated_calls_follow_the_event_schema() {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/event.schema.json"),
    )
    .unwrap();
    let mut schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    schema["$ref"] = serde_json::json!("#/$defs/call");
    let validator = jsonschema::validator_for(&schema).unwrap();
    for name in [
        "breaker-opens-and-closes.yaml",
        "hedge-wins.yaml",
        "budget-runs-dry.yaml",
        "retry-after-429.yaml",
    ] {
        let out = recourse(&["policy", "simulate", "--format", "json", &scenario(name)]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for call in json["calls"].as_array().unwrap() {
            let errors: Vec<String> = validator.iter_errors(call).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
        }
    }
}

/// The human output says why the breaker changed, right after the call that changed it.
#[test]
fn human_output_names_each_breaker_change_after_its_call() {
    let out = recourse(&["policy", "simulate", &scenario("breaker-slow-calls.yaml")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let change = lines
        .iter()
        .position(|l| l.trim() == "circuit closed -> open (slow_call_rate)")
        .unwrap_or_else(|| panic!("no breaker change:\n{text}"));
    assert!(lines[change - 2].starts_with("call 5:"), "{text}");
    assert!(
        lines[change + 1].starts_with("call 6: failure circuit_open"),
        "{text}"
    );
}

/// The `fleet` report of a scenario's JSON output.
fn fleet_report(name: &str) -> serde_json::Value {
    let out = recourse(&["policy", "simulate", "--format", "json", &scenario(name)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["final_state"]["fleet"].clone()
}

#[test]
fn a_fleet_budget_caps_the_retries_of_every_replica_together() {
    let fleet = fleet_report("fleet-shares-one-budget.yaml");
    let local = fleet_report("fleet-local-budgets.yaml");
    let retries = |r: &serde_json::Value| r["retries"].as_f64().unwrap();
    let allowance = |r: &serde_json::Value| r["budget"]["allowance"].as_f64().unwrap();
    assert_eq!(fleet["replicas"], 50);
    assert_eq!(fleet["budget"]["scope"], "fleet");
    assert!(
        retries(&fleet) <= allowance(&fleet),
        "the fleet stays within one budget: {fleet}"
    );
    assert!(
        retries(&fleet) >= 0.5 * allowance(&fleet),
        "and uses it: {fleet}"
    );
    // Fifty local budgets of the same shape let every one of the 1,000 retries through.
    assert_eq!(local["budget"]["scope"], "local");
    assert_eq!(retries(&local), 1000.0, "{local}");
    assert!(retries(&local) >= 5.0 * retries(&fleet));
}

#[test]
fn a_fleet_scenario_refuses_a_replica_count_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    for (replicas, said) in [
        ("0", "give 1 to 1000 replicas, not 0"),
        ("5000", "not 5000"),
    ] {
        let file = dir.path().join("fleet.yaml");
        std::fs::write(
            &file,
            format!(
                "version: 1\nkey: a.B\nreplicas: {replicas}\ncalls:\n  - attempts: [ {{ latency: 5ms, ok: true }} ]\n"
            ),
        )
        .unwrap();
        let out = recourse(&["policy", "simulate", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("fleet.yaml:3:11:"), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
    }
}

#[test]
fn docs_quote_the_fleet_scenarios_real_output() {
    let out = recourse(&[
        "policy",
        "simulate",
        &scenario("fleet-shares-one-budget.yaml"),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let state = &text[text.find("final state:").expect("a final state")..];
    assert!(state.lines().count() > 5, "one field a line:\n{state}");
    let doc = include_str!("../../../docs/simulate.md");
    assert!(
        doc.contains(state),
        "docs/simulate.md should quote:\n{state}"
    );
}

/// More replicas than tokens: each lease is whole tokens, so the budget's refill still reaches
/// the replicas instead of sitting in fractions of a token in every lease.
#[test]
fn a_fleet_with_more_replicas_than_tokens_still_spends_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/simulate/policies/fleet-retries.yaml");
    let file = dir.path().join("crowd.yaml");
    std::fs::write(
        &file,
        format!(
            "version: 1\nkey: payments.Charge\nreplicas: 200\npolicies: {}\ncalls:\n  - repeat: 60\n    attempts: [ {{ latency: 20ms, status: 503 }} ]\n",
            policies.display()
        ),
    )
    .unwrap();
    let out = recourse(&[
        "policy",
        "simulate",
        "--format",
        "json",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fleet = &json["final_state"]["fleet"];
    let (retries, allowance) = (
        fleet["retries"].as_f64().unwrap(),
        fleet["budget"]["allowance"].as_f64().unwrap(),
    );
    assert!(retries <= allowance, "{fleet}");
    assert!(
        retries >= 0.8 * allowance,
        "the fleet's tokens reach its replicas: {fleet}"
    );
}
