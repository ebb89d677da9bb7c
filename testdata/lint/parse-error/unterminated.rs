use recourse_engine::Executor;

async fn calls(exec: &Executor, id: u64) {
    exec.call("payments.Charge", op).await;
    exec.call(&format!("users.{id}"), op).await;
    let broken = "this string never ends;
    exec.call("after.Break", op).await;
}
