//! A steady pass reads only the journal's tail: the cluster journal keeps what the passes
//! derive from it (a [`Scan`]) with the verified position it was read up to, so a pass reads
//! the entries appended since, from the last shard on, whatever the journal's length. What
//! the API server stand-in serves is counted; the shards are made small so that a few
//! thousand entries span many of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_apiserver;

use std::collections::BTreeSet;

use entra_cloud_operator::controller::journal_key;
use entra_cloud_operator::journal::{
    Action, ConfigMapJournal, Entry, Journal, JournalError, Phase, RESOURCE_LABEL, Record,
    ResourceKey, SHARD_BYTES, Scan, SecretKey, scan,
};
use fake_apiserver::FakeApiServer;
use serde_json::{Value, json};

const NS: &str = "entra-system";
const SECRET: &str = "entra-cloud-operator-journal-key";
/// Bytes of entries per shard in these tests (the default is 700 KiB).
const SHARD: usize = 16 * 1024;

fn resource() -> ResourceKey {
    ResourceKey {
        kind: "CloudUserConversion".into(),
        namespace: "identity".into(),
        name: "large-wave".into(),
    }
}

fn record(id: &str, phase: Phase) -> Record {
    Record {
        resource: resource(),
        tenant_id: "t".into(),
        object_type: "user".into(),
        object_id: id.into(),
        object_name: Some(format!("{id}@contoso.com")),
        action: Action::ClearImmutableId,
        phase,
        prior: json!({"onPremisesImmutableId": format!("prior-of-{id}")}),
        request_id: None,
        error: None,
        note: None,
    }
}

/// The users whose ImmutableID was cleared, and how many entries were taken in.
#[derive(Clone, Default, Debug, PartialEq)]
struct Cleared {
    ids: BTreeSet<String>,
    entries: u64,
}

impl Scan for Cleared {
    fn feed(&mut self, e: &Entry) {
        self.entries += 1;
        if e.record.phase == Phase::Applied {
            self.ids.insert(e.record.object_id.clone());
        }
    }
}

/// The journal key (created in the stand-in on first use).
async fn the_key(api: &FakeApiServer) -> SecretKey {
    journal_key::load_or_create(&api.client(), NS, SECRET)
        .await
        .unwrap()
}

fn journal(api: &FakeApiServer, key: &SecretKey) -> ConfigMapJournal {
    ConfigMapJournal::new(api.client(), NS, resource(), Some(key.clone())).with_shard_bytes(SHARD)
}

/// A conversion of `users` users (an intent and an outcome each, in waves of 50), its head
/// kept.
async fn converted(api: &FakeApiServer, users: usize) -> SecretKey {
    let key = the_key(api).await;
    let j = journal(api, &key);
    let ids: Vec<String> = (0..users).map(|i| format!("user-{i:06}")).collect();
    for wave in ids.chunks(50) {
        let intents: Vec<Record> = wave.iter().map(|id| record(id, Phase::Intent)).collect();
        j.append(&intents).await.unwrap();
        let outcomes: Vec<Record> = wave.iter().map(|id| record(id, Phase::Applied)).collect();
        j.append(&outcomes).await.unwrap();
    }
    j.checkpoint().await.unwrap();
    key
}

fn shards(api: &FakeApiServer) -> Vec<Value> {
    let mut shards: Vec<Value> = api
        .objects("configmaps")
        .into_iter()
        .filter(|c| c["metadata"]["labels"][RESOURCE_LABEL].is_string())
        .collect();
    shards.sort_by_key(|c| c["metadata"]["name"].as_str().unwrap().to_string());
    shards
}

/// The bytes a steady pass reads after a conversion of `users` users, and how many shards
/// the journal has.
async fn steady_pass_bytes(users: usize) -> (u64, usize) {
    let api = FakeApiServer::start().await;
    let key = converted(&api, users).await;
    let shard_count = shards(&api).len();
    // The controller after a start: its first pass reads (and verifies) everything once.
    let j = journal(&api, &key);
    api.reset_served();
    let first: Cleared = scan(&j, &resource()).await.unwrap();
    assert_eq!(first.ids.len(), users);
    assert_eq!(first.entries, 2 * users as u64);
    let full = api.bytes_served("/configmaps");
    // The next pass: nothing was appended.
    api.reset_served();
    let second: Cleared = scan(&j, &resource()).await.unwrap();
    assert_eq!(second, first);
    let steady = api.bytes_served("");
    assert!(
        steady < full / 4,
        "a steady pass read {steady} bytes, the whole journal is {full}"
    );
    api.shutdown().await;
    (steady, shard_count)
}

#[tokio::test]
async fn a_steady_pass_reads_about_one_shard_whatever_the_journals_length() {
    let (small, small_shards) = steady_pass_bytes(300).await;
    let (large, large_shards) = steady_pass_bytes(1_500).await;
    assert!(
        small_shards >= 5 && large_shards >= 4 * small_shards,
        "{small_shards} and {large_shards} shards"
    );
    // Bounded by one shard (with its metadata), and not growing with the journal.
    for bytes in [small, large] {
        assert!(
            bytes <= SHARD as u64 + 4096,
            "a steady pass read {bytes} bytes"
        );
    }
    assert!(large <= small + SHARD as u64, "{small} then {large} bytes");
}

#[tokio::test]
async fn a_pass_after_new_entries_reads_only_them_and_takes_them_in() {
    let api = FakeApiServer::start().await;
    let key = converted(&api, 1_000).await;
    let j = journal(&api, &key);
    let before: Cleared = scan(&j, &resource()).await.unwrap();
    // Another writer (the next pass of another process, say) appends a wave of 20.
    let other = journal(&api, &key);
    let wave: Vec<Record> = (0..20)
        .map(|i| record(&format!("late-{i}"), Phase::Applied))
        .collect();
    other.append(&wave).await.unwrap();
    api.reset_served();
    let after: Cleared = scan(&j, &resource()).await.unwrap();
    assert_eq!(after.entries, before.entries + 20);
    assert_eq!(after.ids.len(), before.ids.len() + 20);
    let read = api.bytes_served("");
    assert!(
        read <= 2 * SHARD as u64 + 4096,
        "{read} bytes read for 20 new entries"
    );
    // The state kept is what a read of the whole journal gives.
    let fresh: Cleared = scan(&journal(&api, &key), &resource()).await.unwrap();
    assert_eq!(after, fresh);
    api.shutdown().await;
}

fn edit_first_entry(api: &FakeApiServer, shard: &Value) {
    let mut cm = shard.clone();
    let text = cm["data"]["entries.jsonl"].as_str().unwrap().to_string();
    let edited = text.replacen("prior-of-user", "prior-of-admin", 1);
    assert_ne!(edited, text, "the shard holds an entry to edit");
    cm["data"]["entries.jsonl"] = json!(edited);
    api.put_object("configmaps", cm);
}

fn is_tampered(r: Result<Cleared, JournalError>) -> bool {
    matches!(r, Err(JournalError::Tampered { .. }))
}

#[tokio::test]
async fn a_rewritten_entry_is_caught_in_the_last_shard_at_once_and_earlier_on_a_full_read() {
    let api = FakeApiServer::start().await;
    let key = converted(&api, 1_000).await;
    let j = journal(&api, &key);
    scan::<Cleared>(&j, &resource()).await.unwrap();

    // An entry of an earlier shard, behind the position kept: the steady pass does not read
    // it; a start (a journal read afresh), `journal verify` and a revert's read do.
    let all = shards(&api);
    edit_first_entry(&api, &all[0]);
    assert!(scan::<Cleared>(&j, &resource()).await.is_ok());
    assert!(is_tampered(scan(&journal(&api, &key), &resource()).await));
    assert!(matches!(
        journal(&api, &key).verify().await,
        Err(JournalError::Tampered { .. })
    ));
    assert!(
        journal(&api, &key).audit_for(&resource()).await.unwrap()[0]
            .trust
            .is_proven()
            .eq(&false)
    );

    // An entry of the last shard: any write moves its resourceVersion, so the next pass reads
    // it again and verifies it from its first entry.
    edit_first_entry(&api, all.last().unwrap());
    assert!(is_tampered(scan(&j, &resource()).await));
    api.shutdown().await;
}

#[tokio::test]
async fn the_last_shard_cut_short_behind_the_position_kept_is_caught() {
    let api = FakeApiServer::start().await;
    let key = converted(&api, 1_000).await;
    let j = journal(&api, &key);
    scan::<Cleared>(&j, &resource()).await.unwrap();
    let last = shards(&api).pop().unwrap();
    let mut cut = last.clone();
    let text = cut["data"]["entries.jsonl"].as_str().unwrap().to_string();
    let kept: Vec<&str> = text.lines().collect();
    cut["data"]["entries.jsonl"] = json!(kept[..kept.len() - 1].join("\n") + "\n");
    api.put_object("configmaps", cut);
    let err = scan::<Cleared>(&j, &resource()).await.unwrap_err();
    assert!(err.to_string().contains("no longer there"), "{err}");
    // And the whole last shard deleted.
    let j = journal(&api, &key);
    api.put_object("configmaps", last.clone());
    scan::<Cleared>(&j, &resource()).await.unwrap();
    api.delete_object("configmaps", NS, last["metadata"]["name"].as_str().unwrap());
    let err = scan::<Cleared>(&j, &resource()).await.unwrap_err();
    assert!(err.to_string().contains("deleted"), "{err}");
    api.shutdown().await;
}

fn data_len(shard: &Value) -> usize {
    shard["data"]["entries.jsonl"].as_str().map_or(0, str::len)
}

/// A part of a wave journals 2,000 records at once, more than a ConfigMap holds: the append
/// fills the last shard and goes on in new ones, each under the limit (the stand-in refuses a
/// ConfigMap over 1 MiB, as the API server does), and the chain reads back whole.
#[tokio::test]
async fn an_append_larger_than_a_shard_fills_it_and_goes_on_in_new_ones() {
    let api = FakeApiServer::start().await;
    let key = the_key(&api).await;
    let j = ConfigMapJournal::new(api.client(), NS, resource(), Some(key.clone()));
    let first: Vec<Record> = (0..10)
        .map(|i| record(&format!("early-{i}"), Phase::Intent))
        .collect();
    j.append(&first).await.unwrap();
    // Long enough lines that 2,000 of them pass 1 MiB.
    let part: Vec<Record> = (0..2_000)
        .map(|i| {
            let mut r = record(&format!("user-{i:06}"), Phase::Applied);
            r.note = Some("n".repeat(400));
            r
        })
        .collect();
    j.append(&part).await.unwrap();
    j.checkpoint().await.unwrap();

    let all = shards(&api);
    let sizes: Vec<usize> = all.iter().map(data_len).collect();
    assert!(sizes.len() >= 2, "{sizes:?}");
    assert!(
        sizes.iter().all(|s| *s <= SHARD_BYTES) && sizes.iter().sum::<usize>() > 1024 * 1024,
        "{sizes:?}"
    );
    // The shard the first entries went to was filled before a new one was begun.
    assert!(sizes[0] > SHARD_BYTES - 1024, "{sizes:?}");
    let read: Cleared = scan(&journal(&api, &key), &resource()).await.unwrap();
    assert_eq!((read.entries, read.ids.len()), (2_010, 2_000));
    let report = journal(&api, &key).verify().await.unwrap();
    assert_eq!((report.entries, report.head_kept), (2_010, Some(2_010)));
    api.shutdown().await;
}

/// A conflicting writer between two shards of one append: what was written stays, the rest is
/// chained after the tail read again, nothing twice.
#[tokio::test]
async fn a_conflict_in_the_middle_of_an_append_writes_only_the_rest() {
    let api = FakeApiServer::start().await;
    let key = the_key(&api).await;
    let j = journal(&api, &key);
    j.append(&[record("early", Phase::Applied)]).await.unwrap();
    // The first new shard's creation meets a conflict (as if another replica made it).
    api.fail_next("POST", "/configmaps", 409, 1);
    let part: Vec<Record> = (0..200)
        .map(|i| record(&format!("user-{i:06}"), Phase::Applied))
        .collect();
    j.append(&part).await.unwrap();
    assert!(shards(&api).len() >= 3);
    let read: Cleared = scan(&journal(&api, &key), &resource()).await.unwrap();
    assert_eq!((read.entries, read.ids.len()), (201, 201));
    j.checkpoint().await.unwrap();
    let report = journal(&api, &key).verify().await.unwrap();
    assert_eq!(report.entries, 201);
    api.shutdown().await;
}
