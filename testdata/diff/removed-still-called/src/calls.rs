//! Call sites for `policy diff --source`: legacy.Fetch (twice) and orders.Create (through
//! `orders.*`) lose their policies; billing.Refund keeps its own; nothing calls legacy.Export.
use recourse_engine::Executor;

async fn calls(exec: &Executor) {
    exec.call("legacy.Fetch", op).await;
    exec.call("orders.Create", op).await;
    exec.call("billing.Refund", op).await;
}

async fn again(exec: &Executor) {
    exec.call("legacy.Fetch", op).await;
}
