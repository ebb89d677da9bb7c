use aws_sdk_s3::Client;
use rdkafka::producer::{FutureProducer, FutureRecord};

pub async fn upload(client: &Client, bucket: &str, object_key: &str, body: Vec<u8>) {
    let _ = client
        .put_object()
        .bucket(bucket)
        .key(object_key)
        .body(body.into())
        .send()
        .await;
    let _ = client.get_object().bucket(bucket).key("reports/2026-11-28.csv").send().await;
}

pub async fn publish(producer: &FutureProducer, topic: &str, user_id: u64) {
    let payload = format!("user {user_id}");
    let key = format!("user-{user_id}");
    let record = FutureRecord::to(topic).key(&key).payload(&payload);
    let _ = producer.send(record, std::time::Duration::from_secs(0)).await;
    let record = FutureRecord::to(topic).key("some key").payload("x");
    let _ = producer.send(record, std::time::Duration::from_secs(0)).await;
}
