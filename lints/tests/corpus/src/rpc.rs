use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::HttpClient;
use jsonrpsee::rpc_params;
use jsonrpsee::RpcModule;

pub async fn post(client: &HttpClient, amount: u64) -> anyhow::Result<String> {
    let params = rpc_params![amount];
    let id: String = client.request("ledger.post_entry", params).await?;
    let _: String = client.call("ledger.post_entry", rpc_params![amount]).await?;
    Ok(id)
}

pub async fn local(module: &RpcModule<()>) {
    let _: String = module.call("say_hello", [1u8]).await.unwrap();
    let _: String = module.call("say.hello_42", (1u8, 2u8)).await.unwrap();
}
