//! Conversions under a plan a person approved, as an option (`spec.requireApproval`). A
//! conversion's plan is its selection: the objects it converts, counted, and a fingerprint of
//! the set, e.g. `convert:users=22:4be0a2c19d7f3e15`. `plan` and `status.plan` show it;
//! approving is writing it into `spec.approvedPlan` (a reviewable edit of the manifest). The
//! rollout then writes only while the selection still matches it, up to `spec.planTolerance`
//! objects; otherwise `Stalled` `PlanChanged` with the difference, and unapproved `Stalled`
//! `ApprovalRequired` saying what to approve. The selection stays the same while its objects
//! are converted (converted objects stay selected), so one approval carries a rollout to the
//! end; an object joining or leaving the selection is a new plan.

use crate::api::common::ConversionPlan;
use crate::reasons;
use crate::reconcile::Stall;
use crate::reconcile::tenant::approval::{Fingerprint, digest16, is_digest16};

/// What a conversion's spec says of approval.
#[derive(Clone, Copy, Debug, Default)]
pub struct Approval<'a> {
    /// The rollout writes only under an approved plan (`spec.requireApproval`, or an
    /// `approvedPlan` given).
    pub required: bool,
    /// `spec.approvedPlan`.
    pub approved: Option<&'a str>,
    /// `spec.planTolerance` (0 when unset).
    pub tolerance: i64,
}

/// A conversion's plan: its selected objects, counted and fingerprinted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversionDigest {
    /// `users` or `groups`.
    pub noun: String,
    /// Objects selected.
    pub objects: i64,
    /// 16 hex digits over the tenant, the kind, the count and the set.
    pub fingerprint: String,
}

const PREFIX: &str = "convert:";

impl ConversionDigest {
    /// The plan of converting `ids` (`noun`: `users` or `groups`) in `tenant_id`.
    pub fn new(
        tenant_id: &str,
        noun: &str,
        ids: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Self {
        let mut set = Fingerprint::default();
        let mut objects = 0i64;
        for id in ids {
            set.add(id.as_ref());
            objects += 1;
        }
        let text = format!(
            "{}|{noun}|{objects}|{}",
            tenant_id.to_ascii_lowercase(),
            set.hex()
        );
        ConversionDigest {
            noun: noun.to_string(),
            objects,
            fingerprint: digest16(&text),
        }
    }

    /// As written in `spec.approvedPlan`.
    pub fn render(&self) -> String {
        format!(
            "{PREFIX}{}={}:{}",
            self.noun, self.objects, self.fingerprint
        )
    }

    /// Reads a plan; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix(PREFIX)?;
        let (counted, fingerprint) = rest.split_once(':')?;
        let (noun, objects) = counted.split_once('=')?;
        if !matches!(noun, "users" | "groups") || !is_digest16(fingerprint) {
            return None;
        }
        Some(ConversionDigest {
            noun: noun.to_string(),
            objects: objects.parse().ok().filter(|n| *n >= 0)?,
            fingerprint: fingerprint.to_string(),
        })
    }

    /// For `status.plan`.
    pub fn to_status(&self) -> ConversionPlan {
        ConversionPlan {
            digest: self.render(),
            objects: self.objects,
        }
    }

    /// How many objects differ from `approved`: the count's difference, at least one when
    /// the set differs.
    fn difference(&self, approved: &ConversionDigest) -> i64 {
        let counted = (self.objects - approved.objects).abs();
        if self.fingerprint == approved.fingerprint {
            counted
        } else {
            counted.max(1)
        }
    }
}

/// `spec.approvedPlan`, checked: a plan of this kind (`noun`), else the message of the
/// invalid spec.
pub fn validate(approval: &Approval<'_>, noun: &str) -> Result<(), String> {
    let Some(text) = approval.approved else {
        return Ok(());
    };
    match ConversionDigest::parse(text) {
        Some(d) if d.noun == noun => Ok(()),
        Some(d) => Err(format!(
            "spec.approvedPlan: {text:?} is a plan for {}, this resource converts {noun}; copy the digest `plan` prints for this resource",
            d.noun
        )),
        None => Err(format!(
            "spec.approvedPlan: {text:?} is not a plan; copy the digest `plan` prints for this resource (convert:{noun}=N:<16 hex digits>)"
        )),
    }
}

/// Whether the rollout may write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The spec asks for no approval.
    NotRequired,
    /// Approved, and the selection matches (`difference` objects apart, within the
    /// tolerance).
    Approved {
        /// Objects that differ from the approved plan.
        difference: i64,
    },
    /// Approval required and none given.
    Unapproved,
    /// The selection changed beyond the tolerance since the plan was approved.
    Changed {
        /// The approved plan.
        approved: ConversionDigest,
        /// Objects that differ from it.
        difference: i64,
    },
}

/// The verdict on converting the selection as `now` shows it.
pub fn check(approval: &Approval<'_>, now: &ConversionDigest) -> Verdict {
    if !approval.required {
        return Verdict::NotRequired;
    }
    let Some(approved) = approval.approved.and_then(ConversionDigest::parse) else {
        return Verdict::Unapproved;
    };
    let difference = now.difference(&approved);
    if difference <= approval.tolerance {
        Verdict::Approved { difference }
    } else {
        Verdict::Changed {
            approved,
            difference,
        }
    }
}

/// The stall of a rollout that may not write, `None` when it may.
pub fn refusal(approval: &Approval<'_>, now: &ConversionDigest) -> Option<Stall> {
    match check(approval, now) {
        Verdict::NotRequired | Verdict::Approved { .. } => None,
        Verdict::Unapproved => Some(Stall::fixable(
            reasons::APPROVAL_REQUIRED,
            format!(
                "converting the {} selected {} needs an approved plan (spec.requireApproval); nothing was written: review `plan`, then approve it: set spec.approvedPlan: {}",
                now.objects,
                now.noun,
                now.render()
            ),
        )),
        Verdict::Changed {
            approved,
            difference,
        } => Some(Stall::fixable(
            reasons::PLAN_CHANGED,
            format!(
                "the selection changed since the approved plan: approved {} {}, now {} ({difference} objects differ, spec.planTolerance {}); nothing was written: review `plan` again, then approve: spec.approvedPlan: {}",
                approved.objects,
                now.noun,
                now.objects,
                approval.tolerance,
                now.render()
            ),
        )),
    }
}

/// The line `plan` prints about approval.
pub fn plan_row(approval: &Approval<'_>, now: &ConversionDigest) -> String {
    match check(approval, now) {
        Verdict::NotRequired => format!(
            "not required (spec.requireApproval: false); this plan: {}",
            now.render()
        ),
        Verdict::Approved { difference: 0 } => format!(
            "approved: spec.approvedPlan is this plan ({})",
            now.render()
        ),
        Verdict::Approved { difference } => format!(
            "approved: {difference} objects from spec.approvedPlan, within spec.planTolerance (this plan: {})",
            now.render()
        ),
        Verdict::Unapproved => format!(
            "not approved: writes only once spec.approvedPlan is set to {}",
            now.render()
        ),
        Verdict::Changed {
            approved,
            difference,
        } => format!(
            "changed: approved {} {}, now {} ({difference} differ, tolerance {}); to approve this plan: spec.approvedPlan: {}",
            approved.objects,
            now.noun,
            now.objects,
            approval.tolerance,
            now.render()
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TENANT: &str = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("id-{i}")).collect()
    }

    #[test]
    fn the_digest_is_order_free_and_round_trips() {
        let a = ConversionDigest::new(TENANT, "users", ids(5));
        let mut rev = ids(5);
        rev.reverse();
        assert_eq!(a, ConversionDigest::new(TENANT, "users", rev));
        assert_eq!(ConversionDigest::parse(&a.render()), Some(a.clone()));
        assert_ne!(a, ConversionDigest::new(TENANT, "groups", ids(5)));
        assert!(ConversionDigest::parse("convert:users=5:XYZ").is_none());
        assert!(ConversionDigest::parse("convert:devices=5:0123456789abcdef").is_none());
    }

    #[test]
    fn verdicts() {
        let now = ConversionDigest::new(TENANT, "users", ids(5));
        let off = Approval::default();
        assert_eq!(check(&off, &now), Verdict::NotRequired);
        let required = Approval {
            required: true,
            ..Approval::default()
        };
        assert_eq!(check(&required, &now), Verdict::Unapproved);
        let text = now.render();
        let approved = Approval {
            required: true,
            approved: Some(&text),
            tolerance: 0,
        };
        assert_eq!(check(&approved, &now), Verdict::Approved { difference: 0 });
        assert!(refusal(&approved, &now).is_none());
        // One object swapped: same count, another set.
        let mut swapped = ids(4);
        swapped.push("id-new".into());
        let moved = ConversionDigest::new(TENANT, "users", swapped);
        assert!(matches!(
            check(&approved, &moved),
            Verdict::Changed { difference: 1, .. }
        ));
        let stall = refusal(&approved, &moved).unwrap();
        assert_eq!(stall.reason, reasons::PLAN_CHANGED);
        assert!(stall.message.contains(&moved.render()), "{}", stall.message);
        let tolerant = Approval {
            tolerance: 1,
            ..approved
        };
        assert_eq!(
            check(&tolerant, &moved),
            Verdict::Approved { difference: 1 }
        );
        let unapproved = refusal(&required, &now).unwrap();
        assert_eq!(unapproved.reason, reasons::APPROVAL_REQUIRED);
        assert!(unapproved.message.contains(&now.render()));
    }

    #[test]
    fn a_plan_of_the_other_kind_is_refused_by_name() {
        let groups = ConversionDigest::new(TENANT, "groups", ids(2)).render();
        let a = Approval {
            required: true,
            approved: Some(&groups),
            tolerance: 0,
        };
        let e = validate(&a, "users").unwrap_err();
        assert!(
            e.contains("spec.approvedPlan") && e.contains("for groups"),
            "{e}"
        );
        let junk = Approval {
            approved: Some("yes"),
            ..a
        };
        assert!(
            validate(&junk, "users")
                .unwrap_err()
                .contains("is not a plan")
        );
        assert!(validate(&a, "groups").is_ok());
    }
}
