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
use crate::reconcile::tenant::{self, Context, observe, plan, validate};

use super::credentials::{self, EndpointOverrides, Env};
use super::manifests::Manifests;
use super::progress::{Progress, ProgressMode};
pub(super) use super::runnables::Runnable;
use super::runnables::{TenantRun, UserRun};
pub use super::stop::Stop;
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
    /// Graph requests (JSON batches, when batching) in flight at once per resource.
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
    /// Neither before a stop (SIGTERM): the pass in flight finished, or was abandoned after
    /// the grace period; the next run settles what it left open from the journal.
    Interrupted,
}

/// One resource after the run.
#[derive(Clone, Debug)]
pub struct Ran {
    /// `namespace/name`.
    pub name: String,
    /// The whole object with its status, as kubectl would print it.
    pub object: serde_json::Value,
    /// Where it ended.
    pub settled: Settled,
}

/// The resources after the run, with their status.
pub struct RunResult {
    /// Each resource, in input order (tenant policies first).
    pub resources: Vec<Ran>,
}

impl RunResult {
    /// Whether every resource is Ready.
    pub fn all_ready(&self) -> bool {
        self.resources.iter().all(|r| r.settled == Settled::Ready)
    }
}

pub(super) type Secrets = std::collections::BTreeMap<
    (String, String),
    std::collections::BTreeMap<String, crate::graph::SecretString>,
>;

pub(super) fn key_of(kind: &str, meta: &kube::api::ObjectMeta) -> ResourceKey {
    ResourceKey {
        kind: kind.into(),
        namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
        name: meta.name.clone().unwrap_or_default(),
    }
}

/// Reconcile every resource until it is Ready or Stalled, or the timeout passes.
pub async fn apply(manifests: Manifests, opts: &RunOptions) -> anyhow::Result<RunResult> {
    apply_until(manifests, opts, &Stop::never()).await
}

/// [`apply`], ending early (each resource [`Settled::Interrupted`]) when `stop` is requested.
pub async fn apply_until(
    manifests: Manifests,
    opts: &RunOptions,
    stop: &Stop,
) -> anyhow::Result<RunResult> {
    let journal: Arc<dyn Journal> = Arc::new(FileJournal::open(&opts.journal)?);
    let progress = Progress::new(opts.progress);
    let clock = ScaledClock::new(opts.time_scale);
    let deadline = Instant::now() + opts.timeout;
    let secrets = &manifests.secrets;
    let tenants: Vec<TenantSyncPolicy> = manifests
        .tenants
        .iter()
        .map(|l| l.resource.clone())
        .collect();
    let clients = Clients::new(&tenants, secrets, opts);
    let mut runs = Vec::new();
    for t in &tenants {
        let client = clients.of(t);
        let run = TenantRun(
            t.clone(),
            super::directory::active_directory(t, secrets, &opts.env),
        );
        runs.push(futures::future::Either::Left(run_one(
            run,
            client,
            opts,
            journal.as_ref(),
            &progress,
            &clock,
            deadline,
            stop,
        )));
    }
    for l in manifests.users {
        let cuc = l.resource;
        let ns = cuc.metadata.namespace.clone();
        let tenant = tenants.iter().find(|t| {
            t.metadata.namespace == ns
                && t.metadata.name.as_deref() == Some(cuc.spec.tenant_ref.name.as_str())
        });
        let client = match tenant {
            None => Err(crate::reconcile::Stall::fixable(
                crate::reasons::TENANT_NOT_FOUND,
                format!(
                    "spec.tenantRef.name: TenantSyncPolicy {}/{} is not among the manifests; add it to the files given with -f",
                    ns.clone().unwrap_or_default(),
                    cuc.spec.tenant_ref.name
                ),
            )),
            Some(t) => clients.of(t),
        };
        let client = match crate::reconcile::user::validate::validate(&cuc.spec) {
            Err(e) => Err(crate::reconcile::Stall::invalid_spec(e.to_string())),
            Ok(_) => client,
        };
        let run = UserRun {
            tenant: tenant.map(|t| t.spec.clone()),
            ad: tenant.and_then(|t| super::directory::active_directory(t, secrets, &opts.env)),
            cuc,
        };
        runs.push(futures::future::Either::Right(run_one(
            run,
            client,
            opts,
            journal.as_ref(),
            &progress,
            &clock,
            deadline,
            stop,
        )));
    }
    let mut group_runs = Vec::new();
    for l in manifests.groups {
        let (run, client) = super::groups::prepare(l, &tenants, &clients);
        let journal = journal.as_ref();
        group_runs.push(run_one(
            run, client, opts, journal, &progress, &clock, deadline, stop,
        ));
    }
    let (mut resources, groups) = futures::future::join(
        futures::future::join_all(runs),
        futures::future::join_all(group_runs),
    )
    .await;
    resources.extend(groups);
    Ok(RunResult { resources })
}

/// The Graph client of a tenant, or why there is none (a spec error explains itself better
/// than the credential error it may cause).
/// The Graph client of each TenantSyncPolicy among the manifests, built once: every resource of
/// a tenant shares it, and with it the pacer that keeps them all under the tenant's quota.
pub(super) struct Clients(
    std::collections::HashMap<ResourceKey, Result<crate::graph::GraphClient, NoClient>>,
);

/// Why a resource has no Graph client: the Stalled reason and message.
pub(super) type NoClient = crate::reconcile::Stall;

impl Clients {
    /// Builds the client of each of `tenants`.
    pub(super) fn new(tenants: &[TenantSyncPolicy], secrets: &Secrets, opts: &RunOptions) -> Self {
        Self(
            tenants
                .iter()
                .map(|t| {
                    (
                        key_of(tenant::KIND, &t.metadata),
                        tenant_client(t, secrets, opts),
                    )
                })
                .collect(),
        )
    }

    /// The client of `t` (a clone sharing its pacer and token cache).
    pub(super) fn of(&self, t: &TenantSyncPolicy) -> Result<crate::graph::GraphClient, NoClient> {
        self.0
            .get(&key_of(tenant::KIND, &t.metadata))
            .cloned()
            .unwrap_or_else(|| {
                Err(crate::reconcile::Stall::fixable(
                    crate::reasons::TENANT_NOT_FOUND,
                    "the TenantSyncPolicy is not among the manifests".to_string(),
                ))
            })
    }
}

pub(super) fn tenant_client(
    t: &TenantSyncPolicy,
    secrets: &Secrets,
    opts: &RunOptions,
) -> Result<crate::graph::GraphClient, NoClient> {
    match validate::validate(&t.spec) {
        Err(e) => Err(crate::reconcile::Stall::invalid_spec(e.to_string())),
        Ok(()) => credentials::resolve(t, secrets, &opts.env)
            .and_then(|c| credentials::graph_client(t, c, &opts.overrides, opts.time_scale))
            .map_err(|e| {
                crate::reconcile::Stall::fixable(crate::reasons::CREDENTIALS_UNAVAILABLE, e.0)
            }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_one<R: Runnable>(
    mut res: R,
    client: Result<crate::graph::GraphClient, NoClient>,
    opts: &RunOptions,
    journal: &dyn Journal,
    progress: &Progress,
    clock: &ScaledClock,
    deadline: Instant,
    stop: &Stop,
) -> Ran {
    let key = res.key();
    let shown = format!("{}/{}", key.namespace, key.name);
    let mut failures: u32 = 0;
    // A run ends at Ready, so the guard rarely gets past its first (full) round here.
    let guard = tenant::guard::GuardCache::default();
    let done = |res: &R, settled| Ran {
        name: shown.clone(),
        object: res.to_json(),
        settled,
    };
    loop {
        if stop.is_requested() {
            progress.finish(&shown);
            return done(&res, Settled::Interrupted);
        }
        let now = clock.now();
        let ctx = match &client {
            Err(stall) => Err(stall.clone()),
            Ok(graph) => Ok(Context {
                graph,
                journal,
                resource: key.clone(),
                concurrency: opts.concurrency,
                now,
                guard: &guard,
                ad: None,
            }),
        };
        // On a stop the pass may finish its wave within the grace; past it, it is dropped
        // between two awaits (never inside an append) and the next run settles its intents.
        let passed = tokio::select! {
            r = res.pass(ctx, now) => Some(r),
            () = stop.expired() => None,
        };
        let Some(passed) = passed else {
            progress.warn(&shown, "stopped: pass in flight abandoned after the grace");
            progress.finish(&shown);
            return done(&res, Settled::Interrupted);
        };
        let wait = match passed {
            Ok((events, requeue_after)) => {
                failures = 0;
                for e in &events {
                    progress.event(&shown, e);
                }
                let conditions = res.conditions();
                progress.status(&shown, &conditions, res.progress());
                let settled = if res.suspended() {
                    Some(Settled::Suspended)
                } else if cond::is_true(&conditions, cond::READY) {
                    Some(Settled::Ready)
                } else if cond::is_true(&conditions, cond::STALLED) {
                    Some(Settled::Stalled)
                } else {
                    None
                };
                if let Some(s) = settled {
                    progress.finish(&shown);
                    return done(&res, s);
                }
                clock.real(requeue_after.unwrap_or(crate::reconcile::GUARD_INTERVAL))
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
            return done(&res, Settled::TimedOut);
        }
        tokio::select! {
            () = tokio::time::sleep(wait.min(deadline - now)) => {}
            () = stop.requested() => {}
        }
    }
}

/// What `plan` found for one resource.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    /// `TenantSyncPolicy`, `CloudUserConversion` or `CloudGroupConversion`.
    pub kind: String,
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
    /// The AD ↔ Entra link audit (with `activeDirectory`), every finding listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_audit: Option<crate::api::active_directory::LinkAudit>,
}

/// Observe each tenant, user and group conversion and say what `apply` would change. Sends only
/// reads.
pub async fn plan(manifests: Manifests, opts: &RunOptions) -> Vec<PlanReport> {
    let mut out = Vec::new();
    for loaded in &manifests.users {
        out.push(plan_users(&loaded.resource, &manifests, opts).await);
    }
    let mut groups = Vec::new();
    for loaded in &manifests.groups {
        groups.push(super::groups::plan_groups(&loaded.resource, &manifests, opts).await);
    }
    for loaded in manifests.tenants {
        let tsp = loaded.resource;
        let key = key_of(tenant::KIND, &tsp.metadata);
        let mut report = PlanReport {
            kind: key.kind.clone(),
            resource: format!("{}/{}", key.namespace, key.name),
            tenant_id: tsp.spec.tenant_id.clone(),
            observed: None,
            next_step: String::new(),
            changes: Vec::new(),
            problem: None,
            link_audit: None,
        };
        if let Err(e) = validate::validate(&tsp.spec) {
            report.problem = Some(e.to_string());
            out.push(report);
            continue;
        }
        let client = credentials::resolve(&tsp, &manifests.secrets, &opts.env)
            .and_then(|c| credentials::graph_client(&tsp, c, &opts.overrides, opts.time_scale));
        let graph = match client {
            Ok(g) => g,
            Err(e) => {
                report.problem = Some(e.to_string());
                out.push(report);
                continue;
            }
        };
        if let Some(ad) = super::directory::active_directory(&tsp, &manifests.secrets, &opts.env) {
            match super::directory::plan_audit(&graph, ad, None).await {
                Ok(a) => report.link_audit = Some(a),
                Err(p) => {
                    report.problem = Some(p);
                    out.push(report);
                    continue;
                }
            }
        }
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
    out.rotate_left(manifests.users.len());
    out.extend(groups);
    out
}

async fn plan_users(
    cuc: &crate::api::CloudUserConversion,
    m: &Manifests,
    opts: &RunOptions,
) -> PlanReport {
    use crate::reconcile::user::{plan as uplan, select, validate as uvalidate};
    let key = key_of(crate::reconcile::user::KIND, &cuc.metadata);
    let mut report = PlanReport {
        kind: key.kind.clone(),
        resource: format!("{}/{}", key.namespace, key.name),
        tenant_id: String::new(),
        observed: None,
        next_step: String::new(),
        changes: Vec::new(),
        problem: None,
        link_audit: None,
    };
    let tenant = m.tenants.iter().map(|l| &l.resource).find(|t| {
        t.metadata.namespace == cuc.metadata.namespace
            && t.metadata.name.as_deref() == Some(cuc.spec.tenant_ref.name.as_str())
    });
    let Some(tenant) = tenant else {
        report.problem = Some(format!(
            "spec.tenantRef.name: TenantSyncPolicy {} is not among the manifests",
            cuc.spec.tenant_ref.name
        ));
        return report;
    };
    report.tenant_id = tenant.spec.tenant_id.clone();
    if let Err(e) = uvalidate::validate(&cuc.spec) {
        report.problem = Some(e.to_string());
        return report;
    }
    let graph = match tenant_client(tenant, &m.secrets, opts) {
        Ok(g) => g,
        Err(crate::reconcile::Stall { message: msg, .. }) => {
            report.problem = Some(msg);
            return report;
        }
    };
    let sel = match select::select(&graph, &cuc.spec).await {
        Ok(s) => s,
        Err(e) => {
            report.problem = Some(format!("spec.{}: {}", e.field, e.error));
            return report;
        }
    };
    if let Some(ad) = super::directory::active_directory(tenant, &m.secrets, &opts.env) {
        let scope = sel.candidates.values().map(|c| c.id.clone()).collect();
        match super::directory::plan_audit(&graph, ad, Some(&scope)).await {
            Ok(a) => report.link_audit = Some(a),
            Err(p) => {
                report.problem = Some(p);
                return report;
            }
        }
    }
    let c = uplan::classify(&cuc.spec, &sel, &crate::guid::IdSet::default());
    let mut spec = cuc.spec.clone();
    spec.mode = crate::api::common::ConversionMode::Plan;
    let step = uplan::decide(
        &spec,
        &c,
        &Default::default(),
        tenant.spec.drift,
        true,
        jiff::Timestamp::now(),
    );
    report.next_step = match step {
        uplan::Step::BlastRadiusExceeded(n) => format!(
            "stall: {n} users selected, more than rollout.maxObjects ({})",
            cuc.spec.rollout.max_objects
        ),
        _ if c.pending.is_empty() => "nothing: every selected user is as declared".into(),
        _ => format!(
            "convert {} users ({:?}), canary {} then waves of {}",
            c.pending.len(),
            cuc.spec.method,
            cuc.spec.rollout.canary,
            cuc.spec.rollout.wave_size
        ),
    };
    if !c.pending.is_empty() && !matches!(step, uplan::Step::BlastRadiusExceeded(_)) {
        let request = match cuc.spec.method {
            crate::api::user::UserConversionMethod::ClearImmutableId => {
                "PATCH /users/{id} onPremisesImmutableId=null"
            }
            _ => "PATCH /users/{id}/onPremisesSyncBehavior isCloudManaged=true",
        };
        let sample: Vec<String> = c.pending.iter().take(5).map(|u| u.upn.clone()).collect();
        report.changes.push(plan::PlannedChange {
            request: request.into(),
            objects: c.pending.len() as i64,
            detail: format!("e.g. {}", sample.join(", ")),
        });
    }
    for x in &sel.excluded {
        report.changes.push(plan::PlannedChange {
            request: "none (excluded)".into(),
            objects: 0,
            detail: format!("{}: {}", x.user_principal_name, x.reason),
        });
    }
    if c.skipped > 0 {
        report.changes.push(plan::PlannedChange {
            request: "none (not synchronised)".into(),
            objects: 0,
            detail: format!("{} selected users were never synchronised from AD (or, for ClearImmutableId, still are): nothing to do", c.skipped),
        });
    }
    if !c.waiting.is_empty() {
        report.changes.push(plan::PlannedChange {
            request: "none (waiting)".into(),
            objects: 0,
            detail: format!(
                "{} users are still synchronised: move their AD objects out of sync scope first (e.g. {})",
                c.waiting.len(),
                c.waiting.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    for upn in &sel.missing {
        report.changes.push(plan::PlannedChange {
            request: "none (not found)".into(),
            objects: 0,
            detail: format!("{upn} does not exist in the tenant"),
        });
    }
    report
}
