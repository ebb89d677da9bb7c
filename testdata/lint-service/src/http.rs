//! The HTTP edges: inbound through tower, outbound through reqwest.

use recourse_engine::Executor;
use recourse_engine::integrations::reqwest::RecourseMiddleware;
use recourse_engine::integrations::tower::RecourseLayer;

pub fn layers(exec: Executor) -> (RecourseLayer, RecourseMiddleware) {
    (
        RecourseLayer::new(exec.clone(), "http.Inbound"),
        RecourseMiddleware::new(exec, "ledger.Post"),
    )
}
