//! What the handlers share: the emulator's state, each concern behind its own lock. It
//! imports no handler; `server.rs` hands it to the routers.
//!
//! The locks:
//! - the tenancy ([`Tenancy`]: the tenant, the emulated clock and the throttling buckets) is
//!   ONE lock, because a Graph request reads the clock, applies the flips that fell due, takes
//!   its quota charge and changes the tenant as one step; a reseed replaces the tenant and
//!   resets the quotas together; moving time and applying what fell due is one step too;
//! - the registered applications, the issued tokens, the pending faults and the counters
//!   each have their own, so the token endpoint and the control endpoints do not wait for a
//!   Graph request they share nothing with;
//! - the latency profile is read-mostly (an `RwLock`);
//! - the configuration, the `$skiptoken` key, the address and the scheme are fixed at start
//!   and need none; the link to a real directory keeps its own ([`DirectorySource`]).
//!
//! Lock order: the tenancy first, then at most ONE of the others at a time, each for a
//! statement or two (never the tenancy while holding another, never two of the others
//! together, nothing held across an `.await`), so no two requests can wait on each other.
//! A Graph request holds the tenancy for its whole pipeline (a batch for all its items) and
//! counts its statistics inside it, so a reseed (which resets them) falls between requests
//! as before. A poisoned lock is taken over: handlers never panic while holding one, and the
//! state stays consistent between statements.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use axum::http::StatusCode;

use super::EmulatorConfig;
use super::active_directory::source::DirectorySource;
use super::apps::Apps;
use super::clock::Clock;
use super::faults::Faults;
use super::latency::{LatencyProfile, Operation};
use super::quota::Quotas;
use super::seed::{SeedSpec, seed_tenant};
use super::state::{Behaviour, DirectoryLink, Tenant};
use super::tenant_file::{self, Defaults, TenantFile, TenantFileError};
use super::token::store::TokenStore;

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
    /// Writes refused by a quota (429).
    pub writes_throttled: u64,
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

/// The tenant with the time it runs on and the buckets that throttle it: what a Graph request
/// reads and changes in one critical section.
#[derive(Debug)]
pub struct Tenancy {
    /// Emulated clock.
    pub clock: Clock,
    /// The tenant.
    pub tenant: Tenant,
    /// Throttling buckets.
    pub quotas: Quotas,
}

impl Tenancy {
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

    /// Applies the flips, cycles and purges due now.
    pub fn apply_due(&mut self) {
        let now = self.clock.now();
        self.tenant.apply_due(now);
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// Configuration, fixed at start (the applications' grants live in `apps`).
    pub config: EmulatorConfig,
    /// Key of the `$skiptoken` checksum (random per start).
    pub token_key: u64,
    /// Where the server listens.
    pub addr: SocketAddr,
    /// `https` under TLS, else `http` (for absolute links).
    pub scheme: &'static str,
    /// The real Active Directory the sync client reads, when linked.
    pub directory: Option<DirectorySource>,
    tenancy: Mutex<Tenancy>,
    apps: Mutex<Apps>,
    tokens: Mutex<TokenStore>,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    latency: RwLock<LatencyProfile>,
}

fn take<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Seeds the tenant of `config` (its tenant file if it has one, else generated), with the
    /// applications registered from it, linked to the real directory `config` names.
    pub fn new(
        config: EmulatorConfig,
        apps: Apps,
        addr: SocketAddr,
        scheme: &'static str,
    ) -> Result<Self, TenantFileError> {
        let clock = Clock::new(config.time_scale);
        let mut apps = apps;
        let mut tenant = match &config.tenant_file {
            Some(file) => {
                apps.load(&file.apps)
                    .map_err(|e| TenantFileError(e.to_string()))?;
                Tenancy::load(&config, &clock, file)?
            }
            None => Tenancy::seed(&config, &clock, config.users, config.groups, config.seed),
        };
        let directory = config.active_directory.clone();
        if let Some(ad) = &directory {
            tenant.directory = Some(DirectoryLink::new(ad.scope()));
        }
        let quotas = Quotas::new(clock.secs(), config.quota_settings);
        Ok(Self {
            latency: RwLock::new(config.latency),
            config,
            token_key: fastrand::u64(..),
            addr,
            scheme,
            directory: directory.map(DirectorySource::new),
            tenancy: Mutex::new(Tenancy {
                clock,
                tenant,
                quotas,
            }),
            apps: Mutex::new(apps),
            tokens: Mutex::new(TokenStore::default()),
            faults: Mutex::new(Faults::default()),
            stats: Mutex::new(Stats::default()),
        })
    }

    /// Locks the tenancy (first, before any other lock).
    pub fn tenancy(&self) -> MutexGuard<'_, Tenancy> {
        take(&self.tenancy)
    }

    /// Locks the registered applications and their grants.
    pub fn apps(&self) -> MutexGuard<'_, Apps> {
        take(&self.apps)
    }

    /// Locks the issued tokens.
    pub fn tokens(&self) -> MutexGuard<'_, TokenStore> {
        take(&self.tokens)
    }

    /// Locks the pending faults.
    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        take(&self.faults)
    }

    /// Locks the counters.
    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        take(&self.stats)
    }

    /// Replaces the tenant (same organization id) and resets counters and quotas. Tokens,
    /// faults, applications and the link to a real directory stay.
    pub fn install(&self, tenancy: &mut Tenancy, tenant: Tenant) {
        let link = tenancy.tenant.directory.take();
        tenancy.tenant = tenant;
        tenancy.tenant.directory = link;
        tenancy.quotas = Quotas::new(tenancy.clock.secs(), tenancy.quotas.settings());
        *self.stats() = Stats::default();
    }

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
