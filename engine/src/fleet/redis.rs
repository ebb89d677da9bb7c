use std::sync::OnceLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::pool::{FLOOR_SHARE, TTL_INTERVALS};
use super::{FleetError, FleetSettings, FleetStore, Grant, Pool, SyncFuture, SyncRequest};

/// The environment variable an executor reads a Redis address from when no fleet store is
/// given in code (`redis://host:6379`, `rediss://…` for TLS where the service enabled it).
pub const REDIS_URL_ENV: &str = "RECOURSE_REDIS_URL";

/// A fleet store on Redis (or a server speaking its protocol: Valkey, Dragonfly).
///
/// Each settlement is one `EVALSHA` of a short Lua script on one hash-tagged key,
/// `recourse:{<namespace>:<budget>}`, so it never spans Redis Cluster slots (a client that
/// follows Cluster redirections is not built in: give it one endpoint). The script reads Redis's
/// own clock (`TIME`). The connection is made on first use and remade after a failure by
/// `redis`'s connection manager; a settlement never waits longer than the settings' timeout.
///
/// ```no_run
/// use recourse_engine::{Executor, fleet::RedisFleet};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let exec = Executor::builder()
///     .fleet(RedisFleet::connect("redis://127.0.0.1:6379")?.namespace("payments"))
///     .build()?;
/// # drop(exec); Ok(()) }
/// ```
pub struct RedisFleet {
    client: redis::Client,
    manager: OnceLock<Result<ConnectionManager, String>>,
    script: redis::Script,
    settings: FleetSettings,
}

impl std::fmt::Debug for RedisFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The address may hold a password: only the host is shown.
        f.debug_struct("RedisFleet")
            .field(
                "addr",
                &self.client.get_connection_info().addr().to_string(),
            )
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RedisFleet {
    /// A store at `url` (`redis://[user:password@]host[:port][/db]`). Nothing is connected yet:
    /// the first settlement connects.
    ///
    /// # Errors
    ///
    /// [`FleetError::Address`] when `url` is not a Redis address.
    pub fn connect(url: &str) -> Result<RedisFleet, FleetError> {
        let client = redis::Client::open(url).map_err(|e| FleetError::Address(e.to_string()))?;
        Ok(RedisFleet {
            client,
            manager: OnceLock::new(),
            script: redis::Script::new(include_str!("settle.lua")),
            settings: FleetSettings::default(),
        })
    }

    /// The nominal sync interval (default 750ms: a settlement every 0.5–1 s).
    pub fn interval(mut self, interval: Duration) -> RedisFleet {
        self.settings.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The most one settlement may take (default 100ms).
    pub fn timeout(mut self, timeout: Duration) -> RedisFleet {
        self.settings.timeout = timeout;
        self
    }

    /// The name budgets are shared under (default: the service's name).
    pub fn namespace(mut self, namespace: impl Into<String>) -> RedisFleet {
        self.settings.namespace = Some(namespace.into());
        self
    }

    fn manager(&self) -> Result<ConnectionManager, FleetError> {
        let timeout = self.settings.timeout;
        let made = self.manager.get_or_init(|| {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1)
                .set_min_delay(timeout / 4)
                .set_max_delay(timeout);
            ConnectionManager::new_lazy_with_config(self.client.clone(), config)
                .map_err(|e| e.to_string())
        });
        made.clone().map_err(FleetError::Store)
    }

    async fn settle(&self, req: &SyncRequest) -> Result<Grant, FleetError> {
        match self.invoke(req).await {
            // The connection manager answers the first request after an outage with the old
            // connection's error, and reconnects: one more try finds a server that is back.
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() => {
                self.invoke(req).await
            }
            answer => answer,
        }
        .map_err(|e| FleetError::Store(e.to_string()))
        .and_then(|answer| grant(&answer))
    }

    async fn invoke(&self, req: &SyncRequest) -> redis::RedisResult<Answer> {
        let mut con = self.manager().map_err(|e| {
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "connection manager",
                e.to_string(),
            ))
        })?;
        let (kind, p1, p2, p3) = match req.pool {
            Pool::TokenBucket {
                capacity,
                refill_per_second,
            } => ("bucket", capacity, refill_per_second, 0.0),
            Pool::Ratio {
                ratio,
                min_per_second,
                window,
            } => ("ratio", ratio, min_per_second, window.as_secs_f64()),
        };
        self.script
            .key(format!("recourse:{{{}}}", req.budget))
            .arg(req.replica.to_string())
            .arg(req.epoch.to_string())
            .arg(req.held)
            .arg(req.returned_milli)
            .arg(req.received_milli)
            .arg(req.denied)
            .arg(req.first_attempts)
            .arg(kind)
            .arg(p1)
            .arg(p2)
            .arg(p3)
            .arg(req.interval.as_micros() as u64)
            .arg(TTL_INTERVALS)
            .arg(FLOOR_SHARE)
            .invoke_async(&mut con)
            .await
    }
}

/// The script's answer: the lease's change in thousandths, the epoch, the replicas, the share
/// in billionths, and the tokens available.
type Answer = (i64, String, i64, String, String);

fn grant(answer: &Answer) -> Result<Grant, FleetError> {
    let (change_milli, epoch, replicas, share, available) = answer;
    let malformed = |what: &str| FleetError::Malformed(format!("{what} in {answer:?}"));
    Ok(Grant {
        change_milli: *change_milli,
        epoch: epoch.parse().map_err(|_| malformed("epoch"))?,
        replicas: u32::try_from(*replicas).map_err(|_| malformed("replicas"))?,
        share: share.parse::<f64>().map_err(|_| malformed("share"))? / 1e9,
        available: available.parse().map_err(|_| malformed("available"))?,
    })
}

impl FleetStore for RedisFleet {
    fn sync<'a>(&'a self, request: &'a SyncRequest) -> SyncFuture<'a> {
        Box::pin(self.settle(request))
    }

    fn settings(&self) -> FleetSettings {
        self.settings.clone()
    }
}
