use recourse_engine::Executor;

const PER_USER: &str = "users.48213";

async fn calls(exec: &Executor) {
    exec.call(PER_USER, op).await;
    exec.call("orders.9f1c2a4e-1b2c-4d3e-8f9a-0b1c2d3e4f5a", op).await;
    exec.call("mail.bob@example.com", op).await;
    exec.call("http.https://api.example.com/v1/users", op).await;
    exec.call("cache.10.0.0.1", op).await;
    exec.call("reports.2026-11-28", op).await;
    exec.call("blobs.3f2b9c0d4e5a6b7c", op).await;
    exec.call("search.q?term=shoes", op).await;
}
