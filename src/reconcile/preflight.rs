//! The permission preflight: before the first write of a flow (a conversion's wave, a
//! tenant's sync switch or ImmutableID clearing, an undo), what the flow needs
//! ([`permissions`]) against what the application was granted, so that a change of several
//! steps (switch, then add the owner) is never left half done for lack of a permission that
//! could be known up front. A missing one stalls the resource `MissingPermission` with
//! nothing written, naming every missing permission and how to grant it; `plan` reports the
//! same ([`Report`]).
//!
//! What was granted is read from the access token's `roles` claim when the token is a JWT
//! whose claims can be read, as Graph's app-only tokens are in practice (no `roles` claim: no
//! permission granted). The claims only describe the operator to itself: the token is not
//! validated and nothing else rests on them. A token that lacks a needed permission is
//! renewed once first, since a grant made after it was issued shows only in a new token.
//!
//! A token that cannot be read (opaque or encrypted: Microsoft says tokens for its APIs might
//! not be JWTs that can be decoded) falls back to a read-only probe
//! ([`crate::graph::Prober`]): one cheap read per kind of read the flow makes (`$top=1` on the
//! lists, the organization, the first group's members and owners, the first object's Source of
//! Authority). A refused read is a missing permission. Writes cannot be known from reads
//! (unless every permission that allows a read that passed allows the write too: a Source of
//! Authority read and its switch): they are reported as unverified, `plan` says so, the pass
//! goes on, and a write Graph refuses is reported as it happens.
//!
//! Optional reads ([`permissions::OPTIONAL`]) are left out: their absence never stalls.

use serde::Serialize;
use tracing::info;

use crate::api::tenant::TenantSyncPolicySpec;
use crate::graph::{Grants, GraphClient, GraphError, Operation, Probed, Prober};

use super::permissions::{self, allowed_by, allows, to_grant};
use super::remedy::{client_id, stall_message};
use super::{ReconcileError, RevertOutcome, Stall};

/// How the grants were learnt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// The access token's `roles` claim.
    #[default]
    Token,
    /// Cheap reads: the token could not be read.
    Probe,
}

/// What a flow needs against what the application was granted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// How the grants were learnt.
    pub source: Source,
    /// The permissions the flow needs: the fewest, each least privileged.
    pub needed: Vec<&'static str>,
    /// What the token says was granted (`None`: it could not be read; the probe told).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granted: Option<Vec<String>>,
    /// Needed and not granted: the flow stalls before any write.
    pub missing: Vec<&'static str>,
    /// Needed and not checked (probe only: writes cannot be known from reads).
    pub unverified: Vec<&'static str>,
}

impl Report {
    /// The report of `ops` against the permissions a token lists.
    pub fn from_roles(ops: &[Operation], roles: Vec<String>) -> Self {
        let ops = flow(ops);
        let needed = permissions::needed(&ops);
        let missing = names(
            ops.iter()
                .filter(|op| !allows(**op, &roles))
                .map(|op| to_grant(*op, &needed)),
        );
        Report {
            source: Source::Token,
            needed,
            granted: Some(roles),
            missing,
            unverified: Vec::new(),
        }
    }

    /// The report of `ops` from what a probe said of each.
    pub fn from_probes(ops: &[Operation], probed: &[(Operation, Probed)]) -> Self {
        let ops = flow(ops);
        let needed = permissions::needed(&ops);
        let answer = |op: Operation| {
            probed
                .iter()
                .find(|(o, _)| *o == op)
                .map_or(Probed::Unknown, |(_, p)| *p)
        };
        let passed: Vec<Operation> = ops
            .iter()
            .copied()
            .filter(|o| answer(*o) == Probed::Allowed)
            .collect();
        // A read that passed proves one of its permissions is granted: an operation that each
        // of them allows is allowed too.
        let proven = |op: Operation| {
            let by = allowed_by(op);
            passed
                .iter()
                .any(|p| allowed_by(*p).iter().all(|q| by.contains(q)))
        };
        let missing = names(
            ops.iter()
                .filter(|o| answer(**o) == Probed::Refused)
                .map(|o| to_grant(*o, &needed)),
        );
        let unverified = names(
            ops.iter()
                .filter(|o| answer(**o) == Probed::Unknown && !proven(**o))
                .map(|o| to_grant(*o, &needed))
                .filter(|p| !missing.contains(p)),
        );
        Report {
            source: Source::Probe,
            needed,
            granted: None,
            missing,
            unverified,
        }
    }

    /// The missing permissions and how to grant them, in words; `application` the client id
    /// when known.
    fn missing_text(&self, application: Option<&str>) -> String {
        let (noun, list) = match self.missing.as_slice() {
            [one] => ("permission", (*one).to_string()),
            many => ("permissions", many.join(", ")),
        };
        let why = match &self.granted {
            Some(g) if g.is_empty() => {
                "its access token grants no application permission (no roles claim)".to_string()
            }
            Some(g) => format!("its access token grants {}", g.join(", ")),
            None => "a read that needs it was refused (the access token cannot be read)".into(),
        };
        format!(
            "the application lacks the {noun} {list} that this resource needs ({why}); nothing was written. Fix: grant the application {noun} {list} to {} and grant admin consent (this resource needs {}); the operator checks again every 5 minutes",
            application.map_or_else(
                || "the operator's application (the TenantSyncPolicy's spec.credentials)".into(),
                |a| format!("application {a}")
            ),
            self.needed.join(", ")
        )
    }
}

/// The flow's operations that must be allowed: optional reads and the batch envelope left out.
fn flow(ops: &[Operation]) -> Vec<Operation> {
    let mut out: Vec<Operation> = Vec::new();
    for op in ops {
        if *op != Operation::Batch && !permissions::OPTIONAL.contains(op) && !out.contains(op) {
            out.push(*op);
        }
    }
    out
}

/// Sorted, without repeats.
fn names(it: impl Iterator<Item = &'static str>) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = it.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// What `ops` need against what the application was granted: from the token's `roles` (a
/// token that lacks one renewed once), else from a probe. Reads only.
pub async fn check(graph: &GraphClient, ops: &[Operation]) -> Result<Report, GraphError> {
    let mut grants = graph.granted_permissions().await?;
    if let Grants::Known(roles) = &grants
        && !Report::from_roles(ops, roles.clone()).missing.is_empty()
    {
        grants = graph.renewed_permissions().await?;
    }
    match grants {
        Grants::Known(roles) => Ok(Report::from_roles(ops, roles)),
        Grants::Unreadable => probe(graph, ops).await,
    }
}

/// One cheap read per kind of read of the flow: operations that the same permissions allow
/// share one (reads first, so a write takes its read's answer).
async fn probe(graph: &GraphClient, ops: &[Operation]) -> Result<Report, GraphError> {
    let mut ops = flow(ops);
    ops.sort_by_key(|o| o.is_write());
    let mut prober = Prober::new(graph);
    let mut probed: Vec<(Operation, Probed)> = Vec::new();
    for op in &ops {
        let same = probed
            .iter()
            .find(|(o, p)| *p != Probed::Unknown && allowed_by(*o) == allowed_by(*op))
            .map(|(_, p)| *p);
        let answer = match same {
            Some(p) => p,
            None => prober.probe(*op).await?,
        };
        probed.push((*op, answer));
    }
    let report = Report::from_probes(&ops, &probed);
    if !report.unverified.is_empty() {
        info!(
            unverified = %report.unverified.join(","),
            "permission preflight: the access token cannot be read; reads checked, these permissions are not"
        );
    }
    Ok(report)
}

/// The preflight before a resource's first write: `Ok(Err(stall))` when a permission is
/// missing (or the check failed in a way retrying cannot cure), `Err` when retrying can.
pub async fn gate(
    graph: &GraphClient,
    ops: &[Operation],
    tenant: &TenantSyncPolicySpec,
    namespace: &str,
) -> Result<Result<(), Stall>, ReconcileError> {
    match check(graph, ops).await {
        Ok(report) if report.missing.is_empty() => Ok(Ok(())),
        Ok(report) => Ok(Err(Stall::fixable(
            crate::reasons::MISSING_PERMISSION,
            report.missing_text(Some(&client_id(tenant))),
        ))),
        Err(e) if e.category().is_retryable() => Err(e.into()),
        Err(e) => {
            let needed = permissions::needed(&flow(ops));
            Ok(Err(Stall::fixable(
                e.category().reason(),
                stall_message(&e, tenant, namespace, &needed),
            )))
        }
    }
}

/// The preflight before an undo's first write: the stall of a missing permission, if one is.
pub async fn revert_gate(
    graph: &GraphClient,
    ops: &[Operation],
) -> Result<Option<RevertOutcome>, ReconcileError> {
    let report = check(graph, ops).await?;
    Ok((!report.missing.is_empty())
        .then(|| RevertOutcome::MissingPermission(report.missing_text(None))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operation as Op;

    const OWNERS: &[Operation] = &[
        Op::ListGroupMembers,
        Op::ListGroups,
        Op::GetUser,
        Op::ListGroupOwners,
        Op::UpdateGroupSyncBehavior,
        Op::GetGroupSyncBehavior,
        Op::AddGroupOwner,
        Op::ListUserMemberOf,
    ];

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_token_without_the_owner_permission_misses_it_and_only_it() {
        let r = Report::from_roles(
            OWNERS,
            roles(&[
                "Group.Read.All",
                "GroupMember.Read.All",
                "Group-OnPremisesSyncBehavior.ReadWrite.All",
                "User.ReadWrite.All",
            ]),
        );
        assert_eq!(r.missing, ["Group.ReadWrite.All"]);
        assert_eq!(
            r.needed,
            [
                "Group-OnPremisesSyncBehavior.ReadWrite.All",
                "Group.ReadWrite.All",
                "User.Read.All"
            ]
        );
        let text = r.missing_text(Some("app-1"));
        assert!(
            text.contains(
                "grant the application permission Group.ReadWrite.All to application app-1 "
            ) && text.contains("nothing was written"),
            "{text}"
        );
        // The optional read (memberOf) is not asked for; Directory.ReadWrite.All serves all
        // but the switch.
        let r = Report::from_roles(OWNERS, roles(&["Directory.ReadWrite.All"]));
        assert_eq!(r.missing, ["Group-OnPremisesSyncBehavior.ReadWrite.All"]);
    }

    #[test]
    fn no_roles_claim_misses_everything_and_says_so() {
        let r = Report::from_roles(&[Op::GetOrganization, Op::UpdateOrganization], Vec::new());
        assert_eq!(r.missing, ["Organization.ReadWrite.All"]);
        assert!(
            r.missing_text(None)
                .contains("grants no application permission (no roles claim)")
        );
        let two = Report::from_roles(&[Op::UpdateOrganization, Op::UpdateUser], Vec::new());
        assert!(two.missing_text(None).contains(
            "grant the application permissions Organization.ReadWrite.All, User.ReadWrite.All to"
        ));
    }

    #[test]
    fn a_probe_checks_reads_and_leaves_writes_unverified() {
        let probed = [
            (Op::ListGroupMembers, Probed::Allowed),
            (Op::ListGroups, Probed::Allowed),
            (Op::GetUser, Probed::Allowed),
            (Op::ListGroupOwners, Probed::Allowed),
            (Op::GetGroupSyncBehavior, Probed::Allowed),
        ];
        let r = Report::from_probes(OWNERS, &probed);
        assert_eq!(r.source, Source::Probe);
        assert!(r.missing.is_empty());
        // The switch is allowed by the one permission its read needs; the owner write is not
        // known from any read.
        assert_eq!(r.unverified, ["Group.ReadWrite.All"]);
        let refused = [(Op::GetGroupSyncBehavior, Probed::Refused)];
        let r = Report::from_probes(OWNERS, &refused);
        assert_eq!(r.missing, ["Group-OnPremisesSyncBehavior.ReadWrite.All"]);
        assert!(
            !r.unverified
                .contains(&"Group-OnPremisesSyncBehavior.ReadWrite.All")
        );
        let json = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(json["source"], "probe");
        assert!(json.get("granted").is_none(), "{json}");
    }
}
