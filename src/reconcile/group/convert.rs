//! Convert one wave of groups, height by height (nested groups before the groups containing
//! them): read each group's owners and members, journal the switch with those prior values,
//! switch and verify, then journal and add the owners. A group containing one that failed in
//! this wave waits for a later wave.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

use crate::api::common::ObjectFailure;
use crate::graph::GraphError;
use crate::journal::{Action, JournalError, Object, Phase, Record};
use crate::reconcile::Context;

use super::order::Nesting;
use super::plan::Work;
use super::select::{Candidate, Owner};
use super::steps::{self, Prepared, StepError};

/// What a wave did.
#[derive(Debug, Default)]
pub struct WaveReport {
    /// Groups fully converted (switched and verified, owners added).
    pub converted: i64,
    /// Groups that failed, with why.
    pub failures: Vec<ObjectFailure>,
    /// A failure that stopped the wave: missing permission or refused credentials. A 403
    /// after the same step was accepted for another group is that group's failure instead
    /// ([`GraphError::is_fatal`]).
    pub fatal: Option<GraphError>,
    /// Mail-enabled groups switched in this wave (Exchange Online manages them now).
    pub exchange_managed: Vec<String>,
    /// Owners added.
    pub owners_added: i64,
    /// Groups not attempted because a group nested in them failed.
    pub deferred: Vec<String>,
    /// Groups whose switch Graph accepted but that did not read back within the pass
    /// (eventual consistency): neither converted nor failed, confirmed on a later pass.
    pub unconfirmed: Vec<String>,
}

/// Whether `root` contains (at any depth) one of `ids`.
fn contains_any(nesting: &Nesting, root: &str, ids: &BTreeSet<String>) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.to_string()];
    while let Some(g) = stack.pop() {
        for c in nesting.get(&g).into_iter().flatten() {
            if ids.contains(c) {
                return true;
            }
            if seen.insert(c.clone()) {
                stack.push(c.clone());
            }
        }
    }
    false
}

/// A short, stable digest of a member list, so the journal proves what it was without
/// holding thousands of ids.
fn digest(ids: &BTreeSet<String>) -> String {
    let joined: Vec<&str> = ids.iter().map(String::as_str).collect();
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, joined.join("\n").as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The note of an accepted switch that did not read back within its pass.
const UNCONFIRMED_NOTE: &str = "accepted; not read back yet (Graph is eventually consistent): confirmed by a later pass within the consistency window";

struct Recorder<'a> {
    ctx: &'a Context<'a>,
    tenant: &'a str,
}

impl Recorder<'_> {
    fn record(&self, g: &Candidate, action: Action, phase: Phase, prior: Value) -> Record {
        let group = Object::group(&g.id, Some(g.name.clone()));
        Record::new(&self.ctx.resource, self.tenant, group, action, phase, prior)
    }

    fn switch(&self, p: &Prepared, phase: Phase) -> Record {
        let members = p.members_before.clone().unwrap_or_default();
        let prior = json!({
            "isCloudManaged": false,
            "onPremisesSyncEnabled": true,
            "owners": p.owners_before,
            "members": {"count": members.len(), "sha256": digest(&members)},
        });
        self.record(&p.work.group, Action::SwitchToCloud, phase, prior)
    }

    fn owner(&self, p: &Prepared, o: &Owner, phase: Phase, already: bool) -> Record {
        let mut prior = json!({"owner": o.id, "ownerName": o.name, "owners": p.owners_before});
        if already {
            // Nothing was sent: recorded so the next pass knows the owner is in place.
            prior["alreadyOwner"] = json!(true);
        }
        self.record(&p.work.group, Action::AddOwner, phase, prior)
    }
}

/// Records why `g` failed; `accepted_alike` says whether Graph accepted the same step for
/// another group of the wave (a 403 is then this group's alone).
fn failure(
    report: &mut WaveReport,
    now: jiff::Timestamp,
    g: &Candidate,
    action: &str,
    e: StepError,
    accepted_alike: bool,
) -> String {
    let (code, message, fatal) = match e {
        StepError::NotVerified | StepError::Unconfirmed(_) => (
            "VerifyFailed".to_string(),
            "onPremisesSyncBehavior.isCloudManaged did not read back true after the switch"
                .to_string(),
            None,
        ),
        StepError::MembershipChanged(what) => ("MembershipChanged".to_string(), what, None),
        StepError::Graph(e) => {
            let code = e.code().unwrap_or(e.category().reason()).to_string();
            let fatal = e.is_fatal(accepted_alike);
            (code, e.to_string(), fatal.then_some(e))
        }
    };
    if let Some(f) = fatal {
        report.fatal.get_or_insert(f);
    } else {
        report.failures.push(ObjectFailure {
            object_id: g.id.clone(),
            name: Some(g.name.clone()),
            action: action.into(),
            code,
            message: message.clone(),
            time: Time(now),
        });
    }
    message
}

async fn all<F: std::future::Future>(ctx: &Context<'_>, futs: Vec<F>) -> Vec<F::Output> {
    futures::stream::iter(futs)
        .buffered(ctx.concurrency.max(1))
        .collect()
        .await
}

/// What earlier waves of the resource proved: that Graph accepted switches with this token
/// (groups converted once the resource has run a wave), and the groups it refused one at a
/// time (failures kept with `Authorization_RequestDenied`). A 403 on a switch then, or again
/// on such a group, is that group's alone (the last wave may hold nobody else).
#[derive(Debug, Default)]
pub struct Earlier {
    switched: bool,
    refused: BTreeSet<(String, String)>,
}

impl Earlier {
    /// From the resource's status.
    pub fn new(converted: i64, recent: &[ObjectFailure]) -> Self {
        let refused = recent
            .iter()
            .filter(|f| f.code == crate::graph::error::REQUEST_DENIED)
            .map(|f| (f.object_id.clone(), f.action.clone()))
            .collect();
        Earlier {
            switched: converted > 0,
            refused,
        }
    }

    fn refused(&self, g: &Candidate, action: &str) -> bool {
        self.refused.contains(&(g.id.clone(), action.to_string()))
    }
}

/// Convert `groups` (bottom-up), level by level of `heights`.
pub async fn run_wave(
    ctx: &Context<'_>,
    tenant_id: &str,
    groups: &[Work],
    heights: &BTreeMap<String, usize>,
    nesting: &Nesting,
    earlier: Earlier,
) -> Result<WaveReport, JournalError> {
    let rec = Recorder {
        ctx,
        tenant: tenant_id,
    };
    let mut report = WaveReport::default();
    // Whether Graph accepted a switch, or an owner, for some group of this wave: a 403 on the
    // same step is then the refused group's alone, not a missing permission.
    let (mut switch_accepted, mut owner_accepted) = (earlier.switched, false);
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let mut levels: BTreeMap<usize, Vec<&Work>> = BTreeMap::new();
    for w in groups {
        let h = heights.get(&w.group.id).copied().unwrap_or(0);
        levels.entry(h).or_default().push(w);
    }
    for level in levels.into_values() {
        if report.fatal.is_some() {
            break;
        }
        let mut go = Vec::new();
        for w in level {
            if contains_any(nesting, &w.group.id, &failed) {
                report.deferred.push(w.group.name.clone());
                failed.insert(w.group.id.clone());
            } else {
                go.push(w.clone());
            }
        }
        let reads = go
            .into_iter()
            .map(|w| steps::prepare(ctx.graph.clone(), w))
            .collect();
        let mut ready = Vec::new();
        for r in all(ctx, reads).await {
            match r {
                Ok(p) => ready.push(p),
                Err((w, e)) => {
                    let action = if w.switch {
                        "SwitchToCloud"
                    } else {
                        "AddOwner"
                    };
                    // Reads are not refused one object at a time: a 403 here is fatal.
                    let e = StepError::Graph(e);
                    failure(&mut report, ctx.now, &w.group, action, e, false);
                    failed.insert(w.group.id.clone());
                }
            }
        }
        if report.fatal.is_some() {
            break;
        }
        let (to_switch, mut switched): (Vec<Prepared>, Vec<Prepared>) =
            ready.into_iter().partition(|p| p.work.switch);
        let intents: Vec<Record> = to_switch
            .iter()
            .map(|p| rec.switch(p, Phase::Intent))
            .collect();
        ctx.journal.append(&intents).await?;
        let runs = to_switch
            .into_iter()
            .map(|p| steps::switch(ctx.graph.clone(), p))
            .collect();
        let switches = all(ctx, runs).await;
        // A switch that did not read back, or whose members changed, was accepted.
        switch_accepted |= switches
            .iter()
            .any(|(_, r)| !matches!(r, Err(StepError::Graph(_))));
        let mut outcomes = Vec::new();
        for (p, result) in switches {
            let mut r = rec.switch(&p, Phase::Applied);
            let g = &p.work.group;
            match result {
                Ok(request_id) => {
                    r.request_id = request_id;
                    if g.exchange_managed {
                        report.exchange_managed.push(g.name.clone());
                    }
                    switched.push(p.clone());
                }
                Err(StepError::Unconfirmed(request_id)) => {
                    // Accepted: journaled so (no second switch); owners wait for the read-back.
                    r.request_id = request_id;
                    r.note = Some(UNCONFIRMED_NOTE.into());
                    report.unconfirmed.push(g.name.clone());
                }
                Err(StepError::MembershipChanged(what)) => {
                    // The switch itself was applied and verified; the group fails, no owners.
                    let e = StepError::MembershipChanged(what);
                    failure(&mut report, ctx.now, g, "VerifyMembers", e, true);
                    failed.insert(g.id.clone());
                }
                Err(e) => {
                    r.phase = Phase::Failed;
                    let alike = switch_accepted || earlier.refused(g, "SwitchToCloud");
                    r.error = Some(failure(&mut report, ctx.now, g, "SwitchToCloud", e, alike));
                    failed.insert(g.id.clone());
                }
            }
            outcomes.push(r);
        }
        if report.fatal.is_some() {
            ctx.journal.append(&outcomes).await?;
            break;
        }

        // Owners, now that the groups are cloud-managed.
        let mut adds = Vec::new();
        for p in switched {
            for o in p.owners_present() {
                outcomes.push(rec.owner(&p, &o, Phase::Applied, true));
            }
            let todo = p.owners_to_add();
            if todo.is_empty() {
                report.converted += 1;
                continue;
            }
            outcomes.extend(todo.iter().map(|o| rec.owner(&p, o, Phase::Intent, false)));
            adds.push(steps::add_owners(ctx.graph.clone(), p, todo));
        }
        ctx.journal.append(&outcomes).await?;
        let added = all(ctx, adds).await;
        owner_accepted |= added
            .iter()
            .any(|(_, done)| done.iter().any(|(_, r)| r.is_ok()));
        let mut results = Vec::new();
        for (p, done) in added {
            let mut complete = done.len() == p.owners_to_add().len();
            for (o, result) in done {
                let mut r = rec.owner(&p, &o, Phase::Applied, false);
                match result {
                    Ok(request_id) => {
                        r.request_id = request_id;
                        report.owners_added += 1;
                    }
                    Err(e) => {
                        complete = false;
                        r.phase = Phase::Failed;
                        let e = StepError::Graph(e);
                        let g = &p.work.group;
                        let alike = owner_accepted || earlier.refused(g, "AddOwner");
                        r.error = Some(failure(&mut report, ctx.now, g, "AddOwner", e, alike));
                        failed.insert(p.work.group.id.clone());
                    }
                }
                results.push(r);
            }
            if complete {
                report.converted += 1;
            }
        }
        ctx.journal.append(&results).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_is_transitive_and_cycle_safe() {
        let mut n = Nesting::new();
        for (p, c) in [("a", "b"), ("b", "c"), ("c", "a"), ("x", "y")] {
            n.entry(p.into()).or_default().insert(c.into());
        }
        let failed: BTreeSet<String> = ["c".to_string()].into();
        assert!(contains_any(&n, "a", &failed));
        assert!(!contains_any(&n, "x", &failed));
        assert!(!contains_any(&n, "zz", &failed));
    }

    #[test]
    fn member_digests_are_stable() {
        let a: BTreeSet<String> = ["2".to_string(), "1".to_string()].into();
        let b: BTreeSet<String> = ["1".to_string(), "2".to_string()].into();
        assert_eq!(digest(&a), digest(&b));
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), digest(&BTreeSet::new()));
    }
}
