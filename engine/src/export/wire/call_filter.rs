//! A subscription's `calls` field: which calls a client wants.

use crate::observe::CallSummary;

/// Which calls a subscription asks for (its `calls` field): the one mapping from the wire names
/// onto [`CallSummary`], shared by services (which filter before sending) and clients (which
/// filter recordings and older services again).
///
/// ```
/// use recourse_engine::export::wire::CallFilter;
///
/// for filter in CallFilter::EVERY {
///     assert_eq!(filter.as_str().parse::<CallFilter>(), Ok(filter));
/// }
/// assert!("sometimes".parse::<CallFilter>().is_err());
/// // A service reading a subscription: absent or unknown means every call.
/// assert_eq!(CallFilter::from_wire(Some("failed")), CallFilter::Failed);
/// assert_eq!(CallFilter::from_wire(Some("sometimes")), CallFilter::All);
/// assert_eq!(CallFilter::from_wire(None), CallFilter::All);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallFilter {
    /// Every call.
    #[default]
    All,
    /// All but a first attempt that succeeded on its own: retries, hedges, budget denials,
    /// failures.
    Interesting,
    /// Failed calls only.
    Failed,
}

impl CallFilter {
    /// Every filter.
    pub const EVERY: [CallFilter; 3] =
        [CallFilter::All, CallFilter::Interesting, CallFilter::Failed];

    /// The wire name (`all`, `interesting`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            CallFilter::All => "all",
            CallFilter::Interesting => "interesting",
            CallFilter::Failed => "failed",
        }
    }

    /// The filter a subscription names; absent or unknown means [`All`](CallFilter::All), so
    /// a newer client never loses calls from an older service's point of view.
    pub fn from_wire(value: Option<&str>) -> CallFilter {
        value.and_then(|v| v.parse().ok()).unwrap_or_default()
    }

    /// Whether a call with this summary passes.
    pub fn admits(self, s: &CallSummary) -> bool {
        match self {
            CallFilter::All => true,
            CallFilter::Interesting => !s.is_routine(),
            CallFilter::Failed => !s.succeeded,
        }
    }
}

impl std::fmt::Display for CallFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `calls` value that is none of `all`, `interesting`, `failed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown call filter `{0}` (expected all, interesting or failed)")]
pub struct UnknownCallFilter(pub String);

impl std::str::FromStr for CallFilter {
    type Err = UnknownCallFilter;

    fn from_str(s: &str) -> Result<CallFilter, UnknownCallFilter> {
        CallFilter::EVERY
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCallFilter(s.to_owned()))
    }
}
