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

#[test]
fn a_revert_moves_objects_only_within_the_base_dn() {
    let base = "DC=corp,DC=example";
    assert_eq!(
        home_within("CN=Alice,OU=Staff,DC=corp,DC=example", base),
        Ok(Some("OU=Staff,DC=corp,DC=example".into()))
    );
    assert_eq!(
        home_within("CN=Alice,OU=Staff, dc=Corp,DC=Example", base),
        Ok(Some("OU=Staff,dc=Corp,DC=Example".into()))
    );
    // A journaled DN in another domain, or in the configuration partition: refused.
    for dn in [
        "CN=Alice,OU=Staff,DC=evil,DC=example",
        "CN=Alice,CN=Users,DC=corp,DC=example,DC=other",
        "CN=x,CN=Configuration,DC=example",
    ] {
        let why = home_within(dn, base).unwrap_err();
        assert!(why.contains("outside the connection's baseDn"), "{why}");
    }
    assert_eq!(home_within("CN=lonely", base), Ok(None));
}

#[test]
fn moves_out_of_scope_stay_within_a_wave_and_one_sync_cycle() {
    // A wave of 1,000 against Entra Connect's threshold: 400 at most in one cycle.
    assert_eq!(move_budget(1000, 400, 0), 400);
    // 150 already out and not yet soft-deleted: 250 more.
    assert_eq!(move_budget(1000, 400, 150), 250);
    // A small wave is the bound.
    assert_eq!(move_budget(50, 400, 10), 40);
    // Never negative.
    assert_eq!(move_budget(100, 400, 500), 0);
}
