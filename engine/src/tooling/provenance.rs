//! Where each field of a key's effective policy comes from: its own entry, its `namespace.*`
//! entry, the document's `defaults`, the built-in defaults, or normalization.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::key::Key;
use crate::policy::{Policy, PolicyMeta, PolicySet};

/// Where a field of a resolved policy came from (`recourse policy explain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// The key's own entry.
    Entry,
    /// The `namespace.*` entry.
    Namespace,
    /// The document's `defaults`.
    Defaults,
    /// The built-in defaults.
    Builtin,
    /// Normalization changed a value a layer gave (out of bounds, or 0 for a default).
    Clamped,
    /// A field of the shadow policy that the shadow leaves unset: the live policy's.
    Live,
}

impl Layer {
    /// `entry`, `namespace`, `defaults`, `built-in`, `clamped` or `live`.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Entry => "entry",
            Layer::Namespace => "namespace",
            Layer::Defaults => "defaults",
            Layer::Builtin => "built-in",
            Layer::Clamped => "clamped",
            Layer::Live => "live",
        }
    }
}

/// A key's effective policy and where each field came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// The normalized policy.
    pub policy: Policy,
    /// The entry used (`payments.Charge` or `payments.*`), if any.
    pub entry: Option<String>,
    /// Every field path (`retry.max_attempts`) and its layer.
    pub origins: BTreeMap<String, Layer>,
}

/// The effective policy of `key` in `set` and where each field came from: what `recourse
/// policy explain` shows. The policy is the one an executor serving `set` runs the key's calls
/// with.
pub fn resolve(set: &PolicySet, key: &Key) -> Resolved {
    let mut value = serde_json::to_value(Policy::builtin()).unwrap_or(Value::Null);
    let mut origins = BTreeMap::new();
    leaves(&value, "", &mut |path, _| {
        origins.insert(path, Layer::Builtin);
    });
    if let Some(d) = set.defaults() {
        overlay(
            &mut value,
            &serde_json::to_value(d).unwrap_or(Value::Null),
            "",
            Layer::Defaults,
            &mut origins,
        );
    }
    let entry = set.entry_for(key);
    if let Some((_, p, own)) = entry {
        let layer = if own { Layer::Entry } else { Layer::Namespace };
        overlay(
            &mut value,
            &serde_json::to_value(p).unwrap_or(Value::Null),
            "",
            layer,
            &mut origins,
        );
    }
    let mut policy: Policy = serde_json::from_value(value).unwrap_or_else(|_| Policy::builtin());
    policy.meta = PolicyMeta {
        source: set.source_for(entry.is_some()),
        changed_fields: Vec::new(),
    };
    let policy = policy.normalize().to_policy();
    // A value some layer gave that normalization replaced is clamped; a value no layer gave,
    // that normalization filled in with its default, is built in.
    for field in &policy.meta.changed_fields {
        let layer = if origins.contains_key(*field) {
            Layer::Clamped
        } else {
            Layer::Builtin
        };
        origins.insert((*field).to_owned(), layer);
    }
    // The same for the shadow's own fields.
    for field in policy.shadow.iter().flat_map(|s| &s.meta.changed_fields) {
        let path = format!("shadow.{field}");
        if origins.contains_key(&path) {
            origins.insert(path, Layer::Clamped);
        }
    }
    // Fields normalization filled in (hedge and circuit defaults) show too; a shadow's unset
    // fields are the live policy's.
    if let Ok(v) = serde_json::to_value(&policy) {
        leaves(&v, "", &mut |path, _| {
            let layer = match path.strip_prefix("shadow.") {
                Some(live) if origins.contains_key(live) => Layer::Live,
                _ => Layer::Builtin,
            };
            origins.entry(path).or_insert(layer);
        });
    }
    Resolved {
        policy,
        entry: entry.map(|(k, ..)| k.to_owned()),
        origins,
    }
}

/// Calls `f` with the dotted path and value of every leaf of `v`.
pub(super) fn leaves(v: &Value, prefix: &str, f: &mut dyn FnMut(String, &Value)) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(child, &path, f);
            }
        }
        leaf => f(prefix.to_owned(), leaf),
    }
}

/// Lays the leaves of `top` over `base`, recording their layer.
fn overlay(
    base: &mut Value,
    top: &Value,
    prefix: &str,
    layer: Layer,
    origins: &mut BTreeMap<String, Layer>,
) {
    let (Value::Object(b), Value::Object(t)) = (base, top) else {
        return;
    };
    for (k, tv) in t {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        // A shadow is one candidate: a layer's shadow replaces a shallower one whole, as
        // `Policy::over` lays them.
        let whole = prefix.is_empty() && k == "shadow";
        match (b.get_mut(k), tv) {
            (Some(bv @ Value::Object(_)), Value::Object(_)) if !whole => {
                overlay(bv, tv, &path, layer, origins)
            }
            _ => {
                if whole {
                    origins.retain(|p, _| !p.starts_with("shadow."));
                }
                b.insert(k.clone(), tv.clone());
                leaves(tv, &path, &mut |p, _| {
                    origins.insert(p, layer);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::policy::normalize::proptests::arb_policy;

    /// A policy with the named fields and flags the numeric strategy leaves out.
    fn written() -> impl Strategy<Value = Policy> {
        let name = || proptest::option::of("[a-z]{1,2}");
        (
            arb_policy(),
            name(),
            name(),
            name(),
            name(),
            any::<(bool, bool)>(),
            proptest::option::of(0u32..50),
            proptest::option::of((arb_policy(), name())),
        )
            .prop_map(
                |(mut p, id, classifier, trigger, budget, (first, cancel), samples, shadow)| {
                    // A shadow, laid whole over a shallower one.
                    p.shadow = shadow.map(|(mut s, id)| {
                        s.id = id.map(|i| std::sync::Arc::from(i.as_str()));
                        Box::new(s)
                    });
                    p.id = id.map(|i| std::sync::Arc::from(i.as_str()));
                    p.retry.classifier_name = classifier;
                    p.hedge.trigger_name = trigger;
                    p.retry.budget.name = budget.unwrap_or_default();
                    p.retry.budget.gate_first_attempt = first;
                    p.hedge.cancel_on_first_terminal = cancel;
                    p.hedge.min_samples = samples;
                    p
                },
            )
    }

    proptest! {
        /// What a provider serves (a typed merge, field by field) is what `explain` shows
        /// (a merge of the written fields, with their origins), once normalized.
        #[test]
        fn the_typed_merge_and_the_explained_one_agree(
            defaults in proptest::option::of(written()),
            namespace in written(),
            own in written(),
        ) {
            let mut doc = json!({
                "version": 1,
                "policies": { "a.*": namespace, "a.B": own },
            });
            if let Some(d) = defaults {
                doc["defaults"] = json!(d);
            }
            let set = PolicySet::from_str(&doc.to_string(), "p.json").unwrap();
            for key in ["a.B", "a.C", "z.Q"] {
                let key = Key::parse(key);
                let served = set.layered(&key).normalize().to_policy();
                let explained = resolve(&set, &key).policy;
                prop_assert_eq!(&served, &explained, "{}", key);
            }
        }
    }
}
