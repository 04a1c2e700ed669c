//! Resume after a stop, for groups and the tenant: every change the journal shows as intended
//! but never answered is settled by reading Graph back, and its outcome recorded. (Users have
//! their own, batched, in `user/resume.rs`: a wave leaves up to a part of 2,000 open.)
//!
//! An intent is durable before its request leaves, and its outcome is written after the
//! answer; a kill in between leaves an intent alone. Reading the object tells whether the
//! request landed: the outcome is then `Applied` (a revert finds the prior values the intent
//! carried) or `Failed` (the next pass does it again), with a note saying it was read back.

use std::collections::BTreeMap;
use std::future::Future;

use crate::graph::{GraphClient, GraphError};
use crate::journal::{Action, Phase, Record};

use super::{Context, ReconcileError, ReconcileEvent};

/// Which change a record is about: object type, object id, action, and for owners the owner.
type Key = (String, String, Action, String);

fn key(r: &Record) -> Key {
    let owner = r
        .prior
        .get("owner")
        .and_then(|o| o.as_str())
        .unwrap_or_default();
    (
        r.object_type.clone(),
        r.object_id.clone(),
        r.action,
        owner.to_string(),
    )
}

/// The intents of a resource's journal that no outcome followed, gathered entry by entry (and
/// kept by the journal between passes: [`crate::journal::Scan`]).
#[derive(Debug, Default, Clone)]
pub struct OpenIntents {
    open: BTreeMap<Key, Record>,
}

impl OpenIntents {
    /// Takes in one record, in journal order.
    pub fn visit(&mut self, r: &Record) {
        match r.phase {
            Phase::Intent => {
                self.open.insert(key(r), r.clone());
            }
            Phase::Applied | Phase::Failed => {
                self.open.remove(&key(r));
            }
        }
    }

    /// Whether nothing is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// How many intents are open.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Reads the journal of the pass's resource (what was appended since the last pass, when
    /// the journal kept this scan).
    pub async fn read(ctx: &Context<'_>) -> Result<Self, crate::journal::JournalError> {
        crate::journal::scan(ctx.journal, &ctx.resource).await
    }
}

impl crate::journal::Scan for OpenIntents {
    fn feed(&mut self, e: &crate::journal::Entry) {
        self.visit(&e.record);
    }
}

/// Appends one outcome per open intent, asking `made` whether Graph shows the change made.
/// Returns the records appended. A read that fails transiently ends the pass (the intents
/// stay open for the next one); one that is refused closes the intent as `Failed`, so the
/// change is tried again.
pub async fn settle<F, Fut>(
    ctx: &Context<'_>,
    open: OpenIntents,
    made: F,
) -> Result<Vec<Record>, ReconcileError>
where
    F: Fn(Record) -> Fut,
    Fut: Future<Output = Result<bool, GraphError>>,
{
    let mut records = Vec::new();
    for (_, intent) in open.open {
        let record = match made(intent.clone()).await {
            Ok(true) => outcome(
                &intent,
                Phase::Applied,
                "read back after the operator stopped before recording the answer: the change had landed",
            ),
            Ok(false) => outcome(
                &intent,
                Phase::Failed,
                "read back after the operator stopped before recording the answer: the change had not been made (or is not visible yet); the next pass makes it",
            ),
            Err(e) if e.category().is_retryable() => {
                // What was read so far is kept; the rest stays open for the next pass.
                ctx.journal.append(&records).await?;
                return Err(ReconcileError::Graph(e));
            }
            Err(e) => outcome(
                &intent,
                Phase::Failed,
                &format!("could not be read back after the operator stopped: {e}"),
            ),
        };
        records.push(record);
    }
    ctx.journal.append(&records).await?;
    Ok(records)
}

/// The `Resumed` Event telling what settling found (none when nothing was open).
pub fn resumed_event(records: &[Record]) -> Option<ReconcileEvent> {
    if records.is_empty() {
        return None;
    }
    let made = records.iter().filter(|r| r.phase == Phase::Applied).count();
    tracing::info!(made, open = records.len(), "settled open journal intents");
    Some(ReconcileEvent::normal(
        crate::reasons::RESUMED,
        "Resume",
        format!(
            "read back {} changes left without an outcome: {made} had been made, {} had not",
            records.len(),
            records.len() - made
        ),
    ))
}

/// The outcome of `intent`, established by reading back: its prior values carried over.
pub(crate) fn outcome(intent: &Record, phase: Phase, note: &str) -> Record {
    let mut r = intent.clone();
    r.phase = phase;
    r.request_id = None;
    r.error = (phase == Phase::Failed).then(|| note.to_string());
    r.note = Some(note.to_string());
    r
}

/// A 404 means the object is gone, so the change is not in effect.
fn gone_as_not_made(result: Result<bool, GraphError>) -> Result<bool, GraphError> {
    match result {
        Err(GraphError::Api { status: 404, .. }) => Ok(false),
        other => other,
    }
}

/// Whether a group change (switch or owner added) is in effect.
pub async fn group_change_made(graph: &GraphClient, r: Record) -> Result<bool, GraphError> {
    let result = match r.action {
        Action::SwitchToCloud => graph.group_cloud_managed(&r.object_id).await,
        Action::AddOwner => {
            let owner = r
                .prior
                .get("owner")
                .and_then(|o| o.as_str())
                .unwrap_or_default();
            owners_include(graph, &r.object_id, owner).await
        }
        Action::RemoveOwner => {
            let owner = r
                .prior
                .get("owner")
                .and_then(|o| o.as_str())
                .unwrap_or_default();
            owners_include(graph, &r.object_id, owner)
                .await
                .map(|present| !present)
        }
        // A revert's switch back to AD.
        _ => graph
            .group_cloud_managed(&r.object_id)
            .await
            .map(|cloud| !cloud),
    };
    gone_as_not_made(result)
}

async fn owners_include(graph: &GraphClient, group: &str, owner: &str) -> Result<bool, GraphError> {
    let mut pager = graph.group_owner_ids(group)?;
    while let Some(page) = pager.next_page().await? {
        if page.items.iter().any(|o| o.id.eq_ignore_ascii_case(owner)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a tenant change (the organization's sync flag, a user's ImmutableID) is in effect.
/// A disable Entra has accepted may still read as enabled for up to 72 hours: it reads as not
/// made, and the next pass asks again (Entra answers that a disable is pending).
pub async fn tenant_change_made(graph: &GraphClient, r: Record) -> Result<bool, GraphError> {
    let result = match r.action {
        Action::DisableDirectorySync | Action::EnableDirectorySync => {
            let want = r.action == Action::EnableDirectorySync;
            graph
                .organization()
                .await
                .map(|o| o.on_premises_sync_enabled == Some(want))
        }
        Action::ClearImmutableId => graph
            .user(&r.object_id)
            .await
            .map(|u| u.is_some_and(|u| u.on_premises_immutable_id.is_none())),
        Action::RestoreImmutableId => {
            let prior = r
                .prior
                .get("onPremisesImmutableId")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            graph
                .user(&r.object_id)
                .await
                .map(|u| u.is_some_and(|u| u.on_premises_immutable_id == prior))
        }
        // Nothing else is written on behalf of a tenant: cannot tell, so not made.
        _ => Ok(false),
    };
    gone_as_not_made(result)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::journal::ResourceKey;

    fn rec(id: &str, action: Action, phase: Phase, owner: Option<&str>) -> Record {
        Record {
            resource: ResourceKey {
                kind: "CloudGroupConversion".into(),
                namespace: "identity".into(),
                name: "g".into(),
            },
            tenant_id: "t".into(),
            object_type: "group".into(),
            object_id: id.into(),
            object_name: None,
            action,
            phase,
            prior: owner.map_or(serde_json::Value::Null, |o| serde_json::json!({"owner": o})),
            request_id: None,
            error: None,
            note: None,
        }
    }

    #[test]
    fn only_intents_no_outcome_followed_stay_open() {
        use Action::*;
        use Phase::*;
        let mut open = OpenIntents::default();
        for r in [
            rec("g1", SwitchToCloud, Intent, None),
            rec("g1", SwitchToCloud, Applied, None),
            rec("g1", AddOwner, Intent, Some("u1")),
            rec("g1", AddOwner, Intent, Some("u2")),
            rec("g1", AddOwner, Failed, Some("u1")),
            rec("g2", SwitchToCloud, Intent, None),
        ] {
            open.visit(&r);
        }
        let keys: Vec<(String, Action, String)> = open
            .open
            .keys()
            .map(|(_, id, a, o)| (id.clone(), *a, o.clone()))
            .collect();
        assert_eq!(
            keys,
            [
                ("g1".to_string(), AddOwner, "u2".to_string()),
                ("g2".to_string(), SwitchToCloud, String::new()),
            ]
        );
        assert_eq!(open.len(), 2);
    }

    #[test]
    fn outcomes_carry_the_prior_value_and_a_note() {
        let intent = rec("g", Action::AddOwner, Phase::Intent, Some("u"));
        let applied = outcome(&intent, Phase::Applied, "read back");
        assert_eq!(applied.prior, intent.prior);
        assert_eq!(
            (applied.error, applied.note.as_deref()),
            (None, Some("read back"))
        );
        let failed = outcome(&intent, Phase::Failed, "not made");
        assert_eq!(failed.error.as_deref(), Some("not made"));
    }
}
