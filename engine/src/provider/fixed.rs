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

    /// Policies given in code are `static`, even when built from [`Policy::builtin`] (D36).
    fn label(mut p: Policy) -> Policy {
        if matches!(p.meta.source, PolicySource::Unknown | PolicySource::Default) {
            p.meta.source = PolicySource::Static;
        }
        p
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
