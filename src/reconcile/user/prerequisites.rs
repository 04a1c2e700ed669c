//! Microsoft's prerequisites for converting users (entra-docs
//! `concept-source-of-authority-overview.md`, `how-to-user-source-of-authority-configure.md`;
//! graph-api.md §14), each said as far as the operator can check it with its permissions:
//! what it verified, what it excluded, and what it cannot see.

use crate::api::common::Prerequisite;
use crate::api::user::{CloudUserConversionSpec, UserConversionMethod};

use super::select::Selection;

const MET: &str = Prerequisite::MET;
const UNVERIFIED: &str = Prerequisite::UNVERIFIED;

/// The checks for `spec`'s selection; `ad` says whether the tenant has an AD connection (whose
/// reads excluded administrative objects and on-premises mailboxes already).
pub fn check(spec: &CloudUserConversionSpec, sel: &Selection, ad: bool) -> Vec<Prerequisite> {
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
    out.push(Prerequisite::new(
        "GroupsBeforeMembers",
        UNVERIFIED,
        "Microsoft advises converting groups (CloudGroupConversion) before their members; the operator does not read the selected users' synchronised-group memberships".into(),
    ));
    out
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
        let with_ad = check(&spec("SourceOfAuthority"), &sel, true);
        let (s, m) = state(&with_ad, "ExchangeOnlineMailboxes");
        assert_eq!(s, "Met");
        assert!(m.contains("1 selected users"), "{m}");
        let (s, m) = state(&with_ad, "AdministrativeObjects");
        assert_eq!(s, "Met");
        assert!(m.contains("1 found"), "{m}");
        assert_eq!(state(&with_ad, "SyncClientVersion").0, "Unverified");

        sel.unverified
            .push("administrator role holders (grant RoleManagement.Read.Directory)".into());
        let without = check(&spec("SourceOfAuthority"), &sel, false);
        assert_eq!(state(&without, "ExchangeOnlineMailboxes").0, "Unverified");
        let (s, m) = state(&without, "AdministrativeObjects");
        assert_eq!(s, "Unverified");
        assert!(
            m.contains("RoleManagement.Read.Directory") && m.contains("adminCount"),
            "{m}"
        );
        // The sync client's version matters to the Source of Authority switch only.
        let restore = check(&spec("RestoreDeleted"), &sel, false);
        assert!(restore.iter().all(|p| p.name != "SyncClientVersion"));
    }
}
