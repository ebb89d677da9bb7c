//! The scanner over `testdata/lint/` and real trees. The golden findings of each corpus file
//! are checked through the binary, in `cli/tests/cli/lint.rs`.

#![allow(missing_docs)]

use std::path::{Path, PathBuf};

use recourse_lints::{Config, PolicyKeys, Rule, scan_paths};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/lint")
}

#[test]
fn good_files_have_no_findings() {
    let report = scan_paths(&[corpus().join("good")], &Config::default(), None).unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    let keys: Vec<&str> = report.keys.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "payments.Charge",
            "payments.Charge",
            "payments.Refund",
            "inventory.Get",
            "search.Query",
            "users.Get",
            "orders.List",
            "billing.Invoice",
            "billing.Refund",
            "shipping.Quote",
            "shipping.Track",
            "payments.Capture",
        ]
    );
}

#[test]
fn a_ten_thousand_line_file_is_scanned_whole() {
    let dir = std::env::temp_dir().join(format!("recourse-lint-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut src = String::from("use recourse_engine::Executor;\n");
    for i in 0..5_000 {
        src.push_str(&format!(
            "async fn f{i}(e: &Executor) {{ e.call(\"svc.Op{}\", op).await; }}\n",
            i % 50
        ));
        src.push_str(&format!("// filler line {i}\n"));
    }
    src.push_str(
        "async fn last(e: &Executor, id: u64) { e.call(&format!(\"users.{id}\"), op).await; }\n",
    );
    let file = dir.join("large.rs");
    std::fs::write(&file, &src).unwrap();
    let report = scan_paths(&[file], &Config::default(), None).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(src.lines().count(), 10_002);
    assert_eq!(report.keys.len(), 5_000);
    assert_eq!(report.summary.keys, 50);
    assert_eq!(report.findings.len(), 1);
    assert_eq!(
        (report.findings[0].rule, report.findings[0].line),
        (Rule::DynamicKey, 10_002)
    );
}

#[test]
fn policies_cross_check_uncovered_and_unused_keys() {
    let policies = PolicyKeys {
        entries: vec![
            ("payments.*".into(), "policies.yaml".into(), 3, 3),
            ("inventory.Get".into(), "policies.yaml".into(), 7, 3),
            ("ghost.Key".into(), "policies.yaml".into(), 9, 3),
        ],
    };
    let report = scan_paths(
        &[corpus().join("good")],
        &Config::default(),
        Some(&policies),
    )
    .unwrap();
    let uncovered: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.rule == Rule::UncoveredKey)
        .filter_map(|f| f.key.as_deref())
        .collect();
    assert_eq!(
        uncovered,
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
    // An uncovered key is underlined whole, as the other key rules underline it.
    let search = report
        .findings
        .iter()
        .find(|f| f.key.as_deref() == Some("search.Query"))
        .unwrap();
    let text = std::fs::read_to_string(&search.path).unwrap();
    let line = text.lines().nth(search.line - 1).unwrap();
    let flagged: String = line
        .chars()
        .skip(search.column - 1)
        .take(search.end_column - search.column)
        .collect();
    assert_eq!(
        (flagged.as_str(), search.end_line),
        ("\"search.Query\"", search.line)
    );
    let unused: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule == Rule::UnusedPolicy)
        .collect();
    assert_eq!(unused.len(), 1);
    assert_eq!(
        (
            unused[0].key.as_deref(),
            unused[0].path.as_str(),
            unused[0].line
        ),
        (Some("ghost.Key"), "policies.yaml", 9)
    );
}

#[test]
fn configuration_changes_severities_patterns_and_extra_call_sites() {
    let config = Config::from_toml(
        r#"
        [lint]
        call_patterns = ["fetch_keyed"]
        severity = { key-format = "error", dynamic-key = "off" }
        "#,
    )
    .unwrap();
    let src = "fn f() { fetch_keyed(\"Flat\"); exec.call(&format!(\"x.{y}\"), op); }";
    let scan = recourse_lints::scan_source("x.rs", src, &config);
    assert_eq!(scan.keys[0].key, "Flat");
    let report_rules: Vec<_> = scan.findings.iter().map(|f| (f.rule, f.severity)).collect();
    assert!(report_rules.contains(&(Rule::KeyFormat, recourse_lints::Severity::Error)));
}

#[test]
fn a_missing_path_is_an_io_error() {
    assert!(scan_paths(&[PathBuf::from("/no/such/dir")], &Config::default(), None).is_err());
}

/// The unpacked sources of the workspace's dependencies (every crate the build downloaded).
fn registry_sources() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let src = home.join("registry/src");
    std::fs::read_dir(&src)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
}

#[test]
fn registry_sources_scan_without_panics_or_false_positives() {
    let Some(root) = registry_sources() else {
        eprintln!("no cargo registry sources here; nothing to scan");
        return;
    };
    let start = std::time::Instant::now();
    let report = scan_paths(std::slice::from_ref(&root), &Config::default(), None).unwrap();
    let took = start.elapsed();
    eprintln!(
        "scanned {} files under {} in {took:?}",
        report.summary.files,
        root.display()
    );
    assert!(
        report.summary.files > 1_000,
        "the dependencies' sources are there"
    );
    for f in &report.findings {
        let text = std::fs::read(&f.path).unwrap_or_default();
        assert!(
            memchr_recourse(&text),
            "a finding in a file that never mentions recourse: {f:?}"
        );
        if f.rule == Rule::ParseError {
            assert_eq!(f.severity, recourse_lints::Severity::Warning);
        }
    }
}

fn memchr_recourse(text: &[u8]) -> bool {
    text.windows(8).any(|w| w == b"recourse")
}

#[test]
fn every_registry_file_lexes_and_matches_without_panicking() {
    let Some(root) = registry_sources() else {
        return;
    };
    let config = Config {
        scan_all: true,
        ..Config::default()
    };
    let report = scan_paths(&[root], &config, None).unwrap();
    assert!(report.summary.files > 1_000);
    assert!(
        report
            .findings
            .iter()
            .filter(|f| f.rule == Rule::ParseError)
            .all(|f| f.severity == recourse_lints::Severity::Warning)
    );
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let text = std::fs::read_to_string(corpus().join("../sarif/sarif-schema-2.1.0.json")).unwrap();
    // A known erratum of the published schema: `run.language`'s pattern has a stray `]` that
    // strict regex engines reject. It constrains a field recourse never writes.
    let text = text.replace(
        r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#,
        r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#,
    );
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let report = scan_paths(&[corpus()], &Config::default(), None).unwrap();
    assert!(
        !report.findings.is_empty(),
        "the corpus has findings of every kind"
    );
    let log = recourse_lints::sarif::to_sarif(&report);
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The check has teeth: a result with a field SARIF does not define is rejected.
    let mut bad = log.clone();
    bad["runs"][0]["results"][0]["severity"] = serde_json::json!("high");
    assert!(!validator.is_valid(&bad));
}

mod never_panics {
    use proptest::prelude::*;
    use recourse_lints::{Config, scan_source};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The fuzz target's property, in the test suite: arbitrary bytes never panic the scanner.
        #[test]
        fn on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = scan_source("fuzz.rs", &text, &Config::default());
        }

        /// Nor do near-Rust inputs built from the tokens the matcher looks at.
        #[test]
        fn on_call_site_soup(parts in proptest::collection::vec(prop_oneof![
            Just("exec"), Just("."), Just("call"), Just("("), Just(")"), Just(","), Just("\""), Just("key"),
            Just("!"), Just("Key"), Just("::"), Just("parse"), Just("format!(\"a.{x}\")"), Just("\"a.B\""),
            Just("r#\""), Just("/*"), Just("*/"), Just("// recourse-lint: allow(dynamic-key)\n"), Just("{"), Just("}"),
            Just("const K: &str = \"k.K\";"), Just("\n"), Just("é"), Just("recourse"),
        ], 0..60)) {
            let text: String = parts.concat();
            let _ = scan_source("soup.rs", &text, &Config::default());
        }
    }
}

/// The look-alike corpus (`lints/tests/corpus/`): real files from wasmtime, tower, hyper, tonic,
/// rdkafka, mlua and indexmap, and S3, JSON-RPC, pyo3 and TUI call shapes beside a real
/// executor, all in a crate that depends on recourse.
#[test]
fn look_alikes_give_no_key_and_no_finding_by_directory_or_by_file_list() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = ignore::WalkBuilder::new(&dir)
        .build()
        .flatten()
        .map(ignore::DirEntry::into_path)
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    // Seven written for the project, eleven from public packages.
    assert_eq!(files.len(), 18);
    let all = Config {
        scan_all: true,
        ..Config::default()
    };
    for (paths, config) in [
        (vec![dir.clone()], Config::default()),
        (vec![dir.clone()], all),
        (files, Config::default()),
    ] {
        let report = scan_paths(&paths, &config, None).unwrap();
        assert_eq!(report.summary.files, 18);
        assert!(report.findings.is_empty(), "{:#?}", report.findings);
        assert!(report.keys.is_empty(), "{:#?}", report.keys);
    }
}
