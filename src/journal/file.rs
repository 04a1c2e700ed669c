//! The journal as a JSON Lines file, each append fsync'ed before it returns.
//!
//! An entry is committed once its line, newline included, is on disk: an append is acknowledged
//! only after `fsync`, and nothing acts on records before that. A crash (SIGKILL, power loss)
//! in the middle of an append can leave a final line without its newline; that torn tail was
//! never acknowledged, so no change was made on its behalf, and opening the journal drops it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::warn;

use super::{Entry, GENESIS_HASH, Journal, JournalError, Record, chain_hash};

struct Tail {
    file: File,
    seq: u64,
    hash: String,
}

/// A journal stored as one JSON object per line.
pub struct FileJournal {
    path: PathBuf,
    tail: Mutex<Tail>,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// Hash of the last entry (the chain's head), to compare with a copy kept elsewhere.
    pub head: String,
    /// The line number of an unterminated final line: an append interrupted by a crash before
    /// it was acknowledged (not part of the journal; [`FileJournal::open`] drops it).
    pub torn_tail: Option<usize>,
}

/// Where the committed lines end.
struct Scan {
    /// Byte length of the committed lines (each with its newline).
    committed: u64,
    /// The line number of an unterminated final line, if any.
    torn: Option<usize>,
}

impl FileJournal {
    /// Open (or create) the journal at `path`, verifying the existing chain so new entries
    /// never extend an altered history, and dropping a torn final line (see the module doc).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| JournalError::Io {
            path: path.display().to_string(),
            source,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf);
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let existed = path.exists();
        let (report, committed) = if existed {
            verify_scan(&path)?
        } else {
            (
                VerifyReport {
                    entries: 0,
                    head: GENESIS_HASH.to_string(),
                    torn_tail: None,
                },
                0,
            )
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        if let Some(line) = report.torn_tail {
            warn!(
                journal = %path.display(),
                line,
                "dropping an incomplete final line: an append interrupted by a crash, never acknowledged"
            );
            file.set_len(committed).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        if !existed {
            // The new file's directory entry must be durable too, or a crash could lose the
            // whole journal along with the intents fsync'ed into it.
            file.sync_all().map_err(io)?;
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(FileJournal {
            tail: Mutex::new(Tail {
                file,
                seq: report.entries,
                hash: report.head,
            }),
            path,
        })
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read every committed entry.
    pub fn read(path: impl AsRef<Path>) -> Result<Vec<Entry>, JournalError> {
        let mut out = Vec::new();
        for_each_entry(path.as_ref(), |_, e| {
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    /// Check the whole chain: sequence numbers, links and hashes. An error names the line.
    pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, JournalError> {
        verify_scan(path.as_ref()).map(|(report, _)| report)
    }
}

fn verify_scan(path: &Path) -> Result<(VerifyReport, u64), JournalError> {
    let shown = path.display().to_string();
    let mut prev = GENESIS_HASH.to_string();
    let mut seq = 0;
    let scan = for_each_entry(path, |line, e| {
        let tampered = |detail: &str| JournalError::Tampered {
            path: shown.clone(),
            line,
            seq: e.seq,
            detail: detail.to_string(),
        };
        if e.seq != seq + 1 {
            return Err(tampered(&format!("expected sequence {}", seq + 1)));
        }
        if e.prev_hash != prev {
            return Err(tampered("prevHash does not match the previous entry"));
        }
        if entry_hash(&e)? != e.hash {
            return Err(tampered("content does not match its hash"));
        }
        seq = e.seq;
        prev = e.hash;
        Ok(())
    })?;
    Ok((
        VerifyReport {
            entries: seq,
            head: prev,
            torn_tail: scan.torn,
        },
        scan.committed,
    ))
}

impl Journal for FileJournal {
    fn append<'a>(
        &'a self,
        records: &'a [Record],
    ) -> super::BoxFuture<'a, Result<(), JournalError>> {
        // Small synchronous writes and one fsync per group: cheaper than a thread hop.
        Box::pin(std::future::ready(self.append_now(records)))
    }

    fn entries_for<'a>(
        &'a self,
        resource: &'a super::ResourceKey,
    ) -> super::BoxFuture<'a, Result<Vec<Entry>, JournalError>> {
        let result = Self::read(&self.path).map(|all| {
            all.into_iter()
                .filter(|e| &e.record.resource == resource)
                .collect()
        });
        Box::pin(std::future::ready(result))
    }

    fn visit_for<'a>(
        &'a self,
        resource: &'a super::ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> super::BoxFuture<'a, Result<(), JournalError>> {
        let result = for_each_entry(&self.path, |_, e| {
            if &e.record.resource == resource {
                visit(e);
            }
            Ok(())
        })
        .map(|_| ());
        Box::pin(std::future::ready(result))
    }
}

impl FileJournal {
    /// Append synchronously (what [`Journal::append`] does).
    pub fn append_now(&self, records: &[Record]) -> Result<(), JournalError> {
        if records.is_empty() {
            return Ok(());
        }
        let io = |source| JournalError::Io {
            path: self.path.display().to_string(),
            source,
        };
        // A poisoned lock only means another thread panicked mid-append; the file itself is
        // the source of truth and the tail values are still the last fully written ones.
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let (lines, seq, hash) = super::chain_lines(records, tail.seq, tail.hash.clone())?;
        tail.file.write_all(lines.as_bytes()).map_err(io)?;
        // One fsync for the whole group: every intent is durable before any request leaves.
        tail.file.sync_data().map_err(io)?;
        tail.seq = seq;
        tail.hash = hash;
        Ok(())
    }
}

pub(super) fn entry_hash(e: &Entry) -> Result<String, JournalError> {
    let mut unhashed = e.clone();
    unhashed.hash.clear();
    let body = serde_json::to_vec(&unhashed).map_err(|err| JournalError::Corrupt {
        path: String::new(),
        line: e.seq as usize,
        detail: err.to_string(),
    })?;
    Ok(chain_hash(&e.prev_hash, &body))
}

/// Calls `f` with each committed entry and its 1-based line number; blank lines are skipped.
fn for_each_entry(
    path: &Path,
    mut f: impl FnMut(usize, Entry) -> Result<(), JournalError>,
) -> Result<Scan, JournalError> {
    let shown = path.display().to_string();
    let io = |source| JournalError::Io {
        path: shown.clone(),
        source,
    };
    let mut scan = Scan {
        committed: 0,
        torn: None,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(scan),
        Err(source) => return Err(io(source)),
    };
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    // Bounded by the file's length: each round consumes at least one byte or ends.
    for line in 1.. {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            scan.torn = Some(line);
            break;
        }
        scan.committed += n as u64;
        let text = String::from_utf8_lossy(&buf);
        if text.trim().is_empty() {
            continue;
        }
        let entry: Entry = serde_json::from_str(&text).map_err(|e| JournalError::Corrupt {
            path: shown.clone(),
            line,
            detail: e.to_string(),
        })?;
        f(line, entry)?;
    }
    Ok(scan)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{Action, Phase, ResourceKey};
    use super::*;

    fn rec(id: &str, phase: Phase) -> Record {
        Record {
            resource: ResourceKey {
                kind: "TenantSyncPolicy".into(),
                namespace: "identity".into(),
                name: "contoso".into(),
            },
            tenant_id: "t".into(),
            object_type: "user".into(),
            object_id: id.into(),
            object_name: Some(format!("{id}@contoso.com")),
            action: Action::ClearImmutableId,
            phase,
            prior: serde_json::json!({"onPremisesImmutableId": "nofCJe0gZk6D8J4gRgrt+A=="}),
            request_id: None,
            error: None,
            note: None,
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "eco-journal-{}-{name}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("journal.jsonl")
    }

    #[test]
    fn appends_chain_and_survive_reopen() {
        let p = temp("reopen");
        let j = FileJournal::open(&p).unwrap();
        j.append_now(&[rec("a", Phase::Intent), rec("b", Phase::Intent)])
            .unwrap();
        drop(j);
        let j = FileJournal::open(&p).unwrap();
        j.append_now(&[rec("a", Phase::Applied)]).unwrap();
        let entries = FileJournal::read(&p).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2].seq, 3);
        assert_eq!(entries[2].prev_hash, entries[1].hash);
        assert_eq!(
            entries[0].record.prior["onPremisesImmutableId"],
            "nofCJe0gZk6D8J4gRgrt+A=="
        );
        let report = FileJournal::verify(&p).unwrap();
        assert_eq!(report.entries, 3);
        assert_eq!(report.head, entries[2].hash);
    }

    #[tokio::test]
    async fn applied_objects_reads_only_what_it_keeps() {
        let p = temp("applied");
        let j = FileJournal::open(&p).unwrap();
        let mut other = rec("c", Phase::Applied);
        other.resource.name = "fabrikam".into();
        let mut switched = rec("d", Phase::Applied);
        switched.action = Action::SwitchToCloud;
        j.append_now(&[
            rec("a", Phase::Intent),
            rec("a", Phase::Applied),
            rec("b", Phase::Failed),
            other,
            switched,
        ])
        .unwrap();
        let key = rec("a", Phase::Intent).resource;
        let ids = super::super::applied_objects(&j, &key, Action::ClearImmutableId)
            .await
            .unwrap();
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), vec!["a".to_string()]);
        let mut seen = 0;
        j.visit_for(&key, &mut |_| seen += 1).await.unwrap();
        assert_eq!(seen, 4);
    }

    #[test]
    fn tampering_is_detected() {
        let p = temp("tamper");
        let j = FileJournal::open(&p).unwrap();
        j.append_now(&[
            rec("a", Phase::Intent),
            rec("b", Phase::Intent),
            rec("c", Phase::Intent),
        ])
        .unwrap();
        drop(j);
        let text = std::fs::read_to_string(&p).unwrap();
        // Change a prior value.
        std::fs::write(
            &p,
            text.replacen("nofCJe0gZk6D8J4gRgrt+A==", "AAAAAAAAAAAAAAAAAAAAAA==", 1),
        )
        .unwrap();
        let err = FileJournal::verify(&p).unwrap_err();
        assert!(
            matches!(err, JournalError::Tampered { seq: 1, .. }),
            "{err}"
        );
        // Remove an entry.
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&p, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        assert!(matches!(
            FileJournal::verify(&p).unwrap_err(),
            JournalError::Tampered { seq: 3, .. }
        ));
        // A tampered journal is not extended.
        assert!(FileJournal::open(&p).is_err());
    }

    #[test]
    fn a_torn_final_line_is_dropped_on_open_and_reported_by_verify() {
        let p = temp("torn");
        let j = FileJournal::open(&p).unwrap();
        j.append_now(&[rec("a", Phase::Intent), rec("b", Phase::Intent)])
            .unwrap();
        drop(j);
        let whole = std::fs::read(&p).unwrap();
        // A crash in the middle of the next append: half a line, no newline.
        let mut torn = whole.clone();
        torn.extend_from_slice(&whole[..whole.len() / 3]);
        std::fs::write(&p, &torn).unwrap();
        let report = FileJournal::verify(&p).unwrap();
        assert_eq!((report.entries, report.torn_tail), (2, Some(3)));
        assert_eq!(FileJournal::read(&p).unwrap().len(), 2);
        let j = FileJournal::open(&p).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), whole, "the torn tail is gone");
        j.append_now(&[rec("a", Phase::Applied)]).unwrap();
        let report = FileJournal::verify(&p).unwrap();
        assert_eq!((report.entries, report.torn_tail), (3, None));
    }

    #[test]
    fn a_flipped_byte_is_reported_with_its_line() {
        let p = temp("flip");
        let j = FileJournal::open(&p).unwrap();
        j.append_now(&[
            rec("a", Phase::Intent),
            rec("b", Phase::Intent),
            rec("c", Phase::Intent),
        ])
        .unwrap();
        drop(j);
        let text = std::fs::read_to_string(&p).unwrap();
        // In line 2, inside the object id "b": still JSON, but not what was hashed.
        let at = text.find("\"objectId\":\"b\"").unwrap() + "\"objectId\":\"".len();
        let mut bytes = text.into_bytes();
        bytes[at] ^= 0x01;
        std::fs::write(&p, &bytes).unwrap();
        let err = FileJournal::verify(&p).unwrap_err();
        assert!(
            matches!(
                err,
                JournalError::Tampered {
                    line: 2,
                    seq: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn garbage_lines_are_reported_with_their_line() {
        let p = temp("garbage");
        std::fs::write(&p, "not json\n").unwrap();
        let err = FileJournal::verify(&p).unwrap_err();
        assert!(
            matches!(err, JournalError::Corrupt { line: 1, .. }),
            "{err}"
        );
    }
}
