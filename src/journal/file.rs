//! The journal as a JSON Lines file, each append fsync'ed before it returns.
//!
//! An entry is committed once its line is on disk: an append is acknowledged only after
//! `fsync`, and nothing acts on records before that. A crash (SIGKILL, power loss) in the
//! middle of an append can leave a final line cut short; that torn tail was never
//! acknowledged, so no change was made on its behalf, and opening the journal drops it. A
//! final line that is a whole entry but lacks its newline is kept (and reported): dropping it
//! would let whoever deletes one byte remove an entry.
//!
//! The chain's head (sequence number and link of the last entry, sealed with the key) is kept
//! in `<journal>.head`, rewritten after every append: cutting entries off the end, or deleting
//! the head file of a keyed journal, is detected; rolling back both together is not.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::warn;

use super::chain::{Head, Trust, Verifier, chain_lines};
use super::key::JournalKey;
use super::{Entry, GENESIS_HASH, Journal, JournalError, Record};

struct Tail {
    file: File,
    seq: u64,
    hash: String,
}

/// A journal stored as one JSON object per line, chained under a key.
pub struct FileJournal {
    path: PathBuf,
    key: JournalKey,
    tail: Mutex<Tail>,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// Link of the last entry (the chain's head).
    pub head: String,
    /// The line number of an unterminated final line that is not a whole entry: an append
    /// interrupted by a crash before it was acknowledged (not part of the journal;
    /// [`FileJournal::open`] drops it).
    pub torn_tail: Option<usize>,
    /// The line number of a final entry without its newline (kept; the next open adds it).
    pub unterminated: Option<usize>,
    /// Entries written before journals were keyed: consistent, but proof of nothing.
    pub legacy: u64,
    /// The sequence number the head kept outside the journal names (`None`: no head kept,
    /// as for a journal with only legacy entries).
    pub head_kept: Option<u64>,
}

/// Where the committed lines end.
struct Scan {
    /// Byte length of the committed lines (each with its newline).
    committed: u64,
    /// The line number of an unterminated final line that is not an entry, if any.
    torn: Option<usize>,
    /// The line number of an unterminated final line that is an entry, if any.
    unterminated: Option<usize>,
}

/// `<journal>.head`.
pub fn head_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

/// The key file of the journal at `journal`: `given`, else `<journal>.key`.
pub fn key_path(journal: &Path, given: Option<&Path>) -> PathBuf {
    given.map(Path::to_path_buf).unwrap_or_else(|| {
        let mut name = journal.as_os_str().to_owned();
        name.push(".key");
        PathBuf::from(name)
    })
}

/// The key of the journal at `journal`, from `key_file`. A missing key file is created (mode
/// 0600, random key) only when `create` is set and the journal holds no keyed entry yet;
/// otherwise a missing or wrong key is an error that says so. `None` when the key file is
/// missing, `create` is not set and the journal needs none (absent, or legacy entries only).
pub fn load_key(
    journal: &Path,
    key_file: &Path,
    create: bool,
) -> Result<Option<JournalKey>, JournalError> {
    if key_file.exists() {
        return Ok(Some(JournalKey::load_or_create_file(key_file, false)?));
    }
    // Keyed entries without their key: say so rather than start a new key.
    FileJournal::read(journal, None).map_err(|e| match e {
        JournalError::KeyRequired { origin } => JournalError::KeyRequired {
            origin: format!("{origin} (key file {} not found)", key_file.display()),
        },
        other => other,
    })?;
    if create {
        Ok(Some(JournalKey::load_or_create_file(key_file, true)?))
    } else {
        Ok(None)
    }
}

/// The key at the default place, `<journal>.key`, created when absent as `apply` does (for
/// tools and tests that use the defaults).
pub fn default_key(journal: &Path) -> Result<JournalKey, JournalError> {
    let file = key_path(journal, None);
    load_key(journal, &file, true)?.ok_or_else(|| JournalError::KeyRequired {
        origin: journal.display().to_string(),
    })
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl FileJournal {
    /// Open (or create) the journal at `path` chained under `key`, verifying the existing
    /// chain and its head so new entries never extend an altered history, and dropping a torn
    /// final line (see the module doc).
    pub fn open(path: impl AsRef<Path>, key: JournalKey) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.clone();
        let io = io_err(&shown);
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf);
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(&io)?;
        }
        let existed = path.exists();
        let (report, scan) = if existed {
            verify_scan(&path, Some(&key))?
        } else {
            let report = VerifyReport {
                entries: 0,
                head: GENESIS_HASH.to_string(),
                torn_tail: None,
                unterminated: None,
                legacy: 0,
                head_kept: None,
            };
            let scan = Scan {
                committed: 0,
                torn: None,
                unterminated: None,
            };
            (report, scan)
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(&io)?;
        if let Some(line) = report.torn_tail {
            warn!(
                journal = %path.display(),
                line,
                "dropping an incomplete final line: an append interrupted by a crash, never acknowledged"
            );
            file.set_len(scan.committed).map_err(&io)?;
            file.sync_all().map_err(&io)?;
        }
        if let Some(line) = report.unterminated {
            warn!(journal = %path.display(), line, "the final entry had no newline: kept, newline added");
            file.write_all(b"\n").map_err(&io)?;
            file.sync_all().map_err(&io)?;
        }
        if !existed {
            // The new file's directory entry must be durable too, or a crash could lose the
            // whole journal along with the intents fsync'ed into it.
            file.sync_all().map_err(&io)?;
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            File::open(&dir).and_then(|d| d.sync_all()).map_err(&io)?;
        }
        if report.head_kept != Some(report.entries) {
            write_head(&path, &Head::sealed(&key, report.entries, &report.head))?;
        }
        Ok(FileJournal {
            tail: Mutex::new(Tail {
                file,
                seq: report.entries,
                hash: report.head,
            }),
            key,
            path,
        })
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read every committed entry, each with its [`Trust`] (entries that do not verify are
    /// returned too, marked). Keyed entries need `key`.
    pub fn read(
        path: impl AsRef<Path>,
        key: Option<&JournalKey>,
    ) -> Result<Vec<Entry>, JournalError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let mut chain = Verifier::new(key);
        let mut out = Vec::new();
        for_each_entry(path, |_, mut e| {
            chain.check(&mut e, &shown)?;
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    /// Check the whole chain under `key` (sequence numbers, links) and the head kept in
    /// `<journal>.head`. An error names the line.
    pub fn verify(
        path: impl AsRef<Path>,
        key: Option<&JournalKey>,
    ) -> Result<VerifyReport, JournalError> {
        verify_scan(path.as_ref(), key).map(|(report, _)| report)
    }

    fn strict(
        &self,
        resource: &super::ResourceKey,
        visit: &mut dyn FnMut(Entry),
    ) -> Result<(), JournalError> {
        let shown = self.path.display().to_string();
        let mut chain = Verifier::new(Some(&self.key));
        for_each_entry(&self.path, |line, mut e| {
            chain.check(&mut e, &shown)?;
            broken_is_tampered(&e, &shown, line)?;
            if &e.record.resource == resource {
                visit(e);
            }
            Ok(())
        })
        .map(|_| ())
    }
}

fn broken_is_tampered(e: &Entry, origin: &str, line: usize) -> Result<(), JournalError> {
    match &e.trust {
        Trust::Broken(detail) => Err(JournalError::Tampered {
            path: origin.to_string(),
            line,
            seq: e.seq,
            detail: detail.clone(),
        }),
        _ => Ok(()),
    }
}

fn verify_scan(
    path: &Path,
    key: Option<&JournalKey>,
) -> Result<(VerifyReport, Scan), JournalError> {
    let shown = path.display().to_string();
    let mut chain = Verifier::new(key);
    let mut links = Vec::new();
    let scan = for_each_entry(path, |line, mut e| {
        chain.check(&mut e, &shown)?;
        broken_is_tampered(&e, &shown, line)?;
        links.push(e.hash);
        Ok(())
    })?;
    let (entries, head) = chain.tail();
    let keyed = entries - chain.legacy;
    let kept = read_head(path)?;
    match &kept {
        Some(h) => h.check(
            key,
            entries,
            |n| {
                usize::try_from(n)
                    .ok()
                    .and_then(|n| links.get(n.wrapping_sub(1)).cloned())
            },
            &shown,
            &head_path(path).display().to_string(),
        )?,
        None if keyed > 0 => {
            return Err(JournalError::Tampered {
                path: shown,
                line: 0,
                seq: entries,
                detail: format!(
                    "{} is missing: the head kept outside the journal was deleted",
                    head_path(path).display()
                ),
            });
        }
        None => {}
    }
    let report = VerifyReport {
        entries,
        head: head.to_string(),
        torn_tail: scan.torn,
        unterminated: scan.unterminated,
        legacy: chain.legacy,
        head_kept: kept.map(|h| h.seq),
    };
    Ok((report, scan))
}

fn read_head(journal: &Path) -> Result<Option<Head>, JournalError> {
    let path = head_path(journal);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| JournalError::Corrupt {
                path: path.display().to_string(),
                line: 1,
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Replace the head file atomically (write aside, fsync, rename).
fn write_head(journal: &Path, head: &Head) -> Result<(), JournalError> {
    let path = head_path(journal);
    let mut aside = path.as_os_str().to_owned();
    aside.push(".tmp");
    let aside = PathBuf::from(aside);
    let io = io_err(&path);
    let bytes = serde_json::to_vec(head).map_err(|e| io(std::io::Error::other(e)))?;
    let mut f = File::create(&aside).map_err(&io)?;
    f.write_all(&bytes).map_err(&io)?;
    f.sync_all().map_err(&io)?;
    std::fs::rename(&aside, &path).map_err(&io)
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
        let mut out = Vec::new();
        let result = self.strict(resource, &mut |e| out.push(e)).map(|()| out);
        Box::pin(std::future::ready(result))
    }

    fn visit_for<'a>(
        &'a self,
        resource: &'a super::ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> super::BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(std::future::ready(self.strict(resource, visit)))
    }

    fn audit_visit_for<'a>(
        &'a self,
        resource: &'a super::ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> super::BoxFuture<'a, Result<(), JournalError>> {
        let shown = self.path.display().to_string();
        let mut chain = Verifier::new(Some(&self.key));
        let result = for_each_entry(&self.path, |_, mut e| {
            chain.check(&mut e, &shown)?;
            if &e.record.resource == resource {
                visit(e);
            }
            Ok(())
        })
        .map(|_| ());
        Box::pin(std::future::ready(result))
    }

    fn audit_for<'a>(
        &'a self,
        resource: &'a super::ResourceKey,
    ) -> super::BoxFuture<'a, Result<Vec<Entry>, JournalError>> {
        let result = Self::read(&self.path, Some(&self.key)).map(|all| {
            all.into_iter()
                .filter(|e| &e.record.resource == resource)
                .collect()
        });
        Box::pin(std::future::ready(result))
    }
}

impl FileJournal {
    /// Append synchronously (what [`Journal::append`] does).
    pub fn append_now(&self, records: &[Record]) -> Result<(), JournalError> {
        if records.is_empty() {
            return Ok(());
        }
        let io = io_err(&self.path);
        // A poisoned lock only means another thread panicked mid-append; the file itself is
        // the source of truth and the tail values are still the last fully written ones.
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let (lines, seq, hash) = chain_lines(&self.key, records, tail.seq, tail.hash.clone())?;
        tail.file.write_all(lines.as_bytes()).map_err(&io)?;
        // One fsync for the whole group: every intent is durable before any request leaves.
        tail.file.sync_data().map_err(&io)?;
        tail.seq = seq;
        tail.hash = hash;
        write_head(&self.path, &Head::sealed(&self.key, seq, &tail.hash))
    }
}

/// Calls `f` with each committed entry and its 1-based line number; blank lines are skipped.
fn for_each_entry(
    path: &Path,
    mut f: impl FnMut(usize, Entry) -> Result<(), JournalError>,
) -> Result<Scan, JournalError> {
    let shown = path.display().to_string();
    let io = io_err(path);
    let mut scan = Scan {
        committed: 0,
        torn: None,
        unterminated: None,
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
        let n = reader.read_until(b'\n', &mut buf).map_err(&io)?;
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buf);
        if buf.last() != Some(&b'\n') {
            // A whole entry without its newline is an entry; anything else a torn append.
            match serde_json::from_str::<Entry>(&text) {
                Ok(entry) => {
                    scan.unterminated = Some(line);
                    scan.committed += n as u64;
                    f(line, entry)?;
                }
                Err(_) => scan.torn = Some(line),
            }
            break;
        }
        scan.committed += n as u64;
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
#[path = "file_tests.rs"]
mod tests;
