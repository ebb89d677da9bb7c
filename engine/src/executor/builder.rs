use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rustc_hash::FxHashMap;

use super::backoff::Rng;
use super::mode::{MissingMode, Modes};
use super::{Executor, Inner, Watcher};
use crate::budget::{Budget, Unlimited};
use crate::classify::{Always, Auto, CarrierFn, Classifier, Http, HttpCarrier, carrier_fn};
use crate::clock::Clock;
use crate::fleet::{FleetLink, FleetStore};
use crate::hedge::{FixedDelay, Percentile, Trigger};
use crate::observe::{Fanout, Observer};
use crate::policy::Policy;
use crate::provider::{Layered, Provider, StaticProvider};

use super::budgets::BudgetRegistry;

/// Why an executor could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A budget was registered under an empty (or blank) name.
    #[error("budget name cannot be empty")]
    EmptyBudgetName,
    /// A classifier was registered under an empty (or blank) name.
    #[error("classifier name cannot be empty")]
    EmptyClassifierName,
    /// A trigger was registered under an empty (or blank) name.
    #[error("trigger name cannot be empty")]
    EmptyTriggerName,
    /// The default classifier names no registered classifier.
    #[error("default classifier {0:?} is not registered")]
    UnknownDefaultClassifier(String),
    /// A default policy was given in code along with a provider, which answers every key
    /// itself (its own defaults included): the default policy would never be used.
    #[error(
        "a default policy and a provider were both given: the provider answers every key the \
         policies given in code do not; put the default in the provider (a policy file's \
         `defaults`)"
    )]
    DefaultPolicyWithProvider,
    /// The fleet store named by the environment (`RECOURSE_REDIS_URL`) cannot be used.
    #[error("the fleet store in RECOURSE_REDIS_URL cannot be used: {0}")]
    FleetFromEnv(crate::fleet::FleetError),
}

/// Builds an [`Executor`]. Registries are filled here and are immutable afterwards.
pub struct ExecutorBuilder {
    provider: Option<Arc<dyn Provider>>,
    statics: StaticProvider,
    observers: Vec<Arc<dyn Observer>>,
    clock: Option<Clock>,
    seed: Option<u64>,
    classifiers: FxHashMap<String, Arc<dyn Classifier>>,
    default_classifier: String,
    http_extra: Vec<u16>,
    carriers: Vec<CarrierFn>,
    budgets: FxHashMap<String, Arc<dyn Budget>>,
    triggers: FxHashMap<String, Arc<dyn Trigger>>,
    modes: Modes,
    recover_panics: bool,
    max_keys: usize,
    errors: Vec<BuildError>,
    fleet: Option<Arc<dyn FleetStore>>,
    #[cfg(feature = "export")]
    export: Option<crate::export::ExportConfig>,
}

impl std::fmt::Debug for ExecutorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorBuilder").finish_non_exhaustive()
    }
}

impl Default for ExecutorBuilder {
    fn default() -> ExecutorBuilder {
        ExecutorBuilder::new()
    }
}

impl ExecutorBuilder {
    /// The defaults (see [`Executor::builder`]).
    pub fn new() -> ExecutorBuilder {
        ExecutorBuilder {
            provider: None,
            statics: StaticProvider::new(),
            observers: Vec::new(),
            clock: None,
            seed: None,
            classifiers: FxHashMap::default(),
            default_classifier: "auto".to_owned(),
            http_extra: Vec::new(),
            carriers: Vec::new(),
            budgets: FxHashMap::default(),
            triggers: FxHashMap::default(),
            modes: Modes::default(),
            recover_panics: false,
            max_keys: 10_000,
            #[cfg(feature = "export")]
            export: None,
            errors: Vec::new(),
            fleet: None,
        }
    }

    /// Keeps the budgets declared with `scope: fleet` in `store`, shared with every replica
    /// that uses the same store and service name (docs/fleet.md). Without it, and with the
    /// `redis` feature, the executor connects to the Redis named by `RECOURSE_REDIS_URL` when
    /// that is set; with neither, fleet budgets spend from their local fallback.
    ///
    /// ```
    /// use recourse_engine::{Executor, fleet::MemoryFleet};
    ///
    /// let store = MemoryFleet::new();
    /// let exec = Executor::builder().fleet(store).build().unwrap();
    /// # drop(exec);
    /// ```
    pub fn fleet(mut self, store: impl FleetStore + 'static) -> Self {
        self.fleet = Some(Arc::new(store));
        self
    }

    /// Uses `provider` for policies. Policies given with [`policy`](Self::policy) still win for
    /// the keys (and `namespace.*`) they name; every other key is the provider's. The budgets
    /// its policies declare are built and follow its reloads ([`Provider::budgets`]).
    pub fn provider(mut self, provider: impl Provider + 'static) -> Self {
        self.provider = Some(Arc::new(provider));
        self
    }

    /// Uses a shared provider (see [`provider`](Self::provider)).
    pub fn provider_arc(mut self, provider: Arc<dyn Provider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Uses a loaded [`PolicySet`](crate::PolicySet) for policies, and the budgets it declares
    /// (budgets registered in code with the same name win): [`provider`](Self::provider) with
    /// a set.
    pub fn policy_set(self, set: crate::PolicySet) -> Self {
        self.provider(set)
    }

    /// A policy for `key` (`namespace.*` for a namespace default), given in code. Later calls
    /// win; with a [`provider`](Self::provider) too, it wins over the provider's for that key.
    pub fn policy(mut self, key: &str, policy: Policy) -> Self {
        self.statics.insert(key, policy);
        self
    }

    /// A policy for every key nothing else covers, for an executor without a provider (one
    /// with a provider fails to build: the provider answers every such key).
    pub fn default_policy(mut self, policy: Policy) -> Self {
        self.statics = std::mem::take(&mut self.statics).with_default(policy);
        self
    }

    /// Adds an observer (several are fanned out in order).
    pub fn observer(mut self, observer: impl Observer + 'static) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// Adds a shared observer.
    pub fn observer_arc(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Uses `clock` for every timer and timestamp (a [`VirtualClock`](crate::clock::VirtualClock)'s
    /// in tests and simulations). Default: [`Clock::tokio`]; with the `tsc` feature,
    /// `Clock::tsc` is cheaper to read.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Seeds the jitter source, so jittered backoffs are reproducible.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Registers a classifier under `name` (trimmed). A built-in name is replaced.
    pub fn classifier(mut self, name: &str, classifier: impl Classifier + 'static) -> Self {
        let name = name.trim();
        if name.is_empty() {
            self.errors.push(BuildError::EmptyClassifierName);
        } else {
            self.classifiers
                .insert(name.to_owned(), Arc::new(classifier));
        }
        self
    }

    /// The classifier used when a policy names none. Default `auto`.
    pub fn default_classifier(mut self, name: &str) -> Self {
        self.default_classifier = name.trim().to_owned();
        self
    }

    /// Lets the `http` and `auto` classifiers find `T` in error chains.
    pub fn http_carrier<T: HttpCarrier + std::error::Error + 'static>(mut self) -> Self {
        self.carriers.push(carrier_fn::<T>());
        self
    }

    /// Statuses the `http` and `auto` classifiers also retry (with Retry-After).
    pub fn http_extra_retryable(mut self, codes: impl IntoIterator<Item = u16>) -> Self {
        self.http_extra.extend(codes);
        self
    }

    /// Registers a budget under `name` (trimmed). It wins over a budget of the same name that
    /// the provider's policies declare.
    pub fn budget(self, name: &str, budget: impl Budget + 'static) -> Self {
        self.budget_arc(name, Arc::new(budget))
    }

    /// Registers a shared budget under `name` (trimmed).
    pub fn budget_arc(mut self, name: &str, budget: Arc<dyn Budget>) -> Self {
        let name = name.trim();
        if name.is_empty() {
            self.errors.push(BuildError::EmptyBudgetName);
        } else {
            self.budgets.insert(name.to_owned(), budget);
        }
        self
    }

    /// Registers a hedge trigger under `name` (trimmed). Built in: `fixed_delay`, `p50`,
    /// `p90`, `p95`, `p99`.
    pub fn trigger(mut self, name: &str, trigger: impl Trigger + 'static) -> Self {
        let name = name.trim();
        if name.is_empty() {
            self.errors.push(BuildError::EmptyTriggerName);
        } else {
            self.triggers.insert(name.to_owned(), Arc::new(trigger));
        }
        self
    }

    /// What to do when a policy names an unregistered hedge trigger. Default
    /// [`MissingMode::Fallback`]: hedge on the fixed delay and record `hedge_trigger=fallback`;
    /// [`MissingMode::Deny`]: no hedges, `hedge_trigger_error=trigger_not_found`.
    pub fn missing_trigger(mut self, mode: MissingMode) -> Self {
        self.modes.trigger = mode;
        self
    }

    /// What to do when the provider fails. Default [`MissingMode::Deny`].
    pub fn missing_policy(mut self, mode: MissingMode) -> Self {
        self.modes.policy = mode;
        self
    }

    /// What to do when a policy names an unregistered classifier. Default
    /// [`MissingMode::Fallback`] (the default classifier, with attributes on each attempt).
    pub fn missing_classifier(mut self, mode: MissingMode) -> Self {
        self.modes.classifier = mode;
        self
    }

    /// What to do when a policy names an unregistered budget. Default [`MissingMode::Deny`].
    pub fn missing_budget(mut self, mode: MissingMode) -> Self {
        self.modes.budget = mode;
        self
    }

    /// Catch panics in the provider, classifiers and budgets and turn them into errors
    /// (`panic_in_classifier`, `panic_in_budget`). Panics in the operation always unwind to
    /// the caller. Default off.
    pub fn recover_panics(mut self, on: bool) -> Self {
        self.recover_panics = on;
        self
    }

    /// At most this many key spellings get a state of their own (default 10,000): a compiled
    /// policy, a breaker, a latency tracker. Further keys share one breaker and tracker, and
    /// the last 1,024 of them used keep their compiled policy (`overflow_calls` counts their
    /// calls: such keys are not low-cardinality, `recourse lint` says why).
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// Makes the executor's calls available to `recourse tail` (feature `export`); start the
    /// server with [`ExportServer::start`](crate::export::ExportServer::start).
    #[cfg(feature = "export")]
    pub fn export(mut self, config: crate::export::ExportConfig) -> Self {
        self.export = Some(config);
        self
    }

    /// Builds the executor.
    ///
    /// # Errors
    ///
    /// An empty classifier or budget name, or a default classifier that is not registered.
    pub fn build(self) -> Result<Executor, BuildError> {
        if let Some(e) = self.errors.first() {
            return Err(e.clone());
        }
        let fleet = self.fleet_link()?;
        let mut http = Http::default().with_extra_retryable(self.http_extra);
        for c in self.carriers {
            http = http.with_carrier(c);
        }
        let mut classifiers: FxHashMap<String, Arc<dyn Classifier>> = FxHashMap::default();
        classifiers.insert("always".into(), Arc::new(Always));
        classifiers.insert("auto".into(), Arc::new(Auto::with_http(http.clone())));
        classifiers.insert("http".into(), Arc::new(http));
        #[cfg(feature = "tonic")]
        classifiers.insert("grpc".into(), Arc::new(crate::classify::Grpc::default()));
        classifiers.extend(self.classifiers);
        let default_classifier = classifiers.get(&self.default_classifier).cloned().ok_or(
            BuildError::UnknownDefaultClassifier(self.default_classifier),
        )?;
        let mut budgets: FxHashMap<String, Arc<dyn Budget>> = FxHashMap::default();
        budgets.insert("unlimited".into(), Arc::new(Unlimited));
        budgets.extend(self.budgets);
        let budgets = BudgetRegistry::new(budgets, fleet);
        let mut triggers: FxHashMap<String, Arc<dyn Trigger>> = FxHashMap::default();
        triggers.insert("fixed_delay".into(), Arc::new(FixedDelay));
        for p in ["p50", "p90", "p95", "p99"] {
            if let Some(t) = Percentile::named(p) {
                triggers.insert(p.into(), Arc::new(t));
            }
        }
        triggers.extend(self.triggers);
        let observer: Option<Arc<dyn Observer>> = match self.observers.len() {
            0 => None,
            1 => self.observers.into_iter().next(),
            _ => Some(Arc::new(Fanout::new(self.observers))),
        };
        let observer = observer.map(|observer| Watcher {
            detail: observer.detail(),
            observer,
        });
        let fixed = self.provider.is_none();
        let provider: Arc<dyn Provider> = match self.provider {
            None => Arc::new(self.statics),
            Some(_) if self.statics.has_default() => {
                return Err(BuildError::DefaultPolicyWithProvider);
            }
            Some(base) if self.statics.is_empty() => base,
            Some(base) => Arc::new(Layered {
                statics: self.statics,
                base,
            }),
        };
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x5EED)
        });
        Ok(Executor {
            inner: Arc::new(Inner {
                provider,
                fixed,
                observer,
                clock: self.clock.unwrap_or_default(),
                rng: Rng::new(seed),
                classifiers,
                default_classifier,
                budgets,
                triggers,
                modes: self.modes,
                recover_panics: self.recover_panics,
                keys: super::key_table::KeyTable::new(),
                max_keys: self.max_keys,
                overflow: Arc::default(),
                overflow_states: (0..super::OVERFLOW_SLOTS)
                    .map(|_| ArcSwapOption::empty())
                    .collect(),
                overflow_calls: Default::default(),
                #[cfg(feature = "export")]
                export: self.export.map(|config| super::Export {
                    hub: Arc::new(crate::export::hub::Hub::new(
                        config.source_queue,
                        self.max_keys,
                        config.backfill > 0,
                    )),
                    config,
                }),
            }),
        })
    }

    /// The fleet store given in code, else the one the environment names, with the name the
    /// budgets are shared under: the store's namespace, else the export's service name, else
    /// the executable's name.
    fn fleet_link(&self) -> Result<Option<FleetLink>, BuildError> {
        let store = match &self.fleet {
            Some(store) => store.clone(),
            None => match from_env()? {
                Some(store) => store,
                None => return Ok(None),
            },
        };
        #[cfg(feature = "export")]
        let service = self.export.as_ref().map(|e| e.service().to_owned());
        #[cfg(not(feature = "export"))]
        let service: Option<String> = None;
        let namespace = store
            .settings()
            .namespace
            .or(service)
            .unwrap_or_else(executable_name);
        Ok(Some(FleetLink {
            store,
            namespace,
            seed: self.seed,
        }))
    }
}

/// The Redis the environment names, if any.
#[cfg(feature = "redis")]
fn from_env() -> Result<Option<Arc<dyn FleetStore>>, BuildError> {
    match std::env::var(crate::fleet::REDIS_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => crate::fleet::RedisFleet::connect(url.trim())
            .map(|r| Some(Arc::new(r) as Arc<dyn FleetStore>))
            .map_err(BuildError::FleetFromEnv),
        _ => Ok(None),
    }
}

#[cfg(not(feature = "redis"))]
fn from_env() -> Result<Option<Arc<dyn FleetStore>>, BuildError> {
    Ok(None)
}

/// The running executable's file name, without extension: a service's name when it gave none.
fn executable_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "service".to_owned())
}
