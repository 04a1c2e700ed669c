//! The chain: each entry's `hash` is the HMAC-SHA256, under the journal key, of the previous
//! entry's `hash` and the entry's canonical bytes (its JSON with `hash` empty). Entries written
//! before journals were keyed carry no `keyId` and a plain SHA-256 link: they still read, as
//! [`Trust::Legacy`], but prove nothing (anyone could have recomputed them), so no revert
//! relies on them alone.

use super::key::JournalKey;
use super::{Entry, GENESIS_HASH, JournalError, Record, chain_hash};

/// What the chain says about one entry (set when it is read; never stored).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Trust {
    /// Not checked (an entry built or parsed outside a journal read).
    #[default]
    Unchecked,
    /// Its link verifies under the journal key: written by the operator, unchanged since.
    Proven,
    /// Written before journals were keyed: its plain SHA-256 link verifies, which proves only
    /// that it is consistent, not who wrote it.
    Legacy,
    /// It does not verify: edited, moved, inserted after a removal, or chained without the key.
    Broken(String),
}

impl Trust {
    /// Whether the entry was proven by the journal key.
    pub fn is_proven(&self) -> bool {
        matches!(self, Trust::Proven)
    }
}

/// A position in a chain: the entry numbered `seq` (0: before the first) with link `hash`, and
/// whether a keyed entry came before it (after one, unkeyed entries are refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub seq: u64,
    pub hash: String,
    pub keyed: bool,
}

impl Link {
    /// Before the first entry.
    pub(crate) fn genesis() -> Self {
        Link {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
            keyed: false,
        }
    }
}

/// Checks entries in order, each against its predecessor as stored, so a changed entry is
/// flagged alone and the ones after it are still judged on their own.
pub(crate) struct Verifier<'k> {
    key: Option<&'k JournalKey>,
    seq: u64,
    link: String,
    keyed_seen: bool,
    /// Entries written before keying.
    pub legacy: u64,
}

impl<'k> Verifier<'k> {
    pub(crate) fn new(key: Option<&'k JournalKey>) -> Self {
        Verifier {
            key,
            seq: 0,
            link: GENESIS_HASH.to_string(),
            keyed_seen: false,
            legacy: 0,
        }
    }

    /// A verifier that goes on after the entry `at` (read and verified before).
    pub(crate) fn resume(key: Option<&'k JournalKey>, at: &Link) -> Self {
        Verifier {
            key,
            seq: at.seq,
            link: at.hash.clone(),
            keyed_seen: at.keyed,
            legacy: 0,
        }
    }

    /// Sequence and link of the last entry seen.
    pub(crate) fn tail(&self) -> (u64, &str) {
        (self.seq, &self.link)
    }

    /// The chain after the last entry seen (what [`Verifier::resume`] goes on from).
    pub(crate) fn link(&self) -> Link {
        Link {
            seq: self.seq,
            hash: self.link.clone(),
            keyed: self.keyed_seen,
        }
    }

    /// Judge `e` (setting its trust). `Err` only when the entry needs a key that was not given
    /// or was written with another key: nothing can be judged then.
    pub(crate) fn check(&mut self, e: &mut Entry, origin: &str) -> Result<(), JournalError> {
        e.trust = self.judge(e, origin)?;
        self.seq = e.seq;
        self.link = e.hash.clone();
        Ok(())
    }

    fn judge(&mut self, e: &Entry, origin: &str) -> Result<Trust, JournalError> {
        if e.seq != self.seq + 1 {
            return Ok(Trust::Broken(format!(
                "expected sequence {}: an entry was removed, inserted or moved",
                self.seq + 1
            )));
        }
        if e.prev_hash != self.link {
            return Ok(Trust::Broken(
                "prevHash does not match the previous entry: an entry was removed, inserted or moved".into(),
            ));
        }
        let body = canonical(e)?;
        match (&e.key_id, self.key) {
            (None, _) if self.keyed_seen => Ok(Trust::Broken(
                "an unkeyed entry after keyed ones: the chain was recomputed without the key"
                    .into(),
            )),
            (None, _) => {
                if chain_hash(&e.prev_hash, &body) != e.hash {
                    return Ok(Trust::Broken("content does not match its hash".into()));
                }
                self.legacy += 1;
                Ok(Trust::Legacy)
            }
            (Some(_), None) => Err(JournalError::KeyRequired {
                origin: origin.to_string(),
            }),
            (Some(id), Some(key)) if id != key.id() && !self.keyed_seen => {
                Err(JournalError::WrongKey {
                    origin: origin.to_string(),
                    written_with: id.clone(),
                    given: key.id().to_string(),
                })
            }
            (Some(_), Some(key)) => {
                self.keyed_seen = true;
                if key.verify(&[e.prev_hash.as_bytes(), &body], &e.hash) {
                    Ok(Trust::Proven)
                } else {
                    Ok(Trust::Broken(
                        "its link does not verify under the journal key: the entry was edited or the chain recomputed".into(),
                    ))
                }
            }
        }
    }
}

/// The bytes a link covers: the entry's JSON with `hash` empty.
fn canonical(e: &Entry) -> Result<Vec<u8>, JournalError> {
    let mut unlinked = e.clone();
    unlinked.hash.clear();
    serde_json::to_vec(&unlinked).map_err(|err| JournalError::Corrupt {
        path: String::new(),
        line: usize::try_from(e.seq).unwrap_or(usize::MAX),
        detail: err.to_string(),
    })
}

/// Chains records one at a time under `key`, each after the one before: what an append writes
/// in pieces (a ConfigMap shard at a time) takes its lines from one of these.
pub(crate) struct Chainer<'k> {
    key: &'k JournalKey,
    time: String,
    seq: u64,
    link: String,
}

impl<'k> Chainer<'k> {
    /// After the entry numbered `seq` with link `link`.
    pub(crate) fn new(key: &'k JournalKey, seq: u64, link: String) -> Self {
        Chainer {
            key,
            time: jiff::Timestamp::now().to_string(),
            seq,
            link,
        }
    }

    /// The JSON line (with its newline) of `r` as the next entry; the chain moves past it.
    pub(crate) fn line(&mut self, r: &Record) -> Result<String, JournalError> {
        let seq = self.seq + 1;
        let mut e = Entry {
            seq,
            time: self.time.clone(),
            record: r.clone(),
            prev_hash: self.link.clone(),
            key_id: Some(self.key.id().to_string()),
            hash: String::new(),
            trust: Trust::Unchecked,
        };
        e.hash = self.key.mac(&[e.prev_hash.as_bytes(), &canonical(&e)?]);
        let mut line = serde_json::to_string(&e).map_err(|err| JournalError::Corrupt {
            path: String::new(),
            line: usize::try_from(seq).unwrap_or(usize::MAX),
            detail: err.to_string(),
        })?;
        line.push('\n');
        self.seq = seq;
        self.link = e.hash;
        Ok(line)
    }

    /// The sequence number and link of the last entry chained.
    pub(crate) fn position(&self) -> (u64, &str) {
        (self.seq, &self.link)
    }

    /// [`Self::position`], owned.
    pub(crate) fn end(self) -> (u64, String) {
        (self.seq, self.link)
    }
}

/// Chain `records` under `key` after the entry numbered `seq` with link `link`: the JSON Lines
/// to append, and the new tail (sequence number and link).
pub(crate) fn chain_lines(
    key: &JournalKey,
    records: &[Record],
    seq: u64,
    link: String,
) -> Result<(String, u64, String), JournalError> {
    let mut chain = Chainer::new(key, seq, link);
    let mut lines = String::new();
    for r in records {
        lines.push_str(&chain.line(r)?);
    }
    let (seq, link) = chain.end();
    Ok((lines, seq, link))
}

/// The chain head as kept outside the journal: the sequence number and link of an entry.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Head {
    /// Sequence number of the entry.
    pub seq: u64,
    /// Its link.
    pub link: String,
    /// MAC of `seq` and `link` under the journal key (so a head file cannot be forged either).
    #[serde(default)]
    pub mac: String,
}

impl Head {
    /// The head at `seq`/`link`, sealed with `key`.
    pub fn sealed(key: &JournalKey, seq: u64, link: &str) -> Self {
        let mac = key.mac(&[b"head", seq.to_string().as_bytes(), link.as_bytes()]);
        Head {
            seq,
            link: link.to_string(),
            mac,
        }
    }

    /// Whether the seal verifies under `key`.
    pub fn verifies(&self, key: &JournalKey) -> bool {
        key.verify(
            &[
                b"head",
                self.seq.to_string().as_bytes(),
                self.link.as_bytes(),
            ],
            &self.mac,
        )
    }

    /// Check a journal whose entries end at `seq`, with `link_at(n)` the stored link of entry
    /// `n`: the head must be sealed by `key` (when given; a journal with legacy entries only
    /// is read without one) and name an entry the journal still holds.
    pub(crate) fn check(
        &self,
        key: Option<&JournalKey>,
        seq: u64,
        link_at: impl Fn(u64) -> Option<String>,
        origin: &str,
        kept_in: &str,
    ) -> Result<(), JournalError> {
        let tampered = |detail: String| JournalError::Tampered {
            path: origin.to_string(),
            line: 0,
            seq: self.seq,
            detail,
        };
        if key.is_some_and(|k| !self.verifies(k)) {
            return Err(tampered(format!(
                "the head kept in {kept_in} is not sealed by the journal key"
            )));
        }
        if self.seq > seq {
            return Err(tampered(format!(
                "the head kept in {kept_in} names entry {} but the journal ends at {seq}: entries were removed from its end",
                self.seq
            )));
        }
        if self.seq > 0 && link_at(self.seq).as_deref() != Some(self.link.as_str()) {
            return Err(tampered(format!(
                "entry {} is not the one the head kept in {kept_in} names: the journal was rewritten",
                self.seq
            )));
        }
        Ok(())
    }
}
