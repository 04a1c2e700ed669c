//! Objects Graph refuses to write one by one, whatever the application's grants (graph-api.md
//! §14, "Objects that can't be converted" and "Per-object 403"): the emulator's per-object
//! `privileged` marker, set by the tenant file (`privileged` on a user or group) or
//! `PUT /_emulator/privileged`. Off for every object of the default seed: the demo converts
//! every seeded user and expects the rollout to converge.

use serde::{Deserialize, Serialize};

use super::Tenant;

/// Why Graph refuses writes to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Privilege {
    /// Holds an Entra administrator role: its Source of Authority can't be switched, and an
    /// application restores it from the deleted items only with `User.DeleteRestore.All`
    /// (`User.ReadWrite.All` alone is refused; graph docs `directory-deleteditems-restore`).
    AdminRole,
    /// An administrative object in AD (protected by AdminSDHolder, `adminCount=1`): "administrative
    /// objects … can't have their SOA changed" (entra-docs `concept-source-of-authority-overview`).
    AdminSdHolder,
    /// A member of a restricted-management administrative unit: every write to it is refused
    /// to a tenant-scoped application (SOA switch, PATCH, restore).
    RestrictedAu,
}

/// What Graph answers an SOA switch of a privileged object. UNCONFIRMED: Microsoft documents
/// that the switch is refused, not the answer; both plausible answers can be rehearsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RefusalAnswer {
    /// `403 Authorization_RequestDenied` "Insufficient privileges to complete the operation."
    /// (Graph's generic refusal; default).
    #[default]
    Forbidden,
    /// `400 Request_BadRequest` naming the administrative object (the emulator's wording).
    BadRequest,
}

/// The marker of one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// Why it is refused.
    pub privilege: Privilege,
    /// How an SOA switch of it is refused.
    #[serde(default)]
    pub answer: RefusalAnswer,
}

impl Tenant {
    /// The marker of the user, group or deleted user `id`, if privileged.
    pub fn privilege(&self, id: &str) -> Option<Marker> {
        self.privileged.get(&id.to_lowercase()).copied()
    }

    /// Marks (or, with `None`, unmarks) the user, group or deleted user `id`; false when there
    /// is no such object.
    pub fn set_privilege(&mut self, id: &str, marker: Option<Marker>) -> bool {
        let id = id.to_lowercase();
        let known = self.users.contains_key(&id)
            || self.groups.contains_key(&id)
            || self.deleted_users.contains_key(&id)
            || self.deleted_groups.contains_key(&id);
        if !known {
            return false;
        }
        match marker {
            Some(m) => {
                self.privileged.insert(id, m);
            }
            None => {
                self.privileged.remove(&id);
            }
        }
        true
    }
}
