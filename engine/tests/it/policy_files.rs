//! Policy documents: loading (YAML and JSON), resolution with provenance, tricky inputs.

use std::time::Duration;

use recourse_engine::policy::{Jitter, PolicySet, PolicySource};
use recourse_engine::tooling::{Layer, resolve};
use recourse_engine::{Executor, Key};

use crate::support::*;

fn testdata(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/policies")
        .join(rel)
}

fn load(text: &str) -> Result<PolicySet, recourse_engine::policy::LoadError> {
    PolicySet::from_str(text, "test.yaml")
}

fn problem(text: &str) -> (String, usize, usize, String) {
    let e = load(text).expect_err("the document is invalid");
    (
        e.problem.code.to_owned(),
        e.problem.position.line,
        e.problem.position.column,
        e.problem.message,
    )
}

#[test]
fn the_design_document_example_loads_and_resolves_with_provenance() {
    let set = PolicySet::from_path(&testdata("valid/payments.yaml")).unwrap();
    let r = resolve(&set, &Key::parse("payments.Charge"));
    assert_eq!(r.entry.as_deref(), Some("payments.Charge"));
    let p = &r.policy;
    assert_eq!(p.id.as_deref(), Some("charge-v3"));
    assert_eq!(p.retry.max_attempts, Some(4));
    assert_eq!(p.retry.timeout_per_attempt, Some(ms(800)));
    assert_eq!(p.retry.max_retry_after, Some(Duration::from_secs(10)));
    assert!(p.hedge.enabled && p.circuit.enabled);
    assert_eq!(p.meta.source, PolicySource::File);
    assert_eq!(r.origins["retry.max_attempts"], Layer::Entry);
    // A namespace entry, with the rest from defaults and built-ins.
    let r = resolve(&set, &Key::parse("payments.Refund"));
    assert_eq!(r.entry.as_deref(), Some("payments.*"));
    assert_eq!(r.policy.retry.max_attempts, Some(2));
    assert_eq!(r.policy.retry.jitter, Some(Jitter::Full));
    assert_eq!(r.origins["retry.max_attempts"], Layer::Namespace);
    assert_eq!(r.origins["retry.jitter"], Layer::Defaults);
    assert_eq!(r.origins["retry.initial_backoff"], Layer::Builtin);
    // Nothing but defaults.
    let r = resolve(&set, &Key::parse("inventory.Get"));
    assert_eq!((r.entry, r.policy.retry.max_attempts), (None, Some(3)));
}

#[test]
fn an_executor_runs_on_a_policy_set_and_its_budgets() {
    let set = PolicySet::from_path(&testdata("valid/payments.yaml")).unwrap();
    let (exec, vc) = vexec(Executor::builder().policy_set(set));
    let calls = Calls::default();
    let (_, tl) = run(
        &vc,
        exec.call_traced("payments.Refund", always_fails(&calls)),
    );
    assert_eq!(calls.get(), 2);
    assert_eq!(tl.attribute("policy_source"), Some("file"));
}

#[test]
fn clamped_values_are_marked() {
    let set = load("version: 1\npolicies:\n  a.B:\n    retry: { max_attempts: 50 }\n").unwrap();
    let r = resolve(&set, &Key::parse("a.B"));
    assert_eq!(r.policy.retry.max_attempts, Some(10));
    assert_eq!(r.origins["retry.max_attempts"], Layer::Clamped);
}

#[test]
fn errors_point_at_the_offending_node() {
    let (code, line, column, msg) =
        problem("version: 1\npolicies:\n  a.B:\n    retry:\n      max_attempt: 3\n");
    assert_eq!((code.as_str(), line, column), ("schema", 5, 7));
    assert!(msg.contains("unknown field `max_attempt`"), "{msg}");
    let e = load("version: 1\npolicies:\n  a.B:\n    retry:\n      max_attempt: 3\n").unwrap_err();
    assert_eq!(
        e.problem.help.as_deref(),
        Some("did you mean `max_attempts`?")
    );
    let (code, line, column, msg) =
        problem("version: 1\npolicies:\n  a.B:\n    retry: { initial_backoff: 250 }\n");
    assert_eq!((code.as_str(), line, column), ("schema", 4, 31));
    assert!(msg.contains("no unit"), "{msg}");
    let (_, line, _, msg) = problem("version: 2\npolicies: {}\n");
    assert_eq!(line, 1);
    assert!(msg.contains("version 2"));
}

#[test]
fn tricky_inputs_are_clear_errors_never_panics() {
    let cases: Vec<(&str, String)> = vec![
        ("empty file", String::new()),
        ("only comments", "# nothing here\n# at all\n".into()),
        ("a list at the top level", "- version: 1\n".into()),
        ("tabs", "version: 1\npolicies:\n\ta.B: {}\n".into()),
        ("1e309", "version: 1\npolicies:\n  a.B:\n    retry: { backoff_multiplier: 1e309 }\n".into()),
        ("-0ms", "version: 1\npolicies:\n  a.B:\n    retry: { initial_backoff: -0ms }\n".into()),
        (".nan", "version: 1\npolicies:\n  a.B:\n    retry: { backoff_multiplier: .nan }\n".into()),
        ("an empty key", "version: 1\npolicies:\n  \"\": {}\n".into()),
        ("a duplicate key at depth", "version: 1\npolicies:\n  a.B:\n    retry:\n      max_attempts: 2\n      max_attempts: 3\n".into()),
        ("a duplicate top-level key", "version: 1\nversion: 1\npolicies: {}\n".into()),
        ("10 MB of nested sequences", format!("version: 1\npolicies: {}{}", "[".repeat(5_000_000), "]".repeat(5_000_000))),
        (
            "an alias bomb",
            "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n".into(),
        ),
        ("two documents", "version: 1\npolicies: {}\n---\nversion: 1\n".into()),
    ];
    for (what, text) in cases {
        let e = load(&text).expect_err(what);
        assert!(!e.problem.message.is_empty(), "{what}");
        assert!(e.problem.position.line >= 1, "{what}");
    }
    // A BOM and CRLF line ends are fine.
    let ok = "\u{feff}version: 1\r\npolicies:\r\n  a.B:\r\n    retry: { max_attempts: 2 }\r\n";
    assert_eq!(
        resolve(&load(ok).unwrap(), &Key::parse("a.B"))
            .policy
            .retry
            .max_attempts,
        Some(2)
    );
    // YAML 1.2: `no` is a string, so it is a type error for a boolean field, not `false`.
    assert!(load("version: 1\npolicies:\n  a.B:\n    hedge: { enabled: no }\n").is_err());
    // Non-UTF-8 bytes.
    let dir = std::env::temp_dir().join(format!("recourse-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.yaml");
    std::fs::write(&f, b"version: 1\npolicies:\n  a.\xff: {}\n").unwrap();
    let e = PolicySet::from_path(&f).unwrap_err();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!((e.problem.code, e.problem.position.line), ("syntax", 3));
}

#[test]
fn a_directory_is_the_union_of_its_files_and_duplicates_name_both_places() {
    let dir = std::env::temp_dir().join(format!("recourse-policy-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.yaml"),
        "version: 1\npolicies:\n  a.B: { retry: { max_attempts: 2 } }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.json"),
        r#"{"version": 1, "policies": {"c.D": {"retry": {"max_attempts": 4}}}}"#,
    )
    .unwrap();
    let set = PolicySet::from_path(&dir).unwrap();
    assert_eq!(
        resolve(&set, &Key::parse("c.D")).policy.retry.max_attempts,
        Some(4)
    );
    std::fs::write(dir.join("c.yml"), "version: 1\npolicies:\n  a.B: {}\n").unwrap();
    let e = PolicySet::from_path(&dir).unwrap_err();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(e.problem.code, "duplicate-key");
    assert!(
        e.problem.message.contains("a.yaml:3:3"),
        "{}",
        e.problem.message
    );
}

#[test]
fn a_directory_without_policy_files_is_an_error_not_an_empty_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("valid")).unwrap();
    std::fs::write(dir.path().join("valid/a.yaml"), "version: 1\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy\n").unwrap();
    let e = PolicySet::from_path(dir.path()).unwrap_err();
    assert_eq!(e.problem.code, "no-policy-files");
    assert_eq!(e.path, dir.path().display().to_string());
    assert!(e.problem.message.contains("subdirectories are not read"));
    assert_eq!(
        recourse_engine::tooling::policy_files(&dir.path().join("valid")).unwrap(),
        [dir.path().join("valid/a.yaml")]
    );
}
