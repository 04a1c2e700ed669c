//! One reconcile pass of any kind, as the tests run it: the kind's `Reconciled::pass`, kstatus
//! checked on the status it produces, the status stored back into the object. [`Harness`]
//! owns a resource with its client, journal and Events; [`pass`] and [`context`] serve tests
//! that share a client or journal between resources.

use std::fmt::Debug;
use std::path::PathBuf;

use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::{TenantSyncPolicy, TenantSyncPolicySpec};
use entra_cloud_operator::emulator::Emulator;
use entra_cloud_operator::graph::GraphClient;
use entra_cloud_operator::journal::{FileJournal, Journal, ResourceKey};
use entra_cloud_operator::reconcile::resource::Reconciled;
use entra_cloud_operator::reconcile::tenant::guard::GuardCache;
use entra_cloud_operator::reconcile::{
    Context, DirectoryConnection, Outcome, ReconcileError, ReconcileEvent, RevertOutcome,
};
use serde_json::{Value, json};

use super::{SECRET, TENANT, client, policy, temp_dir};

/// The namespace of every resource under test.
pub const NAMESPACE: &str = "identity";

/// The journal key of the `R` named `name`.
pub fn key<R: Reconciled>(name: &str) -> ResourceKey {
    ResourceKey {
        kind: R::KIND.into(),
        namespace: NAMESPACE.into(),
        name: name.into(),
    }
}

/// An `R` named `name` at generation 1, from its spec's JSON.
pub fn resource<R: Reconciled + serde::de::DeserializeOwned>(name: &str, spec: Value) -> R {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": R::KIND,
        "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1},
        "spec": spec
    }))
    .unwrap()
}

/// The context of a pass or revert of `resource`: no Active Directory, 4 requests at once.
pub fn context<'a>(
    resource: ResourceKey,
    graph: &'a GraphClient,
    journal: &'a dyn Journal,
    guard: &'a GuardCache,
) -> Context<'a> {
    Context {
        graph,
        journal,
        resource,
        concurrency: 4,
        now: jiff::Timestamp::now(),
        guard,
        ad: None,
        selections: None,
    }
}

/// One reconcile pass of `obj` acting for `tenant` (a TenantSyncPolicy acts for itself);
/// transient errors are returned, not retried. The status it produces must follow kstatus,
/// and is stored back into `obj`.
pub async fn pass<R: Reconciled>(
    obj: &mut R,
    tenant: &TenantSyncPolicySpec,
    ctx: &Context<'_>,
) -> Result<Outcome<R::Status>, ReconcileError>
where
    R::Status: Debug,
{
    let outcome = obj.pass(tenant, ctx).await?;
    // A suspended TenantSyncPolicy leaves its status as it was, so it need not follow kstatus
    // yet; a suspended conversion records the generation it saw and must.
    if !(obj.as_tenant().is_some() && obj.suspended()) {
        cond::check_kstatus(
            R::conditions(&outcome.status),
            R::observed_generation(&outcome.status),
            obj.object_meta().generation,
        )
        .unwrap_or_else(|e| panic!("kstatus: {e}\n{:#?}", outcome.status));
    }
    obj.set_status(outcome.status.clone());
    Ok(outcome)
}

/// Approves the plan a stalled tenant-wide disable asks for, as a person editing the manifest
/// would: `spec.approvedPlan` set to `status.plan.digest`, a new generation. Whether there
/// was one.
pub fn approve_if_asked<R: Reconciled + serde::de::DeserializeOwned>(obj: &mut R) -> bool {
    let mut v = serde_json::to_value(&*obj).unwrap();
    let asks = v["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Stalled" && c["reason"] == "ApprovalRequired");
    let digest = v["status"]["plan"]["digest"].clone();
    if !asks || !digest.is_string() {
        return false;
    }
    v["spec"]["approvedPlan"] = digest;
    let generation = v["metadata"]["generation"].as_i64().unwrap_or(1);
    v["metadata"]["generation"] = json!(generation + 1);
    *obj = serde_json::from_value(v).unwrap();
    true
}

/// A resource under test with its own journal and client: passes one at a time, its Events
/// kept, its status read back.
pub struct Harness<R: Reconciled> {
    pub obj: R,
    /// The tenant policy a conversion acts for (a TenantSyncPolicy ignores it).
    pub tenant: TenantSyncPolicySpec,
    pub graph: GraphClient,
    pub journal: FileJournal,
    pub journal_path: PathBuf,
    pub events: Vec<ReconcileEvent>,
    /// The tenant guard's delta links, kept between passes as the controller keeps them.
    pub guard: GuardCache,
    /// The tenant's Active Directory as the shell resolved it.
    pub ad: Option<DirectoryConnection>,
    pub concurrency: usize,
    /// The reconcilers' clock, when a test sets it ([`Harness::clock_at`]); else real time.
    pub clock: Option<jiff::Timestamp>,
    /// A tenant-wide disable waiting for approval is approved at once, as a person would
    /// after reading the plan (`spec.approvedPlan` set to `status.plan.digest`, a new
    /// generation); tests of the approval itself turn this off.
    pub approve: bool,
}

impl<R: Reconciled + serde::de::DeserializeOwned> Harness<R>
where
    R::Status: Debug,
{
    /// `obj` acting for `policy("Unmanaged", false, "Report")`, with the test secret, a fresh
    /// journal, 4 requests at once and no Active Directory.
    pub fn new(emu: &Emulator, obj: R) -> Self {
        let journal_path = temp_dir(&R::KIND.to_lowercase()).join("journal.jsonl");
        Harness {
            obj,
            tenant: policy("Unmanaged", false, "Report").spec,
            graph: client(emu, SECRET),
            journal: FileJournal::open(
                &journal_path,
                entra_cloud_operator::journal::default_key(std::path::Path::new(&&journal_path))
                    .unwrap(),
            )
            .unwrap(),
            journal_path,
            events: Vec::new(),
            guard: GuardCache::default(),
            ad: None,
            concurrency: 4,
            clock: None,
            approve: true,
        }
    }

    /// From now on, passes run at `t` by the reconcilers' clock (the consistency window, the
    /// pause between waves), as a controller with a scaled clock would see it.
    pub fn clock_at(&mut self, t: jiff::Timestamp) {
        self.clock = Some(t);
    }

    /// The journal key of the resource.
    pub fn key(&self) -> ResourceKey {
        key::<R>(self.obj.object_meta().name.as_deref().unwrap_or_default())
    }

    /// The context of its passes and reverts.
    pub fn ctx(&self) -> Context<'_> {
        Context {
            concurrency: self.concurrency,
            ad: self.ad.as_ref(),
            now: self.clock.unwrap_or_else(jiff::Timestamp::now),
            ..context(self.key(), &self.graph, &self.journal, &self.guard)
        }
    }

    /// One reconcile pass ([`pass`]); its Events are kept. With [`Harness::approve`], a
    /// disable that waits for approval is approved and the pass runs again.
    pub async fn pass(&mut self) -> Result<Outcome<R::Status>, ReconcileError> {
        // A copy, so the context can borrow the harness while the pass writes the status.
        let mut obj = self.obj.clone();
        let outcome = pass(&mut obj, &self.tenant, &self.ctx()).await?;
        self.obj = obj;
        self.events.extend(outcome.events.clone());
        if self.approve && self.approve_plan() {
            return Box::pin(self.pass()).await;
        }
        Ok(outcome)
    }

    /// Approves the plan a stalled disable asks for ([`approve_if_asked`]); whether there was
    /// one.
    pub fn approve_plan(&mut self) -> bool {
        if !approve_if_asked(&mut self.obj) {
            return false;
        }
        if let Some(t) = self.obj.as_tenant() {
            self.tenant = t.spec.clone();
        }
        true
    }

    /// Pass until `done(status)` holds, at most `max` passes (transient errors retried).
    pub async fn until(&mut self, max: usize, done: impl Fn(&R::Status) -> bool) {
        for _ in 0..max {
            match self.pass().await {
                Ok(_) if done(&self.status()) => return,
                Ok(_) => {}
                Err(e) => eprintln!("transient: {e}"),
            }
        }
        panic!(
            "condition not reached after {max} passes; status: {:#?}",
            self.status()
        );
    }

    /// `onDelete: Revert`, as the controller runs it when the resource is deleted.
    pub async fn revert(&self) -> RevertOutcome {
        R::revert(&self.ctx(), TENANT).await.unwrap()
    }

    pub fn status(&self) -> R::Status {
        self.obj.status().cloned().unwrap_or_default()
    }

    /// Condition `t` as (status, reason, message).
    pub fn condition(&self, t: &str) -> Option<(String, String, String)> {
        cond::get(R::conditions(&self.status()), t)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    }

    pub fn reason(&self, t: &str) -> Option<String> {
        self.condition(t).map(|(_, reason, _)| reason)
    }

    /// The message of condition `t`, empty without one.
    pub fn message(&self, t: &str) -> String {
        self.condition(t).map(|(_, _, m)| m).unwrap_or_default()
    }

    /// The journal's entries, its keyed chain verified first.
    pub fn journal_entries(&self) -> Vec<entra_cloud_operator::journal::Entry> {
        use entra_cloud_operator::journal::{FileJournal, default_key};
        let key = default_key(&self.journal_path).unwrap();
        FileJournal::verify(&self.journal_path, Some(&key)).unwrap();
        FileJournal::read(&self.journal_path, Some(&key)).unwrap()
    }

    /// The journal's records, as JSON.
    pub fn journal_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.journal_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Harness<TenantSyncPolicy> {
    /// The tenant policy `tsp` with a client holding `secret`, 8 requests at once.
    pub fn tenant(emu: &Emulator, tsp: TenantSyncPolicy, secret: &str) -> Self {
        Harness {
            tenant: tsp.spec.clone(),
            graph: client(emu, secret),
            concurrency: 8,
            ..Harness::new(emu, tsp)
        }
    }
}
