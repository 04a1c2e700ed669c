//! The scans a journal keeps between passes ([`Journal::fold`]): one state per scan type, all
//! up to the same verified position ([`Cursor`]); a call reads only the entries after it and
//! feeds them to every state kept.

use std::any::TypeId;
use std::collections::HashMap;

use super::super::{Fold, Journal, JournalError, ResourceKey};
use super::walk::Cursor;
use super::{ConfigMapJournal, Tail};

/// The states kept and where the journal was read up to.
#[derive(Default)]
pub(super) struct Folds {
    at: Option<Cursor>,
    states: HashMap<TypeId, Box<dyn Fold>>,
}

impl ConfigMapJournal {
    /// See [`Journal::fold`]. A read that fails drops every state kept: the next call reads
    /// (and verifies) the whole journal again.
    pub(super) async fn fold_inner(
        &self,
        resource: &ResourceKey,
        fresh: Box<dyn Fold>,
    ) -> Result<Box<dyn Fold>, JournalError> {
        if resource != &self.resource {
            // Another resource's entries are never in this journal's chain: nothing to keep.
            let mut state = fresh;
            self.visit_for(resource, &mut |e| state.feed(&e)).await?;
            return Ok(state);
        }
        let mut folds = self.folds.lock().await;
        let id = fresh.scan_type();
        if let Err(e) = self.bring_up_to_date(&mut folds, fresh).await {
            *folds = Folds::default();
            return Err(e);
        }
        match folds.states.get(&id) {
            Some(state) => Ok(state.clone_fold()),
            None => Err(self.err("a scan kept by the journal went missing")),
        }
    }

    async fn bring_up_to_date(
        &self,
        folds: &mut Folds,
        fresh: Box<dyn Fold>,
    ) -> Result<(), JournalError> {
        let id = fresh.scan_type();
        let Folds { at, states } = folds;
        let resource = &self.resource;
        if let Some(c) = at.as_ref().filter(|_| states.contains_key(&id)) {
            // A steady pass: only what was appended since.
            let end = self
                .walk(Some(c), true, &mut |e, _, _| {
                    if &e.record.resource == resource {
                        states.values_mut().for_each(|s| s.feed(&e));
                    }
                    Ok(())
                })
                .await?;
            *at = Some(end.cursor);
            return Ok(());
        }
        // A scan not kept yet (the first pass after a start): the whole journal, verified
        // with its head, once; the states already kept take in only what is new to them.
        let kept_up_to = at.as_ref().map(|c| c.end.seq);
        let mut fresh = fresh;
        let (end, head) = self
            .full_read(true, &mut |e, _, _| {
                if &e.record.resource != resource {
                    return Ok(());
                }
                if kept_up_to.is_some_and(|n| e.seq > n) {
                    states.values_mut().for_each(|s| s.feed(&e));
                }
                fresh.feed(&e);
                Ok(())
            })
            .await?;
        states.insert(id, fresh);
        *at = Some(end.cursor.clone());
        // The tail appends chain after, when none is loaded yet: spares the first append
        // another read of the whole journal.
        let mut tail = self.tail.lock().await;
        if tail.is_none() {
            *tail = Some(Tail::after(end, head.as_ref()));
        }
        Ok(())
    }
}
