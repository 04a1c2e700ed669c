//! `onDelete: Revert` trusts only what the journal key proves: an object whose journal entry
//! was edited, or was written without the key (a legacy or recomputed chain), is refused by
//! name and nothing is written for it; the other objects are undone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use common::*;
use entra_cloud_operator::api::CloudUserConversion;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::journal::{Action, Entry, GENESIS_HASH, Phase};
use entra_cloud_operator::reconcile::RevertOutcome;
use serde_json::{Value, json};

const PERMISSIONS: &[&str] = &[
    "Organization.Read.All",
    "User.ReadWrite.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "User-OnPremisesSyncBehavior.ReadWrite.All",
];

type UserHarness = Harness<CloudUserConversion>;

/// Three users converted with their ImmutableIDs cleared, hard-match takeover unblocked so a
/// revert can hand them back; the users before, by id.
async fn converted() -> (
    entra_cloud_operator::emulator::Emulator,
    UserHarness,
    HashMap<String, Value>,
) {
    let emu = start(config(3, 1)).await;
    control_put(&emu, "permissions", json!({ "permissions": PERMISSIONS })).await;
    let before = users(&emu)
        .await
        .into_iter()
        .map(|u| (u["id"].as_str().unwrap().to_string(), u))
        .collect();
    let cuc: CloudUserConversion = serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "wave-1", "namespace": "identity", "generation": 1},
        "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply", "clearImmutableId": true,
                 "onDelete": "Revert", "selector": {"domains": ["contoso.com"]},
                 "rollout": {"maxObjects": 100}}
    }))
    .unwrap();
    let mut h = UserHarness::new(&emu, cuc);
    h.until(5, |s| cond::is_true(&s.conditions, cond::READY))
        .await;
    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;
    (emu, h, before)
}

async fn synced_users(emu: &entra_cloud_operator::emulator::Emulator) -> Vec<Value> {
    users(emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .collect()
}

#[tokio::test]
async fn an_edited_entry_is_refused_and_nothing_is_written_for_its_user() {
    let (emu, h, before) = converted().await;
    let text = std::fs::read_to_string(&h.journal_path).unwrap();
    // Point one user's journaled ImmutableID at another user's (a hard-match takeover), in
    // its Applied clear: the entry no longer verifies under the key.
    let lines: Vec<Entry> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let applied: Vec<&Entry> = lines
        .iter()
        .filter(|e| e.record.action == Action::ClearImmutableId && e.record.phase == Phase::Applied)
        .collect();
    let victim = applied[0].record.object_id.clone();
    let stolen = applied[1].record.prior["onPremisesImmutableId"]
        .as_str()
        .unwrap()
        .to_string();
    let mine = applied[0].record.prior["onPremisesImmutableId"]
        .as_str()
        .unwrap()
        .to_string();
    let edited: Vec<String> = text
        .lines()
        .map(|l| {
            let e: Entry = serde_json::from_str(l).unwrap();
            if e.seq == applied[0].seq {
                l.replace(&mine, &stolen)
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&h.journal_path, edited.join("\n") + "\n").unwrap();

    let outcome = h.revert().await;
    let RevertOutcome::Failed(msg) = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(msg.starts_with("1 objects refused"), "{msg}");
    assert!(msg.contains("does not verify"), "{msg}");
    for u in synced_users(&emu).await {
        let id = u["id"].as_str().unwrap();
        if id == victim {
            assert_eq!(u["isCloudManaged"], true, "refused: left as it is");
            assert_eq!(u["onPremisesImmutableId"], Value::Null, "never written");
        } else {
            assert_eq!(u["isCloudManaged"], false, "{u}");
            assert_eq!(
                u["onPremisesImmutableId"],
                before[id]["onPremisesImmutableId"]
            );
        }
    }
    // Still refused on the next attempt; nothing more is written.
    let writes = state(&emu).await["writes"]["accepted"].clone();
    assert!(matches!(h.revert().await, RevertOutcome::Failed(_)));
    assert_eq!(state(&emu).await["writes"]["accepted"], writes);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_chain_recomputed_without_the_key_drives_no_write() {
    let (emu, h, _) = converted().await;
    // Whoever can write the journal but not read the key rewrites it as an unkeyed chain
    // (as journals were before keys): every entry now reads as legacy, proof of nothing.
    let mut prev = GENESIS_HASH.to_string();
    let mut out = String::new();
    for l in std::fs::read_to_string(&h.journal_path).unwrap().lines() {
        let mut e: Entry = serde_json::from_str(l).unwrap();
        e.key_id = None;
        e.prev_hash = prev.clone();
        e.hash.clear();
        let body = serde_json::to_vec(&e).unwrap();
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(prev.as_bytes());
        ctx.update(b"\n");
        ctx.update(&body);
        e.hash = ctx
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        prev = e.hash.clone();
        out.push_str(&serde_json::to_string(&e).unwrap());
        out.push('\n');
    }
    std::fs::write(&h.journal_path, out).unwrap();
    let writes = state(&emu).await["writes"]["accepted"].clone();
    let outcome = h.revert().await;
    let RevertOutcome::Failed(msg) = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(msg.starts_with("3 objects refused"), "{msg}");
    assert!(msg.contains("before journals were keyed"), "{msg}");
    assert_eq!(state(&emu).await["writes"]["accepted"], writes, "no write");
    // And `journal verify` says the chain was rewritten (the head kept in `.head` disagrees).
    let key = entra_cloud_operator::journal::default_key(&h.journal_path).unwrap();
    let err = entra_cloud_operator::journal::FileJournal::verify(&h.journal_path, Some(&key))
        .unwrap_err();
    assert!(err.to_string().contains("rewritten"), "{err}");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_immutable_id_that_cannot_be_checked_against_ad_is_not_written() {
    let (emu, mut h, _) = converted().await;
    // The tenant has an AD connection, but it cannot be reached: the journaled ImmutableIDs
    // cannot be compared with their AD objects' anchors, so none is written back.
    h.ad = Some(Err(entra_cloud_operator::ad::AdError::Connect {
        url: "ldaps://dc.corp.example:636".into(),
        detail: "connection refused".into(),
        category: entra_cloud_operator::ad::AdErrorCategory::Unreachable,
    }));
    let writes = state(&emu).await["writes"]["accepted"].clone();
    let outcome = h.revert().await;
    let RevertOutcome::Failed(msg) = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(msg.starts_with("3 objects refused"), "{msg}");
    assert!(
        msg.contains("cannot be checked against its AD object"),
        "{msg}"
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], writes, "no write");
    for u in synced_users(&emu).await {
        assert_eq!(u["onPremisesImmutableId"], Value::Null, "{u}");
    }
    emu.shutdown().await;
}
