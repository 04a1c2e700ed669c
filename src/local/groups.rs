//! `CloudGroupConversion`s in `apply` and `plan`: the same reconciler the controller runs,
//! with the tenant policy found among the manifests.

use std::time::Duration;

use crate::api::group::CloudGroupConversion;
use crate::api::{TenantSyncPolicy, TenantSyncPolicySpec};
use crate::graph::GraphClient;
use crate::journal::ResourceKey;
use crate::reconcile::group::{self as rec, order, plan as gplan, select, validate};
use crate::reconcile::tenant::{Context, plan::PlannedChange};
use crate::reconcile::{ReconcileError, ReconcileEvent};

use super::manifests::{Loaded, Manifests};
use super::runner::{Clients, NoClient, PlanReport, RunOptions, Runnable, key_of, tenant_client};

/// A group conversion being driven by the runner.
pub(super) struct GroupRun {
    cgc: CloudGroupConversion,
    tenant: Option<TenantSyncPolicySpec>,
}

fn tenant_of<'a>(
    cgc: &CloudGroupConversion,
    tenants: impl IntoIterator<Item = &'a TenantSyncPolicy>,
) -> Option<&'a TenantSyncPolicy> {
    tenants.into_iter().find(|t| {
        t.metadata.namespace == cgc.metadata.namespace
            && t.metadata.name.as_deref() == Some(cgc.spec.tenant_ref.name.as_str())
    })
}

/// The run of `loaded` and its Graph client, or why it has none (the tenant policy is not
/// among the manifests, or the spec is invalid).
pub(super) fn prepare(
    loaded: Loaded<CloudGroupConversion>,
    tenants: &[TenantSyncPolicy],
    clients: &Clients,
) -> (GroupRun, Result<GraphClient, NoClient>) {
    let cgc = loaded.resource;
    let tenant = tenant_of(&cgc, tenants);
    let client = match tenant {
        None => Err(crate::reconcile::Stall::fixable(
            crate::reasons::TENANT_NOT_FOUND,
            format!(
                "spec.tenantRef.name: TenantSyncPolicy {}/{} is not among the manifests; add it to the files given with -f",
                cgc.metadata.namespace.clone().unwrap_or_default(),
                cgc.spec.tenant_ref.name
            ),
        )),
        Some(t) => clients.of(t),
    };
    let client = match validate::validate(&cgc.spec) {
        Err(e) => Err(crate::reconcile::Stall::invalid_spec(e.to_string())),
        Ok(_) => client,
    };
    let run = GroupRun {
        tenant: tenant.map(|t| t.spec.clone()),
        cgc,
    };
    (run, client)
}

impl Runnable for GroupRun {
    fn key(&self) -> ResourceKey {
        key_of(rec::KIND, &self.cgc.metadata)
    }
    fn suspended(&self) -> bool {
        self.cgc.spec.suspend
    }
    fn conditions(&self) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
        self.cgc
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default()
    }
    fn progress(&self) -> Option<String> {
        self.cgc
            .status
            .as_ref()
            .map(|s| format!("{}/{}", s.converted, s.converted + s.pending))
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.cgc).unwrap_or_default()
    }
    async fn pass(
        &mut self,
        ctx: Result<Context<'_>, NoClient>,
        now: jiff::Timestamp,
    ) -> Result<(Vec<ReconcileEvent>, Option<Duration>), ReconcileError> {
        let fallback = TenantSyncPolicySpec::default();
        let input = rec::Input {
            spec: &self.cgc.spec,
            generation: self.cgc.metadata.generation,
            status: self.cgc.status.as_ref(),
            tenant: self.tenant.as_ref().unwrap_or(&fallback),
        };
        let outcome = match ctx {
            Err(stall) => rec::stall(input, now, stall),
            Ok(ctx) => rec::reconcile(input, &ctx).await?,
        };
        self.cgc.status = Some(outcome.status);
        Ok((outcome.events, outcome.requeue_after))
    }
}

/// What `apply` would do for `cgc`, from reads only.
pub(super) async fn plan_groups(
    cgc: &CloudGroupConversion,
    m: &Manifests,
    opts: &RunOptions,
) -> PlanReport {
    let key = key_of(rec::KIND, &cgc.metadata);
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
    let Some(tenant) = tenant_of(cgc, m.tenants.iter().map(|l| &l.resource)) else {
        report.problem = Some(format!(
            "spec.tenantRef.name: TenantSyncPolicy {} is not among the manifests",
            cgc.spec.tenant_ref.name
        ));
        return report;
    };
    report.tenant_id = tenant.spec.tenant_id.clone();
    if let Err(e) = validate::validate(&cgc.spec) {
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
    let sel = match select::select(&graph, &cgc.spec).await {
        Ok(s) => s,
        Err(e) => {
            report.problem = Some(format!("spec.{}: {}", e.field, e.error));
            return report;
        }
    };
    if !sel.missing_owners.is_empty() {
        report.problem = Some(format!(
            "spec.owners: no such user in the tenant: {}",
            sel.missing_owners.join(", ")
        ));
        return report;
    }
    let ids: Vec<String> = sel.candidates.keys().cloned().collect();
    let order = match order::bottom_up(&ids, &sel.nesting) {
        Ok(o) => o,
        Err(cycle) => {
            let names: Vec<String> = cycle
                .iter()
                .filter_map(|id| sel.candidates.get(id).map(|c| c.name.clone()))
                .collect();
            report.problem = Some(format!(
                "spec.selector: groups nested in a cycle have no bottom-up order: {}",
                names.join(", ")
            ));
            return report;
        }
    };
    let c = gplan::classify(&sel, &gplan::Done::default(), &order);
    let mut spec = cgc.spec.clone();
    spec.mode = crate::api::common::ConversionMode::Plan;
    let step = gplan::decide(
        &spec,
        &c,
        &Default::default(),
        tenant.spec.drift,
        true,
        sel.truncated,
        jiff::Timestamp::now(),
    );
    let switch: Vec<&gplan::Work> = c.pending().filter(|w| w.switch).collect();
    let owners: Vec<&gplan::Work> = c.pending().filter(|w| !w.owners.is_empty()).collect();
    let blast = matches!(step, gplan::Step::BlastRadiusExceeded(_));
    report.next_step = match step {
        gplan::Step::BlastRadiusExceeded(n) => format!(
            "stall: {}{n} groups selected, more than rollout.maxObjects ({})",
            if sel.truncated { "at least " } else { "" },
            cgc.spec.rollout.max_objects
        ),
        _ if switch.is_empty() && owners.is_empty() => {
            "nothing: every selected group is as declared".into()
        }
        _ => format!(
            "convert {} groups bottom-up (nested groups first), canary {} then waves of {}",
            switch.len(),
            cgc.spec.rollout.canary,
            cgc.spec.rollout.wave_size
        ),
    };
    if blast {
        return report;
    }
    let sample = |w: &[&gplan::Work]| {
        let names: Vec<String> = w.iter().take(5).map(|w| w.group.name.clone()).collect();
        format!("e.g. {}", names.join(", "))
    };
    if !switch.is_empty() {
        report.changes.push(PlannedChange {
            request: "PATCH /groups/{id}/onPremisesSyncBehavior isCloudManaged=true".into(),
            objects: switch.len() as i64,
            detail: format!("in this order, nested groups first; {}", sample(&switch)),
        });
    }
    let mail: Vec<&gplan::Work> = switch
        .iter()
        .copied()
        .filter(|w| w.group.exchange_managed)
        .collect();
    if !mail.is_empty() {
        report.changes.push(PlannedChange {
            request: "none (Exchange Online manages them afterwards; no owners added)".into(),
            objects: mail.len() as i64,
            detail: format!("mail-enabled groups; {}", sample(&mail)),
        });
    }
    if !owners.is_empty() {
        let names: Vec<String> = sel.owners.iter().map(|o| o.name.clone()).collect();
        report.changes.push(PlannedChange {
            request: "POST /groups/{id}/owners/$ref".into(),
            objects: owners.len() as i64,
            detail: format!("owners {}; {}", names.join(", "), sample(&owners)),
        });
    }
    for x in &sel.excluded {
        report.changes.push(PlannedChange {
            request: "none (excluded)".into(),
            objects: 0,
            detail: format!(
                "{}: {}",
                x.display_name.clone().unwrap_or_else(|| x.id.clone()),
                x.reason
            ),
        });
    }
    for id in &sel.missing {
        report.changes.push(PlannedChange {
            request: "none (not found)".into(),
            objects: 0,
            detail: format!("group {id} does not exist in the tenant"),
        });
    }
    report
}
