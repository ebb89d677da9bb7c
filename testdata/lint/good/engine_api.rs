//! Every way a literal or constant key reaches recourse: no findings.
use recourse_engine::{Executor, Key, key};

const CHARGE: &str = "payments.Charge";
static REFUND: &str = "payments.Refund";

mod inventory {
    pub(crate) const GET: &str = "inventory.Get";
}

async fn calls(exec: &Executor) {
    exec.call("payments.Charge", |_| async { Ok::<_, std::io::Error>(()) }).await;
    exec.call_traced(CHARGE, |_| async { Ok::<_, std::io::Error>(()) }).await;
    exec.call(REFUND, op).await;
    exec.call(inventory::GET, op).await;
    let (_r, _t) = exec.call_with("search.Query", &opts, op).await;
    let handle = exec.key("users.Get");
    recourse_engine::call("orders.List", op).await;
    let k = Key::parse("billing.Invoice");
    let k2 = Key::new("billing", "Refund");
    let k3 = key!("shipping.Quote");
    let k4 = Key::from_static("shipping.Track");
    // A comment mentioning exec.call("not.AKey") is not code.
    let s = "exec.call(\"in.AString\")";
}

macro_rules! charge {
    ($exec:expr) => {
        $exec.call("payments.Capture", op)
    };
}

// Look-alikes that are not call sites.
fn tower_service(svc: &mut Svc, req: Request) {
    svc.call(req);
    let k = map.key();
    fn call(a: u8, b: u8) {}
}
