//! The cluster journal is tamper-evident against whoever can write ConfigMaps: its entries are
//! chained under the key in the journal key Secret and its head is kept in that Secret, so an
//! edited, removed, reordered or added entry, an added or removed shard, a chain recomputed
//! without the key and a cut-off end are all caught by `verify` (library and CLI); a revert
//! reads each entry's verdict.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_apiserver;

use common::temp_dir;
use entra_cloud_operator::controller::journal_key;
use entra_cloud_operator::journal::{
    Action, ConfigMapJournal, Entry, GENESIS_HASH, Journal, JournalError, JournalKey, Phase,
    RESOURCE_LABEL, Record, ResourceKey, SecretKey, Trust,
};
use fake_apiserver::FakeApiServer;
use serde_json::{Value, json};

const NS: &str = "entra-system";
const SECRET: &str = "entra-cloud-operator-journal-key";

fn resource() -> ResourceKey {
    ResourceKey {
        kind: "CloudUserConversion".into(),
        namespace: "identity".into(),
        name: "finance-wave".into(),
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

/// A journal of four entries (two appends) whose head is kept, as after a pass.
async fn written(api: &FakeApiServer) -> SecretKey {
    let key = journal_key::load_or_create(&api.client(), NS, SECRET)
        .await
        .unwrap();
    // A second start reads the same key.
    let again = journal_key::load_or_create(&api.client(), NS, SECRET)
        .await
        .unwrap();
    assert_eq!(key.key.id(), again.key.id());
    let j = journal(api, Some(key.clone()));
    j.append(&[record("a", Phase::Intent), record("b", Phase::Intent)])
        .await
        .unwrap();
    j.append(&[record("a", Phase::Applied), record("b", Phase::Applied)])
        .await
        .unwrap();
    j.checkpoint().await.unwrap();
    let report = j.verify().await.unwrap();
    assert_eq!((report.entries, report.head_kept), (4, Some(4)));
    key
}

fn journal(api: &FakeApiServer, key: Option<SecretKey>) -> ConfigMapJournal {
    ConfigMapJournal::new(api.client(), NS, resource(), key)
}

fn shard(api: &FakeApiServer) -> Value {
    let shards: Vec<Value> = api
        .objects("configmaps")
        .into_iter()
        .filter(|c| c["metadata"]["labels"][RESOURCE_LABEL].is_string())
        .collect();
    assert_eq!(shards.len(), 1);
    shards[0].clone()
}

fn lines(cm: &Value) -> Vec<String> {
    cm["data"]["entries.jsonl"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn put_lines(api: &FakeApiServer, mut cm: Value, lines: &[String]) {
    cm["data"]["entries.jsonl"] = json!(lines.join("\n") + "\n");
    api.put_object("configmaps", cm);
}

/// `lines` chained again from `prev`, with plain SHA-256 and no keyId (no key needed).
fn recompute(lines: &[String], mut prev: String, first_seq: u64) -> Vec<String> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let mut e: Entry = serde_json::from_str(l).unwrap();
        e.seq = first_seq + i as u64;
        e.key_id = None;
        e.prev_hash = prev.clone();
        e.hash.clear();
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(prev.as_bytes());
        ctx.update(b"\n");
        ctx.update(&serde_json::to_vec(&e).unwrap());
        e.hash = ctx
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        prev = e.hash.clone();
        out.push(serde_json::to_string(&e).unwrap());
    }
    out
}

async fn tampered(api: &FakeApiServer, key: &SecretKey, what: &str) -> String {
    match journal(api, Some(key.clone())).verify().await {
        Err(e @ JournalError::Tampered { .. }) => e.to_string(),
        other => panic!("{what}: expected Tampered, got {other:?}"),
    }
}

#[tokio::test]
async fn every_tampering_of_a_configmap_journal_is_caught() {
    let api = FakeApiServer::start().await;
    let key = written(&api).await;
    let cm = shard(&api);
    let original = lines(&cm);

    // An edited entry: only it is marked, the strict read refuses the journal.
    let mut edited = original.clone();
    edited[1] = edited[1].replace("prior-of-b", "prior-of-admin");
    put_lines(&api, cm.clone(), &edited);
    let msg = tampered(&api, &key, "edited").await;
    assert!(
        msg.contains("entry 2") && msg.contains("journal key"),
        "{msg}"
    );
    let audit = journal(&api, Some(key.clone()))
        .audit_for(&resource())
        .await
        .unwrap();
    let proven: Vec<bool> = audit.iter().map(|e| e.trust.is_proven()).collect();
    assert_eq!(proven, vec![true, false, true, true]);
    assert!(
        journal(&api, Some(key.clone()))
            .entries_for(&resource())
            .await
            .is_err()
    );
    // A tampered journal is never extended.
    assert!(
        journal(&api, Some(key.clone()))
            .append(&[record("c", Phase::Intent)])
            .await
            .is_err()
    );

    // A removed entry.
    let removed = vec![
        original[0].clone(),
        original[2].clone(),
        original[3].clone(),
    ];
    put_lines(&api, cm.clone(), &removed);
    tampered(&api, &key, "removed").await;

    // Reordered entries.
    let reordered = vec![
        original[0].clone(),
        original[2].clone(),
        original[1].clone(),
        original[3].clone(),
    ];
    put_lines(&api, cm.clone(), &reordered);
    tampered(&api, &key, "reordered").await;

    // The whole chain recomputed without the key (edited first): posing as a legacy journal.
    let mut forged = original.clone();
    forged[1] = forged[1].replace("prior-of-b", "prior-of-admin");
    let forged = recompute(&forged, GENESIS_HASH.to_string(), 1);
    put_lines(&api, cm.clone(), &forged);
    let msg = tampered(&api, &key, "recomputed").await;
    assert!(msg.contains("rewritten"), "{msg}");
    let audit = journal(&api, Some(key.clone()))
        .audit_for(&resource())
        .await
        .unwrap();
    assert!(audit.iter().all(|e| e.trust == Trust::Legacy), "no proof");

    // A cut-off end: the head kept in the Secret names entry 4.
    put_lines(&api, cm.clone(), &original[..3]);
    let msg = tampered(&api, &key, "truncated").await;
    assert!(msg.contains("removed from its end"), "{msg}");
    // The whole shard deleted: the same.
    let name = cm["metadata"]["name"].as_str().unwrap().to_string();
    api.delete_object("configmaps", NS, &name);
    let msg = tampered(&api, &key, "shard deleted").await;
    assert!(msg.contains("removed from its end"), "{msg}");
    assert!(
        journal(&api, Some(key.clone()))
            .append(&[record("c", Phase::Intent)])
            .await
            .is_err(),
        "a truncated journal is never extended"
    );

    // Restored as written: intact again.
    let mut back = cm.clone();
    back["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    put_lines(&api, back, &original);
    journal(&api, Some(key.clone())).verify().await.unwrap();

    // An added shard, chained after the last entry but without the key.
    let last: Entry = serde_json::from_str(&original[3]).unwrap();
    let extra_line = serde_json::to_string(&Entry {
        seq: 5,
        ..serde_json::from_str::<Entry>(&original[0]).unwrap()
    })
    .unwrap();
    let extra = recompute(&[extra_line], last.hash.clone(), 5);
    let mut added = cm.clone();
    let obj = added.as_object_mut().unwrap();
    obj["metadata"] = json!({
        "name": format!("{name}-extra"), "namespace": NS,
        "labels": cm["metadata"]["labels"].clone(),
        "annotations": {"cloudidentity.dev/journal-shard": "1"}
    });
    put_lines(&api, added, &extra);
    let msg = tampered(&api, &key, "added shard").await;
    assert!(msg.contains("unkeyed entry after keyed"), "{msg}");
    api.shutdown().await;
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_a_clear_error() {
    let api = FakeApiServer::start().await;
    written(&api).await;
    let other = SecretKey {
        key: JournalKey::from_bytes(&[9; 32]),
        secret: SECRET.into(),
    };
    let err = journal(&api, Some(other)).entries().await.unwrap_err();
    assert!(matches!(err, JournalError::WrongKey { .. }), "{err}");
    let err = journal(&api, None).entries().await.unwrap_err();
    assert!(matches!(err, JournalError::KeyRequired { .. }), "{err}");
    assert!(err.to_string().contains("--journal-key"), "{err}");
    // The key is nowhere in the ConfigMaps.
    let secret = api.get("secrets", NS, SECRET).unwrap();
    let stored = secret["data"]["key"].as_str().unwrap().to_string();
    let cm = shard(&api).to_string();
    assert!(!cm.contains(&stored));
    api.shutdown().await;
}

fn kubeconfig(api: &FakeApiServer) -> std::path::PathBuf {
    let dir = temp_dir("kubeconfig");
    let path = dir.join("config");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: '{}'}}}}]\nusers: [{{name: u, user: {{}}}}]\ncontexts: [{{name: c, context: {{cluster: fake, user: u}}}}]\ncurrent-context: c\n",
            api.url()
        ),
    )
    .unwrap();
    path
}

async fn cli_verify(kubeconfig: &std::path::Path) -> std::process::Output {
    let kubeconfig = kubeconfig.to_path_buf();
    // The server runs on this test's runtime: wait for the CLI on a blocking thread.
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_entra-cloud-operator"))
            .args([
                "journal",
                "verify",
                "--resource",
                "CloudUserConversion/identity/finance-wave",
                "--journal-namespace",
                NS,
                "--journal-key-secret",
                SECRET,
            ])
            .env("KUBECONFIG", &kubeconfig)
            .output()
    })
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn journal_verify_checks_a_cluster_journal_from_the_cli() {
    let api = FakeApiServer::start().await;
    written(&api).await;
    let kc = kubeconfig(&api);
    let out = cli_verify(&kc).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4 entries, keyed chain intact"), "{stdout}");
    assert!(stdout.contains("at entry 4 matches"), "{stdout}");
    // Cut the end off: exit 1, saying why.
    let cm = shard(&api);
    put_lines(&api, cm.clone(), &lines(&cm)[..2]);
    let out = cli_verify(&kc).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("removed from its end"), "{stderr}");
    api.shutdown().await;
}

#[tokio::test]
async fn an_unusable_key_secret_is_a_clear_error_at_start() {
    let api = FakeApiServer::start().await;
    api.put_object(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": SECRET, "namespace": NS},
               "data": {"key": "c2hvcnQ="}}),
    );
    let err = journal_key::load_or_create(&api.client(), NS, SECRET)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("Secret {NS}/{SECRET} data key `key`")),
        "{err}"
    );
    // Refused by RBAC: the error says which rights the operator needs.
    let other = "another-key";
    api.fail_next("GET", other, 403, 1);
    let err = journal_key::load_or_create(&api.client(), NS, other)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs get, create and patch"), "{err}");
    api.shutdown().await;
}
