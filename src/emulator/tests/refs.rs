//! `$ref` writes on group owners and members over HTTP: add, duplicate, missing, remove,
//! still-synced groups (with the owner switch), Exchange-managed groups after SOA, and the
//! permissions of every member route.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Answer, Harness, PER_OBJECT, config, nth_of_kind, values};
use crate::emulator::{EmulatorConfig, OwnerAddOnSyncedGroup};

const EXISTS: &str = "One or more added object references already exist for the following modified properties: 'owners'.";

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect()
}

fn ids_of(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

fn group_named(groups: &[Value], name: &str) -> String {
    groups
        .iter()
        .find(|g| g["displayName"] == name)
        .and_then(|g| g["id"].as_str())
        .unwrap_or_default()
        .to_string()
}

async fn add(h: &Harness, group: &str, rel: &str, target: String) -> Answer {
    let path = format!("/v1.0/groups/{group}/{rel}/$ref");
    h.post(&path, Some(json!({ "@odata.id": target }))).await
}

async fn add_to(h: &Harness, group: &str, rel: &str, body: &Value) -> StatusCode {
    let path = format!("/v1.0/groups/{group}/{rel}/$ref");
    h.post(&path, Some(body.clone())).await.status
}

#[tokio::test]
async fn owner_and_member_refs_are_added_refused_and_removed() {
    let h = Harness::start(config(10, 3)).await;
    h.grant(PER_OBJECT).await;
    let groups = h.all_groups().await;
    let users = h.all_users().await;
    let cloud = group_named(&groups, "Cloud Admins");
    let synced = nth_of_kind(&groups, "synced", 0);
    let admin = nth_of_kind(&users, "cloudOnly", 0);
    let (u1, u2) = (
        nth_of_kind(&users, "synced", 0),
        nth_of_kind(&users, "synced", 1),
    );
    // Seeded owners: the admin owns the cloud groups, synced groups have none.
    let owners = h.get(&format!("/v1.0/groups/{cloud}/owners")).await;
    assert_eq!(owners.header("x-ms-resource-unit"), Some("1"));
    assert_eq!(ids(&values(&owners.body)), vec![admin.clone()]);
    // Owners of a synced group are "not available" (refused by default: `owners.rs`).
    let unavailable = h.get(&format!("/v1.0/groups/{synced}/owners")).await;
    assert_eq!(unavailable.status, StatusCode::BAD_REQUEST);
    assert!(
        h.object("groups", &synced).await["owners"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    let a = add(
        &h,
        &cloud,
        "owners",
        format!("https://graph.microsoft.com/v1.0/users/{u1}"),
    )
    .await;
    assert_eq!(
        (a.status, a.header("x-ms-resource-unit")),
        (StatusCode::NO_CONTENT, Some("1"))
    );
    let a = add(
        &h,
        &cloud,
        "owners",
        format!("https://graph.microsoft.com/v1.0/users/{u1}"),
    )
    .await;
    assert_eq!(
        (a.status, a.code(), a.message()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest", EXISTS)
    );
    let a = add(
        &h,
        &cloud,
        "owners",
        format!("{}/beta/directoryObjects/{u2}", h.emu.url()),
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let missing = "https://graph.microsoft.com/v1.0/users/00000000-0000-0000-0000-000000000000";
    let a = add(&h, &cloud, "owners", missing.to_string()).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
    );
    let a = add(
        &h,
        &cloud,
        "owners",
        format!("https://graph.microsoft.com/v1.0/groups/{synced}"),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = add(&h, &cloud, "owners", "not a reference".to_string()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let owners = h
        .get(&format!(
            "/v1.0/groups/{cloud}/owners/microsoft.graph.user?$select=id"
        ))
        .await;
    assert_eq!(ids(&values(&owners.body)).len(), 3);
    // Removing, to revert.
    let a = h
        .delete(&format!("/v1.0/groups/{cloud}/owners/{u2}/$ref"))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = h
        .delete(&format!("/v1.0/groups/{cloud}/owners/{u2}/$ref"))
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // Members: users and groups, 'members' in the duplicate message.
    let a = add(
        &h,
        &cloud,
        "members",
        format!("https://graph.microsoft.com/v1.0/groups/{synced}"),
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = add(
        &h,
        &cloud,
        "members",
        format!("https://graph.microsoft.com/v1.0/groups/{synced}"),
    )
    .await;
    assert!(
        a.message().ends_with("modified properties: 'members'."),
        "{}",
        a.message()
    );
    assert_eq!(
        h.delete(&format!("/v1.0/groups/{cloud}/members/{synced}/$ref"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // A still-synced group: member writes refused, owner writes too by default.
    for rel in ["members", "owners"] {
        let a = add(
            &h,
            &synced,
            rel,
            format!("https://graph.microsoft.com/v1.0/users/{admin}"),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{rel}");
        assert!(
            a.message().contains("on-premises mastered"),
            "{}",
            a.message()
        );
    }
    let entry = h.object("groups", &cloud).await;
    assert_eq!(ids_of(&entry["owners"]), {
        let mut o = vec![admin.clone(), u1.clone()];
        o.sort();
        o
    });
    assert_eq!(entry["writeCounts"]["ownersAdded"], 2);
    assert_eq!(entry["writeCounts"]["ownersRemoved"], 1);
    assert_eq!(entry["writeCounts"]["membersAdded"], 1);
    assert_eq!(entry["writes"], 5);
    assert_eq!(h.object("groups", &synced).await["writes"], 0);
    let ops = &h.state().await["writes"]["byOperation"];
    assert_eq!(ops["POST /groups/owners/$ref"], 2);
    assert_eq!(ops["DELETE /groups/owners/$ref"], 1);
    h.emu.shutdown().await;
    // The other answer: owners on a still-synced group are accepted.
    let h = Harness::start(EmulatorConfig {
        owner_add_on_synced_group: OwnerAddOnSyncedGroup::Allow,
        ..config(10, 3)
    })
    .await;
    h.grant(PER_OBJECT).await;
    let synced = nth_of_kind(&h.all_groups().await, "synced", 0);
    let admin = nth_of_kind(&h.all_users().await, "cloudOnly", 0);
    let body = json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/users/{admin}") });
    let a = h
        .post(
            &format!("/v1.0/groups/{synced}/owners/$ref"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = h
        .post(&format!("/v1.0/groups/{synced}/members/$ref"), Some(body))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn mail_enabled_groups_are_exchange_managed_after_soa() {
    let h = Harness::start(config(20, 10)).await;
    h.grant(PER_OBJECT).await;
    let groups = h.all_groups().await;
    let synced = |mail: bool| {
        groups
            .iter()
            .find(|g| g["kind"] == "synced" && g["mailEnabled"] == mail)
            .and_then(|g| g["id"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let (dl, security) = (synced(true), synced(false));
    assert!(!dl.is_empty() && !security.is_empty());
    let admin = nth_of_kind(&h.all_users().await, "cloudOnly", 0);
    let member = json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/users/{admin}") });
    let describe = json!({"description": "now in the cloud"});
    assert_eq!(
        h.patch(&format!("/v1.0/groups/{security}"), describe.clone())
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    for g in [&dl, &security] {
        let a = h
            .patch(
                &format!("/v1.0/groups/{g}/onPremisesSyncBehavior"),
                json!({"isCloudManaged": true}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let a = h
        .patch(&format!("/v1.0/groups/{dl}"), describe.clone())
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().contains("Exchange Online"), "{}", a.message());
    let a = h
        .post(
            &format!("/v1.0/groups/{dl}/members/$ref"),
            Some(member.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().contains("Exchange Online"), "{}", a.message());
    assert_eq!(
        h.patch(&format!("/v1.0/groups/{security}"), describe)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.post(
            &format!("/v1.0/groups/{security}/members/$ref"),
            Some(member)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let a = h
        .get(&format!(
            "/v1.0/groups/{security}?$select=description,onPremisesSyncEnabled"
        ))
        .await;
    assert_eq!(a.body["description"], "now in the cloud");
    assert_eq!(a.body["onPremisesSyncEnabled"], Value::Null);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn member_routes_need_their_permissions() {
    let h = Harness::start(config(10, 3)).await;
    let groups = h.all_groups().await;
    let cloud = group_named(&groups, "Cloud Admins");
    let user = nth_of_kind(&h.all_users().await, "synced", 0);
    let body = json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/users/{user}") });
    let members = format!("/v1.0/groups/{cloud}/members");
    // Group.Read.All reads but does not write.
    h.grant(&["Group.Read.All", "User.ReadWrite.All"]).await;
    assert_eq!(h.get(&members).await.status, StatusCode::OK);
    assert_eq!(
        add_to(&h, &cloud, "members", &body).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        add_to(&h, &cloud, "owners", &body).await,
        StatusCode::FORBIDDEN
    );
    h.grant(&["GroupMember.ReadWrite.All"]).await;
    assert_eq!(
        add_to(&h, &cloud, "owners", &body).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        add_to(&h, &cloud, "members", &body).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.delete(&format!("{members}/{user}/$ref")).await.status,
        StatusCode::NO_CONTENT
    );
    h.grant(&["GroupMember.Read.All"]).await;
    assert_eq!(
        h.get(&format!("/v1.0/groups/{cloud}/transitiveMembers"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        h.get(&format!("/v1.0/groups/{cloud}/owners")).await.status,
        StatusCode::OK
    );
    h.grant(&["User.ReadWrite.All", "Directory.Read.All"]).await;
    assert_eq!(h.get(&members).await.status, StatusCode::OK);
    h.grant(&["User.ReadWrite.All"]).await;
    let a = h.get(&members).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::FORBIDDEN, "Authorization_RequestDenied")
    );
    assert_eq!(
        h.patch(
            &format!("/v1.0/groups/{cloud}"),
            json!({"displayName": "X"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    h.emu.shutdown().await;
}
