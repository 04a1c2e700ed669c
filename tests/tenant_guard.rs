//! The guard of a converged tenant against the in-process emulator: delta rounds instead of
//! reading the tenant again, a constant cost per pass when nothing changes, drift and changed
//! counts seen through delta, and full rounds again after `410 Gone`, an expired token or a
//! restart. Costs are read from the emulator's request counter, never from timings.
//! Reads are consistent at once here (`consistent_config`): these tests count the guard's
//! requests exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use entra_cloud_operator::api::TenantSyncPolicy;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::emulator::Emulator;
use entra_cloud_operator::graph::{
    Credential, DeltaFrom, DeltaItem, GraphClient, GraphConfig, Operation, RequestObserver,
    SecretString,
};
use entra_cloud_operator::journal::{Action, Phase, ResourceKey};
use entra_cloud_operator::reconcile::tenant::guard::{GROUP_TRACKED, USER_TRACKED};
use entra_cloud_operator::reconcile::tenant::observe;
use serde_json::{Value, json};

/// Objects on a page of the emulator's delta rounds.
const DELTA_PAGE: u64 = 100;
/// Objects on a page of the guard's list reads (`$top=999`).
const LIST_PAGE: u64 = 999;

fn key() -> ResourceKey {
    ResourceKey {
        kind: "TenantSyncPolicy".into(),
        namespace: "identity".into(),
        name: "contoso".into(),
    }
}

/// Graph requests the emulator has answered.
async fn requests(emu: &Emulator) -> u64 {
    state(emu).await["requests"]["total"].as_u64().unwrap()
}

/// Answers the emulator gave with `status`.
async fn answered(emu: &Emulator, status: u16) -> u64 {
    state(emu).await["requests"]["byStatus"][status.to_string()]
        .as_u64()
        .unwrap_or(0)
}

/// One pass, and the Graph requests it sent.
async fn pass_cost(emu: &Emulator, h: &mut Harness<TenantSyncPolicy>) -> u64 {
    let before = requests(emu).await;
    h.pass().await.unwrap();
    requests(emu).await - before
}

/// Requests of a full delta round of each collection, plus the organization, plus the list
/// read that counts each collection after a full round (a delta round may repeat objects, so
/// counts never come from one).
async fn full_round_cost(emu: &Emulator) -> u64 {
    let s = state(emu).await;
    let pages = |n: &Value, size: u64| n.as_u64().unwrap().div_ceil(size).max(1);
    1 + pages(&s["users"]["total"], DELTA_PAGE)
        + pages(&s["groups"]["total"], DELTA_PAGE)
        + pages(&s["users"]["total"], LIST_PAGE)
        + pages(&s["groups"]["total"], LIST_PAGE)
}

/// Disable sync, let it propagate, and pass until Ready.
async fn converge(emu: &Emulator, h: &mut Harness<TenantSyncPolicy>) {
    h.pass().await.unwrap();
    advance(emu, 4000.0).await;
    h.until(6, is_ready).await;
    assert_eq!(h.condition(cond::READY).unwrap().1, "Converged");
}

/// The status counts equal what reading every user and group gives now.
async fn assert_counts_exact(h: &Harness<TenantSyncPolicy>) {
    let full = observe::observe(&h.graph).await.unwrap();
    let st = h.status();
    assert_eq!(st.users, Some(full.users), "users");
    assert_eq!(st.groups, Some(full.groups), "groups");
    let ids = st.immutable_ids.unwrap();
    assert_eq!(
        (ids.cleared, ids.remaining),
        (full.immutable_ids.cleared, full.immutable_ids.remaining),
        "immutable ids"
    );
}

/// Counts the requests by operation.
#[derive(Default)]
struct Ops(Mutex<HashMap<&'static str, u64>>);

impl Ops {
    fn take(&self) -> HashMap<&'static str, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl RequestObserver for Ops {
    fn observe(&self, op: Operation, _: Option<u16>, _: Duration, _: Option<f64>) {
        *self.0.lock().unwrap().entry(op.name()).or_default() += 1;
    }
}

fn observed_client(emu: &Emulator) -> (GraphClient, Arc<Ops>) {
    let ops = Arc::new(Ops::default());
    let graph = GraphClient::new(
        GraphConfig {
            graph_root: emu.url(),
            login_root: emu.url(),
            scope: "https://graph.microsoft.com/.default".into(),
            tenant_id: TENANT.into(),
            retry: retry(),
            timeout: Duration::from_secs(30),
            observer: Some(ops.clone()),
            pacing: None,
            ca_bundle: None,
        },
        Credential::ClientSecret {
            client_id: CLIENT.into(),
            secret: SecretString::new(SECRET),
        },
    )
    .unwrap();
    (graph, ops)
}

/// The ids of the objects synchronised from AD (kind `synced` in the emulator): after the
/// cutover, the converted ones.
async fn converted(emu: &Emulator, collection: &str) -> Vec<String> {
    control_get(emu, collection).await["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "synced")
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

async fn converted_user(emu: &Emulator) -> String {
    converted(emu, "users").await.remove(0)
}

#[tokio::test]
async fn a_converged_tenant_costs_three_requests_a_pass_whatever_its_size() {
    for (users, groups) in [(200, 5), (2000, 40)] {
        let emu = start(consistent_config(users, groups)).await;
        let mut h = Harness::tenant(&emu, policy("Disabled", false, "Report"), SECRET);
        converge(&emu, &mut h).await;
        assert!(!h.guard.holds(&key()), "no link before convergence");

        // The first guarded pass: one full round of each collection gives links and counts.
        let full = full_round_cost(&emu).await;
        assert_eq!(pass_cost(&emu, &mut h).await, full);
        assert!(h.guard.holds(&key()));
        assert_counts_exact(&h).await;
        let counts = h.status().users;

        // Then: the organization and one delta round per collection, for any tenant size.
        for _ in 0..4 {
            assert_eq!(pass_cost(&emu, &mut h).await, 3, "{users} users");
            assert_eq!(h.condition(cond::READY).unwrap().1, "Converged");
        }
        assert_eq!(h.status().users, counts);

        // A restarted operator has no link: one full round, then three requests again.
        h.guard = Default::default();
        assert_eq!(pass_cost(&emu, &mut h).await, full);
        assert_eq!(pass_cost(&emu, &mut h).await, 3);
        assert_eq!(
            state(&emu).await["writes"]["accepted"],
            1,
            "only the disable"
        );
        emu.shutdown().await;
    }
}

#[tokio::test]
async fn a_re_enabled_sync_is_seen_as_drift_through_delta() {
    let emu = start(consistent_config(120, 6)).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", true, "Report"), SECRET);
    let (graph, ops) = observed_client(&emu);
    h.graph = graph;
    converge(&emu, &mut h).await;
    h.pass().await.unwrap();
    ops.take();
    assert_eq!(pass_cost(&emu, &mut h).await, 3);
    let quiet = ops.take();
    assert_eq!(
        (quiet["users.delta"], quiet["groups.delta"]),
        (1, 1),
        "{quiet:?}"
    );
    assert!(!quiet.contains_key("users.list"), "{quiet:?}");

    // An admin turns sync back on: the sync client takes every object back.
    control_post(&emu, "sync/enable", json!({})).await;
    h.pass().await.unwrap();
    let ops_seen = ops.take();
    assert!(ops_seen["users.delta"] >= 2, "changes came: {ops_seen:?}");
    assert_eq!(
        ops_seen["users.list"], 1,
        "users counted again: {ops_seen:?}"
    );
    let (status, reason, _) = h.condition(cond::DRIFT_DETECTED).unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "SyncReEnabled")
    );
    assert_eq!(h.condition(cond::STALLED).unwrap().1, "DriftDetected");
    assert!(h.events.iter().any(|e| e.reason == "DriftDetected"));
    let st = h.status();
    assert_eq!(st.users.unwrap().synced, 120);
    assert_eq!(st.groups.unwrap().synced, 6);
    assert_counts_exact(&h).await;

    // No longer converged: passes read everything and the links are dropped.
    h.pass().await.unwrap();
    assert!(!h.guard.holds(&key()));
    assert!(ops.take().contains_key("users.list"));
    emu.shutdown().await;
}

#[tokio::test]
async fn an_immutable_id_written_back_is_seen_through_delta_and_cleared_again() {
    let emu = start(consistent_config(40, 2)).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", true, "Report"), SECRET);
    converge(&emu, &mut h).await;
    h.pass().await.unwrap();
    assert_eq!(pass_cost(&emu, &mut h).await, 3);
    let writes = state(&emu).await["writes"]["accepted"].as_u64().unwrap();

    // Written back after the consistency window of the clearing (within it, a user that
    // still reads set is waited for, not cleared again).
    h.clock_at(jiff::Timestamp::now() + jiff::SignedDuration::from_mins(10));
    let id = converted_user(&emu).await;
    h.graph
        .set_immutable_id(&id, "d3JpdHRlbi1iYWNr")
        .await
        .unwrap();
    h.pass().await.unwrap();
    assert_eq!(h.condition(cond::READY).unwrap().1, "Converged");
    let user = users(&emu)
        .await
        .into_iter()
        .find(|u| u["id"] == id)
        .unwrap();
    assert!(user["onPremisesImmutableId"].is_null(), "{user}");
    assert_eq!(
        state(&emu).await["writes"]["accepted"].as_u64().unwrap(),
        writes + 2,
        "ours and the write-back"
    );
    let prior: Vec<_> = h
        .journal_entries()
        .into_iter()
        .map(|e| e.record)
        .filter(|r| r.object_id == id && r.action == Action::ClearImmutableId)
        .filter(|r| r.phase == Phase::Intent)
        .map(|r| r.prior["onPremisesImmutableId"].clone())
        .collect();
    assert_eq!(prior.last(), Some(&json!("d3JpdHRlbi1iYWNr")));
    let ids = h.status().immutable_ids.unwrap();
    assert_eq!((ids.cleared, ids.remaining), (40, 0));

    // Our own clear surfaces once more (counted again), then quiet.
    assert!(pass_cost(&emu, &mut h).await > 3);
    assert_counts_exact(&h).await;
    assert_eq!(pass_cost(&emu, &mut h).await, 3);
    emu.shutdown().await;
}

#[tokio::test]
async fn removed_and_restored_objects_update_the_counts() {
    let emu = start(consistent_config(60, 4)).await;
    let mut permissions: Vec<&str> = entra_cloud_operator::emulator::DEFAULT_PERMISSIONS.to_vec();
    permissions.push("Group.ReadWrite.All");
    control_put(&emu, "permissions", json!({ "permissions": permissions })).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", false, "Report"), SECRET);
    converge(&emu, &mut h).await;
    h.pass().await.unwrap();
    let before = h.status();

    let user = converted_user(&emu).await;
    graph_request(
        &emu,
        reqwest::Method::DELETE,
        &format!("users/{user}"),
        None,
    )
    .await;
    let group = converted(&emu, "groups").await.remove(0);
    graph_request(
        &emu,
        reqwest::Method::DELETE,
        &format!("groups/{group}"),
        None,
    )
    .await;
    h.pass().await.unwrap();
    let st = h.status();
    assert_eq!(
        st.users.unwrap().converted,
        before.users.unwrap().converted - 1
    );
    assert_eq!(
        st.groups.unwrap().converted,
        before.groups.unwrap().converted - 1
    );
    assert_counts_exact(&h).await;
    assert_eq!(pass_cost(&emu, &mut h).await, 3);

    h.graph.restore_deleted_user(&user).await.unwrap();
    h.pass().await.unwrap();
    assert_counts_exact(&h).await;
    let restored = h.status().users.unwrap();
    let was = before.users.unwrap();
    assert_eq!(
        restored.converted + restored.cloud_only,
        was.converted + was.cloud_only
    );
    assert_eq!(h.condition(cond::READY).unwrap().1, "Converged");
    emu.shutdown().await;
}

#[tokio::test]
async fn gone_410_starts_a_full_round_and_the_guard_keeps_working() {
    let emu = start(consistent_config(350, 3)).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", true, "Report"), SECRET);
    converge(&emu, &mut h).await;
    h.pass().await.unwrap();
    assert_eq!(pass_cost(&emu, &mut h).await, 3);
    let counts = h.status().users;

    // Tenant maintenance: every token answers 410 Gone.
    control_post(&emu, "delta/reset", json!({})).await;
    let gone = answered(&emu, 410).await;
    let full = full_round_cost(&emu).await;
    assert_eq!(
        pass_cost(&emu, &mut h).await,
        full + 2,
        "two 410s, two full rounds"
    );
    assert_eq!(answered(&emu, 410).await, gone + 2);
    assert_eq!(h.condition(cond::READY).unwrap().1, "Converged");
    assert_eq!(h.status().users, counts);
    assert_counts_exact(&h).await;
    assert_eq!(pass_cost(&emu, &mut h).await, 3);

    // And drift is still seen after the resync.
    control_post(&emu, "sync/enable", json!({})).await;
    h.pass().await.unwrap();
    assert_eq!(h.condition(cond::DRIFT_DETECTED).unwrap().0, "True");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_starts_a_full_round_and_the_guard_keeps_working() {
    let emu = start(consistent_config(150, 3)).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", false, "Report"), SECRET);
    converge(&emu, &mut h).await;
    h.pass().await.unwrap();
    assert_eq!(pass_cost(&emu, &mut h).await, 3);

    // Eight days without a pass: the links are older than a delta token lives (7 days).
    advance(&emu, 8.0 * 86_400.0).await;
    let refused = answered(&emu, 400).await;
    let full = full_round_cost(&emu).await;
    assert_eq!(pass_cost(&emu, &mut h).await, full + 2);
    assert_eq!(answered(&emu, 400).await, refused + 2, "syncStateNotFound");
    assert_eq!(h.condition(cond::READY).unwrap().1, "Converged");
    assert_counts_exact(&h).await;
    assert_eq!(pass_cost(&emu, &mut h).await, 3);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_unmanaged_tenant_is_observed_through_delta_too() {
    let emu = start(consistent_config(300, 4)).await;
    let mut h = Harness::tenant(&emu, policy("Unmanaged", false, "Report"), SECRET);
    h.pass().await.unwrap();
    assert_eq!(h.condition(cond::READY).unwrap().1, "Observing");
    assert_eq!(pass_cost(&emu, &mut h).await, full_round_cost(&emu).await);
    assert_eq!(pass_cost(&emu, &mut h).await, 3);
    assert_eq!(h.status().users.unwrap().synced, 300);
    assert_counts_exact(&h).await;

    // A new generation reads everything again and drops the links.
    h.obj.metadata.generation = Some(2);
    h.pass().await.unwrap();
    assert!(!h.guard.holds(&key()));
    emu.shutdown().await;
}

#[tokio::test]
async fn delta_rounds_page_through_then_return_only_changes() {
    let emu = start(consistent_config(250, 2)).await;
    let graph = client(&emu, SECRET);

    // A full round: every user once, page by page, then a link.
    let mut round = graph.users_delta(DeltaFrom::Full, USER_TRACKED).unwrap();
    assert!(round.is_full());
    let (mut pages, mut seen) = (0, 0);
    while let Some(page) = round.next_page().await.unwrap() {
        assert!(!page.restarted);
        pages += 1;
        seen += page.items.len() as u64;
    }
    let total = state(&emu).await["users"]["total"].as_u64().unwrap();
    assert_eq!((seen, pages), (total, total.div_ceil(DELTA_PAGE)));
    let link = round.into_delta_link().unwrap();
    assert!(link.contains("$deltatoken="), "{link}");

    // Nothing changed: one request, no object.
    let before = requests(&emu).await;
    let mut round = graph
        .users_delta(DeltaFrom::Link(link.clone()), USER_TRACKED)
        .unwrap();
    let page = round.next_page().await.unwrap().unwrap();
    assert!(page.items.is_empty() && round.next_page().await.unwrap().is_none());
    assert_eq!(requests(&emu).await - before, 1);
    let link = round.into_delta_link().unwrap();

    // An untracked change (the display name) surfaces nobody; a tracked one its user.
    let ids: Vec<String> = users(&emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] != "synced")
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    let body = json!({ "displayName": "Renamed" });
    graph_request(
        &emu,
        reqwest::Method::PATCH,
        &format!("users/{}", ids[0]),
        Some(body),
    )
    .await;
    graph.set_immutable_id(&ids[1], "YW5jaG9y").await.unwrap();
    let mut round = graph
        .users_delta(DeltaFrom::Link(link.clone()), USER_TRACKED)
        .unwrap();
    let page = round.next_page().await.unwrap().unwrap();
    assert!(!round.is_full());
    match page.items.as_slice() {
        [DeltaItem::Changed(u)] => {
            assert_eq!(u.id, ids[1]);
            assert_eq!(u.on_premises_immutable_id.as_deref(), Some("YW5jaG9y"));
        }
        other => panic!("{other:?}"),
    }

    // `latest`: no object, a link from now.
    let mut round = graph
        .groups_delta(DeltaFrom::Latest, GROUP_TRACKED)
        .unwrap();
    let page = round.next_page().await.unwrap().unwrap();
    assert!(page.items.is_empty() && !round.is_full());
    assert!(round.delta_link().is_some());

    // A 410 on the link: the round starts over in full, and says so.
    control_post(&emu, "delta/reset", json!({})).await;
    let mut round = graph
        .users_delta(DeltaFrom::Link(link), USER_TRACKED)
        .unwrap();
    let page = round.next_page().await.unwrap().unwrap();
    assert!(page.restarted && round.is_full());
    assert_eq!(page.items.len() as u64, DELTA_PAGE);
    let mut rest = 0;
    while let Some(page) = round.next_page().await.unwrap() {
        assert!(!page.restarted);
        rest += page.items.len() as u64;
    }
    assert_eq!(DELTA_PAGE + rest, total);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_domain_becoming_federated_counts_the_users_again() {
    let emu = start(consistent_config(30, 1)).await;
    let mut h = Harness::tenant(&emu, policy("Disabled", false, "Report"), SECRET);
    converge(&emu, &mut h).await;
    h.pass().await.unwrap();
    assert_eq!(pass_cost(&emu, &mut h).await, 3);
    let remaining = h.status().immutable_ids.unwrap().remaining;
    assert!(remaining > 0, "ImmutableIDs kept: clearImmutableIds is off");

    // No user changes, but their ImmutableIDs are now what federated sign-in matches on.
    control_post(
        &emu,
        "domains",
        json!({"name": "contoso.com", "type": "Federated"}),
    )
    .await;
    h.pass().await.unwrap();
    assert_eq!(h.status().immutable_ids.unwrap().remaining, 0);
    assert_counts_exact(&h).await;
    assert_eq!(pass_cost(&emu, &mut h).await, 3);
    emu.shutdown().await;
}
