//! `revert` over manifests: undo what each user and group conversion did, from the journal,
//! as `onDelete: Revert` does in a cluster. It runs the same functions as the finalizer: the
//! kind's preview says what would be undone (reads only), the kind's revert undoes it,
//! journaled, under the same bounds (only entries the journal key proves, prior values from
//! the journal, ImmutableIDs only onto their AD anchor). A TenantSyncPolicy is not reverted:
//! turning directory sync back on is not something the operator undoes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::api::{CloudGroupConversion, CloudUserConversion};
use crate::graph::GraphClient;
use crate::journal::{FileJournal, Journal};
use crate::reconcile::resource::Reconciled;
use crate::reconcile::revert_trust::{RevertPlan, UndoStep};
use crate::reconcile::{Context, DirectoryConnection, ReconcileError, RevertOutcome, tenant};

use super::manifests::Manifests;
use super::plan::ReadOnly;
use super::runner::{RunOptions, key_of, tenant_client, tenant_not_found, tenant_of};

mod text;

pub use text::{Format, render};

/// What `revert` found, and did, for one conversion.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevertReport {
    /// `CloudUserConversion` or `CloudGroupConversion`.
    pub kind: String,
    /// `namespace/name`.
    pub resource: String,
    /// Tenant id, once its TenantSyncPolicy is found.
    pub tenant_id: String,
    /// The changes to undo, in the order the revert makes them.
    pub undo: Vec<UndoStep>,
    /// Objects the revert leaves as they are, with why.
    pub kept: Vec<Kept>,
    /// Why nothing could be planned or undone for this resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// What the revert did (none with `--plan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Reverted>,
}

/// An object the revert keeps as it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Kept {
    /// The Entra object id.
    pub id: String,
    /// Its UPN or display name as journaled.
    pub name: String,
    /// Why it is kept.
    pub why: String,
}

/// What the revert of one resource did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reverted {
    /// Everything undone (nothing kept, nothing failed).
    pub done: bool,
    /// What it did, or what it left and why.
    pub message: String,
}

impl RevertReport {
    fn new<R: Reconciled>(obj: &R) -> Self {
        let key = key_of(obj);
        RevertReport {
            kind: key.kind,
            resource: format!("{}/{}", key.namespace, key.name),
            ..RevertReport::default()
        }
    }

    /// Whether there is anything to undo or to look at: a change, or an object kept.
    pub fn pending(&self) -> bool {
        !self.undo.is_empty() || !self.kept.is_empty()
    }
}

/// The exit code of `revert --plan`: 1 when a resource could not be planned, 2 when there is
/// something to undo or an object the revert would keep, 0 when there is nothing to revert.
pub fn plan_exit_code(reports: &[RevertReport]) -> u8 {
    if reports.iter().any(|r| r.problem.is_some()) {
        1
    } else if reports.iter().any(RevertReport::pending) {
        2
    } else {
        0
    }
}

/// The exit code of `revert`: 0 when every resource was reverted entirely, 1 when something
/// was kept, failed or could not be planned.
pub fn revert_exit_code(reports: &[RevertReport]) -> u8 {
    let whole = |r: &RevertReport| r.problem.is_none() && r.result.as_ref().is_some_and(|x| x.done);
    if reports.iter().all(whole) { 0 } else { 1 }
}

/// The kinds `revert` undoes, with the kind's preview of its revert.
trait Revertible: Reconciled {
    /// What the kind's revert would undo (reads only).
    fn revert_plan<'a>(ctx: &'a Context<'a>) -> BoxFuture<'a, Result<RevertPlan, ReconcileError>>;
}

impl Revertible for CloudUserConversion {
    fn revert_plan<'a>(ctx: &'a Context<'a>) -> BoxFuture<'a, Result<RevertPlan, ReconcileError>> {
        Box::pin(crate::reconcile::user::revert::preview(ctx))
    }
}

impl Revertible for CloudGroupConversion {
    fn revert_plan<'a>(ctx: &'a Context<'a>) -> BoxFuture<'a, Result<RevertPlan, ReconcileError>> {
        Box::pin(crate::reconcile::group::revert::preview(ctx))
    }
}

/// A revert over manifests: the conversions, the journal, the options.
pub struct Session {
    manifests: Manifests,
    opts: RunOptions,
    /// Read-only with `--plan`; the journal opened for appends otherwise.
    journal: Arc<dyn Journal>,
    guard: tenant::guard::GuardCache,
}

impl Session {
    /// Check the inputs and open the journal: read-only for a plan (`write` unset), else for
    /// appends (its chain verified first: a journal that does not verify is refused whole).
    /// `files` are the `-f` arguments, named when they hold no conversion.
    pub fn open(
        manifests: Manifests,
        files: &[PathBuf],
        opts: RunOptions,
        write: bool,
    ) -> anyhow::Result<Self> {
        if manifests.users.is_empty() && manifests.groups.is_empty() {
            anyhow::bail!(
                "{}: no CloudUserConversion or CloudGroupConversion to revert; give the manifests of the conversions to undo (with their TenantSyncPolicy and Secrets); a TenantSyncPolicy alone is not reverted",
                shown(files)
            );
        }
        anyhow::ensure!(
            opts.journal.exists(),
            "--journal {}: no such file; revert undoes what the journal recorded, so give the journal `apply` wrote (the default is entra-cloud-operator.journal.jsonl in the directory apply ran in)",
            opts.journal.display()
        );
        let journal: Arc<dyn Journal> = if write {
            let key_file = crate::journal::key_path(&opts.journal, opts.journal_key.as_deref());
            let key = crate::journal::load_key(&opts.journal, &key_file, false)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "--journal-key {}: not found, and the journal holds no keyed entry a revert could trust; give the key file apply used (--journal-key)",
                    key_file.display()
                )
            })?;
            Arc::new(FileJournal::open(&opts.journal, key)?)
        } else {
            Arc::new(ReadOnly::open(&opts)?)
        };
        Ok(Session {
            manifests,
            opts,
            journal,
            guard: tenant::guard::GuardCache::default(),
        })
    }

    /// What would be undone for each conversion (users first, then groups), from reads only.
    pub async fn plan(&self) -> Vec<RevertReport> {
        let mut out = Vec::new();
        for l in &self.manifests.users {
            out.push(self.one(&l.resource, false).await);
        }
        for l in &self.manifests.groups {
            out.push(self.one(&l.resource, false).await);
        }
        out
    }

    /// Plan, then undo, each conversion: the plan of each is in its report, with the result.
    pub async fn revert(&self) -> Vec<RevertReport> {
        let mut out = Vec::new();
        for l in &self.manifests.users {
            out.push(self.one(&l.resource, true).await);
        }
        for l in &self.manifests.groups {
            out.push(self.one(&l.resource, true).await);
        }
        out
    }

    async fn one<R: Revertible>(&self, obj: &R, undo: bool) -> RevertReport {
        let mut report = RevertReport::new(obj);
        let target = match self.target(obj) {
            Ok(t) => t,
            Err(problem) => {
                report.problem = Some(problem);
                return report;
            }
        };
        report.tenant_id = target.tenant_id.clone();
        let ctx = Context {
            graph: &target.graph,
            journal: self.journal.as_ref(),
            resource: key_of(obj),
            concurrency: self.opts.concurrency,
            now: jiff::Timestamp::now(),
            guard: &self.guard,
            ad: target.ad.as_ref(),
            selections: None,
        };
        let plan = match R::revert_plan(&ctx).await {
            Ok(p) => p,
            Err(e) => {
                report.problem = Some(format!("reading what to revert: {e}"));
                return report;
            }
        };
        report.undo = plan.steps;
        report.kept = kept(plan.refused);
        if !undo {
            return report;
        }
        if !report.pending() {
            report.result = Some(Reverted {
                done: true,
                message: "nothing to revert".into(),
            });
            return report;
        }
        report.result = Some(match R::revert(&ctx, &target.tenant_id).await {
            Err(e) => Reverted {
                done: false,
                message: format!("{e}; what was done is journaled: run revert again to finish"),
            },
            Ok(outcome) => reverted::<R>(outcome),
        });
        report
    }

    /// The tenant, Graph client and AD connection of `obj`, resolved as `apply` does.
    fn target<R: Reconciled>(&self, obj: &R) -> Result<Target, String> {
        let m = &self.manifests;
        let Some(tsp) = tenant_of(obj, m.tenants.iter().map(|l| &l.resource)) else {
            return Err(tenant_not_found(obj).message);
        };
        let graph = tenant_client(tsp, &m.secrets, &self.opts).map_err(|s| s.message)?;
        Ok(Target {
            tenant_id: tsp.spec.tenant_id.clone(),
            graph,
            ad: super::directory::active_directory(tsp, &m.secrets, &self.opts.env),
        })
    }
}

/// What a conversion's revert acts on.
struct Target {
    tenant_id: String,
    graph: GraphClient,
    ad: Option<DirectoryConnection>,
}

/// The refused objects, as the report lists them.
fn kept(refused: crate::reconcile::revert_trust::Refusals) -> Vec<Kept> {
    refused
        .0
        .into_iter()
        .map(|(id, (name, why))| Kept { id, name, why })
        .collect()
}

/// A revert's outcome, in the words the finalizer's Event uses.
fn reverted<R: Reconciled>(outcome: RevertOutcome) -> Reverted {
    match outcome {
        RevertOutcome::Done(n) => Reverted {
            done: true,
            message: format!("{n} {}", R::REVERTED),
        },
        RevertOutcome::Kept(n, kept) => Reverted {
            done: false,
            message: format!("{n} {}; {kept}", R::REVERTED),
        },
        unfinished => Reverted {
            done: false,
            message: unfinished.stall().message,
        },
    }
}

/// The `-f` arguments, as messages name them.
fn shown(files: &[PathBuf]) -> String {
    let names: Vec<String> = files
        .iter()
        .map(|f| match f.as_path() {
            p if p == Path::new("-") => super::manifests::STDIN.to_string(),
            p => p.display().to_string(),
        })
        .collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(undo: usize, kept: usize) -> RevertReport {
        let step = |i: usize| UndoStep {
            id: i.to_string(),
            name: format!("u{i}"),
            action: "switch back to AD (isCloudManaged=false)".into(),
        };
        let keep = |i: usize| Kept {
            id: i.to_string(),
            name: format!("k{i}"),
            why: "changed since".into(),
        };
        RevertReport {
            undo: (0..undo).map(step).collect(),
            kept: (0..kept).map(keep).collect(),
            ..RevertReport::default()
        }
    }

    #[test]
    fn the_plan_exits_0_when_nothing_is_left_2_when_something_is_and_1_on_an_error() {
        assert_eq!(plan_exit_code(&[report(0, 0), report(0, 0)]), 0);
        assert_eq!(plan_exit_code(&[report(0, 0), report(2, 0)]), 2);
        // An object the revert would keep is for a reviewer too.
        assert_eq!(plan_exit_code(&[report(0, 1)]), 2);
        let broken = RevertReport {
            problem: Some("no Secret".into()),
            ..report(0, 0)
        };
        assert_eq!(plan_exit_code(&[report(3, 0), broken]), 1);
    }

    #[test]
    fn the_revert_exits_0_only_when_everything_was_undone() {
        let with = |done: bool| RevertReport {
            result: Some(Reverted {
                done,
                message: String::new(),
            }),
            ..report(1, 0)
        };
        assert_eq!(revert_exit_code(&[with(true), with(true)]), 0);
        assert_eq!(revert_exit_code(&[with(true), with(false)]), 1);
        // Not reverted at all (its plan failed): not a success.
        assert_eq!(revert_exit_code(&[with(true), report(1, 0)]), 1);
    }

    #[test]
    fn an_owner_kept_or_a_refusal_is_not_a_finished_revert() {
        let done = reverted::<CloudGroupConversion>(RevertOutcome::Done(2));
        assert!(
            done.done && done.message.starts_with("2 groups switched back"),
            "{done:?}"
        );
        let kept = RevertOutcome::Kept(1, "the owner added to 1 group(s) was kept".into());
        let kept = reverted::<CloudGroupConversion>(kept);
        assert!(!kept.done && kept.message.ends_with("was kept"), "{kept:?}");
        let refused =
            reverted::<CloudUserConversion>(RevertOutcome::Failed("1 objects refused".into()));
        assert!(
            !refused.done && refused.message.contains("1 objects refused"),
            "{refused:?}"
        );
    }
}
