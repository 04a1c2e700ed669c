//! Appending to the journal: records chained one at a time after the tail, written a shard's
//! worth at most per request, the tail shard filled first, then new shards.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};

use super::super::chain::Chainer;
use super::super::{JournalError, Record};
use super::{
    ConfigMapJournal, DATA_KEY, JOURNAL_LABEL, RESOURCE_LABEL, SHARD_ANNOTATION, Tail, data,
};

/// Why a write of entries stopped.
enum WriteError {
    /// Another writer changed the tail shard; this many records were written before.
    Conflict(usize),
    /// Any other failure.
    Other(JournalError),
}

impl ConfigMapJournal {
    /// See [`super::super::Journal::append`].
    pub(super) async fn append_inner(&self, records: &[Record]) -> Result<(), JournalError> {
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
        key: &super::super::key::JournalKey,
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
                    self.write(next, true).await.map(|cm| (tail.shard, cm))
                }
                other => {
                    let shard = if other.is_some() { tail.shard + 1 } else { 0 };
                    drop(other);
                    let cm = self.new_shard(shard, lines);
                    self.write(cm, false).await.map(|cm| (shard, cm))
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

    /// Writes `cm` (a replace of the shard it names, or a create) and keeps it with the
    /// metadata of the answer: the answer repeats the whole shard, whose data is what was
    /// sent, so only its metadata is parsed (a shard's text is not held twice more).
    async fn write(&self, mut cm: ConfigMap, replace: bool) -> Result<ConfigMap, kube::Error> {
        /// What is read of the answer.
        #[derive(serde::Deserialize)]
        struct Written {
            metadata: ObjectMeta,
        }
        let body = serde_json::to_vec(&cm).map_err(kube::Error::SerdeError)?;
        let request = kube::core::Request::new(self.api.resource_url());
        let pp = PostParams::default();
        let (request, verb) = if replace {
            let name = cm.metadata.name.as_deref().unwrap_or_default();
            (request.replace(name, &pp, body), "replace")
        } else {
            (request.create(&pp, body), "create")
        };
        let mut request = request.map_err(kube::Error::BuildRequest)?;
        request.extensions_mut().insert(verb);
        let written: Written = self.client.request(request).await?;
        cm.metadata = written.metadata;
        Ok(cm)
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
