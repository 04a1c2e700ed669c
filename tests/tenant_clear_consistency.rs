//! The tenant-wide ImmutableID clear against an emulator whose reads lag behind writes (its
//! default lags: 2 s for per-object reads, 10 s for listings): a user just cleared still
//! shows its ImmutableID in the next pass's listing, and is read back through its own
//! `GET /users/{id}` instead of being cleared again. Only one that still reads set after the
//! consistency window (set again by someone else) is cleared once more.
//!
//! No fixed sleeps: the emulator's clock is moved forward explicitly, the reconcilers' clock
//! is set (`Harness::clock_at`), and every loop is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use entra_cloud_operator::api::TenantSyncPolicy;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::emulator::Emulator;
use entra_cloud_operator::journal::{Action, Phase};
use serde_json::Value;

const USERS: usize = 40;
const WAITING: &str = "WaitingForConsistency";

/// Objects whose prior state some read can still show (the emulator's lag).
async fn lagging(emu: &Emulator) -> u64 {
    control_get(emu, "lag").await["objects"].as_u64().unwrap()
}

async fn accepted(emu: &Emulator) -> u64 {
    state(emu).await["writes"]["accepted"].as_u64().unwrap()
}

/// Never stalled, nothing failed, whatever the listing shows.
fn check(h: &Harness<TenantSyncPolicy>) {
    let st = h.status();
    assert!(!is_stalled(&st), "stalled: {st:#?}");
    assert!(st.recent_failures.is_empty(), "{st:#?}");
    assert_eq!(st.immutable_ids.unwrap_or_default().failed, 0, "{st:#?}");
    assert!(
        !h.journal_entries()
            .iter()
            .any(|e| e.record.phase == Phase::Failed),
        "a failure journaled"
    );
}

/// The disable, the conversion, and the clearing pass: every ImmutableID written once.
async fn cleared_once(emu: &Emulator, batching: bool) -> Harness<TenantSyncPolicy> {
    let mut h = Harness::tenant(emu, policy("Disabled", true, "Report"), SECRET);
    h.graph.set_batching(batching);
    h.pass().await.unwrap();
    advance(emu, 4000.0).await;
    for _ in 0..10 {
        h.pass().await.unwrap();
        check(&h);
        if accepted(emu).await == 1 + USERS as u64 {
            return h;
        }
    }
    panic!("the ImmutableIDs were not cleared: {:#?}", h.status());
}

/// Passes until Ready with nothing left lagging, moving the emulator's clock forward (past
/// the per-object read lag) after each pass; never a write meanwhile beyond `writes`.
async fn settle(h: &mut Harness<TenantSyncPolicy>, emu: &Emulator, writes: u64) -> usize {
    let mut waited = 0;
    for _ in 0..20 {
        match h.pass().await {
            Ok(_) => {}
            Err(e) => eprintln!("transient: {e}"),
        }
        check(h);
        assert_eq!(accepted(emu).await, writes, "{:#?}", h.status());
        if h.reason(cond::RECONCILING).as_deref() == Some(WAITING) {
            waited += 1;
        }
        if is_ready(&h.status()) && lagging(emu).await == 0 {
            return waited;
        }
        advance(emu, 3.0).await;
    }
    panic!("not settled after 20 passes: {:#?}", h.status());
}

/// ClearImmutableId records per user and phase.
fn clears(h: &Harness<TenantSyncPolicy>) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for e in h.journal_entries() {
        let r = e.record;
        if r.action == Action::ClearImmutableId {
            *out.entry(key(&r.object_id, r.phase)).or_default() += 1;
        }
    }
    out
}

fn key(id: &str, phase: Phase) -> (String, String) {
    (id.to_string(), format!("{phase:?}"))
}

fn synced_users(users: &[Value]) -> Vec<String> {
    users
        .iter()
        .filter(|u| u["kind"] == "synced")
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_lagging_listing_is_read_back_not_cleared_again() {
    lagging_listing(true).await;
}

#[tokio::test]
async fn a_lagging_listing_is_read_back_one_request_per_user_without_batching() {
    lagging_listing(false).await;
}

async fn lagging_listing(batching: bool) {
    // The emulator's default lags.
    let emu = start(config(USERS, 3)).await;
    let mut h = cleared_once(&emu, batching).await;
    let writes = accepted(&emu).await;

    // The listing still shows what was just cleared: the passes read it back, never write.
    let shown = lagging(&emu).await;
    settle(&mut h, &emu, writes).await;

    let st = h.status();
    assert!(is_ready(&st), "{st:#?}");
    let ids = st.immutable_ids.unwrap();
    assert_eq!(
        (ids.cleared, ids.remaining, ids.failed),
        (USERS as i64, 0, 0)
    );

    // Exactly one write per formerly synchronised user, none for anyone else.
    let users = users(&emu).await;
    let synced = synced_users(&users);
    assert_eq!(synced.len(), USERS);
    for u in &users {
        let expected = u64::from(u["kind"] == "synced");
        assert_eq!(u["writes"].as_u64().unwrap(), expected, "{u}");
        assert!(u["onPremisesImmutableId"].is_null() || expected == 0, "{u}");
    }
    // And one intent and one outcome each in the journal.
    let clears = clears(&h);
    for id in &synced {
        assert_eq!(clears.get(&key(id, Phase::Intent)), Some(&1), "{id}");
        assert_eq!(clears.get(&key(id, Phase::Applied)), Some(&1), "{id}");
    }
    assert_eq!(clears.len(), 2 * USERS, "{clears:?}");
    eprintln!("objects lagging after the clearing pass: {shown}");

    // Idle passes later write nothing either.
    h.pass().await.unwrap();
    assert_eq!(accepted(&emu).await, writes);
    assert!(is_ready(&h.status()));
    emu.shutdown().await;
}

#[tokio::test]
async fn an_immutable_id_set_again_after_the_window_is_cleared_once_more() {
    let emu = start(config(USERS, 3)).await;
    let mut h = cleared_once(&emu, true).await;
    let writes = accepted(&emu).await;
    settle(&mut h, &emu, writes).await;

    // Someone else puts one back, well after the clearing: past the consistency window by
    // the reconcilers' clock, past both lags by the emulator's.
    let users = users(&emu).await;
    let target = synced_users(&users)[0].clone();
    client(&emu, SECRET)
        .set_immutable_id(&target, "c29tZW9uZS1lbHNl")
        .await
        .unwrap();
    h.clock_at(jiff::Timestamp::now() + jiff::SignedDuration::from_mins(30));
    advance(&emu, 20.0).await;

    // Cleared once more (and said so), then read back, not cleared a third time.
    let mut cleared_again = false;
    for _ in 0..20 {
        match h.pass().await {
            Ok(_) => {}
            Err(e) => eprintln!("transient: {e}"),
        }
        check(&h);
        let now = accepted(&emu).await;
        assert!(now <= writes + 2, "a redundant write: {now}");
        cleared_again = now == writes + 2;
        if cleared_again && is_ready(&h.status()) && lagging(&emu).await == 0 {
            break;
        }
        advance(&emu, 3.0).await;
    }
    assert!(cleared_again, "not cleared once more: {:#?}", h.status());
    assert!(is_ready(&h.status()), "{:#?}", h.status());
    assert_eq!(accepted(&emu).await, writes + 2);

    let after = users_by_id(&emu).await;
    assert_eq!(after[&target]["writes"], 3, "{}", after[&target]);
    assert!(after[&target]["onPremisesImmutableId"].is_null());
    for id in synced_users(&users) {
        if id != target {
            assert_eq!(after[&id]["writes"], 1, "{}", after[&id]);
        }
    }

    let clears = clears(&h);
    assert_eq!(clears.get(&key(&target, Phase::Intent)), Some(&2));
    assert_eq!(clears.get(&key(&target, Phase::Applied)), Some(&2));
    let last = h
        .journal_entries()
        .into_iter()
        .rev()
        .find(|e| e.record.object_id == target && e.record.phase == Phase::Applied)
        .unwrap();
    assert!(
        last.record
            .note
            .as_deref()
            .unwrap_or("")
            .contains("set again"),
        "{:?}",
        last.record
    );
    let event = h
        .events
        .iter()
        .find(|e| e.reason == "ImmutableIdsSetAgain")
        .expect("an Event says it was set again");
    assert!(event.note.starts_with("1 ImmutableIDs"), "{}", event.note);
    emu.shutdown().await;
}

async fn users_by_id(emu: &Emulator) -> BTreeMap<String, Value> {
    users(emu)
        .await
        .into_iter()
        .map(|u| (u["id"].as_str().unwrap().to_string(), u))
        .collect()
}
