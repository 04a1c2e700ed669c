//! The journal: an append-only record of every change the operator makes to the directory,
//! written (and made durable) *before* the change, with the prior values, so nothing is ever
//! lost and a restart resumes without repeating harm.
//!
//! Tamper evidence: every entry is chained to its predecessor by an HMAC-SHA256 under a key
//! kept outside the journal ([`JournalKey`]), and the chain's head is also kept where the
//! journal's writers cannot rewrite it (a `.head` file sealed with the key; for ConfigMaps,
//! the key's Secret). Whoever can edit the journal but not the key can neither change, remove,
//! reorder nor add an entry unnoticed, nor cut its end off before the head kept elsewhere.
//! What stays undetectable: rolling back the journal and its head together to an earlier
//! state of both, the loss of entries written after the last head update (ConfigMaps: the last
//! pass), and anything done by whoever holds the key.

mod chain;
mod configmap;
mod file;
mod fold;
mod key;
mod secret;

pub use chain::{Head, Trust};
pub use configmap::{ConfigMapJournal, JOURNAL_LABEL, RESOURCE_LABEL, SHARD_BYTES};
pub use file::{FileJournal, VerifyReport, default_key, head_path, key_path, load_key};
pub use fold::{Fold, Scan, audit_where, scan};
pub use key::{JournalKey, KEY_LEN, KeyError};
pub use secret::{KEY_DATA, SecretKey, read_key_secret};

use serde::{Deserialize, Serialize};

/// Which resource a record belongs to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct ResourceKey {
    /// Kind, e.g. `TenantSyncPolicy`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// The change a record describes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// `PATCH /organization/{id}` `onPremisesSyncEnabled: false`.
    DisableDirectorySync,
    /// `PATCH /organization/{id}` `onPremisesSyncEnabled: true`.
    EnableDirectorySync,
    /// `PATCH /users/{id}` `onPremisesImmutableId: null`.
    ClearImmutableId,
    /// `PATCH /users/{id}/onPremisesSyncBehavior` `isCloudManaged: true`.
    SwitchToCloud,
    /// `POST /directory/deletedItems/{id}/restore`.
    RestoreUser,
    /// `PATCH /users/{id}/onPremisesSyncBehavior` `isCloudManaged: false` (revert).
    SwitchToAd,
    /// `PATCH /users/{id}` `onPremisesImmutableId: <prior>` (revert).
    RestoreImmutableId,
    /// `POST /groups/{id}/owners/$ref`: `prior.owner` is the user added, `prior.owners` the
    /// group's owners before. (A group's Source of Authority switch is `SwitchToCloud` with
    /// `objectType: group`.)
    AddOwner,
    /// `DELETE /groups/{id}/owners/{id}/$ref` (revert).
    RemoveOwner,
    /// LDAP modifyDN of the user's AD object to another OU: `prior.distinguishedName` is the
    /// DN before, `prior.objectGuid` identifies the object, `prior.targetOu` where it goes.
    /// (`object_id` is the Entra user's id.)
    MoveAdObject,
    /// No change: the user's direct group memberships read before it leaves sync scope
    /// (`RestoreDeleted`), `prior.synced` / `prior.cloud` each a list of `{id, name}`. Entra
    /// drops the synchronised ones at the soft delete; the cloud ones are read back after the
    /// restore. Recorded `Applied` once per user.
    RecordMemberships,
    /// LDAP modifyDN of an AD object back to its journaled DN (revert).
    MoveAdObjectBack,
    /// LDAP modify of `userAccountControl` setting the disabled bit: `prior.userAccountControl`.
    DisableAdAccount,
    /// LDAP modify putting the journaled `userAccountControl` back (revert).
    EnableAdAccount,
}

/// Where in its life a change is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// About to be sent. Durable before the request leaves.
    Intent,
    /// Graph accepted it.
    Applied,
    /// Graph refused it or it could not be sent.
    Failed,
}

/// What a caller records; the journal adds sequence, time and hashes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The resource on whose behalf the change is made.
    pub resource: ResourceKey,
    /// Tenant id.
    pub tenant_id: String,
    /// `organization`, `user` or `group`.
    pub object_type: String,
    /// Entra object id.
    pub object_id: String,
    /// UPN or display name, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_name: Option<String>,
    /// The change.
    pub action: Action,
    /// Its phase.
    pub phase: Phase,
    /// Values before the change (for revert and audit), e.g. `{"onPremisesImmutableId": "…"}`.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub prior: serde_json::Value,
    /// Graph's `request-id` of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How the outcome was established when it was not the answer to the request, e.g. read
    /// back on resume after the operator stopped between the intent and its outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The directory object a record is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// `organization`, `user` or `group`.
    pub kind: &'static str,
    /// Entra object id.
    pub id: String,
    /// UPN or display name, for humans.
    pub name: Option<String>,
}

impl Object {
    /// A user.
    pub fn user(id: impl Into<String>, name: Option<String>) -> Self {
        Object {
            kind: "user",
            id: id.into(),
            name,
        }
    }

    /// A group.
    pub fn group(id: impl Into<String>, name: Option<String>) -> Self {
        Object {
            kind: "group",
            id: id.into(),
            name,
        }
    }
}

impl Record {
    /// A change `resource` makes to `object` of `tenant_id` (the intent, or its outcome when
    /// `phase` says so), with the values before it.
    pub fn new(
        resource: &ResourceKey,
        tenant_id: &str,
        object: Object,
        action: Action,
        phase: Phase,
        prior: serde_json::Value,
    ) -> Self {
        Record {
            resource: resource.clone(),
            tenant_id: tenant_id.to_string(),
            object_type: object.kind.into(),
            object_id: object.id,
            object_name: object.name,
            action,
            phase,
            prior,
            request_id: None,
            error: None,
            note: None,
        }
    }
}

/// A record as stored: numbered, timed and chained to its predecessor.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// 1-based position in the journal.
    pub seq: u64,
    /// When it was written (RFC 3339, UTC).
    pub time: String,
    /// The record.
    #[serde(flatten)]
    pub record: Record,
    /// Link of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// Fingerprint of the journal key this entry is chained with ([`JournalKey::id`]); absent
    /// on entries written before journals were keyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The link: HMAC-SHA256 under the journal key of `prevHash` and this entry with `hash`
    /// empty (plain SHA-256 on entries without `keyId`).
    pub hash: String,
    /// What the chain says about this entry, set when it is read (never stored).
    #[serde(skip)]
    pub trust: Trust,
}

/// Journal failures.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The journal file could not be read or written.
    #[error("journal {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a journal entry.
    #[error("journal {path} line {line}: not a journal entry: {detail}")]
    Corrupt {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// The hash chain is broken: an entry was changed, removed or inserted.
    #[error(
        "journal {path} line {line} (entry {seq}): hash chain broken ({detail}); the journal was altered after it was written"
    )]
    Tampered {
        /// The file.
        path: String,
        /// 1-based line number (in the file, or in the ConfigMap shard named by `path`).
        line: usize,
        /// The first entry that does not verify.
        seq: u64,
        /// Which check failed.
        detail: String,
    },
    /// The journal is keyed and no key was given.
    #[error(
        "journal {origin} is chained with a key and none was given: pass the key it was written with (--journal-key FILE, or the journal key Secret)"
    )]
    KeyRequired {
        /// The journal.
        origin: String,
    },
    /// The journal was written with another key.
    #[error(
        "journal {origin} was written with key {written_with} but the key given is {given}: pass the key it was written with (or its first keyed entry was altered)"
    )]
    WrongKey {
        /// The journal.
        origin: String,
        /// Fingerprint recorded in the journal.
        written_with: String,
        /// Fingerprint of the key given.
        given: String,
    },
    /// The key could not be had.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// A durable, append-only journal.
pub trait Journal: Send + Sync {
    /// Append `records` in order; when the future resolves to `Ok`, they are durable.
    fn append<'a>(&'a self, records: &'a [Record]) -> BoxFuture<'a, Result<(), JournalError>>;

    /// Every entry recorded for `resource`, in order (to resume, detect drift and revert).
    fn entries_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
    ) -> BoxFuture<'a, Result<Vec<Entry>, JournalError>>;

    /// Hands every entry recorded for `resource` to `visit`, in order, one at a time: a pass
    /// that needs only a little of each entry (which objects a step applied to) keeps only
    /// that, however long the journal.
    fn visit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> BoxFuture<'a, Result<(), JournalError>>;

    /// Every entry recorded for `resource`, in order, each with its [`Trust`], including those
    /// that do not verify (which [`Journal::entries_for`] refuses as a whole): a revert refuses
    /// the objects such entries describe, one by one, and undoes the rest.
    fn audit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
    ) -> BoxFuture<'a, Result<Vec<Entry>, JournalError>>;

    /// Hands every entry recorded for `resource` to `visit`, in order, each with its
    /// [`Trust`], including those that do not verify ([`Journal::audit_for`] as a stream): a
    /// revert keeps what it needs of each, not the journal. By default, read whole first.
    fn audit_visit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            self.audit_for(resource).await?.into_iter().for_each(visit);
            Ok(())
        })
    }

    /// `fresh` (the state of an empty journal) brought up to date with every entry of
    /// `resource`. A journal that keeps such states between calls (one per scan type) feeds
    /// the one it keeps only the entries appended since its last read, and returns a copy;
    /// the first call reads (and verifies) the whole journal. By default, every entry is read.
    fn fold<'a>(
        &'a self,
        resource: &'a ResourceKey,
        fresh: Box<dyn Fold>,
    ) -> BoxFuture<'a, Result<Box<dyn Fold>, JournalError>> {
        Box::pin(async move {
            let mut state = fresh;
            self.visit_for(resource, &mut |e| state.feed(&e)).await?;
            Ok(state)
        })
    }

    /// Keep the chain's head where the journal's writers cannot rewrite it (called at most
    /// once per pass; a journal that keeps it on every append does nothing here).
    fn checkpoint(&self) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The ids of the objects of `resource` for which `action` was applied (journaled `Applied`).
pub async fn applied_objects(
    journal: &dyn Journal,
    resource: &ResourceKey,
    action: Action,
) -> Result<std::collections::BTreeSet<String>, JournalError> {
    let mut ids = std::collections::BTreeSet::new();
    journal
        .visit_for(resource, &mut |e| {
            if e.record.action == action && e.record.phase == Phase::Applied {
                ids.insert(e.record.object_id);
            }
        })
        .await?;
    Ok(ids)
}

/// The future a [`Journal`] returns.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Lowercase hex SHA-256 of `prev_hash` followed by `body` (the link of unkeyed entries).
pub(crate) fn chain_hash(prev_hash: &str, body: &[u8]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(prev_hash.as_bytes());
    ctx.update(b"\n");
    ctx.update(body);
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The hash of the (virtual) entry before the first.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Write `entries` as CSV (RFC 4180 quoting), one row per entry, for spreadsheets and audits.
pub fn write_csv(entries: &[Entry], out: &mut impl std::io::Write) -> std::io::Result<()> {
    fn field(s: &str) -> String {
        // A cell a spreadsheet would read as a formula (a display name like `=HYPERLINK(…)`)
        // is written as text (OWASP's CSV injection advice: a leading quote).
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_string()
        };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    writeln!(
        out,
        "seq,time,kind,namespace,name,tenantId,objectType,objectId,objectName,action,phase,prior,requestId,error,note,hash"
    )?;
    for e in entries {
        let r = &e.record;
        let row = [
            e.seq.to_string(),
            e.time.clone(),
            r.resource.kind.clone(),
            r.resource.namespace.clone(),
            r.resource.name.clone(),
            r.tenant_id.clone(),
            r.object_type.clone(),
            r.object_id.clone(),
            r.object_name.clone().unwrap_or_default(),
            format!("{:?}", r.action),
            format!("{:?}", r.phase),
            if r.prior.is_null() {
                String::new()
            } else {
                r.prior.to_string()
            },
            r.request_id.clone().unwrap_or_default(),
            r.error.clone().unwrap_or_default(),
            r.note.clone().unwrap_or_default(),
            e.hash.clone(),
        ];
        let line: Vec<String> = row.iter().map(|f| field(f)).collect();
        writeln!(out, "{}", line.join(","))?;
    }
    Ok(())
}
