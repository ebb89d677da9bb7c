//! Payments: the card network behind a resilient client.

mod refunds;

use recourse_engine::{Executor, Key, KeyHandle, key};

use crate::keys;

pub struct Payments {
    exec: Executor,
    capture: KeyHandle,
}

impl Payments {
    const AUTHORIZE: &'static str = "payments.Authorize";

    pub fn new(exec: Executor) -> Payments {
        let capture = exec.key("payments.Capture");
        Payments { exec, capture }
    }

    pub async fn charge(&self, card: &Card) -> Result<Receipt, Error> {
        self.exec
            .call(keys::CHARGE, |_| async { gateway::charge(card).await })
            .await
            .map_err(Error::from)
    }

    pub async fn authorize(&self, card: &Card) -> Result<Receipt, Error> {
        self.exec.call(Self::AUTHORIZE, |_| gateway::authorize(card)).await.map_err(Error::from)
    }

    pub async fn tokenize(&self, card: &Card) -> Result<Token, Error> {
        self.exec
            .call::<Token, GatewayError, _, _>("payments.Tokenize", |_| gateway::tokenize(card))
            .await
            .map_err(Error::from)
    }

    pub async fn capture(&self, id: &str) -> Result<(), Error> {
        self.capture.call(|_| gateway::capture(id)).await.map_err(Error::from)
    }

    pub async fn settle(&self) -> Result<(), Error> {
        self.exec
            .call(concat!("payments", ".", "Settle"), |_| gateway::settle())
            .await
            .map_err(Error::from)
    }

    pub async fn void(&self, id: &str) -> Result<(), Error> {
        self.exec.call(key!("payments.Void"), |_| gateway::void(id)).await.map_err(Error::from)
    }

    pub async fn per_merchant(&self, merchant: u64) -> Result<(), Error> {
        self.exec
            .call(&format!("payments.merchant{merchant}"), |_| gateway::ping())
            .await
            .map_err(Error::from)
    }

    pub fn statement_key(&self) -> Key {
        Key::new("payments", "Statement")
    }
}
