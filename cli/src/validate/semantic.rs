//! Checks beyond the schema: names that resolve to nothing, backoff order, clamped values.

use recourse_engine::Key;
use recourse_engine::policy::{BudgetScope, CircuitPolicy, Policy, PolicySet};
use recourse_engine::tooling::{Document, Layer, SourceTree, pointer_segment, resolve};

use super::{Diagnostic, Known, Level};

const CLASSIFIERS: [&str; 3] = ["always", "http", "auto"];
const TRIGGERS: [&str; 5] = ["fixed_delay", "p50", "p90", "p95", "p99"];
const BUDGETS: [&str; 1] = ["unlimited"];

fn at(tree: &SourceTree, pointer: &str) -> recourse_engine::policy::Position {
    tree.position(pointer)
}

/// `names` as a list for a message, the names passed with `--known-*` after the built-ins.
fn listed(builtin: &[&str], known: &[String]) -> String {
    let mut names: Vec<&str> = builtin.to_vec();
    names.extend(known.iter().map(String::as_str));
    names.join(", ")
}

fn check_policy(
    doc: &Document,
    tree: &SourceTree,
    known: &Known,
    base: &str,
    p: &Policy,
    out: &mut Vec<Diagnostic>,
) {
    let declared = |name: &str| {
        doc.budgets.contains_key(name)
            || BUDGETS.contains(&name)
            || known.budgets.iter().any(|k| k == name)
    };
    for (section, r) in [("retry", &p.retry.budget), ("hedge", &p.hedge.budget)] {
        let name = r.name.trim();
        if !name.is_empty() && !declared(name) {
            let ptr = format!("{base}/{section}/budget/name");
            let mut names: Vec<&str> = doc.budgets.keys().map(String::as_str).collect();
            names.extend(BUDGETS);
            names.extend(known.budgets.iter().map(String::as_str));
            out.push(Diagnostic::error(
                "unknown-budget",
                &ptr,
                at(tree, &ptr),
                format!("budget {name:?} is neither declared under `budgets` nor built in"),
                Some(format!(
                    "declared, built-in and known budgets: {}; built in code with \
                     ExecutorBuilder::budget? pass --known-budget {name}",
                    names.join(", ")
                )),
            ));
        }
    }
    if let Some(c) = p.retry.classifier_name.as_deref().map(str::trim)
        && !c.is_empty()
        && !CLASSIFIERS.contains(&c)
        && !known.classifiers.iter().any(|k| k == c)
    {
        let ptr = format!("{base}/retry/classifier_name");
        out.push(Diagnostic::error(
            "unknown-classifier",
            &ptr,
            at(tree, &ptr),
            format!(
                "classifier {c:?} is not built in or known ({})",
                listed(&CLASSIFIERS, &known.classifiers)
            ),
            Some(format!(
                "registered in code with ExecutorBuilder::classifier? pass \
                 --known-classifier {c}; else use a built-in"
            )),
        ));
    }
    if let Some(t) = p.hedge.trigger_name.as_deref().map(str::trim)
        && !t.is_empty()
        && !TRIGGERS.contains(&t)
        && !known.triggers.iter().any(|k| k == t)
    {
        let ptr = format!("{base}/hedge/trigger_name");
        out.push(Diagnostic::error(
            "unknown-trigger",
            &ptr,
            at(tree, &ptr),
            format!(
                "trigger {t:?} is not built in or known ({})",
                listed(&TRIGGERS, &known.triggers)
            ),
            Some(format!(
                "registered in code with ExecutorBuilder::trigger? pass --known-trigger {t}; \
                 else use a built-in"
            )),
        ));
    }
    check_circuit(tree, base, &p.circuit, out);
    if let Some(shadow) = &p.shadow {
        let base = format!("{base}/shadow");
        check_policy(doc, tree, known, &base, shadow, out);
        check_shadow(tree, &base, shadow, out);
    }
    if let (Some(i), Some(m)) = (p.retry.initial_backoff, p.retry.max_backoff)
        && m < i
    {
        let ptr = format!("{base}/retry/max_backoff");
        out.push(Diagnostic::error(
            "backoff-order",
            &ptr,
            at(tree, &ptr),
            format!("max_backoff {m:?} is shorter than initial_backoff {i:?}"),
            Some("max_backoff must be at least initial_backoff".to_owned()),
        ));
    }
}

/// Fields of a shadow policy that its judgment cannot use: it is judged from the live
/// attempts, as the live policy classified them, and it sends nothing itself.
fn check_shadow(tree: &SourceTree, base: &str, shadow: &Policy, out: &mut Vec<Diagnostic>) {
    let unused = [
        (
            "retry/classifier_name",
            shadow.retry.classifier_name.is_some(),
            "the live policy's classifier judged the attempts; a shadow's is not used",
        ),
        (
            "hedge/trigger_name",
            shadow
                .hedge
                .trigger_name
                .as_deref()
                .is_some_and(|t| t != "fixed_delay"),
            "a shadow hedges after hedge_delay; its trigger is not used",
        ),
        (
            "hedge/budget",
            !shadow.hedge.budget.name.is_empty(),
            "a shadow's hedges are counted, not gated; its hedge budget is not used",
        ),
        (
            "bulkhead",
            shadow.bulkhead.max_concurrent.is_some(),
            "a shadow runs no attempts of its own; its bulkhead is not used",
        ),
    ];
    for (field, set, why) in unused {
        if !set {
            continue;
        }
        let ptr = format!("{base}/{field}");
        let at = at(tree, &ptr);
        out.push(Diagnostic {
            code: "shadow-field-unused",
            severity: Level::Warning,
            pointer: ptr,
            line: at.line,
            column: at.column,
            message: why.to_owned(),
            help: Some("remove it from the shadow; see docs/shadow.md".to_owned()),
        });
    }
}

/// A breaker's rate fields that cannot work together.
fn check_circuit(tree: &SourceTree, base: &str, c: &CircuitPolicy, out: &mut Vec<Diagnostic>) {
    let mut error = |field: &str, code: &'static str, message: String, help: &str| {
        let ptr = format!("{base}/circuit/{field}");
        out.push(Diagnostic::error(
            code,
            &ptr,
            at(tree, &ptr),
            message,
            Some(help.to_owned()),
        ));
    };
    if c.slow_call_rate.is_some() && c.slow_call_duration.is_none() {
        error(
            "slow_call_rate",
            "slow-rate-without-duration",
            "slow_call_rate is set but slow_call_duration is not: no call is ever slow".to_owned(),
            "add slow_call_duration (for example 800ms), or remove slow_call_rate",
        );
    }
    if !c.judges_rates() {
        for (field, set) in [
            ("window", c.window.is_some()),
            ("min_calls", c.min_calls.is_some()),
        ] {
            if set {
                let ptr = format!("{base}/circuit/{field}");
                out.push(Diagnostic {
                    code: "no-rate-rule",
                    severity: Level::Warning,
                    line: tree.position(&ptr).line,
                    column: tree.position(&ptr).column,
                    pointer: ptr,
                    message: format!(
                        "circuit.{field} has no effect: no failure_rate or slow_call_duration is set"
                    ),
                    help: Some(
                        "set failure_rate or slow_call_duration, or remove it".to_owned(),
                    ),
                });
            }
        }
    }
}

/// A budget's `fallback` written without `scope: fleet`: it only applies to fleet budgets.
fn check_budgets(doc: &Document, tree: &SourceTree, out: &mut Vec<Diagnostic>) {
    for (name, spec) in &doc.budgets {
        let ptr = format!("/budgets/{}/fallback", pointer_segment(name));
        if spec.scope() != BudgetScope::Fleet && tree.values.contains_key(&ptr) {
            let at = tree.position(&ptr);
            out.push(Diagnostic {
                code: "fallback-without-fleet",
                severity: Level::Warning,
                line: at.line,
                column: at.column,
                pointer: ptr,
                message: format!(
                    "budget {name:?} has a fallback but is not shared by the fleet: it never \
                     falls back"
                ),
                help: Some("add `scope: fleet`, or remove fallback".to_owned()),
            });
        }
    }
}

/// Every semantic problem of a document that passed the schema.
pub(crate) fn check(doc: &Document, tree: &SourceTree, known: &Known) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    check_budgets(doc, tree, &mut out);
    if let Some(d) = &doc.defaults {
        check_policy(doc, tree, known, "/defaults", d, &mut out);
    }
    for (key, p) in &doc.policies {
        check_policy(
            doc,
            tree,
            known,
            &format!("/policies/{}", pointer_segment(key)),
            p,
            &mut out,
        );
    }
    // Values normalization will clamp: a warning at the value as written, saying what is used.
    let set = PolicySet::from_str(&serde_json::to_string(doc).unwrap_or_default(), "").ok();
    if let Some(set) = set {
        for key in doc.policies.keys() {
            let probe = key
                .strip_suffix(".*")
                .map_or_else(|| key.clone(), |ns| format!("{ns}.x"));
            // recourse-lint: allow(dynamic-key) -- a probe for each key the policy file names
            let resolved = resolve(&set, &Key::parse(&probe));
            let used = serde_json::to_value(&resolved.policy).unwrap_or_default();
            for (field, layer) in &resolved.origins {
                if *layer != Layer::Clamped {
                    continue;
                }
                let ptr = format!(
                    "/policies/{}/{}",
                    pointer_segment(key),
                    field.replace('.', "/")
                );
                if !tree.values.contains_key(&ptr) {
                    continue; // filled in, not written
                }
                let value = used
                    .pointer(&format!("/{}", field.replace('.', "/")))
                    .cloned()
                    .unwrap_or_default();
                out.push(Diagnostic {
                    code: "clamped",
                    severity: Level::Warning,
                    pointer: ptr.clone(),
                    line: tree.position(&ptr).line,
                    column: tree.position(&ptr).column,
                    message: format!("{field} is out of bounds; {value} will be used"),
                    help: Some(
                        "write the value that will be used, or see docs/policies.md for the bounds"
                            .to_owned(),
                    ),
                });
            }
        }
    }
    // A value already reported as an error needs no clamping warning on top.
    let errors: Vec<String> = out
        .iter()
        .filter(|d| d.severity == Level::Error)
        .map(|d| d.pointer.clone())
        .collect();
    out.retain(|d| d.severity == Level::Error || !errors.contains(&d.pointer));
    out.sort_by_key(|d| (d.line, d.column));
    out
}
