//! The recorder's link to the live export (feature `export`). Without the feature, [`Tap`] is a
//! type with no values and [`tap`] always says no, so the call loop has one shape either way.

use super::Inner;
use super::keyed::KeyState;

#[cfg(feature = "export")]
pub(crate) use crate::export::hub::Tap;

/// Never constructed without the `export` feature.
#[cfg(not(feature = "export"))]
#[derive(Clone, Copy)]
pub(crate) struct Tap<'a>(std::convert::Infallible, std::marker::PhantomData<&'a ()>);

#[cfg(not(feature = "export"))]
impl Tap<'_> {
    pub(crate) fn finish(self, _: Box<crate::observe::Timeline>) {
        match self.0 {}
    }

    pub(crate) fn circuit(
        self,
        _: &crate::key::Key,
        _: &crate::circuit::Transition,
        _: crate::clock::Timestamp,
    ) {
        match self.0 {}
    }
}

/// Whether a `recourse tail` client wants this call: one atomic load when none is subscribed.
#[inline]
pub(crate) fn tap<'a>(inner: &'a Inner, state: &'a KeyState) -> Option<Tap<'a>> {
    #[cfg(feature = "export")]
    {
        inner
            .export
            .as_ref()
            .and_then(|e| e.hub.tap(&state.key, &state.export))
    }
    #[cfg(not(feature = "export"))]
    {
        let _ = (inner, state);
        None
    }
}
