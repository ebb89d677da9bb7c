//! Schema checks with `schemas/policy.schema.json`: every violation, at its node.

use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use recourse_engine::tooling::{SourceTree, pointer_segment, suggest};
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
    let mut node = &*SCHEMA_VALUE;
    let parent = schema_path.rsplit_once('/').map_or("", |(p, _)| p);
    for seg in parent.split('/').filter(|s| !s.is_empty()) {
        node = match node.get(seg.replace("~1", "/").replace("~0", "~")) {
            Some(n) => n,
            None => return Vec::new(),
        };
        if let Some(r) = node.get("$ref").and_then(Value::as_str)
            && let Some(def) = r.strip_prefix("#/$defs/")
        {
            node = &SCHEMA_VALUE["$defs"][def];
        }
    }
    node.get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every schema violation of `tree`.
pub(crate) fn check(tree: &SourceTree) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for e in VALIDATOR.iter_errors(&tree.value) {
        let pointer = e.instance_path().to_string();
        match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = known_properties(&e.schema_path().to_string());
                for name in unexpected {
                    let child = format!("{pointer}/{}", pointer_segment(name));
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
    // Several violations of one node (a `oneOf` budget) are one problem: keep the first.
    out.sort_by_key(|d| (d.line, d.column));
    out.dedup_by(|a, b| a.pointer == b.pointer && a.code == b.code);
    out
}
