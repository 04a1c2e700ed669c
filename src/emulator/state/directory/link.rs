//! The link to a real directory: joins, the read staged for a cycle, read statistics and
//! what an import did.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;

use super::{AdUser, DirectoryScope};

/// What one import did (object ids; DNs for AD objects that made no user).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryReport {
    /// User objects read.
    pub read: usize,
    /// Of those, under a synchronised OU.
    pub in_scope: usize,
    /// Synced users provisioned for new AD objects.
    pub created: Vec<String>,
    /// Synced users whose values changed.
    pub updated: Vec<String>,
    /// Cloud-only users given an AD twin to match (the cycle joins or blocks them).
    pub matched: Vec<String>,
    /// Objects whose AD twin left the scope (moved out, or deleted in AD).
    pub left_scope: Vec<String>,
    /// AD objects not provisioned: their UPN belongs to another synced user (DNs).
    pub conflicts: Vec<String>,
}

/// The emulator's link to a real directory: its scope, the joins made, the snapshot staged
/// for the next cycle and how reads went.
#[derive(Debug, Clone)]
pub struct DirectoryLink {
    /// Base DN and synchronised OUs.
    pub scope: DirectoryScope,
    /// Anchor of each joined AD object, by `objectGUID`.
    pub(super) joins: HashMap<String, String>,
    /// Read for the cycle due now: the users, or why the read failed.
    pub(in crate::emulator::state) staged: Option<Result<Vec<AdUser>, String>>,
    /// Reads and failures.
    pub status: DirectoryStatus,
}

/// How the reads of the directory went (`GET /_emulator/directory`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryStatus {
    /// Successful reads.
    pub reads: u64,
    /// Failed reads; each made its cycle change nothing.
    pub failures: u64,
    /// Cycles that did not run because the directory could not be read.
    pub skipped_cycles: u64,
    /// The last failure (none once a read succeeds again).
    pub last_error: Option<String>,
    /// Emulated time of the last successful read.
    #[serde(serialize_with = "ts")]
    pub last_read_at: Option<Timestamp>,
    /// What the last import did.
    pub last_import: Option<DirectoryReport>,
}

fn ts<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&crate::emulator::clock::rfc3339(*t)),
        None => s.serialize_none(),
    }
}

impl DirectoryLink {
    /// A link with nothing read yet.
    pub fn new(scope: DirectoryScope) -> Self {
        Self {
            scope,
            joins: HashMap::new(),
            staged: None,
            status: DirectoryStatus::default(),
        }
    }

    /// Records a failed read.
    pub fn failed(&mut self, error: String) {
        self.status.failures += 1;
        self.status.last_error = Some(error);
    }
}

/// What a due cycle has to work with.
pub(in crate::emulator::state) enum CycleInput {
    /// No directory linked, or its snapshot imported: run.
    Ready,
    /// Linked, nothing read yet: wait for the next request, which reads first.
    Wait,
    /// The read failed: the cycle changes nothing.
    Failed,
}
