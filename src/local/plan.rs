//! `plan` over manifests: what `apply` would do, from reads only. A conversion's plan is the
//! rollout engine's own decision ([`Reconciled::preview`]: the same observation,
//! classification and step a pass takes), and a tenant's is the tenant reconciler's, so the
//! plan shown is the plan applied.

use futures::future::BoxFuture;
use serde::Serialize;

use crate::api::TenantSyncPolicy;
use crate::api::tenant::TenantSyncPolicyStatus;
use crate::journal::{Entry, FileJournal, Journal, JournalError, Record, ResourceKey};
use crate::reconcile::resource::Reconciled;
use crate::reconcile::tenant::{observe, plan};
use crate::reconcile::{Context, permissions, preflight, tenant};

use super::conflicts::{self, Conflict};
use super::manifests::Manifests;
use super::runner::{RunOptions, key_of, tenant_client, tenant_not_found, tenant_of};

/// What `plan` found for one resource.
#[derive(Clone, Debug, Default, Serialize)]
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
    /// The plan to approve in `spec.approvedPlan`: a tenant-wide disable's, or a
    /// conversion's selection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// A conversion under `spec.requireApproval`: whether its spec approves the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_status: Option<String>,
    /// A conversion's every selected object and what `apply` would do to it (`-o json`;
    /// the text shows the counts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<crate::reconcile::outcome::PlannedObject>,
    /// The permission preflight: what `apply` needs against what the application was
    /// granted; `apply` stalls `MissingPermission` before any write while one is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<preflight::Report>,
    /// Conflicts with other resources, found before anything is written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    /// A conversion's selected object ids, sorted (ids only), to find objects two resources
    /// select; never printed.
    #[serde(skip)]
    pub selected: crate::guid::IdSet,
}

impl PlanReport {
    fn new<R: Reconciled>(obj: &R) -> Self {
        let key = key_of(obj);
        PlanReport {
            kind: key.kind,
            resource: format!("{}/{}", key.namespace, key.name),
            ..PlanReport::default()
        }
    }

    /// Whether `apply` would change something here, or a reviewer must look: a row with a
    /// real request (not [`PlannedChange::none`]), or a conflict. A conversion in
    /// `mode: Plan` counts when it selects objects to convert: its preview lists the request
    /// `mode: Apply` would send (with the objects pending), which is what a reviewer is asked
    /// to approve; rows `apply` leaves alone (`none (excluded)`, `none (prerequisite)`, …)
    /// do not count.
    ///
    /// [`PlannedChange::none`]: crate::reconcile::outcome::PlannedChange::none
    pub fn pending(&self) -> bool {
        !self.conflicts.is_empty() || self.changes.iter().any(|c| c.is_request())
    }

    /// Whether `apply` would stall for a missing permission.
    pub fn lacks_permissions(&self) -> bool {
        self.permissions
            .as_ref()
            .is_some_and(|p| !p.missing.is_empty())
    }
}

/// What `plan --detailed-exitcode` says of the reports, as Terraform does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing would change and nothing conflicts: exit 0.
    NoChanges,
    /// Changes or conflicts to review ([`PlanReport::pending`]): exit 2.
    Pending,
    /// Some resource could not be planned (a `problem`), or lacks a permission `apply`
    /// needs: exit 1.
    Error,
}

impl Verdict {
    /// The verdict of a whole plan: an error wins over pending changes.
    pub fn of(reports: &[PlanReport]) -> Self {
        if reports
            .iter()
            .any(|r| r.problem.is_some() || r.lacks_permissions())
        {
            Verdict::Error
        } else if reports.iter().any(PlanReport::pending) {
            Verdict::Pending
        } else {
            Verdict::NoChanges
        }
    }

    /// The exit code `--detailed-exitcode` gives.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::NoChanges => 0,
            Verdict::Error => 1,
            Verdict::Pending => 2,
        }
    }
}

/// Observe each user and group conversion and tenant, and say what `apply` would change.
/// Sends only reads; the journal is read (what earlier runs did), never written.
pub async fn plan(manifests: Manifests, opts: &RunOptions) -> Vec<PlanReport> {
    let journal = match ReadOnly::open(opts) {
        Ok(j) => j,
        Err(e) => {
            let problem = format!("reading the journal: {e}");
            return every(&manifests)
                .map(|mut r| {
                    r.problem = Some(problem.clone());
                    r
                })
                .collect();
        }
    };
    let mut out = Vec::new();
    for loaded in &manifests.users {
        out.push(plan_conversion(&loaded.resource, &manifests, opts, &journal).await);
    }
    for loaded in &manifests.tenants {
        out.push(plan_tenant(&loaded.resource, &manifests, opts).await);
    }
    for loaded in &manifests.groups {
        out.push(plan_conversion(&loaded.resource, &manifests, opts, &journal).await);
    }
    let selections: Vec<conflicts::Selected<'_>> = out
        .iter()
        .map(|r| conflicts::Selected {
            kind: &r.kind,
            resource: &r.resource,
            tenant_id: &r.tenant_id,
            ids: &r.selected,
        })
        .collect();
    let found = conflicts::selected_twice(&selections);
    for (i, c) in found {
        out[i].conflicts.push(c);
    }
    // The tenant reports follow the user conversions' (see above).
    let tenants: Vec<&TenantSyncPolicy> = manifests.tenants.iter().map(|l| &l.resource).collect();
    for (i, c) in conflicts::tenant_set_twice(&tenants) {
        out[manifests.users.len() + i].conflicts.push(c);
    }
    out
}

/// An empty report of every resource, in plan order.
fn every(m: &Manifests) -> impl Iterator<Item = PlanReport> + '_ {
    let users = m.users.iter().map(|l| PlanReport::new(&l.resource));
    let tenants = m.tenants.iter().map(|l| PlanReport::new(&l.resource));
    let groups = m.groups.iter().map(|l| PlanReport::new(&l.resource));
    users.chain(tenants).chain(groups)
}

/// A conversion's plan: the engine's preview of the next pass.
async fn plan_conversion<R: Reconciled>(
    obj: &R,
    m: &Manifests,
    opts: &RunOptions,
    journal: &ReadOnly,
) -> PlanReport {
    let mut report = PlanReport::new(obj);
    let Some(tenant) = tenant_of(obj, m.tenants.iter().map(|l| &l.resource)) else {
        report.problem = Some(tenant_not_found(obj).message);
        return report;
    };
    report.tenant_id = tenant.spec.tenant_id.clone();
    report
        .conflicts
        .extend(conflicts::tenant_disables(&report.kind, tenant));
    if let Some(e) = obj.spec_error() {
        report.problem = Some(e.to_string());
        return report;
    }
    let graph = match tenant_client(tenant, &m.secrets, opts) {
        Ok(g) => g,
        Err(stall) => {
            report.problem = Some(stall.message);
            return report;
        }
    };
    let ad = super::directory::active_directory(tenant, &m.secrets, &opts.env);
    let guard = tenant::guard::GuardCache::default();
    let ctx = Context {
        graph: &graph,
        journal,
        resource: key_of(obj),
        concurrency: opts.concurrency,
        now: jiff::Timestamp::now(),
        guard: &guard,
        ad: ad.as_ref(),
        selections: None,
    };
    match obj.preview(&tenant.spec, &ctx).await {
        Err(e) => report.problem = Some(e.to_string()),
        Ok(Err(stall)) => report.problem = Some(stall.message),
        Ok(Ok(preview)) => {
            report.next_step = preview.next_step;
            report.changes = preview.changes;
            report.link_audit = preview.link_audit;
            report.selected = preview.selected;
            report.approval = Some(preview.approval);
            report.objects = preview.objects;
            report.approval_status = preview.approval_status;
            report.permissions = preview.permissions;
        }
    }
    report
}

/// A tenant's plan: observe, then the tenant reconciler's decision and requests.
async fn plan_tenant(tsp: &TenantSyncPolicy, m: &Manifests, opts: &RunOptions) -> PlanReport {
    let mut report = PlanReport::new(tsp);
    report.tenant_id = tsp.spec.tenant_id.clone();
    let graph = match tenant_client(tsp, &m.secrets, opts) {
        Ok(g) => g,
        Err(stall) => {
            report.problem = Some(stall.message);
            return report;
        }
    };
    if let Some(ad) = super::directory::active_directory(tsp, &m.secrets, &opts.env) {
        match super::directory::plan_audit(&graph, ad, None).await {
            Ok(a) => report.link_audit = Some(a),
            Err(p) => {
                report.problem = Some(p);
                return report;
            }
        }
    }
    let ops = permissions::tenant_operations(&tsp.spec);
    let observed = match observe::observe(&graph).await {
        Ok(obs) => preflight::check(&graph, &ops).await.map(|p| (obs, p)),
        Err(e) => Err(e),
    };
    match observed {
        Err(e) => report.problem = Some(e.to_string()),
        Ok((obs, permissions)) => {
            report.permissions = Some(permissions);
            let status = tsp.status.clone().unwrap_or_default();
            let decision = plan::decide(&tsp.spec, &obs, &status, true, jiff::Timestamp::now());
            report.next_step = decision.to_string();
            if decision
                == (plan::Decision::SetSync {
                    enabled: false,
                    remediation: false,
                })
            {
                report.approval = obs.plan_digest(&tsp.spec.tenant_id).map(|p| p.render());
            }
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
    report
}

/// The journal as `plan` sees it: what earlier runs recorded (the file given with
/// `--journal`, when it exists), read once; `plan` writes nothing to it.
pub(super) struct ReadOnly {
    entries: Vec<Entry>,
}

impl ReadOnly {
    pub(super) fn open(opts: &RunOptions) -> Result<Self, JournalError> {
        let key_file = crate::journal::key_path(&opts.journal, opts.journal_key.as_deref());
        let key = crate::journal::load_key(&opts.journal, &key_file, false)?;
        let entries = FileJournal::read(&opts.journal, key.as_ref())?;
        let shown = opts.journal.display().to_string();
        for e in &entries {
            if let crate::journal::Trust::Broken(detail) = &e.trust {
                return Err(JournalError::Tampered {
                    path: shown,
                    line: 0,
                    seq: e.seq,
                    detail: detail.clone(),
                });
            }
        }
        Ok(ReadOnly { entries })
    }

    fn of<'a>(&'a self, resource: &'a ResourceKey) -> impl Iterator<Item = &'a Entry> {
        self.entries
            .iter()
            .filter(move |e| &e.record.resource == resource)
    }
}

impl Journal for ReadOnly {
    fn append<'a>(&'a self, _: &'a [Record]) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async {
            Err(JournalError::Io {
                path: "plan".into(),
                source: std::io::Error::other("plan writes nothing, not even the journal"),
            })
        })
    }

    fn entries_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
    ) -> BoxFuture<'a, Result<Vec<Entry>, JournalError>> {
        Box::pin(async move { Ok(self.of(resource).cloned().collect()) })
    }

    fn visit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            for e in self.of(resource) {
                visit(e.clone());
            }
            Ok(())
        })
    }

    fn audit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
    ) -> BoxFuture<'a, Result<Vec<Entry>, JournalError>> {
        self.entries_for(resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::outcome::PlannedChange;

    fn with(changes: Vec<PlannedChange>) -> PlanReport {
        PlanReport {
            changes,
            ..PlanReport::default()
        }
    }

    #[test]
    fn only_real_requests_conflicts_and_problems_move_the_verdict() {
        let left_alone = with(vec![
            PlannedChange::none("excluded", 0, "breakglass".into()),
            PlannedChange::prerequisite(&crate::api::common::Prerequisite {
                name: "ExchangeOnlineMailboxes".into(),
                state: "Met".into(),
                message: String::new(),
            }),
        ]);
        assert!(!left_alone.pending());
        assert_eq!(
            Verdict::of(std::slice::from_ref(&left_alone)),
            Verdict::NoChanges
        );
        assert_eq!(Verdict::of(&[]).exit_code(), 0);
        // mode: Plan lists the request mode: Apply would send: pending review.
        let convert = with(vec![PlannedChange {
            request: "PATCH /users/{id}/onPremisesSyncBehavior isCloudManaged=true".into(),
            objects: 3,
            detail: "e.g. a".into(),
        }]);
        assert_eq!(
            Verdict::of(&[left_alone.clone(), convert.clone()]),
            Verdict::Pending
        );
        assert_eq!(Verdict::Pending.exit_code(), 2);
        let mut conflicted = left_alone.clone();
        conflicted.conflicts.push(Conflict {
            kind: conflicts::SELECTED_TWICE.into(),
            with: "x".into(),
            objects: 1,
            examples: Vec::new(),
            detail: String::new(),
        });
        assert_eq!(Verdict::of(&[conflicted]), Verdict::Pending);
        let broken = PlanReport {
            problem: Some("no Secret".into()),
            ..PlanReport::default()
        };
        assert_eq!(Verdict::of(&[convert.clone(), broken]).exit_code(), 1);
        // A permission apply needs and lacks: apply would stall, the plan fails.
        let short = PlanReport {
            permissions: Some(preflight::Report {
                missing: vec!["Group.ReadWrite.All"],
                ..preflight::Report::default()
            }),
            ..convert
        };
        assert!(short.lacks_permissions());
        assert_eq!(Verdict::of(&[short]), Verdict::Error);
    }
}
