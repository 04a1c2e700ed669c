//! Group memberships in user conversions (graph-api.md §14): `RestoreDeleted` records each
//! user's memberships before it leaves sync scope, reports the synchronised ones as lost and
//! reads the cloud ones back after the restore; `SourceOfAuthority` warns when users come
//! before their synchronised groups. Against the emulator with its default read lag.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::api::{CloudUserConversion, CloudUserConversionStatus};
use entra_cloud_operator::emulator::Emulator;
use entra_cloud_operator::journal::{Action, Phase};
use serde_json::{Value, json};

fn cuc(spec: Value) -> CloudUserConversion {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "wave-1", "namespace": "identity", "generation": 1},
        "spec": spec
    }))
    .unwrap()
}

async fn grant(emu: &Emulator, perms: &[&str]) {
    control_put(emu, "permissions", json!({ "permissions": perms })).await;
}

const RESTORE: &[&str] = &[
    "Organization.Read.All",
    "User.ReadWrite.All",
    "User.DeleteRestore.All",
    "GroupMember.Read.All",
];

fn prerequisite<'a>(s: &'a CloudUserConversionStatus, name: &str) -> (&'a str, &'a str) {
    let p = s
        .prerequisites
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:#?}", s.prerequisites));
    (p.state.as_str(), p.message.as_str())
}

async fn groups(emu: &Emulator) -> Vec<Value> {
    control_get(emu, "groups").await["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn member_of(groups: &[Value], id: &str) -> Vec<String> {
    groups
        .iter()
        .filter(|g| g["members"].as_array().unwrap().iter().any(|m| m == id))
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn restore_deleted_records_what_users_lose_and_reads_cloud_groups_back() {
    let emu = start(config(20, 4)).await;
    grant(&emu, RESTORE).await;
    let all = groups(&emu).await;
    let wave = all
        .iter()
        .find(|g| g["displayName"] == "Migration Wave 1")
        .unwrap();
    let wave_id = wave["id"].as_str().unwrap().to_string();
    let in_wave: Vec<String> = wave["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    assert!(in_wave.len() >= 2, "{in_wave:?}");
    let mut h = Harness::<CloudUserConversion>::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "method": "RestoreDeleted",
            "selector": {"domains": ["contoso.com"]},
            "rollout": {"maxObjects": 100, "waveSize": 50}
        })),
    );
    // Nothing left scope yet: the memberships of those about to are recorded, nothing written.
    h.pass().await.unwrap();
    assert_eq!(
        h.reason(cond::RECONCILING).as_deref(),
        Some("WaitingForSoftDelete")
    );
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);
    let recorded: Vec<_> = h
        .journal_entries()
        .into_iter()
        .filter(|e| e.record.action == Action::RecordMemberships)
        .collect();
    let synced: Vec<Value> = users(&emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .filter(|u| {
            u["userPrincipalName"]
                .as_str()
                .unwrap()
                .ends_with("@contoso.com")
        })
        .collect();
    assert_eq!(recorded.len(), synced.len());
    for e in &recorded {
        let id = &e.record.object_id;
        let synced_groups: Vec<&str> = e.record.prior["synced"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap())
            .collect();
        let cloud_groups: Vec<&str> = e.record.prior["cloud"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap())
            .collect();
        let mut got: Vec<&str> = synced_groups.iter().chain(&cloud_groups).copied().collect();
        got.sort_unstable();
        let mut want = member_of(&all, id);
        want.sort_unstable();
        assert_eq!(got, want, "{id}");
        assert_eq!(
            cloud_groups.contains(&wave_id.as_str()),
            in_wave.contains(id)
        );
    }
    let lost = h.status().memberships.unwrap();
    assert_eq!(lost.users_recorded as usize, synced.len());
    assert!(
        lost.synced_memberships > 0 && !lost.examples.is_empty(),
        "{lost:?}"
    );
    let st = h.status();
    let (state_, message) = prerequisite(&st, "SynchronisedGroupMemberships");
    assert_eq!(state_, "Warning");
    assert!(message.contains("synchronised groups"), "{message}");

    // Two users of the cloud group leave scope and are restored: back in it, as recorded.
    for id in in_wave.iter().take(2) {
        control_post(
            &emu,
            &format!("users/{id}/scope"),
            json!({"inScope": false}),
        )
        .await;
    }
    control_post(&emu, "sync/cycle", json!({})).await;
    h.pass().await.unwrap();
    let now = groups(&emu).await;
    for id in in_wave.iter().take(2) {
        assert!(
            member_of(&now, id).contains(&wave_id),
            "{id} is back in the cloud group"
        );
    }
    assert!(
        h.status()
            .recent_failures
            .iter()
            .all(|f| f.code != "MembershipsNotRestored"),
        "{:#?}",
        h.status().recent_failures
    );
    // A pass records no user twice.
    let again = h
        .journal_entries()
        .into_iter()
        .filter(|e| e.record.action == Action::RecordMemberships)
        .count();
    assert_eq!(again, recorded.len());
    emu.shutdown().await;
}

#[tokio::test]
async fn a_restored_user_missing_a_cloud_group_fails_naming_it() {
    let emu = start(config(20, 4)).await;
    let mut perms = RESTORE.to_vec();
    perms.push("Group.ReadWrite.All");
    grant(&emu, &perms).await;
    let wave = groups(&emu)
        .await
        .into_iter()
        .find(|g| g["displayName"] == "Migration Wave 1")
        .unwrap();
    let user = wave["members"][0].as_str().unwrap().to_string();
    let upn = users(&emu)
        .await
        .into_iter()
        .find(|u| u["id"] == user.as_str())
        .unwrap()["userPrincipalName"]
        .as_str()
        .unwrap()
        .to_string();
    let mut h = Harness::<CloudUserConversion>::new(
        &emu,
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "method": "RestoreDeleted",
            "selector": {"userPrincipalNames": [upn]}, "rollout": {"maxObjects": 10}
        })),
    );
    h.pass().await.unwrap();
    control_post(
        &emu,
        &format!("users/{user}/scope"),
        json!({"inScope": false}),
    )
    .await;
    control_post(&emu, "sync/cycle", json!({})).await;
    // While the user is soft-deleted, someone deletes the cloud group it was in.
    let group = wave["id"].as_str().unwrap();
    graph_request(
        &emu,
        reqwest::Method::DELETE,
        &format!("groups/{group}"),
        None,
    )
    .await;
    h.pass().await.unwrap();
    let st = h.status();
    let f = st
        .recent_failures
        .iter()
        .find(|f| f.code == "MembershipsNotRestored")
        .unwrap_or_else(|| panic!("{st:#?}"));
    assert_eq!(f.object_id, user);
    assert!(f.message.contains("Migration Wave 1"), "{}", f.message);
    assert_eq!(st.memberships.unwrap().not_restored, 1);
    // The restore itself stands (journaled Applied, with the note).
    let restore = h
        .journal_entries()
        .into_iter()
        .find(|e| e.record.action == Action::RestoreUser && e.record.phase == Phase::Applied)
        .unwrap();
    assert!(restore.record.note.unwrap().contains("Migration Wave 1"));
    emu.shutdown().await;
}

#[tokio::test]
async fn users_before_their_synchronised_groups_are_a_warning_and_unreadable_is_said() {
    let emu = start(config(20, 4)).await;
    let soa = [
        "Organization.Read.All",
        "User.ReadWrite.All",
        "GroupMember.Read.All",
        "User-OnPremisesSyncBehavior.ReadWrite.All",
    ];
    grant(&emu, &soa).await;
    let plan = || {
        cuc(json!({
            "tenantRef": {"name": "contoso"}, "mode": "Plan",
            "selector": {"domains": ["contoso.com"]}, "rollout": {"maxObjects": 100}
        }))
    };
    let mut h = Harness::<CloudUserConversion>::new(&emu, plan());
    h.pass().await.unwrap();
    let st = h.status();
    let (s, m) = prerequisite(&st, "GroupsBeforeMembers");
    assert_eq!(s, "Warning", "{m}");
    assert!(m.contains("synchronised groups not converted yet"), "{m}");
    assert_eq!(state(&emu).await["writes"]["accepted"], 0);

    // Without a permission that reads members: not verified, said so, nothing stops.
    grant(&emu, &[soa[0], soa[1], soa[3]]).await;
    let mut h = Harness::<CloudUserConversion>::new(&emu, plan());
    h.pass().await.unwrap();
    let st = h.status();
    let (s, m) = prerequisite(&st, "GroupsBeforeMembers");
    assert_eq!(s, "Unverified", "{m}");
    assert!(m.contains("GroupMember.Read.All"), "{m}");
    assert!(!cond::is_true(&st.conditions, cond::STALLED), "{st:#?}");
    emu.shutdown().await;
}
