//! `apply` and `plan` over manifests: the same reconcilers the controller runs, driven in a
//! loop until every resource is Ready or Stalled.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::api::TenantSyncPolicy;
use crate::api::conditions as cond;
use crate::api::tenant::TenantSyncPolicyStatus;
use crate::journal::{FileJournal, Journal, ResourceKey};
use crate::reconcile::tenant::{self, Context, Input, observe, plan, validate};

use super::credentials::{self, EndpointOverrides, Env};
use super::manifests::Manifests;
use super::progress::{Progress, ProgressMode};
use crate::clock::ScaledClock;

/// Options of `apply` and `plan`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// `--graph-url` / `--login-url`.
    pub overrides: EndpointOverrides,
    /// AZURE_* variables.
    pub env: Env,
    /// The journal file.
    pub journal: PathBuf,
    /// Give up after this long (real time).
    pub timeout: Duration,
    /// Tenant seconds per real second (rehearsals against a fast emulator).
    pub time_scale: f64,
    /// Writes in flight at once per resource.
    pub concurrency: usize,
    /// How to show progress.
    pub progress: ProgressMode,
}

/// Where a resource ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Settled {
    /// `Ready=True`.
    Ready,
    /// `Stalled=True`: needs a human.
    Stalled,
    /// `spec.suspend`.
    Suspended,
    /// Neither before the timeout.
    TimedOut,
}

/// The resources after the run, with their status.
pub struct RunResult {
    /// Each resource and where it ended.
    pub resources: Vec<(TenantSyncPolicy, Settled)>,
}

impl RunResult {
    /// Whether every resource is Ready.
    pub fn all_ready(&self) -> bool {
        self.resources.iter().all(|(_, s)| *s == Settled::Ready)
    }
}

type Secrets = std::collections::BTreeMap<
    (String, String),
    std::collections::BTreeMap<String, crate::graph::SecretString>,
>;

fn key_of(tsp: &TenantSyncPolicy) -> ResourceKey {
    ResourceKey {
        kind: tenant::KIND.into(),
        namespace: tsp
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: tsp.metadata.name.clone().unwrap_or_default(),
    }
}

/// Reconcile every resource until it is Ready or Stalled, or the timeout passes.
pub async fn apply(manifests: Manifests, opts: &RunOptions) -> anyhow::Result<RunResult> {
    let journal: Arc<dyn Journal> = Arc::new(FileJournal::open(&opts.journal)?);
    let progress = Arc::new(Progress::new(opts.progress));
    let clock = ScaledClock::new(opts.time_scale);
    let deadline = Instant::now() + opts.timeout;
    let secrets = Arc::new(manifests.secrets);
    let tasks = manifests.tenants.into_iter().map(|loaded| {
        let (journal, progress, clock, secrets) = (
            journal.clone(),
            progress.clone(),
            clock.clone(),
            secrets.clone(),
        );
        async move {
            run_one(
                loaded.resource,
                &secrets,
                opts,
                journal.as_ref(),
                &progress,
                &clock,
                deadline,
            )
            .await
        }
    });
    let resources = futures::future::join_all(tasks).await;
    Ok(RunResult { resources })
}

async fn run_one(
    mut tsp: TenantSyncPolicy,
    secrets: &Secrets,
    opts: &RunOptions,
    journal: &dyn Journal,
    progress: &Progress,
    clock: &ScaledClock,
    deadline: Instant,
) -> (TenantSyncPolicy, Settled) {
    let key = key_of(&tsp);
    let shown = format!("{}/{}", key.namespace, key.name);
    // A spec error explains itself better than the credential error it may cause.
    let client = match validate::validate(&tsp.spec) {
        Err(e) => Err((tenant::INVALID_SPEC, e.to_string())),
        Ok(()) => credentials::resolve(&tsp, secrets, &opts.env)
            .and_then(|c| credentials::graph_client(&tsp, c, &opts.overrides))
            .map_err(|e| ("CredentialsUnavailable", e.0)),
    };
    let mut failures: u32 = 0;
    loop {
        let input = Input {
            spec: &tsp.spec,
            generation: tsp.metadata.generation,
            status: tsp.status.as_ref(),
        };
        let result = match &client {
            Err((reason, message)) => {
                Ok(tenant::stall(input, clock.now(), reason, message.clone()))
            }
            Ok(graph) => tenant::reconcile(input, &ctx(graph, journal, &key, opts, clock)).await,
        };
        let wait = match result {
            Ok(outcome) => {
                failures = 0;
                for e in &outcome.events {
                    progress.event(&shown, e);
                }
                progress.status(&shown, &outcome.status);
                let settled = settled(&tsp, &outcome.status);
                tsp.status = Some(outcome.status);
                if let Some(s) = settled {
                    progress.finish(&shown);
                    return (tsp, s);
                }
                clock.real(outcome.requeue_after.unwrap_or(tenant::GUARD_INTERVAL))
            }
            Err(e) => {
                failures += 1;
                let wait = e.retry_after().unwrap_or_else(|| {
                    Duration::from_secs(1u64 << failures.min(5)).min(Duration::from_secs(30))
                });
                progress.warn(
                    &shown,
                    &format!("{e}; retrying in {:.1}s", wait.as_secs_f64()),
                );
                wait
            }
        };
        let now = Instant::now();
        if now >= deadline {
            progress.finish(&shown);
            return (tsp, Settled::TimedOut);
        }
        tokio::time::sleep(wait.min(deadline - now)).await;
    }
}

fn ctx<'a>(
    graph: &'a crate::graph::GraphClient,
    journal: &'a dyn Journal,
    key: &ResourceKey,
    opts: &RunOptions,
    clock: &ScaledClock,
) -> Context<'a> {
    Context {
        graph,
        journal,
        resource: key.clone(),
        concurrency: opts.concurrency,
        now: clock.now(),
    }
}

fn settled(tsp: &TenantSyncPolicy, status: &TenantSyncPolicyStatus) -> Option<Settled> {
    if tsp.spec.suspend {
        Some(Settled::Suspended)
    } else if cond::is_true(&status.conditions, cond::READY) {
        Some(Settled::Ready)
    } else if cond::is_true(&status.conditions, cond::STALLED) {
        Some(Settled::Stalled)
    } else {
        None
    }
}

/// What `plan` found for one resource.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    /// `namespace/name`.
    pub resource: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Observed state, when Graph could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<TenantSyncPolicyStatus>,
    /// The next step, in words.
    pub next_step: String,
    /// The changes it leads to.
    pub changes: Vec<plan::PlannedChange>,
    /// Why nothing could be planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Observe each tenant and say what `apply` would change. Sends only reads.
pub async fn plan(manifests: Manifests, opts: &RunOptions) -> Vec<PlanReport> {
    let mut out = Vec::new();
    for loaded in manifests.tenants {
        let tsp = loaded.resource;
        let key = key_of(&tsp);
        let mut report = PlanReport {
            resource: format!("{}/{}", key.namespace, key.name),
            tenant_id: tsp.spec.tenant_id.clone(),
            observed: None,
            next_step: String::new(),
            changes: Vec::new(),
            problem: None,
        };
        if let Err(e) = validate::validate(&tsp.spec) {
            report.problem = Some(e.to_string());
            out.push(report);
            continue;
        }
        let client = credentials::resolve(&tsp, &manifests.secrets, &opts.env)
            .and_then(|c| credentials::graph_client(&tsp, c, &opts.overrides));
        let graph = match client {
            Ok(g) => g,
            Err(e) => {
                report.problem = Some(e.to_string());
                out.push(report);
                continue;
            }
        };
        match observe::observe(&graph).await {
            Err(e) => report.problem = Some(e.to_string()),
            Ok(obs) => {
                let status = tsp.status.clone().unwrap_or_default();
                let decision = plan::decide(&tsp.spec, &obs, &status, true, jiff::Timestamp::now());
                report.next_step = decision.to_string();
                report.changes = plan::describe(&tsp.spec, &obs, decision);
                report.observed = Some(TenantSyncPolicyStatus {
                    sync_state: Some(obs.sync_state()),
                    progress: Some(obs.progress()),
                    users: Some(obs.users),
                    groups: Some(obs.groups),
                    immutable_ids: Some(obs.immutable_ids),
                    ..Default::default()
                });
            }
        }
        out.push(report);
    }
    out
}
