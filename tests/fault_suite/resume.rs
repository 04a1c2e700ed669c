//! The two windows a kill can hit, made exact against the in-process emulator: between the
//! journal's intents and the Graph writes, and between the Graph writes and their outcomes;
//! plus a write that landed although every answer was lost, and read-backs that keep failing.

use std::sync::atomic::{AtomicUsize, Ordering};

use entra_cloud_operator::api::CloudUserConversion;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::emulator::Emulator;
use entra_cloud_operator::journal::{
    Action, BoxFuture, Entry, FileJournal, Journal, JournalError, Phase, Record, ResourceKey,
};
use entra_cloud_operator::reconcile::{ReconcileError, ReconcileEvent};
use serde_json::{Value, json};

use crate::common::*;

/// A journal whose appends fail from the `fail_from`-th on (0-based, empty appends not
/// counted): the operator dies right after its intents are durable.
struct DiesAfter {
    inner: FileJournal,
    appends: AtomicUsize,
    fail_from: usize,
}

impl Journal for DiesAfter {
    fn append<'a>(&'a self, records: &'a [Record]) -> BoxFuture<'a, Result<(), JournalError>> {
        if records.is_empty() {
            return self.inner.append(records);
        }
        if self.appends.fetch_add(1, Ordering::SeqCst) >= self.fail_from {
            return Box::pin(std::future::ready(Err(JournalError::Io {
                path: "killed".into(),
                source: std::io::Error::other("the process died here"),
            })));
        }
        self.inner.append(records)
    }

    fn entries_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
    ) -> BoxFuture<'a, Result<Vec<Entry>, JournalError>> {
        self.inner.entries_for(resource)
    }

    fn visit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        self.inner.visit_for(resource, visit)
    }

    fn audit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
    ) -> BoxFuture<'a, Result<Vec<Entry>, JournalError>> {
        self.inner.audit_for(resource)
    }
}

fn cuc() -> CloudUserConversion {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "resume", "namespace": "identity", "generation": 1},
        "spec": {
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "clearImmutableId": true,
            "selector": {"domains": ["contoso.com"]},
            "rollout": {"maxObjects": 100, "canary": 0, "waveSize": 100, "maxFailuresPerWave": 100}
        }
    }))
    .unwrap()
}

/// One pass of a fresh operator (no status kept: a restart) over `journal`, through the
/// shared harness (kstatus checked).
async fn pass(
    emu: &Emulator,
    journal: &dyn Journal,
    obj: &mut CloudUserConversion,
) -> Result<Vec<ReconcileEvent>, ReconcileError> {
    let graph = client(emu, SECRET);
    let tenant = policy("Unmanaged", false, "Report").spec;
    let guard = Default::default();
    let ctx = harness::context(
        harness::key::<CloudUserConversion>("resume"),
        &graph,
        journal,
        &guard,
    );
    Ok(harness::pass(obj, &tenant, &ctx).await?.events)
}

/// Passes of a restarted operator until Ready (bounded).
async fn until_ready(emu: &Emulator, journal: &FileJournal) -> Vec<ReconcileEvent> {
    let mut obj = cuc();
    let mut events = Vec::new();
    for _ in 0..10 {
        if let Ok(e) = pass(emu, journal, &mut obj).await {
            events.extend(e);
        }
        let st = obj.status.clone().unwrap_or_default();
        if cond::is_true(&st.conditions, cond::READY) {
            return events;
        }
    }
    panic!("not Ready: {:#?}", obj.status);
}

/// The synchronised users, by id.
async fn synced_users(emu: &Emulator) -> std::collections::BTreeMap<String, Value> {
    users(emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .map(|u| (u["id"].as_str().unwrap().to_string(), u))
        .collect()
}

/// Every synced user converted with one state change; per user and step, records pair up and
/// exactly one is Applied, carrying the prior ImmutableID.
async fn assert_converted_once(
    emu: &Emulator,
    path: &std::path::Path,
    before: &std::collections::BTreeMap<String, Value>,
) {
    let entries = FileJournal::read(
        path,
        Some(&entra_cloud_operator::journal::default_key(std::path::Path::new(&path)).unwrap()),
    )
    .unwrap();
    FileJournal::verify(
        path,
        Some(&entra_cloud_operator::journal::default_key(std::path::Path::new(&path)).unwrap()),
    )
    .unwrap();
    let now = synced_users(emu).await;
    assert_eq!(now.len(), before.len());
    for (id, u) in &now {
        let was = &before[id];
        assert_eq!(u["isCloudManaged"], true, "{u}");
        assert!(u["onPremisesImmutableId"].is_null(), "{u}");
        assert_eq!(u["writeCounts"]["soaChanges"], 1, "{u}");
        for step in [Action::SwitchToCloud, Action::ClearImmutableId] {
            let mine: Vec<&Record> = entries
                .iter()
                .map(|e| &e.record)
                .filter(|r| r.object_id == u["id"] && r.action == step)
                .collect();
            let applied: Vec<&&Record> =
                mine.iter().filter(|r| r.phase == Phase::Applied).collect();
            assert_eq!(applied.len(), 1, "{step:?} {mine:#?}");
            if step == Action::ClearImmutableId {
                assert_eq!(
                    applied[0].prior["onPremisesImmutableId"],
                    was["onPremisesImmutableId"]
                );
            }
            let intents = mine.iter().filter(|r| r.phase == Phase::Intent).count();
            let corrections = mine
                .windows(2)
                .filter(|w| w[0].phase == Phase::Failed && w[1].phase == Phase::Applied)
                .count();
            assert_eq!(intents + corrections, mine.len() - intents, "{mine:#?}");
        }
    }
}

async fn setup() -> (
    Emulator,
    std::path::PathBuf,
    std::collections::BTreeMap<String, Value>,
) {
    let emu = start(config(12, 1)).await;
    let before = synced_users(&emu).await;
    let path = temp_dir("resume").join("journal.jsonl");
    (emu, path, before)
}

#[tokio::test]
async fn a_kill_between_the_journal_and_the_graph_writes_is_recovered() {
    let (emu, path, before) = setup().await;
    // Every write is dropped before it is applied, and the process dies after its intents.
    control_post(
        &emu,
        "faults",
        json!({"reset": "before", "count": 100000, "method": "PATCH"}),
    )
    .await;
    let dying = DiesAfter {
        inner: FileJournal::open(
            &path,
            entra_cloud_operator::journal::default_key(std::path::Path::new(&&path)).unwrap(),
        )
        .unwrap(),
        appends: AtomicUsize::new(0),
        fail_from: 1,
    };
    assert!(pass(&emu, &dying, &mut cuc()).await.is_err());
    drop(dying);
    reqwest::Client::new()
        .delete(format!("{}/_emulator/faults", emu.url()))
        .send()
        .await
        .unwrap();
    for u in synced_users(&emu).await.values() {
        assert_eq!(u["writes"], 0, "nothing landed: {u}");
    }
    let open = FileJournal::read(
        &path,
        Some(&entra_cloud_operator::journal::default_key(std::path::Path::new(&&path)).unwrap()),
    )
    .unwrap();
    assert!(open.iter().all(|e| e.record.phase == Phase::Intent));
    assert_eq!(open.len(), before.len() * 2, "two intents per user");

    let journal = FileJournal::open(
        &path,
        entra_cloud_operator::journal::default_key(std::path::Path::new(&&path)).unwrap(),
    )
    .unwrap();
    let events = until_ready(&emu, &journal).await;
    let resumed = events.iter().find(|e| e.reason == "Resumed").unwrap();
    assert!(
        resumed
            .note
            .contains(&format!("0 had been made, {} had not", open.len())),
        "{}",
        resumed.note
    );
    let entries = FileJournal::read(
        &path,
        Some(&entra_cloud_operator::journal::default_key(std::path::Path::new(&&path)).unwrap()),
    )
    .unwrap();
    let abandoned = entries
        .iter()
        .filter(|e| e.record.phase == Phase::Failed && e.record.note.is_some())
        .count();
    assert_eq!(abandoned, open.len(), "each open intent closed as not made");
    assert_converted_once(&emu, &path, &before).await;
    for u in synced_users(&emu).await.values() {
        assert_eq!(
            u["writeCounts"]["soa"], 1,
            "sent once, after the restart: {u}"
        );
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_kill_after_the_graph_writes_is_detected_by_reading_back() {
    let (emu, path, before) = setup().await;
    let dying = DiesAfter {
        inner: FileJournal::open(
            &path,
            entra_cloud_operator::journal::default_key(std::path::Path::new(&&path)).unwrap(),
        )
        .unwrap(),
        appends: AtomicUsize::new(0),
        fail_from: 1,
    };
    assert!(pass(&emu, &dying, &mut cuc()).await.is_err());
    drop(dying);
    for u in synced_users(&emu).await.values() {
        assert_eq!(u["isCloudManaged"], true, "the writes landed: {u}");
    }
    let journal = FileJournal::open(
        &path,
        entra_cloud_operator::journal::default_key(std::path::Path::new(&&path)).unwrap(),
    )
    .unwrap();
    let events = until_ready(&emu, &journal).await;
    assert!(events.iter().any(|e| {
        e.reason == "Resumed"
            && e.note
                .contains(&format!("{} had been made, 0 had not", before.len() * 2))
    }));
    assert_converted_once(&emu, &path, &before).await;
    for u in synced_users(&emu).await.values() {
        assert_eq!(u["writes"], 2, "nothing sent again after the restart: {u}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_switch_that_landed_although_every_answer_was_lost_is_recorded_applied() {
    let (emu, path, before) = setup().await;
    // Every SOA write lands, and its connection drops: the client gives up (Failed).
    control_post(
        &emu,
        "faults",
        json!({"reset": "after", "count": 100000, "method": "POST", "path": "$batch"}),
    )
    .await;
    let journal = FileJournal::open(
        &path,
        entra_cloud_operator::journal::default_key(std::path::Path::new(&&path)).unwrap(),
    )
    .unwrap();
    let _ = pass(&emu, &journal, &mut cuc()).await;
    reqwest::Client::new()
        .delete(format!("{}/_emulator/faults", emu.url()))
        .send()
        .await
        .unwrap();
    let failed = FileJournal::read(
        &path,
        Some(&entra_cloud_operator::journal::default_key(std::path::Path::new(&&path)).unwrap()),
    )
    .unwrap()
    .iter()
    .filter(|e| e.record.action == Action::SwitchToCloud && e.record.phase == Phase::Failed)
    .count();
    assert_eq!(failed, before.len(), "every switch answered with a failure");
    until_ready(&emu, &journal).await;
    assert_converted_once(&emu, &path, &before).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn switch_reads_that_keep_failing_do_not_hold_a_converged_conversion() {
    let (emu, path, before) = setup().await;
    let journal = FileJournal::open(
        &path,
        entra_cloud_operator::journal::default_key(std::path::Path::new(&&path)).unwrap(),
    )
    .unwrap();
    until_ready(&emu, &journal).await;
    // Every JSON batch (the switch read-backs) now fails, however often it is sent again.
    control_post(
        &emu,
        "faults",
        json!({"status": 503, "count": 100000, "method": "POST", "path": "$batch"}),
    )
    .await;
    let mut obj = cuc();
    pass(&emu, &journal, &mut obj)
        .await
        .expect("a pass whose switch reads fail transiently still ends");
    let st = obj.status.unwrap();
    assert!(cond::is_true(&st.conditions, cond::READY), "{st:#?}");
    assert_eq!(st.converted, before.len() as i64);
    emu.shutdown().await;
}
