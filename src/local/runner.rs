//! `apply` and `plan` over manifests: the same reconcilers the controller runs, driven in a
//! loop until every resource is Ready or Stalled.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::api::conditions as cond;
use crate::api::{TenantSyncPolicy, TenantSyncPolicySpec};
use crate::graph::GraphClient;
use crate::journal::{FileJournal, Journal, ResourceKey};
use crate::reasons;
use crate::reconcile::resource::Reconciled;
use crate::reconcile::selections::{Listed, Member, Rank, Selections};
use crate::reconcile::{Context, DirectoryConnection, GUARD_INTERVAL, Stall, tenant};

use super::credentials::{self, EndpointOverrides, Env};
use super::manifests::{Loaded, Manifests};
use super::progress::{Progress, ProgressMode};
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
    /// The journal's key file (`None`: `<journal>.key`, created when absent).
    pub journal_key: Option<PathBuf>,
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

pub(super) use super::credentials::Secrets;

/// The journal key of `obj`.
pub(super) fn key_of<R: Reconciled>(obj: &R) -> ResourceKey {
    let meta = obj.object_meta();
    ResourceKey {
        kind: R::KIND.into(),
        namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
        name: meta.name.clone().unwrap_or_default(),
    }
}

/// The TenantSyncPolicy among `tenants` that `obj` names (same namespace), if any.
pub(super) fn tenant_of<'a, R: Reconciled>(
    obj: &R,
    tenants: impl IntoIterator<Item = &'a TenantSyncPolicy>,
) -> Option<&'a TenantSyncPolicy> {
    let name = obj.tenant_ref()?;
    tenants.into_iter().find(|t| {
        t.metadata.namespace == obj.object_meta().namespace
            && t.metadata.name.as_deref() == Some(name)
    })
}

/// Why a conversion's tenant policy is missing: it is not among the manifests.
pub(super) fn tenant_not_found<R: Reconciled>(obj: &R) -> Stall {
    Stall::fixable(
        reasons::TENANT_NOT_FOUND,
        format!(
            "spec.tenantRef.name: TenantSyncPolicy {}/{} is not among the manifests; add it to the files given with -f",
            obj.object_meta().namespace.clone().unwrap_or_default(),
            obj.tenant_ref().unwrap_or_default()
        ),
    )
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
    let key_file = crate::journal::key_path(&opts.journal, opts.journal_key.as_deref());
    let created = Created::before(&opts.journal, &key_file);
    let key = crate::journal::load_key(&opts.journal, &key_file, true)?.ok_or_else(|| {
        anyhow::anyhow!("journal key {}: could not be created", key_file.display())
    })?;
    let journal: Arc<dyn Journal> = Arc::new(FileJournal::open(&opts.journal, key)?);
    let tenants: Vec<TenantSyncPolicy> = manifests
        .tenants
        .iter()
        .map(|l| l.resource.clone())
        .collect();
    let selections = Selections::new(Arc::new(roster(&manifests, &tenants)));
    let shell = Shell {
        opts,
        journal: journal.as_ref(),
        progress: Progress::new(opts.progress),
        clock: ScaledClock::new(opts.time_scale),
        // Checked: no deadline at all rather than a panic past the end of the clock.
        deadline: Instant::now().checked_add(opts.timeout),
        stop,
        selections: &selections,
    };
    let secrets = &manifests.secrets;
    let clients = Clients::new(&tenants, secrets, opts);
    fn runs<R: Reconciled>(
        objs: Vec<Loaded<R>>,
        tenants: &[TenantSyncPolicy],
        clients: &Clients,
        secrets: &Secrets,
        env: &Env,
    ) -> Vec<Run<R>> {
        objs.into_iter()
            .map(|l| Run::prepare(l.resource, tenants, clients, secrets, env))
            .collect()
    }
    let env = &opts.env;
    let (tenant_runs, user_runs, group_runs) = (
        runs(manifests.tenants, &tenants, &clients, secrets, env),
        runs(manifests.users, &tenants, &clients, secrets, env),
        runs(manifests.groups, &tenants, &clients, secrets, env),
    );
    let (mut resources, users, groups) = futures::future::join3(
        futures::future::join_all(tenant_runs.into_iter().map(|r| shell.run(r))),
        futures::future::join_all(user_runs.into_iter().map(|r| shell.run(r))),
        futures::future::join_all(group_runs.into_iter().map(|r| shell.run(r))),
    )
    .await;
    resources.extend(users);
    resources.extend(groups);
    created.tidy();
    Ok(RunResult { resources })
}

/// The journal files a run creates (the journal, its head, its key), to remove again when the
/// run wrote nothing: a run that changed nothing leaves no empty journal behind.
struct Created {
    /// Files that did not exist before the run.
    new: Vec<PathBuf>,
    /// The journal.
    journal: PathBuf,
}

impl Created {
    fn before(journal: &std::path::Path, key_file: &std::path::Path) -> Self {
        let files = [
            journal.to_path_buf(),
            crate::journal::head_path(journal),
            key_file.to_path_buf(),
        ];
        Created {
            new: files.into_iter().filter(|f| !f.exists()).collect(),
            journal: journal.to_path_buf(),
        }
    }

    /// Removes what the run created when the journal is new and still empty.
    fn tidy(&self) {
        let journal_new = self.new.contains(&self.journal);
        let empty = std::fs::metadata(&self.journal).is_ok_and(|m| m.len() == 0);
        if journal_new && empty {
            for f in &self.new {
                let _ = std::fs::remove_file(f);
            }
        }
    }
}

/// Every conversion among the manifests, in the order the loader gives them: of two of one
/// tenant and kind that select one object, the later stalls (`SelectionOverlap`).
fn roster(m: &Manifests, tenants: &[TenantSyncPolicy]) -> Listed {
    fn members<'a, R: Reconciled>(
        objs: &'a [Loaded<R>],
        tenants: &'a [TenantSyncPolicy],
    ) -> impl Iterator<Item = Member> + 'a {
        objs.iter().enumerate().map(move |(i, l)| {
            let key = key_of(&l.resource);
            Member {
                rank: Rank::listed(i, &key),
                tenant_id: tenant_of(&l.resource, tenants).map(|t| t.spec.tenant_id.clone()),
                key,
            }
        })
    }
    Listed(
        members(&m.users, tenants)
            .chain(members(&m.groups, tenants))
            .collect(),
    )
}

/// A resource being driven, with what its passes need.
pub(super) struct Run<R> {
    /// The resource; its status is replaced after each pass.
    obj: R,
    /// Its tenant policy's spec (its own, for a TenantSyncPolicy).
    tenant: TenantSyncPolicySpec,
    /// Its tenant's Graph client, or why it has none (the spec is invalid, say).
    client: Result<GraphClient, Stall>,
    /// Its tenant's Active Directory, resolved once (none without `activeDirectory`).
    ad: Option<DirectoryConnection>,
}

impl<R: Reconciled> Run<R> {
    /// `obj` with its tenant policy (itself, for a TenantSyncPolicy), client and directory.
    pub(super) fn prepare(
        obj: R,
        tenants: &[TenantSyncPolicy],
        clients: &Clients,
        secrets: &Secrets,
        env: &Env,
    ) -> Self {
        let tenant = match obj.as_tenant() {
            Some(own) => Some(own),
            None => tenant_of(&obj, tenants),
        };
        let client = match (tenant, obj.spec_error()) {
            // A spec error explains itself better than the credential error it may cause.
            (_, Some(e)) => Err(Stall::invalid_spec(e.to_string())),
            (None, None) => Err(tenant_not_found(&obj)),
            (Some(t), None) => clients.of(t),
        };
        Run {
            tenant: tenant.map(|t| t.spec.clone()).unwrap_or_default(),
            ad: tenant.and_then(|t| super::directory::active_directory(t, secrets, env)),
            client,
            obj,
        }
    }
}

/// What every run shares.
struct Shell<'a> {
    opts: &'a RunOptions,
    journal: &'a dyn Journal,
    progress: Progress,
    clock: ScaledClock,
    /// When the run gives up (`--timeout`), a pass in flight included; none: never.
    deadline: Option<Instant>,
    stop: &'a Stop,
    /// What each conversion selects, for the overlap gate.
    selections: &'a Selections,
}

/// Resolves at `deadline` (never without one).
async fn reached(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// How a pass ended: done, or abandoned by a stop or by the deadline.
enum Passed<T> {
    Done(T),
    Stopped,
    TimedOut,
}

/// The Graph client of each TenantSyncPolicy among the manifests, built once: every resource of
/// a tenant shares it, and with it the pacer that keeps them all under the tenant's quota.
pub(super) struct Clients(std::collections::HashMap<ResourceKey, Result<GraphClient, Stall>>);

impl Clients {
    /// Builds the client of each of `tenants`.
    pub(super) fn new(tenants: &[TenantSyncPolicy], secrets: &Secrets, opts: &RunOptions) -> Self {
        Self(
            tenants
                .iter()
                .map(|t| (key_of(t), tenant_client(t, secrets, opts)))
                .collect(),
        )
    }

    /// The client of `t` (a clone sharing its pacer and token cache).
    pub(super) fn of(&self, t: &TenantSyncPolicy) -> Result<GraphClient, Stall> {
        self.0.get(&key_of(t)).cloned().unwrap_or_else(|| {
            Err(Stall::fixable(
                reasons::TENANT_NOT_FOUND,
                "the TenantSyncPolicy is not among the manifests",
            ))
        })
    }
}

/// The Graph client of `t`, or why it has none (its spec is invalid, or its credentials can't
/// be read).
pub(super) fn tenant_client(
    t: &TenantSyncPolicy,
    secrets: &Secrets,
    opts: &RunOptions,
) -> Result<GraphClient, Stall> {
    if let Some(e) = t.spec_error() {
        return Err(Stall::invalid_spec(e.to_string()));
    }
    credentials::resolve(t, secrets, &opts.env)
        .and_then(|c| {
            credentials::graph_client(
                t,
                (c, secrets),
                (&opts.overrides, &opts.env),
                opts.time_scale,
            )
        })
        .map_err(|e| Stall::fixable(reasons::CREDENTIALS_UNAVAILABLE, e.0))
}

impl Shell<'_> {
    /// Pass after pass until `run` is Ready, Stalled or suspended, the timeout passes or a stop
    /// is requested.
    async fn run<R: Reconciled>(&self, mut run: Run<R>) -> Ran {
        let Shell {
            opts,
            journal,
            progress,
            clock,
            deadline,
            stop,
            selections,
        } = self;
        let deadline = *deadline;
        let key = key_of(&run.obj);
        let shown = format!("{}/{}", key.namespace, key.name);
        let mut failures: u32 = 0;
        // A run ends at Ready, so the guard rarely gets past its first (full) round here.
        let guard = tenant::guard::GuardCache::default();
        let done = |obj: &R, settled| Ran {
            name: shown.clone(),
            object: serde_json::to_value(obj).unwrap_or_default(),
            settled,
        };
        loop {
            if stop.is_requested() {
                progress.finish(&shown);
                return done(&run.obj, Settled::Interrupted);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                progress.finish(&shown);
                return done(&run.obj, Settled::TimedOut);
            }
            let now = clock.now();
            let pass = async {
                match &run.client {
                    Err(stall) => Ok(run.obj.stall(&run.tenant, now, stall.clone())),
                    Ok(graph) => {
                        let ctx = Context {
                            graph,
                            journal: *journal,
                            resource: key.clone(),
                            concurrency: opts.concurrency,
                            now,
                            guard: &guard,
                            ad: run.ad.as_ref(),
                            selections: Some(*selections),
                        };
                        run.obj.pass(&run.tenant, &ctx).await
                    }
                }
            };
            // On a stop the pass may finish its wave within the grace; past it, or at the
            // deadline, it is dropped between two awaits (never inside an append) and the next
            // run settles its intents from the journal.
            let passed = tokio::select! {
                r = pass => Passed::Done(r),
                () = stop.expired() => Passed::Stopped,
                () = reached(deadline) => Passed::TimedOut,
            };
            let passed = match passed {
                Passed::Done(r) => r,
                Passed::Stopped => {
                    progress.warn(&shown, "stopped: pass in flight abandoned after the grace");
                    progress.finish(&shown);
                    return done(&run.obj, Settled::Interrupted);
                }
                Passed::TimedOut => {
                    progress.warn(
                        &shown,
                        "timed out (--timeout): pass in flight abandoned; the next run settles what it started from the journal",
                    );
                    progress.finish(&shown);
                    return done(&run.obj, Settled::TimedOut);
                }
            };
            let wait = match passed {
                Ok(outcome) => {
                    failures = 0;
                    // Whether or not it selected: the later resources no longer wait for it.
                    selections.passed(&key);
                    for e in &outcome.events {
                        progress.event(&shown, e);
                    }
                    let conditions = R::conditions(&outcome.status).to_vec();
                    progress.status(&shown, &conditions, R::progress(&outcome.status));
                    run.obj.set_status(outcome.status);
                    let settled = if run.obj.suspended() {
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
                        return done(&run.obj, s);
                    }
                    clock.real(outcome.requeue_after.unwrap_or(GUARD_INTERVAL))
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
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = reached(deadline) => {}
                () = stop.requested() => {}
            }
        }
    }
}
