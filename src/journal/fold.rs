//! What a pass derives from a resource's journal, entry by entry (the ids a step applied to,
//! the intents still open), kept by the journal between passes: a journal that can read from
//! where it stopped ([`super::ConfigMapJournal`]) feeds such a state only the entries appended
//! since, so a steady pass reads what is new, not the whole journal.

use std::any::{Any, TypeId};

use super::{Entry, Journal, JournalError, ResourceKey};

/// State derived from a resource's journal by taking in its entries in order. `Default` is the
/// state of an empty journal; taking in entry after entry must give the same state whether it
/// is done in one read or in several (a journal keeps the state and feeds it what is new).
pub trait Scan: Clone + Default + Send + Sync + 'static {
    /// Takes in one entry, in journal order.
    fn feed(&mut self, e: &Entry);
}

/// A [`Scan`] whose type is erased, so that a `dyn Journal` can keep and feed it.
pub trait Fold: Send + Sync {
    /// Takes in one entry, in journal order.
    fn feed(&mut self, e: &Entry);
    /// A copy of the state.
    fn clone_fold(&self) -> Box<dyn Fold>;
    /// Which scan this is (one state per scan type is kept).
    fn scan_type(&self) -> TypeId;
    /// The state, to downcast to its scan type.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

impl<S: Scan> Fold for S {
    fn feed(&mut self, e: &Entry) {
        Scan::feed(self, e);
    }

    fn clone_fold(&self) -> Box<dyn Fold> {
        Box::new(self.clone())
    }

    fn scan_type(&self) -> TypeId {
        TypeId::of::<S>()
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// `S` over every entry of `resource`, from the journal's kept state when it has one (see
/// [`Journal::fold`]).
pub async fn scan<S: Scan>(
    journal: &dyn Journal,
    resource: &ResourceKey,
) -> Result<S, JournalError> {
    let folded = journal.fold(resource, Box::new(S::default())).await?;
    match folded.into_any().downcast::<S>() {
        Ok(s) => Ok(*s),
        // A journal that answered with another scan's state: read the journal instead.
        Err(_) => {
            let mut s = S::default();
            journal
                .visit_for(resource, &mut |e| Scan::feed(&mut s, &e))
                .await?;
            Ok(s)
        }
    }
}

/// The entries of `resource` that `keep` selects, and every entry the journal key does not
/// prove whatever `keep` says (a revert refuses the objects of those, so it must see them
/// all), each with its [`super::Trust`], read as a stream: memory holds these, never the
/// whole journal.
pub async fn audit_where(
    journal: &dyn Journal,
    resource: &ResourceKey,
    keep: impl Fn(&Entry) -> bool + Send + Sync,
) -> Result<Vec<Entry>, JournalError> {
    let mut kept = Vec::new();
    journal
        .audit_visit_for(resource, &mut |e| {
            if !e.trust.is_proven() || keep(&e) {
                kept.push(e);
            }
        })
        .await?;
    Ok(kept)
}
