//! Microsoft's prerequisites for converting users (entra-docs
//! `concept-source-of-authority-overview.md`, `how-to-user-source-of-authority-configure.md`;
//! graph-api.md §14), each said as far as the operator can check it with its permissions:
//! what it verified, what it excluded, and what it cannot see.

use crate::api::common::Prerequisite;
use crate::api::user::{CloudUserConversionSpec, UserConversionMethod};

use super::memberships::{self, Seen};
use super::select::Selection;

const MET: &str = Prerequisite::MET;
const UNVERIFIED: &str = Prerequisite::UNVERIFIED;
const WARNING: &str = Prerequisite::WARNING;

/// The checks for `spec`'s selection; `ad` says whether the tenant has an AD connection (whose
/// reads excluded administrative objects and on-premises mailboxes already); `seen` what the
/// pass read of the users' group memberships.
pub fn check(
    spec: &CloudUserConversionSpec,
    sel: &Selection,
    ad: bool,
    seen: &Seen,
) -> Vec<Prerequisite> {
    let excluded = |reason: &str| sel.excluded.iter().filter(|x| x.reason == reason).count();
    let mut out = Vec::new();
    if spec.method == UserConversionMethod::SourceOfAuthority {
        out.push(Prerequisite::new(
            "SyncClientVersion",
            UNVERIFIED,
            "Microsoft requires Entra Connect Sync 2.5.76.0 or later (Cloud Sync 1.1.1370.0) for user Source of Authority; Graph does not expose the sync client's version: check it on the sync server".into(),
        ));
    }
    out.push(if ad {
        Prerequisite::new(
            "ExchangeOnlineMailboxes",
            MET,
            format!(
                "Microsoft requires mailboxes in Exchange Online (hybrid decommissioned) before conversion; AD shows {} selected users with an on-premises mailbox, excluded (OnPremisesMailbox)",
                excluded("OnPremisesMailbox")
            ),
        )
    } else {
        Prerequisite::new(
            "ExchangeOnlineMailboxes",
            UNVERIFIED,
            "Microsoft requires mailboxes in Exchange Online (hybrid decommissioned) before conversion; without spec.activeDirectory on the TenantSyncPolicy the operator cannot read msExchRecipientTypeDetails: check that no selected user has an on-premises mailbox".into(),
        )
    });
    let mut unseen: Vec<String> = sel.unverified.clone();
    if !ad {
        unseen.push(
            "AdminSDHolder-protected users (adminCount=1; needs spec.activeDirectory)".into(),
        );
    }
    let found = excluded("DirectoryRole")
        + excluded("RestrictedAdministrativeUnit")
        + excluded("AdminSdHolder");
    out.push(if unseen.is_empty() {
        Prerequisite::new(
            "AdministrativeObjects",
            MET,
            format!("Entra refuses to convert administrative objects; {found} found and excluded (administrator roles, restricted administrative units, AdminSDHolder)"),
        )
    } else {
        Prerequisite::new(
            "AdministrativeObjects",
            UNVERIFIED,
            format!(
                "Entra refuses to convert administrative objects; {found} found and excluded; not looked for: {} (any among the selection fail alone)",
                unseen.join("; ")
            ),
        )
    });
    out.extend(groups(spec, seen));
    out
}

/// What the users' group memberships show: with `SourceOfAuthority`, whether the next wave's
/// users are members of synchronised groups (Microsoft: convert groups before their members);
/// with `RestoreDeleted`, the memberships the soft delete drops.
fn groups(spec: &CloudUserConversionSpec, seen: &Seen) -> Option<Prerequisite> {
    let r = &seen.recorded;
    let refused = |name: &str, what: &str| {
        seen.refused.as_ref().map(|why| {
            Prerequisite::new(
                name,
                UNVERIFIED,
                format!("{what}; the operator could not read the users' memberships (grant GroupMember.Read.All to let it): {why}"),
            )
        })
    };
    match spec.method {
        UserConversionMethod::SourceOfAuthority => {
            let what =
                "Microsoft advises converting groups (CloudGroupConversion) before their members";
            if let Some(p) = refused("GroupsBeforeMembers", what) {
                return Some(p);
            }
            if seen.read == 0 {
                return Some(Prerequisite::new(
                    "GroupsBeforeMembers",
                    MET,
                    format!("{what}; no selected user is left to convert"),
                ));
            }
            Some(if r.in_synced > 0 {
                Prerequisite::new(
                    "GroupsBeforeMembers",
                    WARNING,
                    format!(
                        "{what}: {} of the {} next users read are direct members of {} synchronised groups not converted yet (e.g. {})",
                        r.in_synced,
                        seen.read,
                        r.synced_group_count(),
                        r.synced_examples(5).join(", ")
                    ),
                )
            } else {
                Prerequisite::new(
                    "GroupsBeforeMembers",
                    MET,
                    format!(
                        "{what}: none of the {} next users read is a direct member of a synchronised group",
                        seen.read
                    ),
                )
            })
        }
        UserConversionMethod::RestoreDeleted => {
            let what = "A user soft-deleted because it left sync scope loses its memberships in synchronised groups; the restore brings back cloud-group memberships only";
            if let Some(p) = refused("SynchronisedGroupMemberships", what) {
                return Some(p);
            }
            let summary = r.summary(0)?;
            Some(if summary.synced_memberships > 0 {
                Prerequisite::new(
                    "SynchronisedGroupMemberships",
                    WARNING,
                    format!("{what}: {}", memberships::loss_sentence(&summary)),
                )
            } else {
                Prerequisite::new(
                    "SynchronisedGroupMemberships",
                    MET,
                    format!(
                        "{what}: none of the {} users read is a member of a synchronised group",
                        summary.users_recorded
                    ),
                )
            })
        }
        UserConversionMethod::ClearImmutableId => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::user::Exclusion;

    fn spec(method: &str) -> CloudUserConversionSpec {
        serde_json::from_value(serde_json::json!({
            "tenantRef": {"name": "t"}, "mode": "Apply", "method": method,
            "selector": {"domains": ["contoso.com"]}
        }))
        .unwrap()
    }

    fn state<'a>(p: &'a [Prerequisite], name: &str) -> (&'a str, &'a str) {
        let x = p.iter().find(|x| x.name == name).unwrap();
        (x.state.as_str(), x.message.as_str())
    }

    #[test]
    fn what_ad_shows_is_met_and_what_nothing_shows_is_unverified() {
        let mut sel = Selection::default();
        sel.excluded.push(Exclusion {
            user_principal_name: "m@contoso.com".into(),
            reason: "OnPremisesMailbox".into(),
        });
        sel.excluded.push(Exclusion {
            user_principal_name: "a@contoso.com".into(),
            reason: "AdminSdHolder".into(),
        });
        let seen = Seen::default();
        let with_ad = check(&spec("SourceOfAuthority"), &sel, true, &seen);
        let (s, m) = state(&with_ad, "ExchangeOnlineMailboxes");
        assert_eq!(s, "Met");
        assert!(m.contains("1 selected users"), "{m}");
        let (s, m) = state(&with_ad, "AdministrativeObjects");
        assert_eq!(s, "Met");
        assert!(m.contains("1 found"), "{m}");
        assert_eq!(state(&with_ad, "SyncClientVersion").0, "Unverified");

        sel.unverified
            .push("administrator role holders (grant RoleManagement.Read.Directory)".into());
        let without = check(&spec("SourceOfAuthority"), &sel, false, &seen);
        assert_eq!(state(&without, "ExchangeOnlineMailboxes").0, "Unverified");
        let (s, m) = state(&without, "AdministrativeObjects");
        assert_eq!(s, "Unverified");
        assert!(
            m.contains("RoleManagement.Read.Directory") && m.contains("adminCount"),
            "{m}"
        );
        // The sync client's version matters to the Source of Authority switch only.
        let restore = check(&spec("RestoreDeleted"), &sel, false, &seen);
        assert!(restore.iter().all(|p| p.name != "SyncClientVersion"));
    }
}
