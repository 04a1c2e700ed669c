//! Microsoft's prerequisites and limitations for converting groups (entra-docs
//! `how-to-group-source-of-authority-configure.md`, `concept-source-of-authority-overview.md`;
//! graph-api.md §3, §5, §14), each said as far as the operator can check it with its
//! permissions: what it verified, what it did about it, and what it cannot see.

use std::collections::BTreeSet;

use crate::api::common::Prerequisite;
use crate::api::group::CloudGroupConversionSpec;

use super::select::Selection;

const MET: &str = Prerequisite::MET;
const UNVERIFIED: &str = Prerequisite::UNVERIFIED;
const WARNING: &str = Prerequisite::WARNING;

/// The checks for `spec`'s selection, once ordered bottom-up (a nesting cycle stalls before).
pub fn check(spec: &CloudGroupConversionSpec, sel: &Selection) -> Vec<Prerequisite> {
    let convertible = || {
        sel.candidates
            .values()
            .filter(|g| g.synced || g.formerly_synced)
    };
    let to_convert = sel.candidates.values().filter(|g| g.synced).count();
    let mut out = vec![Prerequisite::new(
        "SyncClientVersion",
        UNVERIFIED,
        "Microsoft requires Entra Connect Sync 2.5.76.0 or later (Cloud Sync 1.1.1370.0 or later) to synchronise groups whose Source of Authority is converted; Graph does not expose the sync client's version: check it on the sync server".into(),
    )];

    let mail: Vec<&str> = convertible()
        .filter(|g| g.exchange_managed)
        .map(|g| g.name.as_str())
        .collect();
    let left_synced: Vec<String> = sel
        .excluded
        .iter()
        .filter(|x| x.reason == super::select::MAIL_ENABLED)
        .map(|x| x.display_name.clone().unwrap_or_else(|| x.id.clone()))
        .collect();
    let what = "Distribution lists and mail-enabled security groups can't be managed through Entra or Graph once converted (Exchange Online manages them), and Microsoft converts them only once every mailbox is in Exchange Online, which the operator cannot see";
    out.push(if !mail.is_empty() {
        Prerequisite::new(
            "MailEnabledGroups",
            WARNING,
            format!(
                "{what}; spec.mailEnabledGroups is Convert and {} selected groups are mail-enabled (e.g. {}): they are converted without owners and listed in status.exchangeManaged, to manage in Exchange Online from then on. If their members' mailboxes are not all in Exchange Online, set mailEnabledGroups: Exclude",
                mail.len(),
                mail.iter().take(3).copied().collect::<Vec<_>>().join(", ")
            ),
        )
    } else if !left_synced.is_empty() {
        Prerequisite::new(
            "MailEnabledGroups",
            MET,
            format!(
                "{what}; {} selected groups are mail-enabled (e.g. {}) and stay synchronised (status.exclusions, MailEnabled): set spec.mailEnabledGroups: Convert once their members' mailboxes are in Exchange Online",
                left_synced.len(),
                left_synced.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    } else {
        Prerequisite::new(
            "MailEnabledGroups",
            MET,
            format!("{what}; none of the selected groups is mail-enabled"),
        )
    });

    // Direct nesting among the selected groups, and nested groups left out of the selection.
    let mut nested = BTreeSet::new();
    let mut outside = BTreeSet::new();
    for (parent, children) in &sel.nesting {
        if !sel.candidates.contains_key(parent) {
            continue;
        }
        for c in children.iter().filter(|c| *c != parent) {
            if sel.candidates.contains_key(c) {
                nested.insert(c);
            } else {
                outside.insert(c);
            }
        }
    }
    let left = if outside.is_empty() {
        String::new()
    } else {
        let why = if spec.selector.include_nested {
            "excluded"
        } else {
            "spec.selector.includeNested is false"
        };
        format!(
            "; {} groups nested in selected ones are not selected ({why}) and stay managed in AD until converted on their own",
            outside.len()
        )
    };
    out.push(Prerequisite::new(
        "NestedGroupsBottomUp",
        MET,
        format!(
            "Microsoft converts only the group it is asked to, not the groups nested in it, and advises converting from the lowest level up; the operator orders the selected groups bottom-up, {} of them nested in another selected group, and converts a group only after those nested in it{left}",
            nested.len()
        ),
    ));

    out.push(Prerequisite::new(
        "ExtensionAttributes",
        UNVERIFIED,
        format!(
            "Extension attributes 1–15 are not supported on cloud security groups nor after conversion; the operator does not read them: check that nothing relies on them for the {to_convert} groups still to convert"
        ),
    ));

    let owners = if sel.owners.is_empty() {
        "spec.owners names none, so converted groups are left without owners".to_string()
    } else {
        format!(
            "the operator adds the {} owners of spec.owners to each group once it is cloud-managed (mail-enabled groups excepted), and reads a synchronised group's owner list as empty",
            sel.owners.len()
        )
    };
    out.push(Prerequisite::new(
        "OwnersAfterConversion",
        MET,
        format!(
            "Owners are not available for groups synchronised from on-premises (nor for distribution groups), so they can only be added after conversion; {owners}"
        ),
    ));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::reconcile::group::select::{Candidate, Owner};

    fn spec() -> CloudGroupConversionSpec {
        serde_json::from_value(serde_json::json!({
            "tenantRef": {"name": "t"}, "mode": "Apply",
            "selector": {"filter": "startswith(displayName,'SG ')"}
        }))
        .unwrap()
    }

    fn group(id: &str, mail: bool) -> Candidate {
        Candidate {
            id: id.into(),
            name: format!("G {id}"),
            synced: true,
            formerly_synced: false,
            exchange_managed: mail,
        }
    }

    fn state<'a>(p: &'a [Prerequisite], name: &str) -> (&'a str, &'a str) {
        let x = p.iter().find(|x| x.name == name).unwrap();
        (x.state.as_str(), x.message.as_str())
    }

    #[test]
    fn security_groups_only_are_met_and_what_graph_hides_is_unverified() {
        // a ⊃ b ⊃ c, all selected; no mail-enabled group, owners named.
        let mut sel = Selection::default();
        for id in ["a", "b", "c"] {
            sel.candidates.insert(id.into(), group(id, false));
        }
        sel.nesting
            .entry("a".into())
            .or_default()
            .insert("b".into());
        sel.nesting
            .entry("b".into())
            .or_default()
            .insert("c".into());
        sel.owners.push(Owner {
            id: "o".into(),
            name: "admin@contoso.com".into(),
        });
        let p = check(&spec(), &sel);
        assert_eq!(p.len(), 5);
        let (s, m) = state(&p, "MailEnabledGroups");
        assert_eq!(s, "Met");
        assert!(m.contains("none of the selected"), "{m}");
        let (s, m) = state(&p, "NestedGroupsBottomUp");
        assert_eq!(s, "Met");
        assert!(
            m.contains("2 of them nested") && !m.contains("stay managed"),
            "{m}"
        );
        let (s, m) = state(&p, "OwnersAfterConversion");
        assert_eq!(s, "Met");
        assert!(m.contains("adds the 1 owners"), "{m}");
        assert_eq!(state(&p, "SyncClientVersion").0, "Unverified");
        assert!(state(&p, "SyncClientVersion").1.contains("2.5.76.0"));
        assert!(state(&p, "SyncClientVersion").1.contains("1.1.1370.0"));
        let (s, m) = state(&p, "ExtensionAttributes");
        assert_eq!(s, "Unverified");
        assert!(m.contains("for the 3 groups"), "{m}");
    }

    #[test]
    fn mail_enabled_groups_are_a_warning_and_unselected_nested_groups_are_named() {
        // a ⊃ b (selected, a distribution list), a ⊃ x (nested, not selected).
        let mut sel = Selection::default();
        sel.candidates.insert("a".into(), group("a", false));
        sel.candidates.insert("b".into(), group("b", true));
        let kids = sel.nesting.entry("a".into()).or_default();
        kids.insert("b".into());
        kids.insert("x".into());
        let p = check(&spec(), &sel);
        let (s, m) = state(&p, "MailEnabledGroups");
        assert_eq!(s, "Warning");
        assert!(
            m.contains("1 selected groups are mail-enabled (e.g. G b)"),
            "{m}"
        );
        let (_, m) = state(&p, "NestedGroupsBottomUp");
        assert!(
            m.contains("1 of them nested")
                && m.contains("1 groups nested in selected ones are not selected (excluded)"),
            "{m}"
        );
        let (s, m) = state(&p, "OwnersAfterConversion");
        assert_eq!(s, "Met");
        assert!(m.contains("left without owners"), "{m}");

        // Left synchronised (the default): reported as excluded, and how to convert them.
        sel.candidates.remove("b");
        sel.excluded.push(crate::api::group::GroupExclusion {
            id: "b".into(),
            display_name: Some("DL Sales".into()),
            reason: crate::reconcile::group::select::MAIL_ENABLED.into(),
        });
        let p = check(&spec(), &sel);
        let (s, m) = state(&p, "MailEnabledGroups");
        assert_eq!(s, "Met");
        assert!(
            m.contains("1 selected groups are mail-enabled (e.g. DL Sales)")
                && m.contains("mailEnabledGroups: Convert"),
            "{m}"
        );
    }
}
