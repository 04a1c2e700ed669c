//! What a revert may rely on: only entries the journal key proves. An object any of whose
//! entries does not verify (edited, inserted, reordered, chained without the key) or was
//! written before journals were keyed is refused, with the reason, and nothing is written
//! for it; the other objects are undone.

use std::collections::BTreeMap;

use crate::journal::{Entry, Trust};

/// The objects a revert refuses (Entra id → why), and the entries of the others.
pub fn split(entries: Vec<Entry>) -> (Vec<Entry>, Refusals) {
    let mut refused = Refusals::default();
    for e in &entries {
        let why = match &e.trust {
            Trust::Proven => continue,
            Trust::Legacy => format!(
                "journal entry {} was written before journals were keyed and proves nothing",
                e.seq
            ),
            Trust::Broken(detail) => {
                format!("journal entry {} does not verify ({detail})", e.seq)
            }
            Trust::Unchecked => format!("journal entry {} was not verified", e.seq),
        };
        let name = e
            .record
            .object_name
            .clone()
            .unwrap_or_else(|| e.record.object_id.clone());
        refused
            .0
            .entry(e.record.object_id.clone())
            .or_insert((name, why));
    }
    let kept = entries
        .into_iter()
        .filter(|e| !refused.0.contains_key(&e.record.object_id))
        .collect();
    (kept, refused)
}

/// Objects a revert refused: Entra id → (name, reason).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refusals(pub BTreeMap<String, (String, String)>);

impl Refusals {
    /// Refuse `id` (named `name`) because of `why` (the first reason is kept).
    pub fn refuse(&mut self, id: &str, name: &str, why: String) {
        self.0
            .entry(id.to_string())
            .or_insert((name.to_string(), why));
    }

    /// Whether `id` is refused.
    pub fn contains(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    /// Add `other`'s refusals.
    pub fn extend(&mut self, other: Refusals) {
        for (id, v) in other.0 {
            self.0.entry(id).or_insert(v);
        }
    }

    /// The message of a revert that refused these objects, `None` when it refused none.
    pub fn message(&self) -> Option<String> {
        let (name, why) = self.0.values().next()?;
        Some(format!(
            "{} objects refused by the revert, nothing written for them (first: {name}: {why}); check them and undo them by hand from `journal export`, then remove the finalizer",
            self.0.len()
        ))
    }
}

/// One change a revert would make to one object, in the order it makes them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoStep {
    /// The Entra object id.
    pub id: String,
    /// Its UPN or display name as journaled (the id when none was).
    pub name: String,
    /// The change, in words, e.g. `switch back to AD (isCloudManaged=false)`.
    pub action: String,
}

/// What a revert would do, computed from the journal (and reads only) by the same code the
/// revert then runs: its steps, and the objects it refuses.
#[derive(Clone, Debug, Default)]
pub struct RevertPlan {
    /// The changes, in order.
    pub steps: Vec<UndoStep>,
    /// The objects left as they are, with why.
    pub refused: Refusals,
}

impl RevertPlan {
    /// Add a step for `id` (named `name` in the journal, if at all).
    pub fn step(&mut self, id: &str, name: Option<&str>, action: impl Into<String>) {
        self.steps.push(UndoStep {
            id: id.to_string(),
            name: name.unwrap_or(id).to_string(),
            action: action.into(),
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::journal::{Action, Object, Phase, Record, ResourceKey};

    fn entry(seq: u64, id: &str, trust: Trust) -> Entry {
        let key = ResourceKey {
            kind: "CloudUserConversion".into(),
            namespace: "identity".into(),
            name: "w".into(),
        };
        Entry {
            seq,
            time: String::new(),
            record: Record::new(
                &key,
                "t",
                Object::user(id, Some(format!("{id}@contoso.com"))),
                Action::SwitchToCloud,
                Phase::Applied,
                serde_json::Value::Null,
            ),
            prev_hash: String::new(),
            key_id: None,
            hash: String::new(),
            trust,
        }
    }

    #[test]
    fn an_object_with_any_unproven_entry_is_refused_alone() {
        let (kept, refused) = split(vec![
            entry(1, "a", Trust::Proven),
            entry(2, "b", Trust::Proven),
            entry(3, "b", Trust::Broken("edited".into())),
            entry(4, "c", Trust::Legacy),
        ]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].record.object_id, "a");
        assert!(refused.contains("b") && refused.contains("c"));
        let m = refused.message().unwrap();
        assert!(m.starts_with("2 objects refused"), "{m}");
        assert!(
            m.contains("b@contoso.com: journal entry 3 does not verify (edited)"),
            "{m}"
        );
        assert_eq!(Refusals::default().message(), None);
    }
}
