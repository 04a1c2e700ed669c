//! The journal in a cluster: JSON Lines in ConfigMaps of the operator's namespace, one chain
//! per resource, sharded when a ConfigMap fills. The ConfigMaps carry no owner reference, so the
//! audit trail outlives the resource it describes. An append returns once the API server has
//! acknowledged the write (etcd), which is what makes it durable.
//!
//! Entries are chained under the key in the journal key Secret ([`SecretKey`]), and the chain's
//! head is kept in that Secret too, at most once per pass ([`Journal::checkpoint`]): writing
//! ConfigMaps lets nobody recompute a link, and cutting entries (or a shard) off the end is
//! detected up to the last head kept. Entries appended since then are not covered by it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::Mutex;

use super::chain::{Head, Trust, Verifier, chain_lines};
use super::secret::{SecretKey, read_head, write_head};
use super::{BoxFuture, Entry, Journal, JournalError, Record, ResourceKey, VerifyReport};

/// Label on every journal ConfigMap.
pub const JOURNAL_LABEL: &str = "cloudidentity.dev/journal";
/// Label naming the resource a shard belongs to (a hash: names may exceed label limits).
pub const RESOURCE_LABEL: &str = "cloudidentity.dev/journal-resource";
const DATA_KEY: &str = "entries.jsonl";
/// Bytes of entries per shard; ConfigMaps are limited to 1 MiB in all.
const SHARD_BYTES: usize = 700 * 1024;

struct Tail {
    shard: u32,
    config_map: Option<ConfigMap>,
    seq: u64,
    hash: String,
    /// The sequence number of the head last kept in the Secret.
    kept: u64,
}

/// A journal for one resource, in ConfigMaps.
pub struct ConfigMapJournal {
    api: Api<ConfigMap>,
    secrets: Api<Secret>,
    key: Option<SecretKey>,
    resource: ResourceKey,
    id: String,
    tail: Mutex<Option<Tail>>,
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
        }
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
        Ok(self.scan().await?.0)
    }

    /// Every entry of this resource's journal, in order; an entry that does not verify is an
    /// error.
    pub async fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        let (entries, lines) = self.scan().await?;
        for (e, (shard, line)) in entries.iter().zip(&lines) {
            if let Trust::Broken(detail) = &e.trust {
                return Err(JournalError::Tampered {
                    path: shard.clone(),
                    line: *line,
                    seq: e.seq,
                    detail: detail.clone(),
                });
            }
        }
        Ok(entries)
    }

    /// Check the whole chain and the head kept in the key Secret (`journal verify`).
    pub async fn verify(&self) -> Result<VerifyReport, JournalError> {
        let entries = self.entries().await?;
        let head = self.check_head(&entries).await?;
        let last = entries.last();
        Ok(VerifyReport {
            entries: last.map(|e| e.seq).unwrap_or(0),
            head: last
                .map(|e| e.hash.clone())
                .unwrap_or_else(|| super::GENESIS_HASH.to_string()),
            torn_tail: None,
            unterminated: None,
            legacy: entries.iter().filter(|e| e.trust == Trust::Legacy).count() as u64,
            head_kept: head.map(|h| h.seq),
        })
    }

    /// The head kept in the Secret, checked against `entries` (all of the journal's). No head
    /// yet is no evidence of tampering (only a Secret writer, who could read the key anyway,
    /// can remove one; and a first pass may stop before it keeps one): `None`.
    async fn check_head(&self, entries: &[Entry]) -> Result<Option<Head>, JournalError> {
        let Some(k) = &self.key else { return Ok(None) };
        let head = read_head(&self.secrets, &k.secret, &self.id).await?;
        let origin = format!("configmaps/{}", self.shard_name(0));
        if let Some(h) = &head {
            h.check(
                Some(&k.key),
                entries.last().map(|e| e.seq).unwrap_or(0),
                |n| entries.iter().find(|e| e.seq == n).map(|e| e.hash.clone()),
                &origin,
                &format!("Secret {}", k.secret),
            )?;
        }
        Ok(head)
    }

    /// Entries with their trust, and where each is (shard name, line).
    async fn scan(&self) -> Result<(Vec<Entry>, Vec<(String, usize)>), JournalError> {
        let mut shards = self.shards().await?;
        shards.sort_by_key(|(n, _)| *n);
        let mut out = Vec::new();
        let mut at = Vec::new();
        let mut chain = Verifier::new(self.key.as_ref().map(|k| &k.key));
        let origin = format!("configmaps/{}", self.shard_name(0));
        for (_, cm) in shards {
            let name = cm.metadata.name.clone().unwrap_or_default();
            for (i, line) in data(&cm)
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let mut e: Entry =
                    serde_json::from_str(line).map_err(|e| JournalError::Corrupt {
                        path: name.clone(),
                        line: i + 1,
                        detail: e.to_string(),
                    })?;
                chain.check(&mut e, &origin)?;
                out.push(e);
                at.push((name.clone(), i + 1));
            }
        }
        Ok((out, at))
    }

    async fn shards(&self) -> Result<Vec<(u32, ConfigMap)>, JournalError> {
        let lp = ListParams::default().labels(&format!("{RESOURCE_LABEL}={}", self.id));
        let list = self.api.list(&lp).await.map_err(|e| self.err(e))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|cm| {
                let shard = cm
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("cloudidentity.dev/journal-shard"))
                    .and_then(|s| s.parse().ok())?;
                Some((shard, cm))
            })
            .collect())
    }

    /// The tail to chain after, from a journal whose chain and head verify: new entries never
    /// extend an altered or truncated history.
    async fn load_tail(&self) -> Result<Tail, JournalError> {
        let entries = self.entries().await?;
        let head = self.check_head(&entries).await?;
        let shards = self.shards().await?;
        let last = shards.into_iter().max_by_key(|(n, _)| *n);
        Ok(Tail {
            shard: last.as_ref().map(|(n, _)| *n).unwrap_or(0),
            config_map: last.map(|(_, cm)| cm),
            seq: entries.last().map(|e| e.seq).unwrap_or(0),
            hash: entries
                .last()
                .map(|e| e.hash.clone())
                .unwrap_or_else(|| super::GENESIS_HASH.to_string()),
            kept: head.map(|h| h.seq).unwrap_or(0),
        })
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
        // A conflict means someone else wrote (e.g. a replica that just lost the lease):
        // reload the tail and chain after its entries.
        for _attempt in 0..3 {
            if guard.is_none() {
                *guard = Some(self.load_tail().await?);
            }
            let Some(tail) = guard.as_mut() else { continue };
            let (lines, seq, hash) = chain_lines(&k.key, records, tail.seq, tail.hash.clone())?;
            let result = match tail.config_map.as_ref() {
                Some(cm) if data(cm).len() + lines.len() <= SHARD_BYTES => {
                    let mut next = cm.clone();
                    let mut d = next.data.take().unwrap_or_default();
                    d.entry(DATA_KEY.to_string()).or_default().push_str(&lines);
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
                    *tail = Tail {
                        shard,
                        config_map: Some(cm),
                        seq,
                        hash,
                        kept: tail.kept,
                    };
                    return Ok(());
                }
                Err(kube::Error::Api(status)) if status.code == 409 => *guard = None,
                Err(e) => return Err(self.err(e)),
            }
        }
        Err(self.err("conflicting writers: gave up after 3 attempts"))
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
            (
                "cloudidentity.dev/journal-shard".to_string(),
                shard.to_string(),
            ),
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
            Ok(self
                .entries()
                .await?
                .into_iter()
                .filter(|e| &e.record.resource == resource)
                .collect())
        })
    }

    fn visit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            for e in self.entries().await? {
                if &e.record.resource == resource {
                    visit(e);
                }
            }
            Ok(())
        })
    }

    fn audit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
    ) -> BoxFuture<'a, Result<Vec<Entry>, JournalError>> {
        Box::pin(async move {
            Ok(self
                .entries_checked()
                .await?
                .into_iter()
                .filter(|e| &e.record.resource == resource)
                .collect())
        })
    }

    fn checkpoint(&self) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(self.checkpoint_inner())
    }
}
