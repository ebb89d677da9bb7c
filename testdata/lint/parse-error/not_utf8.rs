use recourse_engine::Executor;

async fn calls(exec: &Executor) {
    exec.call("payments.ÿþCharge", op).await;
    exec.call("users.12345", op).await;
}
