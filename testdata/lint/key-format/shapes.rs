use recourse_engine::Executor;

async fn calls(exec: &Executor) {
    exec.call("Charge", op).await;
    exec.call("payments Charge", op).await;
    exec.call(".Charge", op).await;
    exec.call("payments.", op).await;
    exec.call("payments.Charge", op).await;
}
