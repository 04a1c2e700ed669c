//! Tests of the file journal: chain, head file, torn and unterminated tails, tampering.
#![allow(clippy::unwrap_used)]
use super::super::{Action, JournalKey, Phase, ResourceKey, Trust};
use super::*;

fn key() -> JournalKey {
    JournalKey::from_bytes(&[42; 32])
}

fn rec(id: &str, phase: Phase) -> Record {
    Record {
        resource: ResourceKey {
            kind: "TenantSyncPolicy".into(),
            namespace: "identity".into(),
            name: "contoso".into(),
        },
        tenant_id: "t".into(),
        object_type: "user".into(),
        object_id: id.into(),
        object_name: Some(format!("{id}@contoso.com")),
        action: Action::ClearImmutableId,
        phase,
        prior: serde_json::json!({"onPremisesImmutableId": "nofCJe0gZk6D8J4gRgrt+A=="}),
        request_id: None,
        error: None,
        note: None,
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "eco-journal-{}-{name}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("journal.jsonl")
}

#[test]
fn appends_chain_and_survive_reopen() {
    let p = temp("reopen");
    let j = FileJournal::open(&p, key()).unwrap();
    j.append_now(&[rec("a", Phase::Intent), rec("b", Phase::Intent)])
        .unwrap();
    drop(j);
    let j = FileJournal::open(&p, key()).unwrap();
    j.append_now(&[rec("a", Phase::Applied)]).unwrap();
    let entries = FileJournal::read(&p, Some(&key())).unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2].seq, 3);
    assert_eq!(entries[2].prev_hash, entries[1].hash);
    assert_eq!(
        entries[0].record.prior["onPremisesImmutableId"],
        "nofCJe0gZk6D8J4gRgrt+A=="
    );
    let report = FileJournal::verify(&p, Some(&key())).unwrap();
    assert_eq!(report.entries, 3);
    assert_eq!(report.head, entries[2].hash);
}

#[tokio::test]
async fn applied_objects_reads_only_what_it_keeps() {
    let p = temp("applied");
    let j = FileJournal::open(&p, key()).unwrap();
    let mut other = rec("c", Phase::Applied);
    other.resource.name = "fabrikam".into();
    let mut switched = rec("d", Phase::Applied);
    switched.action = Action::SwitchToCloud;
    j.append_now(&[
        rec("a", Phase::Intent),
        rec("a", Phase::Applied),
        rec("b", Phase::Failed),
        other,
        switched,
    ])
    .unwrap();
    let key = rec("a", Phase::Intent).resource;
    let ids = super::super::applied_objects(&j, &key, Action::ClearImmutableId)
        .await
        .unwrap();
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), vec!["a".to_string()]);
    let mut seen = 0;
    j.visit_for(&key, &mut |_| seen += 1).await.unwrap();
    assert_eq!(seen, 4);
}

#[test]
fn tampering_is_detected() {
    let p = temp("tamper");
    let j = FileJournal::open(&p, key()).unwrap();
    j.append_now(&[
        rec("a", Phase::Intent),
        rec("b", Phase::Intent),
        rec("c", Phase::Intent),
    ])
    .unwrap();
    drop(j);
    let text = std::fs::read_to_string(&p).unwrap();
    // Change a prior value.
    std::fs::write(
        &p,
        text.replacen("nofCJe0gZk6D8J4gRgrt+A==", "AAAAAAAAAAAAAAAAAAAAAA==", 1),
    )
    .unwrap();
    let err = FileJournal::verify(&p, Some(&key())).unwrap_err();
    assert!(
        matches!(err, JournalError::Tampered { seq: 1, .. }),
        "{err}"
    );
    // Remove an entry.
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&p, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    assert!(matches!(
        FileJournal::verify(&p, Some(&key())).unwrap_err(),
        JournalError::Tampered { seq: 3, .. }
    ));
    // A tampered journal is not extended.
    assert!(FileJournal::open(&p, key()).is_err());
}

#[test]
fn a_torn_final_line_is_dropped_on_open_and_reported_by_verify() {
    let p = temp("torn");
    let j = FileJournal::open(&p, key()).unwrap();
    j.append_now(&[rec("a", Phase::Intent), rec("b", Phase::Intent)])
        .unwrap();
    drop(j);
    let whole = std::fs::read(&p).unwrap();
    // A crash in the middle of the next append: half a line, no newline.
    let mut torn = whole.clone();
    torn.extend_from_slice(&whole[..whole.len() / 3]);
    std::fs::write(&p, &torn).unwrap();
    let report = FileJournal::verify(&p, Some(&key())).unwrap();
    assert_eq!((report.entries, report.torn_tail), (2, Some(3)));
    assert_eq!(FileJournal::read(&p, Some(&key())).unwrap().len(), 2);
    let j = FileJournal::open(&p, key()).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), whole, "the torn tail is gone");
    j.append_now(&[rec("a", Phase::Applied)]).unwrap();
    let report = FileJournal::verify(&p, Some(&key())).unwrap();
    assert_eq!((report.entries, report.torn_tail), (3, None));
}

#[test]
fn a_flipped_byte_is_reported_with_its_line() {
    let p = temp("flip");
    let j = FileJournal::open(&p, key()).unwrap();
    j.append_now(&[
        rec("a", Phase::Intent),
        rec("b", Phase::Intent),
        rec("c", Phase::Intent),
    ])
    .unwrap();
    drop(j);
    let text = std::fs::read_to_string(&p).unwrap();
    // In line 2, inside the object id "b": still JSON, but not what was hashed.
    let at = text.find("\"objectId\":\"b\"").unwrap() + "\"objectId\":\"".len();
    let mut bytes = text.into_bytes();
    bytes[at] ^= 0x01;
    std::fs::write(&p, &bytes).unwrap();
    let err = FileJournal::verify(&p, Some(&key())).unwrap_err();
    assert!(
        matches!(
            err,
            JournalError::Tampered {
                line: 2,
                seq: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn garbage_lines_are_reported_with_their_line() {
    let p = temp("garbage");
    std::fs::write(&p, "not json\n").unwrap();
    let err = FileJournal::verify(&p, Some(&key())).unwrap_err();
    assert!(
        matches!(err, JournalError::Corrupt { line: 1, .. }),
        "{err}"
    );
}

fn three(name: &str) -> (PathBuf, String) {
    let p = temp(name);
    let j = FileJournal::open(&p, key()).unwrap();
    j.append_now(&[
        rec("a", Phase::Intent),
        rec("b", Phase::Intent),
        rec("c", Phase::Intent),
    ])
    .unwrap();
    (p.clone(), std::fs::read_to_string(&p).unwrap())
}

fn tampered(p: &Path) -> String {
    match FileJournal::verify(p, Some(&key())) {
        Err(e @ JournalError::Tampered { .. }) => e.to_string(),
        other => panic!("expected Tampered, got {other:?}"),
    }
}

/// Entries as journals wrote them before keys: plain SHA-256 links, no `keyId`.
fn legacy_lines(ids: &[&str]) -> String {
    let mut prev = GENESIS_HASH.to_string();
    let mut out = String::new();
    for (i, id) in ids.iter().enumerate() {
        let mut e = Entry {
            seq: i as u64 + 1,
            time: "2026-01-01T00:00:00Z".into(),
            record: rec(id, Phase::Intent),
            prev_hash: prev.clone(),
            key_id: None,
            hash: String::new(),
            trust: Trust::Unchecked,
        };
        e.hash = super::super::chain_hash(&prev, &serde_json::to_vec(&e).unwrap());
        prev = e.hash.clone();
        out.push_str(&serde_json::to_string(&e).unwrap());
        out.push('\n');
    }
    out
}

#[test]
fn entries_are_keyed_and_the_key_is_not_in_the_journal() {
    let (p, text) = three("keyed");
    let entries = FileJournal::read(&p, Some(&key())).unwrap();
    assert!(entries.iter().all(|e| e.trust == Trust::Proven));
    assert!(
        entries
            .iter()
            .all(|e| e.key_id.as_deref() == Some(key().id()))
    );
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [42u8; 32]);
    assert!(!text.contains(&b64));
    let head = std::fs::read_to_string(head_path(&p)).unwrap();
    assert!(head.contains(&entries[2].hash), "{head}");
    assert_eq!(
        FileJournal::verify(&p, Some(&key())).unwrap().head_kept,
        Some(3)
    );
}

#[test]
fn a_chain_recomputed_without_the_key_is_detected() {
    let (p, text) = three("recomputed");
    // Rewrite entry 2's prior value and recompute every link with plain SHA-256, as whoever
    // can write the file but has no key would.
    let edited = text.replacen("nofCJe0gZk6D8J4gRgrt+A==", "AAAAAAAAAAAAAAAAAAAAAA==", 2);
    let mut prev = GENESIS_HASH.to_string();
    let mut out = String::new();
    for line in edited.lines() {
        let mut e: Entry = serde_json::from_str(line).unwrap();
        e.prev_hash = prev.clone();
        e.hash.clear();
        e.hash = super::super::chain_hash(&prev, &serde_json::to_vec(&e).unwrap());
        prev = e.hash.clone();
        out.push_str(&serde_json::to_string(&e).unwrap());
        out.push('\n');
    }
    std::fs::write(&p, &out).unwrap();
    let msg = tampered(&p);
    assert!(
        msg.contains("entry 1") && msg.contains("journal key"),
        "{msg}"
    );
    // Posing as a legacy journal (no keyId, plain SHA-256 links) does not help: the head
    // kept in `.head` is sealed with the key and names an entry that is no longer there.
    std::fs::write(&p, legacy_lines(&["a", "x", "c"])).unwrap();
    let msg = tampered(&p);
    assert!(msg.contains("rewritten"), "{msg}");
    // A chain made with another key is refused as such.
    let other = JournalKey::from_bytes(&[7; 32]);
    let q = temp("otherkey");
    FileJournal::open(&q, other)
        .unwrap()
        .append_now(&[rec("a", Phase::Intent)])
        .unwrap();
    let err = FileJournal::verify(&q, Some(&key())).unwrap_err();
    assert!(matches!(err, JournalError::WrongKey { .. }), "{err}");
    assert!(FileJournal::open(&q, key()).is_err());
    let err = FileJournal::verify(&q, None).unwrap_err();
    assert!(matches!(err, JournalError::KeyRequired { .. }), "{err}");
}

#[test]
fn reordered_entries_are_detected() {
    let (p, text) = three("reorder");
    let l: Vec<&str> = text.lines().collect();
    std::fs::write(&p, format!("{}\n{}\n{}\n", l[0], l[2], l[1])).unwrap();
    let msg = tampered(&p);
    assert!(msg.contains("line 2"), "{msg}");
}

#[test]
fn a_truncated_end_is_detected_by_the_head_file() {
    let (p, text) = three("truncate");
    let l: Vec<&str> = text.lines().collect();
    std::fs::write(&p, format!("{}\n{}\n", l[0], l[1])).unwrap();
    let msg = tampered(&p);
    assert!(msg.contains("removed from its end"), "{msg}");
    assert!(FileJournal::open(&p, key()).is_err(), "never extended");
    // Deleting the head file too is seen as well.
    std::fs::remove_file(head_path(&p)).unwrap();
    let msg = tampered(&p);
    assert!(msg.contains("missing"), "{msg}");
    // A forged head (not sealed with the key) is refused.
    let forged = Head {
        seq: 2,
        link: FileJournal::read(&p, Some(&key())).unwrap()[1].hash.clone(),
        mac: "00".repeat(32),
    };
    std::fs::write(head_path(&p), serde_json::to_vec(&forged).unwrap()).unwrap();
    let msg = tampered(&p);
    assert!(msg.contains("not sealed"), "{msg}");
}

#[test]
fn a_deleted_final_newline_keeps_the_entry() {
    let (p, text) = three("newline");
    std::fs::write(&p, text.trim_end_matches('\n')).unwrap();
    let report = FileJournal::verify(&p, Some(&key())).unwrap();
    assert_eq!(
        (report.entries, report.unterminated, report.torn_tail),
        (3, Some(3), None)
    );
    let j = FileJournal::open(&p, key()).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        text,
        "newline restored"
    );
    j.append_now(&[rec("d", Phase::Intent)]).unwrap();
    assert_eq!(FileJournal::verify(&p, Some(&key())).unwrap().entries, 4);
}

#[tokio::test]
async fn a_tampered_entry_is_marked_for_audit_and_refused_by_strict_reads() {
    let (p, text) = three("audit");
    let j = FileJournal::open(&p, key()).unwrap();
    let at = text.find("\"objectId\":\"b\"").unwrap() + "\"objectId\":\"".len();
    let mut bytes = text.into_bytes();
    bytes[at] = b'x';
    std::fs::write(&p, &bytes).unwrap();
    let resource = rec("a", Phase::Intent).resource;
    assert!(j.entries_for(&resource).await.is_err());
    let audit = j.audit_for(&resource).await.unwrap();
    let trust: Vec<bool> = audit.iter().map(|e| e.trust.is_proven()).collect();
    assert_eq!(
        trust,
        vec![true, false, true],
        "only the edited entry is broken"
    );
}

#[test]
fn legacy_journals_read_as_legacy_and_continue_keyed() {
    let p = temp("legacy");
    std::fs::write(&p, legacy_lines(&["a", "b"])).unwrap();
    let report = FileJournal::verify(&p, None).unwrap();
    assert_eq!(
        (report.entries, report.legacy, report.head_kept),
        (2, 2, None)
    );
    // No key file yet and no keyed entry: the key is created and the journal continues.
    let key_file = key_path(&p, None);
    let k = load_key(&p, &key_file, true).unwrap().unwrap();
    let j = FileJournal::open(&p, k.clone()).unwrap();
    j.append_now(&[rec("c", Phase::Intent)]).unwrap();
    let entries = FileJournal::read(&p, Some(&k)).unwrap();
    let trust: Vec<Trust> = entries.iter().map(|e| e.trust.clone()).collect();
    assert_eq!(trust, vec![Trust::Legacy, Trust::Legacy, Trust::Proven]);
    let report = FileJournal::verify(&p, Some(&k)).unwrap();
    assert_eq!(
        (report.entries, report.legacy, report.head_kept),
        (3, 2, Some(3))
    );
    // The key file deleted: a clear error, not a new key.
    std::fs::remove_file(&key_file).unwrap();
    let err = load_key(&p, &key_file, true).unwrap_err();
    assert!(matches!(err, JournalError::KeyRequired { .. }), "{err}");
    assert!(err.to_string().contains("key file"), "{err}");
    // An unkeyed entry after keyed ones is a downgrade.
    let mut text = std::fs::read_to_string(&p).unwrap();
    let last: Entry = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let mut e = Entry {
        seq: 4,
        time: last.time.clone(),
        record: rec("d", Phase::Intent),
        prev_hash: last.hash.clone(),
        key_id: None,
        hash: String::new(),
        trust: Trust::Unchecked,
    };
    e.hash = super::super::chain_hash(&e.prev_hash, &serde_json::to_vec(&e).unwrap());
    text.push_str(&serde_json::to_string(&e).unwrap());
    text.push('\n');
    std::fs::write(&p, text).unwrap();
    let err = FileJournal::verify(&p, Some(&k)).unwrap_err();
    assert!(
        err.to_string().contains("unkeyed entry after keyed"),
        "{err}"
    );
}
