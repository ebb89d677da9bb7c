//! `recourse breaker`: one `control` message to one service, over the same connection `tail`
//! makes (the same trust checks on a Unix socket, the same token over TCP).

use std::time::Duration;

use recourse_engine::export::wire::{
    self, CallFilter, Common, Control, Controlled, Hello, Message,
};
use tokio::io::{AsyncWriteExt, BufReader};

use super::follow::{Subscription, connect_once, greet, introduced, read_line};
use super::target::Spec;

/// How long one service has to answer, connection included.
pub(crate) const PATIENCE: Duration = Duration::from_secs(3);

/// What a service answered to a `control`.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The breakers concerned, as they stand after it.
    Done(Controlled),
    /// The service refused it: its error code and message.
    Refused { code: String, msg: String },
}

/// Sends `action` for `key` to the service at `spec`: who it is and its answer, or why it could
/// not be asked (unreachable, not trusted, a wrong token, no answer in time).
pub(crate) async fn send(
    spec: &Spec,
    action: &str,
    key: Option<&str>,
    force: bool,
    token: Option<String>,
) -> Result<(Hello, Answer), String> {
    tokio::time::timeout(PATIENCE, ask(spec, action, key, force, token))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}s", PATIENCE.as_secs())))
}

async fn ask(
    spec: &Spec,
    action: &str,
    key: Option<&str>,
    force: bool,
    token: Option<String>,
) -> Result<(Hello, Answer), String> {
    let (r, mut w) = connect_once(spec).await?;
    let mut reader = BufReader::new(r);
    let mut line = Vec::with_capacity(1024);
    let hello = greet(&mut reader, &mut line).await?;
    // A quiet subscription that also carries the token: breaker changes of the key only, or
    // of no key (its answer lists the keys it matches, which could be thousands).
    let quiet = Subscription {
        keys: vec![key.map_or_else(|| "!*".to_owned(), str::to_owned)],
        events: vec!["circuit"],
        max_rate: None,
        calls: CallFilter::All,
        token,
    };
    let control = Message::Control(Control {
        action: action.to_owned(),
        key: key.map(str::to_owned),
        force,
        common: Common::default(),
    });
    let mut out = quiet.line();
    control.encode(&mut out);
    w.write_all(&out)
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    let hello = if hello.anonymous() {
        introduced(&mut reader, &mut line).await?
    } else {
        hello
    };
    loop {
        line.clear();
        match read_line(&mut reader, &mut line).await {
            Ok(true) => {}
            Ok(false) => return Err("the service closed the connection".into()),
            Err(e) => return Err(e),
        }
        match wire::decode_line(&line) {
            Ok(Message::Controlled(c)) => return Ok((hello, Answer::Done(c))),
            Ok(Message::Error(e)) => {
                let answer = Answer::Refused {
                    code: e.code,
                    msg: e.msg,
                };
                return Ok((hello, answer));
            }
            _ => {} // the subscription's answer, breaker changes
        }
    }
}
