//! JSON batching in the Graph client against the in-process emulator: bulk writes go out 20
//! per batch, each request is paced, answered and retried on its own (after the longest
//! `Retry-After`), never the whole batch again, with no `dependsOn` cascade; the
//! one-request-per-object path stays available.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use entra_cloud_operator::emulator::{Emulator, UserSoaApi};
use entra_cloud_operator::graph::pacing::Quota;
use entra_cloud_operator::graph::{
    BatchRequest, Credential, ErrorCategory, GraphClient, GraphConfig, GraphError, Operation,
    SecretString,
};
use serde_json::{Value, json};

/// Ids of synchronised users of contoso.com, at least `n` of them.
async fn synced(emu: &Emulator, n: usize) -> Vec<String> {
    let ids: Vec<String> = users(emu)
        .await
        .into_iter()
        .filter(|u| {
            u["kind"] == "synced"
                && u["userPrincipalName"]
                    .as_str()
                    .unwrap()
                    .ends_with("@contoso.com")
        })
        .map(|u| u["id"].as_str().unwrap().to_string())
        .take(n)
        .collect();
    assert_eq!(ids.len(), n, "the tenant has too few synced users");
    ids
}

/// A user's accepted writes of one kind (`soa`, `patch`), by id.
async fn writes(emu: &Emulator, kind: &str) -> std::collections::HashMap<String, u64> {
    users(emu)
        .await
        .into_iter()
        .map(|u| {
            let n = u["writeCounts"][kind].as_u64().unwrap_or(0);
            (u["id"].as_str().unwrap().to_string(), n)
        })
        .collect()
}

fn requests(s: &Value) -> (u64, u64) {
    (
        s["requests"]["batches"].as_u64().unwrap(),
        s["requests"]["batchItems"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn forty_five_writes_go_out_in_three_batches_and_read_back() {
    let emu = start(consistent_config(80, 2)).await;
    let graph = client(&emu, SECRET);
    assert!(graph.batching(), "batching is the default");
    let ids = synced(&emu, 45).await;
    let results = graph.set_users_cloud_managed(&ids, true, 4).await;
    assert_eq!(results.len(), 45);
    for r in &results {
        let receipt = r.as_ref().unwrap();
        assert!(receipt.request_id.is_some(), "a request-id for the journal");
    }
    assert_eq!(requests(&state(&emu).await), (3, 45));
    assert_eq!(graph.stats().batches.load(Ordering::Relaxed), 3);
    let soa = writes(&emu, "soa").await;
    assert!(ids.iter().all(|id| soa[id] == 1), "each switched once");

    // Reads are batched too, and answered in the order asked.
    let mut mixed = ids[..5].to_vec();
    mixed.extend(synced(&emu, 60).await[45..].iter().cloned());
    let reads = graph.users_cloud_managed(&mixed, 2).await;
    let flags: Vec<bool> = reads.into_iter().map(Result::unwrap).collect();
    assert_eq!(flags, [vec![true; 5], vec![false; 15]].concat());
    assert_eq!(requests(&state(&emu).await), (4, 65));

    // Converted users' ImmutableIDs can be cleared, again in batches.
    let cleared = graph.clear_immutable_ids(&ids[..21], 2).await;
    assert!(cleared.iter().all(Result::is_ok), "{cleared:?}");
    assert_eq!(requests(&state(&emu).await), (6, 86));
    let patch = writes(&emu, "patch").await;
    assert!(ids[..21].iter().all(|id| patch[id] == 1));
    emu.shutdown().await;
}

#[tokio::test]
async fn throttled_requests_go_again_together_after_the_longest_retry_after() {
    let emu = start(consistent_config(40, 2)).await;
    let graph = client(&emu, SECRET);
    let ids = synced(&emu, 5).await;
    // Inside the batch's 200, the request for ids[0] is throttled for a whole second (and
    // says so), the one for ids[1] once, asking for 50 ms only. Sent again after 50 ms, the
    // first would meet its fault again.
    control_post(
        &emu,
        "faults",
        json!({"status": 429, "rate": 1.0, "durationSecs": 1.0, "retryAfter": 1.0, "path": ids[0]}),
    )
    .await;
    control_post(
        &emu,
        "faults",
        json!({"status": 429, "count": 1, "retryAfter": 0.05, "path": ids[1]}),
    )
    .await;
    let results = graph.set_users_cloud_managed(&ids, true, 1).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let s = state(&emu).await;
    // One batch of five, then one of the two throttled requests: the three that succeeded
    // were not sent again, and the two went together, once.
    assert_eq!(requests(&s), (2, 7), "{s}");
    assert_eq!(s["requests"]["faultsInjected"]["429"], 2, "{s}");
    assert_eq!(graph.stats().throttled.load(Ordering::Relaxed), 2);
    assert_eq!(graph.stats().retries.load(Ordering::Relaxed), 2);
    let soa = writes(&emu, "soa").await;
    assert!(ids.iter().all(|id| soa[id] == 1), "each switched once");
    emu.shutdown().await;
}

#[tokio::test]
async fn refused_requests_fail_alone_with_typed_errors_and_no_dependency_cascade() {
    let emu = start(consistent_config(40, 2)).await;
    let graph = client(&emu, SECRET);
    let mut ids = synced(&emu, 4).await;
    let cloud_only = users(&emu)
        .await
        .into_iter()
        .find(|u| u["kind"] == "cloudOnly")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A missing user first: were the others to depend on it, they would answer 424.
    ids.insert(0, "00000000-0000-4000-8000-00000000dead".into());
    ids.insert(3, cloud_only);
    let results = graph.set_users_cloud_managed(&ids, true, 1).await;
    match &results[0] {
        Err(GraphError::Api {
            operation,
            status: 404,
            code,
            request_id,
            ..
        }) => {
            assert_eq!(*operation, Operation::UpdateSyncBehavior);
            assert_eq!(code, "Request_ResourceNotFound");
            assert!(request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        results[0].as_ref().unwrap_err().category(),
        ErrorCategory::NotFound
    );
    let refused = results[3].as_ref().unwrap_err();
    assert_eq!(refused.category(), ErrorCategory::Rejected, "{refused}");
    for i in [1, 2, 4, 5] {
        assert!(results[i].is_ok(), "{i}: {:?}", results[i]);
    }
    let s = state(&emu).await;
    assert!(s["requests"]["byStatus"].get("424").is_none(), "{s}");
    // Refusals are final, not sent again; only the missing user's 404 is asked of beta once
    // (v1.0's 404 may mean it lacks the route), which answers 404 too.
    assert_eq!(requests(&s), (2, 7));

    // Without the permission every request says so, each as missing permission.
    control_put(
        &emu,
        "permissions",
        json!({ "permissions": ["User.Read.All"] }),
    )
    .await;
    let results = graph.set_users_cloud_managed(&ids[1..3], false, 1).await;
    for r in results {
        let e = r.unwrap_err();
        assert_eq!(e.category(), ErrorCategory::MissingPermission, "{e}");
        assert_eq!(e.code(), Some("Authorization_RequestDenied"));
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_failed_envelope_is_sent_again_and_nothing_is_written_twice() {
    let emu = start(consistent_config(40, 2)).await;
    let graph = client(&emu, SECRET);
    let ids = synced(&emu, 3).await;
    control_post(
        &emu,
        "faults",
        json!({"status": 503, "count": 1, "path": "$batch"}),
    )
    .await;
    let results = graph.set_users_cloud_managed(&ids, true, 1).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // The refused envelope reached no request: the items counted are the second one's.
    assert_eq!(requests(&state(&emu).await), (1, 3));
    assert_eq!(graph.stats().batches.load(Ordering::Relaxed), 1);
    let soa = writes(&emu, "soa").await;
    assert!(ids.iter().all(|id| soa[id] == 1));
    emu.shutdown().await;
}

#[tokio::test]
async fn without_batching_each_object_is_one_request() {
    let emu = start(consistent_config(40, 2)).await;
    let graph = client(&emu, SECRET);
    graph.set_batching(false);
    let ids = synced(&emu, 12).await;
    let results = graph.set_users_cloud_managed(&ids, true, 3).await;
    assert!(results.iter().all(Result::is_ok));
    let reads = graph.users_cloud_managed(&ids, 3).await;
    assert!(reads.into_iter().all(|r| r.unwrap()));
    let s = state(&emu).await;
    assert_eq!(requests(&s), (0, 0));
    assert_eq!(graph.stats().requests.load(Ordering::Relaxed), 24);
    // The explicit call batches whatever the setting.
    let one = graph
        .batch(&[BatchRequest::get(
            Operation::GetUser,
            format!("users/{}?$select=id", ids[0]),
        )])
        .await;
    assert_eq!(
        one[0].as_ref().unwrap().body.as_ref().unwrap()["id"],
        ids[0]
    );
    assert_eq!(requests(&state(&emu).await), (1, 1));
    emu.shutdown().await;
}

#[tokio::test]
async fn batched_user_soa_falls_back_to_beta_where_v1_lacks_the_route() {
    // Each documented answer of v1.0 without the route: the batching page's 405 inside a
    // batch, and a 404.
    for (api, status) in [
        (UserSoaApi::BetaOnly, "405"),
        (UserSoaApi::BetaOnlyNotFound, "404"),
    ] {
        let emu = start(entra_cloud_operator::emulator::EmulatorConfig {
            user_soa_api: api,
            ..consistent_config(40, 2)
        })
        .await;
        let graph = client(&emu, SECRET);
        let ids = synced(&emu, 4).await;
        let results = graph.set_users_cloud_managed(&ids, true, 1).await;
        assert!(results.iter().all(Result::is_ok), "{api:?}: {results:?}");
        // v1.0 refused the first batch's requests; beta took them, and the reads go there at once.
        assert_eq!(requests(&state(&emu).await), (2, 8), "{api:?}");
        let reads = graph.users_cloud_managed(&ids, 1).await;
        assert!(reads.into_iter().all(|r| r.unwrap()));
        let s = state(&emu).await;
        assert_eq!(requests(&s), (3, 12), "{api:?}");
        assert_eq!(s["requests"]["byStatus"][status], 4, "{api:?}: {s}");
        assert_eq!(
            s["writes"]["byOperation"]["PATCH /users/onPremisesSyncBehavior"], 4,
            "{api:?}: each user switched once"
        );
        emu.shutdown().await;
    }
}

#[tokio::test]
async fn a_user_that_is_gone_does_not_move_the_client_to_beta() {
    let emu = start(consistent_config(40, 2)).await;
    let graph = client(&emu, SECRET);
    let ids = synced(&emu, 2).await;
    let gone = "00000000-0000-4000-8000-00000000dead".to_string();
    let results = graph
        .set_users_cloud_managed(&[gone, ids[0].clone()], true, 1)
        .await;
    // v1.0 and beta both answer 404 for the missing user: its error stays, v1.0 stays in use.
    assert!(
        matches!(&results[0], Err(e) if e.to_string().contains("404")),
        "{results:?}"
    );
    assert!(results[1].is_ok(), "{results:?}");
    let s = state(&emu).await;
    assert_eq!(s["requests"]["byStatus"]["404"], 2, "{s}");
    // The next batch is answered by v1.0 alone: one batch, no second try.
    let before = requests(&s);
    let more = graph.set_users_cloud_managed(&ids[1..], true, 1).await;
    assert!(more.iter().all(Result::is_ok));
    let after = requests(&state(&emu).await);
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
    emu.shutdown().await;
}

/// A paced client of `emu` for application `client_id`, at Graph's write quota (20 writes a
/// second at full headroom).
fn paced(emu: &Emulator, client_id: &str) -> GraphClient {
    GraphClient::new(
        GraphConfig {
            graph_root: emu.url(),
            login_root: emu.url(),
            scope: "https://graph.microsoft.com/.default".into(),
            tenant_id: TENANT.into(),
            retry: retry(),
            timeout: Duration::from_secs(30),
            observer: None,
            pacing: Some(Quota {
                writes: 3_000.0,
                write_window: Duration::from_secs(150),
                resource_units: 100_000.0,
                ru_window: Duration::from_secs(10),
                headroom: 1.0,
            }),
            ca_bundle: None,
        },
        Credential::ClientSecret {
            client_id: client_id.into(),
            secret: SecretString::new(SECRET),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn each_request_of_a_batch_is_paced_and_batches_leave_without_a_burst() {
    let emu = start(config(60, 2)).await;
    let graph = paced(&emu, CLIENT);
    let ids = synced(&emu, 40).await;
    let results = graph.set_users_cloud_managed(&ids, true, 1).await;
    assert!(results.iter().all(Result::is_ok));
    // The paced rate starts at the documented 20 writes a second: an envelope carries what is
    // covered within a quarter of a second of its first request (6 at most, then), so 40
    // writes need at least seven envelopes, and most of them waited.
    let (batches, items) = requests(&state(&emu).await);
    assert_eq!(items, 40);
    assert!(batches >= 7, "{batches} envelopes");
    assert!(graph.pacing().unwrap().waits >= 20);
    emu.shutdown().await;
}

#[tokio::test]
async fn clients_of_one_tenant_and_application_share_one_budget() {
    let emu = start(config(60, 2)).await;
    let first = paced(&emu, CLIENT);
    // Another policy's client for the same tenant and application (the id's case differs).
    let second = paced(&emu, &CLIENT.to_uppercase());
    let other_app = paced(&emu, "11111111-2222-3333-4444-555555555555");
    let ids = synced(&emu, 30).await;
    let results = first.set_users_cloud_managed(&ids, true, 1).await;
    assert!(results.iter().all(Result::is_ok));
    let spent = first.pacing().unwrap();
    assert!(spent.waits > 0);
    assert_eq!(second.pacing().unwrap(), spent);
    assert_eq!(other_app.pacing().unwrap().waits, 0);
    emu.shutdown().await;
}
