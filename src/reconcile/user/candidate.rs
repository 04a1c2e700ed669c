//! The users a selection holds, compactly: at 100,000 users, every byte a user is 100 KB.

use crate::graph::models::User;

/// A selected user, with what the plan needs: compact, since a selection holds up to 100,000
/// of them (its id, UPN and ImmutableID share one allocation: 32 bytes and one block a user,
/// not three strings).
#[derive(Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The object id, the UPN and the ImmutableID, back to back.
    text: Box<str>,
    /// Where the UPN starts in `text` (where the id ends).
    upn_at: u32,
    /// Where the ImmutableID starts (where the UPN ends); `None` when the user has none.
    immutable_at: Option<u32>,
    /// Currently synchronised from AD.
    pub synced: bool,
    /// Synchronised once, no longer (cloud-managed).
    pub formerly_synced: bool,
    /// Soft-deleted (in `directory/deletedItems`), e.g. after its AD object left sync scope.
    pub deleted: bool,
    /// Switched back to AD (`isCloudManaged: false`) but not yet re-synchronised.
    pub rolled_back: bool,
}

impl Candidate {
    /// User `id` with UPN `upn` and ImmutableID `immutable_id`; every flag false.
    pub fn new(id: &str, upn: &str, immutable_id: Option<&str>) -> Self {
        let mut text =
            String::with_capacity(id.len() + upn.len() + immutable_id.map_or(0, str::len));
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        text.push_str(id);
        let upn_at = at(text.len());
        text.push_str(upn);
        let immutable_at = immutable_id.map(|v| {
            let start = at(text.len());
            text.push_str(v);
            start
        });
        Candidate {
            text: text.into_boxed_str(),
            upn_at,
            immutable_at,
            synced: false,
            formerly_synced: false,
            deleted: false,
            rolled_back: false,
        }
    }

    fn part(&self, from: u32, to: Option<u32>) -> &str {
        let (from, to) = (from as usize, to.map_or(self.text.len(), |t| t as usize));
        self.text.get(from..to).unwrap_or_default()
    }

    /// Object id.
    pub fn id(&self) -> &str {
        self.part(0, Some(self.upn_at))
    }

    /// UPN.
    pub fn upn(&self) -> &str {
        self.part(self.upn_at, self.immutable_at)
    }

    /// The ImmutableID.
    pub fn immutable_id(&self) -> Option<&str> {
        self.immutable_at.map(|at| self.part(at, None))
    }

    /// Forgets the ImmutableID (Graph shows it cleared).
    pub fn clear_immutable_id(&mut self) {
        if let Some(at) = self.immutable_at.take() {
            let kept = self.text.get(..at as usize).unwrap_or_default();
            self.text = kept.into();
        }
    }
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("id", &self.id())
            .field("upn", &self.upn())
            .field("immutable_id", &self.immutable_id())
            .field("synced", &self.synced)
            .field("formerly_synced", &self.formerly_synced)
            .field("deleted", &self.deleted)
            .field("rolled_back", &self.rolled_back)
            .finish()
    }
}

impl From<User> for Candidate {
    fn from(u: User) -> Self {
        let mut c = Candidate::new(
            &u.id,
            u.user_principal_name.as_deref().unwrap_or_default(),
            u.on_premises_immutable_id.as_deref(),
        );
        c.synced = u.is_synced();
        c.formerly_synced = u.is_formerly_synced();
        c
    }
}

/// Selected users, ordered by object id (waves are deterministic). A sorted vector: at
/// 100,000 users a map's nodes and key copies would cost twice the users themselves.
#[derive(Debug, Default)]
pub struct Candidates {
    pub(super) sorted: Vec<Candidate>,
}

impl Candidates {
    /// From users in any order; of two with the same id, the first is kept.
    pub fn from_vec(mut users: Vec<Candidate>) -> Self {
        // Stable: equal ids keep their order, so `dedup_by` keeps the first.
        users.sort_by(|a, b| a.id().cmp(b.id()));
        users.dedup_by(|later, first| later.id() == first.id());
        users.shrink_to_fit();
        Candidates { sorted: users }
    }

    /// From users sorted by id, each once.
    pub(super) fn from_sorted(mut users: Vec<Candidate>) -> Self {
        users.shrink_to_fit();
        Candidates { sorted: users }
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.sorted.binary_search_by(|c| c.id().cmp(id)).ok()
    }

    /// The user with object id `id`.
    pub fn get(&self, id: &str) -> Option<&Candidate> {
        self.position(id).map(|i| &self.sorted[i])
    }

    /// The user with object id `id`, to change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Candidate> {
        self.position(id).map(|i| &mut self.sorted[i])
    }

    /// The user at `index` in id order (as [`Candidates::values`] yields them).
    pub fn at(&self, index: usize) -> Option<&Candidate> {
        self.sorted.get(index)
    }

    /// Every user, by object id.
    pub fn values(&self) -> std::slice::Iter<'_, Candidate> {
        self.sorted.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_keeps_its_three_strings_in_one_block() {
        let mut c = Candidate::new("id-1", "ann@contoso.com", Some("AAECAw=="));
        assert_eq!(
            (c.id(), c.upn(), c.immutable_id()),
            ("id-1", "ann@contoso.com", Some("AAECAw=="))
        );
        c.clear_immutable_id();
        assert_eq!(
            (c.id(), c.upn(), c.immutable_id()),
            ("id-1", "ann@contoso.com", None)
        );
        let empty = Candidate::new("id-2", "", Some(""));
        assert_eq!(
            (empty.id(), empty.upn(), empty.immutable_id()),
            ("id-2", "", Some(""))
        );
        assert_eq!(Candidate::new("id-3", "b@c", None).immutable_id(), None);
        assert!(std::mem::size_of::<Candidate>() <= 32);
        let shown = format!("{c:?}");
        assert!(
            shown.contains(r#"id: "id-1", upn: "ann@contoso.com", immutable_id: None"#),
            "{shown}"
        );
    }
}
