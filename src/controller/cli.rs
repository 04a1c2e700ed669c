//! `entra-cloud-operator controller`: the command line of the in-cluster operator.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tracing::info;

use super::{ControllerOptions, JournalStore, LeaseOptions, Metrics};

/// Options of `controller`.
#[derive(clap::Args, Debug)]
pub struct ControllerArgs {
    /// Namespaces to watch, comma-separated (default: all namespaces).
    #[arg(long, value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Address of the HTTP server for /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Name of the coordination.k8s.io Lease used for leader election.
    #[arg(long, default_value = "entra-cloud-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (default: POD_NAMESPACE, else the client's default namespace).
    #[arg(long)]
    pub lease_namespace: Option<String>,
    /// Run without leader election (only ever one replica!).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Namespace of the journal ConfigMaps (default: POD_NAMESPACE, else the client's default
    /// namespace).
    #[arg(long)]
    pub journal_namespace: Option<String>,
    /// Secret in the journal namespace holding the journal key (data key `key`, 32 bytes) and
    /// the journals' heads; created with a random key when absent.
    #[arg(long, default_value = "entra-cloud-operator-journal-key")]
    pub journal_key_secret: String,
    /// Graph requests in flight at once per resource: JSON batches of up to 20 (or, with a
    /// TenantSyncPolicy's `spec.quota.batch: false`, single requests).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Resources reconciled at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub workers: u16,
    /// Tenant seconds per real second, to rehearse against an emulator running with the same
    /// scale. 1 against real tenants.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// A YAML file of credential grants: the namespaces, tenants and client ids the operator's
    /// own workload identity may act for (`grants: [{namespaces, tenantIds, clientIds,
    /// endpointOverride}]`; the chart renders it from `credentialGrants`). Without it, policies
    /// using `credentials.workloadIdentity` stall with CredentialNotGranted.
    #[arg(long, value_name = "FILE")]
    pub credential_grants: Option<std::path::PathBuf>,
    /// Honour TenantSyncPolicies' `spec.endpoints` naming other hosts than Microsoft's (the
    /// emulator, a proxy). Off: such policies stall with EndpointOverrideNotAllowed and no
    /// request is sent.
    #[arg(long)]
    pub allow_endpoint_override: bool,
    /// The longest one pass of one resource may run (e.g. 30m); a pass cut there resumes from
    /// its journal on the next pass, so one slow or hostile endpoint cannot hold a worker.
    #[arg(long, default_value = "30m", value_parser = pass_timeout)]
    pub pass_timeout: std::time::Duration,
}

fn pass_timeout(text: &str) -> Result<std::time::Duration, String> {
    let range = std::time::Duration::from_secs(10)..=std::time::Duration::from_secs(24 * 3600);
    crate::duration::parse(text)
        .ok()
        .filter(|d| range.contains(d))
        .ok_or_else(|| format!("{text:?}: give a duration between 10s and 24h, e.g. 30m"))
}

/// A client of the cluster the process runs in (its service account), else of `KUBECONFIG` (or
/// `~/.kube/config`). kube's error already says what it tried; it is said once, with the fix,
/// not followed by its causes (which repeat it).
pub async fn cluster_client() -> anyhow::Result<kube::Client> {
    kube::Client::try_default().await.map_err(|e| {
        anyhow::anyhow!(
            "no Kubernetes API server to talk to: {e}; run in a cluster (a Pod with a service account) or point KUBECONFIG at a kubeconfig"
        )
    })
}

/// Run the controller until SIGTERM or Ctrl-C.
pub async fn run(args: ControllerArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.000_001..=1_000_000.0).contains(&args.time_scale),
        "--time-scale {:?}: give a number from 0.000001 to 1000000 (1 against real tenants)",
        args.time_scale
    );
    let client = cluster_client().await?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let own_ns = env("POD_NAMESPACE").unwrap_or_else(|| client.default_namespace().to_string());
    let identity = env("POD_NAME").unwrap_or_else(|| {
        format!(
            "{}-{:08x}",
            env("HOSTNAME").unwrap_or_else(|| "entra-cloud-operator".into()),
            fastrand::u32(..)
        )
    });
    let options = ControllerOptions {
        namespaces: args.namespaces.clone(),
        journal: JournalStore::ConfigMaps(
            args.journal_namespace
                .clone()
                .unwrap_or_else(|| own_ns.clone()),
        ),
        journal_key_secret: args.journal_key_secret.clone(),
        concurrency: usize::from(args.concurrency),
        workers: args.workers,
        time_scale: args.time_scale,
        lease: (!args.no_leader_election).then(|| LeaseOptions {
            name: args.lease_name.clone(),
            namespace: args
                .lease_namespace
                .clone()
                .unwrap_or_else(|| own_ns.clone()),
            identity: identity.clone(),
            duration_s: 15,
        }),
        instance: Some(identity),
        security: super::Security {
            grants: Arc::new(match &args.credential_grants {
                Some(path) => super::grants::Grants::load(path)?,
                None => super::grants::Grants::default(),
            }),
            allow_endpoint_override: args.allow_endpoint_override,
            pass_timeout: args.pass_timeout,
        },
    };
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (addr, http) = super::http::serve(args.metrics_addr, metrics.clone(), ready.clone(), {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    })
    .await?;
    info!(
        %addr,
        namespaces = ?args.namespaces,
        credential_grants = options.security.grants.len(),
        allow_endpoint_override = args.allow_endpoint_override,
        "controller starting"
    );
    let result = super::run(client, options, metrics, ready, async move {
        terminated().await;
        info!("shutting down");
    })
    .await;
    let _ = stop_tx.send(true);
    let _ = http.await;
    result
}

/// Resolves on SIGTERM (what Kubernetes sends) or Ctrl-C.
pub async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
