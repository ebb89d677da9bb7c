use super::{Budget, Decision, Request};

/// Admits everything (reason `allowed`). Registered as `unlimited` in every executor.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unlimited;

impl Budget for Unlimited {
    fn allow(&self, _req: &Request<'_>) -> Decision {
        Decision::allow()
    }

    fn reads_clock(&self) -> bool {
        false
    }
}
