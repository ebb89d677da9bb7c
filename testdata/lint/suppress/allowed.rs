use recourse_engine::Executor;

async fn calls(exec: &Executor, tenant: &str) {
    // recourse-lint: allow(dynamic-key)
    exec.call(&format!("tenants.{tenant}"), op).await;
    exec.call("legacy.v2", op).await; // recourse-lint: allow(key-format, high-cardinality-key)
    exec.call("orders.12345", op).await; // recourse-lint: allow(key-format)
}
