//! Checkout: payments, inventory, pricing and search behind one executor.

pub mod http;
pub mod keys;
pub mod payments;
pub mod search;

use std::sync::Arc;

use recourse_engine::Executor;

/// What every handler shares.
pub struct App {
    pub exec: Arc<Executor>,
    pub rpc: jsonrpc::Client,
}

impl App {
    pub fn new(exec: Executor, rpc: jsonrpc::Client) -> App {
        App {
            exec: Arc::new(exec),
            rpc,
        }
    }
}
