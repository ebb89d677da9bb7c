//! An HTTP control plane for [`RemoteProvider`](super::RemoteProvider) (feature `remote-http`).
//!
//! `GET {base}/{key}` answers a policy as JSON (the policy file's field names, durations with
//! units). The source remembers each key's `ETag` and sends `If-None-Match`, so an unchanged
//! policy costs a `304 Not Modified`. `404` is "not found" (cached for the negative TTL); any
//! other status, an invalid body or a transport error is a failure (the last known good policy
//! is served).

use std::collections::HashMap;
use std::sync::Mutex;

use super::remote::{FetchError, RemoteSource, SourceFuture};
use crate::key::Key;
use crate::policy::Policy;

/// An HTTP policy source.
#[derive(Debug)]
pub struct HttpSource {
    client: reqwest::Client,
    base: String,
    etags: Mutex<HashMap<Key, (String, Policy)>>,
}

impl HttpSource {
    /// A source fetching `{base_url}/{key}`.
    pub fn new(base_url: impl Into<String>) -> HttpSource {
        HttpSource::with_client(reqwest::Client::new(), base_url)
    }

    /// A source using `client` (timeouts, TLS, proxies as the service configures them).
    pub fn with_client(client: reqwest::Client, base_url: impl Into<String>) -> HttpSource {
        HttpSource {
            client,
            base: base_url.into().trim_end_matches('/').to_owned(),
            etags: Mutex::new(HashMap::new()),
        }
    }

    fn etag(&self, key: &Key) -> Option<(String, Policy)> {
        self.etags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }
}

impl RemoteSource for HttpSource {
    fn fetch<'a>(&'a self, key: &'a Key) -> SourceFuture<'a> {
        Box::pin(async move {
            let failed = |e: &dyn std::fmt::Display| FetchError::Failed(e.to_string());
            let known = self.etag(key);
            let mut req = self.client.get(format!("{}/{}", self.base, key));
            if let Some((etag, _)) = &known {
                req = req.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            let resp = req.send().await.map_err(|e| failed(&e))?;
            match resp.status().as_u16() {
                200 => {
                    let etag = resp
                        .headers()
                        .get(reqwest::header::ETAG)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let body = resp.text().await.map_err(|e| failed(&e))?;
                    let policy: Policy = serde_json::from_str(&body).map_err(|e| {
                        FetchError::Failed(format!("invalid policy from the control plane: {e}"))
                    })?;
                    if let Some(etag) = etag {
                        self.etags
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(key.clone(), (etag, policy.clone()));
                    }
                    Ok(policy)
                }
                304 => known
                    .map(|(_, p)| p)
                    .ok_or_else(|| FetchError::Failed("304 without a cached policy".to_owned())),
                404 => Err(FetchError::NotFound),
                s => Err(FetchError::Failed(format!("control plane answered {s}"))),
            }
        })
    }
}
