//! `/users/delta` over HTTP: full rounds and their links, `$select` tracking, the default and
//! minimal answers, `latest`, the id filter and refused options, removals, the sync-side
//! changes, token expiry, the 410 resync and costs (groups are in `delta_groups.rs`).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Answer, Harness, PER_OBJECT, config, nth_of_kind, values};
use crate::emulator::{EmulatorConfig, UsersDeltaCost};

/// A finished round: every item, the pages' answers and the deltaLink's path.
pub struct Round {
    pub items: Vec<Value>,
    pub pages: Vec<Answer>,
    pub delta: String,
}

/// The path (and query) of an absolute emulator link.
pub fn path_of(h: &Harness, link: &str) -> String {
    assert!(link.starts_with(&h.emu.url()), "not absolute: {link}");
    link.trim_start_matches(&h.emu.url()).to_string()
}

/// Follows nextLinks from `first` (at most 50 pages) until the deltaLink.
pub async fn round(h: &Harness, first: &str, headers: &[(&str, &str)]) -> Round {
    let mut items = Vec::new();
    let mut pages = Vec::new();
    let mut next = first.to_string();
    for _ in 0..50 {
        let a = h.call(Method::GET, &next, None, headers).await;
        assert_eq!(a.status, StatusCode::OK, "{next}: {:?}", a.body);
        items.extend(values(&a.body));
        let links = (
            a.body["@odata.nextLink"].as_str().map(str::to_string),
            a.body["@odata.deltaLink"].as_str().map(str::to_string),
        );
        pages.push(a);
        match links {
            (Some(link), None) => next = path_of(h, &link),
            (None, Some(link)) => {
                let delta = path_of(h, &link);
                return Round {
                    items,
                    pages,
                    delta,
                };
            }
            other => panic!("a page has exactly one link: {other:?}"),
        }
    }
    panic!("more than 50 pages");
}

/// The item of `id` in a round.
pub fn item<'a>(items: &'a [Value], id: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["id"] == id)
}

const SELECT: &str = "displayName,jobTitle,department,mobilePhone,onPremisesImmutableId";

#[tokio::test]
async fn a_full_round_pages_every_user_then_changes_only_come_once() {
    let h = Harness::start(config(230, 3)).await;
    let total = h.state().await["users"]["total"].as_u64().unwrap_or(0);
    let first = round(&h, "/v1.0/users/delta", &[]).await;
    assert_eq!(first.pages.len(), (total as usize).div_ceil(100));
    assert_eq!(values(&first.pages[0].body).len(), 100);
    assert_eq!(first.items.len() as u64, total);
    let page = &first.pages[0].body;
    assert_eq!(page["@odata.context"], h.url("/v1.0/$metadata#users"));
    let next = page["@odata.nextLink"].as_str().unwrap_or_default();
    assert!(
        next.starts_with(&h.url("/v1.0/users/delta?$skiptoken=")),
        "{next}"
    );
    assert!(first.delta.starts_with("/v1.0/users/delta?$deltatoken="));
    // Default properties, never-set ones omitted, no on-premises ones without $select.
    let synced = nth_of_kind(&h.all_users().await, "synced", 0);
    let user = item(&first.items, &synced).cloned().unwrap_or_default();
    assert!(user["displayName"].is_string() && user["businessPhones"].is_array());
    assert!(user.get("onPremisesImmutableId").is_none(), "{user}");
    assert!(user.get("accountEnabled").is_none());
    let admin = h.admin_path().await;
    let admin_id = admin.trim_start_matches("/v1.0/users/").to_string();
    let admin_item = item(&first.items, &admin_id).cloned().unwrap_or_default();
    assert!(
        admin_item.get("jobTitle").is_none(),
        "never set: {admin_item}"
    );
    // An edited skiptoken is refused.
    let tampered = format!("{}x", path_of(&h, next));
    assert_eq!(h.get(&tampered).await.status, StatusCode::BAD_REQUEST);
    // Nothing changed: an empty round; then one change comes once.
    let quiet = round(&h, &first.delta, &[]).await;
    assert!(quiet.items.is_empty(), "{:?}", quiet.items);
    let a = h.patch(&admin, json!({"jobTitle": "Boss"})).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let changed = round(&h, &quiet.delta, &[]).await;
    assert_eq!(changed.items.len(), 1, "{:?}", changed.items);
    assert_eq!(changed.items[0]["jobTitle"], "Boss");
    assert_eq!(changed.items[0]["displayName"], "Tenant Admin");
    let after = round(&h, &changed.delta, &[]).await;
    assert!(after.items.is_empty());
    h.emu.shutdown().await;
}

#[tokio::test]
async fn only_selected_properties_are_tracked_and_answered() {
    // 120 synced users come with three cloud-only ones.
    let h = Harness::start(config(120, 3)).await;
    let users = h.all_users().await;
    let cloud = nth_of_kind(&users, "cloudOnly", 1);
    let other = nth_of_kind(&users, "cloudOnly", 2);
    let first = round(&h, &format!("/v1.0/users/delta?$select={SELECT}"), &[]).await;
    let synced = nth_of_kind(&users, "synced", 0);
    let s = item(&first.items, &synced).cloned().unwrap_or_default();
    assert!(s["onPremisesImmutableId"].is_string(), "selected: {s}");
    assert!(s.get("userPrincipalName").is_none(), "not selected: {s}");
    // A change to an unselected property does not surface the user.
    let a = h
        .patch(&format!("/v1.0/users/{other}"), json!({"surname": "Else"}))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let b = h
        .patch(
            &format!("/v1.0/users/{cloud}"),
            json!({"department": "Legal", "givenName": "Changed"}),
        )
        .await;
    assert_eq!(b.status, StatusCode::NO_CONTENT);
    let next = round(&h, &first.delta, &[]).await;
    assert_eq!(next.items.len(), 1, "{:?}", next.items);
    let u = &next.items[0];
    assert_eq!(u["id"], cloud.as_str());
    assert_eq!(u["department"], "Legal");
    assert!(u["displayName"].is_string(), "unchanged, current value");
    assert!(u.get("givenName").is_none() && u.get("surname").is_none());
    assert!(u.get("mobilePhone").is_none(), "never set");
    h.emu.shutdown().await;
}

#[tokio::test]
async fn minimal_answers_carry_only_changed_properties_nulls_included() {
    let h = Harness::small().await;
    let cloud = nth_of_kind(&h.all_users().await, "cloudOnly", 1);
    let path = format!("/v1.0/users/{cloud}");
    let a = h.patch(&path, json!({"jobTitle": "Analyst"})).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let minimal = [("Prefer", "return=minimal")];
    let first = round(&h, &format!("/v1.0/users/delta?$select={SELECT}"), &minimal).await;
    assert_eq!(first.pages[0].header("preference-applied"), None);
    let u = item(&first.items, &cloud).cloned().unwrap_or_default();
    assert_eq!(u["jobTitle"], "Analyst", "a full round answers in full");
    let b = h
        .patch(&path, json!({"jobTitle": null, "department": "Sales"}))
        .await;
    assert_eq!(b.status, StatusCode::NO_CONTENT);
    let min = round(&h, &first.delta, &minimal).await;
    assert_eq!(
        min.pages[0].header("preference-applied"),
        Some("return=minimal")
    );
    assert_eq!(
        min.items,
        vec![json!({"id": cloud, "jobTitle": null, "department": "Sales"})]
    );
    // The same changes without the header: unchanged properties with their values.
    let c = h
        .patch(&path, json!({"jobTitle": null, "department": "Legal"}))
        .await;
    assert_eq!(c.status, StatusCode::NO_CONTENT);
    let full = round(&h, &min.delta, &[]).await;
    assert_eq!(full.pages[0].header("preference-applied"), None);
    let u = &full.items[0];
    assert_eq!(u["department"], "Legal");
    assert!(u["displayName"].is_string());
    assert!(
        u.get("jobTitle").is_none(),
        "null and unchanged since: omitted"
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn latest_starts_from_now_and_beta_keeps_its_prefix() {
    let h = Harness::small().await;
    let cloud = nth_of_kind(&h.all_users().await, "cloudOnly", 1);
    let before = h
        .patch(&format!("/v1.0/users/{cloud}"), json!({"jobTitle": "A"}))
        .await;
    assert_eq!(before.status, StatusCode::NO_CONTENT);
    let latest = round(
        &h,
        "/beta/users/delta?$deltatoken=latest&$select=jobTitle",
        &[],
    )
    .await;
    assert!(latest.items.is_empty());
    assert!(latest.delta.starts_with("/beta/users/delta?$deltatoken="));
    let quiet = round(&h, &latest.delta, &[]).await;
    assert!(
        quiet.items.is_empty(),
        "the change before 'latest' is not news"
    );
    let after = h
        .patch(&format!("/v1.0/users/{cloud}"), json!({"jobTitle": "B"}))
        .await;
    assert_eq!(after.status, StatusCode::NO_CONTENT);
    let news = round(&h, &quiet.delta, &[]).await;
    assert_eq!(news.items, vec![json!({"id": cloud, "jobTitle": "B"})]);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn the_filter_takes_ids_only_and_other_options_are_refused() {
    let h = Harness::start(config(120, 3)).await;
    let users = h.all_users().await;
    let (a, b, c) = (
        nth_of_kind(&users, "cloudOnly", 0),
        nth_of_kind(&users, "cloudOnly", 1),
        nth_of_kind(&users, "cloudOnly", 2),
    );
    let filter = format!("id eq '{a}' or id eq '{b}'");
    let first = round(
        &h,
        &format!("/v1.0/users/delta?$select=jobTitle&$filter={filter}"),
        &[],
    )
    .await;
    let mut ids: Vec<&str> = first
        .items
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    ids.sort_unstable();
    let mut expected = vec![a.as_str(), b.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    for id in [&b, &c] {
        let p = h
            .patch(&format!("/v1.0/users/{id}"), json!({"jobTitle": "T"}))
            .await;
        assert_eq!(p.status, StatusCode::NO_CONTENT);
    }
    let next = round(&h, &first.delta, &[]).await;
    assert_eq!(next.items, vec![json!({"id": b, "jobTitle": "T"})]);
    let refused = [
        ("$filter=displayName eq 'x'", "Request_UnsupportedQuery"),
        ("$filter=id ne 'x'", "Request_UnsupportedQuery"),
        ("$top=5", "Request_UnsupportedQuery"),
        ("$count=true", "Request_UnsupportedQuery"),
        ("$orderby=displayName", "Request_BadRequest"),
        ("$expand=manager", "Request_BadRequest"),
        ("$select=nope", "Request_BadRequest"),
        ("$deltatoken=abc", "Request_BadRequest"),
    ];
    for (query, code) in refused {
        let r = h.get(&format!("/v1.0/users/delta?{query}")).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, code),
            "{query}"
        );
    }
    let many: Vec<String> = (0..51).map(|n| format!("id eq '{n}'")).collect();
    let r = h
        .get(&format!("/v1.0/users/delta?$filter={}", many.join(" or ")))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A deltatoken means nothing to other routes, and a users token nothing to groups.
    let list = h.get("/v1.0/users?$deltatoken=abc").await;
    assert_eq!(list.status, StatusCode::BAD_REQUEST);
    let token = first.delta.replace("/users/", "/groups/");
    assert_eq!(h.get(&token).await.status, StatusCode::BAD_REQUEST);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn removals_are_reported_and_a_restored_user_comes_back_whole() {
    let h = Harness::small().await;
    h.grant(PER_OBJECT).await;
    let cloud = nth_of_kind(&h.all_users().await, "cloudOnly", 1);
    let first = round(&h, "/v1.0/users/delta?$select=displayName,jobTitle", &[]).await;
    let d = h.delete(&format!("/v1.0/users/{cloud}")).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let soft = round(&h, &first.delta, &[("Prefer", "return=minimal")]).await;
    assert_eq!(
        soft.items,
        vec![json!({"id": cloud, "@removed": {"reason": "changed"}})]
    );
    let r = h
        .post(
            &format!("/v1.0/directory/deletedItems/{cloud}/restore"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let back = round(&h, &soft.delta, &[("Prefer", "return=minimal")]).await;
    assert_eq!(back.items.len(), 1);
    assert_eq!(back.items[0]["id"], cloud.as_str());
    assert!(back.items[0]["displayName"].is_string(), "{:?}", back.items);
    assert!(back.items[0].get("@removed").is_none());
    assert_eq!(
        h.delete(&format!("/v1.0/users/{cloud}")).await.status,
        StatusCode::NO_CONTENT
    );
    let purged = h
        .delete(&format!("/v1.0/directory/deletedItems/{cloud}"))
        .await;
    assert_eq!(purged.status, StatusCode::NO_CONTENT);
    let gone = round(&h, &back.delta, &[]).await;
    assert_eq!(
        gone.items,
        vec![json!({"id": cloud, "@removed": {"reason": "deleted"}})]
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn the_tenant_wide_disable_a_soa_switch_and_a_cycle_surface_synced_users() {
    let h = Harness::start(config(20, 2)).await;
    h.grant(PER_OBJECT).await;
    let users = h.all_users().await;
    let synced: Vec<String> = (0..20).map(|n| nth_of_kind(&users, "synced", n)).collect();
    let select = "$select=onPremisesSyncEnabled,onPremisesSamAccountName";
    let first = round(&h, &format!("/v1.0/users/delta?{select}"), &[]).await;
    // SOA: the user reads null now.
    let soa = h
        .patch(
            &format!("/v1.0/users/{}/onPremisesSyncBehavior", synced[0]),
            json!({"isCloudManaged": true}),
        )
        .await;
    assert_eq!(soa.status, StatusCode::OK, "{:?}", soa.body);
    let switched = round(&h, &first.delta, &[]).await;
    assert_eq!(switched.items.len(), 1);
    assert_eq!(switched.items[0]["onPremisesSyncEnabled"], Value::Null);
    assert!(switched.items[0]["onPremisesSamAccountName"].is_string());
    // A cycle soft-deletes a user moved out of scope.
    h.scope("users", &synced[1], false).await;
    h.cycle().await;
    let cycled = round(&h, &switched.delta, &[]).await;
    assert_eq!(
        cycled.items,
        vec![json!({"id": synced[1], "@removed": {"reason": "changed"}})]
    );
    // The tenant-wide disable: every synced user flips, the SAM account name is cleared.
    let org = h
        .patch(&h.org_path(), json!({"onPremisesSyncEnabled": false}))
        .await;
    assert_eq!(org.status, StatusCode::NO_CONTENT);
    h.advance(3.0 * 3_600.0).await;
    let flipped = round(&h, &cycled.delta, &[("Prefer", "return=minimal")]).await;
    assert_eq!(flipped.items.len(), 18, "{:?}", flipped.items);
    for u in &flipped.items {
        assert_eq!(
            u,
            &json!({"id": u["id"], "onPremisesSyncEnabled": false, "onPremisesSamAccountName": null})
        );
    }
    h.emu.shutdown().await;
}

#[tokio::test]
async fn tokens_expire_after_seven_emulated_days() {
    let h = Harness::small().await;
    let first = round(&h, "/v1.0/users/delta?$select=id", &[]).await;
    let fresh = round(&h, "/v1.0/users/delta?$deltatoken=latest", &[]).await;
    h.advance(6.0 * 86_400.0).await;
    let in_time = round(&h, &first.delta, &[]).await;
    h.advance(86_400.0 + 60.0).await;
    let late = h.get(&first.delta).await;
    assert_eq!(
        (late.status, late.code()),
        (StatusCode::BAD_REQUEST, "syncStateNotFound")
    );
    // Each round's deltaLink starts its own seven days.
    round(&h, &in_time.delta, &[]).await;
    assert_eq!(h.get(&fresh.delta).await.code(), "syncStateNotFound");
    h.emu.shutdown().await;
}

#[tokio::test]
async fn maintenance_answers_410_with_a_location_that_starts_over() {
    let h = Harness::start(config(120, 3)).await;
    let query = "/v1.0/users/delta?$select=displayName,jobTitle";
    let first = round(&h, query, &[]).await;
    let mid = h.get(query).await;
    let next = mid.body["@odata.nextLink"].as_str().map(str::to_string);
    let reset = h.control(Method::POST, "/delta/reset", None).await;
    assert_eq!(reset.status, StatusCode::OK);
    assert!(
        reset.body["resyncFrom"].as_u64() > Some(0),
        "{:?}",
        reset.body
    );
    let gone = h.get(&first.delta).await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::GONE, "resyncRequired")
    );
    let location = gone.header("location").unwrap_or_default().to_string();
    assert_eq!(
        location,
        h.url("/v1.0/users/delta?$deltatoken=&$select=displayName%2CjobTitle")
    );
    if let Some(next) = next {
        assert_eq!(h.get(&path_of(&h, &next)).await.status, StatusCode::GONE);
    }
    let again = round(&h, &path_of(&h, &location), &[]).await;
    assert_eq!(again.items.len(), first.items.len());
    assert!(
        again
            .items
            .iter()
            .all(|u| u.get("userPrincipalName").is_none())
    );
    assert!(round(&h, &again.delta, &[]).await.items.is_empty());
    // A reseeded tenant knows none of the old tokens either.
    let seeded = h.control(Method::POST, "/seed", Some(json!({}))).await;
    assert_eq!(seeded.status, StatusCode::OK);
    assert_eq!(h.get(&again.delta).await.status, StatusCode::GONE);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn users_delta_costs_what_the_switch_says() {
    for (cost, bare, selected) in [
        (UsersDeltaCost::Other, "1", "1"),
        (UsersDeltaCost::List, "2", "1"),
    ] {
        let h = Harness::start(EmulatorConfig {
            users_delta_cost: cost,
            ..config(10, 2)
        })
        .await;
        let a = h.get("/v1.0/users/delta").await;
        assert_eq!(a.header("x-ms-resource-unit"), Some(bare), "{cost:?}");
        let b = h.get("/v1.0/users/delta?$select=id").await;
        assert_eq!(b.header("x-ms-resource-unit"), Some(selected), "{cost:?}");
        let link = b.body["@odata.deltaLink"].as_str().unwrap_or_default();
        let c = h.get(&path_of(&h, link)).await;
        assert_eq!(
            c.header("x-ms-resource-unit"),
            Some(selected),
            "the token's $select"
        );
        let g = h.get("/v1.0/groups/delta").await;
        assert_eq!(g.header("x-ms-resource-unit"), Some("1"));
        h.emu.shutdown().await;
    }
}
