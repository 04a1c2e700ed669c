//! The journal in a cluster: JSON Lines in ConfigMaps of the operator's namespace, one chain
//! per resource, sharded when a ConfigMap fills. The ConfigMaps carry no owner reference, so the
//! audit trail outlives the resource it describes. An append returns once the API server has
//! acknowledged the write (etcd), which is what makes it durable.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::Mutex;

use super::{
    BoxFuture, Entry, GENESIS_HASH, Journal, JournalError, Record, ResourceKey, chain_lines,
    entry_hash,
};

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
}

/// A journal for one resource, in ConfigMaps.
pub struct ConfigMapJournal {
    api: Api<ConfigMap>,
    resource: ResourceKey,
    id: String,
    tail: Mutex<Option<Tail>>,
}

impl ConfigMapJournal {
    /// The journal of `resource`, kept in `namespace`.
    pub fn new(client: Client, namespace: &str, resource: ResourceKey) -> Self {
        let digest = super::chain_hash("", resource.to_string().as_bytes());
        ConfigMapJournal {
            api: Api::namespaced(client, namespace),
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

    /// Every entry of this resource's journal, in order, with the chain verified.
    pub async fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        let mut shards = self.shards().await?;
        shards.sort_by_key(|(n, _)| *n);
        let mut out = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for (_, cm) in shards {
            for (i, line) in data(&cm)
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let e: Entry = serde_json::from_str(line).map_err(|e| JournalError::Corrupt {
                    path: cm.metadata.name.clone().unwrap_or_default(),
                    line: i + 1,
                    detail: e.to_string(),
                })?;
                if e.prev_hash != prev || entry_hash(&e)? != e.hash || e.seq != out.len() as u64 + 1
                {
                    return Err(JournalError::Tampered {
                        path: cm.metadata.name.clone().unwrap_or_default(),
                        line: i + 1,
                        seq: e.seq,
                        detail: "chain does not verify".into(),
                    });
                }
                prev = e.hash.clone();
                out.push(e);
            }
        }
        Ok(out)
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

    async fn load_tail(&self) -> Result<Tail, JournalError> {
        let entries = self.entries().await?;
        let shards = self.shards().await?;
        let last = shards.into_iter().max_by_key(|(n, _)| *n);
        Ok(Tail {
            shard: last.as_ref().map(|(n, _)| *n).unwrap_or(0),
            config_map: last.map(|(_, cm)| cm),
            seq: entries.last().map(|e| e.seq).unwrap_or(0),
            hash: entries
                .last()
                .map(|e| e.hash.clone())
                .unwrap_or_else(|| GENESIS_HASH.to_string()),
        })
    }

    async fn append_inner(&self, records: &[Record]) -> Result<(), JournalError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut guard = self.tail.lock().await;
        // A conflict means someone else wrote (e.g. a replica that just lost the lease):
        // reload the tail and chain after its entries.
        for _attempt in 0..3 {
            if guard.is_none() {
                *guard = Some(self.load_tail().await?);
            }
            let Some(tail) = guard.as_mut() else { continue };
            let (lines, seq, hash) = chain_lines(records, tail.seq, tail.hash.clone())?;
            let result = match tail.config_map.as_ref() {
                Some(cm) if data(cm).len() + lines.len() <= SHARD_BYTES => {
                    let mut next = cm.clone();
                    let mut d = next.data.take().unwrap_or_default();
                    d.entry(DATA_KEY.to_string()).or_default().push_str(&lines);
                    next.data = Some(d);
                    set_head(&mut next, &hash);
                    let name = next.metadata.name.clone().unwrap_or_default();
                    self.api
                        .replace(&name, &PostParams::default(), &next)
                        .await
                        .map(|cm| (tail.shard, cm))
                }
                other => {
                    let shard = if other.is_some() { tail.shard + 1 } else { 0 };
                    let cm = self.new_shard(shard, lines, &hash);
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
                    };
                    return Ok(());
                }
                Err(kube::Error::Api(status)) if status.code == 409 => *guard = None,
                Err(e) => return Err(self.err(e)),
            }
        }
        Err(self.err("conflicting writers: gave up after 3 attempts"))
    }

    fn new_shard(&self, shard: u32, lines: String, head: &str) -> ConfigMap {
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
        let mut cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.shard_name(shard)),
                labels: Some(labels),
                annotations: Some(annotations),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(DATA_KEY.to_string(), lines)])),
            ..Default::default()
        };
        set_head(&mut cm, head);
        cm
    }
}

fn data(cm: &ConfigMap) -> &str {
    cm.data
        .as_ref()
        .and_then(|d| d.get(DATA_KEY))
        .map(String::as_str)
        .unwrap_or_default()
}

/// The chain head, so a copy kept elsewhere can be compared without reading every entry.
fn set_head(cm: &mut ConfigMap, head: &str) {
    cm.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert("cloudidentity.dev/journal-head".into(), head.into());
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
}
