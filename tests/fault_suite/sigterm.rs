//! SIGTERM to `apply` in the middle of a wave: with the default grace period the wave finishes
//! (every intent gets its outcome); with none it is abandoned (the next run settles the open
//! intents by reading Graph back). Either way the process exits 3, within a bound, and the next
//! run converts everyone exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use entra_cloud_operator::journal::{Action, Entry, FileJournal, Phase};
use serde_json::json;

use super::invariants::paired;
use super::procs::{Emulator, LineCounter, Operator, temp_dir};
use super::scenario::{SECRET, write_manifests};

/// Intents not followed by an outcome, per user and step.
fn open_intents(entries: &[Entry]) -> usize {
    let mut open: BTreeMap<(&str, Action), bool> = BTreeMap::new();
    for e in entries {
        let r = &e.record;
        open.insert((r.object_id.as_str(), r.action), r.phase == Phase::Intent);
    }
    open.values().filter(|o| **o).count()
}

/// Sends SIGTERM once the journal has grown past `lines` (a wave's intents are durable and its
/// writes are going out), and waits for the exit.
async fn terminate_mid_wave(op: &mut Operator, counter: &mut LineCounter, lines: u64) {
    for _ in 0..3000 {
        assert!(op.exited().is_none(), "ended early\n{}", op.logs());
        if counter.update() > lines {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(counter.lines > lines, "no wave started\n{}", op.logs());
    op.terminate();
    // The grace period is 20 s by default; the wave needs a few seconds.
    let status = op.wait(Duration::from_secs(60)).await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(3),
        "exit code 3 after SIGTERM\n{}",
        op.logs()
    );
    let err = std::fs::read_to_string(&op.stderr).unwrap();
    assert!(err.contains("stopping"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_wave_finishes_or_abandons_it_cleanly_and_the_next_run_converts_once() {
    // Every write (batches included) takes 300 ms: a wave of 100 users, one batch at a time,
    // lasts several seconds, so the signal lands inside it.
    let emu = Emulator::start(&[
        "--users",
        "200",
        "--groups",
        "10",
        "--latency",
        "write=300ms",
        "--client-secret",
        SECRET,
    ]);
    let dir = temp_dir("sigterm");
    let manifests = dir.join("manifests");
    write_manifests(
        &manifests.join("cuc.yaml"),
        json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "clearImmutableId": true,
            "selector": {"domains": ["contoso.com"]},
            "rollout": {"maxObjects": 1000, "canary": 0, "waveSize": 100,
                        "pauseBetweenWaves": "0s", "maxFailuresPerWave": 0}
        }),
    );
    let journal = dir.join("journal.jsonl");
    let mut counter = LineCounter::new(&journal);

    // A grace long enough for the wave in flight (paced writes, each batch 300 ms, then read
    // back): it finishes, every intent gets its outcome.
    let mut op = Operator::apply(
        &emu,
        &manifests,
        &journal,
        &dir,
        0,
        &["--concurrency", "1", "--shutdown-grace", "5m"],
    );
    terminate_mid_wave(&mut op, &mut counter, 0).await;
    let entries = FileJournal::read(
        &journal,
        Some(&entra_cloud_operator::journal::default_key(std::path::Path::new(&&journal)).unwrap()),
    )
    .unwrap();
    FileJournal::verify(
        &journal,
        Some(&entra_cloud_operator::journal::default_key(std::path::Path::new(&&journal)).unwrap()),
    )
    .unwrap();
    assert_eq!(
        open_intents(&entries),
        0,
        "the wave finished before the exit"
    );
    assert!(entries.iter().any(|e| e.record.phase == Phase::Applied));

    // No grace: the wave in flight is abandoned, its intents left open.
    let before = counter.update();
    let mut op = Operator::apply(
        &emu,
        &manifests,
        &journal,
        &dir,
        1,
        &["--concurrency", "1", "--shutdown-grace", "0s"],
    );
    terminate_mid_wave(&mut op, &mut counter, before).await;
    let entries = FileJournal::read(
        &journal,
        Some(&entra_cloud_operator::journal::default_key(std::path::Path::new(&&journal)).unwrap()),
    )
    .unwrap();
    FileJournal::verify(
        &journal,
        Some(&entra_cloud_operator::journal::default_key(std::path::Path::new(&&journal)).unwrap()),
    )
    .unwrap();
    let open = open_intents(&entries);
    assert!(open > 0, "abandoned mid-wave: intents left open");

    // The next run settles them by reading back, and converts everyone once.
    let mut op = Operator::apply(&emu, &manifests, &journal, &dir, 2, &[]);
    let status = op.wait(Duration::from_secs(120)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", op.logs());
    let entries = FileJournal::read(
        &journal,
        Some(&entra_cloud_operator::journal::default_key(std::path::Path::new(&&journal)).unwrap()),
    )
    .unwrap();
    assert_eq!(open_intents(&entries), 0);
    let read_back = entries.iter().filter(|e| e.record.note.is_some()).count();
    assert_eq!(read_back, open, "each open intent settled by reading back");
    let mut per_step: BTreeMap<(&str, Action), Vec<&Entry>> = BTreeMap::new();
    for e in &entries {
        per_step
            .entry((e.record.object_id.as_str(), e.record.action))
            .or_default()
            .push(e);
    }
    for ((id, action), records) in &per_step {
        paired(records).unwrap_or_else(|e| panic!("{id} {action:?}: {e}"));
        let applied = records
            .iter()
            .filter(|e| e.record.phase == Phase::Applied)
            .count();
        assert_eq!(applied, 1, "{id} {action:?}");
    }
    let users = emu.users().await;
    let synced: Vec<_> = users
        .iter()
        .filter(|u| {
            u["kind"] == "synced"
                && u["userPrincipalName"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("@contoso.com"))
        })
        .collect();
    assert_eq!(per_step.len(), synced.len() * 2);
    for u in synced {
        assert_eq!(u["isCloudManaged"], true, "{u}");
        assert_eq!(u["writeCounts"]["soaChanges"], 1, "{u}");
    }
}
