//! Saved plans, as Terraform's `plan -out` and `apply PLAN`: `plan --out FILE` writes what it
//! found (each resource's next step and the digest of what it would change), bound to the
//! manifests it read; `apply --plan FILE` applies exactly that plan. It is refused when the
//! manifests changed since (their digest differs) or the saved plan could not plan everything
//! or found conflicts; and it runs each resource under the saved digest as its approved plan,
//! with no tolerance, so a tenant or selection that changed since stalls (`PlanChanged`) with
//! nothing written. Applying a saved plan is the approval: the person who runs it reviewed
//! what `plan` printed.
//!
//! The file holds no secret: the manifests' Secrets are left out of it and of its digest.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::reconcile::tenant::approval::digest16;

use super::manifests::Manifests;
use super::plan::PlanReport;

/// The `format` of a saved plan this version writes and reads.
pub const FORMAT: &str = "entra-cloud-operator/plan/v1";

/// Largest saved plan read.
const MAX_BYTES: u64 = crate::input::MAX_FILE_BYTES;

/// A plan saved by `plan --out`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    /// [`FORMAT`].
    pub format: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// The digest of the manifests it was made from ([`Specs::digest`]).
    pub manifests: String,
    /// Each resource's plan.
    pub resources: Vec<SavedResource>,
}

/// One resource's saved plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedResource {
    /// `TenantSyncPolicy`, `CloudUserConversion` or `CloudGroupConversion`.
    pub kind: String,
    /// `namespace/name`.
    pub resource: String,
    /// Tenant id.
    pub tenant_id: String,
    /// The digest of its spec as planned.
    pub spec: String,
    /// The next step, in words, as `plan` printed it.
    pub next_step: String,
    /// The digest of what it changes (a disable's, a conversion's selection), applied as the
    /// approved plan; `None` when nothing irreversible is planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
}

/// Why a plan could not be saved or applied.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    /// The file could not be read.
    #[error("--plan {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: crate::input::InputError,
    },
    /// The file is not a saved plan.
    #[error(
        "--plan {path}: not a plan saved by `plan --out` ({reason}); save one with `plan -f … --out {path}`"
    )]
    NotAPlan {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The manifests differ from those the plan was made from.
    #[error(
        "--plan {path}: the manifests changed since the plan was saved ({changed}); nothing was applied: run `plan --out` again and review it"
    )]
    ManifestsChanged {
        /// The file.
        path: PathBuf,
        /// Which resources differ, in words.
        changed: String,
    },
    /// The plan could not plan every resource, or found conflicts: nothing to apply exactly.
    #[error("{0}")]
    Incomplete(String),
    /// The file could not be written.
    #[error("--out {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What a plan is bound to: the spec of each resource of the manifests (kind, namespace,
/// name and spec, in a fixed order; status and Secrets left out), digested.
#[derive(Clone, Debug)]
pub struct Specs {
    /// Each resource's `kind namespace/name` and the 16-hex digest of its spec, sorted.
    each: Vec<(String, String)>,
}

impl Specs {
    /// The specs of the resources of `m`.
    pub fn of(m: &Manifests) -> Self {
        fn one<R: kube::Resource<DynamicType = ()> + serde::Serialize>(r: &R) -> (String, String) {
            let meta = r.meta();
            let key = format!(
                "{} {}/{}",
                R::kind(&()),
                meta.namespace.as_deref().unwrap_or("default"),
                meta.name.as_deref().unwrap_or_default()
            );
            let spec = serde_json::to_value(r)
                .ok()
                .and_then(|v| v.get("spec").cloned())
                .unwrap_or_default();
            (key, digest16(&spec.to_string()))
        }
        let mut each: Vec<(String, String)> = m
            .tenants
            .iter()
            .map(|l| one(&l.resource))
            .chain(m.users.iter().map(|l| one(&l.resource)))
            .chain(m.groups.iter().map(|l| one(&l.resource)))
            .collect();
        each.sort();
        Specs { each }
    }

    /// The digest of them all: 16 hex digits.
    pub fn digest(&self) -> String {
        let text: Vec<String> = self.each.iter().map(|(k, d)| format!("{k}={d}")).collect();
        digest16(&text.join("\n"))
    }

    fn spec_of(&self, kind: &str, resource: &str) -> String {
        let key = format!("{kind} {resource}");
        self.each
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, d)| d.clone())
            .unwrap_or_default()
    }
}

/// The plan `reports` of the manifests whose specs are `specs`, to save. Refused when a
/// resource could not be planned or conflicts: such a plan can't be applied exactly.
pub fn of(reports: &[PlanReport], specs: &Specs) -> Result<SavedPlan, SavedPlanError> {
    complete(
        reports
            .iter()
            .map(|r| (r.resource.as_str(), r.problem.as_deref(), r.conflicts.len())),
    )?;
    Ok(SavedPlan {
        format: FORMAT.into(),
        created_at: jiff::Timestamp::now().to_string(),
        manifests: specs.digest(),
        resources: reports
            .iter()
            .map(|r| SavedResource {
                kind: r.kind.clone(),
                resource: r.resource.clone(),
                tenant_id: r.tenant_id.clone(),
                spec: specs.spec_of(&r.kind, &r.resource),
                next_step: r.next_step.clone(),
                approval: r.approval.clone(),
            })
            .collect(),
    })
}

fn complete<'a>(
    rows: impl Iterator<Item = (&'a str, Option<&'a str>, usize)>,
) -> Result<(), SavedPlanError> {
    let mut why = Vec::new();
    for (resource, problem, conflicts) in rows {
        if let Some(p) = problem {
            why.push(format!("{resource} could not be planned: {p}"));
        } else if conflicts > 0 {
            why.push(format!("{resource} has {conflicts} conflicts"));
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(SavedPlanError::Incomplete(format!(
            "the plan was not saved: {}; fix them and plan again",
            why.join("; ")
        )))
    }
}

/// Writes `plan` to `path` (JSON).
pub fn save(plan: &SavedPlan, path: &Path) -> Result<(), SavedPlanError> {
    let text = serde_json::to_string_pretty(plan).map_err(|e| SavedPlanError::Write {
        path: path.into(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(path, text + "\n").map_err(|source| SavedPlanError::Write {
        path: path.into(),
        source,
    })
}

/// Reads a plan saved by [`save`].
pub fn load(path: &Path) -> Result<SavedPlan, SavedPlanError> {
    let text = crate::input::read_text(path, MAX_BYTES).map_err(|source| SavedPlanError::Read {
        path: path.into(),
        source,
    })?;
    let plan: SavedPlan = serde_json::from_str(&text).map_err(|e| SavedPlanError::NotAPlan {
        path: path.into(),
        reason: e.to_string(),
    })?;
    if plan.format != FORMAT {
        return Err(SavedPlanError::NotAPlan {
            path: path.into(),
            reason: format!("format {:?}, this version reads {FORMAT:?}", plan.format),
        });
    }
    Ok(plan)
}

/// Binds manifests `m` to the saved `plan` read from `path`: refused when they differ from
/// those it was made from; else each resource is set to run under the saved digest as its
/// approved plan, with no tolerance.
pub fn bind(plan: &SavedPlan, path: &Path, m: &mut Manifests) -> Result<(), SavedPlanError> {
    if Specs::of(m).digest() != plan.manifests {
        return Err(SavedPlanError::ManifestsChanged {
            path: path.into(),
            changed: changed(plan, m),
        });
    }
    let approval = |kind: &str, ns: Option<&str>, name: Option<&str>| {
        let resource = format!("{}/{}", ns.unwrap_or("default"), name.unwrap_or_default());
        plan.resources
            .iter()
            .find(|r| r.kind == kind && r.resource == resource)
            .and_then(|r| r.approval.clone())
    };
    for l in &mut m.tenants {
        let meta = &l.resource.metadata;
        if let Some(a) = approval(
            "TenantSyncPolicy",
            meta.namespace.as_deref(),
            meta.name.as_deref(),
        ) {
            l.resource.spec.approved_plan = Some(a);
            l.resource.spec.plan_tolerance = Some(0);
        }
    }
    // Every conversion requires approval, under its saved digest.
    macro_rules! bind_conversions {
        ($loaded:expr, $kind:literal) => {
            for l in $loaded {
                let meta = &l.resource.metadata;
                let a = approval($kind, meta.namespace.as_deref(), meta.name.as_deref());
                let spec = &mut l.resource.spec;
                spec.require_approval = true;
                spec.approved_plan = a;
                spec.plan_tolerance = Some(0);
            }
        };
    }
    bind_conversions!(&mut m.users, "CloudUserConversion");
    bind_conversions!(&mut m.groups, "CloudGroupConversion");
    Ok(())
}

/// Which resources of `m` differ from the saved plan's, in words.
fn changed(plan: &SavedPlan, m: &Manifests) -> String {
    let now = Specs::of(m).each;
    let saved: Vec<(String, String)> = plan
        .resources
        .iter()
        .map(|r| (format!("{} {}", r.kind, r.resource), r.spec.clone()))
        .collect();
    let mut parts = Vec::new();
    for (key, spec) in &now {
        match saved.iter().find(|(k, _)| k == key) {
            None => parts.push(format!("{key} is not in the plan")),
            Some((_, s)) if s != spec => parts.push(format!("{key}: spec edited")),
            Some(_) => {}
        }
    }
    for (key, _) in &saved {
        if !now.iter().any(|(k, _)| k == key) {
            parts.push(format!("{key} is no longer in the manifests"));
        }
    }
    if parts.is_empty() {
        "the resources were read in another way".into()
    } else {
        parts.join("; ")
    }
}
