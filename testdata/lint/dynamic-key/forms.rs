use recourse_engine::Executor;

async fn handlers(exec: &Executor, user_id: u64, region: &str) {
    exec.call(&format!("users.{user_id}"), op).await;
    exec.call(&("payments.".to_owned() + region), op).await;
    let key = pick_key();
    exec.call(&key, op).await;
    exec.call_traced(make_key(user_id), op).await;
    let h = exec.key(&self.key_for(region));
}
