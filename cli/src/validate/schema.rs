//! Schema checks with `schemas/policy.schema.json`: every violation, at its node.

use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use recourse_engine::tooling::{SourceTree, pointer_segment, suggest, unprintable_id};
use serde_json::Value;

use super::Diagnostic;

/// The published schema, compiled once.
pub(crate) const SCHEMA: &str = include_str!("../../../schemas/policy.schema.json");

static SCHEMA_VALUE: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(SCHEMA).expect("the bundled schema is JSON"));

static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    jsonschema::validator_for(&SCHEMA_VALUE).expect("the bundled schema compiles")
});

/// The property names the schema allows at `schema_path` (that of an `additionalProperties`).
fn known_properties(schema_path: &str) -> Vec<String> {
    let parent = schema_path.rsplit_once('/').map_or("", |(p, _)| p);
    schema_node(parent)
        .and_then(|node| node.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The schema node at `schema_path` (a JSON pointer into the schema, `$ref`s followed).
fn schema_node(schema_path: &str) -> Option<&'static Value> {
    let mut node = &*SCHEMA_VALUE;
    for seg in schema_path.split('/').filter(|s| !s.is_empty()) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        node = match node {
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => node.get(&seg)?,
        };
        if let Some(r) = node.get("$ref").and_then(Value::as_str)
            && let Some(def) = r.strip_prefix("#/$defs/")
        {
            node = &SCHEMA_VALUE["$defs"][def];
        }
    }
    Some(node)
}

/// The `kind` each branch of a `oneOf` of objects names (its `properties.kind.const`).
fn branch_kinds(one_of: &Value) -> Vec<&str> {
    one_of
        .as_array()
        .map(|branches| {
            branches
                .iter()
                .map(|b| b["properties"]["kind"]["const"].as_str().unwrap_or(""))
                .collect()
        })
        .unwrap_or_default()
}

/// Every schema violation of `tree`.
pub(crate) fn check(tree: &SourceTree) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for e in VALIDATOR.iter_errors(&tree.value) {
        report(&e, tree, &mut out);
    }
    // Several violations of one node (a `oneOf` budget) are one problem: keep the first.
    out.sort_by_key(|d| (d.line, d.column));
    out.dedup_by(|a, b| a.pointer == b.pointer && a.code == b.code);
    out
}

/// The diagnostics of one violation.
fn report(e: &jsonschema::ValidationError<'_>, tree: &SourceTree, out: &mut Vec<Diagnostic>) {
    let pointer = e.instance_path().to_string();
    {
        match e.kind() {
            // An object that matches no branch of a `oneOf` chosen by its `kind` (a budget):
            // what is wrong with it under the branch its kind names, or its unknown kind.
            ValidationErrorKind::OneOfNotValid { context }
                if let Some(kind) = e.instance().get("kind").and_then(Value::as_str)
                    && let Some(one_of) = schema_node(&e.schema_path().to_string()) =>
            {
                let kinds = branch_kinds(one_of);
                match kinds.iter().position(|k| *k == kind) {
                    Some(i) if context.get(i).is_some_and(|errors| !errors.is_empty()) => {
                        context[i].iter().for_each(|inner| report(inner, tree, out));
                    }
                    _ => {
                        let child = format!("{pointer}/kind");
                        let known: Vec<&str> =
                            kinds.into_iter().filter(|k| !k.is_empty()).collect();
                        let help = suggest(kind, known.iter().copied())
                            .map(|c| format!("did you mean `{c}`?"));
                        out.push(Diagnostic::error(
                            "schema",
                            &child,
                            tree.position(&child),
                            format!("unknown kind `{kind}`; known kinds: {}", known.join(", ")),
                            help,
                        ));
                    }
                }
            }
            // A breaker's window is a number of calls or a duration.
            ValidationErrorKind::OneOfNotValid { .. } if pointer.ends_with("/circuit/window") => {
                let given = e.instance();
                let shown = given
                    .as_str()
                    .map_or_else(|| given.to_string(), str::to_owned);
                out.push(Diagnostic::error(
                    "schema",
                    &pointer,
                    tree.position(&pointer),
                    format!("`{shown}` is not a window"),
                    Some(
                        "give a number of calls (window: 100) or a duration with a unit \
                         (window: 30s)"
                            .to_owned(),
                    ),
                ));
            }
            // An id with characters that would disguise what a reader sees: shown escaped.
            ValidationErrorKind::Pattern { .. } if pointer.ends_with("/id") => {
                let id = e.instance().as_str().unwrap_or_default();
                let (message, help) = unprintable_id(id).unwrap_or_else(|| (e.to_string(), ""));
                out.push(Diagnostic::error(
                    "schema",
                    &pointer,
                    tree.position(&pointer),
                    message,
                    (!help.is_empty()).then(|| help.to_owned()),
                ));
            }
            // A shadow that is not a policy (`shadow: null` included).
            ValidationErrorKind::Type { .. } if pointer.ends_with("/shadow") => {
                out.push(Diagnostic::error(
                    "schema",
                    &pointer,
                    tree.position(&pointer),
                    format!("`shadow` is a policy (a mapping), not {}", e.instance()),
                    Some(
                        "a key cannot opt out of a shadow set under defaults or namespace.*: \
                         set the shadow on the keys it is for"
                            .to_owned(),
                    ),
                ));
            }
            // `shadow` under a shadow.
            ValidationErrorKind::Not { .. } if pointer.ends_with("/shadow") => {
                let child = format!("{pointer}/shadow");
                out.push(Diagnostic::error(
                    "schema",
                    &child,
                    tree.key_position(&child),
                    "a shadow has no shadow of its own".to_owned(),
                    Some(
                        "judge one candidate at a time: keep one `shadow` under the key".to_owned(),
                    ),
                ));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = known_properties(&e.schema_path().to_string());
                for name in unexpected {
                    let child = format!("{pointer}/{}", pointer_segment(name));
                    // `scope` and `fallback` exist, but only on budgets a fleet can share.
                    let kind = e.instance().get("kind").and_then(Value::as_str);
                    if pointer.starts_with("/budgets/")
                        && matches!(name.as_str(), "scope" | "fallback")
                        && let Some(kind @ ("throttle" | "unlimited")) = kind
                    {
                        out.push(Diagnostic::error(
                            "schema",
                            &child,
                            tree.key_position(&child),
                            format!("a `{kind}` budget cannot be shared by the fleet: it has no `{name}`"),
                            Some("only token_bucket and ratio budgets take scope and fallback".to_owned()),
                        ));
                        continue;
                    }
                    let help = suggest(name, known.iter().map(String::as_str))
                        .map(|c| format!("did you mean `{c}`?"));
                    out.push(Diagnostic::error(
                        "schema",
                        &child,
                        tree.key_position(&child),
                        format!("unknown field `{name}`"),
                        help.or_else(|| {
                            (!known.is_empty())
                                .then(|| format!("known fields: {}", known.join(", ")))
                        }),
                    ));
                }
            }
            ValidationErrorKind::Enum { options } => {
                let options: Vec<&str> = options
                    .as_array()
                    .map(|o| o.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let given = e.instance();
                let shown = given
                    .as_str()
                    .map_or_else(|| given.to_string(), str::to_owned);
                let help = given
                    .as_str()
                    .and_then(|g| suggest(g, options.iter().copied()))
                    .map(|c| format!("did you mean `{c}`?"));
                out.push(Diagnostic::error(
                    "schema",
                    &pointer,
                    tree.position(&pointer),
                    format!("`{shown}` is not one of: {}", options.join(", ")),
                    help,
                ));
            }
            _ => {
                let help = if pointer.ends_with("_backoff")
                    || pointer.ends_with("timeout")
                    || pointer.ends_with("_timeout_per_attempt")
                    || pointer.ends_with("delay")
                    || pointer.ends_with("cooldown")
                    || pointer.ends_with("_duration")
                    || pointer.ends_with("window")
                    || pointer.ends_with("max_retry_after")
                {
                    Some("durations are strings with a unit: 750us, 20ms, 1.5s, 2m".to_owned())
                } else {
                    None
                };
                out.push(Diagnostic::error(
                    "schema",
                    &pointer,
                    tree.position(&pointer),
                    e.to_string(),
                    help,
                ));
            }
        }
    }
}
