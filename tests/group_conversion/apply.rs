//! Plan and Apply: selection, bottom-up order, members, owners, Exchange-managed groups,
//! exclusions, the shipped example.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use crate::harness::*;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::journal::{Action, FileJournal, Phase};
use entra_cloud_operator::reconcile::group;
use entra_cloud_operator::reconcile::resource::Reconciled;
use serde_json::json;

#[tokio::test]
async fn plan_reports_nested_groups_and_writes_nothing() {
    let emu = start(config(20, 10)).await;
    grant(&emu, PERMISSIONS).await;
    let gs = groups(&emu).await;
    let mut h = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Plan",
            "selector": {"groupIds": roots(&gs)}, "owners": [ADMIN]
        })),
    );
    h.pass().await.unwrap();
    let st = h.status();
    assert_eq!(h.reason(cond::READY).as_deref(), Some("Planned"));
    // Two trees of four (a ⊃ b, c; b ⊃ d): the roots and their nested groups.
    assert_eq!((st.matched, st.pending, st.converted), (8, 8, 0));
    assert!(h.message(cond::READY).contains("nested groups first"));
    // Microsoft's prerequisites, in the status and as rows of `plan`.
    let names: Vec<&str> = st.prerequisites.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "SyncClientVersion",
            "MailEnabledGroups",
            "NestedGroupsBottomUp",
            "ExtensionAttributes",
            "OwnersAfterConversion"
        ]
    );
    let bottom_up = &st.prerequisites[2];
    assert_eq!(bottom_up.state, "Met");
    assert!(
        bottom_up.message.contains("6 of them nested"),
        "{bottom_up:?}"
    );
    assert_eq!(st.prerequisites[0].state, "Unverified");
    let preview = h.obj.preview(&h.tenant, &h.ctx()).await.unwrap().unwrap();
    let rows: Vec<&String> = preview
        .changes
        .iter()
        .filter(|c| c.request == "none (prerequisite)")
        .map(|c| &c.detail)
        .collect();
    assert_eq!(rows.len(), st.prerequisites.len(), "{rows:?}");
    for (row, p) in rows.iter().zip(&st.prerequisites) {
        assert_eq!(**row, format!("{} ({}): {}", p.name, p.state, p.message));
    }
    let s = state(&emu).await;
    assert_eq!(s["writes"]["accepted"], 0, "{s}");
    assert_eq!(s["writes"]["refused"], 0, "{s}");

    // Without includeNested only the named groups are selected.
    let mut flat = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Plan",
            "selector": {"groupIds": roots(&gs), "includeNested": false}
        })),
    );
    flat.pass().await.unwrap();
    assert_eq!(flat.status().pending, 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn apply_converts_bottom_up_keeps_members_adds_owners_once() {
    let emu = start(config(30, 10)).await;
    grant(&emu, PERMISSIONS).await;
    let before = groups(&emu).await;
    let all = synced(&before);
    let second = user_id(&emu, "breakglass01@contoso.onmicrosoft.com").await;
    let admin = user_id(&emu, ADMIN).await;
    let mut h = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Apply",
            "selector": {"filter": SEEDED},
            "owners": [ADMIN, second],
            "rollout": {"maxObjects": 50, "canary": 1, "waveSize": 3}
        })),
    );
    h.until(10, ready).await;
    assert_eq!(h.reason(cond::READY).as_deref(), Some("Converted"));
    let st = h.status();
    assert_eq!((st.converted, st.pending, st.failed), (10, 0, 0));
    assert_eq!(
        h.events
            .iter()
            .filter(|e| e.reason == "WaveCompleted")
            .count(),
        1 + 3,
        "canary + waves of 3"
    );

    // Every child's switch intent precedes its parent's.
    let entries = h.journal_entries();
    let intent_at: BTreeMap<String, u64> = entries
        .iter()
        .filter(|e| e.record.action == Action::SwitchToCloud && e.record.phase == Phase::Intent)
        .map(|e| (e.record.object_id.clone(), e.seq))
        .collect();
    assert_eq!(intent_at.keys().cloned().collect::<BTreeSet<_>>(), all);
    let mut edges = 0;
    for id in &all {
        for child in nested_in(&before[id], &before) {
            assert!(
                intent_at[&child] < intent_at[id],
                "{child} after its parent {id}"
            );
            edges += 1;
        }
    }
    assert_eq!(edges, 6, "two trees of three nesting edges");
    let prior = &entries
        .iter()
        .find(|e| e.record.action == Action::SwitchToCloud)
        .unwrap()
        .record
        .prior;
    assert_eq!(prior["isCloudManaged"], false);
    assert!(prior["members"]["sha256"].is_string(), "{prior}");

    let after = groups(&emu).await;
    let mut mail = Vec::new();
    for id in &all {
        let (b, a) = (&before[id], &after[id]);
        assert_eq!(a["isCloudManaged"], true, "{a}");
        assert_eq!(a["members"], b["members"], "members unchanged: {a}");
        assert_eq!(a["writeCounts"]["soa"], 1, "{a}");
        if a["mailEnabled"] == true {
            mail.push(a["displayName"].as_str().unwrap().to_string());
            assert_eq!(
                a["writes"], 1,
                "Exchange-managed: nothing beyond the switch: {a}"
            );
            assert_eq!(a["owners"], json!([]));
        } else {
            assert_eq!(a["writeCounts"]["ownersAdded"], 2, "{a}");
            let owners: BTreeSet<&str> = a["owners"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap())
                .collect();
            assert_eq!(owners, [admin.as_str(), second.as_str()].into());
        }
    }
    assert!(!mail.is_empty(), "the seed has mail-enabled groups");
    mail.sort();
    let mut reported = st.exchange_managed.clone();
    reported.sort();
    assert_eq!(reported, mail);
    // The prerequisite counts them (converted, they are still the selection's).
    let dl = st
        .prerequisites
        .iter()
        .find(|p| p.name == "MailEnabledGroups");
    let dl = dl.unwrap();
    assert_eq!(dl.state, "Warning");
    let count = format!("{} selected groups are mail-enabled", mail.len());
    assert!(dl.message.contains(&count), "{dl:?}");
    assert!(h.events.iter().any(|e| e.reason == "ExchangeManaged"));
    // Cloud-only groups were never selected nor written.
    for g in after.values().filter(|g| g["kind"] != "synced") {
        assert_eq!(g["writes"], 0, "{g}");
    }

    // A second pass (and a restarted operator with the same journal) adds nothing.
    let accepted = state(&emu).await["writes"]["accepted"].clone();
    h.pass().await.unwrap();
    let mut again = GroupHarness::new(&emu, h.obj.clone());
    again.obj.status = None;
    again.journal = FileJournal::open(
        &h.journal_path,
        entra_cloud_operator::journal::default_key(&h.journal_path).unwrap(),
    )
    .unwrap();
    again.until(3, ready).await;
    assert_eq!(state(&emu).await["writes"]["accepted"], accepted);
    emu.shutdown().await;
}

#[tokio::test]
async fn excluded_groups_are_never_written_and_their_nested_groups_not_reached() {
    let emu = start(config(20, 5)).await;
    grant(&emu, PERMISSIONS).await;
    let gs = groups(&emu).await;
    let root = roots(&gs).remove(0);
    // The root contains b and c; b contains d. Excluding b leaves d unreachable.
    let b = nested_in(&gs[&root], &gs)
        .into_iter()
        .find(|c| !nested_in(&gs[c], &gs).is_empty())
        .unwrap();
    let d = nested_in(&gs[&b], &gs).remove(0);
    let mut h = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Apply",
            "selector": {"groupIds": [root]}, "exclude": {"groupIds": [b]}
        })),
    );
    h.until(5, ready).await;
    let st = h.status();
    assert_eq!((st.matched, st.excluded, st.converted), (3, 1, 2));
    assert_eq!(st.exclusions[0].reason, "ExcludedById");
    let after = groups(&emu).await;
    assert_eq!(after[&b]["writes"], 0);
    assert_eq!(after[&d]["writes"], 0);
    assert_eq!(after[&root]["isCloudManaged"], true);
    emu.shutdown().await;
}

/// The shipped example loads through the local runner's schema check, passes the CRD's CEL
/// rules and the reconciler's validation; a copy without a selector criterion does not.
#[test]
fn the_example_and_the_cel_rules() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/group-conversion.yaml");
    let m = entra_cloud_operator::local::manifests::load(std::slice::from_ref(&path)).unwrap();
    assert_eq!(m.groups.len(), 1);
    let example = m.groups[0].resource.clone();
    assert_eq!(
        example.spec.mode,
        entra_cloud_operator::api::common::ConversionMode::Plan
    );
    kube::core::cel::validate_cel(&example).unwrap();
    group::validate::validate(&example.spec).unwrap();

    let mut bad = example;
    bad.spec.selector.filter = None;
    let err = kube::core::cel::validate_cel(&bad).unwrap_err().to_string();
    assert!(
        err.contains("give at least one of groupIds, filter"),
        "{err}"
    );
    let err = group::validate::validate(&bad.spec)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("spec.selector:"), "{err}");

    // The runner refuses a bad manifest naming the document and the field.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("- admin@contoso.onmicrosoft.com", "- not an owner");
    let file = temp_dir("cgc-bad").join("bad.yaml");
    std::fs::write(&file, text).unwrap();
    let err = entra_cloud_operator::local::manifests::load(&[file])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("CloudGroupConversion finance-groups is invalid")
            && err.contains("spec.owners"),
        "{err}"
    );
}

#[tokio::test]
async fn owners_of_synced_groups_read_as_none_whichever_way_graph_says_not_available() {
    use entra_cloud_operator::emulator::{EmulatorConfig, UnavailableOwners};
    for mode in [UnavailableOwners::Refuse, UnavailableOwners::Empty] {
        let emu = start(EmulatorConfig {
            unavailable_owners: mode,
            ..config(20, 5)
        })
        .await;
        grant(&emu, PERMISSIONS).await;
        let gs = groups(&emu).await;
        let security: Vec<String> = synced(&gs)
            .into_iter()
            .filter(|id| gs[id]["mailEnabled"] == false)
            .collect();
        let mut h = GroupHarness::new(
            &emu,
            cgc(json!({
                "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Apply",
                "selector": {"groupIds": security}, "owners": [ADMIN]
            })),
        );
        h.until(10, ready).await;
        let st = h.status();
        assert_eq!(
            (st.converted, st.failed),
            (security.len() as i64, 0),
            "{mode:?}"
        );
        // The prior value the journal keeps: no cloud owners.
        let added: Vec<_> = h
            .journal_lines()
            .into_iter()
            .filter(|l| l["action"] == "AddOwner" && l["phase"] == "Applied")
            .collect();
        assert_eq!(added.len(), security.len(), "{mode:?}");
        assert!(added.iter().all(|l| l["prior"]["owners"] == json!([])));
        emu.shutdown().await;
    }
}

#[tokio::test]
async fn mail_enabled_groups_stay_synchronised_by_default_and_are_reported() {
    let emu = start(config(20, 10)).await;
    grant(&emu, PERMISSIONS).await;
    let before = groups(&emu).await;
    let mail: BTreeSet<String> = synced(&before)
        .into_iter()
        .filter(|id| before[id]["mailEnabled"] == true)
        .collect();
    assert!(!mail.is_empty(), "the seed has mail-enabled groups");
    let mut h = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply",
            "selector": {"filter": SEEDED}, "owners": [ADMIN],
            "rollout": {"maxObjects": 50}
        })),
    );
    h.until(10, ready).await;
    let st = h.status();
    let after = groups(&emu).await;
    for id in &mail {
        assert_eq!(after[id]["writes"], 0, "left to AD: {}", after[id]);
        assert_eq!(after[id]["isCloudManaged"], false, "{}", after[id]);
    }
    let excluded: BTreeSet<String> = st
        .exclusions
        .iter()
        .filter(|x| x.reason == "MailEnabled")
        .map(|x| x.id.clone())
        .collect();
    assert_eq!(excluded, mail);
    assert!(st.exchange_managed.is_empty(), "{st:#?}");
    // The security groups were converted all the same.
    for id in synced(&before).difference(&mail) {
        assert_eq!(after[id]["isCloudManaged"], true, "{}", after[id]);
    }
    let p = st
        .prerequisites
        .iter()
        .find(|p| p.name == "MailEnabledGroups")
        .unwrap();
    assert_eq!(p.state, "Met");
    assert!(
        p.message
            .contains(&format!("{} selected groups are mail-enabled", mail.len()))
            && p.message.contains("mailEnabledGroups: Convert"),
        "{p:?}"
    );
    emu.shutdown().await;
}
