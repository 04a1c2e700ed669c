//! The emulator's shared state and its HTTP router.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::EmulatorConfig;
use super::clock::Clock;
use super::faults::Faults;
use super::quota::Quotas;
use super::seed::{SeedSpec, seed_tenant};
use super::state::{Behaviour, Tenant};
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
    /// Configuration; `permissions` are the app's current grants.
    pub config: EmulatorConfig,
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
    /// Seeds the tenant of `config`.
    pub fn new(config: EmulatorConfig) -> Self {
        let clock = Clock::new(config.time_scale);
        let tenant = Self::seed(&config, &clock, config.users, config.groups, config.seed);
        let quotas = Quotas::new(tenant.users.len(), clock.secs());
        Self {
            config,
            clock,
            tenant,
            quotas,
            tokens: TokenStore::default(),
            faults: Faults::default(),
            stats: Stats::default(),
            token_key: fastrand::u64(..),
        }
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
    /// faults and permissions stay.
    pub fn install(&mut self, tenant: Tenant) {
        self.tenant = tenant;
        self.quotas = Quotas::new(self.tenant.users.len(), self.clock.secs());
        self.stats = Stats::default();
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// The state.
    pub inner: Mutex<Inner>,
    /// Added to every Graph response.
    pub latency: Duration,
    /// Where the server listens.
    pub addr: SocketAddr,
    /// `https` under TLS, else `http` (for absolute links).
    pub scheme: &'static str,
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
        .with_state(shared)
}
