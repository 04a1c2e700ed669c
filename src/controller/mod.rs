//! The operator in a cluster: kube-runtime controllers around the Kubernetes-free reconcilers,
//! leader election on a Lease, status by server-side apply, Events, metrics and health.

pub mod allocator;
pub mod claim;
pub mod cli;
pub mod credentials;
pub mod directory;
pub mod fairness;
pub mod grants;
mod held;
pub mod http;
pub mod journal_key;
pub mod metrics;
mod options;
pub mod plumbing;
pub mod process_metrics;
pub mod reconciler;
pub mod roster;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Predicate, WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::api::{CloudGroupConversion, CloudUserConversion, TenantSyncPolicy};
use crate::clock::ScaledClock;
use crate::graph::GraphClient;
use crate::journal::{ConfigMapJournal, Journal, ResourceKey};
use crate::reconcile::ReconcileError;
use crate::reconcile::tenant::guard::GuardCache;

use credentials::{CredentialProblem, WorkloadIdentityEnv};
pub use held::Held;
pub use metrics::Metrics;
pub use options::{ControllerOptions, JournalStore, LeaseOptions, Security};

/// How long shutdown waits for the Lease to be released (the chart's grace period is 30 s).
const RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the passes in flight may take to finish after a stop (SIGTERM, or the Lease lost)
/// before they are abandoned. With [`RELEASE_TIMEOUT`] it fits the chart's 30 s grace period;
/// an abandoned pass leaves journal intents that the next pass settles by reading Graph back.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "entra-cloud-operator";

/// Why a controller pass failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The reconciler failed transiently.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// The Kubernetes API failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Adding, running or removing a finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(Box<kube::runtime::finalizer::Error<Error>>),
    /// A revert on delete could not finish yet.
    #[error("revert on delete: {0}")]
    Revert(String),
    /// The pass ran past `--pass-timeout`.
    #[error("{0}")]
    PassTimeout(String),
}

impl Error {
    /// Metric label and log field.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Reconcile(ReconcileError::Graph(e)) => e.category().reason(),
            Error::Reconcile(ReconcileError::Journal(_)) => "Journal",
            Error::Kube(_) => "KubernetesAPI",
            Error::Finalizer(_) => "Finalizer",
            Error::Revert(_) => crate::reasons::REVERT_INCOMPLETE,
            Error::PassTimeout(_) => crate::reasons::PASS_TIMEOUT,
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// Publishes Events.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Options.
    pub options: ControllerOptions,
    /// The operator's clock.
    pub clock: ScaledClock,
    /// The tenant guard's delta links, per resource (kept in memory: a restart costs one
    /// full round per tenant).
    pub guard: GuardCache,
    /// What each conversion selects, for the overlap gate; started over each leadership term.
    pub selections: crate::reconcile::selections::Selections,
    wi: WorkloadIdentityEnv,
    /// Per TenantSyncPolicy (its [`ResourceKey`] as text).
    graphs: Mutex<HashMap<String, CachedClient>>,
    /// Per resource (its [`ResourceKey`] as text).
    journals: Mutex<HashMap<String, Arc<dyn Journal>>>,
    /// The resources passed and not yet released ([`Context::release`]).
    known: Mutex<HashSet<ResourceKey>>,
    /// The journal key, loaded at start (with [`JournalStore::ConfigMaps`]).
    pub journal_key: Option<crate::journal::SecretKey>,
    failures: Mutex<HashMap<String, u32>>,
    in_flight: fairness::InFlight,
}

/// A TenantSyncPolicy's Graph client, with what it was built from.
struct CachedClient {
    fingerprint: String,
    tenant_id: String,
    client: GraphClient,
}

impl Context {
    /// A context for `client`.
    pub fn new(client: Client, options: ControllerOptions, metrics: Arc<Metrics>) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: options.instance.clone(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            clock: ScaledClock::new(options.time_scale),
            guard: GuardCache::default(),
            selections: Default::default(),
            client,
            metrics,
            wi: WorkloadIdentityEnv::from_process(),
            graphs: Mutex::new(HashMap::new()),
            journals: Mutex::new(HashMap::new()),
            known: Mutex::new(HashSet::new()),
            journal_key: None,
            failures: Mutex::new(HashMap::new()),
            in_flight: fairness::InFlight::new(usize::from(options.workers)),
            options,
        }
    }

    /// This context with `wi` as the pod's workload identity environment (tests; a process
    /// reads its own at start).
    pub fn with_workload_identity(mut self, wi: WorkloadIdentityEnv) -> Self {
        self.wi = wi;
        self
    }

    /// The Graph client of `tsp`, reused while its credentials and endpoints are unchanged so
    /// the token cache survives between passes.
    pub async fn graph_for(
        &self,
        tsp: &TenantSyncPolicy,
    ) -> Result<GraphClient, CredentialProblem> {
        let security = &self.options.security;
        if !security.allow_endpoint_override
            && let Some(m) = crate::endpoints::refusal(
                &tsp.spec,
                "run the operator with --allow-endpoint-override (Helm value allowEndpointOverride: true)",
            )
        {
            return Err(CredentialProblem::Stall(crate::reconcile::Stall::fixable(
                crate::reasons::ENDPOINT_OVERRIDE_NOT_ALLOWED,
                m,
            )));
        }
        let (credential, version) =
            credentials::resolve(&self.client, tsp, &self.wi, &security.grants).await?;
        let (ca, ca_version) = credentials::ca_bundle(&self.client, tsp).await?;
        let versions = format!(
            "{}|{}",
            version.as_deref().unwrap_or(""),
            ca_version.as_deref().unwrap_or("")
        );
        let fp = credentials::fingerprint(tsp, Some(&versions));
        let key = ResourceKey {
            kind: <TenantSyncPolicy as kube::Resource>::kind(&()).to_string(),
            namespace: tsp
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            name: tsp.metadata.name.clone().unwrap_or_default(),
        }
        .to_string();
        let mut graphs = self.graphs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = graphs.get(&key)
            && c.fingerprint == fp
        {
            return Ok(c.client.clone());
        }
        let observer = self.metrics.graph_observer(&tsp.spec.tenant_id);
        let g = credentials::graph_client(
            tsp,
            (credential, ca),
            &self.wi,
            observer,
            self.options.time_scale,
        )?;
        let cached = CachedClient {
            fingerprint: fp,
            tenant_id: tsp.spec.tenant_id.clone(),
            client: g.clone(),
        };
        graphs.insert(key, cached);
        Ok(g)
    }

    /// The journal of `key`.
    pub async fn journal_for(&self, key: &ResourceKey) -> Arc<dyn Journal> {
        match &self.options.journal {
            JournalStore::Shared(j) => j.clone(),
            JournalStore::ConfigMaps(ns) => {
                let mut journals = self.journals.lock().unwrap_or_else(|p| p.into_inner());
                journals
                    .entry(key.to_string())
                    .or_insert_with(|| {
                        Arc::new(ConfigMapJournal::new(
                            self.client.clone(),
                            ns,
                            key.clone(),
                            self.journal_key.clone(),
                        ))
                    })
                    .clone()
            }
        }
    }

    /// A slot for a pass of `key`, acting for tenant policy `policy` (in its namespace), or
    /// `None` while its namespace or that tenant already has its share of the workers of its
    /// kind busy.
    pub fn slot(&self, key: &ResourceKey, policy: &str) -> Option<fairness::Slot<'_>> {
        self.in_flight
            .try_acquire(&key.kind, &key.namespace, policy)
    }

    pub(crate) fn count_failure(&self, key: &str) -> u32 {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = f.entry(key.to_string()).or_insert(0);
        *n += 1;
        *n
    }

    pub(crate) fn reset_failures(&self, key: &str) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.remove(key);
    }
}

/// Run the controllers until `shutdown` resolves: with leader election, only while this
/// replica holds the Lease. `ready` turns true once the controller is up (leading or standing by).
pub async fn run(
    client: Client,
    options: ControllerOptions,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let ctx = Arc::new(prepare(client, options, metrics).await?);
    run_with(ctx, ready, shutdown).await
}

/// The context [`run`] starts with: with the ConfigMap journal, its key loaded (or created).
pub async fn prepare(
    client: Client,
    options: ControllerOptions,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Context> {
    let mut ctx = Context::new(client.clone(), options.clone(), metrics);
    if let JournalStore::ConfigMaps(ns) = &options.journal {
        ctx.journal_key =
            Some(journal_key::load_or_create(&client, ns, &options.journal_key_secret).await?);
    }
    Ok(ctx)
}

/// [`run`] with a context from [`prepare`] (which tests keep, to see what it holds).
pub async fn run_with(
    ctx: Arc<Context>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let client = ctx.client.clone();
    let options = ctx.options.clone();
    let metrics = ctx.metrics.clone();
    let Some(lease) = options.lease.clone() else {
        ready.store(true, Ordering::Relaxed);
        metrics.leader(true);
        run_controllers(ctx, wait_true(stop_rx)).await;
        return Ok(());
    };

    let manager = LeaseManagerBuilder::new(client, &lease.name)
        .with_namespace(&lease.namespace)
        .with_identity(&lease.identity)
        .with_field_manager(FIELD_MANAGER)
        .with_duration(lease.duration_s)
        .with_grace((lease.duration_s / 3).max(1))
        .build()
        .await?;
    let (mut leading, task) = manager.watch().await;
    ready.store(true, Ordering::Relaxed);
    let mut stop = stop_rx.clone();
    loop {
        // Stand by until this replica leads or the process stops.
        while !*leading.borrow_and_update() {
            tokio::select! {
                changed = leading.changed() => if changed.is_err() { break },
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        if *stop.borrow() {
            break;
        }
        if !*leading.borrow() {
            error!("leader election stopped unexpectedly");
            break;
        }
        info!(identity = %lease.identity, "leading: starting controllers");
        metrics.leader(true);
        let mut lost = leading.clone();
        let mut stop_now = stop_rx.clone();
        let trigger = async move {
            tokio::select! {
                _ = lost.wait_for(|l| !*l) => warn!("lease lost: stopping controllers"),
                _ = stop_now.wait_for(|s| *s) => {}
            }
        };
        run_controllers(ctx.clone(), trigger).await;
        metrics.leader(false);
        if *stop.borrow() {
            break;
        }
    }
    // Closing the channel makes the lease manager release the Lease, so the next leader need
    // not wait for it to expire. Bounded: shutdown must fit in the pod's grace period even if
    // the API server is slow or the release keeps conflicting; the Lease then simply expires.
    drop(leading);
    match tokio::time::timeout(RELEASE_TIMEOUT, task).await {
        Ok(Ok(Ok(_))) => info!("lease released"),
        Ok(Ok(Err(e))) => warn!(error = %e, "could not release the lease; it will expire"),
        Ok(Err(e)) => warn!(error = %e, "lease manager task failed"),
        Err(_) => warn!("releasing the lease took too long; it will expire"),
    }
    Ok(())
}

async fn wait_true(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

fn scoped<K>(client: &Client, scope: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match scope {
        None => Api::all(client.clone()),
        Some(ns) => Api::namespaced(client.clone(), ns),
    }
}

/// One kind's controller over one scope. Status writes change the resourceVersion but not the
/// generation (or the finalizers): filtering on those keeps them from triggering another pass.
async fn run_kind<K, R, F>(
    api: Api<K>,
    writer: reflector::store::Writer<K>,
    ctx: Arc<Context>,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
    reconcile: R,
    error_policy: impl Fn(Arc<K>, &Error, Arc<Context>) -> kube::runtime::controller::Action
    + Send
    + Sync
    + 'static,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    R: FnMut(Arc<K>, Arc<Context>) -> F + Send + 'static,
    F: Future<Output = Result<kube::runtime::controller::Action, Error>> + Send + 'static,
{
    let reader = writer.as_reader();
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        // Finalizers too: adding one leaves the generation as it is, and the finalizer helper
        // waits for that change before it goes on.
        .predicate_filter(
            predicates::generation.combine(predicates::finalizers),
            Default::default(),
        );
    Controller::for_stream(stream, reader)
        .with_config(ControllerConfig::default().concurrency(ctx.options.workers))
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}

/// One controller per kind and watched scope, all stopping gracefully (in-flight passes finish) when
/// `stop` resolves.
async fn run_controllers(ctx: Arc<Context>, stop: impl Future<Output = ()> + Send + 'static) {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        stop.await;
        let _ = tx.send(true);
    });
    let drained = wait_true(rx.clone());
    let scopes: Vec<Option<String>> = if ctx.options.namespaces.is_empty() {
        vec![None]
    } else {
        ctx.options.namespaces.iter().cloned().map(Some).collect()
    };
    let mut runs: Vec<futures::future::BoxFuture<'static, ()>> = Vec::new();
    let mut roster = roster::StoreRoster::default();
    for scope in scopes {
        let tenants: Api<TenantSyncPolicy> = scoped(&ctx.client, &scope);
        runs.push(Box::pin(run_kind(
            tenants,
            roster.tenants(),
            ctx.clone(),
            wait_true(rx.clone()),
            reconciler::reconcile::<TenantSyncPolicy>,
            reconciler::error_policy::<TenantSyncPolicy>,
        )));
        let users: Api<CloudUserConversion> = scoped(&ctx.client, &scope);
        runs.push(Box::pin(run_kind(
            users,
            roster.users(),
            ctx.clone(),
            wait_true(rx.clone()),
            reconciler::reconcile::<CloudUserConversion>,
            reconciler::error_policy::<CloudUserConversion>,
        )));
        let groups: Api<CloudGroupConversion> = scoped(&ctx.client, &scope);
        runs.push(Box::pin(run_kind(
            groups,
            roster.groups(),
            ctx.clone(),
            wait_true(rx.clone()),
            reconciler::reconcile::<CloudGroupConversion>,
            reconciler::error_policy::<CloudGroupConversion>,
        )));
    }
    // What the conversions select is shown anew in this term, against these watches; what is
    // kept for resources gone from them is released.
    let roster = Arc::new(roster);
    let sweep = roster::sweep(Arc::downgrade(&roster), ctx.clone(), wait_true(rx.clone()));
    runs.push(Box::pin(sweep));
    ctx.selections.restart(roster);
    // In-flight passes finish (kube-runtime's graceful shutdown), within the drain bound.
    tokio::select! {
        _ = futures::future::join_all(runs) => {}
        () = async {
            drained.await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => warn!(
            drain_s = DRAIN_TIMEOUT.as_secs(),
            "passes still in flight after the drain period: abandoned; the next pass settles their journal intents"
        ),
    }
}
