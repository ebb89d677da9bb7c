//! A crate that uses recourse for its own calls and other libraries for everything else.

pub mod middleware;
pub mod rpc;
pub mod scripting;
pub mod storage;
pub mod tui;
pub mod wasm_host;

use recourse_engine::Executor;

pub struct Shared {
    pub exec: Executor,
}
