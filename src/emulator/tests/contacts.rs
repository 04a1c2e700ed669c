//! Organizational contacts over HTTP: the list with paging, `$select` and `$filter`, one contact,
//! the Source of Authority state table and its switches, permissions, the sync client, the
//! tenant-wide disable and the control endpoints.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Harness, config, values};
use crate::emulator::{AfterDisable, EmulatorConfig, SoaOnCloudObject, SoaPatchResponse};

const READ: &str = "OrgContact.Read.All";
const SOA: &str = "Contacts-OnPremisesSyncBehavior.ReadWrite.All";

/// A tenant of `users` synced users, with the contact permissions granted.
async fn start(config: EmulatorConfig) -> Harness {
    let h = Harness::start(config).await;
    h.grant(&["Organization.ReadWrite.All", READ, SOA]).await;
    h
}

async fn all_contacts(h: &Harness) -> Vec<Value> {
    let a = h.control(Method::GET, "/contacts", None).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    values(&a.body)
}

async fn first_contact(h: &Harness) -> String {
    all_contacts(h).await[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn sync_enabled(h: &Harness, id: &str) -> Value {
    let a = h
        .get(&format!(
            "/v1.0/contacts/{id}?$select=onPremisesSyncEnabled"
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body["onPremisesSyncEnabled"].clone()
}

async fn switch(h: &Harness, id: &str, value: bool) -> super::Answer {
    h.patch(
        &format!("/v1.0/contacts/{id}/onPremisesSyncBehavior"),
        json!({"isCloudManaged": value}),
    )
    .await
}

#[tokio::test]
async fn contacts_list_in_pages_with_select_and_filter() {
    let h = start(config(150, 2)).await;
    let seeded = all_contacts(&h).await;
    assert_eq!(seeded.len(), 3, "one per 50 synced users");
    let a = h.get("/v1.0/contacts").await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.header("x-ms-resource-unit"), Some("1"));
    assert_eq!(a.body["@odata.context"], h.url("/v1.0/$metadata#contacts"));
    let first = &values(&a.body)[0];
    // Every property without $select, the sync ones included.
    assert_eq!(first["onPremisesSyncEnabled"], true);
    assert!(first["onPremisesLastSyncDateTime"].is_string());
    assert!(first["companyName"].is_string() && first["mail"].is_string());
    assert_eq!(
        first["proxyAddresses"][0],
        format!("SMTP:{}", first["mail"].as_str().unwrap())
    );
    // Pages of two: an opaque $skiptoken, followed verbatim.
    let mut seen = Vec::new();
    let mut next = Some(h.url("/beta/contacts?$top=2&$select=id,mail"));
    for _ in 0..5 {
        let Some(url) = next.take() else { break };
        let path = url.trim_start_matches(&h.emu.url()).to_string();
        let page = h.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        for c in values(&page.body) {
            let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["id", "mail"]);
            seen.push(c["id"].as_str().unwrap().to_string());
        }
        next = page.body["@odata.nextLink"].as_str().map(str::to_string);
        if let Some(link) = &next {
            assert!(
                link.starts_with(&h.url("/beta/contacts?$skiptoken=")),
                "{link}"
            );
        }
    }
    let expected: Vec<String> = seeded
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, expected);
    // $top bounds, filters by Graph's rules, $count.
    let a = h.get("/v1.0/contacts?$top=1000").await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    let synced = h
        .get("/v1.0/contacts?$filter=onPremisesSyncEnabled eq true&$select=id")
        .await;
    assert_eq!(values(&synced.body).len(), 3, "{:?}", synced.body);
    let company = seeded[0]["companyName"].as_str().unwrap();
    let by_company = h
        .get(&format!(
            "/v1.0/contacts?$filter=companyName eq '{company}'&$select=companyName"
        ))
        .await;
    let found = values(&by_company.body);
    assert!(!found.is_empty() && found.iter().all(|c| c["companyName"] == company));
    let ne = h.get("/v1.0/contacts?$filter=companyName ne 'x'").await;
    assert_eq!(
        (ne.status, ne.code()),
        (StatusCode::BAD_REQUEST, "Request_UnsupportedQuery")
    );
    let bad = h.get("/v1.0/contacts?$select=userPrincipalName").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.message().contains("microsoft.graph.orgContact"),
        "{}",
        bad.message()
    );
    let count = h.get_eventual("/v1.0/contacts/$count").await;
    assert_eq!(count.body, json!(3));
    h.emu.shutdown().await;
}

#[tokio::test]
async fn one_contact_by_id_with_select() {
    let h = start(config(30, 2)).await;
    let id = first_contact(&h).await;
    let a = h
        .get(&format!(
            "/v1.0/contacts/{id}?$select=displayName,onPremisesSyncEnabled"
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let context = h.url("/v1.0/$metadata#contacts(displayName,onPremisesSyncEnabled)/$entity");
    assert_eq!(a.body["@odata.context"], context);
    assert_eq!(a.body["onPremisesSyncEnabled"], true);
    assert_eq!(a.body.as_object().unwrap().len(), 3);
    let missing = h
        .get("/beta/contacts/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
    );
    let write = h
        .patch(&format!("/v1.0/contacts/{id}"), json!({"displayName": "X"}))
        .await;
    assert_eq!(write.status, StatusCode::METHOD_NOT_ALLOWED);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn contacts_need_their_own_permissions() {
    let h = Harness::start(config(30, 2)).await;
    let id = first_contact(&h).await;
    // The default grants read users and groups, not contacts.
    let a = h.get("/v1.0/contacts").await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::FORBIDDEN, "Authorization_RequestDenied")
    );
    h.grant(&[
        "Directory.ReadWrite.All",
        "User-OnPremisesSyncBehavior.ReadWrite.All",
        "Group-OnPremisesSyncBehavior.ReadWrite.All",
    ])
    .await;
    assert_eq!(h.get("/v1.0/contacts").await.status, StatusCode::OK);
    let soa = format!("/v1.0/contacts/{id}/onPremisesSyncBehavior");
    assert_eq!(h.get(&soa).await.status, StatusCode::FORBIDDEN);
    let refused = switch(&h, &id, true).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(sync_enabled(&h, &id).await, true, "nothing changed");
    h.grant(&[SOA]).await;
    assert_eq!(h.get(&soa).await.status, StatusCode::OK);
    assert_eq!(switch(&h, &id, true).await.status, StatusCode::OK);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn the_contact_state_table_end_to_end() {
    let h = start(config(30, 2)).await;
    let id = first_contact(&h).await;
    let soa = format!("/v1.0/contacts/{id}/onPremisesSyncBehavior");
    let a = h.get(&format!("{soa}?$select=isCloudManaged")).await;
    let context = h.url(&format!(
        "/v1.0/$metadata#contacts('{id}')/onPremisesSyncBehavior(isCloudManaged)/$entity"
    ));
    assert_eq!(
        a.body,
        json!({"@odata.context": context, "id": id, "isCloudManaged": false})
    );
    assert_eq!(sync_enabled(&h, &id).await, true);
    // Switched: 200 with the body, the contact is no longer synced.
    let a = switch(&h, &id, true).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body,
        json!({"@odata.type": "#microsoft.graph.onPremisesSyncBehavior", "id": id, "isCloudManaged": true})
    );
    assert_eq!(a.header("x-ms-resource-unit"), Some("1"));
    assert_eq!(sync_enabled(&h, &id).await, Value::Null);
    assert_eq!(h.state().await["contacts"]["cloudManaged"], 1);
    assert_eq!(h.cycle().await["skippedCloudManaged"], json!([id]));
    // Rolled back: the hard-match flag (on by default) gates users only.
    let beta = format!("/beta/contacts/{id}/onPremisesSyncBehavior");
    let a = h.patch(&beta, json!({"isCloudManaged": false})).await;
    assert_eq!(
        (a.status, a.body["isCloudManaged"].clone()),
        (StatusCode::OK, json!(false))
    );
    assert_eq!(
        sync_enabled(&h, &id).await,
        Value::Null,
        "until the next cycle"
    );
    assert_eq!(h.get(&soa).await.body["isCloudManaged"], false);
    // The next cycle takes it back.
    let report = h.cycle().await;
    assert_eq!(report["relinked"], json!([id]));
    assert_eq!(sync_enabled(&h, &id).await, true);
    // What the control endpoints say.
    let contact = all_contacts(&h)
        .await
        .into_iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap();
    assert_eq!(contact["kind"], "synced");
    assert_eq!(contact["isCloudManaged"], false);
    assert_eq!(contact["inScope"], true);
    assert_eq!(contact["writeCounts"]["soa"], 2);
    assert_eq!(contact["writes"], 2);
    let state = h.state().await;
    assert_eq!(
        state["writes"]["byOperation"]["PATCH /contacts/onPremisesSyncBehavior"],
        2
    );
    assert_eq!(
        state["contacts"],
        json!({"total": 2, "synced": 2, "formerlySynced": 0, "cloudOnly": 0, "cloudManaged": 0})
    );
    let body = h.patch(&soa, json!({"isCloudManaged": "yes"})).await;
    assert_eq!(body.status, StatusCode::BAD_REQUEST);
    let missing = "/v1.0/contacts/00000000-0000-4000-8000-000000000000/onPremisesSyncBehavior";
    let missing = h.patch(missing, json!({"isCloudManaged": true})).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    h.emu.shutdown().await;
}

const CLOUD_CONTACT: &str = "
contacts:
  - { displayName: Synced Partner, mail: p@fabrikam.com }
  - { displayName: Exchange Contact, mail: x@fabrikam.com, kind: cloudOnly }
";

#[tokio::test]
async fn the_patch_answer_and_cloud_contacts_follow_their_switches() {
    for (response, on_cloud) in [
        (SoaPatchResponse::Body, SoaOnCloudObject::Refuse),
        (SoaPatchResponse::NoContent, SoaOnCloudObject::Accept),
    ] {
        let h = start(EmulatorConfig {
            soa_patch_response: response,
            soa_on_cloud_object: on_cloud,
            ..config(10, 1)
        })
        .await;
        let loaded = h
            .http
            .post(h.url("/_emulator/load"))
            .body(CLOUD_CONTACT)
            .send()
            .await
            .unwrap();
        assert_eq!(loaded.status(), StatusCode::OK);
        let contacts = all_contacts(&h).await;
        let id_of = |name: &str| {
            contacts
                .iter()
                .find(|c| c["displayName"] == name)
                .and_then(|c| c["id"].as_str())
                .unwrap()
                .to_string()
        };
        let (synced, cloud) = (id_of("Synced Partner"), id_of("Exchange Contact"));
        let a = switch(&h, &synced, true).await;
        match response {
            SoaPatchResponse::Body => {
                assert_eq!(
                    (a.status, a.body["isCloudManaged"].clone()),
                    (StatusCode::OK, json!(true))
                );
            }
            SoaPatchResponse::NoContent => {
                assert_eq!(
                    (a.status, a.body.clone()),
                    (StatusCode::NO_CONTENT, json!(""))
                );
            }
        }
        assert_eq!(sync_enabled(&h, &synced).await, Value::Null);
        let a = switch(&h, &cloud, true).await;
        match on_cloud {
            SoaOnCloudObject::Refuse => {
                assert_eq!(
                    (a.status, a.code()),
                    (StatusCode::BAD_REQUEST, "Request_BadRequest")
                );
                assert!(a.message().contains("is not synchronized from on-premises"));
            }
            SoaOnCloudObject::Accept => assert_eq!(a.status, StatusCode::NO_CONTENT),
        }
        let soa = h
            .get(&format!("/v1.0/contacts/{cloud}/onPremisesSyncBehavior"))
            .await;
        assert_eq!(soa.body["isCloudManaged"], false);
        assert_eq!(sync_enabled(&h, &cloud).await, Value::Null);
        h.emu.shutdown().await;
    }
}

#[tokio::test]
async fn a_tenant_wide_disable_converts_contacts() {
    for (after, expected) in [
        (AfterDisable::False, json!(false)),
        (AfterDisable::Null, Value::Null),
    ] {
        let h = start(EmulatorConfig {
            user_sync_after_disable: after,
            propagation: Duration::from_secs(3_600),
            ..config(30, 2)
        })
        .await;
        let ids: Vec<String> = all_contacts(&h)
            .await
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        let a = h
            .patch(&h.org_path(), json!({"onPremisesSyncEnabled": false}))
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{:?}", a.body);
        let done = h.advance(3_600.0).await;
        assert_eq!(done["organization"]["syncState"], "Disabled");
        for id in &ids {
            assert_eq!(sync_enabled(&h, id).await, expected, "{after:?}");
        }
        let counts = &done["contacts"];
        assert_eq!(counts["synced"], 0);
        assert_eq!(counts["formerlySynced"], ids.len());
        // A re-enable links them again.
        let enabled = h.control(Method::POST, "/sync/enable", None).await;
        assert_eq!(enabled.status, StatusCode::OK);
        assert_eq!(enabled.body["contacts"]["synced"], ids.len());
        h.emu.shutdown().await;
    }
}

#[tokio::test]
async fn a_contact_moved_out_of_scope_is_deleted_by_the_next_cycle() {
    let h = start(config(30, 2)).await;
    let id = first_contact(&h).await;
    let path = format!("/contacts/{id}/scope");
    let a = h
        .control(Method::POST, &path, Some(json!({"inScope": false})))
        .await;
    assert_eq!(
        a.body,
        json!({"id": id, "inScope": false, "state": "active"})
    );
    assert_eq!(h.cycle().await["hardDeleted"], json!([id]));
    assert_eq!(
        h.get(&format!("/v1.0/contacts/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(h.state().await["contacts"]["total"], 1);
    let a = h
        .control(Method::POST, &path, Some(json!({"inScope": true})))
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    h.emu.shutdown().await;
}
