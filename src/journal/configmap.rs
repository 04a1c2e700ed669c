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

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::Mutex;

mod folds;
mod walk;

use super::chain::{Chainer, Head, Trust};
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

/// Why a write of entries stopped.
enum WriteError {
    /// Another writer changed the tail shard; this many records were written before.
    Conflict(usize),
    /// Any other failure.
    Other(JournalError),
}

/// A journal for one resource, in ConfigMaps.
pub struct ConfigMapJournal {
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
            secrets: Api::namespaced(client, namespace),
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

    async fn append_inner(&self, records: &[Record]) -> Result<(), JournalError> {
        if records.is_empty() {
            return Ok(());
        }
        let Some(k) = &self.key else {
            return Err(JournalError::KeyRequired {
                origin: format!("configmaps/{}", self.shard_name(0)),
            });
        };
        let mut guard = self.tail.lock().await;
        // Records written so far: what does not fit the tail shard goes to new shards, one
        // write each (a ConfigMap holds 1 MiB), and after a conflict only the rest is chained
        // again.
        let mut written = 0;
        let mut conflicts = 0;
        while written < records.len() {
            // A conflict means someone else wrote (e.g. a replica that just lost the lease):
            // reload the tail and chain after its entries.
            if guard.is_none() {
                *guard = Some(self.load_tail().await?);
            }
            let Some(tail) = guard.as_mut() else { continue };
            match self.write_from(&k.key, tail, &records[written..]).await {
                Ok(n) => written += n,
                Err(WriteError::Conflict(n)) => {
                    written += n;
                    *guard = None;
                    conflicts += 1;
                    if conflicts == 3 {
                        return Err(self.err("conflicting writers: gave up after 3 attempts"));
                    }
                }
                Err(WriteError::Other(e)) => {
                    *guard = None;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Chains `records` after `tail` and writes them, filling the tail shard and then new
    /// shards of at most [`Self::with_shard_bytes`] bytes each, `tail` following each write:
    /// how many were written (with a conflict, how many before it).
    async fn write_from(
        &self,
        key: &super::key::JournalKey,
        tail: &mut Tail,
        records: &[Record],
    ) -> Result<usize, WriteError> {
        let mut chain = Chainer::new(key, tail.seq, tail.hash.clone());
        let mut rest = records.iter();
        // A line chained that did not fit the write before: the first of the next.
        let mut pending: Option<String> = None;
        let mut written = 0;
        loop {
            let room = tail
                .config_map
                .as_ref()
                .map(|cm| self.shard_bytes.saturating_sub(data(cm).len()));
            let mut lines = String::new();
            let mut count = 0;
            let mut cap = self.shard_bytes;
            let mut into_tail = false;
            let mut end = None;
            loop {
                let line = match pending.take() {
                    Some(line) => line,
                    None => match rest.next() {
                        Some(r) => chain.line(r).map_err(WriteError::Other)?,
                        None => break,
                    },
                };
                if count == 0 {
                    if line.len() > self.shard_bytes {
                        return Err(WriteError::Other(self.err(format!(
                            "an entry of {} bytes does not fit a journal shard ({} bytes)",
                            line.len(),
                            self.shard_bytes
                        ))));
                    }
                    // Into the tail shard if the first line fits there, else a new shard.
                    if let Some(room) = room.filter(|room| line.len() <= *room) {
                        cap = room;
                        into_tail = true;
                    }
                } else if lines.len() + line.len() > cap {
                    pending = Some(line);
                    break;
                }
                lines.push_str(&line);
                count += 1;
                let (seq, hash) = chain.position();
                end = Some((seq, hash.to_string()));
            }
            let Some((seq, hash)) = end else {
                return Ok(written);
            };
            // The tail shard (up to SHARD_BYTES) is taken, not copied: whatever the answer,
            // the tail is set again below or read again (the caller drops it).
            let result = match tail.config_map.take() {
                Some(mut next) if into_tail => {
                    let mut d = next.data.take().unwrap_or_default();
                    d.entry(DATA_KEY.to_string()).or_default().push_str(&lines);
                    drop(lines);
                    next.data = Some(d);
                    let name = next.metadata.name.clone().unwrap_or_default();
                    self.api
                        .replace(&name, &PostParams::default(), &next)
                        .await
                        .map(|cm| (tail.shard, cm))
                }
                other => {
                    let shard = if other.is_some() { tail.shard + 1 } else { 0 };
                    let cm = self.new_shard(shard, lines);
                    self.api
                        .create(&PostParams::default(), &cm)
                        .await
                        .map(|cm| (shard, cm))
                }
            };
            match result {
                Ok((shard, cm)) => {
                    written += count;
                    tail.shard = shard;
                    tail.config_map = Some(cm);
                    tail.seq = seq;
                    tail.hash = hash;
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    return Err(WriteError::Conflict(written));
                }
                Err(e) => return Err(WriteError::Other(self.err(e))),
            }
        }
    }

    fn new_shard(&self, shard: u32, lines: String) -> ConfigMap {
        let labels = BTreeMap::from([
            (JOURNAL_LABEL.to_string(), "true".to_string()),
            (RESOURCE_LABEL.to_string(), self.id.clone()),
            (
                "app.kubernetes.io/managed-by".to_string(),
                "entra-cloud-operator".to_string(),
            ),
        ]);
        let annotations = BTreeMap::from([
            (SHARD_ANNOTATION.to_string(), shard.to_string()),
            (
                "cloudidentity.dev/resource".to_string(),
                self.resource.to_string(),
            ),
        ]);
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.shard_name(shard)),
                labels: Some(labels),
                annotations: Some(annotations),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(DATA_KEY.to_string(), lines)])),
            ..Default::default()
        }
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
