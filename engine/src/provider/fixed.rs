use rustc_hash::FxHashMap;

use super::{Provider, ProviderFailure};
use crate::key::Key;
use crate::policy::{Policy, PolicySource};

/// Policies given in code: a map from key to policy, `namespace.*` defaults, and an optional
/// default for every other key. Never fails: a key nothing covers gets the built-in default
/// (source `default`).
#[derive(Debug, Default, Clone)]
pub struct StaticProvider {
    policies: FxHashMap<Key, Policy>,
    namespaces: FxHashMap<String, Policy>,
    default: Option<Policy>,
}

impl StaticProvider {
    /// An empty provider: every key gets the built-in default.
    pub fn new() -> StaticProvider {
        StaticProvider::default()
    }

    /// Sets the policy of `key`. A key of the form `namespace.*` sets the default of every key
    /// in that namespace that has no policy of its own. The last call for a key wins.
    pub fn insert(&mut self, key: &str, policy: Policy) {
        let k = Key::parse(key);
        if k.name() == "*" && !k.namespace().is_empty() {
            self.namespaces.insert(k.namespace().to_owned(), policy);
        } else {
            self.policies.insert(k, policy);
        }
    }

    /// Builder form of [`insert`](StaticProvider::insert).
    pub fn with(mut self, key: &str, policy: Policy) -> StaticProvider {
        self.insert(key, policy);
        self
    }

    /// Sets the policy of every key nothing else covers. A zero policy is ignored.
    pub fn with_default(mut self, policy: Policy) -> StaticProvider {
        self.default = Some(policy);
        self
    }

    /// Whether an entry (the key's own, or its `namespace.*`) covers `key`.
    pub(crate) fn covers(&self, key: &Key) -> bool {
        self.policies.contains_key(key) || self.namespaces.contains_key(key.namespace())
    }

    /// Whether it has a policy for every key nothing else covers.
    pub(crate) fn has_default(&self) -> bool {
        self.default.is_some()
    }

    /// Whether it holds no policy at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.namespaces.is_empty() && self.default.is_none()
    }

    /// Policies given in code are `static`, even when built from [`Policy::builtin`].
    fn label(mut p: Policy) -> Policy {
        if matches!(p.meta.source, PolicySource::Unknown | PolicySource::Default) {
            p.meta.source = PolicySource::Static;
        }
        p
    }
}

/// Policies given in code over another provider: the code's entries (a key, or `namespace.*`)
/// win, every other key is the provider's. The builder makes one when it is given both, so
/// neither is dropped.
#[derive(Debug)]
pub(crate) struct Layered {
    pub(crate) statics: StaticProvider,
    pub(crate) base: std::sync::Arc<dyn Provider>,
}

impl Provider for Layered {
    fn policy(&self, key: &Key) -> Result<Policy, ProviderFailure> {
        if self.statics.covers(key) {
            self.statics.policy(key)
        } else {
            self.base.policy(key)
        }
    }

    fn generation(&self) -> u64 {
        self.base.generation()
    }

    fn budgets(&self) -> Vec<(String, crate::policy::BudgetSpec)> {
        self.base.budgets()
    }

    fn prepare<'a>(&'a self, key: &'a Key) -> Option<super::Prepare<'a>> {
        if self.statics.covers(key) {
            None
        } else {
            self.base.prepare(key)
        }
    }
}

impl Provider for StaticProvider {
    fn policy(&self, key: &Key) -> Result<Policy, ProviderFailure> {
        if let Some(p) = self.policies.get(key) {
            return Ok(StaticProvider::label(p.clone()));
        }
        if let Some(p) = self.namespaces.get(key.namespace()) {
            return Ok(StaticProvider::label(p.clone()));
        }
        match &self.default {
            Some(p) if !p.is_zero() => Ok(StaticProvider::label(p.clone())),
            _ => Ok(Policy::builtin()),
        }
    }
}
