//! `/groups/{id}/members`, `/transitiveMembers` and `/owners` over HTTP: nesting, casts,
//! paging, `$count`, continuations and costs (the `$ref` writes are in `refs.rs`).

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use super::{Harness, config, values};

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect()
}

/// The synced group with the most nested groups, and every group's members by id.
fn parent(groups: &[Value]) -> String {
    let nested = |g: &Value| {
        g["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| groups.iter().any(|x| x["id"] == **m))
            .count()
    };
    groups
        .iter()
        .filter(|g| g["kind"] == "synced")
        .max_by_key(|g| nested(g))
        .and_then(|g| g["id"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn transitive(groups: &[Value], root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.to_string()];
    while let Some(g) = stack.pop() {
        let entry = groups.iter().find(|x| x["id"] == g.as_str());
        for m in entry.map(|e| ids_of(&e["members"])).unwrap_or_default() {
            if m != root && seen.insert(m.clone()) && groups.iter().any(|x| x["id"] == m) {
                stack.push(m);
            }
        }
    }
    seen
}

fn ids_of(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// Follows `@odata.nextLink` (at most 100 pages); returns every item and each page's RU.
async fn all_pages(h: &Harness, first: &str) -> (Vec<Value>, Vec<String>) {
    let mut items = Vec::new();
    let mut costs = Vec::new();
    let mut next = Some(h.url(first));
    for _ in 0..100 {
        let Some(url) = next.take() else { break };
        let path = url.trim_start_matches(&h.emu.url()).to_string();
        let a = h.get(&path).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        costs.push(
            a.header("x-ms-resource-unit")
                .unwrap_or_default()
                .to_string(),
        );
        items.extend(values(&a.body));
        next = a.body["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert!(next.is_none(), "more than 100 pages");
    (items, costs)
}

#[tokio::test]
async fn members_and_transitive_members_with_nesting_casts_and_paging() {
    let h = Harness::start(config(30, 5)).await;
    let groups = h.all_groups().await;
    let parent = parent(&groups);
    let direct = ids_of(
        &groups
            .iter()
            .find(|g| g["id"] == parent.as_str())
            .map(|g| g["members"].clone())
            .unwrap_or_default(),
    );
    let path = format!("/v1.0/groups/{parent}");
    let a = h.get(&format!("{path}/members")).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.header("x-ms-resource-unit"), Some("3"));
    assert_eq!(
        a.body["@odata.context"],
        h.url("/v1.0/$metadata#directoryObjects")
    );
    let members = values(&a.body);
    assert_eq!(ids(&members), direct);
    let typed = |t: &str| members.iter().filter(|m| m["@odata.type"] == t).count();
    assert_eq!(typed("#microsoft.graph.group"), 2);
    assert_eq!(typed("#microsoft.graph.user"), direct.len() - 2);
    // $select over users and groups: each item keeps what its type has.
    let a = h
        .get(&format!(
            "{path}/members?$select=id,userPrincipalName,onPremisesSyncEnabled"
        ))
        .await;
    assert_eq!(a.header("x-ms-resource-unit"), Some("2"));
    for m in values(&a.body) {
        let mut keys: Vec<&str> = m
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        if m["@odata.type"] == "#microsoft.graph.user" {
            assert_eq!(
                keys,
                [
                    "@odata.type",
                    "id",
                    "onPremisesSyncEnabled",
                    "userPrincipalName"
                ]
            );
        } else {
            assert_eq!(keys, ["@odata.type", "id", "onPremisesSyncEnabled"]);
        }
    }
    // Casts.
    let a = h
        .get(&format!("{path}/members/microsoft.graph.group?$select=id"))
        .await;
    assert_eq!(
        a.body["@odata.context"],
        h.url("/v1.0/$metadata#groups(id)")
    );
    assert_eq!(values(&a.body).len(), 2);
    let a = h
        .get(&format!("{path}/members/microsoft.graph.device"))
        .await;
    assert_eq!((a.status, values(&a.body).len()), (StatusCode::OK, 0));
    for bad in [
        "members/microsoft.graph.domain",
        "owners/microsoft.graph.group",
    ] {
        let a = h.get(&format!("{path}/{bad}")).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "Request_UnsupportedQuery"),
            "{bad}"
        );
    }
    // Transitive members: the nested groups and their members, paged three at a time.
    let expected = transitive(&groups, &parent);
    assert!(expected.len() > direct.len());
    let a = h.get(&format!("{path}/transitiveMembers")).await;
    assert_eq!(a.header("x-ms-resource-unit"), Some("5"));
    let (items, costs) =
        all_pages(&h, &format!("{path}/transitiveMembers?$top=3&$select=id")).await;
    let got: Vec<String> = ids(&items);
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(got.len(), expected.len(), "no duplicates across pages");
    assert!(costs.iter().all(|c| c == "3"), "{costs:?}");
    let users_only: BTreeSet<String> = expected
        .iter()
        .filter(|id| !groups.iter().any(|g| g["id"] == id.as_str()))
        .cloned()
        .collect();
    let (items, _) = all_pages(
        &h,
        &format!("{path}/transitiveMembers/microsoft.graph.user?$top=2"),
    )
    .await;
    assert_eq!(ids(&items).into_iter().collect::<BTreeSet<_>>(), users_only);
    assert!(
        items
            .iter()
            .all(|i| i["@odata.type"] == "#microsoft.graph.user")
    );
    // $filter needs a cast; $count needs ConsistencyLevel.
    let a = h
        .get(&format!(
            "{path}/transitiveMembers?$filter=startsWith(displayName,'S')"
        ))
        .await;
    assert_eq!(a.code(), "Request_UnsupportedQuery");
    let a = h
        .get_eventual(&format!("{path}/transitiveMembers/microsoft.graph.user?$count=true&$top=1&$filter=accountEnabled eq true"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let enabled = h
        .all_users()
        .await
        .iter()
        .filter(|u| {
            users_only.contains(u["id"].as_str().unwrap_or_default()) && u["accountEnabled"] == true
        })
        .count();
    assert_eq!(a.body["@odata.count"], enabled);
    // A continuation is tied to its group, list and cast.
    let first = h.get(&format!("{path}/members?$top=1")).await;
    let link = first.body["@odata.nextLink"].as_str().unwrap_or_default();
    let token = link.split("$skiptoken=").nth(1).unwrap_or_default();
    let a = h.get(&format!("{path}/owners?$skiptoken={token}")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = h
        .get("/v1.0/groups/00000000-0000-0000-0000-000000000000/members")
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn a_users_direct_memberships_with_paging_casts_and_the_soft_delete() {
    let h = Harness::start(config(30, 5)).await;
    let groups = h.all_groups().await;
    // The synced user in the most groups.
    let holding = |id: &str| {
        groups
            .iter()
            .filter(|g| ids_of(&g["members"]).iter().any(|m| m == id))
            .filter_map(|g| g["id"].as_str().map(str::to_string))
            .collect::<BTreeSet<String>>()
    };
    let user = h
        .all_users()
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .max_by_key(|u| holding(u["id"].as_str().unwrap_or_default()).len())
        .unwrap_or_default();
    let id = user["id"].as_str().unwrap_or_default().to_string();
    let expected = holding(&id);
    assert!(expected.len() >= 2, "{expected:?}");
    let select = "$select=id,displayName,onPremisesSyncEnabled";
    let a = h.get(&format!("/v1.0/users/{id}/memberOf?{select}")).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    // me/memberOf's cost: 2, −1 with $select.
    assert_eq!(a.header("x-ms-resource-unit"), Some("1"));
    let got = values(&a.body);
    assert!(
        got.iter()
            .all(|g| g["@odata.type"] == "#microsoft.graph.group")
    );
    assert_eq!(ids(&got).into_iter().collect::<BTreeSet<_>>(), expected);
    // By UPN, a page at a time.
    let upn = user["userPrincipalName"].as_str().unwrap_or_default();
    let (paged, _) = all_pages(&h, &format!("/v1.0/users/{upn}/memberOf?$top=1&{select}")).await;
    assert_eq!(ids(&paged).into_iter().collect::<BTreeSet<_>>(), expected);
    // An OData cast is an advanced query (Microsoft: header and $count required).
    let a = h
        .get(&format!("/v1.0/users/{id}/memberOf/microsoft.graph.group"))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.code(), "Request_UnsupportedQuery");
    let a = h
        .get_eventual(&format!(
            "/v1.0/users/{id}/memberOf/microsoft.graph.group?$count=true"
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["@odata.count"], expected.len());
    let a = h
        .get(&format!("/v1.0/users/{id}/memberOf/microsoft.graph.device"))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // Soft-deleted: no longer a user to list the memberships of.
    h.scope("users", &id, false).await;
    h.cycle().await;
    let a = h.get(&format!("/v1.0/users/{id}/memberOf")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{:?}", a.body);
}
