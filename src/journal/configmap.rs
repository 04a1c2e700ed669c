//! The journal in a cluster: JSON Lines in ConfigMaps of the operator's namespace, one chain
//! per resource, sharded when a ConfigMap fills (an append that does not fit the last shard
//! fills it and goes on in new ones, a write each, so no ConfigMap nears the API server's
//! 1 MiB limit whatever the number of records appended at once). The ConfigMaps carry no owner
//! reference, so the audit trail outlives the resource it describes. An append returns once the
//! API server has acknowledged each write (etcd), which is what makes it durable.
//!
//! Entries are chained under the key in the journal key Secret ([`SecretKey`]), and the chain's
//! head is kept in that Secret too, at most once per pass ([`Journal::checkpoint`]): writing
//! ConfigMaps lets nobody recompute a link, and cutting entries (or a shard) off the end is
//! detected up to the last head kept. Entries appended since then are not covered by it.
//!
//! Reads stream: shards are read one at a time (GET by name) and each entry is verified
//! against its predecessor as it goes by, so memory holds one shard, never the whole chain.
//!
//! What a pass reads: the states passes derive from the journal ([`Journal::fold`]: the ids a
//! step applied to, the intents still open) are kept by this object with the position they
//! were read up to (last shard, its resourceVersion, the verified chain at its start and end).
//! The first pass after a start reads the whole journal once, verified with the head kept in
//! the Secret; a later pass asks for the last shard's metadata and GETs it only when its
//! resourceVersion moved (any write does), re-verifying it from its first entry, then GETs the
//! shards after it until one does not exist. A steady pass so reads about a kilobyte whatever
//! the journal's length, and a pass after appends about one shard plus what is new.
//!
//! The trade-off: an entry rewritten in an *earlier* shard, behind the position kept, is not
//! seen by the steady passes of a running operator (a rewrite of the last shard is, at once,
//! as is a shard deleted or cut short behind the position). It is caught, as before, by every
//! read of the whole journal: the first pass after a start, `journal verify`, reverts and the
//! AD steps (which read every entry), and any append after a conflicting writer. Rewriting a
//! link still needs the key, so such an edit can only break the chain, never forge it.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};
use tokio::sync::Mutex;

mod append;
mod folds;
mod walk;

use super::chain::{Head, Trust};
use super::secret::{SecretKey, read_head, write_head};
use super::{BoxFuture, Entry, Fold, Journal, JournalError, Record, ResourceKey, VerifyReport};

/// Label on every journal ConfigMap.
pub const JOURNAL_LABEL: &str = "cloudidentity.dev/journal";
/// Label naming the resource a shard belongs to (a hash: names may exceed label limits).
pub const RESOURCE_LABEL: &str = "cloudidentity.dev/journal-resource";
const DATA_KEY: &str = "entries.jsonl";
/// Annotation numbering a shard (from 0).
const SHARD_ANNOTATION: &str = "cloudidentity.dev/journal-shard";
/// Bytes of entries per shard; ConfigMaps are limited to 1 MiB in all.
pub const SHARD_BYTES: usize = 700 * 1024;

/// Where appends go: the last shard and the chain's end.
struct Tail {
    shard: u32,
    config_map: Option<ConfigMap>,
    seq: u64,
    hash: String,
    /// The sequence number of the head last kept in the Secret.
    kept: u64,
}

impl Tail {
    /// After a full read that ended at `end`, with `head` the head kept in the Secret.
    fn after(end: walk::End, head: Option<&Head>) -> Self {
        Tail {
            shard: end.cursor.shard,
            config_map: end.last,
            seq: end.cursor.end.seq,
            hash: end.cursor.end.hash,
            kept: head.map(|h| h.seq).unwrap_or(0),
        }
    }
}

/// A journal for one resource, in ConfigMaps.
pub struct ConfigMapJournal {
    client: Client,
    api: Api<ConfigMap>,
    secrets: Api<Secret>,
    key: Option<SecretKey>,
    resource: ResourceKey,
    id: String,
    tail: Mutex<Option<Tail>>,
    folds: Mutex<folds::Folds>,
    shard_bytes: usize,
}

impl ConfigMapJournal {
    /// The journal of `resource`, kept in `namespace`, chained under `key` (whose Secret also
    /// keeps the head). Without a key the journal can only be read, and only if it holds no
    /// keyed entries (a journal written before keys).
    pub fn new(
        client: Client,
        namespace: &str,
        resource: ResourceKey,
        key: Option<SecretKey>,
    ) -> Self {
        let digest = super::chain_hash("", resource.to_string().as_bytes());
        ConfigMapJournal {
            api: Api::namespaced(client.clone(), namespace),
            secrets: Api::namespaced(client.clone(), namespace),
            client,
            key,
            id: format!("{}-{}", resource.kind.to_ascii_lowercase(), &digest[..16]),
            resource,
            tail: Mutex::new(None),
            folds: Mutex::new(folds::Folds::default()),
            shard_bytes: SHARD_BYTES,
        }
    }

    /// The same journal with shards of at most `bytes` bytes of entries ([`SHARD_BYTES`] by
    /// default, and never more: a ConfigMap holds 1 MiB). Smaller shards let tests span many
    /// shards with few entries.
    pub fn with_shard_bytes(mut self, bytes: usize) -> Self {
        self.shard_bytes = bytes.clamp(1, SHARD_BYTES);
        self
    }

    fn shard_name(&self, shard: u32) -> String {
        format!("journal-{}-{shard:05}", self.id)
    }

    fn err(&self, detail: impl std::fmt::Display) -> JournalError {
        JournalError::Io {
            path: format!("configmaps/{}", self.id),
            source: std::io::Error::other(detail.to_string()),
        }
    }

    /// Every entry of this resource's journal, in order, each with its [`Trust`] (entries
    /// that do not verify are returned too, marked).
    pub async fn entries_checked(&self) -> Result<Vec<Entry>, JournalError> {
        let mut out = Vec::new();
        self.walk(None, false, &mut |e, _, _| {
            out.push(e);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Every entry of this resource's journal, in order; an entry that does not verify is an
    /// error.
    pub async fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        let mut out = Vec::new();
        self.walk(None, true, &mut |e, _, _| {
            out.push(e);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Check the whole chain and the head kept in the key Secret (`journal verify`), one
    /// shard at a time.
    pub async fn verify(&self) -> Result<VerifyReport, JournalError> {
        let mut legacy = 0;
        let (end, head) = self
            .full_read(true, &mut |e, _, _| {
                legacy += u64::from(e.trust == Trust::Legacy);
                Ok(())
            })
            .await?;
        Ok(VerifyReport {
            entries: end.cursor.end.seq,
            head: end.cursor.end.hash,
            torn_tail: None,
            unterminated: None,
            legacy,
            head_kept: head.map(|h| h.seq),
        })
    }

    /// The head kept in the Secret, if any. No head yet is no evidence of tampering (only a
    /// Secret writer, who could read the key anyway, can remove one; and a first pass may
    /// stop before it keeps one).
    async fn read_head(&self) -> Result<Option<Head>, JournalError> {
        let Some(k) = &self.key else { return Ok(None) };
        read_head(&self.secrets, &k.secret, &self.id).await
    }

    fn origin(&self) -> String {
        format!("configmaps/{}", self.shard_name(0))
    }

    /// The tail to chain after, from a journal whose chain and head verify: new entries never
    /// extend an altered or truncated history.
    async fn load_tail(&self) -> Result<Tail, JournalError> {
        let (end, head) = self.full_read(true, &mut |_, _, _| Ok(())).await?;
        Ok(Tail::after(end, head.as_ref()))
    }

    async fn checkpoint_inner(&self) -> Result<(), JournalError> {
        let Some(k) = &self.key else { return Ok(()) };
        let mut guard = self.tail.lock().await;
        let Some(tail) = guard.as_mut() else {
            return Ok(());
        };
        if tail.seq == tail.kept {
            return Ok(());
        }
        let head = Head::sealed(&k.key, tail.seq, &tail.hash);
        write_head(&self.secrets, &k.secret, &self.id, &head).await?;
        tail.kept = tail.seq;
        Ok(())
    }
}

fn data(cm: &ConfigMap) -> &str {
    cm.data
        .as_ref()
        .and_then(|d| d.get(DATA_KEY))
        .map(String::as_str)
        .unwrap_or_default()
}

impl Journal for ConfigMapJournal {
    fn append<'a>(&'a self, records: &'a [Record]) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(self.append_inner(records))
    }

    fn entries_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
    ) -> BoxFuture<'a, Result<Vec<Entry>, JournalError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            self.walk(None, true, &mut |e, _, _| {
                if &e.record.resource == resource {
                    out.push(e);
                }
                Ok(())
            })
            .await?;
            Ok(out)
        })
    }

    fn visit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            self.walk(None, true, &mut |e, _, _| {
                if &e.record.resource == resource {
                    visit(e);
                }
                Ok(())
            })
            .await?;
            Ok(())
        })
    }

    fn audit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
    ) -> BoxFuture<'a, Result<Vec<Entry>, JournalError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            self.walk(None, false, &mut |e, _, _| {
                if &e.record.resource == resource {
                    out.push(e);
                }
                Ok(())
            })
            .await?;
            Ok(out)
        })
    }

    fn audit_visit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            self.walk(None, false, &mut |e, _, _| {
                if &e.record.resource == resource {
                    visit(e);
                }
                Ok(())
            })
            .await?;
            Ok(())
        })
    }

    fn fold<'a>(
        &'a self,
        resource: &'a ResourceKey,
        fresh: Box<dyn Fold>,
    ) -> BoxFuture<'a, Result<Box<dyn Fold>, JournalError>> {
        Box::pin(self.fold_inner(resource, fresh))
    }

    fn checkpoint(&self) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(self.checkpoint_inner())
    }
}
