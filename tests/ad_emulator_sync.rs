//! The emulator's sync client reading a real Active Directory (the machine's Samba AD DC, see
//! `hack/samba-ad.sh`), and the harness that drives that directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "ad_emulator_sync/connection.rs"]
mod connection;
#[path = "ad_emulator_sync/harness.rs"]
mod harness;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::samba::{AdUser, SambaDc, TestOus, random_guid, samba_dc};
use common::*;
use entra_cloud_operator::emulator::active_directory::AdSourceConfig;
use entra_cloud_operator::emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};

const DOMAIN: &str = "corp.example.test";

fn source(dc: &SambaDc, base_dn: &str, ous: &TestOus) -> AdSourceConfig {
    let mut c = AdSourceConfig::new(&dc.ldap_url, &dc.bind_dn, &dc.password, base_dn);
    c.synced_ous = vec![ous.synced.clone()];
    c.timeout = Duration::from_secs(20);
    c
}

/// An emulator whose sync client reads `ad`: no seeded synced users, the AD domain verified,
/// cycles every 30 emulated minutes (driven by `advance` or `POST /_emulator/sync/cycle`).
async fn emulator(ad: AdSourceConfig) -> Emulator {
    start(EmulatorConfig {
        users: 0,
        groups: 0,
        domain: DOMAIN.into(),
        sync_interval: Duration::from_secs(1800),
        active_directory: Some(ad),
        ..config(0, 0)
    })
    .await
}

/// The emulated user whose on-premises UPN is the AD user's (live users only).
async fn twin(emu: &Emulator, ad: &AdUser) -> Option<Value> {
    users(emu)
        .await
        .into_iter()
        .find(|u| u["onPremisesUserPrincipalName"].as_str() == Some(ad.upn.as_str()))
}

async fn deleted_ids(emu: &Emulator) -> Vec<String> {
    control_get(emu, "deleted").await["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d["id"].as_str().map(String::from))
        .collect()
}

/// `POST /_emulator/sync/cycle`: status and body.
async fn cycle(emu: &Emulator) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/_emulator/sync/cycle", emu.url()))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn rename(dc: &SambaDc, dn: &str, display_name: &str) {
    let value = std::collections::HashSet::from([display_name.as_bytes().to_vec()]);
    dc.modify(
        dn,
        vec![ldap3::Mod::Replace(b"displayName".to_vec(), value)],
    )
    .await;
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn imports_users_with_consistency_guids_and_the_object_guid_fallback() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("import").await;
    let g = random_guid();
    let alice = dc.add_user(&ous.synced, "Alice", Some(g)).await;
    let bob = dc.add_user(&ous.synced, "Bob", None).await;
    let carol = dc
        .add_user(&ous.unsynced, "Carol", Some(random_guid()))
        .await;
    dc.set_user_account_control(&bob.dn, 514).await;
    // The whole domain as base DN: the search also meets continuation references.
    let emu = emulator(source(dc, &dc.base_dn, &ous)).await;

    let a = twin(&emu, &alice).await.expect("alice synced at start");
    assert_eq!(a["onPremisesImmutableId"], json!(STANDARD.encode(g)));
    assert_eq!(a["onPremisesSyncEnabled"], json!(true));
    assert_eq!(a["userPrincipalName"], json!(alice.upn));
    assert_eq!(a["onPremisesSamAccountName"], json!(alice.sam));
    assert!(
        a["onPremisesDistinguishedName"]
            .as_str()
            .is_some_and(|dn| dn.eq_ignore_ascii_case(&alice.dn))
    );
    assert_eq!(a["onPremisesDomainName"], json!(DOMAIN));
    assert!(
        a["onPremisesSecurityIdentifier"]
            .as_str()
            .is_some_and(|s| s.starts_with("S-1-5-21-")),
        "{a}"
    );
    assert_eq!(a["givenName"], json!("Alice"));
    assert_eq!(a["surname"], json!("Test"));
    assert_eq!(a["mail"], json!(alice.upn));
    assert_eq!(a["accountEnabled"], json!(true));
    assert_eq!(a["kind"], json!("synced"));

    let b = twin(&emu, &bob).await.expect("bob synced at start");
    assert_eq!(
        b["onPremisesImmutableId"],
        json!(STANDARD.encode(bob.object_guid)),
        "no consistency GUID: the objectGUID is the anchor"
    );
    assert_eq!(b["accountEnabled"], json!(false), "userAccountControl 514");
    assert!(twin(&emu, &carol).await.is_none(), "not in a synced OU");

    let status = control_get(&emu, "directory").await;
    assert_eq!(status["linked"], json!(true));
    assert_eq!(status["status"]["reads"], json!(1));
    assert_eq!(
        status["status"]["lastImport"]["created"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert!(
        !status.to_string().contains(&dc.password),
        "no password in the status"
    );

    // A new user in the synced OU arrives with the next automatic cycle (emulated clock).
    let dave = dc.add_user(&ous.synced, "Dave", Some(random_guid())).await;
    assert!(twin(&emu, &dave).await.is_none());
    advance(&emu, 1801.0).await;
    assert!(
        twin(&emu, &dave).await.is_some(),
        "the due cycle read the directory"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn moved_out_soft_deleted_restored_and_cleared_stays_cloud_only() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("seed002").await;
    let alice = dc.add_user(&ous.synced, "Alice", Some(random_guid())).await;
    let emu = emulator(source(dc, &ous.parent, &ous)).await;
    let id = twin(&emu, &alice).await.expect("synced")["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Move the AD object to the unsynchronised OU: the next cycle soft-deletes the user.
    dc.move_user(&alice.dn, &ous.unsynced).await;
    advance(&emu, 1801.0).await;
    assert!(twin(&emu, &alice).await.is_none());
    assert!(deleted_ids(&emu).await.contains(&id));

    // Restore it and clear its anchor as the operator does, through Graph.
    let graph = client(&emu, SECRET);
    graph.restore_deleted_user(&id).await.unwrap();
    graph.clear_immutable_id(&id).await.unwrap();
    for _ in 0..3 {
        let (status, report) = cycle(&emu).await;
        assert_eq!(status, 200, "{report}");
        assert!(!ids(&report["relinked"]).contains(&id), "{report}");
        assert!(!ids(&report["softDeleted"]).contains(&id), "{report}");
        advance(&emu, 1801.0).await;
    }
    let u = users(&emu)
        .await
        .into_iter()
        .find(|u| u["id"] == json!(id))
        .unwrap();
    assert_eq!(u["onPremisesSyncEnabled"], Value::Null, "cloud-only: {u}");
    assert_eq!(u["onPremisesImmutableId"], Value::Null);
    assert_eq!(u["joined"], json!(false));
    emu.shutdown().await;
}

#[tokio::test]
async fn back_in_scope_the_deleted_user_is_recovered_with_its_id() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("back").await;
    let bob = dc.add_user(&ous.synced, "Bob", None).await;
    let emu = emulator(source(dc, &ous.parent, &ous)).await;
    let id = twin(&emu, &bob).await.expect("synced")["id"].clone();

    let moved = dc.move_user(&bob.dn, &ous.unsynced).await;
    let (_, report) = cycle(&emu).await;
    assert_eq!(
        ids(&report["softDeleted"]),
        vec![id.as_str().unwrap().to_string()]
    );
    assert!(report["directory"]["read"].as_u64() >= Some(1), "{report}");

    dc.move_user(&moved, &ous.synced).await;
    let (_, report) = cycle(&emu).await;
    assert_eq!(
        ids(&report["recovered"]),
        vec![id.as_str().unwrap().to_string()]
    );
    let u = twin(&emu, &bob).await.expect("recovered");
    assert_eq!(u["id"], id);
    assert_eq!(u["onPremisesSyncEnabled"], json!(true));

    // Deleted in AD: the next cycle soft-deletes the user too.
    dc.delete(&bob.dn).await;
    let (_, report) = cycle(&emu).await;
    assert_eq!(
        ids(&report["directory"]["leftScope"]),
        vec![id.as_str().unwrap().to_string()]
    );
    assert_eq!(
        ids(&report["softDeleted"]),
        vec![id.as_str().unwrap().to_string()]
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_user_switched_to_the_cloud_is_skipped() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("soa").await;
    let carol = dc.add_user(&ous.synced, "Carol", Some(random_guid())).await;
    let emu = emulator(source(dc, &ous.parent, &ous)).await;
    let id = twin(&emu, &carol).await.expect("synced")["id"]
        .as_str()
        .unwrap()
        .to_string();
    client(&emu, SECRET)
        .set_user_cloud_managed(&id, true)
        .await
        .unwrap();

    // Renamed in AD, then moved out of scope: neither reaches the cloud-managed user.
    rename(dc, &carol.dn, "Renamed In AD").await;
    let (_, report) = cycle(&emu).await;
    assert_eq!(ids(&report["skippedCloudManaged"]), vec![id.clone()]);
    dc.move_user(&carol.dn, &ous.unsynced).await;
    let (_, report) = cycle(&emu).await;
    assert_eq!(ids(&report["skippedCloudManaged"]), vec![id.clone()]);
    assert!(report["softDeleted"].as_array().is_some_and(Vec::is_empty));
    let u = users(&emu)
        .await
        .into_iter()
        .find(|u| u["id"] == json!(id))
        .unwrap();
    assert_eq!(u["isCloudManaged"], json!(true));
    assert!(
        u["displayName"]
            .as_str()
            .is_some_and(|d| d.starts_with("Carol")),
        "{u}"
    );

    // A synced user does take an AD rename at the next cycle.
    let hank = dc.add_user(&ous.synced, "Hank", None).await;
    cycle(&emu).await;
    rename(dc, &hank.dn, "Hank Renamed").await;
    let (_, report) = cycle(&emu).await;
    let h = twin(&emu, &hank).await.expect("synced");
    assert_eq!(h["displayName"], json!("Hank Renamed"));
    assert_eq!(
        ids(&report["directory"]["updated"]),
        vec![h["id"].as_str().unwrap().to_string()]
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_directory_or_bad_credentials_change_nothing() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("unreach").await;
    let dan = dc.add_user(&ous.synced, "Dan", Some(random_guid())).await;
    let erin = dc.add_user(&ous.synced, "Erin", Some(random_guid())).await;
    let emu = emulator(source(dc, &ous.parent, &ous)).await;
    let before = users(&emu).await;
    assert!(twin(&emu, &dan).await.is_some() && twin(&emu, &erin).await.is_some());
    // Whatever the directory would say now, nothing may change while it cannot be read.
    dc.move_user(&dan.dn, &ous.unsynced).await;

    // Nothing listens on port 1.
    control_post(
        &emu,
        "directory/connection",
        json!({"url": "ldap://127.0.0.1:1"}),
    )
    .await;
    let (status, body) = cycle(&emu).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], json!("DirectoryUnreachable"));
    advance(&emu, 1801.0).await; // the automatic cycle fails too
    let after = users(&emu).await;
    assert_eq!(after.len(), before.len());
    assert!(
        twin(&emu, &dan)
            .await
            .is_some_and(|u| u["onPremisesSyncEnabled"] == json!(true))
    );
    let s = control_get(&emu, "directory").await["status"].clone();
    assert!(s["failures"].as_u64() >= Some(2), "{s}");
    assert_eq!(s["skippedCycles"], json!(1), "{s}");
    assert!(
        s["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("127.0.0.1:1")),
        "{s}"
    );

    // A wrong password: refused bind, same outcome, and the password is in no answer.
    let wrong = "Wrong-Pa55-Canary";
    control_post(
        &emu,
        "directory/connection",
        json!({"url": dc.ldap_url, "password": wrong}),
    )
    .await;
    let (status, body) = cycle(&emu).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.to_string().contains("binding to the directory"),
        "{body}"
    );
    assert!(!body.to_string().contains(wrong));
    assert!(
        !control_get(&emu, "directory")
            .await
            .to_string()
            .contains(wrong)
    );
    assert!(twin(&emu, &dan).await.is_some());

    // Reachable again: the move is seen.
    control_post(
        &emu,
        "directory/connection",
        json!({"password": dc.password}),
    )
    .await;
    let (status, report) = cycle(&emu).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["softDeleted"].as_array().map(Vec::len), Some(1));
    assert!(twin(&emu, &dan).await.is_none() && twin(&emu, &erin).await.is_some());
    emu.shutdown().await;
}
