//! `/users` and `/groups`: projection, filters, counting, paging, updates.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Harness, config};
use crate::emulator::EmulatorConfig;

fn keys(obj: &Value) -> Vec<String> {
    let mut k: Vec<String> = obj
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

fn values(body: &Value) -> Vec<Value> {
    body["value"].as_array().cloned().unwrap_or_default()
}

/// Cloud-only objects of a tenant seeded with `synced` users: 2 % (at least 2), plus the sync
/// service account and two break-glass accounts.
fn cloud_users(synced: usize) -> usize {
    (synced * 2).div_ceil(100).max(2) + 3
}

#[tokio::test]
async fn select_gates_on_premises_properties() {
    let h = Harness::small().await;
    let a = h.get("/v1.0/users?$top=5").await;
    assert_eq!(a.status, StatusCode::OK);
    let mut defaults: Vec<String> =
        crate::emulator::odata::default_properties(crate::emulator::odata::Resource::User)
            .iter()
            .map(|s| (*s).to_string())
            .collect();
    defaults.sort();
    for u in values(&a.body) {
        assert_eq!(keys(&u), defaults);
    }
    assert_eq!(a.body["@odata.context"], h.url("/v1.0/$metadata#users"));
    let s = h
        .get("/v1.0/users?$select=id,onPremisesImmutableId&$top=999")
        .await;
    assert_eq!(
        s.body["@odata.context"],
        h.url("/v1.0/$metadata#users(id,onPremisesImmutableId)")
    );
    let all = values(&s.body);
    assert_eq!(all.len(), 30 + cloud_users(30));
    assert!(
        all.iter()
            .all(|u| keys(u) == ["id", "onPremisesImmutableId"])
    );
    assert_eq!(
        all.iter()
            .filter(|u| u["onPremisesImmutableId"].is_string())
            .count(),
        30
    );
    let bad = h.get("/v1.0/users?$select=id,shoeSize").await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    assert!(bad.message().contains("shoeSize"));
    // Single objects: by id and by user principal name.
    let first = &all[0];
    let id = first["id"].as_str().unwrap_or_default();
    let one = h
        .get(&format!(
            "/v1.0/users/{id}?$select=id,onPremisesSyncEnabled"
        ))
        .await;
    assert_eq!(
        keys(&one.body),
        ["@odata.context", "id", "onPremisesSyncEnabled"]
    );
    assert_eq!(
        one.body["@odata.context"],
        h.url("/v1.0/$metadata#users(id,onPremisesSyncEnabled)/$entity")
    );
    let by_upn = h
        .get("/beta/users/BREAKGLASS01@contoso.onmicrosoft.com")
        .await;
    assert_eq!(
        by_upn.body["userPrincipalName"],
        "breakglass01@contoso.onmicrosoft.com"
    );
    let missing = h.get("/v1.0/users/nobody@contoso.com").await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn filters_follow_the_advanced_query_rules() {
    let h = Harness::small().await;
    let cloud = cloud_users(30);
    let a = h
        .get("/v1.0/users?$filter=onPremisesSyncEnabled eq true&$select=id&$top=999")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(values(&a.body).len(), 30);
    let ne = "/v1.0/users?$filter=onPremisesSyncEnabled ne true&$select=id&$top=999";
    let refused = h.get(ne).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::BAD_REQUEST, "Request_UnsupportedQuery")
    );
    // Advanced = header AND $count=true; either alone is not enough.
    assert_eq!(h.get_eventual(ne).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.get(&format!("{ne}&$count=true")).await.status,
        StatusCode::BAD_REQUEST
    );
    let advanced = h.get_eventual(&format!("{ne}&$count=true")).await;
    assert_eq!(advanced.status, StatusCode::OK, "{:?}", advanced.body);
    assert_eq!(advanced.body["@odata.count"], cloud);
    assert_eq!(values(&advanced.body).len(), cloud);
    let sam = "/v1.0/users?$filter=onPremisesSamAccountName eq 'nobody'";
    assert_eq!(h.get(sam).await.code(), "Request_UnsupportedQuery");
    assert_eq!(
        h.get_eventual(&format!("{sam}&$count=true")).await.status,
        StatusCode::OK
    );
    let ends = h.get_eventual("/v1.0/users?$filter=endsWith(userPrincipalName,'onmicrosoft.com')&$count=true&$select=id").await;
    assert_eq!(ends.body["@odata.count"], cloud);
    let broken = h.get("/v1.0/users?$filter=userPrincipalName eq").await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    let groups = h
        .get("/v1.0/groups?$filter=onPremisesSyncEnabled eq true")
        .await;
    assert_eq!(values(&groups.body).len(), 5);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn count_needs_consistency_level() {
    let h = Harness::small().await;
    let total = 30 + cloud_users(30);
    let ignored = h.get("/v1.0/users?$count=true&$top=1").await;
    assert_eq!(ignored.status, StatusCode::OK);
    assert!(ignored.body.get("@odata.count").is_none());
    let counted = h.get_eventual("/v1.0/users?$count=true&$top=1").await;
    assert_eq!(counted.body["@odata.count"], total);
    let segment = h.get("/v1.0/users/$count").await;
    assert_eq!(
        (segment.status, segment.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    assert_eq!(segment.message(), "$count is not currently supported.");
    let text = h.get_eventual("/v1.0/users/$count").await;
    assert_eq!(text.status, StatusCode::OK);
    assert_eq!(text.header("content-type"), Some("text/plain"));
    assert_eq!(text.body, json!(total));
    let filtered = h
        .get_eventual("/v1.0/users/$count?$filter=onPremisesSyncEnabled eq true")
        .await;
    assert_eq!(filtered.body, json!(30));
    let groups = h.get_eventual("/beta/groups/%24count").await;
    assert_eq!(groups.body, json!(8));
    let bad = h.get_eventual("/v1.0/users?$count=maybe").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn top_is_bounded_and_defaults_to_100() {
    let h = Harness::start(config(150, 2)).await;
    let page = h.get("/v1.0/users").await;
    assert_eq!(values(&page.body).len(), 100);
    assert!(page.body["@odata.nextLink"].is_string());
    for bad in ["0", "1000", "-1", "ten"] {
        let a = h.get(&format!("/v1.0/users?$top={bad}")).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "Request_BadRequest"),
            "{bad}"
        );
    }
    let big = h.get("/v1.0/users?$top=1000").await;
    assert_eq!(
        big.message(),
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    );
    let all = h.get("/v1.0/users?$top=999").await;
    assert_eq!(values(&all.body).len(), 150 + cloud_users(150));
    assert!(all.body.get("@odata.nextLink").is_none());
    let two = h.get("/v1.0/users?top=2").await;
    assert_eq!(values(&two.body).len(), 2);
    assert_eq!(
        h.get("/v1.0/users?$top=2&$top=3").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.get("/v1.0/users?$orderby=displayName").await.status,
        StatusCode::BAD_REQUEST
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn paging_2500_users_is_stable_under_writes() {
    let h = Harness::start(EmulatorConfig {
        propagation: Duration::from_secs(600),
        ..config(2_500, 10)
    })
    .await;
    let expected: HashSet<String> = h
        .all_users()
        .await
        .iter()
        .filter_map(|u| u["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(expected.len(), 2_500 + cloud_users(2_500));
    let writable: Vec<String> = h
        .all_users()
        .await
        .iter()
        .filter(|u| u["kind"] != "synced")
        .filter_map(|u| u["id"].as_str().map(str::to_string))
        .collect();
    let mut seen = Vec::new();
    let mut url = h.url("/v1.0/users?$select=id,onPremisesSyncEnabled&$top=999&$count=true");
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 5, "paging does not end");
        let r = h
            .http
            .get(&url)
            .bearer_auth(&h.token)
            .header("ConsistencyLevel", "eventual")
            .send()
            .await
            .expect("page");
        let a = super::answer(r).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        assert_eq!(a.body.get("@odata.count").is_some(), pages == 1);
        for u in values(&a.body) {
            assert_eq!(keys(&u), ["id", "onPremisesSyncEnabled"]);
            seen.push(u["id"].as_str().unwrap_or_default().to_string());
        }
        // Change the tenant between pages: rename cloud users, start converting synced ones.
        let patched = h
            .patch(
                &format!("/v1.0/users/{}", writable[pages]),
                json!({"displayName": format!("Renamed {pages}")}),
            )
            .await;
        assert_eq!(patched.status, StatusCode::NO_CONTENT);
        if pages == 1 {
            assert_eq!(
                h.patch(&h.org_path(), json!({"onPremisesSyncEnabled": false}))
                    .await
                    .status,
                StatusCode::NO_CONTENT
            );
            h.advance(300.0).await;
        }
        match a.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with(&h.url("/v1.0/users?$skiptoken=")),
                    "{next}"
                );
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "duplicates");
    assert_eq!(unique, expected, "gaps");
    h.emu.shutdown().await;
}

#[tokio::test]
async fn skiptoken_wins_over_other_options_and_must_be_intact() {
    let h = Harness::start(config(60, 2)).await;
    let first = h.get("/v1.0/users?$top=10&$select=id").await;
    let next = first.body["@odata.nextLink"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = next.trim_start_matches(&h.emu.url()).to_string();
    let overridden = h.get(&format!("{path}&$top=3&$select=displayName")).await;
    assert_eq!(overridden.status, StatusCode::OK, "{:?}", overridden.body);
    let page = values(&overridden.body);
    assert_eq!(page.len(), 10);
    assert!(page.iter().all(|u| keys(u) == ["id"]));
    let tampered = path.replace("$skiptoken=", "$skiptoken=x");
    let a = h.get(&tampered).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    let groups_token = path.replace("/users", "/groups");
    assert_eq!(h.get(&groups_token).await.status, StatusCode::BAD_REQUEST);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn patch_is_refused_on_synced_users_and_accepted_once_converted() {
    let h = Harness::start(EmulatorConfig {
        propagation: Duration::from_secs(60),
        ..config(20, 2)
    })
    .await;
    let id = h.user_of_kind("synced").await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = format!("/v1.0/users/{id}");
    let refused = h.patch(&path, json!({"onPremisesImmutableId": null})).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    assert_eq!(
        refused.message(),
        "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration."
    );
    let state = h.state().await;
    assert_eq!(
        (
            state["writes"]["refused"].as_u64(),
            state["writes"]["accepted"].as_u64()
        ),
        (Some(1), Some(0))
    );

    h.patch(&h.org_path(), json!({"onPremisesSyncEnabled": false}))
        .await;
    h.advance(60.0).await;
    let read_only = h.patch(&path, json!({"onPremisesSyncEnabled": true})).await;
    assert_eq!(
        read_only.message(),
        "Property 'onPremisesSyncEnabled' is read-only and cannot be set."
    );
    let unknown = h.patch(&path, json!({"shoeSize": 44})).await;
    assert_eq!(
        (unknown.status, unknown.message()),
        (StatusCode::BAD_REQUEST, "Invalid property 'shoeSize'.")
    );
    let dollar = h
        .patch(&path, json!({"onPremisesImmutableId": "abc$def"}))
        .await;
    assert!(
        dollar.status == StatusCode::BAD_REQUEST
            && dollar.message().contains("onPremisesImmutableId")
    );
    let v1_dn = h
        .patch(&path, json!({"onPremisesDistinguishedName": null}))
        .await;
    assert_eq!(
        v1_dn.message(),
        "Property 'onPremisesDistinguishedName' is read-only and cannot be set."
    );
    let taken = h
        .patch(
            &path,
            json!({"userPrincipalName": "admin@contoso.onmicrosoft.com"}),
        )
        .await;
    assert_eq!(taken.body["error"]["details"][0]["code"], "ObjectConflict");

    let ok = h
        .patch(
            &path,
            json!({"onPremisesImmutableId": null, "jobTitle": "Pilot"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{:?}", ok.body);
    assert_eq!(ok.header("x-ms-resource-unit"), Some("1"));
    let beta = h
        .patch(
            &format!("/beta/users/{id}"),
            json!({"onPremisesSecurityIdentifier": null}),
        )
        .await;
    assert_eq!(beta.status, StatusCode::NO_CONTENT, "{:?}", beta.body);
    let now = h
        .get(&format!(
            "{path}?$select=jobTitle,onPremisesImmutableId,onPremisesSecurityIdentifier"
        ))
        .await;
    assert_eq!(now.body["jobTitle"], "Pilot");
    assert_eq!(now.body["onPremisesImmutableId"], Value::Null);
    assert_eq!(now.body["onPremisesSecurityIdentifier"], Value::Null);

    let state = h.state().await;
    assert_eq!(state["writes"]["accepted"], 3);
    assert_eq!(state["writes"]["refused"], 6);
    assert_eq!(state["writes"]["byOperation"]["PATCH /users"], 2);
    assert_eq!(state["users"]["withImmutableId"], 19);
    let dumped = h
        .all_users()
        .await
        .into_iter()
        .find(|u| u["id"] == id.as_str())
        .unwrap_or_default();
    assert_eq!(dumped["writes"], 2);
    assert_eq!(dumped["kind"], "synced");
    h.emu.shutdown().await;
}

#[tokio::test]
async fn groups_are_listed_with_on_premises_properties_by_default() {
    let h = Harness::small().await;
    let a = h.get("/v1.0/groups").await;
    assert_eq!(a.status, StatusCode::OK);
    let groups = values(&a.body);
    assert_eq!(groups.len(), 8);
    assert!(groups.iter().all(|g| {
        g.as_object().is_some_and(|o| {
            o.contains_key("onPremisesSyncEnabled") && o.contains_key("onPremisesSamAccountName")
        })
    }));
    let id = groups
        .iter()
        .find(|g| g["onPremisesSyncEnabled"] == true)
        .map(|g| g["id"].clone())
        .unwrap_or_default();
    let one = h
        .get(&format!(
            "/v1.0/groups/{}?$select=id,displayName",
            id.as_str().unwrap_or_default()
        ))
        .await;
    assert_eq!(keys(&one.body), ["@odata.context", "displayName", "id"]);
    let missing = h
        .get("/v1.0/groups/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Reading groups only: a group PATCH is forbidden, a PUT not a method.
    h.grant(&["Group.Read.All"]).await;
    let path = format!("/v1.0/groups/{}", id.as_str().unwrap_or_default());
    assert_eq!(
        h.patch(&path, json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.call(Method::PUT, &path, Some(json!({})), &[])
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let dump = h.all_groups().await;
    assert!(
        dump.iter()
            .all(|g| g["members"].is_array() && g["kind"].is_string())
    );
    let reseeded = h
        .control(
            Method::POST,
            "/seed",
            Some(json!({"users": 5, "groups": 1, "seed": 9})),
        )
        .await;
    assert_eq!(
        reseeded.body["groups"]["total"], 4,
        "1 synced + 3 cloud-only"
    );
    h.emu.shutdown().await;
}
