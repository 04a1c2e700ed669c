//! Nothing irreversible without a plan a person approved. Turning directory synchronisation off
//! for the tenant cannot be cancelled: Entra converts every synchronised object and refuses a
//! re-enable until it is done (graph-api.md §1.2). So the disable runs only under an approved
//! plan. `plan` and the resource's `status.plan` show a digest of what it would change: the
//! synchronised users and groups, counted, and a fingerprint of the set, e.g.
//! `disable:users=420,groups=37:9f2c4e0a1b3d5f67`. Approving is writing that digest into
//! `spec.approvedPlan`, a reviewable edit of the manifest (a pull request under GitOps). The
//! operator turns sync off only while the tenant still matches it, up to `spec.planTolerance`
//! objects; otherwise it stalls (`PlanChanged`) with the difference, and unapproved it stalls
//! (`ApprovalRequired`) saying what to approve. Remediation (`drift: Remediate` turning sync off
//! again) was approved by that setting and needs no plan.

use aws_lc_rs::digest;

use crate::api::tenant::{TenantPlan, TenantSyncPolicySpec};

/// The synchronised objects a disable converts, accumulated one id at a time in any order
/// (a sum of 128-bit hashes): memory does not grow with the tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint(u128);

impl Fingerprint {
    /// Adds an object by id (case does not matter).
    pub fn add(&mut self, id: &str) {
        let d = digest::digest(&digest::SHA256, id.to_ascii_lowercase().as_bytes());
        let mut head = [0u8; 16];
        head.copy_from_slice(&d.as_ref()[..16]);
        self.0 = self.0.wrapping_add(u128::from_be_bytes(head));
    }

    /// Both sets together.
    pub fn merge(self, other: Fingerprint) -> Fingerprint {
        Fingerprint(self.0.wrapping_add(other.0))
    }

    /// The set's sum in 32 hex digits.
    pub fn hex(self) -> String {
        format!("{:032x}", self.0)
    }
}

/// The first 8 bytes of the SHA-256 of `text`, in 16 hex digits: a plan's fingerprint.
pub fn digest16(text: &str) -> String {
    let d = digest::digest(&digest::SHA256, text.as_bytes());
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` is 16 lowercase hex digits, as [`digest16`] writes them.
pub fn is_digest16(s: &str) -> bool {
    s.len() == 16
        && s.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// What a disable would change, as approved or as observed now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanDigest {
    /// Synchronised users.
    pub users: i64,
    /// Synchronised groups.
    pub groups: i64,
    /// 16 hex digits over the tenant, the counts and the set.
    pub fingerprint: String,
}

const PREFIX: &str = "disable:";

pub use crate::api::tenant::APPROVED_PLAN_PATTERN as PATTERN;

impl PlanDigest {
    /// The plan of a disable of `tenant_id` converting `users` and `groups`, the set `set`.
    pub fn new(tenant_id: &str, users: i64, groups: i64, set: Fingerprint) -> Self {
        let text = format!(
            "{}|{users}|{groups}|{}",
            tenant_id.to_ascii_lowercase(),
            set.hex()
        );
        let fingerprint = digest16(&text);
        PlanDigest {
            users,
            groups,
            fingerprint,
        }
    }

    /// As written in `spec.approvedPlan`.
    pub fn render(&self) -> String {
        format!(
            "{PREFIX}users={},groups={}:{}",
            self.users, self.groups, self.fingerprint
        )
    }

    /// Reads an approved plan; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix(PREFIX)?;
        let (counts, fingerprint) = rest.split_once(':')?;
        let (users, groups) = counts.split_once(',')?;
        let users = users.strip_prefix("users=")?.parse().ok()?;
        let groups = groups.strip_prefix("groups=")?.parse().ok()?;
        is_digest16(fingerprint).then(|| PlanDigest {
            users,
            groups,
            fingerprint: fingerprint.to_string(),
        })
    }

    /// For `status.plan`.
    pub fn to_status(&self) -> TenantPlan {
        TenantPlan {
            digest: self.render(),
            users: self.users,
            groups: self.groups,
        }
    }

    /// How many objects differ from `approved`: the counts' differences, and at least one
    /// when the set differs.
    fn difference(&self, approved: &PlanDigest) -> i64 {
        let counted = (self.users - approved.users).abs() + (self.groups - approved.groups).abs();
        if self.fingerprint == approved.fingerprint {
            counted
        } else {
            counted.max(1)
        }
    }
}

/// Whether a disable may run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Approved, and the tenant matches it (`difference` objects apart, within the
    /// tolerance).
    Approved {
        /// Objects that differ from the approved plan.
        difference: i64,
    },
    /// No plan approved (or one that is not a plan: the spec's validation says so first).
    Unapproved,
    /// The tenant changed beyond the tolerance since the plan was approved.
    Changed {
        /// The approved plan.
        approved: PlanDigest,
        /// Objects that differ from it.
        difference: i64,
    },
}

/// The verdict on a disable of the tenant as `now` shows it.
pub fn check(spec: &TenantSyncPolicySpec, now: &PlanDigest) -> Verdict {
    let Some(approved) = spec.approved_plan.as_deref().and_then(PlanDigest::parse) else {
        return Verdict::Unapproved;
    };
    let difference = now.difference(&approved);
    if difference <= spec.plan_tolerance.unwrap_or(0).max(0) {
        Verdict::Approved { difference }
    } else {
        Verdict::Changed {
            approved,
            difference,
        }
    }
}

/// The row of `plan` for a disable: the digest to approve, and whether the spec approves it.
pub fn plan_row(spec: &TenantSyncPolicySpec, now: &PlanDigest) -> String {
    match check(spec, now) {
        Verdict::Approved { difference: 0 } => {
            format!(
                "approved: spec.approvedPlan is this plan ({})",
                now.render()
            )
        }
        Verdict::Approved { difference } => format!(
            "approved: {difference} objects from spec.approvedPlan, within spec.planTolerance (this plan: {})",
            now.render()
        ),
        Verdict::Unapproved => format!(
            "not approved: runs only once spec.approvedPlan is set to {}",
            now.render()
        ),
        v @ Verdict::Changed { .. } => changed_message(spec, now, &v),
    }
}

/// The message of a disable waiting for approval.
pub fn unapproved_message(now: &PlanDigest) -> String {
    format!(
        "turning directory synchronisation off converts {} users and {} groups to cloud-managed and cannot be undone; review `plan`, then approve it: set spec.approvedPlan: {}",
        now.users,
        now.groups,
        now.render()
    )
}

/// The message of a disable whose approved plan no longer matches the tenant.
pub fn changed_message(spec: &TenantSyncPolicySpec, now: &PlanDigest, v: &Verdict) -> String {
    let Verdict::Changed {
        approved,
        difference,
    } = v
    else {
        return String::new();
    };
    format!(
        "the tenant changed since the approved plan: approved {} users and {} groups, now {} and {} ({difference} objects differ, spec.planTolerance {}); nothing was written: review `plan` again, then approve: spec.approvedPlan: {}",
        approved.users,
        approved.groups,
        now.users,
        now.groups,
        spec.plan_tolerance.unwrap_or(0),
        now.render()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(approved: Option<&str>, tolerance: Option<i64>) -> TenantSyncPolicySpec {
        let mut s: TenantSyncPolicySpec = serde_json::from_value(serde_json::json!({
            "tenantId": "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
            "credentials": {"clientId": "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e",
                            "clientSecretRef": {"name": "s", "key": "k"}},
            "directorySync": "Disabled"
        }))
        .unwrap();
        s.approved_plan = approved.map(str::to_string);
        s.plan_tolerance = tolerance;
        s
    }

    fn plan(tenant: &str, users: i64, groups: i64, ids: &[&str]) -> PlanDigest {
        let mut set = Fingerprint::default();
        for id in ids {
            set.add(id);
        }
        PlanDigest::new(tenant, users, groups, set)
    }

    #[test]
    fn the_digest_is_the_set_whatever_the_order_and_reads_back() {
        let a = plan("T", 2, 1, &["u1", "u2", "g1"]);
        let b = plan("t", 2, 1, &["g1", "U2", "u1"]);
        assert_eq!(a, b);
        assert!(regex::Regex::new(PATTERN).unwrap().is_match(&a.render()));
        assert_eq!(PlanDigest::parse(&a.render()), Some(a.clone()));
        // Another user in place of one: same counts, another plan.
        let c = plan("t", 2, 1, &["u1", "u3", "g1"]);
        assert_ne!(a.fingerprint, c.fingerprint);
        for bad in [
            "",
            "disable:users=1,groups=2",
            "disable:users=x,groups=2:0123456789abcdef",
        ] {
            assert_eq!(PlanDigest::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn approval_holds_within_the_tolerance_only() {
        let approved = plan("t", 2, 1, &["u1", "u2", "g1"]);
        let text = approved.render();
        assert_eq!(check(&spec(None, None), &approved), Verdict::Unapproved);
        assert_eq!(
            check(&spec(Some(&text), None), &approved),
            Verdict::Approved { difference: 0 }
        );
        // A user synchronised since: one object apart.
        let grown = plan("t", 3, 1, &["u1", "u2", "u4", "g1"]);
        assert!(matches!(
            check(&spec(Some(&text), None), &grown),
            Verdict::Changed { difference: 1, .. }
        ));
        assert_eq!(
            check(&spec(Some(&text), Some(1)), &grown),
            Verdict::Approved { difference: 1 }
        );
        // Swapped, same counts: still a change.
        let swapped = plan("t", 2, 1, &["u1", "u9", "g1"]);
        let v = check(&spec(Some(&text), None), &swapped);
        assert!(matches!(v, Verdict::Changed { difference: 1, .. }));
        let m = changed_message(&spec(Some(&text), None), &swapped, &v);
        assert!(
            m.contains("nothing was written") && m.contains(&swapped.render()),
            "{m}"
        );
        assert!(unapproved_message(&approved).contains(&text));
    }
}
