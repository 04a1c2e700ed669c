//! The selected users' direct group memberships (`GET /users/{id}/memberOf`, graph-api.md §5,
//! §14). With `RestoreDeleted`, a user whose AD object leaves sync scope is soft-deleted and
//! "loses its memberships in synchronised groups (they are AD-mastered); restore brings back
//! the object, not those": each user's memberships are recorded in the journal
//! ([`Action::RecordMemberships`]) before its AD object moves, reported as what it loses, and
//! its cloud-group memberships are read back after the restore. With `SourceOfAuthority`,
//! Microsoft advises converting groups before their members: the next wave's users that are
//! members of synchronised groups are reported.
//!
//! The read needs `GroupMember.Read.All` (any permission that reads members), which no flow
//! requires: refused, the memberships are "not verified" and said so, nothing stops.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::api::user::MembershipsLost;
use crate::graph::{GraphClient, GraphError};
use crate::guid::IdSet;
use crate::journal::{Action, Object, Phase, Record};
use crate::reconcile::Context;
use crate::reconcile::rollout::consistency::read_back;

use super::select::Candidate;

/// A group, by id and display name.
pub type GroupRef = (String, String);

/// One user's direct group memberships, split by who masters the group.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Memberships {
    /// Groups Entra Connect synchronises (AD-mastered).
    pub synced: Vec<GroupRef>,
    /// Every other group (cloud groups, and synchronised groups converted to the cloud).
    pub cloud: Vec<GroupRef>,
}

fn refs(v: &Value) -> Vec<GroupRef> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| {
            let id = g["id"].as_str()?;
            Some((id.to_string(), g["name"].as_str().unwrap_or(id).to_string()))
        })
        .collect()
}

fn json_refs(list: &[GroupRef]) -> Value {
    Value::Array(
        list.iter()
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect(),
    )
}

impl Memberships {
    /// From the groups `memberOf` listed.
    pub fn from_groups(groups: Vec<crate::graph::groups::GroupDetail>) -> Self {
        let mut out = Memberships::default();
        for g in groups {
            let r = (g.id.clone(), g.name());
            if g.is_synced() {
                out.synced.push(r);
            } else {
                out.cloud.push(r);
            }
        }
        out
    }

    /// As a journal record's `prior`.
    pub fn to_prior(&self) -> Value {
        json!({"synced": json_refs(&self.synced), "cloud": json_refs(&self.cloud)})
    }

    /// From a journal record's `prior`.
    pub fn from_prior(prior: &Value) -> Self {
        Memberships {
            synced: refs(&prior["synced"]),
            cloud: refs(&prior["cloud"]),
        }
    }
}

/// How a read of memberships went.
#[derive(Debug)]
pub enum Read {
    /// Each user read (a user Graph no longer finds is left out).
    Done(BTreeMap<String, Memberships>),
    /// Graph refused the read (403): the permission is optional, so this is "not verified".
    Refused(GraphError),
}

/// Reads the memberships of `ids`, `in_flight` users at a time. A 403 is [`Read::Refused`];
/// other errors (the client retried what is retryable) end the read.
pub async fn read(
    graph: &GraphClient,
    ids: &[String],
    in_flight: usize,
) -> Result<Read, GraphError> {
    let answers: Vec<(String, Result<Vec<_>, GraphError>)> = futures::stream::iter(ids.to_vec())
        .map(|id| async move {
            let r = graph.user_groups(&id).await;
            (id, r)
        })
        .buffered(in_flight.max(1))
        .collect()
        .await;
    let mut out = BTreeMap::new();
    for (id, answer) in answers {
        match answer {
            Ok(groups) => {
                out.insert(id, Memberships::from_groups(groups));
            }
            Err(GraphError::Api { status: 404, .. }) => {}
            Err(e @ GraphError::Api { status: 403, .. }) => return Ok(Read::Refused(e)),
            Err(e) => return Err(e),
        }
    }
    Ok(Read::Done(out))
}

/// What the journal recorded, gathered record by record.
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    /// Users whose memberships are recorded.
    pub users: IdSet,
    /// Of those, users in at least one synchronised group.
    pub in_synced: i64,
    synced_memberships: i64,
    synced_groups: BTreeMap<String, String>,
    /// The cloud-group memberships of recorded users not restored yet (read back after the
    /// restore).
    pub cloud: BTreeMap<String, Vec<GroupRef>>,
}

impl Recorded {
    /// Takes in one record, in journal order.
    pub fn visit(&mut self, r: &Record) {
        if r.object_type != "user" || r.phase != Phase::Applied {
            return;
        }
        match r.action {
            Action::RecordMemberships if !self.users.contains(&r.object_id) => {
                self.add(&r.object_id, Memberships::from_prior(&r.prior));
            }
            Action::RestoreUser => {
                self.cloud.remove(&r.object_id);
            }
            _ => {}
        }
    }

    /// Adds what was read of `id` (recorded now, or read for a plan).
    pub fn add(&mut self, id: &str, m: Memberships) {
        self.users.insert(id);
        self.in_synced += i64::from(!m.synced.is_empty());
        self.synced_memberships += m.synced.len() as i64;
        for (gid, name) in m.synced {
            self.synced_groups.insert(gid, name);
        }
        if !m.cloud.is_empty() {
            self.cloud.insert(id.to_string(), m.cloud);
        }
    }

    /// Some of the synchronised groups, by name (at most `n`).
    pub fn synced_examples(&self, n: usize) -> Vec<String> {
        self.synced_groups.values().take(n).cloned().collect()
    }

    /// The synchronised groups seen.
    pub fn synced_group_count(&self) -> usize {
        self.synced_groups.len()
    }

    /// The status summary; `not_restored` carried over from earlier passes.
    pub fn summary(&self, not_restored: i64) -> Option<MembershipsLost> {
        if self.users.is_empty() && not_restored == 0 {
            return None;
        }
        Some(MembershipsLost {
            users_recorded: self.users.len() as i64,
            synced_memberships: self.synced_memberships,
            synced_groups: self.synced_groups.len() as i64,
            examples: self.synced_examples(10),
            not_restored,
        })
    }
}

/// Reads the memberships of `users` not recorded yet and, when `journal`, records them
/// (`RecordMemberships`, `Applied`), adding them to `recorded` either way. Returns the
/// refusal when Graph refused the read.
pub async fn record(
    ctx: &Context<'_>,
    tenant_id: &str,
    users: &[&Candidate],
    recorded: &mut Recorded,
    journal: bool,
) -> Result<Option<GraphError>, crate::reconcile::ReconcileError> {
    let todo: Vec<&Candidate> = users
        .iter()
        .copied()
        .filter(|c| !recorded.users.contains(c.id()))
        .collect();
    if todo.is_empty() {
        return Ok(None);
    }
    let ids: Vec<String> = todo.iter().map(|c| c.id().to_string()).collect();
    let read = match read(ctx.graph, &ids, ctx.concurrency).await? {
        Read::Refused(e) => return Ok(Some(e)),
        Read::Done(read) => read,
    };
    let mut records = Vec::new();
    for c in todo {
        let Some(m) = read.get(c.id()) else { continue };
        if journal {
            let user = Object::user(c.id(), Some(c.upn().to_string()));
            records.push(Record::new(
                &ctx.resource,
                tenant_id,
                user,
                Action::RecordMemberships,
                Phase::Applied,
                m.to_prior(),
            ));
        }
        recorded.add(c.id(), m.clone());
    }
    if !records.is_empty() {
        ctx.journal.append(&records).await?;
    }
    Ok(None)
}

/// Users a pass reads for a plan, or for `SourceOfAuthority`'s groups-before-members check:
/// a sample of the next wave, so the reads stay a small share of a pass.
pub const SAMPLE: usize = 100;

/// What a pass knows of the selected users' memberships.
#[derive(Debug, Default)]
pub struct Seen {
    /// `RestoreDeleted`: the journal's records and those made now (or, in `Plan`, read now);
    /// `SourceOfAuthority`: what was read of the next wave's users.
    pub recorded: Recorded,
    /// Why memberships could not be read (Graph refused the read), if so.
    pub refused: Option<String>,
    /// Users read this pass.
    pub read: usize,
}

/// The memberships a pass needs: with `RestoreDeleted`, those of the users that leave sync
/// scope next (up to `size`, the next wave; a [`SAMPLE`] when the pass only plans), recorded
/// in the journal when the pass applies; with `SourceOfAuthority`, a [`SAMPLE`] of the next
/// wave's users (never journaled: their memberships stay).
pub async fn observe(
    cx: &crate::reconcile::rollout::Cx<'_, crate::api::user::CloudUserConversionSpec>,
    selection: &super::select::Selection,
    applied: &IdSet,
    size: usize,
    journaled: Recorded,
) -> Result<Seen, crate::reconcile::ReconcileError> {
    use crate::api::user::UserConversionMethod as M;
    let applies = cx.applies();
    let (users, mut recorded, journal): (Vec<&Candidate>, Recorded, bool) =
        match cx.spec.spec.method {
            M::RestoreDeleted => {
                let cap = if applies {
                    size
                } else {
                    SAMPLE.min(size.max(1))
                };
                let users = selection
                    .candidates
                    .values()
                    .filter(|c| c.synced && !c.deleted && !journaled.users.contains(c.id()))
                    .take(cap)
                    .collect();
                (users, journaled, applies)
            }
            M::SourceOfAuthority => {
                let users = selection
                    .candidates
                    .values()
                    .filter(|c| (c.synced || c.rolled_back) && !applied.contains(c.id()))
                    .take(SAMPLE.min(size.max(1)))
                    .collect();
                (users, Recorded::default(), false)
            }
            M::ClearImmutableId => return Ok(Seen::default()),
        };
    let read = users.len();
    let refused = record(cx.ctx, &cx.tenant.tenant_id, &users, &mut recorded, journal)
        .await?
        .map(|e| e.to_string());
    Ok(Seen {
        recorded,
        refused,
        read,
    })
}

/// After a restore: for each `(user, cloud groups recorded)`, the groups that do not read back
/// among its memberships (empty: all back), read again with backoff while some are missing
/// (eventual consistency).
pub async fn missing_after_restore(
    graph: &GraphClient,
    expected: &[(String, Vec<GroupRef>)],
) -> Vec<Result<Vec<String>, GraphError>> {
    let back = read_back(expected, |part| async move {
        let mut out = Vec::with_capacity(part.len());
        for (id, groups) in &part {
            let now = graph.user_groups(id).await;
            out.push(now.map(|now| missing(groups, &now).is_empty()));
        }
        out
    })
    .await;
    let mut out = Vec::with_capacity(expected.len());
    for ((id, groups), ok) in expected.iter().zip(back) {
        out.push(match ok {
            Ok(true) => Ok(Vec::new()),
            // Still missing after the backoff: read once more to name them.
            Ok(false) => graph.user_groups(id).await.map(|now| missing(groups, &now)),
            Err(e) => Err(e),
        });
    }
    out
}

/// The names of `groups` that are not among `now`.
fn missing(groups: &[GroupRef], now: &[crate::graph::groups::GroupDetail]) -> Vec<String> {
    groups
        .iter()
        .filter(|(gid, _)| !now.iter().any(|g| &g.id == gid))
        .map(|(_, name)| name.clone())
        .collect()
}

/// The plan's and the status's sentence on what `RestoreDeleted` users lose.
pub fn loss_sentence(m: &MembershipsLost) -> String {
    let first = if m.examples.is_empty() {
        String::new()
    } else {
        format!(" (e.g. {})", m.examples.join(", "))
    };
    format!(
        "{} users read hold {} memberships in {} synchronised groups{first}: Entra drops them at the soft delete and the restore does not bring them back; convert those groups first (CloudGroupConversion) or add the users again after",
        m.users_recorded, m.synced_memberships, m.synced_groups
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rec(action: Action, id: &str, prior: Value) -> Record {
        let key = crate::journal::ResourceKey {
            kind: "CloudUserConversion".into(),
            namespace: "ns".into(),
            name: "r".into(),
        };
        Record::new(
            &key,
            "t",
            Object::user(id, None),
            action,
            Phase::Applied,
            prior,
        )
    }

    #[test]
    fn the_journal_gives_the_loss_and_what_to_read_back() {
        let m = Memberships {
            synced: vec![("g1".into(), "SG Finance".into())],
            cloud: vec![("c1".into(), "Cloud Team".into())],
        };
        assert_eq!(Memberships::from_prior(&m.to_prior()), m);
        let mut r = Recorded::default();
        r.visit(&rec(Action::RecordMemberships, "u1", m.to_prior()));
        // Recorded once: a second record of the same user counts nothing more.
        r.visit(&rec(Action::RecordMemberships, "u1", m.to_prior()));
        r.visit(&rec(Action::RecordMemberships, "u2", m.to_prior()));
        let s = r.summary(0).unwrap();
        assert_eq!(
            (s.users_recorded, s.synced_memberships, s.synced_groups),
            (2, 2, 1)
        );
        assert_eq!(s.examples, vec!["SG Finance".to_string()]);
        assert_eq!(r.cloud.len(), 2);
        // Restored: nothing left to read back for u1.
        r.visit(&rec(Action::RestoreUser, "u1", Value::Null));
        assert!(!r.cloud.contains_key("u1") && r.cloud.contains_key("u2"));
        assert!(loss_sentence(&s).contains("2 memberships in 1 synchronised groups"));
        assert!(Recorded::default().summary(0).is_none());
    }
}
