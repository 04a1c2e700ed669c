//! Per-object refusals over HTTP (`state/privileged.rs`): a privileged user or group refuses
//! its SOA switch with the application holding the permission, while its neighbours switch;
//! both UNCONFIRMED answers; the restore of an admin-role user needs `User.DeleteRestore.All`;
//! a restricted-AU member refuses PATCH; markers through the control endpoint and the tenant file.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Harness, PER_OBJECT, config, nth_of_kind};

async fn mark(h: &Harness, id: &str, privilege: &str, answer: &str) -> StatusCode {
    let body = json!({"id": id, "privilege": privilege, "answer": answer});
    h.control(Method::PUT, "/privileged", Some(body))
        .await
        .status
}

#[tokio::test]
async fn a_privileged_object_refuses_its_switch_alone() {
    let h = Harness::start(config(10, 4)).await;
    h.grant(PER_OBJECT).await;
    let users = h.all_users().await;
    let admin = nth_of_kind(&users, "synced", 0);
    let plain = nth_of_kind(&users, "synced", 1);
    let group = nth_of_kind(&h.all_groups().await, "synced", 0);
    assert_eq!(
        mark(&h, &admin, "adminSdHolder", "forbidden").await,
        StatusCode::OK
    );
    assert_eq!(
        mark(&h, &group, "restrictedAu", "forbidden").await,
        StatusCode::OK
    );
    let listed = h.control(Method::GET, "/privileged", None).await;
    assert_eq!(listed.body["objects"][&admin]["privilege"], "adminSdHolder");
    let on = json!({"isCloudManaged": true});

    let refused = h
        .patch(
            &format!("/v1.0/users/{admin}/onPremisesSyncBehavior"),
            on.clone(),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code(), refused.message()),
        (
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation."
        )
    );
    let ok = h
        .patch(
            &format!("/v1.0/users/{plain}/onPremisesSyncBehavior"),
            on.clone(),
        )
        .await;
    assert!(ok.status.is_success(), "{:?}", ok.body);
    let g = h
        .patch(
            &format!("/beta/groups/{group}/onPremisesSyncBehavior"),
            on.clone(),
        )
        .await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    // Nothing changed on the refused objects.
    let back = h
        .get(&format!("/v1.0/users/{admin}/onPremisesSyncBehavior"))
        .await;
    assert_eq!(back.body["isCloudManaged"], false);

    // The other plausible answer (UNCONFIRMED).
    assert_eq!(
        mark(&h, &admin, "adminSdHolder", "badRequest").await,
        StatusCode::OK
    );
    let refused = h
        .patch(
            &format!("/v1.0/users/{admin}/onPremisesSyncBehavior"),
            on.clone(),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );

    // A restricted-AU member refuses writes to itself; unmarked, it switches.
    let other = nth_of_kind(&users, "synced", 2);
    assert_eq!(
        mark(&h, &other, "restrictedAu", "forbidden").await,
        StatusCode::OK
    );
    let patch = h
        .patch(&format!("/v1.0/users/{other}"), json!({"displayName": "x"}))
        .await;
    assert_eq!(patch.status, StatusCode::FORBIDDEN);
    let unmark = json!({"id": other, "privilege": null});
    let a = h.control(Method::PUT, "/privileged", Some(unmark)).await;
    assert_eq!(a.status, StatusCode::OK);
    let ok = h
        .patch(&format!("/v1.0/users/{other}/onPremisesSyncBehavior"), on)
        .await;
    assert!(ok.status.is_success(), "{:?}", ok.body);

    let unknown = mark(
        &h,
        "00000000-0000-0000-0000-000000000000",
        "adminRole",
        "forbidden",
    );
    assert_eq!(unknown.await, StatusCode::NOT_FOUND);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn restoring_an_admin_needs_the_restore_permission() {
    let h = Harness::start(config(10, 2)).await;
    h.grant(PER_OBJECT).await;
    let id = nth_of_kind(&h.all_users().await, "synced", 0);
    assert_eq!(
        mark(&h, &id, "adminRole", "forbidden").await,
        StatusCode::OK
    );
    h.scope("users", &id, false).await;
    h.advance(1_900.0).await;
    assert_eq!(
        h.get(&format!("/v1.0/users/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let restore = format!("/v1.0/directory/deletedItems/{id}/restore");
    // User.ReadWrite.All allows restores, but not of administrators.
    let a = h.post(&restore, None).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::FORBIDDEN, "Authorization_RequestDenied")
    );
    let mut grants = PER_OBJECT.to_vec();
    grants.push("User.DeleteRestore.All");
    h.grant(&grants).await;
    let a = h.post(&restore, None).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    h.emu.shutdown().await;
}
