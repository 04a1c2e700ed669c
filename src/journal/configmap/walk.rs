//! Reading a resource's shards in order, one at a time, each entry verified against its
//! predecessor as it streams by: memory holds one shard, never the whole chain.
//!
//! A read from the start lists the shards' names (metadata only) and GETs them one by one; a
//! read from a [`Cursor`] (where an earlier read stopped) GETs the shards by their names from
//! the cursor's on, until one does not exist, and skips the cursor's own shard when its
//! resourceVersion has not moved (any write to a ConfigMap moves it).

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ListParams;

use super::super::chain::{Head, Link, Trust, Verifier};
use super::super::{Entry, JournalError};
use super::{ConfigMapJournal, RESOURCE_LABEL, SHARD_ANNOTATION, data};

/// Where a verified read of a journal ended.
#[derive(Clone, Debug)]
pub(super) struct Cursor {
    /// The last shard read: the one appends go to.
    pub shard: u32,
    /// Its resourceVersion when read (`None`: the journal had no shard yet).
    pub version: Option<String>,
    /// The chain before that shard's first entry (what it is verified from).
    pub start: Link,
    /// The chain after its last entry.
    pub end: Link,
}

/// What a read gives each entry: the entry, the shard's name and the line in it.
pub(super) type Each<'a> = dyn FnMut(Entry, &str, usize) -> Result<(), JournalError> + Send + 'a;

/// The end of a read: where it stopped and the last shard (what appends replace).
pub(super) struct End {
    pub cursor: Cursor,
    pub last: Option<ConfigMap>,
}

impl ConfigMapJournal {
    /// Reads the journal from `from` (the start when `None`), handing `each` every entry after
    /// it. `strict`: an entry that does not verify is an error ([`JournalError::Tampered`]);
    /// otherwise it is handed over marked. From a cursor, the entries it covers must still be
    /// there with the same link: a shard cut short or rewritten behind it is an error too.
    pub(super) async fn walk(
        &self,
        from: Option<&Cursor>,
        strict: bool,
        each: &mut Each<'_>,
    ) -> Result<End, JournalError> {
        let key = self.key.as_ref().map(|k| &k.key);
        let origin = self.origin();
        let (mut shard, mut start, seen) = match from {
            Some(c) => (c.shard, c.start.clone(), Some(&c.end)),
            None => (0, Link::genesis(), None),
        };
        let mut cursor = Cursor {
            shard,
            version: None,
            start: start.clone(),
            end: start.clone(),
        };
        let mut last = None;
        let mut skipped = false;
        if let Some(c) = from
            && c.version.is_some()
        {
            // A steady pass: the shard the last read ended in, unchanged, holds nothing new.
            let name = self.shard_name(c.shard);
            let meta = self
                .api
                .get_metadata_opt(&name)
                .await
                .map_err(|e| self.err(e))?;
            let Some(meta) = meta else {
                return Err(self.tampered(
                    &name,
                    c.end.seq,
                    "the shard was deleted after it was read".into(),
                ));
            };
            if meta.metadata.resource_version == c.version {
                cursor = c.clone();
                shard = c.shard + 1;
                start = c.end.clone();
                skipped = true;
            }
        }
        let listed = match from {
            None => Some(self.shard_numbers().await?),
            Some(_) => None,
        };
        let mut next = listed.as_ref().map(|l| l.iter());
        let mut at_seen = None;
        // Bounded by the shards that exist: the loop ends at the first one missing (or at the
        // end of the listing).
        loop {
            let (n, name) = match next.as_mut() {
                Some(it) => match it.next() {
                    Some((n, name)) => (*n, name.clone()),
                    None => break,
                },
                None => (shard, self.shard_name(shard)),
            };
            let Some(cm) = self.api.get_opt(&name).await.map_err(|e| self.err(e))? else {
                if listed.is_some() {
                    continue;
                }
                break;
            };
            let mut chain = Verifier::resume(key, &start);
            for (i, line) in data(&cm)
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let mut e: Entry =
                    serde_json::from_str(line).map_err(|err| JournalError::Corrupt {
                        path: name.clone(),
                        line: i + 1,
                        detail: err.to_string(),
                    })?;
                chain.check(&mut e, &origin)?;
                if let (true, Trust::Broken(detail)) = (strict, &e.trust) {
                    return Err(JournalError::Tampered {
                        path: name.clone(),
                        line: i + 1,
                        seq: e.seq,
                        detail: detail.clone(),
                    });
                }
                // From a cursor: what it covers was handed over before (the entry it ended at
                // is checked to be still there as it was), only what follows is new.
                match seen {
                    Some(s) if e.seq == s.seq => {
                        at_seen = Some(e.hash.clone());
                        continue;
                    }
                    Some(s) if e.seq < s.seq => continue,
                    _ => {}
                }
                each(e, &name, i + 1)?;
            }
            let end = chain.link();
            cursor = Cursor {
                shard: n,
                version: cm.metadata.resource_version.clone(),
                start: start.clone(),
                end: end.clone(),
            };
            start = end;
            shard = n.saturating_add(1);
            last = Some(cm);
        }
        if let Some(s) = seen
            && !skipped
            && s.seq > 0
            && at_seen.as_deref() != Some(s.hash.as_str())
        {
            return Err(self.tampered(
                &self.shard_name(cursor.shard),
                s.seq,
                format!(
                    "entry {} was read and verified before but is no longer there as it was: the journal was cut short or rewritten",
                    s.seq
                ),
            ));
        }
        Ok(End { cursor, last })
    }

    /// A read of the whole journal that also checks the head kept in the key Secret against
    /// it: what a first read, `journal verify` and the tail appends chain after rely on.
    pub(super) async fn full_read(
        &self,
        strict: bool,
        each: &mut Each<'_>,
    ) -> Result<(End, Option<Head>), JournalError> {
        let head = self.read_head().await?;
        let want = head.as_ref().map(|h| h.seq).unwrap_or(0);
        let mut link_at_head = None;
        let end = self
            .walk(None, strict, &mut |e, shard, line| {
                if e.seq == want {
                    link_at_head = Some(e.hash.clone());
                }
                each(e, shard, line)
            })
            .await?;
        if let (Some(h), Some(k)) = (&head, &self.key) {
            h.check(
                Some(&k.key),
                end.cursor.end.seq,
                |n| link_at_head.clone().filter(|_| n == want),
                &self.origin(),
                &format!("Secret {}", k.secret),
            )?;
        }
        Ok((end, head))
    }

    /// The shards of this journal (number and name), in order, from a listing of their
    /// metadata: every ConfigMap labelled as one of its shards, whatever its name.
    async fn shard_numbers(&self) -> Result<Vec<(u32, String)>, JournalError> {
        let lp = ListParams::default().labels(&format!("{RESOURCE_LABEL}={}", self.id));
        let list = self.api.list_metadata(&lp).await.map_err(|e| self.err(e))?;
        let mut numbers: Vec<(u32, String)> = list
            .items
            .into_iter()
            .filter_map(|m| {
                let n = m.metadata.annotations.as_ref()?.get(SHARD_ANNOTATION)?;
                Some((n.parse().ok()?, m.metadata.name?))
            })
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    fn tampered(&self, shard: &str, seq: u64, detail: String) -> JournalError {
        JournalError::Tampered {
            path: format!("configmaps/{shard}"),
            line: 0,
            seq,
            detail,
        }
    }
}
