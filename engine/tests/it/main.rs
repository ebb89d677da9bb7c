//! The engine's integration tests: one binary, one module per area. Tests of the behaviour
//! every call follows are numbered (`s017_...`) after the scenario they check; all run on
//! virtual time.

#![allow(
    unreachable_pub,
    missing_docs,
    missing_debug_implementations,
    dead_code
)]

mod support;

mod deps;
mod docs;
mod event_schema;
#[cfg(all(feature = "export", unix))]
mod export;
#[cfg(all(feature = "export", target_os = "linux"))]
mod export_hostile;
mod handles;
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
#[cfg(all(feature = "yaml", feature = "tooling"))]
mod policy_files;
mod props;
mod props_hedge;
#[cfg(feature = "yaml")]
mod provider_budgets;
mod remote;
#[cfg(feature = "remote-http")]
mod remote_http;
mod s_a_keys;
mod s_b_policy;
mod s_c_d_execution;
mod s_e_timeouts;
mod s_f_classifiers;
mod s_g_h_panics_policies;
mod s_i_budgets;
mod s_j_hedging;
mod s_k_circuit;
mod s_m_observability;
mod s_o_facade;
mod send;
mod stress;
#[cfg(feature = "export")]
mod wire;
