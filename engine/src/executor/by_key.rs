//! A call by key ([`Executor::call`](super::Executor::call)): the key is looked up when the
//! future is made, so the future holds the key's state instead of the key.
//!
//! A key the executor holds is borrowed for the call, as a key handle's is, and the call is
//! polled as a handle's ([`ByKey::Direct`]). A key's first call, which adds the key, and a
//! call past `max_keys`, which holds its own reference to a state the executor does not keep,
//! run in a future of their own that looks the key up when first polled ([`ByKey::Later`]),
//! boxed so that it adds nothing to the size of the common case.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

pin_project! {
    /// One of two ways to poll a call by key; both end the same.
    #[project = ByKeyProj]
    pub(crate) enum ByKey<D, O> {
        /// A held key's call, built as a handle's.
        Direct { #[pin] call: D },
        /// A key's first call, or a call past `max_keys`.
        Later { call: Pin<Box<O>> },
    }
}

impl<D, O> Future for ByKey<D, O>
where
    D: Future,
    O: Future<Output = D::Output>,
{
    type Output = D::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<D::Output> {
        match self.project() {
            ByKeyProj::Direct { call } => call.poll(cx),
            ByKeyProj::Later { call } => call.as_mut().poll(cx),
        }
    }
}
