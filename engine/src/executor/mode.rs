/// What the executor does when a dependency of a call is missing: the policy (the provider
/// failed), the classifier, or the budget named by the policy.
///
/// | mode | policy | classifier | budget |
/// |---|---|---|---|
/// | `Deny` | fail with `NoPolicy` (default) | fail with `NoClassifier` | deny the attempt (default) |
/// | `Allow` | run once (1 attempt) | use the default classifier | allow, reason `budget_not_found` |
/// | `Fallback` | the provider's fallback policy, else the built-in default | default classifier (default) | allow, reason `budget_not_found` |
/// | `AllowUnsafe` | as `Fallback` | as `Fallback` | as `Allow` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MissingMode {
    /// Refuse.
    Deny,
    /// Proceed minimally.
    Allow,
    /// Proceed with a fallback, recording what was missing.
    Fallback,
    /// Proceed regardless.
    AllowUnsafe,
}

impl MissingMode {
    /// `deny`, `allow`, `fallback` or `allow_unsafe`.
    pub fn as_str(self) -> &'static str {
        match self {
            MissingMode::Deny => "deny",
            MissingMode::Allow => "allow",
            MissingMode::Fallback => "fallback",
            MissingMode::AllowUnsafe => "allow_unsafe",
        }
    }
}

/// The missing-dependency modes of an executor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Modes {
    pub(crate) policy: MissingMode,
    pub(crate) classifier: MissingMode,
    pub(crate) budget: MissingMode,
    pub(crate) trigger: MissingMode,
}

impl Default for Modes {
    fn default() -> Modes {
        Modes {
            policy: MissingMode::Deny,
            classifier: MissingMode::Fallback,
            budget: MissingMode::Deny,
            trigger: MissingMode::Fallback,
        }
    }
}
