//! Policy providers: where the executor gets the policy of a key.
//!
//! The executor resolves each key once and caches the compiled result; it asks again only
//! when the provider's [`generation`](Provider::generation) changes (a reload) or the last
//! answer was an error.

mod file;
mod fixed;
#[cfg(feature = "remote-http")]
mod http;
mod remote;

use std::fmt;
use std::sync::Arc;

pub use file::{FileProvider, Watch};
pub(crate) use fixed::Layered;
pub use fixed::StaticProvider;
#[cfg(feature = "remote-http")]
pub use http::{HttpBundle, HttpSource};
pub use remote::{
    Bundle, BundleFuture, BundleSource, FetchError, RemoteProvider, RemoteSource, SourceFuture,
};

use crate::key::Key;
use crate::policy::{BudgetSpec, Policy};

/// Why a provider could not give a policy.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The provider (or its source) is unavailable.
    #[error("recourse: policy provider unavailable")]
    Unavailable,
    /// No policy covers the key.
    #[error("recourse: policy not found")]
    NotFound,
    /// Fetching the policy failed.
    #[error("recourse: policy fetch failed: {0}")]
    FetchFailed(String),
    /// The policy was found but is invalid.
    #[error("recourse: invalid policy: {0}")]
    Invalid(String),
    /// The provider panicked (with `recover_panics`).
    #[error("recourse: panic in policy_provider: {message}")]
    Panicked {
        /// The panic payload as text.
        message: String,
    },
    /// Any other error.
    #[error(transparent)]
    Other(Arc<dyn std::error::Error + Send + Sync>),
}

/// A provider's failure, optionally with a policy to use anyway (a last known good one) in
/// the `fallback` and `allow_unsafe` missing-policy modes.
#[derive(Debug, Clone)]
pub struct ProviderFailure {
    /// What went wrong.
    pub error: ProviderError,
    /// A policy the provider still offers (last known good), if any.
    pub fallback: Option<Box<Policy>>,
}

impl From<ProviderError> for ProviderFailure {
    fn from(error: ProviderError) -> ProviderFailure {
        ProviderFailure {
            error,
            fallback: None,
        }
    }
}

/// A source of policies.
pub trait Provider: Send + Sync + fmt::Debug {
    /// The policy for `key`. The executor normalizes what it gets, so a provider may return a
    /// policy with unset fields; it should set `meta.source`.
    ///
    /// # Errors
    ///
    /// When no policy can be given; the executor's missing-policy mode decides what happens.
    fn policy(&self, key: &Key) -> Result<Policy, ProviderFailure>;

    /// A number that changes whenever the provider's policies may have changed. The executor
    /// re-resolves cached keys when it does. Default: never changes.
    ///
    /// It need not grow, but should not come back to a value it had before (a counter, not a
    /// hash of the policies' content): a [`KeyHandle`](crate::KeyHandle) made under that
    /// generation would take the policy it compiled then as current again, with the budgets
    /// it resolved then, though a budget changed and changed back since is a new one. (An
    /// operator's hand on the key's breaker is seen either way.)
    fn generation(&self) -> u64 {
        0
    }

    /// The budgets the provider's policies declare (a policy file's `budgets:`), by name, as
    /// of its current [`generation`](Provider::generation). The executor builds each one and
    /// follows every generation: a budget declared anew appears, a changed one is rebuilt
    /// holding what it held (up to its new capacity), a removed one goes (the missing-budget
    /// mode then decides). A budget registered in code wins over a declared one of the same
    /// name. Default: none.
    fn budgets(&self) -> Vec<(String, BudgetSpec)> {
        Vec::new()
    }

    /// Work to await before [`policy`](Provider::policy) is asked for `key` (a remote provider
    /// fetches here, bounded by its fetch timeout). Called only when the executor has no current
    /// resolution of the key. Default: none.
    fn prepare<'a>(&'a self, key: &'a Key) -> Option<Prepare<'a>> {
        let _ = key;
        None
    }
}

/// A provider's preparation for a lookup (see [`Provider::prepare`]).
pub type Prepare<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
