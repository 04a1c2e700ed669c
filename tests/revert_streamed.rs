//! A revert reads its journal as a stream: through a journal that refuses every read of the
//! whole journal at once (`entries_for`, `audit_for`), a revert of a resource with a long
//! journal still undoes every user, keeping per user only what it undoes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use common::harness::context;
use common::*;
use entra_cloud_operator::api::CloudUserConversion;
use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::journal::{
    BoxFuture, Entry, FileJournal, Journal, JournalError, Record, ResourceKey,
};
use entra_cloud_operator::reconcile::resource::Reconciled;
use entra_cloud_operator::reconcile::{Context, RevertOutcome};
use serde_json::json;

const USERS: usize = 120;

const PERMISSIONS: &[&str] = &[
    "Organization.Read.All",
    "User.ReadWrite.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "User-OnPremisesSyncBehavior.ReadWrite.All",
];

/// The harness's journal, with whole reads refused and the entries streamed counted.
struct StreamOnly<'a> {
    inner: &'a FileJournal,
    streamed: AtomicU64,
}

fn refused() -> JournalError {
    JournalError::Io {
        path: "test".into(),
        source: std::io::Error::other("a read of the whole journal at once"),
    }
}

impl Journal for StreamOnly<'_> {
    fn append<'a>(&'a self, records: &'a [Record]) -> BoxFuture<'a, Result<(), JournalError>> {
        self.inner.append(records)
    }

    fn entries_for<'a>(
        &'a self,
        _: &'a ResourceKey,
    ) -> BoxFuture<'a, Result<Vec<Entry>, JournalError>> {
        Box::pin(std::future::ready(Err(refused())))
    }

    fn visit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            let counted = &self.streamed;
            self.inner
                .visit_for(resource, &mut |e| {
                    counted.fetch_add(1, Ordering::Relaxed);
                    visit(e)
                })
                .await
        })
    }

    fn audit_for<'a>(
        &'a self,
        _: &'a ResourceKey,
    ) -> BoxFuture<'a, Result<Vec<Entry>, JournalError>> {
        Box::pin(std::future::ready(Err(refused())))
    }

    fn audit_visit_for<'a>(
        &'a self,
        resource: &'a ResourceKey,
        visit: &'a mut (dyn FnMut(Entry) + Send),
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            let counted = &self.streamed;
            self.inner
                .audit_visit_for(resource, &mut |e| {
                    counted.fetch_add(1, Ordering::Relaxed);
                    visit(e)
                })
                .await
        })
    }
}

#[tokio::test]
async fn a_revert_of_a_long_journal_reads_it_entry_by_entry() {
    let emu = start(config(USERS, 2)).await;
    control_put(&emu, "permissions", json!({ "permissions": PERMISSIONS })).await;
    let cuc: CloudUserConversion = serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "wave-1", "namespace": "identity", "generation": 1},
        "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply", "clearImmutableId": true,
                 "onDelete": "Revert", "selector": {"domains": ["contoso.com"]},
                 "rollout": {"maxObjects": 1000, "waveSize": 1000, "canary": 0,
                             "pauseBetweenWaves": "0s"}}
    }))
    .unwrap();
    let mut h = Harness::new(&emu, cuc);
    h.until(10, |s| cond::is_true(&s.conditions, cond::READY))
        .await;
    let converted = h.status().converted;
    assert!(converted > 50, "{converted} users converted");
    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;
    let journal = StreamOnly {
        inner: &h.journal,
        streamed: AtomicU64::new(0),
    };
    let ctx = Context {
        concurrency: 4,
        ..context(h.key(), &h.graph, &journal, &h.guard)
    };
    let outcome = CloudUserConversion::revert(&ctx, TENANT).await.unwrap();
    let RevertOutcome::Done(n) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(n, converted, "every converted user undone");
    let entries = journal.streamed.load(Ordering::Relaxed);
    assert!(
        entries >= 4 * converted as u64,
        "the journal was streamed: {entries} entries"
    );
    // Undone and journaled: a second revert finds nothing left.
    let again = CloudUserConversion::revert(&ctx, TENANT).await.unwrap();
    assert!(matches!(again, RevertOutcome::Done(0)), "{again:?}");
}
