//! An HTTP control plane for [`RemoteProvider`](super::RemoteProvider) (feature `remote-http`).
//!
//! `GET {base}/{key}` answers a policy as JSON (the policy file's field names, durations with
//! units). The source remembers each key's `ETag` and sends `If-None-Match`, so an unchanged
//! policy costs a `304 Not Modified`. `404` is "not found" (cached for the negative TTL); any
//! other status, an invalid body or a transport error is a failure (the last known good policy
//! is served).
//!
//! [`HttpBundle`] fetches the whole policy document instead, for the bundle mode.

use std::collections::HashMap;
use std::sync::Mutex;

use super::remote::{Bundle, BundleFuture, BundleSource, FetchError, RemoteSource, SourceFuture};
use crate::key::Key;
use crate::policy::{MAX_FILE_BYTES, Policy, PolicySet};

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

/// A whole policy document over HTTP, for [`RemoteProvider::bundle`](super::RemoteProvider::bundle):
/// `GET {url}` answers the document (YAML, or JSON; a URL ending in `.json` must hold strict
/// JSON).
///
/// The source keeps the document's validators and makes every later request conditional
/// (`If-None-Match` with its `ETag`, `If-Modified-Since` with its `Last-Modified`), so an
/// unchanged document costs a `304 Not Modified` and no parse. Any static file server is a
/// control plane: serve the policy file, and every replica polls it once per TTL. A document
/// larger than a policy file may be, a body that does not parse, any status but 200 and 304,
/// or a transport error is a failure: the last document is served meanwhile.
#[derive(Debug)]
pub struct HttpBundle {
    client: reqwest::Client,
    url: String,
    validators: Mutex<Option<Validators>>,
}

/// What identifies the document in hand to the server.
#[derive(Clone, Debug, Default)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

impl HttpBundle {
    /// A source fetching the document at `url`.
    pub fn new(url: impl Into<String>) -> HttpBundle {
        HttpBundle::with_client(reqwest::Client::new(), url)
    }

    /// A source using `client` (timeouts, TLS, proxies as the service configures them).
    pub fn with_client(client: reqwest::Client, url: impl Into<String>) -> HttpBundle {
        HttpBundle {
            client,
            url: url.into(),
            validators: Mutex::new(None),
        }
    }

    fn validators(&self) -> std::sync::MutexGuard<'_, Option<Validators>> {
        self.validators.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn get(&self) -> Result<Bundle, FetchError> {
        use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
        let failed = |e: &dyn std::fmt::Display| FetchError::Failed(e.to_string());
        let known = self.validators().clone();
        let mut req = self.client.get(&self.url);
        if let Some(v) = &known {
            if let Some(etag) = &v.etag {
                req = req.header(IF_NONE_MATCH, etag);
            }
            if let Some(date) = &v.last_modified {
                req = req.header(IF_MODIFIED_SINCE, date);
            }
        }
        let mut resp = req.send().await.map_err(|e| failed(&e))?;
        match resp.status().as_u16() {
            200 => {
                let header = |name| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let validators = Validators {
                    etag: header(ETAG),
                    last_modified: header(LAST_MODIFIED),
                };
                let too_large = || {
                    FetchError::Failed(format!(
                        "the policy document at {} is over {MAX_FILE_BYTES} bytes",
                        self.url
                    ))
                };
                if resp.content_length().is_some_and(|n| n > MAX_FILE_BYTES) {
                    return Err(too_large());
                }
                let mut body = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(|e| failed(&e))? {
                    body.extend_from_slice(&chunk);
                    if body.len() as u64 > MAX_FILE_BYTES {
                        return Err(too_large());
                    }
                }
                let text = String::from_utf8_lossy(&body).into_owned();
                let set = PolicySet::from_bytes(body, &self.url).map_err(|e| {
                    FetchError::Failed(format!(
                        "invalid policy document from the control plane: {e}"
                    ))
                })?;
                *self.validators() = Some(validators);
                Ok(Bundle::Changed(Box::new(set), text))
            }
            304 if known.is_some() => Ok(Bundle::Unchanged),
            304 => Err(FetchError::Failed(
                "304 without a document in hand".to_owned(),
            )),
            s => Err(FetchError::Failed(format!(
                "the control plane answered {s} for {}",
                self.url
            ))),
        }
    }
}

impl BundleSource for HttpBundle {
    fn fetch(&self) -> BundleFuture<'_> {
        Box::pin(self.get())
    }
}
