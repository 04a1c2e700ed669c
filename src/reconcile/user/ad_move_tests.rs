#![allow(clippy::unwrap_used)]

use super::*;

fn entry(seq: u64, id: &str, action: Action, phase: Phase) -> Entry {
    let key = ResourceKey {
        kind: "CloudUserConversion".into(),
        namespace: "identity".into(),
        name: "w".into(),
    };
    let from = format!("CN={id},OU=Synced,DC=corp");
    let record = record(
        &key,
        "t",
        (id, Some("u@corp.example")),
        action,
        phase,
        (&from, &[seq as u8; 16], "OU=NotSynced,DC=corp"),
    );
    Entry {
        seq,
        time: String::new(),
        record,
        prev_hash: String::new(),
        hash: String::new(),
        key_id: None,
        trust: crate::journal::Trust::Proven,
    }
}

#[test]
fn the_last_move_of_each_user_wins_and_keeps_its_intent() {
    let entries = vec![
        entry(1, "a", Action::MoveAdObject, Phase::Intent),
        entry(2, "a", Action::MoveAdObject, Phase::Applied),
        entry(3, "b", Action::MoveAdObject, Phase::Intent),
        entry(4, "c", Action::MoveAdObject, Phase::Intent),
        entry(5, "c", Action::MoveAdObject, Phase::Failed),
        entry(6, "a", Action::MoveAdObjectBack, Phase::Intent),
    ];
    let last = last_of(&entries, Action::MoveAdObject);
    assert_eq!(last["a"].phase, Phase::Applied);
    assert_eq!(
        last["b"].phase,
        Phase::Intent,
        "no outcome: settled by reading back"
    );
    assert_eq!(last["c"].phase, Phase::Failed);
    let prior = &last["a"].intent.prior;
    assert_eq!(prior["distinguishedName"], "CN=a,OU=Synced,DC=corp");
    assert_eq!(prior["targetOu"], "OU=NotSynced,DC=corp");
    assert_eq!(
        prior["objectGuid"].as_str().and_then(anchor::guid_bytes),
        Some([1u8; 16])
    );
    assert_eq!(last_of(&entries, Action::MoveAdObjectBack).len(), 1);
}
