//! Search, and the look-alikes a real service has next to its recourse calls.

use recourse_engine as rec;

use crate::keys::inventory;
use crate::keys::pricing::GET as PRICE_GET;
use crate::App;

pub async fn search(app: &App, q: &str) -> Result<Vec<Hit>, Error> {
    let hits = rec::call("search.Query", |_| backend::query(q)).await?;
    let _ = rec::call_traced("search.Suggest", |_| backend::suggest(q)).await;
    let _ = recourse_engine::global().call("search.Log", |_| backend::log(q)).await;
    let _ = app.exec.call(inventory::GET, |_| stock::get(q)).await;
    let _ = app.exec.call(PRICE_GET, |_| prices::get(q)).await;
    let _ = app.exec.call(crate::keys::inventory::RESERVE, |_| stock::reserve(q)).await;
    let _ = app.exec.call(GET, |_| stock::get(q)).await;
    let _ = app.exec.call(crate::keys::LEGACY, |_| stock::get(q)).await;
    Ok(hits)
}

pub async fn look_alikes(app: &App, store: &mut Store, func: Func, s3: &S3, ui: &mut Tui) {
    let _ = app.rpc.call("ledger.post_entry", params()).await;
    let _ = func.call(&mut *store, (1, 2));
    let _ = s3.put_object().bucket("b").key(object_key()).send().await;
    let _ = tower::Service::call(&mut svc(), request());
    let _ = call(1, 2);
    ui.key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE));
    let _ = app.exec.call("orders.48213", |_| orders::get()).await;
}

fn call(a: u8, b: u8) -> u8 {
    a + b
}

pub async fn tenant(app: &App, tenant: &str) {
    // recourse-lint: allow(dynamic-key) -- tenants come from a fixed table of five
    let _ = app
        .exec
        .call(
            &format!("tenants.{tenant}"),
            |_| backend::tenant(tenant),
        )
        .await;
    let _ = app.exec.call("Legacy", |_| backend::legacy()).await; // recourse-lint: allow(key-fromat)
}
