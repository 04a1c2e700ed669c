//! The AD ↔ Entra link audit (issue #8, point 2): each synchronised cloud user is joined to its
//! AD object (by `onPremisesSecurityIdentifier` = objectSid, else
//! `onPremisesDistinguishedName`, else the source anchor, else the UPN) and its
//! `onPremisesImmutableId` compared with base64 of the AD anchor (`mS-DS-ConsistencyGuid`, or
//! `objectGUID` where that is empty). Reads only, on both sides.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Deserialize;

use crate::ad::{AdClient, AdError, DirectoryUser, dn};
use crate::api::active_directory::{LinkAudit, LinkFinding};
use crate::graph::{GraphClient, GraphError, ListQuery};

/// Findings kept in status; `plan --format markdown` lists every one.
pub const MAX_FINDINGS: usize = 20;
/// Pages of 999 users read at most (about ten million users).
const MAX_PAGES: usize = 10_000;

/// A synchronised cloud user with its on-premises link.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CloudLink {
    /// Object id.
    pub id: String,
    /// UPN.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// `onPremisesImmutableId`.
    #[serde(default)]
    pub on_premises_immutable_id: Option<String>,
    /// `onPremisesSecurityIdentifier` (the AD objectSid).
    #[serde(default)]
    pub on_premises_security_identifier: Option<String>,
    /// `onPremisesDistinguishedName`.
    #[serde(default)]
    pub on_premises_distinguished_name: Option<String>,
}

/// The audit's result: the status summary and every finding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditReport {
    /// Counts and the first findings, for status.
    pub summary: LinkAudit,
    /// Every finding, for `plan --format markdown`.
    pub findings: Vec<LinkFinding>,
    /// Each joined cloud user's AD object, by cloud object id.
    pub joined: HashMap<String, DirectoryUser>,
}

/// Why the audit could not run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading the synchronised users from Graph failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// Reading the directory failed.
    #[error(transparent)]
    Ad(#[from] AdError),
}

/// Every user Entra reports as synchronised, with its link properties.
pub async fn synced_cloud_users(graph: &GraphClient) -> Result<Vec<CloudLink>, GraphError> {
    let query = ListQuery {
        select: [
            "id",
            "userPrincipalName",
            "onPremisesImmutableId",
            "onPremisesSecurityIdentifier",
            "onPremisesDistinguishedName",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        filter: Some("onPremisesSyncEnabled eq true".into()),
        top: Some(999),
        advanced: false,
    };
    let mut pager = graph.users_as::<CloudLink>(&query)?;
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        match pager.next_page().await? {
            Some(page) => out.extend(page.items),
            None => break,
        }
    }
    Ok(out)
}

/// Read both sides and audit: `scope`, when given, limits the cloud users audited to these
/// object ids (a conversion's selection); AD users without a twin are looked for among all
/// the tenant's synchronised users either way.
pub async fn run(
    graph: &GraphClient,
    ad: &AdClient,
    scope: Option<&BTreeSet<String>>,
) -> Result<AuditReport, AuditError> {
    let cloud = synced_cloud_users(graph).await?;
    let directory = ad.synced_users().await?;
    Ok(audit(&cloud, scope, &directory))
}

fn finding(kind: &str, cloud: Option<&CloudLink>, ad: Option<&DirectoryUser>) -> LinkFinding {
    LinkFinding {
        kind: kind.into(),
        user_principal_name: cloud
            .and_then(|c| c.user_principal_name.clone())
            .or_else(|| ad.and_then(|a| a.upn.clone())),
        distinguished_name: ad.map(|a| a.dn.clone()),
        immutable_id: cloud.and_then(|c| c.on_premises_immutable_id.clone()),
        expected: ad.map(DirectoryUser::immutable_id),
    }
}

/// The AD user `c` is linked to, if any: by SID, else DN, else anchor, else UPN.
fn join<'a>(c: &CloudLink, idx: &Index<'a>) -> Option<&'a DirectoryUser> {
    let by_sid = c
        .on_premises_security_identifier
        .as_ref()
        .and_then(|s| idx.sid.get(&s.to_ascii_uppercase()));
    let by_dn = || {
        c.on_premises_distinguished_name
            .as_ref()
            .and_then(|d| idx.all.iter().find(|a| dn::same(&a.dn, d)))
    };
    let by_anchor = || {
        c.on_premises_immutable_id
            .as_deref()
            .and_then(crate::ad::anchor::from_immutable_id)
            .and_then(|b| idx.anchor.get(&b))
    };
    let by_upn = || {
        c.user_principal_name
            .as_ref()
            .and_then(|u| idx.upn.get(&u.to_ascii_lowercase()))
    };
    by_sid
        .copied()
        .or_else(by_dn)
        .or_else(|| by_anchor().copied())
        .or_else(|| by_upn().copied())
}

struct Index<'a> {
    all: &'a [DirectoryUser],
    sid: HashMap<String, &'a DirectoryUser>,
    anchor: HashMap<[u8; 16], &'a DirectoryUser>,
    upn: HashMap<String, &'a DirectoryUser>,
}

/// The audit itself, on values (no I/O).
pub fn audit(
    cloud: &[CloudLink],
    scope: Option<&BTreeSet<String>>,
    directory: &[DirectoryUser],
) -> AuditReport {
    let idx = Index {
        all: directory,
        sid: directory
            .iter()
            .filter_map(|a| a.sid.as_ref().map(|s| (s.to_ascii_uppercase(), a)))
            .collect(),
        anchor: directory.iter().map(|a| (a.anchor(), a)).collect(),
        upn: directory
            .iter()
            .filter_map(|a| a.upn.as_ref().map(|u| (u.to_ascii_lowercase(), a)))
            .collect(),
    };
    let mut report = AuditReport::default();
    let mut twinned: HashSet<[u8; 16]> = HashSet::new();
    let (mut mismatches, mut cloud_only) = (Vec::new(), Vec::new());
    for c in cloud {
        let found = join(c, &idx);
        if let Some(a) = found {
            twinned.insert(a.object_guid);
        }
        if scope.is_some_and(|s| !s.contains(&c.id)) {
            continue;
        }
        report.summary.checked += 1;
        match found {
            None => cloud_only.push(finding("CloudOnly", Some(c), None)),
            Some(a) => {
                let linked = c
                    .on_premises_immutable_id
                    .as_deref()
                    .is_some_and(|id| id.trim() == a.immutable_id());
                if linked {
                    report.summary.linked += 1;
                } else {
                    mismatches.push(finding("Mismatch", Some(c), Some(a)));
                }
                report.joined.insert(c.id.clone(), a.clone());
            }
        }
    }
    let ad_only: Vec<LinkFinding> = directory
        .iter()
        .filter(|a| !twinned.contains(&a.object_guid))
        .map(|a| finding("AdOnly", None, Some(a)))
        .collect();
    report.summary.mismatched = mismatches.len() as i64;
    report.summary.cloud_only = cloud_only.len() as i64;
    report.summary.ad_only = ad_only.len() as i64;
    report.findings = mismatches
        .into_iter()
        .chain(cloud_only)
        .chain(ad_only)
        .collect();
    report.summary.findings = report.findings.iter().take(MAX_FINDINGS).cloned().collect();
    report
}

impl LinkAudit {
    /// One line for a condition message or plan text.
    pub fn describe(&self) -> String {
        format!(
            "link audit: {} checked, {} linked, {} ImmutableID mismatches, {} AD users without a cloud twin, {} cloud users without an AD object",
            self.checked, self.linked, self.mismatched, self.ad_only, self.cloud_only
        )
    }
}

#[cfg(test)]
#[path = "link_audit_tests.rs"]
mod tests;
