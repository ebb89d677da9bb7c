use recourse_engine::{Executor, Key, key};

const REFUND: Key = key!("payments.Refund");

pub async fn refund(exec: &Executor, kind: RefundKind) -> Result<(), Error> {
    exec.call(&REFUND, |_| gateway::refund()).await?;
    exec.call(REFUND.as_str(), |_| gateway::refund()).await?;
    let key = match kind {
        RefundKind::Full => "refunds.Full",
        RefundKind::Partial => "refunds.Partial",
    };
    exec.call(key, |_| gateway::refund()).await?;
    let audit = "audit.Write";
    exec.call(audit, |_| audit::write()).await?;
    guarded(exec, "refunds.Guarded").await;
    Ok(())
}

/// Runs `op` under `key`: the caller names the key.
async fn guarded(exec: &Executor, key: &'static str) {
    let _ = exec.call(key, |_| gateway::refund()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refunds_retry() {
        let exec = Executor::new();
        for id in 0..3 {
            let _ = exec.call(&format!("refunds.case{id}"), |_| gateway::refund()).await;
        }
    }
}
