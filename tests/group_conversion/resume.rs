//! Resume after a kill between the journal's intents and their outcomes: one group's switch
//! landed (its answer lost), another's never left. The next pass reads both back, records
//! their outcomes, and converts each group exactly once.

use crate::common::*;
use crate::harness::*;
use entra_cloud_operator::journal::{Action, Journal, Phase, Record, ResourceKey};
use serde_json::json;

fn intent(group: &str, action: Action, owner: Option<&str>) -> Record {
    Record {
        resource: ResourceKey {
            kind: "CloudGroupConversion".into(),
            namespace: "identity".into(),
            name: "groups-1".into(),
        },
        tenant_id: TENANT.into(),
        object_type: "group".into(),
        object_id: group.into(),
        object_name: None,
        action,
        phase: Phase::Intent,
        prior: match owner {
            Some(o) => json!({"owner": o, "owners": []}),
            None => json!({"isCloudManaged": false, "onPremisesSyncEnabled": true, "owners": []}),
        },
        request_id: None,
        error: None,
        note: None,
    }
}

#[tokio::test]
async fn open_group_intents_are_read_back_and_each_group_converted_once() {
    let emu = start(config(20, 4)).await;
    grant(&emu, PERMISSIONS).await;
    let gs = groups(&emu).await;
    let all: Vec<String> = synced(&gs).into_iter().collect();
    // A security group (owners are added to it; Exchange manages a list's) and another.
    let landed = all
        .iter()
        .find(|id| {
            gs[*id]["displayName"]
                .as_str()
                .is_some_and(|n| n.starts_with("SG "))
        })
        .expect("a security group")
        .clone();
    let lost = all.iter().find(|id| **id != landed).unwrap().clone();
    let admin = user_id(&emu, ADMIN).await;
    let mut h = GroupHarness::new(
        &emu,
        cgc(json!({
            "tenantRef": {"name": "contoso"}, "mailEnabledGroups": "Convert", "mode": "Apply",
            "selector": {"filter": SEEDED}, "owners": [ADMIN],
            "rollout": {"maxObjects": 50, "canary": 0, "waveSize": 50}
        })),
    );
    // What a kill leaves: intents durable; one switch (and its owner) landed, one never left.
    h.journal
        .append(&[
            intent(&landed, Action::SwitchToCloud, None),
            intent(&lost, Action::SwitchToCloud, None),
        ])
        .await
        .unwrap();
    h.graph
        .set_group_cloud_managed(&landed, true)
        .await
        .unwrap();
    // The operator comes back after Graph's reads caught up with the write that landed.
    advance(&emu, 3.0).await;

    h.until(10, ready).await;
    let resumed = h
        .events
        .iter()
        .find(|e| e.reason == "Resumed")
        .expect("a Resumed event");
    assert!(
        resumed.note.contains("read back 2 changes")
            && resumed.note.contains("1 had been made, 1 had not"),
        "{}",
        resumed.note
    );
    let st = h.status();
    assert_eq!((st.converted, st.failed), (all.len() as i64, 0), "{st:#?}");

    let entries = h.journal_entries();
    let gs = groups(&emu).await;
    for id in &all {
        let mine: Vec<&Record> = entries
            .iter()
            .map(|e| &e.record)
            .filter(|r| &r.object_id == id && r.action == Action::SwitchToCloud)
            .collect();
        let applied = mine.iter().filter(|r| r.phase == Phase::Applied).count();
        assert_eq!(applied, 1, "one Applied switch for {id}: {mine:#?}");
        let intents = mine.iter().filter(|r| r.phase == Phase::Intent).count();
        assert_eq!(
            intents * 2,
            mine.len(),
            "every intent has one outcome: {mine:#?}"
        );
        assert_eq!(gs[id]["isCloudManaged"], true, "{}", gs[id]);
        assert_eq!(gs[id]["writeCounts"]["soa"], 1, "switched once: {}", gs[id]);
    }
    let read_back = |id: &str, phase| {
        entries.iter().any(|e| {
            e.record.object_id == id
                && e.record.phase == phase
                && e.record
                    .note
                    .as_deref()
                    .is_some_and(|n| n.contains("read back"))
        })
    };
    assert!(
        read_back(&landed, Phase::Applied),
        "the landed switch recorded as read back"
    );
    assert!(
        read_back(&lost, Phase::Failed),
        "the lost one closed as not made"
    );
    // The owner was added by the normal pass afterwards, once.
    assert!(entries.iter().any(|e| e.record.action == Action::AddOwner
        && e.record.object_id == landed
        && e.record.phase == Phase::Applied
        && e.record.prior["owner"] == admin.as_str()));
    emu.shutdown().await;
}
