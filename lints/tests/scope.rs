//! Which files a scan reads and which findings survive: `exclude` on named files, `target/`
//! and hidden directories, re-exports named in `receivers`, suppressions of `uncovered-key`,
//! `unused-policy` only for whole directories, and test code.

#![allow(missing_docs)]

use std::path::PathBuf;

use recourse_lints::{Config, PolicyKeys, Rule, Severity, TestCode, scan_paths};

/// A scratch tree, removed when dropped.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Tree {
        let dir =
            std::env::temp_dir().join(format!("recourse-scope-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tree(dir)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const DYNAMIC: &str = "use recourse_engine::Executor;\nfn f(exec: &Executor, id: u64) { exec.call(&format!(\"users.{id}\"), |_| async {}); }\n";

fn rules(paths: &[PathBuf], config: &Config, policies: Option<&PolicyKeys>) -> Vec<Rule> {
    let report = scan_paths(paths, config, policies).unwrap();
    report.findings.iter().map(|f| f.rule).collect()
}

#[test]
fn exclude_applies_to_named_files_relative_to_the_config_file() {
    let tree = Tree::new("exclude");
    let generated = tree.write("generated/api.rs", DYNAMIC);
    let kept = tree.write("src/lib.rs", DYNAMIC);
    tree.write("recourse.toml", "[lint]\nexclude = [\"generated/**\"]\n");
    let config = Config::from_file(&tree.0.join("recourse.toml")).unwrap();
    assert_eq!(rules(std::slice::from_ref(&generated), &config, None), []);
    assert_eq!(rules(&[generated, kept], &config, None), [Rule::DynamicKey]);
    assert_eq!(
        rules(std::slice::from_ref(&tree.0), &config, None),
        [Rule::DynamicKey]
    );
}

#[test]
fn target_and_hidden_directories_are_not_walked() {
    let tree = Tree::new("target");
    tree.write("target/debug/build/out.rs", DYNAMIC);
    tree.write(".cargo/registry/dep.rs", DYNAMIC);
    tree.write("src/lib.rs", "// recourse\n");
    let report = scan_paths(std::slice::from_ref(&tree.0), &Config::default(), None).unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.summary.files, 1);
    // Named, a file there is scanned all the same.
    let named = tree.0.join("target/debug/build/out.rs");
    assert_eq!(
        rules(&[named], &Config::default(), None),
        [Rule::DynamicKey]
    );
}

#[test]
fn a_re_exported_executor_is_found_once_named_in_receivers() {
    let tree = Tree::new("reexport");
    // The crate reaches recourse through a platform crate: neither file nor Cargo.toml says so.
    tree.write(
        "Cargo.toml",
        "[package]\nname = \"app\"\n[dependencies]\nplatform = \"1\"\n",
    );
    tree.write(
        "src/lib.rs",
        "use platform::Resilience;\nfn f(r: &Resilience, id: u64) { r.call(&format!(\"users.{id}\"), op); }\n",
    );
    assert_eq!(
        rules(std::slice::from_ref(&tree.0), &Config::default(), None),
        []
    );
    let config = Config {
        receivers: vec!["Resilience".into()],
        ..Config::default()
    };
    assert_eq!(
        rules(std::slice::from_ref(&tree.0), &config, None),
        [Rule::DynamicKey]
    );
    // And a receiver the configuration ignores is never recourse's.
    let config = Config {
        receivers: vec!["Resilience".into()],
        ignore: vec!["r".into()],
        ..Config::default()
    };
    assert_eq!(rules(std::slice::from_ref(&tree.0), &config, None), []);
}

#[test]
fn uncovered_key_is_suppressible_and_unused_policy_needs_whole_directories() {
    let tree = Tree::new("policies");
    let file = tree.write(
        "src/lib.rs",
        "use recourse_engine::Executor;\n\
         fn f(exec: &Executor) {\n\
         // recourse-lint: allow(uncovered-key) -- covered by the platform's own policies\n\
         exec.call(\"legacy.Get\", |_| async {});\n\
         exec.call(\"orders.Get\", |_| async {});\n\
         }\n",
    );
    let policies = PolicyKeys {
        entries: vec![("billing.Invoice".into(), "policies.yaml".into(), 3, 3)],
    };
    let config = Config::default();
    let dir = rules(std::slice::from_ref(&tree.0), &config, Some(&policies));
    assert_eq!(
        dir,
        [Rule::UncoveredKey, Rule::UnusedPolicy],
        "orders.Get only"
    );
    let named = rules(&[file], &config, Some(&policies));
    assert_eq!(
        named,
        [Rule::UncoveredKey],
        "no unused-policy from a partial scan"
    );
}

#[test]
fn test_code_is_checked_downgraded_or_skipped() {
    let tree = Tree::new("tests");
    tree.write(
        "Cargo.toml",
        "[package]\nname = \"svc\"\n[dependencies]\nrecourse-engine = \"0.1\"\n",
    );
    tree.write(
        "src/lib.rs",
        "use recourse_engine::Executor;\n#[cfg(test)]\nmod tests {\n    fn t(exec: &Executor, i: u8) { exec.call(&format!(\"t.{i}\"), |_| async {}); }\n}\n",
    );
    tree.write("tests/it.rs", DYNAMIC);
    let severities = |test_code| {
        let config = Config {
            test_code,
            ..Config::default()
        };
        scan_paths(std::slice::from_ref(&tree.0), &config, None)
            .unwrap()
            .findings
            .iter()
            .map(|f| f.severity)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        severities(TestCode::Check),
        [Severity::Error, Severity::Error]
    );
    assert_eq!(
        severities(TestCode::Warn),
        [Severity::Warning, Severity::Warning]
    );
    assert_eq!(severities(TestCode::Skip), []);
}

#[test]
fn findings_are_the_same_from_run_to_run() {
    // Forty modules each define `GET`: a bare `GET` is ambiguous every time, never a guess.
    let tree = Tree::new("determinism");
    tree.write(
        "Cargo.toml",
        "[package]\nname = \"svc\"\n[dependencies]\nrecourse-engine = \"0.1\"\n",
    );
    let mut lib = String::new();
    for i in 0..40 {
        lib.push_str(&format!("pub mod m{i};\n"));
        tree.write(
            &format!("src/m{i}.rs"),
            &format!("pub const GET: &str = \"svc{i}.Get\";\n"),
        );
    }
    lib.push_str(
        "use recourse_engine::Executor;\nfn f(exec: &Executor) { exec.call(GET, |_| async {}); exec.call(m7::GET, |_| async {}); }\n",
    );
    tree.write("src/lib.rs", &lib);
    let first = scan_paths(std::slice::from_ref(&tree.0), &Config::default(), None).unwrap();
    assert_eq!(
        first.findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
        [Rule::UnresolvedKey]
    );
    assert_eq!(first.keys.len(), 1);
    assert_eq!(first.keys[0].key, "svc7.Get");
    for _ in 0..5 {
        let again = scan_paths(std::slice::from_ref(&tree.0), &Config::default(), None).unwrap();
        assert_eq!(again, first);
    }
}
