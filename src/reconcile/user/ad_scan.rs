//! What the AD follow-up needs from a resource's journal (the users it converted, the AD
//! changes made to each, the AD changes a stop left open), folded entry by entry and kept by
//! the journal between passes ([`crate::journal::Scan`]): a steady pass reads what is new,
//! and memory holds a few fields per user, not the journal's entries.

use std::collections::BTreeMap;

use crate::ad::anchor;
use crate::guid::IdMap;
use crate::journal::{Action, Entry, Phase, Record};
use crate::reconcile::Context;

/// What the journal says of one user, for the AD steps.
#[derive(Debug, Clone, Default)]
pub struct AdUser {
    /// Its UPN, as the last record of its conversion names it.
    pub upn: Option<Box<str>>,
    /// Converted by this resource: an `Applied` switch, restore or ImmutableID clear.
    pub converted: bool,
    /// The ImmutableID a clear journaled as the prior value (the last one).
    pub immutable_id: Option<Box<str>>,
    /// The objectGUID of the AD object the last move names (forward).
    pub moved_guid: Option<[u8; 16]>,
    /// The phase of the last move out of sync scope (forward).
    pub moved: Option<Phase>,
    /// The phase of the last disable of its AD account.
    pub disabled: Option<Phase>,
}

/// The journal of a user conversion, as the AD follow-up reads it.
#[derive(Debug, Clone, Default)]
pub struct AdScan {
    /// Per Entra user id.
    users: IdMap<AdUser>,
    /// The AD changes (move, disable) whose last record is an intent without an outcome: the
    /// intent, by (user id, action).
    open: BTreeMap<(String, Action), Record>,
}

impl AdScan {
    /// Reads the journal of the pass's resource (what was appended since the last pass, when
    /// the journal kept this scan).
    pub async fn read(ctx: &Context<'_>) -> Result<Self, crate::journal::JournalError> {
        crate::journal::scan(ctx.journal, &ctx.resource).await
    }

    /// Takes in one record, in journal order.
    pub fn visit(&mut self, r: &Record) {
        if r.object_type != "user" {
            return;
        }
        match r.action {
            Action::SwitchToCloud | Action::RestoreUser | Action::ClearImmutableId => {
                if r.action == Action::ClearImmutableId
                    && let Some(prior) = r.prior["onPremisesImmutableId"].as_str()
                {
                    self.users.entry(&r.object_id).immutable_id = Some(prior.into());
                }
                if r.phase == Phase::Applied {
                    let u = self.users.entry(&r.object_id);
                    u.converted = true;
                    u.upn = r.object_name.as_deref().map(Into::into);
                }
            }
            Action::MoveAdObject | Action::DisableAdAccount => {
                let key = (r.object_id.clone(), r.action);
                if r.phase == Phase::Intent {
                    self.open.insert(key, r.clone());
                } else {
                    self.open.remove(&key);
                }
                let u = self.users.entry(&r.object_id);
                if r.action == Action::DisableAdAccount {
                    u.disabled = Some(r.phase);
                } else {
                    u.moved = Some(r.phase);
                    if r.phase == Phase::Intent {
                        u.moved_guid = r.prior["objectGuid"].as_str().and_then(anchor::guid_bytes);
                    }
                }
            }
            _ => {}
        }
    }

    /// What the journal says of user `id`.
    pub fn user(&self, id: &str) -> Option<&AdUser> {
        self.users.get(id)
    }

    /// Every user the journal names for the AD steps, by id.
    pub fn users(&self) -> impl Iterator<Item = (String, &AdUser)> + '_ {
        self.users.iter()
    }

    /// The intents of `action` without an outcome.
    pub fn open(&self, action: Action) -> impl Iterator<Item = &Record> + '_ {
        self.open
            .iter()
            .filter(move |((_, a), _)| *a == action)
            .map(|(_, r)| r)
    }
}

impl crate::journal::Scan for AdScan {
    fn feed(&mut self, e: &Entry) {
        self.visit(&e.record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Object, ResourceKey};
    use serde_json::json;

    fn rec(id: &str, action: Action, phase: Phase, prior: serde_json::Value) -> Record {
        let key = ResourceKey {
            kind: "CloudUserConversion".into(),
            namespace: "identity".into(),
            name: "w".into(),
        };
        let user = Object::user(id, Some(format!("{id}@corp.example")));
        Record::new(&key, "t", user, action, phase, prior)
    }

    #[test]
    fn keeps_per_user_what_the_ad_steps_need_and_only_open_intents() {
        let guid = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0";
        let moved = json!({"distinguishedName": "CN=a,OU=S,DC=corp", "objectGuid": guid, "targetOu": "OU=N,DC=corp"});
        let mut s = AdScan::default();
        for r in [
            rec("a", Action::SwitchToCloud, Phase::Intent, json!({})),
            rec("a", Action::SwitchToCloud, Phase::Applied, json!({})),
            rec(
                "a",
                Action::ClearImmutableId,
                Phase::Intent,
                json!({"onPremisesImmutableId": "abc="}),
            ),
            rec("a", Action::MoveAdObject, Phase::Intent, moved.clone()),
            rec("a", Action::MoveAdObject, Phase::Applied, moved.clone()),
            rec("b", Action::SwitchToCloud, Phase::Failed, json!({})),
            rec("b", Action::DisableAdAccount, Phase::Intent, json!({})),
            rec("c", Action::MoveAdObject, Phase::Intent, moved.clone()),
            rec("c", Action::MoveAdObject, Phase::Failed, moved),
        ] {
            s.visit(&r);
        }
        let a = s.user("a").cloned().unwrap_or_default();
        assert!(a.converted);
        assert_eq!(a.upn.as_deref(), Some("a@corp.example"));
        assert_eq!(a.immutable_id.as_deref(), Some("abc="));
        assert_eq!(a.moved, Some(Phase::Applied));
        assert_eq!(a.moved_guid, anchor::guid_bytes(guid));
        let b = s.user("b").cloned().unwrap_or_default();
        assert!(!b.converted, "a failed switch is not a conversion");
        assert_eq!(b.disabled, Some(Phase::Intent));
        assert_eq!(
            s.user("c").and_then(|c| c.moved),
            Some(Phase::Failed),
            "the last phase wins"
        );
        let open: Vec<&str> = s
            .open(Action::DisableAdAccount)
            .map(|r| r.object_id.as_str())
            .collect();
        assert_eq!(open, ["b"]);
        assert_eq!(
            s.open(Action::MoveAdObject).count(),
            0,
            "c's intent has an outcome"
        );
        assert_eq!(s.users().count(), 3);
    }
}
