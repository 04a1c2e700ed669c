//! The emulator's shared state and its HTTP router.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::EmulatorConfig;
use super::active_directory::gate::{self, DirectorySource};
use super::apps::Apps;
use super::clock::Clock;
use super::faults::Faults;
use super::latency::{LatencyProfile, Operation};
use super::quota::Quotas;
use super::seed::{SeedSpec, seed_tenant};
use super::state::{Behaviour, Tenant};
use super::tenant_file::{self, Defaults, TenantFile, TenantFileError};
use super::token::TokenStore;
use super::{control, discovery, graph, token};

/// Counters the control endpoint reports.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Graph requests.
    pub requests: u64,
    /// Graph requests refused by a quota.
    pub throttled: u64,
    /// Requests failed by an injected fault (Graph and token endpoint).
    pub faulted: u64,
    /// Graph requests by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// Writes that succeeded.
    pub writes_accepted: u64,
    /// Writes that reached their route and were refused (4xx).
    pub writes_refused: u64,
    /// Accepted writes by operation.
    pub writes_by_operation: BTreeMap<&'static str, u64>,
    /// Tokens issued.
    pub tokens_issued: u64,
    /// Token requests refused (AADSTS errors, faults included).
    pub tokens_refused: u64,
    /// Token requests failed by an injected fault.
    pub tokens_faulted: u64,
    /// JSON batches run (malformed ones only count as requests).
    pub batches: u64,
    /// Requests answered inside batches (each also counts as a request).
    pub batch_items: u64,
}

impl Stats {
    /// Counts one Graph answer.
    pub fn record(&mut self, status: StatusCode) {
        self.requests += 1;
        *self.by_status.entry(status.as_u16()).or_insert(0) += 1;
    }
}

/// Everything behind the emulator's one mutex.
#[derive(Debug)]
pub struct Inner {
    /// Configuration (the default application's grants live in `apps`).
    pub config: EmulatorConfig,
    /// Registered applications and their grants.
    pub apps: Apps,
    /// Emulated clock.
    pub clock: Clock,
    /// The tenant.
    pub tenant: Tenant,
    /// Throttling buckets.
    pub quotas: Quotas,
    /// Issued tokens.
    pub tokens: TokenStore,
    /// Pending faults.
    pub faults: Faults,
    /// Counters.
    pub stats: Stats,
    /// Key of the `$skiptoken` checksum (random per start).
    pub token_key: u64,
}

impl Inner {
    /// Seeds the tenant of `config` (its tenant file if it has one, else generated), with the
    /// applications registered from it.
    pub fn new(config: EmulatorConfig, apps: Apps) -> Result<Self, TenantFileError> {
        let clock = Clock::new(config.time_scale);
        let mut apps = apps;
        let tenant = match &config.tenant_file {
            Some(file) => {
                apps.load(&file.apps)
                    .map_err(|e| TenantFileError(e.to_string()))?;
                Self::load(&config, &clock, file)?
            }
            None => Self::seed(&config, &clock, config.users, config.groups, config.seed),
        };
        let quotas = Quotas::new(clock.secs());
        Ok(Self {
            config,
            apps,
            clock,
            tenant,
            quotas,
            tokens: TokenStore::default(),
            faults: Faults::default(),
            stats: Stats::default(),
            token_key: fastrand::u64(..),
        })
    }

    /// The tenant a tenant file describes, at the clock's current time.
    pub fn load(
        config: &EmulatorConfig,
        clock: &Clock,
        file: &TenantFile,
    ) -> Result<Tenant, TenantFileError> {
        let defaults = Defaults {
            tenant_id: &config.tenant_id,
            tenant_name: &config.tenant_name,
            domain: &config.domain,
        };
        tenant_file::build(file, &defaults, clock.now(), Behaviour::from_config(config))
    }

    /// Seeds a tenant for `config` at the clock's current time.
    pub fn seed(
        config: &EmulatorConfig,
        clock: &Clock,
        users: usize,
        groups: usize,
        seed: u64,
    ) -> Tenant {
        let spec = SeedSpec {
            tenant_id: &config.tenant_id,
            tenant_name: &config.tenant_name,
            domain: &config.domain,
            users,
            groups,
            seed,
        };
        seed_tenant(&spec, clock.now(), Behaviour::from_config(config))
    }

    /// Replaces the tenant (same organization id) and resets counters and quotas. Tokens,
    /// faults, applications and the link to a real directory stay.
    pub fn install(&mut self, tenant: Tenant) {
        let link = self.tenant.directory.take();
        self.tenant = tenant;
        self.tenant.directory = link;
        self.quotas = Quotas::new(self.clock.secs());
        self.stats = Stats::default();
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// The state.
    pub inner: Mutex<Inner>,
    /// Latency of every answer (changeable at run time).
    pub latency: RwLock<LatencyProfile>,
    /// Where the server listens.
    pub addr: SocketAddr,
    /// `https` under TLS, else `http` (for absolute links).
    pub scheme: &'static str,
    /// The real Active Directory the sync client reads, when linked.
    pub directory: Option<DirectorySource>,
}

impl Shared {
    /// A delay to add before answering a request of this kind.
    pub fn delay(&self, operation: Operation) -> Duration {
        let profile = self.latency.read().unwrap_or_else(PoisonError::into_inner);
        if profile.is_zero() {
            Duration::ZERO
        } else {
            profile.sample(operation)
        }
    }

    /// The latency profile now.
    pub fn latency(&self) -> LatencyProfile {
        *self.latency.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the latency profile.
    pub fn set_latency(&self, profile: LatencyProfile) {
        *self.latency.write().unwrap_or_else(PoisonError::into_inner) = profile;
    }
}

/// Locks the state. A poisoned lock is taken over: handlers never panic while holding it,
/// and the state stays consistent between statements.
pub fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Routes: the token endpoint and the discovery documents MSAL reads first, the control
/// endpoints, and Graph for everything else.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::endpoint))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/common/discovery/instance", get(discovery::instance))
        .nest("/_emulator", control::router())
        .fallback(graph::handle)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            gate::middleware,
        ))
        .with_state(shared)
}
