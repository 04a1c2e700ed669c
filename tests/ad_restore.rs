//! The seeds' per-user flow end to end, both halves: real AD (the machine's Samba DC) → the
//! emulator's sync client reading it → the emulated tenant → the operator, which moves each
//! wave's AD objects out of sync scope, waits for the soft delete, restores, clears the
//! ImmutableID and verifies; then `onDelete: Revert` moves them back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ad_support;
mod common;

use std::time::Duration;

use ad_support::*;
use common::samba::{AdUser, SambaDc, TestOus, random_guid, samba_dc};
use common::*;
use entra_cloud_operator::ad::anchor::immutable_id;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::emulator::Emulator;
use entra_cloud_operator::emulator::active_directory::AdSourceConfig;
use entra_cloud_operator::reconcile::RevertOutcome;
use serde_json::{Value, json};

/// An emulator whose sync client reads `dc` (LDAPS, the harness's CA) with `ous.synced` in
/// scope.
async fn emulator_on(dc: &SambaDc, ous: &TestOus) -> Emulator {
    start(ad_config(dc, ous)).await
}

/// The configuration of [`emulator_on`].
fn ad_config(dc: &SambaDc, ous: &TestOus) -> entra_cloud_operator::emulator::EmulatorConfig {
    let mut source = AdSourceConfig::new(&dc.ldaps_url, &dc.bind_dn, &dc.password, &dc.base_dn);
    source.ca_pem = Some(std::fs::read_to_string(&dc.ca_pem).unwrap());
    source.synced_ous = vec![ous.synced.clone()];
    let mut cfg = config(0, 0);
    cfg.active_directory = Some(source);
    // The AD domain is a verified domain of the tenant; cycles every 30 emulated minutes,
    // driven here by `POST /_emulator/sync/cycle`.
    cfg.domain = common::samba::UPN_SUFFIX.into();
    cfg.sync_interval = Duration::from_secs(1800);
    cfg
}

async fn cycle(emu: &Emulator) {
    control_post(emu, "sync/cycle", json!({})).await;
}

/// The emulated user with this UPN, live or soft-deleted.
async fn cloud_user(emu: &Emulator, upn: &str) -> Value {
    users(emu)
        .await
        .into_iter()
        .find(|u| {
            u["userPrincipalName"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(upn))
        })
        .unwrap_or_else(|| panic!("{upn} is not in the emulated tenant"))
}

fn under(dn: &str, ou: &str) -> bool {
    dn.to_ascii_lowercase().ends_with(&ou.to_ascii_lowercase())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_deleted_moves_a_wave_out_of_scope_restores_it_and_reverts() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("restore").await;
    let mut wave: Vec<AdUser> = Vec::new();
    for i in 0..5 {
        // Every other user has a consistency GUID: the anchor is then that, else objectGUID.
        let guid = (i % 2 == 0).then(random_guid);
        wave.push(dc.add_user(&ous.synced, &format!("Wave{i}"), guid).await);
    }
    let bystander = dc.add_user(&ous.synced, "Bystander", None).await;
    let emu = emulator_on(dc, &ous).await;
    cycle(&emu).await;
    for u in &wave {
        let c = cloud_user(&emu, &u.upn).await;
        let anchor = u.consistency_guid.unwrap_or(u.object_guid);
        assert_eq!(
            c["onPremisesImmutableId"],
            json!(immutable_id(&anchor)),
            "{c}"
        );
    }

    let tenant = tenant_with_ad(ad_spec(dc, &ous));
    let conn = connection(&tenant, &dc.password);
    let upns: Vec<&str> = wave.iter().map(|u| u.upn.as_str()).collect();
    let obj = cuc(json!({"tenantRef": {"name": "contoso"}, "mode": "Apply",
        "method": "RestoreDeleted", "onDelete": "Revert",
        "selector": {"userPrincipalNames": upns},
        "rollout": {"canary": 1, "waveSize": 4, "pauseBetweenWaves": "0s", "maxObjects": 10}}));
    let mut h = ad_harness(&emu, obj, tenant, conn);

    // The first pass audits (every link intact) and moves the canary only.
    h.pass().await.unwrap();
    let audit = h.status().link_audit.unwrap();
    assert_eq!(
        (audit.checked, audit.linked, audit.mismatched),
        (5, 5, 0),
        "{audit:#?}"
    );
    let moved = dc.users_in(&ous.unsynced).await;
    assert_eq!(moved.len(), 1, "the canary alone left sync scope");
    assert_eq!(
        h.condition(cond::RECONCILING).unwrap().1,
        "WaitingForSoftDelete"
    );

    // Sync cycles and passes until every user is converted (bounded).
    for _ in 0..20 {
        if cond::is_true(&h.status().conditions, cond::READY) {
            break;
        }
        cycle(&emu).await;
        h.pass().await.unwrap();
    }
    let (ready, reason, msg) = h.condition(cond::READY).unwrap();
    assert_eq!(
        (ready.as_str(), reason.as_str()),
        ("True", "Converted"),
        "{msg}"
    );

    // Both halves: every AD object in the unsynchronised OU, every cloud user live,
    // cloud-only and without an ImmutableID; the bystander untouched.
    for u in &wave {
        let now = dc.user(&u.guid_string()).await.unwrap();
        assert!(under(&now.dn, &ous.unsynced), "{} is at {}", u.upn, now.dn);
        let c = cloud_user(&emu, &u.upn).await;
        assert_eq!(c["onPremisesImmutableId"], Value::Null, "{c}");
        assert_ne!(c["onPremisesSyncEnabled"], json!(true), "{c}");
        assert!(c["deletedDateTime"].is_null(), "restored: {c}");
    }
    let b = dc.user(&bystander.guid_string()).await.unwrap();
    assert!(b.dn.eq_ignore_ascii_case(&bystander.dn));
    assert_eq!(
        cloud_user(&emu, &bystander.upn).await["onPremisesSyncEnabled"],
        json!(true)
    );

    // The journal holds each move with the previous DN, intent before outcome.
    let journal = h.journal_lines();
    for u in &wave {
        let moves: Vec<&Value> = journal
            .iter()
            .filter(|e| e["action"] == "MoveAdObject" && e["objectName"] == json!(u.upn))
            .collect();
        let phases: Vec<&str> = moves.iter().map(|e| e["phase"].as_str().unwrap()).collect();
        assert_eq!(phases, ["Intent", "Applied"], "{}", u.upn);
        assert!(
            moves[1]["prior"]["distinguishedName"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(&u.dn)
        );
    }

    // Revert: the ImmutableIDs come back in Entra, the AD objects go home.
    let outcome = h.revert().await;
    assert!(
        matches!(outcome, RevertOutcome::Done(n) if n >= 5),
        "{outcome:?}"
    );
    for u in &wave {
        let now = dc.user(&u.guid_string()).await.unwrap();
        assert!(
            now.dn.eq_ignore_ascii_case(&u.dn),
            "{} is at {}",
            u.upn,
            now.dn
        );
        let anchor = u.consistency_guid.unwrap_or(u.object_guid);
        let c = cloud_user(&emu, &u.upn).await;
        assert_eq!(
            c["onPremisesImmutableId"],
            json!(immutable_id(&anchor)),
            "{c}"
        );
    }
    // Idempotent: a second revert has nothing left to do.
    assert_eq!(h.revert().await, RevertOutcome::Done(0));
}

/// Entra Connect's accidental-delete prevention (threshold 3 here, 500 by default) stops an
/// export that would delete more: the operator moves at most `maxSoftDeletesPerSyncCycle`
/// users out of sync scope per cycle, so no export is ever stopped and every user converts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_waves_stay_under_the_accidental_delete_threshold() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("threshold").await;
    let mut wave: Vec<AdUser> = Vec::new();
    for i in 0..7 {
        wave.push(dc.add_user(&ous.synced, &format!("Bulk{i}"), None).await);
    }
    let mut cfg = ad_config(dc, &ous);
    cfg.accidental_delete_threshold = Some(3);
    let emu = start(cfg).await;
    cycle(&emu).await;

    let tenant = tenant_with_ad(ad_spec(dc, &ous));
    let conn = connection(&tenant, &dc.password);
    let upns: Vec<&str> = wave.iter().map(|u| u.upn.as_str()).collect();
    let obj = cuc(json!({"tenantRef": {"name": "contoso"}, "mode": "Apply",
        "method": "RestoreDeleted", "selector": {"userPrincipalNames": upns},
        "maxSoftDeletesPerSyncCycle": 3,
        "rollout": {"waveSize": 7, "pauseBetweenWaves": "0s", "maxObjects": 10}}));
    let mut h = ad_harness(&emu, obj, tenant, conn);
    let mut cycles = 0;
    for _ in 0..20 {
        h.pass().await.unwrap();
        if cond::is_true(&h.status().conditions, cond::READY) {
            break;
        }
        // Out of scope and not yet soft-deleted: never more than one cycle may delete.
        let live_out = {
            let mut n = 0;
            for u in dc.users_in(&ous.unsynced).await {
                let c = cloud_user(&emu, &u.upn).await;
                n += usize::from(
                    c["deletedDateTime"].is_null() && c["onPremisesSyncEnabled"] == true,
                );
            }
            n
        };
        assert!(
            live_out <= 3,
            "{live_out} users wait for one cycle to delete them"
        );
        cycle(&emu).await;
        cycles += 1;
        let export = &state(&emu).await["directorySync"]["export"];
        assert_eq!(export["status"], "success", "{export}");
    }
    let (ready, reason, msg) = h.condition(cond::READY).unwrap();
    assert_eq!(
        (ready.as_str(), reason.as_str()),
        ("True", "Converted"),
        "{msg}"
    );
    // Seven users, three a cycle: three cycles at least.
    assert!(cycles >= 3, "{cycles}");
    for u in &wave {
        let c = cloud_user(&emu, &u.upn).await;
        assert!(c["deletedDateTime"].is_null(), "restored: {c}");
        assert_ne!(c["onPremisesSyncEnabled"], json!(true), "{c}");
    }
}

/// `afterConversion: Disable` disables the AD accounts of converted users only, journaled,
/// and the revert enables them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_conversion_disables_only_converted_users_and_reverts() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("disable").await;
    let a = dc.add_user(&ous.synced, "DisA", Some(random_guid())).await;
    let other = dc.add_user(&ous.synced, "DisOther", None).await;
    let emu = emulator_on(dc, &ous).await;
    cycle(&emu).await;
    grant_all(&emu).await;
    let tenant = tenant_with_ad(ad_spec(dc, &ous));
    let conn = connection(&tenant, &dc.password);
    let obj = cuc(json!({"tenantRef": {"name": "contoso"}, "mode": "Apply",
        "method": "SourceOfAuthority", "afterConversion": "Disable", "onDelete": "Revert",
        "selector": {"userPrincipalNames": [a.upn]},
        "rollout": {"canary": 0, "pauseBetweenWaves": "0s"}}));
    let mut h = ad_harness(&emu, obj, tenant, conn);
    for _ in 0..6 {
        h.pass().await.unwrap();
        if dc
            .user(&a.dn)
            .await
            .is_some_and(|u| u.user_account_control & 2 != 0)
        {
            break;
        }
    }
    let now = dc.user(&a.dn).await.unwrap();
    assert_eq!(
        now.user_account_control & 2,
        2,
        "disabled after its conversion"
    );
    assert_eq!(
        dc.user(&other.dn).await.unwrap().user_account_control,
        512,
        "not selected"
    );
    let disables: Vec<Value> = h
        .journal_lines()
        .into_iter()
        .filter(|e| e["action"] == "DisableAdAccount")
        .collect();
    assert_eq!(disables.len(), 2, "intent and outcome");
    assert_eq!(disables[1]["prior"]["userAccountControl"], json!(512));

    // Microsoft's prerequisite of a user rollback: hard-match takeover allowed.
    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;
    let outcome = h.revert().await;
    assert!(matches!(outcome, RevertOutcome::Done(_)), "{outcome:?}");
    assert_eq!(
        dc.user(&a.dn).await.unwrap().user_account_control,
        512,
        "enabled again"
    );
    let enables = h
        .journal_lines()
        .into_iter()
        .filter(|e| e["action"] == "EnableAdAccount" && e["phase"] == "Applied")
        .count();
    assert_eq!(enables, 1);
}

async fn grant_all(emu: &Emulator) {
    control_put(
        emu,
        "permissions",
        json!({"permissions": ["Organization.Read.All", "User.ReadWrite.All", "Group.Read.All",
            "GroupMember.Read.All", "User-OnPremisesSyncBehavior.ReadWrite.All"]}),
    )
    .await;
}

/// A move whose LDAP write landed but whose outcome was never journaled (the operator stopped
/// in between) is settled by reading the object back, and not made twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_left_open_by_a_stop_is_settled_by_reading_the_directory_back() {
    use entra_cloud_operator::journal::{Action, Journal, Phase};
    use entra_cloud_operator::reconcile::user::ad_move;
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("settle").await;
    let u = dc.add_user(&ous.synced, "Settle", None).await;
    let emu = emulator_on(dc, &ous).await;
    cycle(&emu).await;
    let id = cloud_user(&emu, &u.upn).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tenant = tenant_with_ad(ad_spec(dc, &ous));
    let conn = connection(&tenant, &dc.password);
    let obj = cuc(json!({"tenantRef": {"name": "contoso"}, "mode": "Apply",
        "method": "RestoreDeleted", "selector": {"userPrincipalNames": [u.upn]}}));
    let mut h = ad_harness(&emu, obj, tenant, conn);
    // The intent, durable; then the write lands and the operator stops.
    let intent = ad_move::record(
        &h.key(),
        TENANT,
        (id.as_str(), Some(u.upn.as_str())),
        Action::MoveAdObject,
        Phase::Intent,
        (u.dn.as_str(), &u.object_guid, ous.unsynced.as_str()),
    );
    h.journal.append(&[intent]).await.unwrap();
    dc.move_user(&u.dn, &ous.unsynced).await;

    h.pass().await.unwrap();
    let moves: Vec<Value> = h
        .journal_lines()
        .into_iter()
        .filter(|e| e["action"] == "MoveAdObject")
        .collect();
    let phases: Vec<&str> = moves.iter().map(|e| e["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["Intent", "Applied"], "{moves:#?}");
    assert!(
        moves[1]["note"].as_str().unwrap().contains("read back"),
        "{moves:#?}"
    );
    let now = dc.user(&u.guid_string()).await.unwrap();
    assert!(under(&now.dn, &ous.unsynced), "moved once: {}", now.dn);
}
