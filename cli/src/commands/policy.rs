//! `recourse policy validate` and `recourse policy explain`.

use std::path::PathBuf;

use recourse_engine::Key;
use recourse_engine::tooling::{Envelope, WorstCase, resolve};
use serde_json::json;

use crate::args::{Format, PolicyCommand};
use crate::exit::Status;
use crate::validate::{Known, validate_paths};
use crate::{diag, output};

pub(crate) fn run(cmd: PolicyCommand, color: bool, limit: u64) -> Status {
    match cmd {
        PolicyCommand::Validate {
            paths,
            format,
            known_classifiers,
            known_budgets,
            known_triggers,
        } => {
            let known = Known {
                classifiers: known_classifiers,
                budgets: known_budgets,
                triggers: known_triggers,
            };
            validate(&paths, &known, format, color, limit)
        }
        PolicyCommand::Diff {
            old,
            new,
            format,
            fail_on,
            sources,
            traffic,
            seed,
        } => {
            let options = super::diff::Options {
                sources,
                format,
                fail_on,
                traffic: traffic.map(|path| (path, seed)),
            };
            super::diff::run(&old, &new, &options, color, limit)
        }
        PolicyCommand::Simulate {
            scenario,
            policies,
            format,
            traffic,
            seed,
        } => match (scenario, traffic) {
            (_, Some(traffic)) => replay(&traffic, &policies, seed, format, color, limit),
            (Some(scenario), None) => simulate(&scenario, &policies, format, color, limit),
            (None, None) => unreachable!("clap requires a scenario or --traffic"),
        },
        PolicyCommand::Explain {
            key,
            policies,
            format,
        } => explain(&key, &policies, format, color, limit),
    }
}

fn validate(paths: &[PathBuf], known: &Known, format: Format, color: bool, limit: u64) -> Status {
    let reports = validate_paths(paths, known, limit);
    match format {
        Format::Json => output::data(
            &serde_json::to_string_pretty(&json!({"version": 1, "files": reports}))
                .expect("reports serialize"),
        ),
        Format::Human => diag::policy::print(&reports, color),
    }
    let io = reports
        .iter()
        .flat_map(|r| &r.diagnostics)
        .any(|d| matches!(d.code, "io" | "no-policy-files" | "too-large" | "binary"));
    if io || reports.is_empty() {
        Status::Usage
    } else if reports.iter().all(|r| r.valid) {
        Status::Ok
    } else {
        Status::Findings
    }
}

fn simulate(
    scenario: &std::path::Path,
    policies: &[PathBuf],
    format: Format,
    color: bool,
    limit: u64,
) -> Status {
    let (scenario, set) = match crate::simulate::load(scenario, policies, limit) {
        Ok(x) => x,
        Err(e) => {
            diag::refused(&e, color);
            return Status::Usage;
        }
    };
    // Each call is written as it finishes: a scenario of 100,000 calls holds one at a time.
    let mut out = output::Stream::stdout();
    if format == Format::Json {
        out.write("{\"version\":1,\"calls\":[\n");
    }
    let sim = crate::simulate::run(&scenario, set, |i, tl, changes| match format {
        Format::Json => {
            let line = serde_json::to_string(tl).expect("timelines serialize");
            out.write(if i == 0 { "" } else { ",\n" });
            out.write(&line);
        }
        Format::Human => {
            out.write(crate::simulate::waterfall(i, tl).trim_end());
            out.write("\n");
            // Why the breaker changed, right after the call that changed it.
            for change in changes {
                out.write(&format!("    {change}\n"));
            }
        }
    });
    match format {
        Format::Json => out.write(&format!("\n],\"final_state\":{}}}\n", sim.final_state)),
        Format::Human => out.write(&crate::simulate::final_state(&sim.final_state)),
    }
    out.flush();
    for f in &sim.failed {
        eprintln!("expectation failed: {f}");
    }
    if sim.failed.is_empty() {
        Status::Ok
    } else {
        Status::Findings
    }
}

/// `policy simulate --traffic`: a recording replayed through one policy set.
fn replay(
    traffic: &std::path::Path,
    policies: &[PathBuf],
    seed: u64,
    format: Format,
    color: bool,
    limit: u64,
) -> Status {
    let loaded = crate::input::policies(policies, limit)
        .and_then(|set| crate::replay::TrafficReport::run(traffic, set, seed));
    match loaded {
        Ok(report) => {
            output::data(&match format {
                Format::Json => report.json().to_string(),
                Format::Human => report.human(),
            });
            Status::Ok
        }
        Err(e) => {
            diag::refused(&e, color);
            Status::Usage
        }
    }
}

fn explain(key: &str, policies: &[PathBuf], format: Format, color: bool, limit: u64) -> Status {
    let set = match crate::input::policies(policies, limit) {
        Ok(set) => set,
        Err(e) => {
            diag::refused(&e, color);
            return if e.unreadable() {
                Status::Usage
            } else {
                Status::Findings
            };
        }
    };
    let resolved = resolve(&set, &Key::parse(key));
    let value = serde_json::to_value(&resolved.policy).unwrap_or_default();
    let worst_case = WorstCase::from(Envelope::of(&resolved.policy));
    let fields: Vec<serde_json::Value> = resolved
        .origins
        .iter()
        .filter_map(|(path, layer)| {
            let v = value.pointer(&format!("/{}", path.replace('.', "/")))?;
            Some(json!({"path": path, "value": v, "origin": layer.as_str()}))
        })
        .collect();
    match format {
        Format::Json => output::data(
            &serde_json::to_string_pretty(&json!({
                "version": 1,
                "key": key,
                "entry": resolved.entry,
                "source": resolved.policy.meta.source.as_str(),
                "policy": value,
                "fields": fields,
                "worst_case": worst_case,
            }))
            .expect("JSON serializes"),
        ),
        Format::Human => {
            let entry = resolved
                .entry
                .as_deref()
                .map_or("no entry: defaults and built-ins".to_owned(), |e| {
                    format!("entry {e:?}")
                });
            output::data(&format!("{key}: {entry}"));
            for f in &fields {
                let value = match &f["value"] {
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                output::data(&format!(
                    "  {:<34} {:<12} {}",
                    f["path"].as_str().unwrap_or_default(),
                    value,
                    f["origin"].as_str().unwrap_or_default()
                ));
            }
            output::data(&format!(
                "  worst case per call: {}",
                super::diff::worst(worst_case)
            ));
        }
    }
    Status::Ok
}
