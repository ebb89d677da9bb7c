//! What every call-path benchmark shares, so that recourse and its peers run the same
//! operation: one future whose `poll` the compiler may not inline, awaited through each
//! library.
//!
//! An operation the compiler can see into is folded away inside a peer whose service is a
//! zero-sized closure (tower's retry around an inlinable `async` block measured less than a
//! plain await of the block), which flatters the peer. Behind an `#[inline(never)]` poll,
//! every library pays for the same opaque work and only its own.

#![allow(dead_code)]

use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use recourse_engine::AttemptInfo;

/// The operation: ready on its first poll, with a value or a connection reset (retryable
/// everywhere).
pub(crate) struct Op {
    fail: bool,
}

impl Op {
    /// An operation that succeeds.
    pub(crate) fn succeed() -> Op {
        Op { fail: false }
    }

    /// An operation that fails.
    pub(crate) fn reset() -> Op {
        Op { fail: true }
    }
}

impl Future for Op {
    type Output = Result<u64, io::Error>;

    #[inline(never)]
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(if black_box(self.fail) {
            Err(io::Error::from(io::ErrorKind::ConnectionReset))
        } else {
            Ok(black_box(1))
        })
    }
}

/// A recourse operation that succeeds.
pub(crate) fn ok(_: AttemptInfo) -> Op {
    Op::succeed()
}

/// A recourse operation that fails.
pub(crate) fn fail(_: AttemptInfo) -> Op {
    Op::reset()
}

/// One current-thread runtime, as a service's own call sites run on: criterion's `to_async`
/// runs the whole timing loop inside one `block_on`.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// tower's retry policy: retry errors `n` times, at once.
#[derive(Clone)]
pub(crate) struct Attempts(pub(crate) usize);

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Attempts {
    type Future = Ready<()>;
    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Err(_) if self.0 > 0 => {
                self.0 -= 1;
                Some(ready(()))
            }
            _ => None,
        }
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// Retries every error at once: zero backoff without arming a timer.
#[derive(Debug)]
pub(crate) struct RetryNow;

impl recourse_engine::classify::Classifier for RetryNow {
    fn classify(
        &self,
        input: &recourse_engine::classify::Input<'_>,
    ) -> recourse_engine::classify::Verdict {
        use recourse_engine::Reason;
        use recourse_engine::classify::{Attempted, Kind, Verdict};
        match input.result {
            Attempted::Value(_) => Verdict::success(),
            _ => Verdict::new(Kind::Retryable, Reason::RETRYABLE_ERROR)
                .with_backoff(std::time::Duration::ZERO),
        }
    }

    /// Every value is a plain success, as with the built-in classifiers.
    fn values_succeed(&self) -> bool {
        true
    }
}
