//! The `grpc` classifier end to end against a real tonic server on 127.0.0.1: UNAVAILABLE is
//! retried, `grpc-retry-pushback-ms` replaces the backoff (and a negative one stops), codes
//! outside the retryable set are final, and `grpc_key` names the call.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use http::uri::PathAndQuery;
use recourse_engine::classify::grpc_key;
use recourse_engine::{Executor, Policy};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataValue;
use tonic::server::NamedService;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};

use crate::support::ms;

/// Messages are raw bytes: no protobuf needed to test the classifier.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The next answers: a code (OK echoes) and an optional pushback value.
type Script = Arc<Mutex<VecDeque<(Code, Option<&'static str>)>>>;

#[derive(Clone, Default)]
struct Echo {
    script: Script,
    seen: Arc<Mutex<Vec<Instant>>>,
}

impl NamedService for Echo {
    const NAME: &'static str = "test.v1.Echo";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower::Service<http::Request<tonic::body::Body>> for Echo {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let me = self.clone();
        Box::pin(async move {
            let unary = tower::service_fn(move |r: Request<Bytes>| {
                let me = me.clone();
                async move {
                    me.seen.lock().unwrap().push(Instant::now());
                    let next = me.script.lock().unwrap().pop_front();
                    match next {
                        None | Some((Code::Ok, _)) => Ok(Response::new(r.into_inner())),
                        Some((code, pushback)) => {
                            let mut status = Status::new(code, "scripted");
                            if let Some(p) = pushback {
                                status.metadata_mut().insert(
                                    "grpc-retry-pushback-ms",
                                    MetadataValue::from_static(p),
                                );
                            }
                            Err(status)
                        }
                    }
                }
            });
            Ok(tonic::server::Grpc::new(Raw).unary(unary, req).await)
        })
    }
}

async fn serve() -> (Echo, Channel) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = Echo::default();
    let svc = echo.clone();
    tokio::spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let _ = Server::builder()
            .add_service(svc)
            .serve_with_incoming(incoming)
            .await;
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (echo, channel)
}

const PATH: &str = "/test.v1.Echo/Say";

async fn say(exec: &Executor, channel: &Channel) -> Result<Bytes, recourse_engine::Error<Status>> {
    let key = grpc_key(PATH).unwrap();
    exec.call(&key, |_| {
        let mut client = tonic::client::Grpc::new(channel.clone());
        async move {
            client
                .ready()
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            let path = PathAndQuery::from_static(PATH);
            let resp = client
                .unary(Request::new(Bytes::from("hi")), path, Raw)
                .await?;
            Ok(resp.into_inner())
        }
    })
    .await
}

fn exec() -> Executor {
    Executor::builder()
        .policy(
            "test.v1.Echo.Say",
            Policy::builtin()
                .max_attempts(3)
                .backoff(ms(1), ms(2), 2.0)
                .classifier("grpc"),
        )
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_is_retried_and_pushback_replaces_the_backoff() {
    let (echo, channel) = serve().await;
    echo.script.lock().unwrap().extend([
        (Code::Unavailable, Some("300")),
        (Code::ResourceExhausted, None),
    ]);
    let (r, tl) = exec()
        .call_traced("test.v1.Echo.Say", |_| {
            let ch = channel.clone();
            async move {
                let mut client = tonic::client::Grpc::new(ch);
                client
                    .ready()
                    .await
                    .map_err(|e| Status::unavailable(e.to_string()))?;
                let path = PathAndQuery::from_static(PATH);
                client
                    .unary(Request::new(Bytes::from("hi")), path, Raw)
                    .await
                    .map(Response::into_inner)
            }
        })
        .await;
    assert_eq!(r.unwrap(), "hi");
    let seen = echo.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(
        seen[1] - seen[0] >= Duration::from_millis(290),
        "pushback 300 ms: {:?}",
        seen[1] - seen[0]
    );
    let reasons: Vec<&str> = tl.attempts.iter().map(|a| a.reason.as_str()).collect();
    assert_eq!(
        reasons,
        ["grpc_unavailable", "grpc_resource_exhausted", "success"]
    );
    assert_eq!(tl.attempts[0].attributes.get("grpc_code"), Some("14"));
    assert_eq!(
        tl.attempts[0].attributes.get("grpc_pushback_ms"),
        Some("300")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_pushback_stops_and_final_codes_are_final() {
    let (echo, channel) = serve().await;
    echo.script
        .lock()
        .unwrap()
        .push_back((Code::Unavailable, Some("-1")));
    let err = say(&exec(), &channel).await.unwrap_err();
    assert_eq!(err.reason_code().as_str(), "grpc_pushback_stop");
    assert_eq!(echo.seen.lock().unwrap().len(), 1);

    echo.script
        .lock()
        .unwrap()
        .push_back((Code::InvalidArgument, None));
    let err = say(&exec(), &channel).await.unwrap_err();
    assert_eq!(err.reason_code().as_str(), "grpc_invalid_argument");
    assert_eq!(err.operation_error().unwrap().code(), Code::InvalidArgument);
    assert_eq!(echo.seen.lock().unwrap().len(), 2, "not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_auto_classifier_recognises_grpc_statuses() {
    let (echo, channel) = serve().await;
    echo.script
        .lock()
        .unwrap()
        .push_back((Code::Unavailable, None));
    let exec = Executor::builder()
        .policy(
            "test.v1.Echo.Say",
            Policy::builtin().max_attempts(2).backoff(ms(1), ms(1), 1.0),
        )
        .build()
        .unwrap();
    assert_eq!(say(&exec, &channel).await.unwrap(), "hi");
    assert_eq!(echo.seen.lock().unwrap().len(), 2);
}

/// A tonic channel under the tower layer: requests go through (one attempt each: gRPC bodies
/// are streams).
#[cfg(feature = "tower")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_channel_works_under_the_tower_layer() {
    use recourse_engine::integrations::tower::RecourseLayer;
    use tower_layer::Layer;

    let (echo, channel) = serve().await;
    let layered = RecourseLayer::new(exec(), "test.v1.Echo.Say").layer(channel);
    let mut client = tonic::client::Grpc::new(layered);
    client.ready().await.unwrap();
    let path = PathAndQuery::from_static(PATH);
    let resp = client
        .unary(Request::new(Bytes::from("via layer")), path, Raw)
        .await
        .unwrap();
    assert_eq!(resp.into_inner(), "via layer");
    assert_eq!(echo.seen.lock().unwrap().len(), 1);
}
