//! The process-wide executor and the facade functions.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::OnceLock;

use super::{AttemptInfo, Executor};
use crate::error::Error;
use crate::key::AsKey;
use crate::observe::Timeline;

static GLOBAL: OnceLock<Executor> = OnceLock::new();

/// Sets the process-wide executor used by [`call`] and [`call_traced`]. Set once: call it at
/// start-up, before the first facade call.
///
/// # Errors
///
/// Gives `exec` back when a global executor is already set (by an earlier `init`, or by a
/// facade call that installed the default). The running executor keeps serving.
pub fn init(exec: Executor) -> Result<(), Executor> {
    GLOBAL.set(exec)
}

/// The process-wide executor; the default one ([`Executor::new`]: `auto` classifier,
/// `unlimited` budget, built-in default policy for every key) if [`init`] was never called.
pub fn global() -> &'static Executor {
    GLOBAL.get_or_init(Executor::new)
}

/// [`Executor::call`] on the process-wide executor.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let n = recourse_engine::call("docs.Example", |_| async { Ok::<_, std::io::Error>(3) }).await;
/// assert_eq!(n.unwrap(), 3);
/// # }
/// ```
pub async fn call<T, E, F, Fut>(key: impl AsKey, op: F) -> Result<T, Error<E>>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    global().call(key, op).await
}

/// [`Executor::call_traced`] on the process-wide executor.
pub async fn call_traced<T, E, F, Fut>(key: impl AsKey, op: F) -> (Result<T, Error<E>>, Timeline)
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    global().call_traced(key, op).await
}
