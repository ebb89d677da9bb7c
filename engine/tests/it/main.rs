//! The engine's integration tests: one binary, one module per behaviour. Tests of what
//! every call follows keep the number of the scenario they check (`s017_...`); all run on
//! virtual time.

#![allow(
    unreachable_pub,
    missing_docs,
    missing_debug_implementations,
    dead_code
)]

mod support;

mod budget_outcomes;
mod budgets;
mod bulkhead;
mod circuit_breaking;
mod classifiers;
mod deps;
mod docs;
mod event_schema;
#[cfg(all(feature = "export", unix))]
mod export;
#[cfg(all(feature = "export", unix))]
mod export_control;
#[cfg(all(feature = "export", target_os = "linux"))]
mod export_hostile;
mod facade;
mod fleet;
#[cfg(feature = "redis")]
mod fleet_redis;
mod handles;
mod hedging;
#[cfg(feature = "yaml")]
mod hot_reload;
#[cfg(any(feature = "tower", feature = "reqwest"))]
mod http_server;
#[cfg(any(feature = "opentelemetry", feature = "tracing"))]
mod integrations_observers;
#[cfg(feature = "reqwest")]
mod integrations_reqwest;
#[cfg(feature = "tonic")]
mod integrations_tonic;
#[cfg(feature = "tower")]
mod integrations_tower;
mod keys;
mod manual_control;
mod observability;
mod observer_end;
mod panics_and_missing_policies;
mod policy_defaults;
#[cfg(all(feature = "yaml", feature = "tooling"))]
mod policy_files;
mod props;
mod props_hedge;
#[cfg(feature = "yaml")]
mod provider_budgets;
mod rate_breaker;
mod remote;
#[cfg(feature = "remote-http")]
mod remote_bundle;
#[cfg(feature = "remote-http")]
mod remote_http;
mod retries_and_backoff;
mod send;
mod shadow;
mod stress;
mod timeouts_and_cancellation;
#[cfg(feature = "export")]
mod wire;
