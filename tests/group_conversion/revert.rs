//! `onDelete: Revert` under Graph's owner rules: the owners the conversion added are removed
//! while another owner remains, the last is kept (Graph refuses to remove a group's last
//! owner) and said so, and every group is switched back regardless.

use std::collections::BTreeSet;

use crate::common::*;
use crate::harness::*;
use entra_cloud_operator::emulator::{EmulatorConfig, LastOwnerRemoval};
use entra_cloud_operator::reconcile::RevertOutcome;
use entra_cloud_operator::reconcile::group::revert::KEPT_LAST_OWNER;
use serde_json::{Value, json};

fn owners(g: &Value) -> Vec<String> {
    g["owners"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.as_str().map(str::to_string))
        .collect()
}

/// A synced user's UPN: the second owner the conversion adds.
async fn second_owner(emu: &entra_cloud_operator::emulator::Emulator) -> (String, String) {
    let u = users(emu)
        .await
        .into_iter()
        .find(|u| u["kind"] == "synced")
        .unwrap();
    let upn = u["userPrincipalName"].as_str().unwrap().to_string();
    (upn, u["id"].as_str().unwrap().to_string())
}

/// Converts every seeded synced group with `owners` [admin, a synced user], then reverts.
/// Returns the groups, the Exchange-mastered ones among them (no owners added), the owners'
/// ids and the revert's outcome.
async fn convert_then_revert(
    emu: &entra_cloud_operator::emulator::Emulator,
) -> (
    GroupHarness,
    BTreeSet<String>,
    BTreeSet<String>,
    (String, String),
    RevertOutcome,
) {
    grant(emu, PERMISSIONS).await;
    let gs = groups(emu).await;
    let all = synced(&gs);
    let exchange: BTreeSet<String> = all
        .iter()
        .filter(|id| gs[*id]["mailEnabled"] == true)
        .cloned()
        .collect();
    assert!(!exchange.is_empty() && exchange.len() < all.len());
    let (upn, second) = second_owner(emu).await;
    let mut h = GroupHarness::new(
        emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "onDelete": "Revert",
            "selector": {"filter": SEEDED}, "owners": [ADMIN, upn],
            "mailEnabledGroups": "Convert",
            "rollout": {"maxObjects": 50}
        })),
    );
    h.until(10, ready).await;
    let admin = user_id(emu, ADMIN).await;
    let converted = groups(emu).await;
    for id in all.difference(&exchange) {
        let mut both = vec![admin.clone(), second.clone()];
        both.sort();
        assert_eq!(
            owners(&converted[id]),
            both,
            "owners added: {}",
            converted[id]
        );
    }
    let done = h.revert().await;
    (h, all, exchange, (admin, second), done)
}

#[tokio::test]
async fn revert_switches_groups_back_and_removes_the_owners_it_added() {
    // Graph's rules, as the emulator has them by default: the last owner cannot be removed,
    // and the owners of synced groups are not available (the conversion reads them as none).
    let emu = start(config(20, 5)).await;
    let (h, all, exchange, (admin, second), done) = convert_then_revert(&emu).await;
    let with_owners = all.len() - exchange.len();
    // Every group reverted; the result says the last owners were kept, and where.
    let RevertOutcome::Kept(n, kept) = &done else {
        panic!("the last owners are kept: {done:?}");
    };
    assert_eq!(*n, all.len() as i64);
    assert!(
        kept.contains(&format!(
            "the owner added to {with_owners} group(s) was kept as the group's last owner"
        )),
        "{kept}"
    );
    let after = groups(&emu).await;
    for id in &all {
        let g = &after[id];
        assert_eq!(g["isCloudManaged"], false, "{g}");
        // The first owner added is removed while the second remains...
        assert!(!owners(g).contains(&admin), "owner removed: {g}");
        // ...and the second, the group's last, is kept (Graph refuses its removal).
        let expected: Vec<String> = if exchange.contains(id) {
            Vec::new()
        } else {
            vec![second.clone()]
        };
        assert_eq!(owners(g), expected, "{g}");
    }
    // The journal: before the switch the owners were read as none (not available), and each
    // kept owner is a refused RemoveOwner with the note the next pass counts as done.
    let lines = h.journal_lines();
    let of = |action: &str, phase: &str| {
        lines
            .iter()
            .filter(|l| l["action"] == action && l["phase"] == phase)
            .cloned()
            .collect::<Vec<_>>()
    };
    let added = of("AddOwner", "Applied");
    assert_eq!(added.len(), 2 * with_owners);
    assert!(
        added.iter().all(|l| l["prior"]["owners"] == json!([])),
        "{added:?}"
    );
    let refused = of("RemoveOwner", "Failed");
    assert_eq!(refused.len(), with_owners, "{refused:?}");
    for l in &refused {
        assert_eq!(l["prior"]["owner"], second.as_str());
        assert_eq!(l["note"], KEPT_LAST_OWNER);
        assert!(
            l["error"].as_str().unwrap().contains(
                "The group must have at least one owner, hence this owner cannot be removed."
            ),
            "{l}"
        );
    }
    assert_eq!(of("RemoveOwner", "Applied").len(), with_owners);
    assert_eq!(of("SwitchToAd", "Applied").len(), all.len());
    // Idempotent: the kept owners are not tried again.
    let writes = state(&emu).await["writes"]["accepted"].clone();
    let refused_writes = state(&emu).await["writes"]["refused"].clone();
    assert_eq!(h.revert().await, RevertOutcome::Done(0));
    assert_eq!(state(&emu).await["writes"]["accepted"], writes);
    assert_eq!(state(&emu).await["writes"]["refused"], refused_writes);
    // The next sync cycle takes the groups back.
    control_post(&emu, "sync/cycle", json!({})).await;
    let back = groups(&emu).await;
    assert!(
        all.iter()
            .all(|id| back[id]["onPremisesSyncEnabled"] == true)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn without_the_last_owner_rule_every_added_owner_is_removed() {
    let emu = start(EmulatorConfig {
        last_owner_removal: LastOwnerRemoval::Allow,
        ..config(20, 5)
    })
    .await;
    let (h, all, _, (admin, second), done) = convert_then_revert(&emu).await;
    assert_eq!(done, RevertOutcome::Done(all.len() as i64));
    let after = groups(&emu).await;
    for id in &all {
        let g = &after[id];
        assert_eq!(g["isCloudManaged"], false, "{g}");
        assert!(!owners(g).contains(&admin), "owner removed: {g}");
        assert!(!owners(g).contains(&second), "owner removed: {g}");
    }
    assert!(
        !h.journal_lines()
            .iter()
            .any(|l| l["action"] == "RemoveOwner" && l["phase"] == "Failed")
    );
    let writes = state(&emu).await["writes"]["accepted"].clone();
    assert_eq!(h.revert().await, RevertOutcome::Done(0));
    assert_eq!(state(&emu).await["writes"]["accepted"], writes);
    emu.shutdown().await;
}
