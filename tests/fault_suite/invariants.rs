//! What must hold after the soak, from the emulator's state and the journal (see the
//! definitions in `fault_suite.rs`), and the summary printed at the end.

use std::collections::BTreeMap;

use entra_cloud_operator::journal::{Action, Entry, Phase};
use serde_json::Value;

use super::scenario::{Outcome, upn};

const STEPS: [Action; 2] = [Action::SwitchToCloud, Action::ClearImmutableId];

/// The counts the summary prints and the test asserts on.
#[derive(Debug, Default)]
pub struct Summary {
    pub objects: usize,
    pub selected: usize,
    pub excluded: usize,
    pub untouched: usize,
    pub kills: usize,
    pub faults: BTreeMap<String, u64>,
    pub token_faults: u64,
    pub journal_entries: usize,
    pub read_back: usize,
    /// SOA PATCHes beyond the one that switched each user: idempotent repeats of a request
    /// whose answer was lost (a reset after applying, a re-sent batch).
    pub repeated_soa_writes: u64,
    pub lost: usize,
    pub duplicates: usize,
    /// Every broken rule, the first few named.
    pub violations: Vec<String>,
}

impl Summary {
    fn violation(&mut self, v: String) {
        self.violations.push(v);
    }
}

/// Checks everything; `violations` lists what failed.
pub async fn check(o: &Outcome) -> Summary {
    let mut s = Summary {
        kills: o.kills.len(),
        ..Summary::default()
    };
    let after: BTreeMap<String, Value> = o
        .emu
        .users()
        .await
        .into_iter()
        .map(|u| (u["id"].as_str().unwrap_or_default().to_string(), u))
        .collect();
    let entries = entra_cloud_operator::journal::FileJournal::read(
        &o.journal,
        Some(
            &entra_cloud_operator::journal::default_key(std::path::Path::new(&&o.journal)).unwrap(),
        ),
    )
    .unwrap();
    s.journal_entries = entries.len();
    s.read_back = entries.iter().filter(|e| e.record.note.is_some()).count();
    let mut by_object: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in &entries {
        by_object
            .entry(e.record.object_id.as_str())
            .or_default()
            .push(e);
    }
    let faults = o.emu.get("faults").await;
    if let Some(m) = faults["injected"].as_object() {
        s.faults = m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect();
    }
    let state = o.emu.get("state").await;
    s.token_faults = state["tokens"]["faulted"].as_u64().unwrap_or(0);

    // The truth: who the selector matches and who of them is excluded, from the emulator.
    let domains = ["@contoso.com", "@contoso.onmicrosoft.com"];
    let mut truth = Truth::default();
    s.objects = o.before.len();
    for u in &o.before {
        let id = u["id"].as_str().unwrap_or_default();
        let name = upn(u);
        let matched = domains.iter().any(|d| name.ends_with(d));
        let excluded = u["kind"] == "syncServiceAccount"
            || o.excluded_upns.contains(&name)
            || o.excluded_group_members.contains(id);
        let Some(now) = after.get(id) else {
            s.violation(format!("{name}: gone from the tenant"));
            continue;
        };
        let records = by_object.remove(id).unwrap_or_default();
        if matched {
            truth.matched += 1;
        }
        if matched && excluded {
            truth.excluded += 1;
        }
        if matched && !excluded && u["kind"] == "synced" {
            s.selected += 1;
            let (lost, duplicate) = selected_user(&mut s, &name, u, now, &records);
            s.lost += usize::from(lost);
            s.duplicates += usize::from(duplicate);
        } else {
            if matched && !excluded {
                truth.skipped += 1;
            } else if excluded {
                s.excluded += 1;
            } else {
                s.untouched += 1;
            }
            untouched_user(&mut s, &name, u, now, &records);
        }
    }
    for (id, records) in by_object {
        s.violation(format!(
            "{} journal records name {id}, which is not a user",
            records.len()
        ));
    }
    truth.converted = s.selected as i64;
    status_counts(&mut s, &o.resource, &truth);
    let accepted = state["writes"]["accepted"].as_u64().unwrap_or(0);
    let on_users: u64 = after
        .values()
        .map(|u| u["writes"].as_u64().unwrap_or(0))
        .sum();
    if accepted != on_users {
        s.violation(format!(
            "{accepted} writes accepted, {on_users} of them on users: something else was written"
        ));
    }
    s
}

#[derive(Default)]
struct Truth {
    matched: i64,
    excluded: i64,
    skipped: i64,
    converted: i64,
}

/// A selected user: converted exactly once, its prior ImmutableID recoverable. Returns (lost,
/// duplicate).
fn selected_user(
    s: &mut Summary,
    name: &str,
    before: &Value,
    now: &Value,
    records: &[&Entry],
) -> (bool, bool) {
    let mut lost = false;
    let mut duplicate = false;
    if now["isCloudManaged"] != true
        || now["onPremisesSyncEnabled"] == true
        || !now["onPremisesImmutableId"].is_null()
    {
        s.violation(format!("{name}: not converted: {now}"));
        lost = true;
    }
    let counts = &now["writeCounts"];
    let changes = counts["soaChanges"].as_u64().unwrap_or(0);
    if changes != 1 {
        s.violation(format!(
            "{name}: {changes} Source of Authority state changes, not exactly one"
        ));
        duplicate = true;
    }
    s.repeated_soa_writes += counts["soa"].as_u64().unwrap_or(0).saturating_sub(1);
    for step in STEPS {
        let mine: Vec<&Entry> = records
            .iter()
            .copied()
            .filter(|e| e.record.action == step)
            .collect();
        if let Err(v) = paired(&mine) {
            s.violation(format!("{name} {step:?}: {v}"));
        }
        let applied: Vec<&&Entry> = mine
            .iter()
            .filter(|e| e.record.phase == Phase::Applied)
            .collect();
        match applied.len() {
            1 => {}
            0 => {
                s.violation(format!("{name} {step:?}: no Applied record"));
                lost = true;
            }
            n => {
                s.violation(format!("{name} {step:?}: {n} Applied records"));
                duplicate = true;
            }
        }
        if mine
            .last()
            .is_some_and(|e| e.record.phase != Phase::Applied)
        {
            s.violation(format!("{name} {step:?}: the last record is not Applied"));
        }
        if step == Action::ClearImmutableId {
            // The prior value, where a revert looks for it: in the Applied record (and every
            // intent carried it too).
            let prior = &before["onPremisesImmutableId"];
            let kept = applied
                .first()
                .is_some_and(|e| &e.record.prior["onPremisesImmutableId"] == prior)
                && mine
                    .iter()
                    .all(|e| &e.record.prior["onPremisesImmutableId"] == prior);
            if prior.is_null() || !kept {
                s.violation(format!(
                    "{name}: prior ImmutableID {prior} not recoverable from the journal"
                ));
                lost = true;
            }
        }
    }
    if records.iter().any(|e| !STEPS.contains(&e.record.action)) {
        s.violation(format!("{name}: journal records of another action"));
    }
    (lost, duplicate)
}

/// Intent, outcome, intent, outcome…: every intent closed by exactly one outcome, no outcome
/// without an intent; a `Failed` answer may be corrected by a read-back `Applied` (with a note).
pub fn paired(records: &[&Entry]) -> Result<(), String> {
    let mut open = false;
    let mut last_failed = false;
    for e in records {
        let r = &e.record;
        match (r.phase, open) {
            (Phase::Intent, false) => open = true,
            (Phase::Intent, true) => return Err(format!("entry {}: a second intent", e.seq)),
            (_, true) => open = false,
            (Phase::Applied, false) if last_failed && r.note.is_some() => {}
            (_, false) => return Err(format!("entry {}: an outcome without intent", e.seq)),
        }
        last_failed = r.phase == Phase::Failed;
    }
    if open {
        return Err("an intent without outcome".into());
    }
    Ok(())
}

/// Excluded, skipped or outside the selector: never written, never journaled, as before.
fn untouched_user(s: &mut Summary, name: &str, before: &Value, now: &Value, records: &[&Entry]) {
    if now["writes"] != 0 {
        s.violation(format!(
            "{name} ({}): written: {}",
            before["kind"], now["writeCounts"]
        ));
    }
    if !records.is_empty() {
        s.violation(format!(
            "{name} ({}): {} journal records",
            before["kind"],
            records.len()
        ));
    }
    for k in [
        "isCloudManaged",
        "onPremisesImmutableId",
        "onPremisesSyncEnabled",
    ] {
        if before[k] != now[k] {
            s.violation(format!(
                "{name}: {k} changed from {} to {}",
                before[k], now[k]
            ));
        }
    }
}

/// The resource's status counts against the truth.
fn status_counts(s: &mut Summary, resource: &Value, truth: &Truth) {
    let st = &resource["status"];
    let want = [
        ("matched", truth.matched),
        ("converted", truth.converted),
        ("excluded", truth.excluded),
        ("skipped", truth.skipped),
        ("pending", 0),
        ("failed", 0),
    ];
    for (field, value) in want {
        let got = st[field].as_i64().unwrap_or(-1);
        if got != value {
            s.violation(format!("status.{field} is {got}, the truth is {value}"));
        }
    }
    let ready = st["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True" && c["reason"] == "Converted");
    if !ready {
        s.violation(format!("not Ready/Converted: {}", st["conditions"]));
    }
}
